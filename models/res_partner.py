from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    wallet_payee_account_ids = fields.One2many(
        "wallet.payee.account", "partner_id", string="Wallet Accounts"
    )

    def _get_wallet_payee_account(self, provider):
        """Return the vendor's first active account on ``provider``'s rail."""
        accounts = self.commercial_partner_id.wallet_payee_account_ids | self.wallet_payee_account_ids
        return accounts.filtered(
            lambda a: a.provider_type == provider.provider_type
            and a.active
            and a.company_id in (provider.company_id, self.env["res.company"])
        ).sorted("sequence")[:1]
