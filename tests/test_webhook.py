import json

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..const import SIGNATURE_HEADER
from .common import WEBHOOK_SECRET, WalletPaymentCommon

CONTROLLER_LOGGER = "odoo.addons.purchase_wallet_payment.controllers.main"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"


@tagged("post_install", "-at_install")
class TestWebhook(WalletPaymentCommon, HttpCase):
    def setUp(self):
        super().setUp()
        self.payment = self._make_payment(amount=120.0)
        self.payment.with_user(self.buyer).action_submit()
        self.payment._dispatch()
        self.assertEqual(self.payment.state, "pending")

    def _post(self, body, headers=None, provider=None):
        provider = provider or self.provider
        if headers is None:
            headers = self._signed_headers(body)
        return self.url_open(f"/wallet/webhook/{provider.id}", data=body, headers=headers)

    def _events(self):
        return self.env["wallet.event"].search([("provider_id", "=", self.provider.id)])

    def _state(self):
        self.payment.invalidate_recordset()
        return self.payment.state

    def test_valid_notification_pays(self):
        response = self._post(self._notification_body(self.payment, "paid"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(), "paid")
        event = self._events()
        self.assertEqual(event.state, "processed")
        self.assertTrue(event.signature_valid)
        self.assertEqual(event.payment_id, self.payment)
        log = self.payment.log_ids[-1]
        self.assertEqual((log.cause, log.event_id), ("event", event))
        self.assertTrue(self.payment.account_payment_id)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_forged_signature_rejected(self):
        body = self._notification_body(self.payment, "paid")
        response = self._post(body, headers=self._signed_headers(body, secret="not-the-secret"))
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self._state(), "pending")
        event = self._events()
        self.assertEqual(event.state, "rejected")
        self.assertFalse(event.signature_valid)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_signature_of_other_body_rejected(self):
        body = self._notification_body(self.payment, "paid")
        headers = self._signed_headers(self._notification_body(self.payment, "failed"))
        self.assertEqual(self._post(body, headers=headers).status_code, 403)
        self.assertEqual(self._state(), "pending")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_missing_signature_rejected(self):
        body = self._notification_body(self.payment, "paid")
        response = self._post(body, headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self._state(), "pending")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_signature_header_rejected(self):
        body = self._notification_body(self.payment, "paid")
        for value in ("", "sha256=", "md5=abc", "sha256=zz", "sha256=" + "0" * 64):
            with self.subTest(header=value):
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: value}
                self.assertEqual(self._post(body, headers=headers).status_code, 403)
        self.assertEqual(self._state(), "pending")

    def test_uppercase_hex_signature_accepted(self):
        body = self._notification_body(self.payment, "paid")
        headers = self._signed_headers(body)
        headers[SIGNATURE_HEADER] = headers[SIGNATURE_HEADER].upper().replace("SHA256=", "sha256=")
        self.assertEqual(self._post(body, headers=headers).status_code, 200)
        self.assertEqual(self._state(), "paid")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_json_rejected(self):
        for body in (b"{not json", b"[]", b'"text"', b"{}", b'{"event_id": "e1"}', b"\xff\xfe"):
            with self.subTest(body=body):
                response = self._post(body)
                self.assertEqual(response.status_code, 400)
        self.assertEqual(self._state(), "pending")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_unknown_status_rejected(self):
        body = self._notification_body(self.payment, "teleported")
        self.assertEqual(self._post(body).status_code, 400)
        self.assertEqual(self._state(), "pending")

    @mute_logger(CONTROLLER_LOGGER)
    def test_wrong_content_type_rejected(self):
        body = self._notification_body(self.payment, "paid")
        headers = self._signed_headers(body)
        headers["Content-Type"] = "text/plain"
        response = self._post(body, headers=headers)
        self.assertEqual(response.status_code, 415)
        self.assertEqual(self._state(), "pending")

    @mute_logger(CONTROLLER_LOGGER)
    def test_unknown_provider_not_found(self):
        body = self._notification_body(self.payment, "paid")
        response = self.url_open("/wallet/webhook/987654", data=body, headers=self._signed_headers(body))
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self._state(), "pending")

    def test_get_not_allowed(self):
        response = self.url_open(f"/wallet/webhook/{self.provider.id}")
        self.assertEqual(response.status_code, 405)

    @mute_logger(EVENT_LOGGER)
    def test_unknown_reference_acknowledged(self):
        body = self._notification_body(
            self.payment, "paid", reference="WPAY/0000/99999", payout_id="DEMO-UNKNOWN"
        )
        response = self._post(body)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(), "pending")
        self.assertEqual(self._events().state, "unmatched")

    def test_same_event_twice_applies_once(self):
        body = self._notification_body(self.payment, "paid", event_id="evt-dup-1")
        first = self._post(body)
        second = self._post(body)
        self.assertEqual(first.status_code, 200)
        self.assertEqual(second.status_code, 200)
        self.assertEqual(json.loads(second.content)["status"], "duplicate")
        self.assertEqual(len(self._events()), 1)
        self.assertEqual(self.payment.log_ids.filtered(lambda l: l.to_state == "paid").mapped("cause"), ["event"])
        self.assertEqual(self.env["account.payment"].search_count([("wallet_payment_id", "=", self.payment.id)]), 1)

    def test_late_pending_after_paid_ignored(self):
        self._post(self._notification_body(self.payment, "paid", event_id="evt-2"))
        self._post(self._notification_body(self.payment, "pending", event_id="evt-1"))
        self.assertEqual(self._state(), "paid")
        late = self._events().filtered(lambda e: e.event_id == "evt-1")
        self.assertEqual(late.state, "ignored")

    def test_failure_after_paid_ignored(self):
        self._post(self._notification_body(self.payment, "paid"))
        self._post(self._notification_body(self.payment, "failed"))
        self.assertEqual(self._state(), "paid")

    def test_failed_notification_fails_payment(self):
        body = self._notification_body(self.payment, "failed", message="Payee wallet closed")
        self._post(body)
        self.assertEqual(self._state(), "failed")
        self.assertEqual(self.payment.error_message, "Payee wallet closed")
        self.assertTrue(self.payment.activity_ids)

    @mute_logger(EVENT_LOGGER)
    def test_amount_mismatch_changes_nothing(self):
        body = self._notification_body(self.payment, "paid", amount="999.00")
        self.assertEqual(self._post(body).status_code, 200)
        self.assertEqual(self._state(), "pending")
        self.assertEqual(self._events().state, "error")

    @mute_logger(EVENT_LOGGER)
    def test_currency_mismatch_changes_nothing(self):
        body = self._notification_body(self.payment, "paid", currency="XAU")
        self._post(body)
        self.assertEqual(self._state(), "pending")

    def test_event_payload_redacts_secrets(self):
        body = self._notification_body(self.payment, "paid", token="tok-should-not-be-stored")
        self._post(body)
        payload = self._events().payload
        self.assertNotIn("tok-should-not-be-stored", payload)
        self.assertIn("***", payload)
        self.assertNotIn(WEBHOOK_SECRET, payload)

    def test_demo_wallet_notifies_over_http(self):
        """The demo wallet's own scheduled notification pays the payment."""
        self.env["wallet.demo.payout"]._cron_send_notifications()
        self.assertEqual(self._state(), "paid")
        ledger = self.env["wallet.demo.payout"].search([("reference", "=", self.payment.name)])
        self.assertTrue(ledger.notified)
        self.assertEqual(ledger.status, "paid")
        self.assertEqual(self._events().state, "processed")

    def test_demo_failure_notified_over_http(self):
        payment = self._make_payment(amount=80.0, vendor=self.vendor_failing)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        self.env["wallet.demo.payout"]._cron_send_notifications()
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "failed")
        self.assertTrue(payment.activity_ids)

    @mute_logger(CONTROLLER_LOGGER)
    def test_oversized_body_rejected(self):
        body = b'{"padding": "' + b"x" * (1024 * 1024) + b'"}'
        response = self._post(body)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(self._state(), "pending")

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_nul_characters_rejected(self):
        """PostgreSQL text cannot hold NUL: such bodies get a 4xx, never a 500."""
        self.assertEqual(self._post(b"\x00", headers={"Content-Type": "application/json"}).status_code, 403)
        self.assertEqual(self._post(b"\x00").status_code, 400)
        body = self._notification_body(self.payment, "paid", reference="WPAY\u0000")
        self.assertEqual(self._post(body).status_code, 400)
        self.assertEqual(self._state(), "pending")
        self.assertTrue(all("\x00" not in event.payload for event in self._events()))
