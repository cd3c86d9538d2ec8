from odoo.tests import tagged

from .common import WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestAccounting(WalletPaymentCommon):
    def _pay(self, payment):
        """Send ``payment`` and apply the provider's paid status."""
        if payment.state == "to_approve":
            self._approve(payment)
        payment._dispatch()
        payment._apply_provider_status("paid", "status_query")
        return payment.account_payment_id

    def test_paid_with_bill_reconciles(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order)
        bill = self._create_bill(order)
        account_payment = self._pay(self._payments(order))
        self.assertEqual(account_payment.state, "paid")
        self.assertEqual(account_payment.payment_type, "outbound")
        self.assertEqual(account_payment.partner_type, "supplier")
        self.assertEqual(account_payment.journal_id, self.wallet_journal)
        self.assertEqual(account_payment.amount, 500.0)
        self.assertTrue(account_payment.move_id)
        self.assertEqual(account_payment.move_id.state, "posted")
        self.assertIn(bill, account_payment.reconciled_bill_ids)
        self.assertIn(bill.payment_state, ("paid", "in_payment"))
        self.assertEqual(account_payment.wallet_payment_id, self._payments(order))

    def test_partial_payment_leaves_bill_open(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order, {self.product_ssd: 4})
        bill = self._create_bill(order)
        self._pay(self._payments(order))
        self.assertEqual(bill.amount_residual, 0.0)  # the bill is for what was received
        self._receive(order)
        second_bill = self._create_bill(order)
        self._pay(self._payments(order)[-1])
        self.assertEqual(second_bill.payment_state in ("paid", "in_payment"), True)

    def test_paid_without_bill_is_advance(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order)
        account_payment = self._pay(self._payments(order))
        self.assertEqual(account_payment.state, "paid")
        self.assertFalse(account_payment.reconciled_bill_ids)
        self.assertEqual(account_payment.partner_id, self.vendor)

    def test_wallet_journal_balance_decreases(self):
        payment = self._make_payment(amount=75.0)
        payment.with_user(self.buyer).action_submit()
        self._pay(payment)
        lines = payment.account_payment_id.move_id.line_ids
        wallet_line = lines.filtered(lambda l: l.account_id == self.wallet_journal.default_account_id)
        self.assertEqual(wallet_line.credit, 75.0)
        self.assertEqual(sum(lines.mapped("debit")), sum(lines.mapped("credit")))

    def test_purchase_order_payment_status(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self.assertEqual(order.wallet_payment_state, "not_paid")
        self._receive(order, {self.product_ssd: 4})
        self._pay(self._payments(order))
        order.invalidate_recordset()
        self.assertEqual(order.wallet_payment_state, "partial")
        self.assertEqual(order.wallet_amount_paid, 200.0)
        self._receive(order)
        self._pay(self._payments(order)[-1])
        order.invalidate_recordset()
        self.assertEqual(order.wallet_payment_state, "paid")
        self.assertEqual(order.wallet_payment_count, 2)

    def test_returned_payout_cancels_accounting(self):
        payment = self._make_payment(amount=75.0)
        payment.with_user(self.buyer).action_submit()
        account_payment = self._pay(payment)
        payment._apply_provider_status("returned", "status_query", message="Unclaimed")
        self.assertEqual(payment.state, "returned")
        self.assertEqual(account_payment.state, "canceled")
        self.assertTrue(payment.activity_ids)

    def test_paid_notifies_purchase_order(self):
        order = self._create_order(lines=[(self.product_ssd, 2, 50.0)])
        self._receive(order)
        payment = self._payments(order)
        self._pay(payment)
        self.assertTrue(any(payment.name in (message.body or "") for message in order.message_ids))
