import json
import zlib
from datetime import timedelta
from decimal import Decimal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..models.wallet_provider_paypal import (
    PAYPAL_LIVE_URL,
    PAYPAL_TEST_URL,
    build_signed_message,
    signature_matches,
)
from .common import WalletPaymentCommon
from .fakes.paypal import FakePayPal, make_certificate

PAYMENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"
PROVIDER_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider"
PAYPAL_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider_paypal"
CONTROLLER_LOGGER = "odoo.addons.purchase_wallet_payment.controllers.main"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"
PAYEE_EMAIL = "billing@northwind.example.com"

# The worked example of PayPal's offline signature check: exact body bytes,
# transmission headers and webhook id, and the CRC32 and message they give.
EXAMPLE_BODY = (
    b'{"id":"WH-TEST-0001","event_type":"PAYMENT.PAYOUTS-ITEM.SUCCEEDED",'
    b'"resource_type":"payouts_item","resource":{"payout_item_id":"ITEM123",'
    b'"transaction_status":"SUCCESS","payout_batch_id":"BATCH456","payout_item":'
    b'{"sender_item_id":"PO00042","amount":{"value":"25.50","currency":"USD"}}}}'
)
EXAMPLE_CRC32 = 1165254169
EXAMPLE_TRANSMISSION_ID = "8f1c2a40-1234-11f0-9abc-0242ac120002"
EXAMPLE_TRANSMISSION_TIME = "2026-01-15T10:20:30Z"
EXAMPLE_WEBHOOK_ID = "1AB23456CD789012E"
EXAMPLE_MESSAGE = (
    "8f1c2a40-1234-11f0-9abc-0242ac120002|2026-01-15T10:20:30Z|1AB23456CD789012E|1165254169"
)


