import json
import logging
import math
from urllib.parse import parse_qsl

import psycopg2
from psycopg2.extensions import TransactionRollbackError

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import float_compare

_logger = logging.getLogger(__name__)

REDACTED = "***"
MAX_STORED_BODY = 20000  # characters of a body kept in the payload
REJECTED_EVENT_DAYS = 30


class WalletEvent(models.Model):
    """A notification received from a provider: the inbox and audit trail of
    every notification, valid or not."""

    _name = "wallet.event"
    _description = "Wallet Provider Event"
    _order = "id desc"
    _rec_name = "event_id"

    provider_id = fields.Many2one(
        "wallet.provider", required=True, readonly=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one(related="provider_id.company_id", store=True, index=True)
    event_id = fields.Char(string="Event ID", readonly=True, index=True)
    event_type = fields.Char(readonly=True)
    reference = fields.Char(string="Payment Reference", readonly=True, index=True)
    provider_reference = fields.Char(readonly=True)
    payment_id = fields.Many2one(
        "wallet.payment", string="Payment", readonly=True, index=True, ondelete="set null"
    )
    status = fields.Char(string="Reported Status", readonly=True)
    amount = fields.Float(readonly=True)
    amount_reported = fields.Boolean(
        readonly=True, help="Whether the notification stated an amount to check."
    )
    currency = fields.Char(readonly=True)
    provider_message = fields.Text(
        readonly=True, help="The provider's explanation of the status, if it gave one."
    )
    fee = fields.Float(readonly=True)
    signature_valid = fields.Boolean(readonly=True)
    state = fields.Selection(
        selection=[
            ("received", "Received"),
            ("processed", "Processed"),
            ("ignored", "Ignored"),
            ("unmatched", "Unknown Payment"),
            ("rejected", "Rejected"),
            ("error", "Error"),
        ],
        required=True,
        default="received",
        readonly=True,
        index=True,
    )
    payload = fields.Text(
        readonly=True, help="The notification body, with credential values removed."
    )
    result = fields.Char(
        readonly=True, help="What the event changed on its payment, if anything."
    )
    error_message = fields.Text(readonly=True)
    remote_address = fields.Char(readonly=True)
    create_date = fields.Datetime(string="Received At", readonly=True)

    _sql_constraints = [
        (
            "provider_event_uniq",
            "UNIQUE(provider_id, event_id)",
            "A provider event is stored once.",
        ),
    ]

    # === INBOX === #

    @api.model
    def _receive_notification(self, provider, raw_body, headers, remote_address=None):
        """Verify, store and apply one notification of ``provider``.

        Runs as superuser from the webhook controller, which has no user.

        :param provider: the wallet.provider named in the webhook URL
        :param bytes raw_body: the request body exactly as received
        :param headers: the request headers
        :return: ``(http_status, message)``: 403 for a bad or missing
            signature, 400 for a body that is not a notification, else 200
        :rtype: tuple
        """
        base_values = {
            "provider_id": provider.id,
            "remote_address": remote_address,
            "payload": self._sanitize_payload(provider, raw_body),
        }
        if not provider._verify_notification(raw_body, headers):
            _logger.warning(
                "wallet webhook of provider %s: invalid or missing signature from %s",
                provider.id,
                remote_address,
            )
            self.create(dict(base_values, state="rejected", error_message="invalid or missing signature"))
            return 403, "invalid signature"
        try:
            data = provider._parse_notification(raw_body, headers)
            _check_storable(data)
        except (ValueError, TypeError, KeyError, RecursionError) as error:
            _logger.warning("wallet webhook of provider %s: malformed body: %s", provider.id, error)
            self.create(
                dict(base_values, state="rejected", signature_valid=True, error_message=f"malformed body: {error}")
            )
            return 400, "malformed notification"

        event = self._store_verified(provider, data, base_values)
        if not event:
            _logger.info(
                "wallet webhook of provider %s: duplicate event %s ignored", provider.id, data["event_id"]
            )
            return 200, "duplicate"
        _logger.info(
            "wallet webhook of provider %s: event %s (%s) for %s",
            provider.id,
            event.event_id,
            event.status,
            event.reference,
        )
        event._process()
        return 200, event.state

    @api.model
    def _store_verified(self, provider, data, base_values):
        """Create the event of a verified notification, or return an empty
        recordset if its event id is already stored."""
        domain = [("provider_id", "=", provider.id), ("event_id", "=", data["event_id"])]
        # Concurrent deliveries of one event wait here for each other, so the
        # second finds the first instead of hitting the unique constraint.
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"wallet.event:{provider.id}:{data['event_id']}"],
        )
        if self.search_count(domain, limit=1):
            return self.browse()
        values = dict(
            base_values,
            signature_valid=True,
            event_id=data["event_id"],
            event_type=data.get("event_type"),
            reference=data["reference"],
            provider_reference=data.get("provider_reference"),
            status=data["status"],
            amount=data.get("amount") or 0.0,
            amount_reported=data.get("amount") is not None,
            currency=data.get("currency"),
            provider_message=data.get("message") or False,
            fee=data.get("fee") or 0.0,
        )
        try:
            with self.env.cr.savepoint():
                return self.create(values)
        except psycopg2.errors.UniqueViolation:
            # The same event arrived twice at once and the other request won.
            return self.browse()

    def _process(self):
        """Apply received events to their payments; keep errors on the event.

        Each event runs in a savepoint: a failure leaves its payment as it was
        and the event in state ``error``, ready for a replay.
        """
        for event in self:
            try:
                with self.env.cr.savepoint():
                    event._apply_to_payment()
            except TransactionRollbackError:
                # A concurrent transaction won the payment's row: Odoo runs the
                # whole request again, and the stored event id keeps it single.
                raise
            except Exception as error:  # noqa: BLE001 - kept on the event for a replay
                _logger.exception("wallet event %s failed", event.id)
                event.write({"state": "error", "error_message": str(error)})

    def _apply_to_payment(self):
        self.ensure_one()
        if not self.status:
            # A verified notification that reports on no payout, such as money
            # received by the wallet: it is kept for the audit trail only.
            self.write({"state": "ignored", "result": _("not about a payout: stored only")})
            return

        payment = self._find_payment()
        if not payment:
            self.write({"state": "unmatched", "result": _("no payment with this reference")})
            _logger.info("wallet event %s: no payment for reference %s", self.id, self.reference)
            return

        # Serialize with the dispatcher and other events of the same payment.
        self.env.cr.execute("SELECT id FROM wallet_payment WHERE id = %s FOR UPDATE", [payment.id])
        payment.invalidate_recordset()
        if self._is_about_earlier_attempt(payment):
            self.write(
                {"payment_id": payment.id, "state": "ignored", "result": _("about an earlier attempt")}
            )
            return

        mismatch = self._check_amount(payment)
        if mismatch:
            self.write({"payment_id": payment.id, "state": "error", "error_message": mismatch})
            _logger.warning("wallet event %s: %s", self.id, mismatch)
            return

        before = payment.state
        result = payment._apply_provider_status(
            self.status,
            "event",
            provider_reference=self.provider_reference,
            message=self._get_message(),
            event=self,
            fee=self.fee,
        )
        state = "processed" if payment.state != before else "ignored"
        self.write({"payment_id": payment.id, "state": state, "result": result})

    def _is_about_earlier_attempt(self, payment):
        """Return whether the event names the payout of an attempt that is not
        the payment's current one: a late event must not settle a new attempt."""
        reference = self.provider_reference
        if not reference:
            return False
        if payment.provider_reference:
            return reference != payment.provider_reference
        current = payment._get_current_attempt()
        earlier = payment.attempt_ids - current
        return reference in earlier.mapped("provider_reference")

    def _find_payment(self):
        Payment = self.env["wallet.payment"]
        domain = [("provider_id", "=", self.provider_id.id)]
        payment = Payment.search(domain + [("name", "=", self.reference)], limit=1)
        if not payment and self.provider_reference:
            payment = Payment.search(
                domain + [("provider_reference", "=", self.provider_reference)], limit=1
            )
        return payment

    def _check_amount(self, payment):
        """Return why the event does not match its payment, or None."""
        if self.currency and self.currency.upper() != payment.currency_id.name:
            return _(
                "currency %(received)s differs from the payment's %(expected)s",
                received=self.currency,
                expected=payment.currency_id.name,
            )
        if self.amount_reported and float_compare(
            self.amount, payment.amount, precision_rounding=payment.currency_id.rounding
        ):
            return _(
                "amount %(received)s differs from the payment's %(expected)s",
                received=self.amount,
                expected=payment.amount,
            )
        return None

    def _get_message(self):
        if self.provider_message:
            return self.provider_message
        try:
            return json.loads(self.payload or "{}").get("message") or None
        except (ValueError, AttributeError):
            return None

    @api.model
    def _match_waiting_events(self, payment):
        """Apply events that arrived before ``payment`` could be matched, such
        as a notification racing the commit of its provider reference."""
        references = [payment.name] + ([payment.provider_reference] if payment.provider_reference else [])
        waiting = self.sudo().search(
            [
                ("provider_id", "=", payment.provider_id.id),
                ("state", "=", "unmatched"),
                "|",
                ("reference", "in", references),
                ("provider_reference", "in", references),
            ],
            order="id",
        )
        waiting._process()

    @api.model
    def _cron_match_unmatched(self, days=7):
        """Retry verified events that found no payment in the last ``days``."""
        since = fields.Datetime.subtract(fields.Datetime.now(), days=days)
        events = self.sudo().search(
            [("state", "=", "unmatched"), ("create_date", ">=", since)], order="id", limit=500
        )
        events._process()

    @api.autovacuum
    def _gc_rejected_events(self):
        """Delete rejected requests after 30 days: they changed nothing, and a
        flood of forged requests must not fill the database."""
        limit_date = fields.Datetime.subtract(fields.Datetime.now(), days=REJECTED_EVENT_DAYS)
        self.sudo().search(
            [("state", "=", "rejected"), ("create_date", "<", limit_date)], limit=10000
        ).unlink()

    # === ACTIONS === #

    def action_replay(self):
        """Apply failed or unmatched events again."""
        if not self.env.user.has_group("purchase_wallet_payment.group_wallet_approver"):
            raise AccessError(_("Only Wallet Approvers can replay provider events."))
        events = self.filtered(lambda e: e.signature_valid and e.state in ("error", "unmatched"))
        if not events:
            raise UserError(_("Only verified events in error or without a payment can be replayed."))
        events.sudo()._process()
        return True

    # === HELPERS === #

    @api.model
    def _sanitize_payload(self, provider, raw_body):
        """Return the body as text for storage, with credential values removed."""
        text = raw_body[:MAX_STORED_BODY].decode("utf-8", errors="replace")
        try:
            data = json.loads(raw_body)
        except (ValueError, RecursionError):
            # Url-encoded forms (e.g. WebMoney Merchant) are stored as JSON too,
            # so that their credential fields can be removed the same way.
            try:
                data = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
            except ValueError:
                return _without_nul(text)
            if not data:
                return _without_nul(text)
        secret_keys = provider._get_payload_secret_keys()
        try:
            text = json.dumps(_redact(data, secret_keys), indent=2, ensure_ascii=False, sort_keys=True)
        except RecursionError:
            return _without_nul(text)
        return _without_nul(text[:MAX_STORED_BODY])


def _redact(value, secret_keys):
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in secret_keys else _redact(item, secret_keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact(item, secret_keys) for item in value]
    return value


def _without_nul(text):
    """Return ``text`` with NUL characters escaped: PostgreSQL text cannot hold them."""
    return text.replace("\x00", "\\u0000")


def _check_storable(data):
    """Raise ValueError if a parsed notification has a value PostgreSQL or the
    web client cannot hold: NUL characters, infinite or NaN numbers."""
    for key, value in data.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(f"{key} contains a NUL character")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} is not a finite number")
    for key in ("event_id", "reference", "provider_reference"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{key} is not text")
