import base64
import binascii
import json
import logging
import re
import threading
import zlib
from datetime import timedelta
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID
from psycopg2 import errors as pg_errors
from psycopg2.extensions import TransactionRollbackError

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_repr

from ..const import PAYEE_KINDS
from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..utils import encrypt_secret

_logger = logging.getLogger(__name__)

PAYPAL_TEST_URL = "https://api-m.sandbox.paypal.com"
PAYPAL_LIVE_URL = "https://api-m.paypal.com"
PAYOUTS_PATH = "/v1/payments/payouts"
CERTIFICATES_PATH = "/v1/notifications/certs/"

# Odoo's payment_paypal renews its access token when less than 5 minutes remain.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
# PayPal keeps a PayPal-Request-Id and a sender_batch_id for 30 days. A payout
# in doubt is looked up by repeating its request only well inside that window.
REPLAY_WINDOW = timedelta(days=28)
CERTIFICATE_TIMEOUT = 10  # seconds, for downloading a signing certificate

SIGNATURE_ALGORITHM = "SHA256withRSA"
# PayPal's payout_item schema limits the receiver field to 127 characters.
MAX_RECEIVER_LENGTH = 127
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# NOTE: PayPal's digest calls a PAYPAL_ID "an encrypted account number"
# without a format; 13 upper-case letters and digits is the format of the
# payer ids PayPal shows in account settings.
PAYPAL_ID_PATTERN = re.compile(r"^[A-Z0-9]{13}$")

# Event types of payout items, with the item status each one reports.
ITEM_EVENT_STATUSES = {
    "PAYMENT.PAYOUTS-ITEM.SUCCEEDED": "SUCCESS",
    "PAYMENT.PAYOUTS-ITEM.FAILED": "FAILED",
    "PAYMENT.PAYOUTS-ITEM.UNCLAIMED": "UNCLAIMED",
    "PAYMENT.PAYOUTS-ITEM.RETURNED": "RETURNED",
    "PAYMENT.PAYOUTS-ITEM.BLOCKED": "BLOCKED",
    "PAYMENT.PAYOUTS-ITEM.HELD": "ONHOLD",
    "PAYMENT.PAYOUTS-ITEM.REFUNDED": "REFUNDED",
    "PAYMENT.PAYOUTS-ITEM.CANCELED": "CANCELED",
    "PAYMENT.PAYOUTS-ITEM.DENIED": "DENIED",
}
# Batch events carry no item: a denied batch paid nothing, and the others only
# report that PayPal has the batch.
BATCH_EVENT_STATUSES = {
    "PAYMENT.PAYOUTSBATCH.DENIED": "failed",
    "PAYMENT.PAYOUTSBATCH.PROCESSING": "pending",
    "PAYMENT.PAYOUTSBATCH.SUCCESS": "pending",
}
HANDLED_EVENT_TYPES = list(ITEM_EVENT_STATUSES) + list(BATCH_EVENT_STATUSES)

# Item statuses (transaction_status) by what they mean for the payment.
PAID_ITEM_STATUSES = {"SUCCESS"}
PENDING_ITEM_STATUSES = {"PENDING", "ONHOLD", "UNCLAIMED"}
FAILED_ITEM_STATUSES = {"FAILED", "BLOCKED", "DENIED"}
# The money came back to the sender: "returned" after a payout that was paid,
# else a failure, since the payee never got it.
RETURNED_ITEM_STATUSES = {"RETURNED", "REFUNDED", "REVERSED", "CANCELED"}

# Errors that prove a repeated payout request was rejected for its content, so
# that no payout exists under its key. Any other error leaves the payout in doubt.
CONTENT_ERRORS = {
    "VALIDATION_ERROR",
    "INSUFFICIENT_FUNDS",
    "USER_FUNDING_SOURCE_INELIGIBLE",
    "USER_COUNTRY_NOT_ALLOWED",
    "SENDER_ACCOUNT_LOCKED",
    "SENDER_ACCOUNT_UNVERIFIED",
    "SPENDING_LIMIT_EXCEEDED",
    "SELF_PAY_NOT_ALLOWED",
}

# Signing certificates by URL. They are public, so a process-wide cache is safe.
_certificate_cache = {}
_certificate_cache_lock = threading.Lock()
MAX_CACHED_CERTIFICATES = 32


def build_signed_message(transmission_id, transmission_time, webhook_id, raw_body):
    """Return the text PayPal signs for a webhook notification.

    It is ``<transmission id>|<transmission time>|<webhook id>|<CRC32>``, where
    the CRC32 of the raw body bytes is written as an unsigned decimal.

    :param bytes raw_body: the body exactly as received, never re-serialized
    :rtype: str
    """
    checksum = zlib.crc32(raw_body) & 0xFFFFFFFF
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{checksum}"


