"""A fake QIWI Wallet API for the QIWI rail's tests.

:class:`FakeQiwi` plays the personal wallet API of edge.qiwi.com as QIWI
documented it before the service closed in 2024: transfers to another wallet
(provider 99) under the client's payment id, the payment history, balances and
wallet webhooks. It checks the Bearer token and the JSON headers, pays each
client payment id at most once, answers with the documented error codes, and
signs its webhook notifications with the hook's Base64 key.

Payments are accepted as WAITING; :meth:`FakeQiwi.settle` decides them, and
webhook notifications are queued until a test posts them with
:meth:`FakeQiwi.deliver_notifications`, since the Odoo test server must not be
called while it handles a payout.
"""

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import requests

from .base import FakeProviderServer, FakeResponse

PAYMENT_PATH = "/sinap/api/v2/terms/99/payments"
TRANSACTION_PREFIX = "/payment-history/v2/transactions/"
HISTORY_PREFIX = "/payment-history/v2/persons/"
ACCOUNTS_PREFIX = "/funding-sources/v2/persons/"
HOOKS_PATH = "/payment-notifier/v1/hooks"

MOSCOW = timezone(timedelta(hours=3))
SIGN_FIELDS = "sum.currency,sum.amount,type,account,txnId"
ACCOUNT_PATTERN = re.compile(r"^\+?\d{10,15}$")
PAYMENT_ID_PATTERN = re.compile(r"^\d{1,20}$")


