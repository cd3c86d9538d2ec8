"""A fake PayPal REST API for the PayPal Payouts rail's tests.

It follows the digest of PayPal's Payouts, OAuth 2.0, balances and webhook
protocols: client-credential tokens that expire, batch payouts deduplicated by
``PayPal-Request-Id`` and ``sender_batch_id``, item statuses that change when
the test calls :meth:`FakePayPal.process`, and webhook notifications signed
with SHA256withRSA by a self-signed certificate that it serves itself.

Notifications are queued and only posted when the test calls
:meth:`FakePayPal.deliver_notifications`, because the dispatcher keeps the test
cursor locked while it calls the fake.
"""

import base64
import json
import re
import secrets
import socket
import string
import time
import uuid
import zlib
from collections import deque
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .base import FakeProviderServer, FakeRequest, FakeResponse

PAYOUTS_SCOPE = "https://uri.paypal.com/payments/payouts"
BALANCES_SCOPE = "https://uri.paypal.com/services/reporting/balances/read"
WEBHOOKS_SCOPE = "https://uri.paypal.com/services/applications/webhooks"
ERRORS_LINK = "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors"
ZERO_DECIMAL_CURRENCIES = {"HUF", "JPY", "TWD"}
PAYPAL_ID_PATTERN = re.compile(r"^[A-Z0-9]{13}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
ID_ALPHABET = string.ascii_uppercase + string.digits
CERTIFICATE_COMMON_NAME = "messageverificationcerts.fake-paypal.test"


def _new_id(length=13):
    return "".join(secrets.choice(ID_ALPHABET) for _index in range(length))


def _now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_certificate(private_key):
    """Return a self-signed PEM certificate of ``private_key``, valid for a year."""
    common_name = x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_COMMON_NAME)
    name = x509.Name([common_name])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


