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
    wallet_poll_after_minutes = fields.Integer(
        string="Poll Pending Payouts After (min)",
        default=30,
        help="A pending payout with no notification for this long is queried "
        "at the provider.",
    )
    wallet_in_doubt_alert_minutes = fields.Integer(
        string="Alert on Doubt After (min)",
        default=60,
        help="The buyer gets an activity when a payout's outcome is still "
        "unknown after this long.",
    )
