from odoo import api, fields, models


class WalletPaymentLine(models.Model):
    """The quantity of one purchase order line that a wallet payment pays."""

    _name = "wallet.payment.line"
    _description = "Wallet Payment Line"

    payment_id = fields.Many2one(
        "wallet.payment", required=True, ondelete="cascade", index=True
    )
    purchase_line_id = fields.Many2one(
        "purchase.order.line", string="Purchase Line", required=True, index=True
    )
    product_id = fields.Many2one(related="purchase_line_id.product_id")
    quantity = fields.Float(digits="Product Unit of Measure", required=True)
    product_uom_id = fields.Many2one(related="purchase_line_id.product_uom")
    amount = fields.Monetary(required=True)
    currency_id = fields.Many2one(related="payment_id.currency_id")
    payment_state = fields.Selection(related="payment_id.state", string="Payment State")

    @api.constrains("quantity", "amount")
    def _check_payment_totals(self):
        self.payment_id._check_lines_total()
        self.payment_id.purchase_id._wallet_check_payable()
