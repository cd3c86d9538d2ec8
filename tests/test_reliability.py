"""Crash and race scenarios, asserted from the provider's side: the demo
wallet's ledger keeps one row per idempotency key."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import WalletPaymentCommon

PAYMENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"


class SimulatedCrash(Exception):
    """A worker that dies in the middle of a step."""


@tagged("post_install", "-at_install")
class TestCrashRecovery(WalletPaymentCommon):
    def _approved(self, vendor=None, amount=100.0):
        payment = self._make_payment(amount=amount, vendor=vendor)
        payment.with_user(self.buyer).action_submit()
        return payment

    def _ledger(self, payment):
        return self.env["wallet.demo.payout"].search([("reference", "=", payment.name)])

    def _age(self, payment, minutes):
        """Make the payment look ``minutes`` older, as time passing would."""
        self.env.flush_all()
        past = fields.Datetime.now() - timedelta(minutes=minutes)
        self.env.cr.execute(
            "UPDATE wallet_payment SET write_date = %s, sent_at = %s WHERE id = %s",
            [past, past, payment.id],
        )
        self.env.invalidate_all()

    def _recover(self):
        self.env["wallet.payment"]._cron_resolve_status()
        self.env.invalidate_all()

    @mute_logger(PAYMENT_LOGGER)
    def test_crash_after_claim_before_call(self):
        """Key committed, no call made: in doubt, then failed after the grace
        period, then a new attempt pays once."""
        payment = self._approved()
        self.assertTrue(self.env["wallet.payment"]._claim_for_sending(payment.id))
        self.env.invalidate_all()
        self.assertEqual(payment.state, "sending")

        self._recover()
        self.assertEqual(payment.state, "sending", "too early: the worker may be alive")
        self._age(payment, 6)
        self._recover()
        self.assertEqual(payment.state, "in_doubt")
        self._age(payment, 20)
        self._recover()
        self.assertEqual(payment.state, "failed")
        self.assertFalse(self._ledger(payment))

        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(len(self._ledger(payment)), 1)
        self.assertEqual(len(payment.attempt_ids), 2)

    @mute_logger(PAYMENT_LOGGER)
    def test_crash_after_call_before_storing(self):
        """The provider paid, the worker died: the status query finds the
        payout and no second one is sent."""
        payment = self._approved()
        model = self.env["wallet.payment"]
        model._claim_for_sending(payment.id)
        model._call_send_payout(payment.id)  # the answer is never stored
        self._age(payment, 6)
        self._recover()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(len(self._ledger(payment)), 1)
        model._cron_dispatch()
        self.assertEqual(len(self._ledger(payment)), 1)

    @mute_logger(PAYMENT_LOGGER)
    def test_crash_inside_storing_step(self):
        payment = self._approved()
        model = self.env["wallet.payment"]
        model._claim_for_sending(payment.id)
        result = model._call_send_payout(payment.id)
        with self.assertRaises(SimulatedCrash):
            with self.env.registry.cursor() as cr:
                payment.with_env(self.env(cr=cr))._apply_provider_result(result, "dispatch")
                raise SimulatedCrash()
        self.env.invalidate_all()
        self.assertEqual(payment.state, "sending", "the step was rolled back")
        self._age(payment, 6)
        self._recover()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(len(self._ledger(payment)), 1)

    @mute_logger(PAYMENT_LOGGER)
    def test_crash_inside_claim_step(self):
        payment = self._approved()
        with self.assertRaises(SimulatedCrash):
            with self.env.registry.cursor() as cr:
                payment.with_env(self.env(cr=cr))._set_state("sending", "dispatch", "claim")
                raise SimulatedCrash()
        self.env.invalidate_all()
        self.assertEqual(payment.state, "approved")
        payment._dispatch()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(len(self._ledger(payment)), 1)

    @mute_logger(PAYMENT_LOGGER, EVENT_LOGGER)
    def test_crash_during_webhook_redelivered(self):
        payment = self._approved()
        payment._dispatch()
        body = self._notification_body(payment, "paid", event_id="evt-crash-1")
        with self.assertRaises(SimulatedCrash):
            with self.env.registry.cursor() as cr:
                events = self.env(cr=cr, su=True)["wallet.event"]
                events._receive_notification(self.provider, body, self._signed_headers(body))
                raise SimulatedCrash()
        self.env.invalidate_all()
        self.assertEqual(payment.state, "pending")
        self.assertFalse(self.env["wallet.event"].search([("event_id", "=", "evt-crash-1")]))

        events = self.env["wallet.event"].sudo()
        self.assertEqual(events._receive_notification(self.provider, body, self._signed_headers(body))[0], 200)
        self.assertEqual(events._receive_notification(self.provider, body, self._signed_headers(body))[1], "duplicate")
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(self.env["account.payment"].search_count([("wallet_payment_id", "=", payment.id)]), 1)

    @mute_logger(EVENT_LOGGER)
    def test_event_before_reference_is_stored(self):
        """A notification that names only the provider's payout id, arriving
        before the dispatcher stored that id, is applied once it is stored."""
        payment = self._approved()
        model = self.env["wallet.payment"]
        model._claim_for_sending(payment.id)
        result = model._call_send_payout(payment.id)
        reference = result["provider_reference"]
        body = self._notification_body(payment, "paid", reference="", payout_id=reference)
        body = body.replace(b'"reference": ""', b'"reference": "' + reference.encode() + b'"')
        events = self.env["wallet.event"].sudo()
        events._receive_notification(self.provider, body, self._signed_headers(body))
        event = events.search([("provider_reference", "=", reference)])
        self.assertEqual(event.state, "unmatched")

        model._store_dispatch_outcome(payment.id, result)
        self.env.invalidate_all()
        self.assertEqual(event.state, "processed")
        self.assertEqual(payment.state, "paid")

    def test_unmatched_event_matched_by_cron(self):
        payment = self._approved()
        payment._dispatch()
        body = self._notification_body(payment, "paid", reference="LATE-REF", payout_id="LATE-ID")
        events = self.env["wallet.event"].sudo()
        with mute_logger(EVENT_LOGGER):
            events._receive_notification(self.provider, body, self._signed_headers(body))
        event = events.search([("provider_reference", "=", "LATE-ID")])
        self.assertEqual(event.state, "unmatched")
        payment._internal().sudo().write({"provider_reference": "LATE-ID"})
        events._cron_match_unmatched()
        self.env.invalidate_all()
        self.assertEqual(payment.state, "paid")

    def test_pending_polled_after_delay(self):
        self.company.wallet_poll_after_minutes = 30
        payment = self._approved(vendor=self._create_vendor("Patient Co", "DW-slow-9"))
        payment._dispatch()
        self._age(payment, 10)
        self.assertNotIn(payment, self.env["wallet.payment"]._get_payments_to_poll(100))
        self._age(payment, 31)
        self.assertIn(payment, self.env["wallet.payment"]._get_payments_to_poll(100))

    @mute_logger(PAYMENT_LOGGER)
    def test_long_doubt_alerts_buyer_once(self):
        payment = self._approved(vendor=self.vendor_timeout)
        payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self._age(payment, 61)
        model = self.env["wallet.payment"]
        model._notify_overdue()
        model._notify_overdue()
        activities = payment.activity_ids.filtered(lambda a: "in doubt" in (a.summary or ""))
        self.assertEqual(len(activities), 1)

    def test_returned_payout_reopens_order(self):
        order = self._create_order(lines=[(self.product_ssd, 4, 50.0)])
        self._receive(order)
        bill = self._create_bill(order)
        payment = self._payments(order)
        payment._dispatch()
        payment._apply_provider_status("paid", "status_query")
        self.assertIn(bill.payment_state, ("paid", "in_payment"))

        payment._apply_provider_status("returned", "status_query", message="Payee wallet closed")
        self.assertEqual(payment.state, "returned")
        bill.invalidate_recordset()
        self.assertEqual(bill.payment_state, "not_paid")
        order.invalidate_recordset()
        self.assertEqual(order.wallet_payment_state, "not_paid")
        self.assertTrue(any("came back" in (m.body or "") for m in order.message_ids))
        again = order.with_user(self.buyer).action_wallet_pay()
        self.assertEqual(self.env["wallet.payment"].browse(again["res_id"]).amount, 200.0)

    def test_suspended_provider_holds_payments(self):
        payment = self._approved()
        self.provider.action_suspend()
        payment._dispatch()
        self.assertEqual(payment.state, "approved")
        self.assertFalse(self._ledger(payment))
        self.assertIn(self.vendor, self.provider._get_stranded_vendors())
        with self.assertRaises(UserError):
            self._make_payment(amount=5.0).with_user(self.buyer).action_submit()
        self.provider.action_resume()
        payment._dispatch()
        self.assertEqual(payment.state, "pending")

    def test_sunset_provider_stays_in_test_mode(self):
        self.provider.health_state = "sunset"
        with self.assertRaises(ValidationError):
            self.provider.state = "enabled"


@tagged("post_install", "-at_install")
class TestEventOrder(WalletPaymentCommon, HttpCase):
    """Notifications over HTTP in every order, checked against the ledger."""

    def _post(self, body):
        return self.url_open(
            f"/wallet/webhook/{self.provider.id}", data=body, headers=self._signed_headers(body)
        )

    def test_all_orders_of_three_events(self):
        from itertools import permutations

        for order in permutations(["pending", "paid", "failed"]):
            with self.subTest(order=order):
                payment = self._make_payment(amount=30.0)
                payment.with_user(self.buyer).action_submit()
                payment._dispatch()
                for status in order:
                    self.assertEqual(self._post(self._notification_body(payment, status)).status_code, 200)
                payment.invalidate_recordset()
                first_final = next(status for status in order if status in ("paid", "failed"))
                self.assertEqual(payment.state, first_final)
                paid_logs = payment.log_ids.filtered(lambda log: log.to_state in ("paid", "failed"))
                self.assertEqual(len(paid_logs), 1)
