import base64
import json
import uuid
from datetime import timedelta
from decimal import Decimal

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..exceptions import WalletProviderError
from ..models.wallet_provider_yookassa import NOTIFICATION_NETWORKS
from .common import WalletPaymentCommon
from .fakes.yookassa import FakeYooKassa

PAYMENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"
PROVIDER_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider"
CONTROLLER_LOGGER = "odoo.addons.purchase_wallet_payment.controllers.main"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"
QUIET = (PAYMENT_LOGGER, PROVIDER_LOGGER)

SHOP_ID = "506751"
SECRET_KEY = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0"
PAYEE_WALLET = "410011806060700"
LOCAL_NETWORKS = "127.0.0.0/8\n::1/128"


@tagged("post_install", "-at_install")
class TestYooKassaRail(WalletPaymentCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeYooKassa(shop_id=SHOP_ID, secret_key=SECRET_KEY).start()
        cls.addClassCleanup(cls.fake.stop)
        cls.rub = cls.setup_other_currency("RUB", rates=[("2000-01-01", 100.0)])
        cls.rub_journal = cls.env["account.journal"].create(
            {
                "name": "YooKassa Payouts",
                "type": "bank",
                "code": "YKP",
                "currency_id": cls.rub.id,
                "company_id": cls.company.id,
            }
        )
        cls.yookassa = cls.env["wallet.provider"].create(
            {
                "name": "YooKassa Gateway",
                "provider_type": "yookassa",
                "state": "test",
                "company_id": cls.company.id,
                "currency_id": cls.rub.id,
                "journal_id": cls.rub_journal.id,
                "api_base_url": cls.fake.url,
                "yookassa_shop_id": SHOP_ID,
                "yookassa_secret_key": SECRET_KEY,
                # The tests' webhook calls come from this machine.
                "yookassa_notification_networks": LOCAL_NETWORKS,
            }
        )
        cls.company.wallet_provider_id = cls.yookassa
        cls.payee = cls._create_yookassa_vendor("Maria Ivanova", PAYEE_WALLET)

    @classmethod
    def _create_yookassa_vendor(cls, name, identifier, kind=None):
        return cls._create_vendor(
            name,
            identifier,
            provider_type="yookassa",
            kind=kind,
            property_purchase_currency_id=cls.rub.id,
        )

    def setUp(self):
        super().setUp()
        fake = self.fake
        for collection in (fake.payouts, fake.idempotence, fake.wallets):
            collection.clear()
        fake.reserved.clear()
        fake.notifications.clear()
        fake.requests.clear()
        fake.faults.clear()
        fake.balance = Decimal("100000.00")
        fake.key_revoked = False
        fake.settle_at_once = False
        fake.add_wallet(PAYEE_WALLET)

    # === HELPERS === #

    def _approved(self, amount=1500.0, vendor=None):
        return self._approved_payment(self.yookassa, vendor or self.payee, amount)

    def _sent(self, amount=1500.0, vendor=None):
        payment = self._approved(amount=amount, vendor=vendor)
        with mute_logger(*QUIET):
            payment._dispatch()
        return payment

    def _post(self, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.url_open(
            f"/wallet/webhook/{self.yookassa.id}",
            data=data,
            headers={"Content-Type": "application/json"},
        )

    def _deliver(self):
        """Deliver the fake's queued notifications to the webhook."""
        # The webhook runs in the HTTP server's thread, which reads the database.
        self.env.flush_all()
        return self.fake.deliver_notifications(self.yookassa.webhook_url)

    def _notification(self, payout, event=None):
        return {"type": "notification", "event": event or f"payout.{payout['status']}", "object": dict(payout)}

    def _events(self):
        return self.env["wallet.event"].search([("provider_id", "=", self.yookassa.id)])

    def _state(self, payment):
        payment.invalidate_recordset()
        return payment.state

    # === FLOW === #

    def test_receipt_to_posted_payment(self):
        """Receipt, approval, pending payout, then the notification pays."""
        order = self.env["purchase.order"].with_user(self.buyer).create(
            {
                "partner_id": self.payee.id,
                "company_id": self.company.id,
                "currency_id": self.rub.id,
                "order_line": [
                    Command.create(
                        {"product_id": self.product_ssd.id, "product_qty": 3, "price_unit": 999.9, "taxes_id": False}
                    )
                ],
            }
        )
        order.button_confirm()
        order = order.with_user(self.env.user)
        self._receive(order)
        payment = self._payments(order)
        self.assertEqual(payment.state, "approved")

        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.assertTrue(payment.provider_reference.startswith("po-"))
        (request,) = self.fake.requests_to("/v3/payouts")
        self.assertEqual(request.headers["Idempotence-Key"], payment.idempotency_key)
        expected_auth = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
        self.assertEqual(request.headers["Authorization"], f"Basic {expected_auth}")
        body = request.json()
        self.assertEqual(body["amount"], {"value": "2999.70", "currency": "RUB"})
        self.assertEqual(body["payout_destination_data"], {"type": "yoo_money", "account_number": PAYEE_WALLET})
        self.assertEqual(body["metadata"]["idempotency_key"], payment.idempotency_key)
        self.assertIn(order.name, body["description"])

        self.fake.settle(payment.provider_reference)
        (response,) = self._deliver()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(payment), "paid")
        event = self._events()
        self.assertEqual(event.state, "processed")
        self.assertEqual(event.event_type, "payout.succeeded")
        self.assertEqual(payment.log_ids[-1].event_id, event)
        account_payment = payment.account_payment_id
        self.assertEqual(account_payment.state, "paid")
        self.assertEqual(account_payment.amount, 2999.7)
        self.assertEqual(account_payment.journal_id, self.rub_journal)
        self.assertEqual(len(self.fake.payouts_with_key(payment.idempotency_key)), 1)

    def test_immediate_success_pays_on_dispatch(self):
        self.fake.settle_at_once = True
        payment = self._sent()
        self.assertEqual(payment.state, "paid")
        self.assertTrue(payment.account_payment_id)

    # === IDEMPOTENCY AND UNKNOWN OUTCOMES === #

    def test_repeated_request_pays_once(self):
        """The same Idempotence-Key returns the first payout, never a second."""
        payment = self._approved()
        payment._internal().idempotency_key = str(uuid.uuid4())
        first = self.yookassa._send_payout(payment)
        second = self.yookassa._send_payout(payment)
        self.assertEqual(first["provider_reference"], second["provider_reference"])
        self.assertEqual(len(self.fake.payouts_with_key(payment.idempotency_key)), 1)
        self.assertEqual(self.fake.balance, Decimal("98500.00"))

    def test_same_key_other_body_rejected(self):
        payment = self._approved()
        payment._internal().idempotency_key = str(uuid.uuid4())
        self.yookassa._send_payout(payment)
        self.fake.add_wallet("410011806060799")
        payment.payee_account_id.identifier = "410011806060799"
        with self.assertRaises(WalletProviderError) as caught:
            self.yookassa._send_payout(payment)
        self.assertIn("Idempotence key duplicated", str(caught.exception))
        self.assertEqual(len(self.fake.payouts), 1)

    def test_lost_answer_resolved_by_metadata_search(self):
        self.fake.inject("reset_after", path="/v3/payouts")
        payment = self._sent()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(payment.provider_reference)
        (payout,) = self.fake.payouts_with_key(payment.idempotency_key)

        payment.with_user(self.buyer).action_check_status()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(payment.provider_reference, payout["id"])
        (search,) = self.fake.requests_to("/v3/payouts/search")
        self.assertEqual(search.query, {"metadata[idempotency_key]": payment.idempotency_key})
        self.assertEqual(len(self.fake.requests_to("/v3/payouts")), 1, "a status query never sends")

        self.fake.settle(payout["id"])
        self._deliver()
        self.assertEqual(self._state(payment), "paid")
        self.assertEqual(len(self.fake.payouts_with_key(payment.idempotency_key)), 1)

    def test_server_error_leaves_doubt_then_fails(self):
        self.fake.inject(
            "status",
            path="/v3/payouts",
            status=500,
            body={"type": "error", "id": "e1", "code": "internal_server_error"},
        )
        payment = self._sent()
        self.assertEqual(payment.state, "in_doubt")
        payment._resolve_status()
        self.assertEqual(payment.state, "in_doubt", "too early to call it failed")
        payment._internal().sent_at = fields.Datetime.now() - timedelta(hours=1)
        payment._resolve_status()
        self.assertEqual(payment.state, "failed")
        self.assertFalse(self.fake.payouts)

    def test_status_mapping(self):
        payment = self._sent()
        payout = self.fake.payouts[payment.provider_reference]
        cases = [("pending", "pending", ""), ("succeeded", "paid", ""), ("canceled", "failed", "rejected")]
        for fake_status, expected, message in cases:
            with self.subTest(status=fake_status):
                payout["status"] = fake_status
                payout["cancellation_details"] = {"party": "yoo_money", "reason": "rejected_by_payee"}
                result = self.yookassa._get_payout_status(payment)
                self.assertEqual(result["status"], expected)
                self.assertEqual(result["provider_reference"], payout["id"])
                self.assertIn(message, result["message"])

    def test_status_unknown_without_payout(self):
        payment = self._approved()
        payment._internal().idempotency_key = str(uuid.uuid4())
        self.assertEqual(self.yookassa._get_payout_status(payment)["status"], "unknown")

    # === REFUSALS === #

    def test_canceled_payouts_fail_with_reason(self):
        cases = [
            ("insufficient_funds", "payout balance"),
            ("recipient_not_found", "was not found"),
            ("one_time_limit_exceeded", "cap of its identification status"),
            ("periodic_limit_exceeded", "limit for the month"),
        ]
        for reason, message in cases:
            with self.subTest(reason=reason):
                vendor = self.payee
                if reason == "insufficient_funds":
                    self.fake.balance = Decimal("10.00")
                elif reason == "recipient_not_found":
                    vendor = self._create_yookassa_vendor("Nobody", "410019999999999")
                elif reason == "one_time_limit_exceeded":
                    self.fake.add_wallet(PAYEE_WALLET, status="named", balance="59000.00")
                elif reason == "periodic_limit_exceeded":
                    self.fake.add_wallet(PAYEE_WALLET)
                    self.fake.wallets[PAYEE_WALLET]["month"] = Decimal("599000")
                payment = self._sent(amount=1500.0, vendor=vendor)
                self.assertEqual(payment.state, "failed")
                self.assertIn(message, payment.error_message)
                self.assertEqual(
                    self.fake.payouts[payment.provider_reference]["cancellation_details"]["reason"], reason
                )
                self.fake.balance = Decimal("100000.00")
                self.fake.add_wallet(PAYEE_WALLET)

    def test_revoked_key_fails(self):
        self.fake.key_revoked = True
        payment = self._sent()
        self.assertEqual(payment.state, "failed")
        self.assertIn("wrong, expired or revoked", payment.error_message)
        self.assertNotIn(SECRET_KEY, payment.error_message)
        self.assertFalse(self.fake.payouts)

    def test_invalid_wallet_number_rejected_by_api(self):
        payment = self._approved()
        payment._internal().idempotency_key = str(uuid.uuid4())
        payment.payee_account_id.identifier = "4100"
        with self.assertRaises(WalletProviderError) as caught:
            self.yookassa._send_payout(payment)
        self.assertIn("wallet number", str(caught.exception))

    def test_payout_below_minimum_not_sent(self):
        payment = self._sent(amount=0.5)
        self.assertEqual(payment.state, "failed")
        self.assertIn("at least", payment.error_message)
        self.assertFalse(self.fake.requests_to("/v3/payouts"))

    # === NOTIFICATIONS === #

    def test_canceled_notification_fails_payment(self):
        payment = self._sent()
        self.fake.settle(payment.provider_reference, "canceled", "rejected_by_payee")
        self._deliver()
        self.assertEqual(self._state(payment), "failed")
        self.assertIn("The payee rejected the payout.", payment.error_message)
        self.assertTrue(payment.activity_ids)

    def test_duplicate_and_late_notifications(self):
        payment = self._sent()
        pending_copy = self._notification(self.fake.payouts[payment.provider_reference])
        self.fake.settle(payment.provider_reference)
        notification = self.fake.notifications[0]
        self.fake.notifications.append(notification)
        first, second = self._deliver()
        self.assertEqual(first.status_code, 200)
        self.assertEqual(json.loads(second.content)["status"], "duplicate")
        # A pending notification arriving late is read back as succeeded.
        late = self._post(pending_copy)
        self.assertEqual(json.loads(late.content)["status"], "duplicate")
        self.assertEqual(self._state(payment), "paid")
        self.assertEqual(len(self._events()), 1)
        self.assertEqual(
            self.env["account.payment"].search_count([("wallet_payment_id", "=", payment.id)]), 1
        )

    def test_forged_status_replaced_by_api(self):
        """A body claiming success for a pending payout changes nothing."""
        payment = self._sent()
        payout = dict(self.fake.payouts[payment.provider_reference], status="succeeded")
        response = self._post(self._notification(payout))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(payment), "pending")
        event = self._events()
        self.assertEqual(event.status, "pending")
        self.assertEqual(event.state, "ignored")
        (read_back,) = self.fake.requests_to(f"/v3/payouts/{payment.provider_reference}")
        self.assertEqual(read_back.method, "GET")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_unknown_sender_rejected(self):
        self.yookassa.yookassa_notification_networks = NOTIFICATION_NETWORKS
        payment = self._sent()
        self.fake.settle(payment.provider_reference)
        (response,) = self._deliver()
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self._state(payment), "pending")
        event = self._events()
        self.assertEqual(event.state, "rejected")
        self.assertFalse(event.signature_valid)

    def test_any_sender_when_no_networks(self):
        self.yookassa.yookassa_notification_networks = False
        payment = self._sent()
        self.fake.settle(payment.provider_reference)
        (response,) = self._deliver()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(payment), "paid")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_notifications_rejected(self):
        payment = self._sent()
        payout = self.fake.payouts[payment.provider_reference]
        bodies = {
            "not json": b"{not json",
            "not an object": b"[]",
            "wrong type": {"type": "event", "event": "payout.succeeded", "object": payout},
            "no object": {"type": "notification", "event": "payout.succeeded"},
            "no id": {"type": "notification", "event": "payout.succeeded", "object": {"status": "succeeded"}},
            "unknown payout": self._notification(dict(payout, id="po-00000000-0000-0000-0000-000000000000")),
        }
        for name, body in bodies.items():
            with self.subTest(body=name):
                self.assertEqual(self._post(body).status_code, 400)
        self.assertEqual(self._state(payment), "pending")

    def test_other_events_ignored(self):
        body = {
            "type": "notification",
            "event": "payment.succeeded",
            "object": {"id": "2f3b588d-000f-5000-8000-1d6e87c7fbde", "status": "succeeded"},
        }
        self.assertEqual(self._post(body).status_code, 200)
        self.assertEqual(self._events().state, "ignored")

    # === SETTINGS, BALANCE, PAYEES === #

    def test_balance_from_settings(self):
        self.fake.balance = Decimal("54321.09")
        self.assertEqual(self.yookassa._get_balance(), 54321.09)
        action = self.yookassa.action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.yookassa.balance, 54321.09)
        self.fake.key_revoked = True
        with mute_logger(PROVIDER_LOGGER), self.assertRaises(UserError) as caught:
            self.yookassa.action_test_connection()
        self.assertIn("revoked", str(caught.exception))

    def test_settings_checked(self):
        with self.assertRaises(ValidationError) as caught:
            self.yookassa.currency_id = self.currency
        self.assertIn("RUB", str(caught.exception))
        with self.assertRaises(ValidationError) as caught:
            self.yookassa.yookassa_notification_networks = "185.71.76.0/27\nnot-an-address"
        self.assertIn("not-an-address", str(caught.exception))

    def test_secret_key_is_write_only(self):
        manager_view = self.yookassa.with_user(self.manager)
        self.assertFalse(manager_view.yookassa_secret_key)
        self.assertTrue(manager_view.yookassa_secret_key_set)
        self.assertNotIn(SECRET_KEY, self.yookassa.sudo().yookassa_secret_key_encrypted)

    def test_payee_identifier_and_kinds(self):
        self.assertTrue(self.yookassa._check_payee_identifier("41001614575714"))
        for identifier in ("4100161457", "41001-614575714", "vendor@example.com", "7" * 34):
            with self.subTest(identifier=identifier), self.assertRaises(UserError):
                self.yookassa._check_payee_identifier(identifier)
        self.assertEqual(self.yookassa._get_supported_payee_kinds(), {"individual", "self_employed"})
        company = self._create_yookassa_vendor("OOO Vektor", "410015555555555", kind="company")
        with self.assertRaises(UserError):
            self.yookassa._check_payee(company.wallet_payee_account_ids)

    def test_rail_limit_per_payout(self):
        self.assertEqual(self.yookassa._get_rail_limits(), {"per_payout": 500000.0})
        self.yookassa._check_can_pay(500000.0, self.rub)
        with self.assertRaises(UserError) as caught:
            self.yookassa._check_can_pay(500000.01, self.rub)
        self.assertIn("limit", str(caught.exception))
