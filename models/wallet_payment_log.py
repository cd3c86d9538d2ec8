from odoo import fields, models

from ..const import CAUSES, PAYMENT_STATES


class WalletPaymentLog(models.Model):
    """One state change of a wallet payment, with its cause: the audit trail."""

    _name = "wallet.payment.log"
    _description = "Wallet Payment State Change"
    _order = "id"

    payment_id = fields.Many2one(
        "wallet.payment", required=True, ondelete="cascade", index=True
    )
    from_state = fields.Selection(PAYMENT_STATES, required=True)
    to_state = fields.Selection(PAYMENT_STATES, required=True)
    cause = fields.Selection(CAUSES, required=True)
    user_id = fields.Many2one("res.users", string="User")
    event_id = fields.Many2one("wallet.event", string="Provider Event")
    message = fields.Text()
    create_date = fields.Datetime(string="Time", readonly=True)
