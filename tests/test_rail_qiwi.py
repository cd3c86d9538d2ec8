import base64
import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..exceptions import WalletProviderError
from ..models import wallet_provider_qiwi as qiwi_module
from .common import WalletPaymentCommon
from .fakes.qiwi import HISTORY_PREFIX, PAYMENT_PATH, FakeQiwi, hook_signature

WALLET = "+79001234567"
PAYEE = "+79161112233"
TOKEN = "qiwi-token-5b2e"
# Seconds the fake holds a lost answer: longer than the 10 s to which Odoo's
# test setup raises shorter request timeouts.
LOST_ANSWER_DELAY = 12
# The digest's own worked example: key bytes "odoo-fake-qiwi-hook-key-32bytes!",
# signed string "643|1500.5|OUT|+79001234567|24567890123".
OWN_EXAMPLE_KEY = "b2Rvby1mYWtlLXFpd2ktaG9vay1rZXktMzJieXRlcyE="
OWN_EXAMPLE_HASH = "9f48b88e4f1a6642cd6f33b077360b89e8cef1d18f9ba7aee4c4436b2146f3a5"

PAYMENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"
PROVIDER_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider"
CONTROLLER_LOGGER = "odoo.addons.purchase_wallet_payment.controllers.main"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"


@tagged("post_install", "-at_install")
class TestQiwiRail(WalletPaymentCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rub = cls.setup_other_currency("RUB")
        cls.qiwi_journal = cls.env["account.journal"].create(
            {
                "name": "QIWI",
                "type": "bank",
                "code": "QIW",
                "company_id": cls.company.id,
                "currency_id": cls.rub.id,
            }
        )
        cls.qiwi_provider = cls.env["wallet.provider"].create(
            {
                "name": "Company QIWI",
                "provider_type": "qiwi",
                "state": "test",
                "company_id": cls.company.id,
                "currency_id": cls.rub.id,
                "journal_id": cls.qiwi_journal.id,
                "qiwi_wallet": WALLET,
                "qiwi_api_token": TOKEN,
            }
        )
        cls.company.wallet_provider_id = cls.qiwi_provider
        cls.qiwi_vendor = cls._create_qiwi_vendor("Ivan Petrov", PAYEE)

    @classmethod
    def _create_qiwi_vendor(cls, name, account):
        return cls._create_vendor(name, account, provider_type="qiwi")

    def setUp(self):
        super().setUp()
        # A fresh service per test: its ledger is not rolled back with the test.
        self.fake = FakeQiwi(WALLET.lstrip("+"), TOKEN, balance=10000.0).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_recipient(PAYEE)
        self.qiwi_provider.api_base_url = self.fake.url
        self.qiwi_provider.action_qiwi_register_webhook()

    # === HELPERS === #

    def _approved(self, amount=300.0, vendor=None):
        return self._approved_payment(self.qiwi_provider, vendor or self.qiwi_vendor, amount)

    def _payment_id(self, payment):
        return payment.attempt_ids.filtered(
            lambda a: a.idempotency_key == payment.idempotency_key
        ).provider_number

    def _posted_bodies(self):
        return [request.json() for request in self.fake.requests_to(PAYMENT_PATH)]

    def _events(self):
        return self.env["wallet.event"].search([("provider_id", "=", self.qiwi_provider.id)])

    def _post(self, body):
        return self.url_open(
            f"/wallet/webhook/{self.qiwi_provider.id}",
            data=body,
            headers={"Content-Type": "application/json"},
        )

    def _state(self, payment):
        payment.invalidate_recordset()
        return payment.state

    # === FLOW === #

    def test_receipt_to_paid_through_webhook(self):
        order = self._create_order(vendor=self.qiwi_vendor, confirm=False)
        order.currency_id = self.rub
        order.button_confirm()
        self._receive(order)
        payment = self._payments(order)
        self.assertEqual(payment.currency_id, self.rub)
        self.assertEqual(payment.state, "approved")
        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        payment_id = self._payment_id(payment)
        [payout] = self.fake.payouts(payment_id)
        self.assertEqual(payout["trmTxnId"], payment_id)
        self.assertEqual(payout["sum"]["amount"], 500.0)
        self.assertEqual(payment.provider_reference, str(payout["txnId"]))

        [waiting] = self.fake.deliver_notifications()
        self.assertEqual(waiting.status_code, 200)
        self.assertEqual(self._state(payment), "pending")
        self.fake.settle()
        [success] = self.fake.deliver_notifications()
        self.assertEqual(success.status_code, 200)
        self.assertEqual(self._state(payment), "paid")
        event = self._events().filtered(lambda e: e.status == "paid")
        self.assertEqual(event.payment_id, payment)
        self.assertEqual(event.state, "processed")
        self.assertEqual(payment.log_ids[-1].event_id, event)
        self.assertEqual(payment.account_payment_id.state, "paid")
        self.assertEqual(self.fake.balance, 9500.0)

    def test_payment_request_follows_api(self):
        payment = self._approved(amount=150.5)
        payment._dispatch()
        [body] = self._posted_bodies()
        self.assertEqual(body["id"], self._payment_id(payment))
        self.assertTrue(body["id"].isdigit())
        self.assertLessEqual(len(body["id"]), 20)
        self.assertEqual(body["sum"], {"amount": 150.5, "currency": "643"})
        self.assertEqual(body["paymentMethod"], {"type": "Account", "accountId": "643"})
        self.assertEqual(body["fields"], {"account": PAYEE})
        self.assertEqual(body["comment"], payment.name)
        [request] = self.fake.requests_to(PAYMENT_PATH)
        self.assertEqual(request.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertEqual(request.headers["Accept"], "application/json")

    # === IDEMPOTENCY === #

    def test_repeated_payment_id_not_paid_twice(self):
        payment = self._approved()
        payment._dispatch()
        payment_id = self._payment_id(payment)
        result = self.qiwi_provider._send_payout(payment)
        self.assertEqual(result["status"], "pending")
        self.assertEqual(result["provider_reference"], payment.provider_reference)
        first, second = self._posted_bodies()
        self.assertEqual(second["id"], payment_id, "the same attempt reuses its id")
        self.assertEqual(len(self.fake.payouts()), 1, "error 408: taken once")

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_server_error_then_unknown_then_new_attempt(self):
        self.fake.inject("status", path=PAYMENT_PATH, status=500)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(self.fake.payouts())
        first_id = self._payment_id(payment)
        payment.action_check_status()
        self.assertEqual(payment.state, "in_doubt", "within the grace period")
        payment._internal().sent_at = fields.Datetime.now() - timedelta(hours=1)
        payment.action_check_status()
        self.assertEqual(payment.state, "failed")
        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.assertGreater(int(self._payment_id(payment)), int(first_id))
        self.assertEqual(len(self.fake.payouts()), 1)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_lost_answer_resolved_from_history(self):
        self.fake.inject("drop_after", path=PAYMENT_PATH, seconds=LOST_ANSWER_DELAY)
        payment = self._approved()
        with patch.object(qiwi_module, "REQUEST_TIMEOUT", 2):
            payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(payment.provider_reference)
        [payout] = self.fake.payouts(self._payment_id(payment))
        payment.action_check_status()
        self.assertEqual(payment.state, "pending", "found by trmTxnId, still WAITING")
        self.assertEqual(payment.provider_reference, str(payout["txnId"]))
        self.fake.settle()
        payment.action_check_status()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(payment.log_ids[-1].cause, "status_query")
        self.assertEqual(
            len(self.fake.requests_to(PAYMENT_PATH)), 1, "a status query never resends"
        )
        self.assertEqual(len(self.fake.payouts()), 1)

    def test_history_paged_until_payment_found(self):
        payment = self._approved()
        payment._dispatch()
        payment_id = self._payment_id(payment)
        for index in range(60):
            self.fake._record_payment(f"{index + 1}", PAYEE, 2.0, 0.0, "older payment")
        result = self.qiwi_provider._qiwi_search_history(payment, payment_id)
        self.assertEqual(result["trmTxnId"], payment_id)
        history_requests = [r for r in self.fake.requests if r.path.startswith(HISTORY_PREFIX)]
        self.assertEqual(len(history_requests), 2)
        self.assertIn("nextTxnId", history_requests[1].query)

    # === REFUSALS === #

    @mute_logger(PAYMENT_LOGGER)
    def test_not_enough_funds_fails(self):
        self.fake.balance = 100.0
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("not enough money", payment.error_message)
        self.assertTrue(payment.error_message.startswith("QIWI: "))
        self.assertFalse(self.fake.payouts())

    @mute_logger(PAYMENT_LOGGER)
    def test_unknown_wallet_fails(self):
        payment = self._approved(vendor=self._create_qiwi_vendor("No Wallet", "+79990000000"))
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("does not exist", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_limit_exceeded_fails(self):
        self.fake.limit_per_payment = 200.0
        payment = self._approved(amount=300.0)
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("exceeds a QIWI limit", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_expired_token_fails(self):
        self.fake.set_token_state(TOKEN, "expired")
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("expired or was revoked", payment.error_message)
        self.assertNotIn(TOKEN, payment.error_message)
        self.assertFalse(self.fake.payouts())

    @mute_logger(PAYMENT_LOGGER)
    def test_amount_below_one_ruble_fails_before_sending(self):
        payment = self._approved(amount=0.5)
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("start at 1 ruble", payment.error_message)
        self.assertFalse(self.fake.requests_to(PAYMENT_PATH))

    @mute_logger(PAYMENT_LOGGER)
    def test_test_mode_without_url_fails_clearly(self):
        self.qiwi_provider.api_base_url = False
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("no test environment", payment.error_message)

    def test_unverified_payee_fails_by_webhook(self):
        self.fake.add_recipient("+79175550000", status="low")
        payment = self._approved(vendor=self._create_qiwi_vendor("New Wallet", "+79175550000"))
        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.fake.settle()
        responses = self.fake.deliver_notifications()
        self.assertEqual([r.status_code for r in responses], [200, 200])
        self.assertEqual(self._state(payment), "failed")
        self.assertIn("not verified enough", payment.error_message)
        self.assertEqual(self.fake.balance, 10000.0, "the fake refunded the failed transfer")

    # === STATUS AND BALANCE === #

    def test_status_maps_transaction_statuses(self):
        self.fake.commission_rate = 0.01
        payment = self._approved()
        payment._dispatch()
        [payout] = self.fake.payouts(self._payment_id(payment))
        for qiwi_status, status in (
            ("WAITING", "pending"),
            ("SUCCESS", "paid"),
            ("ERROR", "failed"),
        ):
            with self.subTest(status=qiwi_status):
                payout["status"] = qiwi_status
                payout["errorCode"] = 220 if qiwi_status == "ERROR" else 0
                result = self.qiwi_provider._get_payout_status(payment)
                self.assertEqual(result["status"], status)
                self.assertEqual(result["provider_reference"], str(payout["txnId"]))
                self.assertEqual(result["fee"], 3.0)
        self.assertIn("not enough money", result["message"])

    def test_status_unknown_when_never_sent(self):
        self.fake.inject("status", path=PAYMENT_PATH, status=503)
        payment = self._approved()
        with mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER):
            payment._dispatch()
        self.assertEqual(self.qiwi_provider._get_payout_status(payment)["status"], "unknown")

    def test_balance_of_ruble_account(self):
        self.assertEqual(self.qiwi_provider._get_balance(), 10000.0)
        self.fake.omit_balance_once = True
        self.assertEqual(self.qiwi_provider._get_balance(), 10000.0)
        accounts = [r for r in self.fake.requests if r.path.endswith("/accounts")]
        self.assertEqual(accounts[-1].query.get("alias"), "qw_wallet_rub")

    def test_balance_with_revoked_token_fails(self):
        self.fake.set_token_state(TOKEN, "revoked")
        with self.assertRaisesRegex(WalletProviderError, "expired or was revoked"):
            self.qiwi_provider._get_balance()
        with self.assertRaisesRegex(UserError, "rejected the credentials"):
            self.qiwi_provider.action_test_connection()

    # === WEBHOOK REGISTRATION === #

    def test_webhook_registered_with_signing_key(self):
        provider = self.qiwi_provider
        self.assertEqual(self.fake.hook["hookParameters"]["url"], provider.webhook_url)
        self.assertEqual(self.fake.hook["txnType"], "OUT")
        self.assertEqual(provider.qiwi_hook_id, self.fake.hook["hookId"])
        self.assertEqual(provider._get_secret("webhook_secret"), self.fake.hook_key)
        provider.action_qiwi_register_webhook()
        self.assertEqual(
            provider.qiwi_hook_id, self.fake.hook["hookId"], "the active hook is reused"
        )

    def test_webhook_of_other_url_reported(self):
        self.fake.hook["hookParameters"]["url"] = "https://elsewhere.example/hook"
        with self.assertRaisesRegex(UserError, "elsewhere.example"):
            self.qiwi_provider.action_qiwi_register_webhook()

    def test_webhook_registration_needs_manager(self):
        with self.assertRaisesRegex(UserError, "Wallet Managers"):
            self.qiwi_provider.with_user(self.buyer).action_qiwi_register_webhook()

    # === NOTIFICATIONS === #

    def test_hook_signature_matches_worked_examples(self):
        official = {
            "sum": {"currency": 643, "amount": 1},
            "type": "IN",
            "account": "+79161112233",
            "txnId": "13353941550",
        }
        self.assertEqual(
            qiwi_module.qiwi_hook_message(
                official, "sum.currency,sum.amount,type,account,txnId".split(",")
            ),
            "643|1|IN|+79161112233|13353941550",
        )
        self.assertEqual(
            hook_signature(official, "JcyVhjHCvHQwufz+IHXolyqHgEc5MoayBfParl6Guoc="),
            "f05c4e7bdf00620205d47696d77f924bfd3ba4d02b0398ac8a626e737dc27243",
        )
        self.assertEqual(
            base64.b64encode(b"odoo-fake-qiwi-hook-key-32bytes!").decode(),
            OWN_EXAMPLE_KEY,
        )

    def _worked_example_body(self, amount_text="1500.5", digest=OWN_EXAMPLE_HASH):
        """Return the own worked example as a body, with the amount written as
        ``amount_text``: the JSON text, not a float, decides what is signed."""
        payment = {
            "txnId": "24567890123",
            "account": "+79001234567",
            "status": "SUCCESS",
            "type": "OUT",
            "signFields": "sum.currency,sum.amount,type,account,txnId",
            "sum": {"amount": "AMOUNT", "currency": 643},
        }
        body = {
            "hash": digest,
            "hookId": "h1",
            "messageId": "m1",
            "test": False,
            "payment": payment,
        }
        return json.dumps(body).replace('"AMOUNT"', amount_text).encode()

    def test_worked_example_verifies(self):
        provider = self.qiwi_provider
        provider.webhook_secret = OWN_EXAMPLE_KEY
        self.assertTrue(provider._verify_notification(self._worked_example_body(), {}))
        self.assertFalse(
            provider._verify_notification(self._worked_example_body(amount_text="1500.50"), {}),
            "the amount is signed as written",
        )
        self.assertFalse(
            provider._verify_notification(self._worked_example_body(digest="0" * 64), {})
        )
        official_key = "JcyVhjHCvHQwufz+IHXolyqHgEc5MoayBfParl6Guoc="
        provider.webhook_secret = official_key
        body = json.dumps(
            {
                "hash": "f05c4e7bdf00620205d47696d77f924bfd3ba4d02b0398ac8a626e737dc27243",
                "messageId": "m2",
                "payment": {
                    "txnId": "13353941550",
                    "account": "+79161112233",
                    "type": "IN",
                    "status": "SUCCESS",
                    "signFields": "sum.currency,sum.amount,type,account,txnId",
                    "sum": {"amount": 1, "currency": 643},
                },
            }
        ).encode()
        self.assertTrue(provider._verify_notification(body, {}))

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_forged_notifications_rejected(self):
        payment = self._approved()
        payment._dispatch()
        [payout] = self.fake.payouts(self._payment_id(payment))
        payout["status"] = "SUCCESS"
        genuine = json.loads(self.fake.notification_body(payout))
        forged_hash = dict(genuine, hash="0" * 64)
        no_hash = {k: v for k, v in genuine.items() if k != "hash"}
        other_key = dict(
            genuine, hash=hook_signature(genuine["payment"], base64.b64encode(b"k" * 32).decode())
        )
        amount_changed = json.loads(json.dumps(genuine))
        amount_changed["payment"]["sum"]["amount"] = 3.0
        narrow_sign_fields = json.loads(json.dumps(genuine))
        narrow_sign_fields["payment"]["signFields"] = "type"
        narrow_sign_fields["hash"] = hook_signature(
            narrow_sign_fields["payment"], self.fake.hook_key, "type"
        )
        cases = {
            "wrong hash": json.dumps(forged_hash).encode(),
            "no hash": json.dumps(no_hash).encode(),
            "other key": json.dumps(other_key).encode(),
            "amount changed": json.dumps(amount_changed).encode(),
            "signs too few fields": json.dumps(narrow_sign_fields).encode(),
            "not json": b"{not json",
        }
        for label, body in cases.items():
            with self.subTest(case=label):
                self.assertEqual(self._post(body).status_code, 403)
        self.assertEqual(self._state(payment), "pending")
        self.assertEqual(set(self._events().mapped("state")), {"rejected"})

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_notifications_rejected(self):
        payment = self._approved()
        payment._dispatch()
        [payout] = self.fake.payouts(self._payment_id(payment))
        payout["status"] = "TELEPORTED"
        unknown_status = self.fake.notification_body(payout)
        payout["status"] = "SUCCESS"
        no_message_id = json.loads(self.fake.notification_body(payout))
        del no_message_id["messageId"]
        for label, body in {
            "unknown status": unknown_status,
            "no messageId": json.dumps(no_message_id).encode(),
        }.items():
            with self.subTest(case=label):
                self.assertEqual(self._post(body).status_code, 400)
        self.assertEqual(self._state(payment), "pending")

    def test_duplicate_notification_applied_once(self):
        payment = self._approved()
        payment._dispatch()
        self.fake.notifications.clear()
        self.fake.settle()
        [body] = self.fake.notifications
        self.assertEqual(self._post(body).status_code, 200)
        response = self._post(body)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["status"], "duplicate")
        self.assertEqual(len(self._events()), 1)
        self.assertEqual(self._state(payment), "paid")
        self.assertNotIn(json.loads(body)["hash"], self._events().payload)

    # === SUNSET, PAYEES AND SETTINGS === #

    def test_cannot_be_enabled(self):
        self.assertEqual(self.qiwi_provider.health_state, "sunset")
        with self.assertRaisesRegex(ValidationError, "21 February 2024"):
            self.qiwi_provider.state = "enabled"

    def test_enabling_refused_whatever_the_health(self):
        self.qiwi_provider.health_state = "active"
        with self.assertRaisesRegex(ValidationError, "revoked the licence of QIWI Bank"):
            self.qiwi_provider.state = "enabled"

    def test_resume_keeps_sunset(self):
        self.qiwi_provider.action_suspend()
        self.assertEqual(self.qiwi_provider.health_state, "suspended")
        self.qiwi_provider.action_resume()
        self.assertEqual(self.qiwi_provider.health_state, "sunset")

    def test_switching_rail_sets_health(self):
        provider = self.env["wallet.provider"].create(
            {"name": "Switching Wallet", "provider_type": "demo", "currency_id": self.rub.id}
        )
        self.assertEqual(provider.health_state, "active")
        provider.provider_type = "qiwi"
        self.assertEqual(provider.health_state, "sunset")
        provider.provider_type = "demo"
        self.assertEqual(provider.health_state, "active")

    def test_test_mode_stays_usable(self):
        self.qiwi_provider.state = "disabled"
        self.qiwi_provider.state = "test"
        self.assertEqual(self.qiwi_provider.state, "test")

    def test_label_says_sunset(self):
        labels = dict(self.env["wallet.provider"]._fields["provider_type"].selection)
        self.assertEqual(labels["qiwi"], "QIWI Wallet (sunset)")

    def test_payee_identifier_validation(self):
        provider = self.qiwi_provider
        self.assertTrue(provider._check_payee_identifier(PAYEE))
        for identifier in (
            "79161112233",
            "+7916111",
            "+7 916 111 22 33",
            "ivan@example.com",
            WALLET,
        ):
            with self.subTest(identifier=identifier):
                with self.assertRaises(UserError):
                    provider._check_payee_identifier(identifier)

    def test_natural_persons_only(self):
        kinds = self.qiwi_provider._get_supported_payee_kinds()
        self.assertEqual(kinds, {"individual", "sole_trader", "self_employed"})
        account = self.qiwi_vendor.wallet_payee_account_ids
        account.payee_kind = "company"
        with self.assertRaisesRegex(UserError, "cannot pay a payee of kind"):
            self.qiwi_provider._check_payee(account)

    def test_settings_validated(self):
        cases = {
            "rubles only": {
                "currency_id": self.currency.id,
                "journal_id": False,
                "state": "disabled",
            },
            "international format": {"qiwi_wallet": "89001234567"},
        }
        for message, values in cases.items():
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValidationError, message):
                    self.qiwi_provider.copy(dict(values, name="Invalid QIWI"))

    def test_token_write_only_and_encrypted(self):
        provider = self.qiwi_provider.with_user(self.manager)
        self.assertFalse(provider.qiwi_api_token)
        self.assertTrue(provider.qiwi_api_token_set)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT qiwi_api_token_encrypted FROM wallet_provider WHERE id = %s",
            [self.qiwi_provider.id],
        )
        self.assertNotIn(TOKEN, self.env.cr.fetchone()[0])
