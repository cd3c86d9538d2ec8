import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..exceptions import WalletProviderUnreachable
from ..models.wallet_provider_yoomoney import yoomoney_notification_hash
from .common import WalletPaymentCommon
from .fakes.yoomoney import DEFAULT_BALANCE, FakeYooMoney, sign_notification

PAYMENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"
PROVIDER_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider"
RAIL_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider_yoomoney"
CONTROLLER_LOGGER = "odoo.addons.purchase_wallet_payment.controllers.main"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"
QUIET = (PAYMENT_LOGGER, PROVIDER_LOGGER, RAIL_LOGGER)

TOKEN = "4100111122223333.0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
PAYEE_WALLET = "410011234567890"

# A worked example of the notification hash: made-up data whose expected
# hashes were computed independently with Python's hashlib.sha1.
EXAMPLE_SECRET = "01234567890ABCDEF01234567890"
EXAMPLE_FIELDS = {
    "notification_type": "p2p-incoming",
    "operation_id": "904035776918098009",
    "amount": "995.00",
    "withdraw_amount": "1000.00",
    "currency": "643",
    "datetime": "2026-01-15T10:20:30Z",
    "sender": "41001000040",
    "codepro": "false",
    "label": "PO00042",
}
EXAMPLE_HASH = "8eba7a77f1caf6522688660f6d0893f972416924"
EXAMPLE_HASH_EMPTY_LABEL = "331b7d888290ab5bce07195dbce61f76af1fa010"


