from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    wallet_provider_id = fields.Many2one(
        "wallet.provider", string="Default Wallet", check_company=True
    )
    wallet_payment_trigger = fields.Selection(
        selection=[("manual", "By Hand Only"), ("receipt", "On Goods Receipt")],
        string="Create Wallet Payments",
        default="receipt",
        required=True,
    )
    wallet_approval_threshold = fields.Monetary(
        string="Approval Threshold",
        currency_field="currency_id",
        default=1000.0,
        help="Payments at or above this amount, in the company currency, need a "
        "Wallet Approver.",
    )
    wallet_approvals_required = fields.Integer(
        string="Approvals Required",
        default=1,
        help="Number of distinct approvers needed above the threshold.",
    )
    wallet_unknown_grace_minutes = fields.Integer(
        string="Unknown Payout Grace (min)",
        default=15,
        help="How long after sending a payout that the provider does not know "
        "is still waited for before the attempt counts as failed.",
    )
