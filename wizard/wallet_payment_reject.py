from odoo import fields, models


class WalletPaymentReject(models.TransientModel):
    _name = "wallet.payment.reject"
    _description = "Reject Wallet Payments"

    payment_ids = fields.Many2many(
        "wallet.payment",
        default=lambda self: self.env["wallet.payment"].browse(self.env.context.get("active_ids")),
    )
    reason = fields.Text(required=True)

    def action_reject(self):
        self.payment_ids.action_reject(self.reason)
        return {"type": "ir.actions.act_window_close"}
