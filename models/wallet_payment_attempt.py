from odoo import api, fields, models


class WalletPaymentAttempt(models.Model):
    """One payout request sent for a wallet payment, under its own key."""

    _name = "wallet.payment.attempt"
    _description = "Wallet Payment Attempt"
    _order = "id"

    payment_id = fields.Many2one(
        "wallet.payment", required=True, ondelete="cascade", index=True
    )
    number = fields.Integer(compute="_compute_number", store=True)
    idempotency_key = fields.Char(required=True, readonly=True)
    started_at = fields.Datetime(default=fields.Datetime.now, required=True)

    _sql_constraints = [
        ("key_uniq", "UNIQUE(idempotency_key)", "Each attempt has its own key."),
    ]

    @api.depends("payment_id")
    def _compute_number(self):
        for attempt in self:
            attempt.number = len(attempt.payment_id.attempt_ids.filtered("id"))
