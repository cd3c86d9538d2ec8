import logging

from odoo import _, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _action_done(self):
        """Extended to request a wallet payment for the value just received."""
        result = super()._action_done()
        receipts = self.filtered(
            lambda p: p.picking_type_code == "incoming" and p.purchase_id and p.state == "done"
        )
        for picking in receipts:
            picking._wallet_request_payment()
        return result

    def _wallet_request_payment(self):
        # Warehouse staff validate receipts without wallet rights, so the lookups
        # and the request run as superuser; the request is still made in their
        # name, because requester_id and the state history take the real user.
        order = self.purchase_id.sudo()
        if order.company_id.wallet_payment_trigger != "receipt":
            return
        provider = order.company_id.wallet_provider_id
        if not provider or not order.partner_id._get_wallet_payee_account(provider):
            return
        try:
            payment = order._wallet_create_payment("receipt", picking=self)
        except UserError as error:
            _logger.info("no wallet payment for receipt %s: %s", self.name, error)
            order.message_post(
                body=_("No wallet payment was requested for %(receipt)s: %(reason)s", receipt=self.name, reason=str(error))
            )
            return
        if payment:
            order.message_post(
                body=_(
                    "Wallet payment %(payment)s of %(amount)s requested for receipt %(receipt)s.",
                    payment=payment.name,
                    amount=payment.currency_id.format(payment.amount),
                    receipt=self.name,
                )
            )
