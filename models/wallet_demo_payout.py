import json
import logging
import uuid
from datetime import timedelta

import requests

from odoo import api, fields, models

from ..const import SIGNATURE_HEADER
from ..utils import sign_hmac_sha256

_logger = logging.getLogger(__name__)

NOTIFICATION_TIMEOUT = 10  # seconds
MAX_NOTIFICATION_ATTEMPTS = 8
FAILURE_MESSAGES = {
    "payee_blocked": "The payee's wallet is blocked.",
    "insufficient_funds": "Not enough funds in the wallet.",
}


class WalletDemoPayout(models.Model):
    """The ledger of the demo wallet: what the simulated provider has paid.

    It plays the provider's side, so it counts payouts per idempotency key
    (unique) and per reference, and sends the provider's notifications.
    """

    _name = "wallet.demo.payout"
    _description = "Demo Wallet Payout"
    _order = "id desc"
    _rec_name = "payout_id"

    provider_id = fields.Many2one("wallet.provider", required=True, ondelete="cascade", index=True)
    payout_id = fields.Char(string="Payout ID", required=True, readonly=True)
    idempotency_key = fields.Char(required=True, readonly=True)
    reference = fields.Char(required=True, readonly=True, index=True)
    payee = fields.Char(required=True, readonly=True)
    amount = fields.Float(required=True, readonly=True)
    currency = fields.Char(required=True, readonly=True)
    status = fields.Selection(
        selection=[("pending", "Pending"), ("paid", "Paid"), ("failed", "Failed"), ("returned", "Returned")],
        required=True,
        readonly=True,
    )
    failure_reason = fields.Char(readonly=True)
    notify_at = fields.Datetime(readonly=True)
    notification_event_id = fields.Char(readonly=True)
    notification_attempts = fields.Integer(readonly=True)
    notified = fields.Boolean(readonly=True)

    _sql_constraints = [
        ("key_uniq", "UNIQUE(provider_id, idempotency_key)", "One payout per idempotency key."),
    ]

    @api.model
    def _book_payout(self, provider, payment):
        """Record a payout once per key, in a committed transaction of its own.

        :return: the payout's values (a dict, since its cursor is closed)
        """
        key = payment.idempotency_key
        with self.env.registry.cursor() as cr:
            env = self.env(cr=cr, su=True)
            ledger = env[self._name]
            existing = ledger._read_payout(provider, key, env=env)
            if existing:
                return existing
            payee = payment.payee_account_id.identifier.lower()
            provider_row = env["wallet.provider"].browse(provider.id)
            status, reason, delay = "pending", None, 0
            if payment.currency_id.compare_amounts(payment.amount, provider_row.demo_balance) > 0:
                status, reason = "failed", "insufficient_funds"
            elif "fail" in payee:
                reason = "payee_blocked"
            elif "slow" in payee:
                delay = provider_row.demo_slow_delay
            notify_at = fields.Datetime.now() + timedelta(seconds=delay)
            payout = ledger.create(
                {
                    "provider_id": provider.id,
                    "payout_id": f"DEMO-{uuid.uuid4().hex[:12].upper()}",
                    "idempotency_key": key,
                    "reference": payment.name,
                    "payee": payment.payee_account_id.identifier,
                    "amount": payment.amount,
                    "currency": payment.currency_id.name,
                    "status": status,
                    "failure_reason": reason,
                    "notify_at": notify_at if status == "pending" else False,
                    "notification_event_id": str(uuid.uuid4()),
                }
            )
            if status == "pending":
                env.ref("purchase_wallet_payment.ir_cron_demo_wallet_notify")._trigger(at=notify_at)
            return payout._as_dict()

    @api.model
    def _read_payout(self, provider, key, env=None):
        if env is None:
            with self.env.registry.cursor() as cr:
                return self._read_payout(provider, key, env=self.env(cr=cr, su=True))
        payout = env[self._name].search(
            [("provider_id", "=", provider.id), ("idempotency_key", "=", key)], limit=1
        )
        return payout._as_dict() if payout else None

    def _as_dict(self):
        self.ensure_one()
        return {
            "payout_id": self.payout_id,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "failure_message": FAILURE_MESSAGES.get(self.failure_reason),
        }

    # === NOTIFICATIONS === #

    @api.model
    def _cron_send_notifications(self):
        # The demo wallet plays the provider, which answers to no Odoo user.
        due = self.sudo().search(
            [("notified", "=", False), ("notify_at", "<=", fields.Datetime.now())], order="notify_at", limit=100
        )
        due._send_notification()

    def _settle(self):
        """Decide the final status of pending payouts that are due."""
        for payout in self.filtered(lambda p: p.status == "pending"):
            if payout.failure_reason:
                payout.status = "failed"
            else:
                payout.status = "paid"
                payout.provider_id.demo_balance -= payout.amount

    def _prepare_notification_body(self):
        self.ensure_one()
        return json.dumps(
            {
                "event_id": self.notification_event_id,
                "type": f"payout.{self.status}",
                "reference": self.reference,
                "payout_id": self.payout_id,
                "status": self.status,
                "amount": f"{self.amount:.2f}",
                "currency": self.currency,
                "message": FAILURE_MESSAGES.get(self.failure_reason) or "",
                "created_at": fields.Datetime.to_string(fields.Datetime.now()),
            }
        ).encode()

    def _send_notification(self):
        """Post each payout's signed notification to its provider's webhook."""
        for payout in self:
            payout._settle()
            provider = payout.provider_id
            secret = provider._get_secret("webhook_secret")
            body = payout._prepare_notification_body()
            headers = {"Content-Type": "application/json"}
            if secret:
                headers[SIGNATURE_HEADER] = f"sha256={sign_hmac_sha256(secret, body)}"
            try:
                response = requests.post(provider.webhook_url, data=body, headers=headers, timeout=NOTIFICATION_TIMEOUT)
                delivered = response.ok
                detail = f"HTTP {response.status_code}"
            except requests.RequestException as error:
                delivered, detail = False, str(error)
            attempts = payout.notification_attempts + 1
            if delivered:
                payout.write({"notified": True, "notification_attempts": attempts})
                _logger.info("demo wallet: notified %s for %s", payout.status, payout.reference)
                continue
            _logger.warning("demo wallet: notification for %s failed: %s", payout.reference, detail)
            values = {"notification_attempts": attempts}
            if attempts >= MAX_NOTIFICATION_ATTEMPTS:
                values["notified"] = True  # Give up, as providers do; the poller resolves it.
            else:
                values["notify_at"] = fields.Datetime.now() + timedelta(seconds=30 * 2**attempts)
            payout.write(values)