class PayPalCommon(WalletPaymentCommon):
    """A PayPal wallet talking to a fake PayPal on 127.0.0.1, and a vendor
    with a PayPal account."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.paypal = cls.env["wallet.provider"].create(
            {
                "name": "Test PayPal",
                "provider_type": "paypal",
                "state": "test",
                "company_id": cls.company.id,
                "currency_id": cls.currency.id,
                "journal_id": cls.wallet_journal.id,
            }
        )
        cls.vendor_paypal = cls.env["res.partner"].create(
            {
                "name": "Northwind PayPal",
                "supplier_rank": 1,
                "wallet_payee_account_ids": [
                    Command.create({"provider_type": "paypal", "identifier": PAYEE_EMAIL})
                ],
            }
        )

    def setUp(self):
        super().setUp()
        self.fake = FakePayPal(currency=self.currency.name).start()
        self.addCleanup(self.fake.stop)
        self.paypal.write(
            {
                "api_base_url": self.fake.url,
                "paypal_client_id": self.fake.client_id,
                "paypal_client_secret": self.fake.client_secret,
                "paypal_webhook_id": self.fake.webhook_id,
            }
        )

    def _approved(self, amount=100.0, vendor=None):
        return self._approved_payment(self.paypal, vendor or self.vendor_paypal, amount)

    def _sent(self, amount=100.0, vendor=None):
        payment = self._approved(amount, vendor)
        payment._dispatch()
        return payment

    def _webhook_url(self):
        return f"{self.base_url()}/wallet/webhook/{self.paypal.id}"

    def _deliver(self, **options):
        # The webhook runs in the server thread and reads the database.
        self.env.flush_all()
        responses = self.fake.deliver_notifications(self._webhook_url(), **options)
        self.env.invalidate_all()
        return responses

    def _events(self):
        return self.env["wallet.event"].search([("provider_id", "=", self.paypal.id)], order="id")

    def _post(self, body, headers):
        self.env.flush_all()
        return self.url_open(self._webhook_url(), data=body, headers=headers)


@tagged("post_install", "-at_install")
class TestPayPalPayouts(PayPalCommon, HttpCase):
    def test_receipt_to_paid_over_webhook(self):
        self.company.wallet_provider_id = self.paypal
        order = self._create_order(vendor=self.vendor_paypal, lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order)
        payment = self._payments(order)
        self.assertEqual((payment.state, payment.amount), ("approved", 500.0))

        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        (batch,) = self.fake.batches_for(payment.idempotency_key)
        self.assertEqual(payment.provider_reference, batch["payout_batch_id"])

        self.fake.process()
        responses = self._deliver()
        self.assertEqual([r.status_code for r in responses], [200, 200])
        self.assertEqual(payment.state, "paid")
        self.assertEqual(payment.log_ids[-1].cause, "event")
        account_payment = payment.account_payment_id
        self.assertEqual(account_payment.state, "paid")
        self.assertEqual(account_payment.amount, 500.0)
        self.assertEqual(payment.fee_amount, 0.25)
        self.assertEqual(account_payment.partner_id, self.vendor_paypal)
        events = self._events()
        self.assertTrue(all(events.mapped("signature_valid")))
        self.assertEqual(
            events.mapped("event_type"),
            ["PAYMENT.PAYOUTS-ITEM.SUCCEEDED", "PAYMENT.PAYOUTSBATCH.SUCCESS"],
        )
        self.assertEqual(events.mapped("state"), ["processed", "ignored"])
        self.assertEqual(events[0].reference, payment.name)

    def test_key_in_paypal_idempotency_fields(self):
        payment = self._sent(amount=123.45)
        (request,) = self.fake.payout_requests()
        key = payment.idempotency_key
        body = request.json()
        self.assertEqual(request.headers["PayPal-Request-Id"], key)
        self.assertEqual(body["sender_batch_header"]["sender_batch_id"], key)
        (item,) = body["items"]
        self.assertEqual(item["sender_item_id"], key)
        self.assertEqual(item["amount"], {"value": "123.45", "currency": "USD"})
        self.assertEqual((item["receiver"], item["recipient_type"]), (PAYEE_EMAIL, "EMAIL"))
        self.assertTrue(request.headers["Authorization"].startswith("Bearer "))

    def test_repeated_request_pays_once(self):
        payment = self._sent()
        again = self.paypal._send_payout(payment)
        self.assertEqual(again["provider_reference"], payment.provider_reference)
        self.assertEqual(len(self.fake.payout_requests()), 2)
        self.assertEqual(len(self.fake.batches), 1)

    def test_reused_batch_id_finds_original(self):
        """PayPal rejects a reused sender_batch_id with a link to the original
        batch, whose id the rail takes instead of failing."""
        payment = self._sent()
        payload = self.paypal._paypal_prepare_payout_payload(payment)
        response = self.paypal._paypal_request(
            "POST", "/v1/payments/payouts", json_payload=payload, request_id="another-request-id"
        )
        self.assertEqual(response.status_code, 400)
        batch_id, status = self.paypal._paypal_read_created_batch(response)
        self.assertEqual((batch_id, status), (payment.provider_reference, None))
        self.assertEqual(len(self.fake.batches), 1)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_server_error_then_status_query(self):
        """A 5xx before PayPal applied the request: in doubt, then the status
        query under the same keys creates the only payout."""
        self.fake.inject("status", path="/v1/payments/payouts", status=503)
        payment = self._sent()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(self.fake.batches)

        payment.action_check_status()
        self.assertEqual(payment.state, "pending")
        (batch,) = self.fake.batches_for(payment.idempotency_key)
        self.assertEqual(payment.provider_reference, batch["payout_batch_id"])
        self.assertEqual(len(self.fake.batches), 1)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_lost_response_then_status_query(self):
        """PayPal created the batch and the connection dropped: the status
        query finds that batch and PayPal pays it once."""
        self.fake.inject_after("reset", "/v1/payments/payouts")
        payment = self._sent()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(payment.provider_reference)
        self.assertEqual(len(self.fake.batches), 1)

        payment.action_check_status()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(len(self.fake.batches), 1)
        self.assertEqual(len(self.fake.payout_requests()), 2)
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(self.fake.balances["USD"], Decimal("10000.00") - Decimal("100.25"))

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_error_after_apply_then_status_query(self):
        self.fake.inject_after("status", "/v1/payments/payouts", status=500)
        payment = self._sent()
        self.assertEqual(payment.state, "in_doubt")
        self.fake.process()
        payment.action_check_status()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(len(self.fake.batches), 1)
        self.assertEqual(payment.log_ids[-1].cause, "status_query")

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_status_query_rejected_request_fails(self):
        """The repeated request is rejected for its content, so no payout
        exists under the key: the payment fails and may get a new attempt."""
        self.fake.inject("status", path="/v1/payments/payouts", status=503)
        payment = self._sent()
        self.fake.balances["USD"] = Decimal("1.00")
        payment.action_check_status()
        self.assertEqual(payment.state, "failed")
        self.assertIn("not enough funds", payment.error_message)
        self.assertFalse(self.fake.batches)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_status_query_rate_limited_stays_in_doubt(self):
        self.fake.inject("status", path="/v1/payments/payouts", status=503)
        payment = self._sent()
        self.fake.inject(
            "status",
            path="/v1/payments/payouts",
            status=429,
            body={"name": "RATE_LIMIT_VALIDATION_FAILURES", "message": "Too many requests."},
        )
        payment.action_check_status()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(self.fake.batches)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_old_payout_in_doubt_not_repeated(self):
        """PayPal forgets keys after 30 days, so an older request is not repeated."""
        self.fake.inject("status", path="/v1/payments/payouts", status=503)
        payment = self._sent()
        payment._internal().sent_at = fields.Datetime.now() - timedelta(days=29)
        with self.assertRaisesRegex(WalletProviderUnreachable, payment.idempotency_key):
            self.paypal._get_payout_status(payment)
        self.assertEqual(len(self.fake.payout_requests()), 1)

    def test_status_query_reads_item_without_resending(self):
        payment = self._sent()
        self.fake.process()
        result = self.paypal._get_payout_status(payment)
        self.assertEqual(result["status"], "paid")
        self.assertEqual(result["fee"], 0.25)
        self.assertEqual(result["provider_reference"], payment.provider_reference)
        self.assertEqual(len(self.fake.payout_requests()), 1, "a known batch is only read")

    @mute_logger(PAYMENT_LOGGER)
    def test_insufficient_funds_rejected(self):
        self.fake.balances["USD"] = Decimal("50.00")
        payment = self._sent(amount=100.0)
        self.assertEqual(payment.state, "failed")
        self.assertIn("not enough funds", payment.error_message)
        self.assertFalse(self.fake.batches)

    def test_insufficient_funds_item_failure(self):
        self.fake.funds_check = "item"
        self.fake.balances["USD"] = Decimal("50.00")
        payment = self._sent(amount=100.0)
        self.assertEqual(payment.state, "pending")
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "failed")
        self.assertIn("not enough funds", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_invalid_payee_rejected(self):
        self.fake.invalid_receivers.add(PAYEE_EMAIL)
        payment = self._sent()
        self.assertEqual(payment.state, "failed")
        self.assertIn("invalid", payment.error_message)
        self.assertIn("items[0].receiver", payment.error_message)

    def test_locked_payee_fails_with_reason(self):
        self.fake.receiver_outcomes[PAYEE_EMAIL] = "FAILED:RECEIVER_ACCOUNT_LOCKED"
        payment = self._sent()
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "failed")
        self.assertIn("locked", payment.error_message)

    def test_spending_limit_fails_with_reason(self):
        self.fake.receiver_outcomes[PAYEE_EMAIL] = "FAILED:SPENDING_LIMIT_EXCEEDED"
        payment = self._sent()
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "failed")
        self.assertIn("sending limit", payment.error_message)

    def test_unclaimed_then_returned_fails(self):
        """An unclaimed payout stays pending; its return means nothing was paid."""
        self.fake.receiver_outcomes[PAYEE_EMAIL] = "UNCLAIMED"
        payment = self._sent()
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "pending")
        self.assertIn("no PayPal account", self._events()[0].provider_message)

        item = self.fake.item_of(payment.idempotency_key)
        self.fake.return_item(item["payout_item_id"])
        self._deliver()
        self.assertEqual(payment.state, "failed")
        self.assertIn("came back", payment.error_message)
        self.assertFalse(payment.account_payment_id)

    def test_refund_after_paid_returns(self):
        payment = self._sent()
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "paid")
        account_payment = payment.account_payment_id

        item = self.fake.item_of(payment.idempotency_key)
        self.fake.return_item(item["payout_item_id"], status="REFUNDED")
        self._deliver()
        self.assertEqual(payment.state, "returned")
        self.assertEqual(account_payment.state, "canceled")

    def test_duplicate_and_late_notifications(self):
        payment = self._sent()
        self.fake.process()
        first = self._deliver(reverse=True)  # the batch event arrives first
        self.assertEqual([r.status_code for r in first], [200, 200])
        self.assertEqual(payment.state, "paid")
        item_body = self.fake.delivered[-1][0]
        again = self.fake.redeliver(self._webhook_url(), item_body)
        self.assertEqual(again.status_code, 200)
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(len(self._events()), 2)
        self.assertEqual(len(payment.log_ids.filtered(lambda log: log.to_state == "paid")), 1)
        self.assertEqual(
            self.env["account.payment"].search_count([("wallet_payment_id", "=", payment.id)]), 1
        )

    @mute_logger(EVENT_LOGGER)
    def test_event_of_earlier_attempt_ignored(self):
        self.fake.receiver_outcomes[PAYEE_EMAIL] = "BLOCKED"
        payment = self._sent()
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "failed")
        first_key = payment.idempotency_key
        first_item = self.fake.item_of(first_key)

        self.fake.receiver_outcomes.pop(PAYEE_EMAIL)
        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.fake.return_item(first_item["payout_item_id"])  # A late event of attempt 1.
        self._deliver()
        self.assertEqual(payment.state, "pending")
        late = self._events()[-1]
        self.assertEqual((late.state, late.reference), ("unmatched", first_key))

        result = self.paypal._get_payout_status(payment)
        (second_batch,) = self.fake.batches_for(payment.idempotency_key)
        self.assertEqual(result["provider_reference"], second_batch["payout_batch_id"])
        self.assertEqual(len(self.fake.batches), 2)


@tagged("post_install", "-at_install")
class TestPayPalNotifications(PayPalCommon, HttpCase):
    def _example_headers(self):
        return self.fake.sign(
            EXAMPLE_BODY,
            webhook_id=EXAMPLE_WEBHOOK_ID,
            transmission_id=EXAMPLE_TRANSMISSION_ID,
            transmission_time=EXAMPLE_TRANSMISSION_TIME,
        )

    def test_worked_example_message(self):
        self.assertEqual(zlib.crc32(EXAMPLE_BODY) & 0xFFFFFFFF, EXAMPLE_CRC32)
        message = build_signed_message(
            EXAMPLE_TRANSMISSION_ID, EXAMPLE_TRANSMISSION_TIME, EXAMPLE_WEBHOOK_ID, EXAMPLE_BODY
        )
        self.assertEqual(message, EXAMPLE_MESSAGE)

    def test_worked_example_signature(self):
        """A local 2048-bit key signs the example message: the check passes,
        and fails once one character changes."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = key.sign(EXAMPLE_MESSAGE.encode(), padding.PKCS1v15(), hashes.SHA256())
        self.assertEqual(len(signature), 256)
        certificate = x509.load_pem_x509_certificate(make_certificate(key))
        self.assertTrue(signature_matches(certificate, signature, EXAMPLE_MESSAGE))
        altered = EXAMPLE_MESSAGE.replace("1165254169", "1165254168")
        self.assertFalse(signature_matches(certificate, signature, altered))

    def test_worked_example_verified_offline(self):
        self.paypal.paypal_webhook_id = EXAMPLE_WEBHOOK_ID
        headers = self._example_headers()
        self.assertTrue(self.paypal._verify_notification(EXAMPLE_BODY, headers))
        tampered = EXAMPLE_BODY.replace(b"25.50", b"25.51")
        self.assertFalse(self.paypal._verify_notification(tampered, headers))

    @mute_logger(EVENT_LOGGER)
    def test_worked_example_over_http(self):
        self.paypal.paypal_webhook_id = EXAMPLE_WEBHOOK_ID
        response = self._post(EXAMPLE_BODY, self._example_headers())
        self.assertEqual(response.status_code, 200)
        event = self._events()
        self.assertTrue(event.signature_valid)
        self.assertEqual(event.event_id, "WH-TEST-0001")
        self.assertEqual((event.reference, event.state), ("PO00042", "unmatched"))
        self.assertEqual((event.amount, event.currency), (25.5, "USD"))

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER, PAYPAL_LOGGER)
    def test_forged_signatures_rejected(self):
        payment = self._sent()
        self.fake.process()
        body = self.fake.outbox[0]
        attacker = FakePayPal().start()
        self.addCleanup(attacker.stop)
        attacker.webhook_id = self.fake.webhook_id
        good = self.fake.sign(body)
        other_key = dict(attacker.sign(body), **{"PAYPAL-CERT-URL": self.fake.certificate_url})
        cases = {
            "signed by another key": other_key,
            "certificate on another host": attacker.sign(body),
            "other webhook id": self.fake.sign(body, webhook_id="9ZZ99999ZZ999999Z"),
            "other transmission time": dict(
                good, **{"PAYPAL-TRANSMISSION-TIME": "2026-01-15T10:20:31Z"}
            ),
            "other algorithm": dict(good, **{"PAYPAL-AUTH-ALGO": "SHA1withRSA"}),
            "signature not base64": dict(good, **{"PAYPAL-TRANSMISSION-SIG": "not base64!"}),
            "certificate URL on PayPal over HTTP": dict(
                good, **{"PAYPAL-CERT-URL": "http://api.paypal.com/v1/notifications/certs/CERT-1"}
            ),
            "no signature": {k: v for k, v in good.items() if k != "PAYPAL-TRANSMISSION-SIG"},
            "no certificate URL": {k: v for k, v in good.items() if k != "PAYPAL-CERT-URL"},
            "no headers": {"Content-Type": "application/json"},
        }
        for case, headers in cases.items():
            with self.subTest(case=case):
                self.assertEqual(self._post(body, headers).status_code, 403)
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(set(self._events().mapped("state")), {"rejected"})
        self.assertEqual(self._post(body, good).status_code, 200)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER, PAYPAL_LOGGER)
    def test_no_webhook_id_rejects(self):
        self.paypal.paypal_webhook_id = False
        body = EXAMPLE_BODY
        self.assertEqual(self._post(body, self._example_headers()).status_code, 403)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_notifications_rejected(self):
        event = json.loads(EXAMPLE_BODY)
        no_item = dict(event, resource={"payout_batch_id": "B1", "transaction_status": "SUCCESS"})
        bad_amount = json.loads(EXAMPLE_BODY)
        bad_amount["resource"]["payout_item"]["amount"] = "25.50"
        batch_without_id = dict(
            event, event_type="PAYMENT.PAYOUTSBATCH.SUCCESS", resource={"batch_header": {}}
        )
        bodies = [
            b"{not json",
            b"[]",
            b"\xff\xfe",
            json.dumps({"event_type": "PAYMENT.PAYOUTS-ITEM.SUCCEEDED"}).encode(),
            json.dumps(dict(event, resource=None)).encode(),
            json.dumps(no_item).encode(),
            json.dumps(bad_amount).encode(),
            json.dumps(batch_without_id).encode(),
        ]
        for body in bodies:
            with self.subTest(body=body):
                self.assertEqual(self._post(body, self.fake.sign(body)).status_code, 400)

    @mute_logger(EVENT_LOGGER)
    def test_other_event_types_acknowledged(self):
        body = json.dumps(
            {
                "id": "WH-OTHER-1",
                "event_type": "CHECKOUT.ORDER.COMPLETED",
                "resource": {"id": "5O190127TN364715T"},
            }
        ).encode()
        response = self._post(body, self.fake.sign(body))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._events().state, "unmatched")

    def test_register_webhook(self):
        self.paypal.with_user(self.manager).action_paypal_register_webhook()
        self.assertEqual(self.paypal.paypal_webhook_id, self.fake.webhook_id)
        (subscription,) = self.fake.webhooks.values()
        self.assertEqual(subscription["url"], self.paypal.webhook_url)
        names = [event_type["name"] for event_type in subscription["event_types"]]
        self.assertIn("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", names)
        self.assertIn("PAYMENT.PAYOUTS-ITEM.RETURNED", names)

        payment = self._sent()
        self.fake.process()
        self._deliver()
        self.assertEqual(payment.state, "paid")

    def test_status_mapping(self):
        pending = self._sent()
        paid = self._sent(amount=50.0)
        paid._apply_provider_status("paid", "status_query")
        expected = {
            "SUCCESS": ("paid", "paid"),
            "PENDING": ("pending", "pending"),
            "ONHOLD": ("pending", "pending"),
            "UNCLAIMED": ("pending", "pending"),
            "FAILED": ("failed", "failed"),
            "BLOCKED": ("failed", "failed"),
            "RETURNED": ("failed", "returned"),
            "REFUNDED": ("failed", "returned"),
            "REVERSED": ("failed", "returned"),
            "CANCELED": ("failed", "returned"),
        }
        for status, (for_pending, for_paid) in expected.items():
            with self.subTest(status=status):
                self.assertEqual(self.paypal._paypal_map_item_status(status, pending), for_pending)
                self.assertEqual(self.paypal._paypal_map_item_status(status, paid), for_paid)


