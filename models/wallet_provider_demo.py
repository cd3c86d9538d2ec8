import logging
import secrets

from odoo import _, fields, models

from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..utils import get_encryption_key

_logger = logging.getLogger(__name__)


class WalletProvider(models.Model):
    """Demo rail: a wallet simulated inside Odoo, for trials and tests.

    Payouts are booked in ``wallet.demo.payout`` through a cursor of their own,
    so they are committed apart from the caller's transaction the way a remote
    provider's would be. Outcomes follow the payee identifier:

    - contains ``reject``: rejected at once (the request gets an error response)
    - contains ``timeout``: booked, but the answer is lost (the payment is in doubt)
    - contains ``lost``: the request never arrives (in doubt, and unknown to the wallet)
    - contains ``crash``: the rail raises an unexpected error before booking
    - contains ``fail``: accepted, then a failure notification
    - contains ``slow``: accepted, paid notification after ``demo_slow_delay``
    - anything else: accepted, paid notification at once

    Notifications are posted over HTTP to the provider's webhook URL by a
    scheduled action, signed like any other demo notification.
    """

    _inherit = "wallet.provider"

    demo_balance = fields.Monetary(
        string="Demo Balance",
        currency_field="currency_id",
        default=1000000.0,
        help="Funds of the simulated wallet; payouts above it are refused.",
    )
    demo_slow_delay = fields.Integer(
        string="Slow Payee Delay (s)",
        default=30,
        help="Seconds before a payout to a 'slow' payee is reported paid. The "
        "notifier is a scheduled action, and Odoo checks future scheduled runs "
        "about once a minute, so the real delay can be up to a minute longer.",
    )

    def _send_payout(self, payment):
        """Book a payout in the demo wallet under the payment's key."""
        if self.provider_type != "demo":
            return super()._send_payout(payment)
        payee = payment.payee_account_id.identifier.lower()
        if "lost" in payee:
            raise WalletProviderUnreachable("demo wallet: connection reset (simulated)")
        if "crash" in payee:
            raise RuntimeError("demo wallet: simulated defect in the rail")
        if "reject" in payee:
            raise WalletProviderError(_("Demo wallet: the payee account is blocked."))
        payout = self.env["wallet.demo.payout"]._book_payout(self, payment)
        if "timeout" in payee:
            raise WalletProviderUnreachable("demo wallet: the response was lost (simulated timeout)")
        if payout["status"] == "failed" and payout["failure_reason"] == "insufficient_funds":
            raise WalletProviderError(_("Demo wallet: not enough funds for this payout."))
        return {"status": "pending", "provider_reference": payout["payout_id"], "message": ""}

    def _get_payout_status(self, payment):
        if self.provider_type != "demo":
            return super()._get_payout_status(payment)
        payout = self.env["wallet.demo.payout"]._read_payout(self, payment.idempotency_key)
        if not payout:
            return {"status": "unknown", "provider_reference": None, "message": ""}
        return {
            "status": payout["status"],
            "provider_reference": payout["payout_id"],
            "message": payout["failure_message"] or "",
        }

    def _get_balance(self):
        if self.provider_type != "demo":
            return super()._get_balance()
        return self.demo_balance

    def _demo_set_webhook_secret(self, secret=None):
        """Set the webhook secret from demo data when an encryption key exists.

        The default is a random secret, so that no two demo databases accept
        the same signatures. Without a key the demo wallet is installed
        unsigned, and its notifications are rejected until a manager sets the
        secret.
        """
        secret = secret or secrets.token_urlsafe(32)
        if not get_encryption_key():
            _logger.warning(
                "no wallet encryption key configured: the webhook secret of %s is not set",
                self.mapped("name"),
            )
            return
        self.write({"webhook_secret": secret})
