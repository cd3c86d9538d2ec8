from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .common import WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestReceiptTrigger(WalletPaymentCommon):
    def test_full_receipt_requests_received_value(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0), (self.product_monitor, 2, 200.0)])
        self._receive(order)
        payment = self._payments(order)
        self.assertEqual(len(payment), 1)
        self.assertEqual(payment.amount, 900.0)
        self.assertEqual(payment.trigger, "receipt")
        self.assertEqual(payment.partner_id, self.vendor)
        self.assertEqual(payment.state, "approved")
        self.assertEqual(payment.requester_id, self.stock_user)

    def test_partial_receipt_pays_partial_value(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order, {self.product_ssd: 4})
        payment = self._payments(order)
        self.assertEqual(payment.amount, 200.0)
        self.assertEqual(payment.line_ids.quantity, 4)

        self._receive(order)  # the backorder: the remaining 6
        payments = self._payments(order)
        self.assertEqual(len(payments), 2)
        self.assertEqual(payments[1].amount, 300.0)
        self.assertEqual(sum(payments.mapped("amount")), order.amount_total)

    def test_manual_then_receipt_not_paid_twice(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        order.with_user(self.buyer).action_wallet_pay()
        self.assertEqual(self._payments(order).amount, 500.0)
        self._receive(order)
        self.assertEqual(len(self._payments(order)), 1)

    def test_receipt_then_manual_pays_rest(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order, {self.product_ssd: 3})
        order.with_user(self.buyer).action_wallet_pay()
        payments = self._payments(order)
        self.assertEqual(payments.mapped("amount"), [150.0, 350.0])
        with self.assertRaises(UserError):
            order.with_user(self.buyer).action_wallet_pay()

    def test_cancelled_payment_frees_quantity(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order, {self.product_ssd: 4})
        first = self._payments(order)
        first.with_user(self.buyer).action_cancel()
        order.with_user(self.buyer).action_wallet_pay()
        self.assertEqual(self._payments(order)[-1].amount, 500.0)

    def test_taxes_included_in_amount(self):
        tax = self.env["account.tax"].create(
            {"name": "VAT 20", "amount": 20.0, "type_tax_use": "purchase", "company_id": self.company.id}
        )
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)], confirm=False)
        order.order_line.taxes_id = tax
        order.button_confirm()
        self._receive(order, {self.product_ssd: 5})
        self.assertEqual(self._payments(order).amount, 300.0)

    def test_large_receipt_waits_for_approval(self):
        order = self._create_order(lines=[(self.product_monitor, 10, 200.0)])
        self._receive(order)
        self.assertEqual(self._payments(order).state, "to_approve")

    def test_vendor_without_wallet_gets_no_payment(self):
        order = self._create_order(vendor=self.vendor_no_wallet)
        self._receive(order)
        self.assertFalse(self._payments(order))

    def test_manual_trigger_creates_nothing(self):
        self.company.wallet_payment_trigger = "manual"
        order = self._create_order()
        self._receive(order)
        self.assertFalse(self._payments(order))

    def test_pay_button_needs_confirmed_order(self):
        order = self._create_order(confirm=False)
        with self.assertRaises(UserError):
            order.with_user(self.buyer).action_wallet_pay()

    def test_pay_button_needs_payee_account(self):
        order = self._create_order(vendor=self.vendor_no_wallet)
        with self.assertRaises(UserError):
            order.with_user(self.buyer).action_wallet_pay()

    def test_return_creates_no_payment(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        receipt = self._receive(order)
        wizard = Form(
            self.env["stock.return.picking"].with_context(active_id=receipt.id, active_model="stock.picking")
        ).save()
        wizard.product_return_moves.quantity = 2
        action = wizard.action_create_returns()
        returned = self.env["stock.picking"].browse(action["res_id"])
        returned.move_ids.quantity = 2
        returned.move_ids.picked = True
        returned._action_done()
        self.assertEqual(len(self._payments(order)), 1)

    def test_overpaying_order_rejected(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        self._receive(order, {self.product_ssd: 4})
        payment = self._payments(order)
        with self.assertRaises(ValidationError):
            payment.line_ids.with_user(self.buyer).write({"quantity": 11, "amount": 550.0})
        with self.assertRaises(ValidationError):
            payment.with_user(self.buyer).write({"amount": 600.0})

    def test_retry_checks_payable_quantity(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 50.0)])
        order.with_user(self.buyer).action_wallet_pay()
        payment = self._payments(order)
        payment._set_state("sending", "dispatch", "test")
        payment._set_state("failed", "dispatch", "test")
        order.with_user(self.buyer).action_wallet_pay()  # the freed quantity
        with self.assertRaises(ValidationError):
            payment.with_user(self.buyer).action_retry()