@tagged("post_install", "-at_install")
class TestPayPalAccount(PayPalCommon, HttpCase):
    def _stored_token(self):
        self.paypal.invalidate_recordset()
        return self.paypal._get_secret("paypal_access_token")

    def test_token_cached_encrypted(self):
        self._sent()
        self._sent(amount=20.0)
        self.assertEqual(len(self.fake.token_requests()), 1)
        token = self._stored_token()
        self.assertIn(token, self.fake.tokens)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT paypal_access_token_encrypted FROM wallet_provider WHERE id = %s",
            [self.paypal.id],
        )
        self.assertNotIn(token, self.env.cr.fetchone()[0])
        with self.assertRaises(AccessError):
            self.paypal.with_user(self.manager).read(["paypal_access_token_encrypted"])
        self.assertFalse(self.paypal.with_user(self.manager).paypal_client_secret)
        self.assertTrue(self.paypal.with_user(self.manager).paypal_client_secret_set)

    def test_token_renewed_before_expiry(self):
        self._sent()
        old_token = self._stored_token()
        self.paypal.sudo().paypal_access_token_expiry = fields.Datetime.now() + timedelta(minutes=2)
        self._sent(amount=20.0)
        self.assertEqual(len(self.fake.token_requests()), 2)
        new_token = self._stored_token()
        self.assertNotEqual(new_token, old_token)
        second = self.fake.payout_requests()[1]
        self.assertEqual(second.headers["Authorization"], f"Bearer {new_token}")

    def test_expired_token_renewed_once(self):
        self._sent()
        self.fake.expire_tokens()
        payment = self._sent(amount=20.0)
        self.assertEqual(payment.state, "pending")
        self.assertEqual(len(self.fake.token_requests()), 2)
        self.assertEqual(len(self.fake.payout_requests()), 3, "one rejected with 401, then resent")
        self.assertEqual(len(self.fake.batches_for(payment.idempotency_key)), 1)

    @mute_logger(PAYMENT_LOGGER)
    def test_revoked_credentials_fail_clearly(self):
        self._sent()
        self.fake.client_secret = "rotated-in-the-dashboard"
        self.fake.expire_tokens()
        payment = self._sent(amount=20.0)
        self.assertEqual(payment.state, "failed")
        self.assertIn("client ID or secret", payment.error_message)
        self.assertFalse(self.fake.batches_for(payment.idempotency_key))

    def test_missing_secret_fails_clearly(self):
        self.paypal.sudo().paypal_client_secret_encrypted = False
        with mute_logger(PAYMENT_LOGGER):
            payment = self._sent()
        self.assertEqual(payment.state, "failed")
        self.assertIn("client ID and secret", payment.error_message)
        self.assertFalse(self.fake.requests)

    def test_credentials_change_drops_token(self):
        self._sent()
        self.assertTrue(self._stored_token())
        self.paypal.paypal_client_id = self.fake.client_id
        self.assertFalse(self._stored_token())

    def test_secrets_never_logged(self):
        with self.assertLogs("odoo.addons.purchase_wallet_payment", level="DEBUG") as logs:
            self._sent()
            self.paypal._get_balance()
        output = "\n".join(logs.output)
        self.assertIn("/v1/payments/payouts", output)
        self.assertNotIn(self.fake.client_secret, output)
        for token in self.fake.tokens:
            self.assertNotIn(token, output)

    def test_balance_query(self):
        self.assertEqual(self.paypal._get_balance(), 10000.0)
        self._sent(amount=100.0)
        self.assertEqual(self.paypal._get_balance(), 9899.75)
        request = self.fake.requests_to("/v1/reporting/balances")[0]
        self.assertEqual(request.query, {"currency_code": "USD"})

    def test_balance_errors(self):
        self.fake.token_scopes.remove("https://uri.paypal.com/services/reporting/balances/read")
        with self.assertRaisesRegex(WalletProviderError, "balance reading"):
            self.paypal._get_balance()
        self.fake.token_scopes.append("https://uri.paypal.com/services/reporting/balances/read")
        self.fake.balances = {"EUR": Decimal("5.00")}
        with self.assertRaisesRegex(WalletProviderError, "no balance in USD"):
            self.paypal._get_balance()

    @mute_logger(PROVIDER_LOGGER)
    def test_status_query_failure_is_unreachable(self):
        payment = self._sent()
        batch_path = f"/v1/payments/payouts/{payment.provider_reference}"
        self.fake.inject("status", path=batch_path, status=502)
        with self.assertRaises(WalletProviderUnreachable):
            self.paypal._get_payout_status(payment)
        self.fake.client_secret = "rotated"
        self.fake.expire_tokens()
        with self.assertRaisesRegex(WalletProviderUnreachable, "client ID or secret"):
            self.paypal._get_payout_status(payment)

    def test_payee_identifiers(self):
        for identifier in (PAYEE_EMAIL, "a.b+c@x.co", "ABCD1234EFGH5"):
            with self.subTest(identifier=identifier):
                self.assertTrue(self.paypal._check_payee_identifier(identifier))
        too_long = "x" * 122 + "@a.com"
        invalid = ("not-an-email", "abc@", "a@b", "ABCD1234EFGH", "abcd1234efgh5", too_long, "")
        for identifier in invalid:
            with self.subTest(identifier=identifier):
                with self.assertRaises(UserError):
                    self.paypal._check_payee_identifier(identifier)

    def test_paypal_id_payee_paid(self):
        vendor = self.env["res.partner"].create(
            {
                "name": "Contoso by PayPal ID",
                "wallet_payee_account_ids": [
                    Command.create({"provider_type": "paypal", "identifier": "ABCD1234EFGH5"})
                ],
            }
        )
        payment = self._sent(vendor=vendor)
        self.assertEqual(payment.state, "pending")
        (item,) = self.fake.payout_requests()[0].json()["items"]
        self.assertEqual((item["receiver"], item["recipient_type"]), ("ABCD1234EFGH5", "PAYPAL_ID"))

    def test_invalid_identifier_blocks_submit(self):
        vendor = self.env["res.partner"].create(
            {
                "name": "Typo Ltd",
                "wallet_payee_account_ids": [
                    Command.create({"provider_type": "paypal", "identifier": "typo.example.com"})
                ],
            }
        )
        payment = self._make_payment(vendor=vendor, provider=self.paypal)
        with self.assertRaisesRegex(UserError, "not a PayPal payee"):
            payment.with_user(self.buyer).action_submit()

    def test_payee_kinds_and_limits(self):
        kinds = {"company", "sole_trader", "self_employed", "individual"}
        self.assertEqual(self.paypal._get_supported_payee_kinds(), kinds)
        self.assertEqual(self.paypal._get_rail_limits(), {})
        account = self.vendor_paypal.wallet_payee_account_ids
        for kind in kinds:
            account.payee_kind = kind
            self.paypal._check_payee(account)

    def test_base_url_follows_state(self):
        self.paypal.api_base_url = False
        self.assertEqual(self.paypal._paypal_get_base_url(), PAYPAL_TEST_URL)
        self.paypal.state = "enabled"
        self.assertEqual(self.paypal._paypal_get_base_url(), PAYPAL_LIVE_URL)