def signature_matches(certificate, signature, message):
    """Return whether ``signature`` is the RSA PKCS#1 v1.5 SHA-256 signature of
    ``message`` (str) under the public key of ``certificate``."""
    try:
        certificate.public_key().verify(
            signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


class WalletProvider(models.Model):
    """PayPal Payouts rail: one batch payout of one item per payment attempt.

    The payment's idempotency key is the batch's ``sender_batch_id``, the
    item's ``sender_item_id`` and the ``PayPal-Request-Id`` header, so PayPal
    pays at most once per attempt and every notification names its attempt.
    """

    _inherit = "wallet.provider"

    provider_type = fields.Selection(
        selection_add=[("paypal", "PayPal Payouts")], ondelete={"paypal": "set default"}
    )
    paypal_client_id = fields.Char(
        string="PayPal Client ID",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="Client ID of the REST app in the PayPal developer dashboard. The app "
        "needs Payouts access.",
    )
    paypal_client_secret = fields.Char(
        string="PayPal Client Secret",
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="Secret of the REST app. Write-only: the stored value is encrypted and "
        "never shown again.",
    )
    paypal_client_secret_encrypted = fields.Char(groups="base.group_system", copy=False)
    paypal_client_secret_set = fields.Boolean(
        string="PayPal Client Secret Set", compute="_compute_secret_inputs"
    )
    paypal_webhook_id = fields.Char(
        string="PayPal Webhook ID",
        groups="purchase_wallet_payment.group_wallet_manager",
        copy=False,
        help="ID PayPal gave to the webhook that posts to this wallet's webhook URL. "
        "Notifications are verified against it.",
    )
    # The access token is a credential too: encrypted, and read only by
    # _paypal_get_access_token. It has no form input.
    paypal_access_token_encrypted = fields.Char(groups="base.group_system", copy=False)
    paypal_access_token_expiry = fields.Datetime(groups="base.group_system", copy=False)

    # === CRUD METHODS === #

    def write(self, vals):
        """Drop the cached access token when the credentials or the PayPal
        environment change, since the token belongs to the old ones."""
        result = super().write(vals)
        token_fields = {"paypal_client_id", "paypal_client_secret", "state", "api_base_url"}
        if token_fields.intersection(vals):
            # The token columns are restricted to system users.
            self.sudo().filtered("paypal_access_token_encrypted").write(
                {"paypal_access_token_encrypted": False, "paypal_access_token_expiry": False}
            )
        return result

    # === ACTION METHODS === #

    def action_paypal_register_webhook(self):
        """Subscribe this wallet's webhook URL to PayPal's payout events and
        store the webhook ID that PayPal returns."""
        self.ensure_one()
        self.check_access("write")
        payload = {
            "url": self.webhook_url,
            "event_types": [{"name": name} for name in HANDLED_EVENT_TYPES],
        }
        try:
            response = self._paypal_request(
                "POST", "/v1/notifications/webhooks", json_payload=payload
            )
        except (WalletProviderError, WalletProviderUnreachable) as error:
            raise UserError(str(error)) from error
        data = self._paypal_read_json(response)
        if response.status_code not in (200, 201) or not data.get("id"):
            raise UserError(self._paypal_get_error_message(response))
        self.paypal_webhook_id = data["id"]
        return True

    # === RAIL HOOKS === #

    def _get_secret_field_names(self):
        return super()._get_secret_field_names() + ["paypal_client_secret"]

    def _get_payload_secret_keys(self):
        return super()._get_payload_secret_keys() | {"client_secret"}

    def _get_supported_payee_kinds(self):
        """PayPal pays personal and business accounts alike."""
        if self.provider_type != "paypal":
            return super()._get_supported_payee_kinds()
        return {kind for kind, _label in PAYEE_KINDS}

    def _get_rail_limits(self):
        """PayPal Payouts documents no amount limit of its own.

        NOTE: PayPal applies limits per account, and reports them per item as
        SPENDING_LIMIT_EXCEEDED or RECEIVING_LIMIT_EXCEEDED.
        """
        if self.provider_type != "paypal":
            return super()._get_rail_limits()
        return {}

    def _check_payee_identifier(self, identifier):
        """Accept an e-mail address or a 13-character PayPal account ID."""
        if self.provider_type != "paypal":
            return super()._check_payee_identifier(identifier)
        value = (identifier or "").strip()
        if len(value) <= MAX_RECEIVER_LENGTH and (
            EMAIL_PATTERN.match(value) or PAYPAL_ID_PATTERN.match(value)
        ):
            return True
        raise UserError(
            _(
                "%(identifier)s is not a PayPal payee: enter the e-mail address of the "
                "vendor's PayPal account, or its PayPal account ID of 13 capital "
                "letters and digits.",
                identifier=identifier,
            )
        )

    def _send_payout(self, payment):
        """Create a PayPal batch payout with one item for ``payment``.

        The idempotency key goes in ``sender_batch_id``, ``sender_item_id`` and
        the ``PayPal-Request-Id`` header.
        """
        if self.provider_type != "paypal":
            return super()._send_payout(payment)
        try:
            token = self._paypal_get_access_token()
        except WalletProviderUnreachable as error:
            # The payout request was not sent, so nothing can have been paid.
            raise WalletProviderError(
                "PayPal: "
                + _(
                    "No access token could be obtained, so the payout was not sent "
                    "(%(error)s). Try again later.",
                    error=error,
                )
            ) from error
        response, batch_id, batch_status = self._paypal_post_payout(payment, token)
        if batch_status == "DENIED":
            return self._paypal_denied(batch_id)
        if batch_id:
            return self._paypal_pending(batch_id)
        raise WalletProviderError(self._paypal_get_error_message(response))

    def _get_payout_status(self, payment):
        """Read the payout of ``payment`` from PayPal.

        PayPal finds a batch only by its own ``payout_batch_id``, which the
        payment keeps as provider reference. When that is missing (the response
        to the payout request was lost), the request is repeated with the same
        ``PayPal-Request-Id`` and ``sender_batch_id``: PayPal then returns the
        batch it created under them and pays nothing more. If the first request
        never reached PayPal, that repeated request is the one that creates the
        payout, still at most once per key.
        """
        if self.provider_type != "paypal":
            return super()._get_payout_status(payment)
        try:
            # One token for the whole query: a token renewed in another
            # transaction may not be visible in this one yet.
            token = self._paypal_get_access_token()
            if payment.provider_reference:
                result = self._paypal_get_batch_status(payment, payment.provider_reference, token)
                if result:
                    return result
            return self._paypal_repeat_payout_request(payment, token)
        except WalletProviderError as error:
            # A rejected query reports nothing about the payout.
            raise WalletProviderUnreachable(str(error)) from error

    def _get_balance(self):
        """Return the available PayPal balance in the wallet's currency."""
        if self.provider_type != "paypal":
            return super()._get_balance()
        currency = self.currency_id.name
        response = self._paypal_request(
            "GET", "/v1/reporting/balances", params={"currency_code": currency}
        )
        if response.status_code != 200:
            raise WalletProviderError(self._paypal_get_error_message(response))
        for balance in self._paypal_read_json(response).get("balances") or []:
            available = balance.get("available_balance") or {}
            if balance.get("currency") == currency and available.get("value") is not None:
                return float(available["value"])
        raise WalletProviderError(
            "PayPal: "
            + _("The PayPal account has no balance in %(currency)s.", currency=currency)
        )

    def _verify_notification(self, raw_body, headers):
        """Check PayPal's RSA signature of a notification offline.

        The signed message is built from the transmission headers, the
        webhook ID and the CRC32 of the raw body, and verified with the public
        key of the certificate at ``PAYPAL-CERT-URL``. That URL must be on a
        PayPal host (over HTTPS) or under the wallet's API base URL.
        """
        if self.provider_type != "paypal":
            return super()._verify_notification(raw_body, headers)
        self.ensure_one()
        values = {name.lower(): value for name, value in headers.items()}
        transmission_id = values.get("paypal-transmission-id")
        transmission_time = values.get("paypal-transmission-time")
        certificate_url = values.get("paypal-cert-url")
        # The webhook request has no user, and the field is for managers.
        webhook_id = self.sudo().paypal_webhook_id
        if not webhook_id:
            _logger.warning("paypal provider %s: no webhook ID, cannot verify", self.id)
            return False
        if values.get("paypal-auth-algo") != SIGNATURE_ALGORITHM:
            return False
        if not (transmission_id and transmission_time and certificate_url):
            return False
        try:
            signature = base64.b64decode(values.get("paypal-transmission-sig") or "", validate=True)
        except (binascii.Error, ValueError):
            return False
        if not signature:
            return False
        certificate = self._paypal_get_certificate(certificate_url)
        if certificate is None:
            return False
        message = build_signed_message(transmission_id, transmission_time, webhook_id, raw_body)
        return signature_matches(certificate, signature, message)

    def _parse_notification(self, raw_body, headers):
        """Read a PayPal payout event.

        The reference is the name of the payment whose current key is the
        event's ``sender_item_id`` (or ``sender_batch_id`` for batch events).
        Events of other attempts or other event types keep the key or nothing
        as reference, so they are stored without a payment.
        """
        if self.provider_type != "paypal":
            return super()._parse_notification(raw_body, headers)
        event = json.loads(raw_body)
        if not isinstance(event, dict):
            raise ValueError("the notification body is not a JSON object")
        event_id = event.get("id")
        event_type = event.get("event_type")
        resource = event.get("resource")
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
            raise ValueError("missing id or event_type")
        if not isinstance(resource, dict):
            raise ValueError("missing resource")
        values = {
            "event_id": event_id,
            "event_type": event_type,
            "reference": "",
            "provider_reference": "",
            "status": "pending",
            "amount": None,
            "currency": "",
            "occurred_at": event.get("create_time"),
            "message": "",
        }
        if event_type in ITEM_EVENT_STATUSES:
            key, batch_id, amount = self._paypal_read_item_resource(resource)
            transaction_status = ITEM_EVENT_STATUSES[event_type]
        elif event_type in BATCH_EVENT_STATUSES:
            key, batch_id, amount = self._paypal_read_batch_resource(resource)
            transaction_status = None
        else:
            # Not a payout event: acknowledged and kept, but it pays nothing.
            return values
        values["amount"], values["currency"] = self._paypal_read_amount(amount)
        payment = self._paypal_find_payment(key)
        if not payment:
            values["reference"] = key
            return values
        values["reference"] = payment.name
        values["provider_reference"] = batch_id
        if transaction_status:
            values["status"] = self._paypal_map_item_status(transaction_status, payment)
            values["message"] = self._paypal_describe_item(
                transaction_status, resource.get("errors")
            )
            if values["status"] == "paid":
                values["fee"] = self._paypal_read_fee(resource, payment)
        else:
            values["status"] = BATCH_EVENT_STATUSES[event_type]
            if values["status"] == "failed":
                values["message"] = self._paypal_denied(batch_id)["message"]
        return values

    # === PAYPAL API === #

    def _paypal_get_base_url(self):
        return self._get_api_base_url(PAYPAL_TEST_URL, PAYPAL_LIVE_URL)

    def _paypal_get_access_token(self, force_refresh=False):
        """Return a valid access token, from the cache or from PayPal.

        Requires exactly one record.

        :param bool force_refresh: ignore the cached token (PayPal rejected it)
        :rtype: str
        :raise WalletProviderError: if the credentials are missing or rejected
        :raise WalletProviderUnreachable: if PayPal could not be reached
        """
        self.ensure_one()
        stored = self.sudo()  # The token columns are restricted to system users.
        stored.invalidate_recordset(["paypal_access_token_encrypted", "paypal_access_token_expiry"])
        expiry = stored.paypal_access_token_expiry
        if (
            not force_refresh
            and stored.paypal_access_token_encrypted
            and expiry
            and expiry - TOKEN_REFRESH_MARGIN > fields.Datetime.now()
        ):
            return self._get_secret("paypal_access_token")
        return self._paypal_fetch_access_token()

    def _paypal_fetch_access_token(self):
        """Ask PayPal for a new access token with the client credentials and
        cache it. Requires exactly one record."""
        self.ensure_one()
        client_id = self.sudo().paypal_client_id
        client_secret = self._get_secret("paypal_client_secret")
        if not (client_id and client_secret):
            raise WalletProviderError(
                "PayPal: "
                + _(
                    "Enter the client ID and secret of the wallet %(provider)s first.",
                    provider=self.name,
                )
            )
        response = self._send_api_request(
            "POST",
            f"{self._paypal_get_base_url()}/v1/oauth2/token",
            auth=(client_id, client_secret),
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json"},
        )
        data = self._paypal_read_json(response)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if response.status_code != 200 or not token or not isinstance(expires_in, int):
            raise WalletProviderError(self._paypal_get_error_message(response))
        expiry = fields.Datetime.now() + timedelta(seconds=expires_in)
        self._paypal_store_access_token(token, expiry)
        _logger.info("paypal provider %s: new access token, valid %s s", self.id, expires_in)
        return token

    def _paypal_store_access_token(self, token, expiry):
        """Cache the token in a transaction of its own, so that it survives a
        rollback of the caller and no lock on the provider lasts through the
        caller's API calls. If another transaction has locked the row, the token
        is not cached."""
        try:
            with self.env.registry.cursor() as cr:
                cr.execute(
                    "SELECT id FROM wallet_provider WHERE id = %s FOR UPDATE NOWAIT", [self.id]
                )
                # The token columns are restricted to system users.
                provider = self.with_env(self.env(cr=cr, su=True))
                provider.write(
                    {
                        "paypal_access_token_encrypted": encrypt_secret(token),
                        "paypal_access_token_expiry": expiry,
                    }
                )
        except (pg_errors.LockNotAvailable, TransactionRollbackError) as error:
            _logger.info(
                "paypal provider %s: access token not cached (%s)", self.id, type(error).__name__
            )
        self.sudo().invalidate_recordset(
            ["paypal_access_token_encrypted", "paypal_access_token_expiry"]
        )

    def _paypal_request(
        self, method, path, json_payload=None, params=None, request_id=None, token=None
    ):
        """Call PayPal's REST API with a bearer token. Requires exactly one record.

        A 401 means PayPal rejected the token before handling the request, so
        the request is sent once more with a new token and the same
        ``PayPal-Request-Id``.

        :param str path: the path under the API base URL
        :param str request_id: the ``PayPal-Request-Id`` header, for POST requests
        :param str token: the access token to try first, if the caller has one
        :return: the response, with a status below 500
        :rtype: requests.Response
        :raise WalletProviderError: if no token can be obtained
        :raise WalletProviderUnreachable: on a timeout, connection error or 5xx
        """
        self.ensure_one()
        url = f"{self._paypal_get_base_url()}{path}"
        response = None
        for force_refresh in (False, True):
            if force_refresh or not token:
                token = self._paypal_get_access_token(force_refresh)
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
            }
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            response = self._send_api_request(
                method, url, headers=headers, json=json_payload, params=params
            )
            if response.status_code != 401:
                break
            _logger.info("paypal provider %s: access token rejected, renewing it", self.id)
        return response

    def _paypal_prepare_payout_payload(self, payment):
        """Return the body of the payout request of ``payment``.

        It is built only from fields that are frozen while the payment is in
        flight, so a repeated request carries the same payout.
        """
        currency = payment.currency_id
        receiver = payment.payee_account_id.identifier.strip()
        recipient_type = "EMAIL" if "@" in receiver else "PAYPAL_ID"
        note = " ".join(filter(None, [payment.name, payment.purchase_id.name]))
        value = float_repr(currency.round(payment.amount), currency.decimal_places)
        return {
            "sender_batch_header": {
                "sender_batch_id": payment.idempotency_key,
                "recipient_type": recipient_type,
                "email_subject": _(
                    "You have a payment from %(company)s", company=payment.company_id.name
                )[:255],
                "email_message": _("Payment %(reference)s", reference=note)[:1000],
            },
            "items": [
                {
                    "recipient_type": recipient_type,
                    "amount": {"value": value, "currency": currency.name},
                    "receiver": receiver,
                    "note": note,
                    "sender_item_id": payment.idempotency_key,
                    "recipient_wallet": "PAYPAL",
                }
            ],
        }

    def _paypal_read_created_batch(self, response):
        """Return ``(batch id, batch status)`` of the batch that a payout
        request created or found, or ``(None, None)`` if PayPal rejected it.

        A 200 or 201 response contains the batch. When PayPal rejects a reused
        ``sender_batch_id``, its error links to the original batch, whose
        status is then unknown (None).

        :raise WalletProviderUnreachable: if a successful response has no batch id,
            since the payout may then exist
        """
        data = self._paypal_read_json(response)
        if response.status_code in (200, 201):
            header = data.get("batch_header") or {}
            if not header.get("payout_batch_id"):
                raise WalletProviderUnreachable(
                    "paypal: the payout was accepted but the response has no payout_batch_id"
                )
            return header["payout_batch_id"], header.get("batch_status")
        if response.status_code == 400:
            # Only the batch id is taken from the link, so that the token is
            # never sent to the host the link names.
            prefix = f"{PAYOUTS_PATH}/"
            for link in data.get("links") or []:
                path = urlsplit(str(link.get("href") or "")).path
                if path.startswith(prefix) and path[len(prefix):] and "/" not in path[len(prefix):]:
                    return path[len(prefix):], None
        return None, None

    def _paypal_get_batch_status(self, payment, batch_id, token=None):
        """Read the batch ``batch_id`` and the item of ``payment`` in it.

        :return: the status dictionary of the payout, or None when the batch
            belongs to another attempt of the payment
        :raise WalletProviderUnreachable: if PayPal did not return the batch
        """
        path = f"{PAYOUTS_PATH}/{quote(batch_id, safe='')}"
        response = self._paypal_request("GET", path, token=token)
        if response.status_code != 200:
            raise WalletProviderUnreachable(
                "paypal: reading batch %s failed: %s"
                % (batch_id, self._paypal_get_error_message(response))
            )
        data = self._paypal_read_json(response)
        header = data.get("batch_header") or {}
        key = payment.idempotency_key
        if (header.get("sender_batch_header") or {}).get("sender_batch_id") != key:
            return None
        items = [
            item
            for item in data.get("items") or []
            if (item.get("payout_item") or {}).get("sender_item_id") == key
        ]
        if not items:
            if header.get("batch_status") == "DENIED":
                return self._paypal_denied(batch_id)
            return self._paypal_pending(batch_id)
        item = items[0]
        transaction_status = item.get("transaction_status") or "PENDING"
        result = {
            "status": self._paypal_map_item_status(transaction_status, payment),
            "provider_reference": batch_id,
            "message": self._paypal_describe_item(transaction_status, item.get("errors")),
        }
        if result["status"] == "paid":
            result["fee"] = self._paypal_read_fee(item, payment)
        return result

    def _paypal_post_payout(self, payment, token):
        """Post the payout batch of ``payment`` under its idempotency key.

        :return: the response, and the batch id and status it names, if any
        :rtype: tuple
        """
        response = self._paypal_request(
            "POST",
            PAYOUTS_PATH,
            json_payload=self._paypal_prepare_payout_payload(payment),
            request_id=payment.idempotency_key,
            token=token,
        )
        batch_id, batch_status = self._paypal_read_created_batch(response)
        return response, batch_id, batch_status

    def _paypal_repeat_payout_request(self, payment, token=None):
        """Ask PayPal what became of the payout request of ``payment`` by
        sending it again under the same keys, and read the batch it names.

        :raise WalletProviderUnreachable: if the outcome is still unknown
        """
        sent_at = payment.sent_at
        if not sent_at or fields.Datetime.now() - sent_at > REPLAY_WINDOW:
            raise WalletProviderUnreachable(
                "paypal: the payout was sent more than %s days ago, too long for PayPal to "
                "recognise its keys; look for sender_batch_id %s in the PayPal account"
                % (REPLAY_WINDOW.days, payment.idempotency_key)
            )
        response, batch_id, batch_status = self._paypal_post_payout(payment, token)
        if batch_status == "DENIED":
            return self._paypal_denied(batch_id)
        if batch_id:
            try:
                result = self._paypal_get_batch_status(payment, batch_id, token)
                return result or self._paypal_pending(batch_id)
            except WalletProviderUnreachable:
                # The batch exists: keep its id, the next query reads its item.
                return self._paypal_pending(batch_id)
        if self._paypal_read_json(response).get("name") in CONTENT_ERRORS:
            # PayPal judged the request itself: no payout exists under this key.
            return {
                "status": "failed",
                "provider_reference": None,
                "message": self._paypal_get_error_message(response),
            }
        raise WalletProviderUnreachable(
            "paypal: the payout could not be looked up: %s"
            % self._paypal_get_error_message(response)
        )

    def _paypal_get_certificate(self, url):
        """Return the signing certificate at ``url``, or None if it is not
        trusted, cannot be downloaded or is not valid now."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        on_paypal = parts.scheme == "https" and (
            host == "paypal.com" or host.endswith(".paypal.com")
        )
        base = urlsplit(self.api_base_url or "")
        on_base = bool(base.netloc) and (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        if not (on_paypal or on_base) or not parts.path.startswith(CERTIFICATES_PATH):
            _logger.warning("paypal provider %s: untrusted certificate URL %s", self.id, url)
            return None
        with _certificate_cache_lock:
            certificate = _certificate_cache.get(url)
        if certificate is None:
            certificate = self._paypal_download_certificate(url)
            if certificate is None:
                return None
            with _certificate_cache_lock:
                if len(_certificate_cache) >= MAX_CACHED_CERTIFICATES:
                    _certificate_cache.clear()
                _certificate_cache[url] = certificate
        now = fields.Datetime.now()
        if not certificate.not_valid_before <= now <= certificate.not_valid_after:
            _logger.warning("paypal provider %s: certificate %s is not valid now", self.id, url)
            return None
        if on_paypal:
            names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if not names or not names[0].value.lower().endswith(".paypal.com"):
                _logger.warning("paypal provider %s: certificate %s is not PayPal's", self.id, url)
                return None
        return certificate

    def _paypal_download_certificate(self, url):
        try:
            response = self._send_api_request("GET", url, timeout=CERTIFICATE_TIMEOUT)
        except WalletProviderUnreachable as error:
            _logger.warning("paypal provider %s: certificate download failed: %s", self.id, error)
            return None
        if response.status_code != 200:
            _logger.warning(
                "paypal provider %s: certificate download returned HTTP %s",
                self.id,
                response.status_code,
            )
            return None
        try:
            return x509.load_pem_x509_certificate(response.content)
        except ValueError:
            _logger.warning("paypal provider %s: %s is not a PEM certificate", self.id, url)
            return None

    # === HELPERS === #

    @api.model
    def _paypal_read_json(self, response):
        """Return the JSON object of a response, or an empty dict."""
        try:
            data = response.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @api.model
    def _paypal_pending(self, batch_id):
        return {"status": "pending", "provider_reference": batch_id, "message": ""}

    @api.model
    def _paypal_denied(self, batch_id):
        return {
            "status": "failed",
            "provider_reference": batch_id,
            "message": "PayPal: " + _("PayPal denied the payout batch, so nothing was paid."),
        }

    def _paypal_find_payment(self, key):
        """Return the payment of this provider whose current key is ``key``."""
        if not key:
            return self.env["wallet.payment"]
        return self.env["wallet.payment"].sudo().search(
            [("provider_id", "=", self.id), ("idempotency_key", "=", key)], limit=1
        )

    @api.model
    def _paypal_map_item_status(self, transaction_status, payment):
        """Translate an item's ``transaction_status`` into a payment status."""
        if transaction_status in PAID_ITEM_STATUSES:
            return "paid"
        if transaction_status in FAILED_ITEM_STATUSES:
            return "failed"
        if transaction_status in RETURNED_ITEM_STATUSES:
            return "returned" if payment.state == "paid" else "failed"
        if transaction_status not in PENDING_ITEM_STATUSES:
            _logger.warning("paypal: unknown item status %s taken as pending", transaction_status)
        return "pending"

    @api.model
    def _paypal_read_item_resource(self, resource):
        """Return ``(key, batch id, amount)`` of a payout item resource."""
        item = resource.get("payout_item")
        if not isinstance(item, dict) or not item.get("sender_item_id"):
            raise ValueError("missing resource.payout_item.sender_item_id")
        batch_id = str(resource.get("payout_batch_id") or "")
        return str(item["sender_item_id"]), batch_id, item.get("amount")

    @api.model
    def _paypal_read_batch_resource(self, resource):
        """Return ``(key, batch id, amount)`` of a payout batch resource."""
        header = resource.get("batch_header")
        if not isinstance(header, dict):
            raise ValueError("missing resource.batch_header")
        sender_header = header.get("sender_batch_header")
        if not isinstance(sender_header, dict) or not sender_header.get("sender_batch_id"):
            raise ValueError("missing resource.batch_header.sender_batch_header.sender_batch_id")
        return (
            str(sender_header["sender_batch_id"]),
            str(header.get("payout_batch_id") or ""),
            header.get("amount"),
        )

    @api.model
    def _paypal_read_fee(self, item, payment):
        """Return the fee of a paid payout item, or None.

        NOTE: PayPal's schema calls ``payout_item_fee`` a fee in U.S. dollars
        while its examples give it in the item's currency, so a fee in another
        currency than the payment's is left out.
        """
        fee = item.get("payout_item_fee")
        if not isinstance(fee, dict) or fee.get("currency") != payment.currency_id.name:
            return None
        try:
            return float(fee["value"])
        except (KeyError, TypeError, ValueError):
            return None

    @api.model
    def _paypal_read_amount(self, amount):
        """Return ``(value, currency)`` of a PayPal money object, if any."""
        if amount is None:
            return None, ""
        if not isinstance(amount, dict):
            raise ValueError("amount is not an object")
        value = amount.get("value")
        if value is None:
            return None, str(amount.get("currency") or "")
        if not isinstance(value, (str, int, float)):
            raise ValueError("amount.value is not a number")
        return float(value), str(amount.get("currency") or "")

    @api.model
    def _paypal_describe_item(self, transaction_status, errors):
        """Return the message of an item that is not simply paid or pending."""
        name = errors.get("name") if isinstance(errors, dict) else None
        reason = ""
        if name:
            reason = self._paypal_describe_error(name, str(errors.get("message") or ""))
        elif transaction_status == "UNCLAIMED":
            reason = self._paypal_describe_error("RECEIVER_UNREGISTERED", "")
        if transaction_status in RETURNED_ITEM_STATUSES:
            returned = "PayPal: " + _(
                "The payout came back to the PayPal balance (status %(status)s).",
                status=transaction_status,
            )
            return f"{returned} {reason}" if reason else returned
        if transaction_status in FAILED_ITEM_STATUSES and not reason:
            return "PayPal: " + _(
                "The payout failed (status %(status)s).", status=transaction_status
            )
        return "" if transaction_status in PAID_ITEM_STATUSES else reason

    @api.model
    def _paypal_get_error_message(self, response):
        """Return a readable message for an error response of PayPal."""
        data = self._paypal_read_json(response)
        # The token endpoint returns OAuth 2.0 errors, the REST APIs a named error.
        name = data.get("name") or data.get("error") or f"HTTP {response.status_code}"
        message = data.get("message") or data.get("error_description") or ""
        if response.status_code == 401 and name not in ("invalid_client",):
            name = "AUTHENTICATION_FAILURE"
        details = [
            ": ".join(str(detail.get(key)) for key in ("field", "issue") if detail.get(key))
            for detail in data.get("details") or []
            if isinstance(detail, dict)
        ]
        if details:
            message = f"{message} ({'; '.join(details)})" if message else "; ".join(details)
        return self._paypal_describe_error(name, message)

    @api.model
    def _paypal_describe_error(self, name, message):
        """Return a translated message for PayPal's error ``name``."""
        texts = {
            "INSUFFICIENT_FUNDS": _(
                "There are not enough funds in the PayPal balance for this payout. Add "
                "funds, then retry the payment."
            ),
            "SPENDING_LIMIT_EXCEEDED": _(
                "The payout exceeds the sending limit of the PayPal account. Ask PayPal to "
                "raise the limit, or pay a smaller amount."
            ),
            "RECEIVING_LIMIT_EXCEEDED": _(
                "The payee's PayPal account cannot receive this amount: it exceeds the "
                "payee's receiving limit."
            ),
            "RECEIVER_UNREGISTERED": _(
                "The payee has no PayPal account yet. PayPal sent them a link to claim the "
                "payout, and returns the money after 30 days if they do not."
            ),
            "RECEIVER_UNCONFIRMED": _(
                "The payee's PayPal account is not confirmed, so the payout waits until "
                "they confirm it."
            ),
            "RECEIVER_ACCOUNT_LOCKED": _(
                "The payee's PayPal account is locked, so PayPal returned the money. Ask "
                "the vendor for another PayPal account."
            ),
            "RECEIVER_COUNTRY_NOT_ALLOWED": _(
                "PayPal does not allow payouts to the payee's country."
            ),
            "USER_COUNTRY_NOT_ALLOWED": _(
                "PayPal does not allow payouts from the country of this PayPal account."
            ),
            "USER_FUNDING_SOURCE_INELIGIBLE": _(
                "The funding source of the PayPal account cannot pay payouts. Pay from the "
                "PayPal balance."
            ),
            "SELF_PAY_NOT_ALLOWED": _("The payee is this wallet's own PayPal account."),
            "SENDER_ACCOUNT_LOCKED": _(
                "This wallet's PayPal account is locked or inactive. Contact PayPal."
            ),
            "SENDER_ACCOUNT_UNVERIFIED": _(
                "This wallet's PayPal account is not verified, so it cannot send payouts."
            ),
            "RISK_DECLINE": _("PayPal declined the payout for risk reasons."),
            "REQUIRED_SCOPE_MISSING": _(
                "The PayPal app is not allowed to do this. Ask PayPal to grant the app "
                "Payouts access (and balance reading, for balances)."
            ),
            "RATE_LIMIT_VALIDATION_FAILURES": _(
                "PayPal received too many requests. Retry the payment in a few minutes."
            ),
            "AUTHENTICATION_FAILURE": _(
                "PayPal rejected the access token as expired or revoked, and no new "
                "token was accepted. Check the client ID and secret of the wallet."
            ),
            "invalid_client": _(
                "PayPal rejected the client ID or secret of the wallet. Enter valid "
                "credentials of the PayPal REST app."
            ),
            "DUPLICATE_ITEM": _("The payout contains the same item twice."),
        }
        if name == "VALIDATION_ERROR":
            text = _("PayPal rejected the payout as invalid: %(details)s", details=message)
        else:
            text = texts.get(name) or _(
                "PayPal rejected the request (%(name)s): %(message)s", name=name, message=message
            )
        return f"PayPal: {text}"
