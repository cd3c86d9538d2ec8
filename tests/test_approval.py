from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestApproval(WalletPaymentCommon):
    def test_below_threshold_approves_itself(self):
        payment = self._make_payment(amount=999.99)
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "approved")
        self.assertEqual(payment.log_ids[-1].cause, "rule")

    def test_at_threshold_needs_approval(self):
        payment = self._make_payment(amount=1000.0)
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "to_approve")

    def test_threshold_in_company_currency(self):
        other = self.setup_other_currency("EUR", rates=[("2000-01-01", 2.0)])
        self.wallet_journal.currency_id = other
        self.provider.currency_id = other
        payment = self._make_payment(amount=1500.0)  # 750 in company currency
        payment.currency_id = other
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "approved")

    def test_approver_approves(self):
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        payment.with_user(self.approver).action_approve()
        self.assertEqual(payment.state, "approved")
        self.assertEqual(payment.approval_ids.user_id, self.approver)
        log = payment.log_ids[-1]
        self.assertEqual((log.cause, log.user_id), ("user", self.approver))

    def test_requester_cannot_approve(self):
        payment = self._make_payment(amount=5000.0, user=self.approver)
        payment.with_user(self.approver).action_submit()
        with self.assertRaises(UserError):
            payment.with_user(self.approver).action_approve()
        self.assertEqual(payment.state, "to_approve")
        self.assertFalse(payment.approval_ids)

    def test_plain_user_cannot_approve(self):
        payment = self._make_payment(amount=5000.0, user=self.approver)
        payment.with_user(self.approver).action_submit()
        with self.assertRaises(AccessError):
            payment.with_user(self.buyer).action_approve()
        self.assertEqual(payment.state, "to_approve")

    def test_two_distinct_approvals(self):
        self.company.wallet_approvals_required = 2
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        payment.with_user(self.approver).action_approve()
        self.assertEqual(payment.state, "to_approve")
        with self.assertRaises(UserError):
            payment.with_user(self.approver).action_approve()
        payment.with_user(self.approver_2).action_approve()
        self.assertEqual(payment.state, "approved")
        self.assertEqual(len(payment.approval_ids), 2)

    def test_approve_only_waiting_payments(self):
        payment = self._make_payment(amount=10.0)
        with self.assertRaises(UserError):
            payment.with_user(self.approver).action_approve()

    def test_reject_keeps_reason(self):
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        wizard = (
            self.env["wallet.payment.reject"]
            .with_user(self.approver)
            .with_context(active_ids=payment.ids)
            .create({"reason": "Vendor bank details unverified"})
        )
        wizard.action_reject()
        self.assertEqual(payment.state, "draft")
        self.assertEqual(payment.rejection_reason, "Vendor bank details unverified")
        self.assertIn("unverified", payment.log_ids[-1].message)

    def test_reject_needs_reason(self):
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        with self.assertRaises(UserError):
            payment.with_user(self.approver).action_reject("  ")
        self.assertEqual(payment.state, "to_approve")

    def test_buyer_cannot_reject(self):
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        with self.assertRaises(AccessError):
            payment.with_user(self.buyer).action_reject("no")

    def test_amount_change_resets_approval(self):
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        payment.with_user(self.approver).action_approve()
        payment.with_user(self.buyer).write({"amount": 4000.0})
        self.assertEqual(payment.state, "draft")
        self.assertFalse(payment.approval_ids)
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "to_approve")

    def test_payee_change_resets_approval(self):
        payment = self._make_payment(amount=50.0)
        payment.with_user(self.buyer).action_submit()
        second = self.env["wallet.payee.account"].create(
            {"partner_id": self.vendor.id, "provider_type": "demo", "identifier": "DW-1001-B"}
        )
        payment.with_user(self.buyer).write({"payee_account_id": second.id})
        self.assertEqual(payment.state, "draft")

    def test_submit_checks_per_payment_limit(self):
        self.provider.max_amount_per_payment = 500.0
        payment = self._make_payment(amount=600.0)
        with self.assertRaises(UserError):
            payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "draft")

    def test_submit_refused_for_disabled_wallet(self):
        payment = self._make_payment(amount=60.0)
        self.provider.state = "disabled"
        with self.assertRaises(UserError):
            payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "draft")

    def test_approvers_get_activity(self):
        payment = self._make_payment(amount=5000.0)
        payment.with_user(self.buyer).action_submit()
        assigned = payment.activity_ids.user_id
        self.assertIn(self.approver, assigned)
        self.assertNotIn(self.buyer, assigned)
        payment.with_user(self.approver).action_approve()
        self.assertFalse(payment.activity_ids)
