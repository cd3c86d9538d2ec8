from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..const import PAYEE_KINDS

# Fields whose change makes the account another payee.
PAYEE_FIELDS = {"identifier", "provider_type", "partner_id", "payee_kind", "company_id"}


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

    def write(self, vals):
        """Extended so that no open payment is paid to a changed account: a
        payment in flight blocks the change, an approved or waiting one goes
        back to draft for a new approval."""
        if PAYEE_FIELDS.intersection(vals):
            payments = self.env["wallet.payment"].sudo().search(
                [
                    ("payee_account_id", "in", self.ids),
                    ("state", "in", ("to_approve", "approved", "sending", "pending", "in_doubt")),
                ]
            )
            in_flight = payments.filtered(lambda p: p.state in ("sending", "pending", "in_doubt"))
            if in_flight:
                raise UserError(
                    _(
                        "This wallet account is being paid by %(payments)s; change it once "
                        "those payments are settled.",
                        payments=", ".join(in_flight.mapped("name")),
                    )
                )
            result = super().write(vals)
            payments._reset_to_draft(_("Sent back to draft because its payee account changed."))
            return result
        return super().write(vals)

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