@tagged("post_install", "-at_install")
class TestYooMoneyRail(WalletPaymentCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeYooMoney().start()
        cls.addClassCleanup(cls.fake.stop)
        cls.rub = cls.setup_other_currency("RUB", rates=[("2000-01-01", 100.0)])
        cls.rub_journal = cls.env["account.journal"].create(
            {
                "name": "YooMoney Wallet",
                "type": "bank",
                "code": "YMW",
                "currency_id": cls.rub.id,
                "company_id": cls.company.id,
            }
        )
        cls.yoomoney = cls.env["wallet.provider"].create(
            {
                "name": "Company YooMoney",
                "provider_type": "yoomoney",
                "state": "enabled",
                "company_id": cls.company.id,
                "currency_id": cls.rub.id,
                "journal_id": cls.rub_journal.id,
                "api_base_url": cls.fake.url,
                "yoomoney_access_token": TOKEN,
                "yoomoney_scope": FakeYooMoney.ALL_RIGHTS,
                "webhook_secret": EXAMPLE_SECRET,
            }
        )
        cls.company.wallet_provider_id = cls.yoomoney
        cls.payee = cls._create_yoomoney_vendor("Ivan Petrov", PAYEE_WALLET)

    @classmethod
    def _create_yoomoney_vendor(cls, name, identifier, kind=None):
        return cls._create_vendor(
            name,
            identifier,
            provider_type="yoomoney",
            kind=kind,
            property_purchase_currency_id=cls.rub.id,
        )

    def setUp(self):
        super().setUp()
        self._reset_fake()

    def _reset_fake(self):
        self.fake.reset()
        self.fake.add_token(TOKEN)
        self.fake.add_payee(PAYEE_WALLET)

    # === HELPERS === #

    def _approved(self, amount=1500.0, vendor=None):
        return self._approved_payment(self.yoomoney, vendor or self.payee, amount)

    def _forms(self, method):
        return [request.form() for request in self.fake.requests_to(f"/api/{method}")]

    def _post_notification(self, fields_by_name, content_type="application/x-www-form-urlencoded"):
        return self.url_open(
            f"/wallet/webhook/{self.yoomoney.id}",
            data=urlencode(fields_by_name),
            headers={"Content-Type": content_type},
        )

    def _deliver(self):
        """Deliver the fake's queued notifications to the webhook."""
        # The webhook runs in the HTTP server's thread, which reads the database.
        self.env.flush_all()
        return self.fake.deliver_notifications(self.yoomoney.webhook_url)

    def _events(self):
        return self.env["wallet.event"].search([("provider_id", "=", self.yoomoney.id)])

    # === FLOW === #

    def test_receipt_to_posted_payment(self):
        """Receipt, approval, a transfer still in progress, then the status query pays."""
        order = self.env["purchase.order"].with_user(self.buyer).create(
            {
                "partner_id": self.payee.id,
                "company_id": self.company.id,
                "currency_id": self.rub.id,
                "order_line": [
                    Command.create(
                        {"product_id": self.product_ssd.id, "product_qty": 4, "price_unit": 1250.0, "taxes_id": False}
                    )
                ],
            }
        )
        order.button_confirm()
        order = order.with_user(self.env.user)
        self.fake.in_progress_calls = 10  # More than the rail's calls in one dispatch.
        self._receive(order)
        payment = self._payments(order)
        self.assertEqual(payment.state, "approved")
        self.assertEqual(payment.currency_id, self.rub)

        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.assertFalse(payment.provider_reference)
        self.assertEqual(len(self._forms("process-payment")), 3)

        self.fake.finish_in_progress()
        payment._resolve_status()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(payment.log_ids[-1].cause, "status_query")
        operation = self.fake.payouts_for_label(payment.idempotency_key)
        self.assertEqual(len(operation), 1)
        self.assertEqual(payment.provider_reference, operation[0]["operation_id"])
        account_payment = payment.account_payment_id
        self.assertEqual(account_payment.state, "paid")
        self.assertEqual(account_payment.amount, 5000.0)
        self.assertEqual(account_payment.currency_id, self.rub)
        self.assertEqual(account_payment.journal_id, self.rub_journal)

    def test_request_carries_key_as_label(self):
        payment = self._approved(amount=1234.5)
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        (prepared,) = self._forms("request-payment")
        self.assertEqual(prepared["pattern_id"], "p2p")
        self.assertEqual(prepared["to"], PAYEE_WALLET)
        self.assertEqual(prepared["amount_due"], "1234.50")
        self.assertNotIn("amount", prepared)
        self.assertEqual(prepared["label"], payment.idempotency_key)
        self.assertNotIn("test_payment", prepared)
        (processed,) = self._forms("process-payment")
        self.assertEqual(processed["money_source"], "wallet")
        request = self.fake.requests_to("/api/request-payment")[0]
        self.assertEqual(request.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertEqual(len(self.fake.payouts_for_label(payment.idempotency_key)), 1)

    def test_fee_reported_and_booked(self):
        fee_account = self.env["account.account"].create(
            {"name": "Wallet Fees", "code": "627100", "account_type": "expense", "company_ids": [Command.set(self.company.ids)]}
        )
        self.yoomoney.fee_account_id = fee_account
        payment = self._approved(amount=1000.0)
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(payment.fee_amount, 5.0)
        fee_line = payment.fee_move_id.line_ids.filtered(lambda line: line.account_id == fee_account)
        self.assertEqual(fee_line.amount_currency, 5.0)
        status = self.yoomoney._get_payout_status(payment)
        self.assertEqual(status["status"], "paid")
        self.assertEqual(status["fee"], 5.0)
        self.assertEqual(self.fake.balance, Decimal(DEFAULT_BALANCE) - 1005)

    # === IDEMPOTENCY AND UNKNOWN OUTCOMES === #

    def test_lost_answer_repeats_same_request(self):
        """process-payment is repeated with the same request_id and pays once."""
        self.fake.inject("reset_after", path="/api/process-payment")
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "paid")
        calls = self._forms("process-payment")
        self.assertEqual(len(calls), 2)
        self.assertEqual(calls[0]["request_id"], calls[1]["request_id"])
        self.assertEqual(len(self._forms("request-payment")), 1)
        self.assertEqual(len(self.fake.payouts_for_label(payment.idempotency_key)), 1)

    def test_all_answers_lost_then_status_query(self):
        self.fake.inject("reset_after", path="/api/process-payment", times=3)
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertEqual(len(self._forms("process-payment")), 3)

        payment.with_user(self.buyer).action_check_status()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(len(self._forms("process-payment")), 3, "a status query never sends")
        self.assertEqual(len(self._forms("request-payment")), 1)
        (history,) = self._forms("operation-history")
        self.assertEqual(history["label"], payment.idempotency_key)
        self.assertEqual(len(self.fake.payouts_for_label(payment.idempotency_key)), 1)

    def test_server_errors_leave_doubt_then_fail(self):
        self.fake.inject("status", path="/api/process-payment", times=3, status=500)
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        with mute_logger(*QUIET):
            payment._resolve_status()
        self.assertEqual(payment.state, "in_doubt", "too early to call it failed")
        payment._internal().sent_at = fields.Datetime.now() - timedelta(hours=1)
        with mute_logger(*QUIET):
            payment._resolve_status()
        self.assertEqual(payment.state, "failed")
        self.assertFalse(self.fake.operations)

    def test_unprepared_transfer_fails_at_once(self):
        """request-payment moves no money, so its lost answer is a failure."""
        self.fake.inject("status", path="/api/request-payment", status=503)
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("Nothing was sent", payment.error_message)
        self.assertFalse(self._forms("process-payment"))

    def test_in_progress_then_refused(self):
        self.fake.in_progress_calls = 10
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.fake.finish_in_progress("refused")
        payment._resolve_status()
        self.assertEqual(payment.state, "failed")
        self.assertEqual(self.fake.balance, Decimal(DEFAULT_BALANCE))

    def test_in_progress_finishes_within_dispatch(self):
        self.fake.in_progress_calls = 1
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(len(self._forms("process-payment")), 2)

    def test_status_mapping(self):
        payment = self._approved()
        payment._dispatch()
        (operation,) = self.fake.operations
        for fake_status, expected in (("success", "paid"), ("refused", "failed"), ("in_progress", "pending")):
            with self.subTest(status=fake_status):
                operation["status"] = fake_status
                result = self.yoomoney._get_payout_status(payment)
                self.assertEqual(result["status"], expected)
                self.assertEqual(result["provider_reference"], operation["operation_id"])

    def test_status_unknown_without_operation(self):
        payment = self._approved()
        payment._internal().idempotency_key = "never-sent-key"
        result = self.yoomoney._get_payout_status(payment)
        self.assertEqual(result["status"], "unknown")

    def test_status_query_with_revoked_token_is_unreachable(self):
        payment = self._approved()
        payment._dispatch()
        self.fake.tokens[TOKEN]["state"] = "revoked"
        with self.assertRaisesRegex(WalletProviderUnreachable, "expired or revoked"):
            self.yoomoney._get_payout_status(payment)

    # === REFUSALS === #

    def test_refusals_fail_with_clear_message(self):
        cases = [
            ("not_enough_funds", "enough funds"),
            ("unknown_payee", "not found"),
            ("limit_exceeded", "exceeds a limit"),
            ("expired_token", "expired or revoked"),
            ("revoked_token", "expired or revoked"),
            ("missing_right", "lacks the right"),
        ]
        for case, message in cases:
            with self.subTest(case=case):
                self._reset_fake()
                vendor = self.payee
                if case == "not_enough_funds":
                    self.fake.balance = 10
                elif case == "unknown_payee":
                    vendor = self._create_yoomoney_vendor(f"Unknown {case}", "410019999999999")
                elif case == "limit_exceeded":
                    self.fake.limit_per_transfer = 1000
                elif case == "expired_token":
                    self.fake.add_token(TOKEN, state="expired")
                elif case == "revoked_token":
                    self.fake.add_token(TOKEN, state="revoked")
                elif case == "missing_right":
                    self.fake.add_token(TOKEN, rights="account-info operation-history")
                payment = self._approved(vendor=vendor)
                with mute_logger(*QUIET):
                    payment._dispatch()
                self.assertEqual(payment.state, "failed")
                self.assertIn(message, payment.error_message)
                self.assertNotIn(TOKEN, payment.error_message)
                self.assertFalse(self.fake.payouts_for_label(payment.idempotency_key))

    def test_refusal_after_lost_answer_stays_in_doubt(self):
        """A refusal after a lost answer may hide a transfer that was made."""
        self.fake.inject("reset_after", path="/api/process-payment")
        self.fake.on_processed = lambda token: token.update(state="revoked")
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertEqual(len(self.fake.payouts_for_label(payment.idempotency_key)), 1)

    # === TEST MODE === #

    def test_test_mode_sends_debug_parameters(self):
        self.yoomoney.state = "test"
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        for method in ("request-payment", "process-payment"):
            (form,) = self._forms(method)
            self.assertEqual(form["test_payment"], "true")
            self.assertEqual(form["test_result"], "success")
        self.assertFalse(self.fake.operations)
        self.assertEqual(self.fake.balance, Decimal(DEFAULT_BALANCE))

    def test_test_mode_outcome(self):
        self.yoomoney.write({"state": "test", "yoomoney_test_result": "not_enough_funds"})
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("enough funds", payment.error_message)

    # === SETTINGS, BALANCE, PAYEES === #

    def test_balance_from_account_info(self):
        self.fake.balance = Decimal("12345.67")
        self.assertEqual(self.yoomoney._get_balance(), 12345.67)
        action = self.yoomoney.action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.yoomoney.balance, 12345.67)
        self.fake.add_token(TOKEN, rights="payment-p2p operation-history")
        with mute_logger(*QUIET), self.assertRaises(UserError) as caught:
            self.yoomoney.action_test_connection()
        self.assertIn("lacks the right", str(caught.exception))

    def test_scope_must_allow_payouts(self):
        cases = {
            "account-info operation-history": "payment-p2p",
            "payment-p2p account-info": "operation-history",
            "": "payment-p2p, operation-history",
        }
        for scope, missing in cases.items():
            with self.subTest(scope=scope), self.assertRaises(ValidationError) as caught:
                self.yoomoney.yoomoney_scope = scope
            self.assertIn(f"lack {missing}.", str(caught.exception))
        self.yoomoney.yoomoney_scope = 'payment.to-account("410011234567890") operation-history'
        self.yoomoney.write({"state": "disabled", "yoomoney_scope": False})

    def test_currency_must_be_rub(self):
        with self.assertRaises(ValidationError) as caught:
            self.yoomoney.currency_id = self.currency
        self.assertIn("RUB", str(caught.exception))

    def test_token_is_write_only(self):
        manager_view = self.yoomoney.with_user(self.manager)
        self.assertFalse(manager_view.yoomoney_access_token)
        self.assertTrue(manager_view.yoomoney_access_token_set)
        self.assertNotIn(TOKEN, self.yoomoney.sudo().yoomoney_access_token_encrypted)
        self.assertEqual(self.yoomoney._get_secret("yoomoney_access_token"), TOKEN)

    def test_payee_identifier_formats(self):
        for identifier in (PAYEE_WALLET, "79001234567", "vendor@example.com"):
            with self.subTest(identifier=identifier):
                self.assertTrue(self.yoomoney._check_payee_identifier(identifier))
        for identifier in ("+7 900 123-45-67", "4100-1234", "1234567890", "vendor@", ""):
            with self.subTest(identifier=identifier), self.assertRaises(UserError):
                self.yoomoney._check_payee_identifier(identifier)

    def test_payee_kinds(self):
        self.assertEqual(self.yoomoney._get_supported_payee_kinds(), {"individual", "self_employed"})
        company = self._create_yoomoney_vendor("OOO Romashka", "410015555555555", kind="company")
        with self.assertRaises(UserError) as caught:
            self.yoomoney._check_payee(company.wallet_payee_account_ids)
        self.assertIn("cannot pay a payee of kind", str(caught.exception))
        self_employed = self._create_yoomoney_vendor("Anna Self", "410016666666666", kind="self_employed")
        self.yoomoney._check_payee(self_employed.wallet_payee_account_ids)

    # === NOTIFICATIONS === #

    def test_worked_example_signatures(self):
        self.assertEqual(yoomoney_notification_hash(EXAMPLE_FIELDS, EXAMPLE_SECRET), EXAMPLE_HASH)
        unlabelled = dict(EXAMPLE_FIELDS, label="")
        self.assertEqual(yoomoney_notification_hash(unlabelled, EXAMPLE_SECRET), EXAMPLE_HASH_EMPTY_LABEL)
        self.assertEqual(sign_notification(EXAMPLE_FIELDS, EXAMPLE_SECRET), EXAMPLE_HASH)

    def test_worked_example_accepted_and_ignored(self):
        response = self._post_notification(dict(EXAMPLE_FIELDS, sha1_hash=EXAMPLE_HASH))
        self.assertEqual(response.status_code, 200)
        event = self._events()
        self.assertEqual(event.state, "ignored")
        self.assertTrue(event.signature_valid)
        self.assertEqual(event.event_type, "p2p-incoming")
        self.assertEqual(event.provider_reference, "904035776918098009")
        self.assertEqual(event.amount, 995.0)
        self.assertEqual(event.currency, "RUB")
        self.assertFalse(event.reference)
        self.assertIn("\"label\": \"PO00042\"", event.payload)
        self.assertNotIn(EXAMPLE_SECRET, event.payload)

    def test_incoming_money_changes_no_payment(self):
        """Money received with a payment's reference as label pays nothing."""
        self.fake.in_progress_calls = 10
        payment = self._approved()
        with mute_logger(*QUIET):
            payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.fake.receive_incoming(EXAMPLE_SECRET, amount=f"{payment.amount:.2f}", label=payment.name)
        (response,) = self._deliver()
        self.assertEqual(response.status_code, 200)
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(self._events().state, "ignored")
        self.assertFalse(self._events().payment_id)

    def test_duplicate_notification_stored_once(self):
        fields_by_name = self.fake.receive_incoming(EXAMPLE_SECRET)
        self.fake.notifications.append(dict(fields_by_name))
        first, second = self._deliver()
        self.assertEqual(first.status_code, 200)
        self.assertEqual(json.loads(second.content)["status"], "duplicate")
        self.assertEqual(len(self._events()), 1)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_forged_notifications_rejected(self):
        signed = dict(EXAMPLE_FIELDS, sha1_hash=EXAMPLE_HASH)
        forgeries = {
            "changed amount": dict(signed, amount="99500.00"),
            "changed label": dict(signed, label="PO00043"),
            "other secret": dict(EXAMPLE_FIELDS, sha1_hash=sign_notification(EXAMPLE_FIELDS, "guess")),
            "no hash": dict(EXAMPLE_FIELDS),
            "empty hash": dict(EXAMPLE_FIELDS, sha1_hash=""),
        }
        for name, fields_by_name in forgeries.items():
            with self.subTest(forgery=name):
                self.assertEqual(self._post_notification(fields_by_name).status_code, 403)
        self.assertEqual(set(self._events().mapped("state")), {"rejected"})
        duplicated = urlencode(signed) + "&amount=1.00"
        response = self.url_open(
            f"/wallet/webhook/{self.yoomoney.id}",
            data=duplicated,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.status_code, 403)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_notifications_rejected(self):
        malformed = {
            "unknown type": dict(EXAMPLE_FIELDS, notification_type="p2p-outgoing"),
            "no operation": dict(EXAMPLE_FIELDS, operation_id=""),
            "bad amount": dict(EXAMPLE_FIELDS, amount="many"),
        }
        for name, fields_by_name in malformed.items():
            with self.subTest(case=name):
                fields_by_name["sha1_hash"] = sign_notification(fields_by_name, EXAMPLE_SECRET)
                self.assertEqual(self._post_notification(fields_by_name).status_code, 400)
        self.assertFalse(self._events().filtered(lambda e: e.state != "rejected"))

    @mute_logger(CONTROLLER_LOGGER)
    def test_json_notification_unsupported(self):
        response = self._post_notification(dict(EXAMPLE_FIELDS, sha1_hash=EXAMPLE_HASH), "application/json")
        self.assertEqual(response.status_code, 415)
