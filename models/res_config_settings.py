from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    wallet_provider_id = fields.Many2one(
        related="company_id.wallet_provider_id", readonly=False
    )
    wallet_payment_trigger = fields.Selection(
        related="company_id.wallet_payment_trigger", readonly=False
    )
    wallet_approval_threshold = fields.Monetary(
        related="company_id.wallet_approval_threshold",
        readonly=False,
        currency_field="company_currency_id",
    )
    wallet_approvals_required = fields.Integer(
        related="company_id.wallet_approvals_required", readonly=False
    )
    wallet_poll_after_minutes = fields.Integer(
        related="company_id.wallet_poll_after_minutes", readonly=False
    )
    wallet_in_doubt_alert_minutes = fields.Integer(
        related="company_id.wallet_in_doubt_alert_minutes", readonly=False
    )