class FakeQiwi(FakeProviderServer):
    """One QIWI wallet, reached with its token, and the wallets it can pay.

    :param str wallet: the wallet number, without +
    :param str token: the valid API token
    :param float balance: the ruble balance
    """

    def __init__(self, wallet, token, balance=0.0):
        super().__init__()
        self.wallet = wallet
        self.tokens = {token: "active"}  # token -> active, expired or revoked
        self.balance = round(balance, 2)
        self.recipients = {}  # account without + -> {"status": "ok" or "low"}
        self.payments = {}  # client payment id -> transaction
        self.next_txn_id = 24567890000
        self.commission_rate = 0.0
        self.limit_per_payment = None  # above it: error 705, a daily limit
        self.hook = None
        self.hook_key = base64.b64encode(b"odoo-fake-qiwi-hook-key-32bytes!").decode()
        self.notifications = []
        self.omit_balance_once = False
        self.route("POST", PAYMENT_PATH, self._post_payment)
        self.route("GET", TRANSACTION_PREFIX, self._get_transaction)
        self.route("GET", HISTORY_PREFIX, self._get_history)
        self.route("GET", ACCOUNTS_PREFIX, self._get_accounts)
        self.route("PUT", HOOKS_PATH, self._put_hook)
        self.route("GET", HOOKS_PATH + "/active", self._get_active_hook)
        self.route("GET", HOOKS_PATH + "/", self._get_hook_key)

    # === SET-UP === #

    def add_recipient(self, account, status="ok"):
        """Let ``account`` receive transfers; status ``low`` fails them later
        with error 57 (the recipient's wallet status is too low)."""
        self.recipients[account.lstrip("+")] = {"status": status}

    def set_token_state(self, token, state):
        self.tokens[token] = state

    def payouts(self, payment_id=None):
        """Return the payments taken, or those with the client ``payment_id``."""
        with self.lock:
            return [
                transaction
                for key, transaction in self.payments.items()
                if payment_id is None or key == str(payment_id)
            ]

    def settle(self, payment_id=None):
        """Decide WAITING payments: SUCCESS, or ERROR for a recipient whose
        status is too low. Each decision queues a notification."""
        with self.lock:
            for transaction in self.payouts(payment_id):
                if transaction["status"] != "WAITING":
                    continue
                recipient = self.recipients[transaction["account"].lstrip("+")]
                if recipient["status"] == "low":
                    transaction.update(
                        status="ERROR", errorCode=57, error="Recipient status too low"
                    )
                    self.balance = round(self.balance + transaction["total"]["amount"], 2)
                else:
                    transaction.update(status="SUCCESS", errorCode=0, error=None)
                self._queue_notification(transaction)

    # === AUTH === #

    def _check_request(self, request, with_body=False):
        """Return an error response for a bad token or headers, or None."""
        authorization = request.headers.get("Authorization") or ""
        token = authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else None
        if self.tokens.get(token) != "active":
            return FakeResponse(401, b"", headers={"WWW-Authenticate": 'Bearer realm="qiwi"'})
        if request.headers.get("Accept") != "application/json":
            return FakeResponse(
                400, {"code": "QWPRC-400", "message": "Accept: application/json is required"}
            )
        if (
            with_body
            and (request.headers.get("Content-Type") or "").split(";")[0] != "application/json"
        ):
            return FakeResponse(
                400, {"code": "QWPRC-400", "message": "JSON is the only accepted type"}
            )
        return None

    # === PAYMENTS === #

    def _post_payment(self, request):
        error = self._check_request(request, with_body=True)
        if error:
            return error
        try:
            body = request.json()
            payment_id = body["id"]
            amount = body["sum"]["amount"]
            currency = body["sum"]["currency"]
            method = body["paymentMethod"]
            account = body["fields"]["account"]
        except (ValueError, KeyError, TypeError):
            return _payment_error(400, 400, "Invalid request")
        if not isinstance(payment_id, str) or not PAYMENT_ID_PATTERN.match(payment_id):
            return _payment_error(400, 400, "id must be a string of at most 20 digits")
        if currency != "643" or method != {"type": "Account", "accountId": "643"}:
            return _payment_error(400, 400, "Only rubles from the wallet account")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            return _payment_error(400, 400, "sum.amount must be a number")
        amount = int(amount * 100) / 100  # QIWI rounds amounts down to kopecks
        with self.lock:
            if payment_id in self.payments:
                return _payment_error(400, 408, "An identical payment already exists")
            if not ACCOUNT_PATTERN.match(account):
                return _payment_error(400, 4, "Invalid account number format")
            if account.lstrip("+") not in self.recipients:
                return _payment_error(400, 5, "The number does not belong to a QIWI wallet")
            if amount < 1:
                return _payment_error(400, 241, "The amount must be at least 1 ruble")
            if self.limit_per_payment is not None and amount > self.limit_per_payment:
                return _payment_error(400, 705, "Daily limit exceeded")
            commission = round(amount * self.commission_rate, 2)
            if amount + commission > self.balance:
                return _payment_error(400, 220, "Not enough funds")
            self.balance = round(self.balance - amount - commission, 2)
            transaction = self._record_payment(
                payment_id, account, amount, commission, body.get("comment")
            )
        return FakeResponse(
            200,
            {
                "id": payment_id,
                "terms": "99",
                "fields": {"account": account},
                "sum": {"amount": amount, "currency": "643"},
                "transaction": {"id": str(transaction["txnId"]), "state": {"code": "Accepted"}},
                "source": "account_643",
                "comment": body.get("comment"),
            },
        )

    def _record_payment(self, payment_id, account, amount, commission, comment):
        transaction = {
            "txnId": self.next_txn_id,
            "personId": int(self.wallet),
            "date": datetime.now(MOSCOW).isoformat(timespec="seconds"),
            "errorCode": 0,
            "error": None,
            "status": "WAITING",
            "type": "OUT",
            "statusText": "",
            "trmTxnId": payment_id,
            "account": account,
            "sum": {"amount": amount, "currency": 643},
            "commission": {"amount": commission, "currency": 643},
            "total": {"amount": round(amount + commission, 2), "currency": 643},
            "provider": {"id": 99, "shortName": "QIWI Wallet"},
            "source": {"id": 7, "shortName": "QIWI Wallet"},
            "comment": comment,
        }
        self.next_txn_id += 1
        self.payments[payment_id] = transaction
        self._queue_notification(transaction)
        return transaction

    # === HISTORY === #

    def _get_transaction(self, request):
        error = self._check_request(request)
        if error:
            return error
        txn_id = request.path[len(TRANSACTION_PREFIX) :]
        with self.lock:
            for transaction in self.payments.values():
                if str(transaction["txnId"]) == txn_id:
                    return FakeResponse(200, transaction)
        return FakeResponse(404, {"errorCode": "history.transaction.not.found"})

    def _get_history(self, request):
        error = self._check_request(request)
        if error:
            return error
        match = re.fullmatch(re.escape(HISTORY_PREFIX) + r"(\d+)/payments", request.path)
        if not match:
            return FakeResponse(404, {"errorCode": "not.found"})
        if match.group(1) != self.wallet:
            return FakeResponse(403, {"errorCode": "access.denied"})
        query = request.query
        rows = int(query.get("rows", "0"))
        if not 1 <= rows <= 50:
            return FakeResponse(400, {"errorCode": "rows must be 1 to 50"})
        if ("startDate" in query) != ("endDate" in query):
            return FakeResponse(400, {"errorCode": "startDate and endDate go together"})
        with self.lock:
            found = sorted(self.payments.values(), key=lambda t: t["txnId"], reverse=True)
        if "startDate" in query:
            start = datetime.fromisoformat(query["startDate"])
            end = datetime.fromisoformat(query["endDate"])
            if end - start > timedelta(days=90):
                return FakeResponse(400, {"errorCode": "at most 90 days"})
            found = [t for t in found if start <= datetime.fromisoformat(t["date"]) <= end]
        if query.get("operation", "ALL") not in ("ALL", "OUT"):
            found = []
        if "nextTxnId" in query:
            found = [t for t in found if t["txnId"] < int(query["nextTxnId"])]
        page, rest = found[:rows], found[rows:]
        next_page = {"nextTxnId": None, "nextTxnDate": None}
        if rest:
            next_page = {"nextTxnId": page[-1]["txnId"], "nextTxnDate": page[-1]["date"]}
        return FakeResponse(200, dict(data=page, **next_page))

    # === BALANCE === #

    def _get_accounts(self, request):
        error = self._check_request(request)
        if error:
            return error
        if request.path != f"{ACCOUNTS_PREFIX}{self.wallet}/accounts":
            return FakeResponse(404, {"errorCode": "not.found"})
        balance = {"amount": self.balance, "currency": 643}
        if self.omit_balance_once and "alias" not in request.query:
            self.omit_balance_once = False
            balance = None
        account = {
            "alias": "qw_wallet_rub",
            "fsAlias": "qb_wallet",
            "bankAlias": "QIWI",
            "title": "WALLET",
            "type": {"id": "WALLET", "title": "QIWI Wallet"},
            "hasBalance": True,
            "balance": balance,
            "currency": 643,
            "defaultAccount": True,
        }
        return FakeResponse(200, {"accounts": [account]})

    # === WEBHOOKS === #

    def _put_hook(self, request):
        error = self._check_request(request)
        if error:
            return error
        url = request.query.get("param", "")
        if request.query.get("hookType") != "1" or request.query.get("txnType") not in (
            "0",
            "1",
            "2",
        ):
            return FakeResponse(422, {"errorCode": "hook.type.invalid"})
        if not url.startswith(("http://", "https://")) or len(url) > 100:
            return FakeResponse(422, {"errorCode": "hook.url.invalid"})
        if self.hook:
            return FakeResponse(422, {"errorCode": "hook.already.exists"})
        txn_type = {"0": "IN", "1": "OUT", "2": "BOTH"}[request.query["txnType"]]
        self.hook = {
            "hookId": str(uuid.uuid4()),
            "hookParameters": {"url": url},
            "hookType": "WEB",
            "txnType": txn_type,
        }
        return FakeResponse(200, self.hook)

    def _get_active_hook(self, request):
        error = self._check_request(request)
        if error:
            return error
        if not self.hook:
            return FakeResponse(404, {"errorCode": "hook.not.found"})
        return FakeResponse(200, self.hook)

    def _get_hook_key(self, request):
        error = self._check_request(request)
        if error:
            return error
        if not self.hook or request.path != f"{HOOKS_PATH}/{self.hook['hookId']}/key":
            return FakeResponse(404, {"errorCode": "hook.not.found"})
        return FakeResponse(201, {"key": self.hook_key})

    def notification_body(self, transaction, message_id=None, **payment_overrides):
        """Return the JSON body of a webhook notification about ``transaction``,
        signed with the hook key over ``SIGN_FIELDS``."""
        payment = {
            "txnId": str(transaction["txnId"]),
            "account": transaction["account"],
            "comment": transaction["comment"],
            "date": transaction["date"],
            "errorCode": str(transaction["errorCode"]),
            "personId": int(self.wallet),
            "provider": 99,
            "signFields": SIGN_FIELDS,
            "status": transaction["status"],
            "type": transaction["type"],
            "sum": dict(transaction["sum"]),
            "commission": dict(transaction["commission"]),
            "total": dict(transaction["total"]),
        }
        payment.update(payment_overrides)
        body = {
            "hash": hook_signature(payment, self.hook_key),
            "hookId": self.hook["hookId"] if self.hook else str(uuid.uuid4()),
            "messageId": message_id or str(uuid.uuid4()),
            "test": False,
            "version": "1.0.0",
            "payment": payment,
        }
        return json.dumps(body).encode()

    def _queue_notification(self, transaction):
        if self.hook and self.hook["txnType"] in (transaction["type"], "BOTH"):
            self.notifications.append(self.notification_body(transaction))

    def deliver_notifications(self, url=None):
        """Post the queued notifications to ``url`` (default: the registered
        hook's URL) and return the responses."""
        url = url or self.hook["hookParameters"]["url"]
        responses = []
        while self.notifications:
            body = self.notifications.pop(0)
            responses.append(
                requests.post(
                    url, data=body, headers={"Content-Type": "application/json"}, timeout=30
                )
            )
        return responses


def hook_signature(payment, key_b64, sign_fields=SIGN_FIELDS):
    """Return the lowercase hex HMAC-SHA256 of a notification's signed fields.

    Numbers are written as ``json.dumps`` writes them into the body, so the
    signed text equals the text a receiver reads.
    """
    values = []
    for path in sign_fields.split(","):
        value = payment
        for part in path.split("."):
            value = value[part]
        values.append(value if isinstance(value, str) else json.dumps(value))
    message = "|".join(values)
    return hmac.new(base64.b64decode(key_b64), message.encode(), hashlib.sha256).hexdigest()


def _payment_error(status, code, message):
    return FakeResponse(status, {"code": f"QWPRC-{code}", "message": message})
