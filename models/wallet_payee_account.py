from odoo import api, fields, models

from ..const import PAYEE_KINDS


class WalletPayeeAccount(models.Model):
    """A vendor's account on one wallet rail: where payouts are sent."""

    _name = "wallet.payee.account"
    _description = "Vendor Wallet Account"
    _order = "partner_id, sequence, id"

    partner_id = fields.Many2one(
        "res.partner", string="Vendor", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(
        "res.company", help="Leave empty to use the account in every company."
    )
    sequence = fields.Integer(default=10)
    provider_type = fields.Selection(
        selection=lambda self: self.env["wallet.provider"]._fields["provider_type"].selection,
        string="Rail",
        required=True,
    )
    identifier = fields.Char(
        required=True,
        help="The payee's identifier on the rail: wallet number, e-mail or account id.",
    )
    payee_kind = fields.Selection(
        selection=PAYEE_KINDS,
        string="Payee Kind",
        compute="_compute_payee_kind",
        store=True,
        precompute=True,
        readonly=False,
        required=True,
        help="Legal form of the holder. Rails pay only some kinds of payee.",
    )
    holder_name = fields.Char(help="Name of the wallet's holder, if it differs from the vendor.")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        (
            "identifier_uniq",
            "UNIQUE(partner_id, provider_type, identifier)",
            "This vendor already has this wallet account.",
        ),
    ]

    @api.depends("partner_id.commercial_partner_id.is_company")
    def _compute_payee_kind(self):
        for account in self:
            is_company = account.partner_id.commercial_partner_id.is_company
            account.payee_kind = "company" if is_company else "individual"

    @api.depends("provider_type", "identifier")
    def _compute_display_name(self):
        labels = dict(self._fields["provider_type"]._description_selection(self.env))
        for account in self:
            account.display_name = f"{labels.get(account.provider_type, '')}: {account.identifier or ''}"
