from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import WalletPaymentCommon

LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"


@tagged("post_install", "-at_install")
class TestDispatch(WalletPaymentCommon):
    def _approved(self, vendor=None, amount=100.0):
        payment = self._make_payment(amount=amount, vendor=vendor)
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "approved")
        return payment

    def _ledger(self, payment):
        return self.env["wallet.demo.payout"].search([("reference", "=", payment.name)])

    def test_send_stores_key_before_call(self):
        payment = self._approved()
        payment.with_user(self.buyer).action_send()
        self.assertEqual(payment.state, "pending")
        self.assertTrue(payment.idempotency_key)
        self.assertTrue(payment.provider_reference.startswith("DEMO-"))
        self.assertEqual(payment.attempt_ids.idempotency_key, payment.idempotency_key)
        ledger = self._ledger(payment)
        self.assertEqual(len(ledger), 1)
        self.assertEqual(ledger.idempotency_key, payment.idempotency_key)
        states = payment.log_ids.mapped("to_state")
        self.assertEqual(states[-2:], ["sending", "pending"])

    def test_second_dispatch_sends_nothing(self):
        payment = self._approved()
        payment._dispatch()
        payment._dispatch()
        self.env["wallet.payment"]._cron_dispatch()
        self.assertEqual(len(self._ledger(payment)), 1)
        self.assertEqual(len(payment.attempt_ids), 1)

    def test_cron_sends_approved_only(self):
        approved = self._approved()
        draft = self._make_payment(amount=20.0)
        waiting = self._make_payment(amount=2000.0)
        waiting.with_user(self.buyer).action_submit()
        self.env["wallet.payment"]._cron_dispatch()
        approved.invalidate_recordset()
        self.assertEqual(approved.state, "pending")
        self.assertEqual(draft.state, "draft")
        self.assertEqual(waiting.state, "to_approve")

    @mute_logger(LOGGER)
    def test_refusal_fails_payment(self):
        payment = self._approved(vendor=self.vendor_rejected)
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("blocked", payment.error_message)
        self.assertFalse(self._ledger(payment))
        self.assertTrue(payment.activity_ids)

    @mute_logger(LOGGER)
    def test_lost_answer_leaves_payment_in_doubt(self):
        payment = self._approved(vendor=self.vendor_timeout)
        payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertEqual(len(self._ledger(payment)), 1)

    @mute_logger(LOGGER)
    def test_in_doubt_resolved_by_status_query(self):
        payment = self._approved(vendor=self.vendor_timeout)
        payment._dispatch()
        payment.action_check_status()
        self.assertEqual(payment.state, "pending")
        self.assertTrue(payment.provider_reference)
        self.assertEqual(payment.log_ids[-1].cause, "status_query")
        self.assertEqual(len(self._ledger(payment)), 1, "a status query never sends again")

    @mute_logger(LOGGER)
    def test_unexpected_error_leaves_in_doubt(self):
        payment = self._approved(vendor=self._create_vendor("Crashing Co", "DW-crash-1"))
        payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertIn("Unexpected error", payment.error_message)

    @mute_logger(LOGGER)
    def test_unknown_payout_fails_after_grace(self):
        payment = self._approved(vendor=self._create_vendor("Lost Co", "DW-lost-1"))
        payment._dispatch()
        self.assertFalse(self._ledger(payment))
        payment.action_check_status()
        self.assertEqual(payment.state, "in_doubt", "too early to call it failed")
        payment._internal().sent_at = fields.Datetime.now() - timedelta(hours=1)
        payment.action_check_status()
        self.assertEqual(payment.state, "failed")

    @mute_logger(LOGGER)
    def test_retry_uses_new_key(self):
        payment = self._approved(vendor=self.vendor_rejected)
        payment._dispatch()
        first_key = payment.idempotency_key
        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertEqual(len(payment.attempt_ids), 2)
        self.assertNotEqual(payment.idempotency_key, first_key)

    def test_daily_limit_keeps_payment_approved(self):
        self.provider.max_amount_per_day = 150.0
        first = self._approved(amount=100.0)
        second = self._approved(amount=100.0)
        (first | second)._dispatch()
        self.assertEqual(first.state, "pending")
        self.assertEqual(second.state, "approved")
        self.assertIn("daily limit", second.message_ids[0].body)

    def test_insufficient_funds_fails(self):
        self.provider.demo_balance = 50.0
        payment = self._approved(amount=100.0)
        with mute_logger(LOGGER):
            payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("funds", payment.error_message)

    def test_send_needs_wallet_user(self):
        payment = self._approved()
        stranger = self.stock_user
        with self.assertRaises(AccessError):
            payment.with_user(stranger).action_send()
        self.assertEqual(payment.state, "approved")