class FakePayPal(FakeProviderServer):
    """PayPal's REST API for one business account.

    Outcomes of payout items follow ``receiver_outcomes`` ({receiver: outcome}),
    applied by :meth:`process`. An outcome is ``SUCCESS`` (the default),
    ``UNCLAIMED`` (no PayPal account), ``ONHOLD``, ``BLOCKED``, or
    ``FAILED:<error name>``. Receivers in ``invalid_receivers`` are rejected at
    once with a ``VALIDATION_ERROR``.

    ``funds_check`` decides when a low balance shows: ``"request"`` rejects the
    payout request with ``INSUFFICIENT_FUNDS`` (HTTP 422); ``"item"`` accepts it
    and fails the item when it is processed.
    """

    def __init__(self, currency="USD", balance="10000.00"):
        super().__init__()
        self.client_id = f"fake-client-{uuid.uuid4().hex[:8]}"
        self.client_secret = f"fake-secret-{secrets.token_hex(12)}"
        self.webhook_id = _new_id(17)
        self.token_lifetime = 32400  # seconds, PayPal's usual expires_in
        self.token_scopes = [PAYOUTS_SCOPE, BALANCES_SCOPE, WEBHOOKS_SCOPE]
        self.tokens = {}  # access token -> expiry (time.time())
        self.balances = {currency: Decimal(balance)}
        self.item_fee = Decimal("0.25")
        self.funds_check = "request"
        self.receiver_outcomes = {}
        self.invalid_receivers = set()
        self.batches = {}  # payout_batch_id -> batch
        self.items = {}  # payout_item_id -> item
        self.batch_by_sender_id = {}
        self.batch_by_request_id = {}
        self.webhooks = {}
        self.outbox = []  # notification bodies waiting for delivery
        self.delivered = []  # (body, response) of every delivery
        self.after_faults = deque()
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate_pem = make_certificate(self.private_key)
        self.certificate_name = f"CERT-360caa42-fca2a594-{uuid.uuid4().hex[:8]}"
        self.route("POST", "/v1/oauth2/token", self._token)
        self.route("POST", "/v1/payments/payouts", self._create_payout)
        self.route("GET", "/v1/payments/payouts/", self._show_batch)
        self.route("GET", "/v1/payments/payouts-item/", self._show_item)
        self.route("POST", "/v1/payments/payouts-item/", self._cancel_item)
        self.route("GET", "/v1/reporting/balances", self._show_balances)
        self.route("POST", "/v1/notifications/webhooks", self._create_webhook)
        self.route("GET", "/v1/notifications/certs/", self._show_certificate)

    # === TEST CONTROLS === #

    @property
    def certificate_url(self):
        return f"{self.url}/v1/notifications/certs/{self.certificate_name}"

    def inject_after(self, kind, path, status=500):
        """Queue a fault that lets the next request to ``path`` be applied,
        then loses its response: ``"reset"`` closes the connection, and
        ``"status"`` returns ``status`` (a 5xx) instead of the real response."""
        with self.lock:
            self.after_faults.append({"kind": kind, "path": path, "status": status})

    def expire_tokens(self):
        """Make every issued access token expired, as time passing would."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = time.time() - 1

    def payout_requests(self):
        return self.requests_to("/v1/payments/payouts")

    def token_requests(self):
        return self.requests_to("/v1/oauth2/token")

    def batches_for(self, sender_batch_id):
        with self.lock:
            return [b for b in self.batches.values() if b["sender_batch_id"] == sender_batch_id]

    def item_of(self, sender_batch_id):
        """Return the only item of the batch with ``sender_batch_id``."""
        (batch,) = self.batches_for(sender_batch_id)
        (item,) = [self.items[item_id] for item_id in batch["item_ids"]]
        return item

    def process(self):
        """Settle every pending item as ``receiver_outcomes`` sets and queue
        the batch and item notifications."""
        with self.lock:
            for batch in self.batches.values():
                if batch["status"] not in ("PENDING", "PROCESSING"):
                    continue
                for item_id in batch["item_ids"]:
                    self._settle_item(self.items[item_id])
                batch["status"] = "SUCCESS"
                batch["time_completed"] = _now_text()
                self._queue_event(
                    "PAYMENT.PAYOUTSBATCH.SUCCESS",
                    "payouts",
                    self._batch_resource(batch, with_items=False),
                    "Payouts batch completed successfully.",
                )

    def return_item(self, item_id, status="RETURNED"):
        """Give an item's money back to the sender: ``RETURNED`` for an
        unclaimed item after 30 days, ``REFUNDED`` when the payee refunds it."""
        event_types = {
            "RETURNED": "PAYMENT.PAYOUTS-ITEM.RETURNED",
            "REFUNDED": "PAYMENT.PAYOUTS-ITEM.REFUNDED",
        }
        with self.lock:
            item = self.items[item_id]
            item["status"] = status
            self._credit(item["currency"], item["amount"])
            self._queue_item_event(event_types[status], item)

    def sign(self, body, webhook_id=None, transmission_id=None, transmission_time=None):
        """Return the headers PayPal sends with the notification ``body``."""
        transmission_id = transmission_id or str(uuid.uuid1())
        transmission_time = transmission_time or _now_text()
        checksum = zlib.crc32(body) & 0xFFFFFFFF
        webhook_id = webhook_id or self.webhook_id
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|{checksum}"
        signature = self.private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-CERT-URL": self.certificate_url,
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    def deliver_notifications(self, url, reverse=False):
        """Post the queued notifications to ``url``, each with a fresh
        transmission id and signature, and keep them for redelivery.

        :param bool reverse: deliver the newest first, as late retries do
        :return: the responses, in delivery order
        """
        with self.lock:
            bodies, self.outbox = list(self.outbox), []
        if reverse:
            bodies.reverse()
        return [self.redeliver(url, body) for body in bodies]

    def redeliver(self, url, body):
        """Post ``body`` again, as PayPal's retries of an event do."""
        response = self.deliver(url, body, self.sign(body))
        with self.lock:
            self.delivered.append((body, response))
        return response

    # === ENDPOINTS === #

    def _token(self, request):
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            # The token endpoint returns OAuth 2.0 errors, not named REST errors.
            body = {"error": "invalid_client", "error_description": "Client Authentication failed"}
            return FakeResponse(401, body)
        content_type = request.headers.get("Content-Type") or ""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return self._error(415, "UNSUPPORTED_MEDIA_TYPE", "The payload is not supported.")
        if request.form().get("grant_type") != "client_credentials":
            return FakeResponse(
                400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
            )
        token = f"A21AA{secrets.token_urlsafe(48)}"
        with self.lock:
            self.tokens[token] = time.time() + self.token_lifetime
        return FakeResponse(
            200,
            {
                "scope": " ".join(self.token_scopes),
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime,
                "nonce": f"{_now_text()}{secrets.token_hex(8)}",
            },
        )

    def _create_payout(self, request):
        denied = self._check_token(request, PAYOUTS_SCOPE)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError:
            return self._error(400, "MALFORMED_REQUEST", "The request body is not JSON.")
        request_id = request.headers.get("PayPal-Request-Id")
        with self.lock:
            if request_id and request_id in self.batch_by_request_id:
                # The latest status of the request made with this id.
                batch = self.batches[self.batch_by_request_id[request_id]]
                return FakeResponse(201, self._batch_resource(batch, with_items=False))
            problem = self._validate_payout(body)
            if problem:
                return problem
            header = body["sender_batch_header"]
            existing = self.batch_by_sender_id.get(header["sender_batch_id"])
            if existing:
                return self._error(
                    400,
                    "USER_BUSINESS_ERROR",
                    f"Batch with given sender_batch_id {header['sender_batch_id']} already exists",
                    details=[{"field": "sender_batch_id", "issue": "SENDER_BATCH_ID_ALREADY_USED"}],
                    links=[self._link(self._batch_href(self.batches[existing]), "self")],
                )
            return self._book_batch(body, request_id)

    def _show_batch(self, request):
        denied = self._check_token(request, PAYOUTS_SCOPE)
        if denied:
            return denied
        batch_id = request.path.rsplit("/", 1)[-1]
        with self.lock:
            batch = self.batches.get(batch_id)
            if not batch:
                return self._not_found()
            with_items = request.query.get("fields") != "batch_header"
            return FakeResponse(200, self._batch_resource(batch, with_items=with_items))

    def _show_item(self, request):
        denied = self._check_token(request, PAYOUTS_SCOPE)
        if denied:
            return denied
        with self.lock:
            item = self.items.get(request.path.rsplit("/", 1)[-1])
            if not item:
                return self._not_found()
            return FakeResponse(200, self._item_resource(item))

    def _cancel_item(self, request):
        denied = self._check_token(request, PAYOUTS_SCOPE)
        if denied:
            return denied
        parts = request.path.rstrip("/").split("/")
        if parts[-1] != "cancel":
            return FakeResponse(404, {"name": "NOT_FOUND"})
        with self.lock:
            item = self.items.get(parts[-2])
            if not item:
                return self._not_found()
            if item.get("cancelled"):
                return self._error(400, "ITEM_ALREADY_CANCELLED", "Item is already cancelled.")
            if item["status"] != "UNCLAIMED":
                return self._error(400, "ITEM_INCORRECT_STATUS", "Only unclaimed items cancel.")
            item.update(status="RETURNED", cancelled=True)
            self._credit(item["currency"], item["amount"])
            self._queue_item_event("PAYMENT.PAYOUTS-ITEM.CANCELED", item)
            return FakeResponse(200, self._item_resource(item))

    def _show_balances(self, request):
        denied = self._check_token(request, BALANCES_SCOPE)
        if denied:
            return denied
        wanted = request.query.get("currency_code")
        with self.lock:
            balances = [
                {
                    "currency": currency,
                    "primary": index == 0,
                    "total_balance": {"currency_code": currency, "value": f"{amount:.2f}"},
                    "available_balance": {"currency_code": currency, "value": f"{amount:.2f}"},
                    "withheld_balance": {"currency_code": currency, "value": "0.00"},
                }
                for index, (currency, amount) in enumerate(self.balances.items())
                if not wanted or currency == wanted
            ]
        return FakeResponse(
            200,
            {
                "balances": balances,
                "account_id": "FAKEACCOUNT01",
                "as_of_time": _now_text(),
                "last_refresh_time": _now_text(),
            },
        )

    def _create_webhook(self, request):
        denied = self._check_token(request, WEBHOOKS_SCOPE)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError:
            return self._error(400, "MALFORMED_REQUEST", "The request body is not JSON.")
        event_types = body.get("event_types") if isinstance(body, dict) else None
        if not body.get("url") or not event_types or not all(e.get("name") for e in event_types):
            return self._invalid("url", "MISSING_REQUIRED_PARAMETER")
        webhook_id = _new_id(17)
        with self.lock:
            self.webhooks[webhook_id] = body
            self.webhook_id = webhook_id
        return FakeResponse(
            201, {"id": webhook_id, "url": body["url"], "event_types": event_types, "links": []}
        )

    def _show_certificate(self, request):
        if request.path.rsplit("/", 1)[-1] != self.certificate_name:
            return self._not_found()
        return FakeResponse(200, self.certificate_pem, content_type="application/x-pem-file")

    # === PAYOUTS === #

    def _validate_payout(self, body):
        """Return the error response for an invalid payout request, or None."""
        header = body.get("sender_batch_header") if isinstance(body, dict) else None
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(header, dict) or not isinstance(items, list):
            return self._invalid("sender_batch_header", "MISSING_REQUIRED_PARAMETER")
        batch_id = header.get("sender_batch_id")
        if not isinstance(batch_id, str) or not 0 < len(batch_id) <= 256:
            return self._invalid("sender_batch_header.sender_batch_id", "INVALID_PARAMETER_SYNTAX")
        if not 0 < len(items) <= 15000:
            return self._invalid("items", "INVALID_ARRAY_MAX_ITEMS")
        seen = set()
        for index, item in enumerate(items):
            field = f"items[{index}]"
            recipient_type = item.get("recipient_type") or header.get("recipient_type")
            receiver = item.get("receiver")
            if recipient_type not in ("EMAIL", "PHONE", "PAYPAL_ID"):
                return self._invalid(f"{field}.recipient_type", "INVALID_PARAMETER_VALUE")
            pattern = EMAIL_PATTERN if recipient_type == "EMAIL" else PAYPAL_ID_PATTERN
            if (
                not isinstance(receiver, str)
                or len(receiver) > 127
                or not pattern.match(receiver)
                or receiver in self.invalid_receivers
            ):
                return self._invalid(
                    f"{field}.receiver", "Receiver is invalid or does not match with type"
                )
            if not self._parse_amount(item.get("amount")):
                return self._invalid(f"{field}.amount", "INVALID_PARAMETER_VALUE")
            sender_item_id = item.get("sender_item_id") or ""
            if len(sender_item_id) > 63:
                return self._invalid(f"{field}.sender_item_id", "INVALID_STRING_LENGTH")
            if sender_item_id and sender_item_id in seen:
                return self._error(400, "DUPLICATE_ITEM", "Duplicate sender_item_id in the batch.")
            seen.add(sender_item_id)
        return None

    def _parse_amount(self, amount):
        """Return ``(value, currency)`` of a valid money object, else None."""
        if not isinstance(amount, dict) or not isinstance(amount.get("value"), str):
            return None
        currency = amount.get("currency")
        if currency not in self.balances:
            return None
        decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
        pattern = r"\d+(\.\d{1,%d})?" % decimals if decimals else r"\d+"
        if not re.fullmatch(pattern, amount["value"]):
            return None
        try:
            value = Decimal(amount["value"])
        except InvalidOperation:
            return None
        return (value, currency) if value > 0 else None

    def _book_batch(self, body, request_id):
        header = body["sender_batch_header"]
        parsed = [self._parse_amount(item["amount"]) for item in body["items"]]
        currency = parsed[0][1]
        total = sum(value + self.item_fee for value, _currency in parsed)
        funded = self.balances[currency] >= total
        if not funded and self.funds_check == "request":
            return self._error(
                422,
                "INSUFFICIENT_FUNDS",
                "Sender does not have sufficient funds. Please add funds and retry.",
            )
        batch = {
            "payout_batch_id": _new_id(),
            "sender_batch_id": header["sender_batch_id"],
            "sender_batch_header": dict(header),
            "status": "PENDING",
            "time_created": _now_text(),
            "time_completed": None,
            "currency": currency,
            "item_ids": [],
        }
        for item, (value, _currency) in zip(body["items"], parsed):
            recipient_type = item.get("recipient_type") or header.get("recipient_type")
            item_id = _new_id()
            self.items[item_id] = {
                "payout_item_id": item_id,
                "payout_batch_id": batch["payout_batch_id"],
                "sender_batch_id": batch["sender_batch_id"],
                "request": dict(item, recipient_type=recipient_type),
                "amount": value,
                "currency": currency,
                "status": "PENDING",
                "funded": funded,
                "errors": None,
                "transaction_id": None,
            }
            batch["item_ids"].append(item_id)
            if funded:
                self.balances[currency] -= value + self.item_fee  # Held until the item settles.
        self.batches[batch["payout_batch_id"]] = batch
        self.batch_by_sender_id[batch["sender_batch_id"]] = batch["payout_batch_id"]
        if request_id:
            self.batch_by_request_id[request_id] = batch["payout_batch_id"]
        return FakeResponse(201, self._batch_resource(batch, with_items=False))

    def _settle_item(self, item):
        if item["status"] != "PENDING":
            return
        outcome = self.receiver_outcomes.get(item["request"]["receiver"], "SUCCESS")
        if not item["funded"]:
            outcome = "FAILED:INSUFFICIENT_FUNDS"
        status, _sep, reason = outcome.partition(":")
        item["status"] = status
        if status in ("SUCCESS", "UNCLAIMED"):
            item["transaction_id"] = _new_id(17)
        if status == "UNCLAIMED":
            reason = "RECEIVER_UNREGISTERED"
        if reason:
            item["errors"] = {
                "name": reason,
                "message": reason.replace("_", " ").capitalize(),
                "information_link": ERRORS_LINK,
            }
        if status in ("FAILED", "BLOCKED") and item["funded"]:
            self._credit(item["currency"], item["amount"] + self.item_fee)
        event_types = {
            "SUCCESS": "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
            "FAILED": "PAYMENT.PAYOUTS-ITEM.FAILED",
            "UNCLAIMED": "PAYMENT.PAYOUTS-ITEM.UNCLAIMED",
            "BLOCKED": "PAYMENT.PAYOUTS-ITEM.BLOCKED",
            "ONHOLD": "PAYMENT.PAYOUTS-ITEM.HELD",
        }
        self._queue_item_event(event_types[status], item)

    def _credit(self, currency, amount):
        self.balances[currency] += amount

    def _batch_href(self, batch):
        return f"{self.url}/v1/payments/payouts/{batch['payout_batch_id']}"

    def _batch_resource(self, batch, with_items):
        items = [self.items[item_id] for item_id in batch["item_ids"]]
        total = sum(item["amount"] for item in items)
        fees = sum(self.item_fee for item in items if item["status"] not in ("FAILED", "BLOCKED"))
        header = {
            "payout_batch_id": batch["payout_batch_id"],
            "batch_status": batch["status"],
            "time_created": batch["time_created"],
            "sender_batch_header": batch["sender_batch_header"],
            "funding_source": "BALANCE",
            "amount": {"currency": batch["currency"], "value": f"{total:.2f}"},
            "fees": {"currency": batch["currency"], "value": f"{fees:.2f}"},
        }
        if batch["time_completed"]:
            header["time_completed"] = batch["time_completed"]
        resource = {"batch_header": header, "links": [self._link(self._batch_href(batch), "self")]}
        if with_items:
            resource.update(
                total_items=len(items),
                total_pages=1,
                items=[self._item_resource(item) for item in items],
            )
        return resource

    def _item_resource(self, item):
        request = item["request"]
        resource = {
            "payout_item_id": item["payout_item_id"],
            "transaction_status": item["status"],
            "payout_item_fee": {"currency": item["currency"], "value": f"{self.item_fee:.2f}"},
            "payout_batch_id": item["payout_batch_id"],
            "sender_batch_id": item["sender_batch_id"],
            "payout_item": {
                "recipient_type": request["recipient_type"],
                "amount": dict(request["amount"]),
                "note": request.get("note"),
                "receiver": request["receiver"],
                "sender_item_id": request.get("sender_item_id"),
                "recipient_wallet": request.get("recipient_wallet") or "PAYPAL",
            },
            "time_processed": _now_text(),
            "links": [
                self._link(f"{self.url}/v1/payments/payouts-item/{item['payout_item_id']}", "item")
            ],
        }
        if item["transaction_id"]:
            resource["transaction_id"] = item["transaction_id"]
        if item["errors"]:
            resource["errors"] = item["errors"]
        return resource

    # === NOTIFICATIONS === #

    @staticmethod
    def _link(href, rel):
        return {"href": href, "rel": rel, "method": "GET"}

    def _queue_item_event(self, event_type, item):
        status = item["status"].lower()
        resource = self._item_resource(item)
        self._queue_event(event_type, "payouts_item", resource, f"Payout item {status}")

    def _queue_event(self, event_type, resource_type, resource, summary):
        event = {
            "id": f"WH-{_new_id(17)}",
            "event_version": "1.0",
            "create_time": _now_text(),
            "resource_type": resource_type,
            "event_type": event_type,
            "summary": summary,
            "resource": resource,
            "links": [],
        }
        self.outbox.append(json.dumps(event, separators=(",", ":")).encode())

    # === ERRORS AND AUTHORIZATION === #

    def _check_token(self, request, scope):
        """Return the 401 or 403 response for a request without a valid token."""
        header = request.headers.get("Authorization") or ""
        with self.lock:
            token = header[len("Bearer "):] if header.startswith("Bearer ") else None
            expiry = self.tokens.get(token)
        if expiry is None or expiry <= time.time():
            # The body of every PayPal REST error; an expired token gets the same.
            return self._error(
                401,
                "AUTHENTICATION_FAILURE",
                "Authentication failed due to invalid authentication credentials or a missing "
                "Authorization header.",
            )
        if scope not in self.token_scopes:
            return self._error(
                403, "REQUIRED_SCOPE_MISSING", "Access token does not have required scope."
            )
        return None

    def _not_found(self):
        return self._error(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")

    def _invalid(self, field, issue):
        return self._error(
            400,
            "VALIDATION_ERROR",
            "Invalid request - see details.",
            details=[{"field": field, "location": "body", "issue": issue}],
        )

    def _error(self, status, name, message, details=None, links=None):
        return FakeResponse(
            status,
            {
                "name": name,
                "message": message,
                "debug_id": secrets.token_hex(7),
                "information_link": ERRORS_LINK,
                "details": details or [],
                "links": links or [],
            },
        )

    # === LOST ANSWERS === #

    def _handle(self, http_handler):
        """Apply a request and lose its response when an ``inject_after`` fault
        matches its path; otherwise serve it as usual."""
        path = urlsplit(http_handler.path).path
        with self.lock:
            fault = next((f for f in self.after_faults if f["path"] == path), None)
            if fault:
                self.after_faults.remove(fault)
        if fault is None:
            return super()._handle(http_handler)
        length = int(http_handler.headers.get("Content-Length") or 0)
        request = FakeRequest(
            http_handler.command,
            path,
            {},
            http_handler.headers,
            http_handler.rfile.read(length) if length else b"",
        )
        with self.lock:
            self.requests.append(request)
        self._dispatch(request)
        http_handler.close_connection = True
        if fault["kind"] == "reset":
            try:
                http_handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        body = json.dumps(
            {"name": "INTERNAL_SERVER_ERROR", "message": "An internal server error occurred."}
        ).encode()
        http_handler.send_response(fault["status"])
        http_handler.send_header("Content-Type", "application/json")
        http_handler.send_header("Content-Length", str(len(body)))
        http_handler.end_headers()
        http_handler.wfile.write(body)
        return None
