"""A fake YooKassa Payouts API for one payout gateway.

It checks basic authentication, requires the Idempotence-Key header on POST
and answers a repeated key with the first answer (or an error when the body
differs), keeps payouts with their statuses and the gateway's payout balance,
cancels payouts with the documented cancellation_details, and queues the
payout.succeeded / payout.canceled notifications until a test delivers them.
"""

import base64
import copy
import json
import re
import threading
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from .base import FakeProviderServer, FakeResponse

VALUE_PATTERN = re.compile(r"^\d+\.\d{2}$")
WALLET_PATTERN = re.compile(r"^\d{11,33}$")
WALLET_CAPS = {"anonymous": Decimal("15000"), "named": Decimal("60000"), "identified": Decimal("500000")}
MONTHLY_CAP = Decimal("600000")
MIN_PAYOUT = Decimal("1.00")


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeYooKassa(FakeProviderServer):
    """Serve POST /v3/payouts, GET /v3/payouts/{id}, GET /v3/payouts/search
    and GET /v3/me of one gateway."""

    def __init__(self, shop_id="506751", secret_key="test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0", balance="100000.00"):
        super().__init__()
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.key_revoked = False
        self.balance = Decimal(balance)
        self.settle_at_once = False
        self.payouts = {}
        self.idempotence = {}
        self.reserved = set()
        self.wallets = {}
        self.notifications = []
        self.request_lock = threading.Lock()
        self.route("POST", "/v3/payouts", self._guarded(self._create_payout))
        self.route("GET", "/v3/payouts/search", self._guarded(self._search_payouts))
        self.route("GET", "/v3/payouts/", self._guarded(self._get_payout))
        self.route("GET", "/v3/me", self._guarded(self._me))

    # === TEST SET-UP === #

    def add_wallet(self, number, status="identified", balance="0.00"):
        self.wallets[number] = {"status": status, "balance": Decimal(balance), "month": Decimal(0)}

    def payouts_with_key(self, key):
        return [p for p in self.payouts.values() if p["metadata"].get("idempotency_key") == key]

    def settle(self, payout_id, status="succeeded", reason=None):
        """Finish a pending payout and queue its notification."""
        with self.request_lock:
            payout = self.payouts[payout_id]
            self._finish(payout, status, reason)

    # === NOTIFICATIONS === #

    def queue_notification(self, payout, event=None):
        self.notifications.append(
            {"type": "notification", "event": event or f"payout.{payout['status']}", "object": copy.deepcopy(payout)}
        )

    def deliver_notifications(self, url):
        """Post every queued notification to ``url``, as YooKassa does.

        :return: the webhook's responses
        """
        sent, self.notifications = self.notifications, []
        return [
            self.deliver(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
            for body in sent
        ]

    # === PROTOCOL === #

    def _error(self, status, code, description, parameter=None):
        body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
        if parameter:
            body["parameter"] = parameter
        return FakeResponse(status, body)

    def _guarded(self, handler):
        def handle(request):
            header = request.headers.get("Authorization") or ""
            expected = base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
            if header != f"Basic {expected}" or self.key_revoked:
                return self._error(401, "invalid_credentials", "Authentication by given credentials failed")
            with self.request_lock:
                return handler(request)

        return handle

    def _create_payout(self, request):
        key = request.headers.get("Idempotence-Key") or ""
        if not key or len(key) > 64:
            return self._error(400, "invalid_request", "Idempotence key is missing or too long", "Idempotence-Key")
        if not (request.headers.get("Content-Type") or "").startswith("application/json"):
            return FakeResponse(415, {"type": "error", "code": "invalid_request"})
        if key in self.idempotence:
            body, response = self.idempotence[key]
            if body != request.body:
                return self._error(
                    400, "invalid_request", "Idempotence key duplicated with another request", "Idempotence-Key"
                )
            return response
        response = self._validate_and_create(request)
        if response.status == 200:
            self.idempotence[key] = (request.body, response)
        return response

    def _validate_and_create(self, request):
        try:
            data = request.json()
        except ValueError:
            return self._error(400, "invalid_request", "Body is not JSON")
        amount = data.get("amount") or {}
        if not isinstance(amount.get("value"), str) or not VALUE_PATTERN.match(amount["value"]):
            return self._error(400, "invalid_request", "Invalid amount value", "amount.value")
        if amount.get("currency") != "RUB":
            return self._error(400, "invalid_request", "Invalid currency", "amount.currency")
        if Decimal(amount["value"]) < MIN_PAYOUT:
            return self._error(400, "invalid_request", "Amount is below the minimum", "amount.value")
        destination = data.get("payout_destination_data") or {}
        if destination.get("type") != "yoo_money":
            return self._error(400, "invalid_request", "Unsupported payout method", "payout_destination_data.type")
        number = destination.get("account_number")
        if not isinstance(number, str) or not WALLET_PATTERN.match(number):
            return self._error(
                400, "invalid_request", "Invalid wallet number", "payout_destination_data.account_number"
            )
        metadata = data.get("metadata") or {}
        if len(metadata) > 16 or any(len(k) > 32 or len(str(v)) > 512 for k, v in metadata.items()):
            return self._error(400, "invalid_request", "Invalid metadata", "metadata")
        if len(data.get("description") or "") > 128:
            return self._error(400, "invalid_request", "Description is too long", "description")
        payout = {
            "id": f"po-{uuid.uuid4()}",
            "amount": {"value": amount["value"], "currency": "RUB"},
            "status": "pending",
            "payout_destination": {"type": "yoo_money", "account_number": number},
            "description": data.get("description") or "",
            "created_at": now_iso(),
            "metadata": metadata,
            "test": self.secret_key.startswith("test_"),
        }
        self.payouts[payout["id"]] = payout
        value = Decimal(amount["value"])
        wallet = self.wallets.get(number)
        if value > self.balance:
            self._finish(payout, "canceled", "insufficient_funds", notify=False)
        elif wallet is None:
            self._finish(payout, "canceled", "recipient_not_found", notify=False)
        elif wallet["balance"] + value > WALLET_CAPS[wallet["status"]]:
            self._finish(payout, "canceled", "one_time_limit_exceeded", notify=False)
        elif wallet["month"] + value > MONTHLY_CAP:
            self._finish(payout, "canceled", "periodic_limit_exceeded", notify=False)
        else:
            # The money is reserved from the balance while the payout is pending.
            self.balance -= value
            self.reserved.add(payout["id"])
            if self.settle_at_once:
                self._finish(payout, "succeeded", notify=False)
        return FakeResponse(200, copy.deepcopy(payout))

    def _finish(self, payout, status, reason=None, notify=True):
        value = Decimal(payout["amount"]["value"])
        payout["status"] = status
        if status == "succeeded":
            payout["succeeded_at"] = now_iso()
            wallet = self.wallets[payout["payout_destination"]["account_number"]]
            wallet["balance"] += value
            wallet["month"] += value
        else:
            payout["cancellation_details"] = {"party": "yoo_money", "reason": reason or "general_decline"}
            if payout["id"] in self.reserved:
                self.balance += value
        self.reserved.discard(payout["id"])
        if notify:
            self.queue_notification(payout)

    def _get_payout(self, request):
        payout = self.payouts.get(request.path.rsplit("/", 1)[-1])
        if not payout:
            return self._error(404, "not_found", "Payout not found")
        return FakeResponse(200, copy.deepcopy(payout))

    def _search_payouts(self, request):
        pairs = {
            name[len("metadata["):-1]: value
            for name, value in request.query.items()
            if name.startswith("metadata[") and name.endswith("]")
        }
        if len(pairs) != 1:
            return self._error(400, "invalid_request", "Give exactly one metadata pair", "metadata")
        (name, value), = pairs.items()
        items = [copy.deepcopy(p) for p in self.payouts.values() if p["metadata"].get(name) == value]
        return FakeResponse(200, {"type": "list", "items": items})

    def _me(self, request):
        return FakeResponse(
            200,
            {
                "account_id": self.shop_id,
                "status": "enabled",
                "test": self.secret_key.startswith("test_"),
                "payout_methods": ["yoo_money"],
                "payout_balance": {"value": f"{self.balance:.2f}", "currency": "RUB"},
            },
        )
