from odoo import fields, models


class WalletPaymentApproval(models.Model):
    """One approver's approval of a wallet payment."""

    _name = "wallet.payment.approval"
    _description = "Wallet Payment Approval"
    _order = "id"

    payment_id = fields.Many2one(
        "wallet.payment", required=True, ondelete="cascade", index=True
    )
    user_id = fields.Many2one("res.users", string="Approver", required=True)
    approved_at = fields.Datetime(default=fields.Datetime.now, required=True)

    _sql_constraints = [
        (
            "payment_user_uniq",
            "UNIQUE(payment_id, user_id)",
            "An approver approves a payment once.",
        ),
    ]
