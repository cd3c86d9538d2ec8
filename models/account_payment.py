from odoo import fields, models


class AccountPayment(models.Model):
    _inherit = "account.payment"

    wallet_payment_id = fields.Many2one(
        "wallet.payment", string="Wallet Payment", readonly=True, copy=False, index="btree_not_null"
    )
