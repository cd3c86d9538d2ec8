"""A fake YooMoney wallet API that follows the documented wallet protocol.

It keeps one payer wallet with a balance, the tokens that may act on it (with
their rights), the payee wallets, phones and e-mails it knows, the prepared
transfers by request_id and the operation history. process-payment applies a
request_id once and returns the first result to every repeated call.
"""

import hashlib
import itertools
import re
import threading
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlencode

from .base import FakeProviderServer, FakeResponse

AMOUNT_PATTERN = re.compile(r"^\d+(\.\d{1,2})?$")
DEFAULT_BALANCE = "100000.00"
# The 0.5 % that YooMoney's website charges, since the rate of API transfers
# is not documented.
FEE_RATE = Decimal("0.005")
CENT = Decimal("0.01")
NOTIFICATION_HASH_FIELDS = (
    "notification_type",
    "operation_id",
    "amount",
    "currency",
    "datetime",
    "sender",
    "codepro",
    "notification_secret",
    "label",
)


def sign_notification(fields_by_name, secret):
    """Return the sha1_hash YooMoney puts in a notification (independent of the rail)."""
    values = dict(fields_by_name, notification_secret=secret)
    joined = "&".join(values.get(name, "") for name in NOTIFICATION_HASH_FIELDS)
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


class FakeYooMoney(FakeProviderServer):
    """Serve /api/request-payment, /api/process-payment, /api/operation-history
    and /api/account-info of one wallet."""

    ALL_RIGHTS = "account-info operation-history operation-details payment-p2p"

    def __init__(self, account="4100111122223333"):
        super().__init__()
        self.account = account
        self.request_lock = threading.Lock()
        self._ids = itertools.count(904035776918098000)
        self.reset()
        for method in ("request-payment", "process-payment", "operation-history", "account-info"):
            self.route("POST", f"/api/{method}", self._authorized(method))

    # === TEST SET-UP === #

    def reset(self):
        """Forget every token, payee, transfer, request and queued fault."""
        with self.lock:
            self.balance = Decimal(DEFAULT_BALANCE)
            self.account_status = "identified"
            self.tokens = {}
            self.payees = {}
            self.contracts = {}
            self.processed = {}
            self.operations = []
            self.notifications = []
            self.requests.clear()
            self.faults.clear()
            # Transfers above this amount due are refused with limit_exceeded.
            self.limit_per_transfer = None
            # process-payment answers in_progress this many times before success.
            self.in_progress_calls = 0
            # Called with each token after process-payment applied a transfer.
            self.on_processed = None

    def add_token(self, token, rights=ALL_RIGHTS, state="valid"):
        """Register a token whose ``state`` is valid, expired or revoked."""
        self.tokens[token] = {"rights": set(rights.split()), "state": state}

    def add_payee(self, identifier, status="identified", account_type="personal"):
        self.payees[identifier] = {"status": status, "type": account_type}

    def payouts_for_label(self, label):
        """Return the completed outgoing transfers with ``label``."""
        return [
            operation
            for operation in self.operations
            if operation["label"] == label and operation["status"] == "success"
        ]

    def finish_in_progress(self, status="success"):
        """Finish the transfers YooMoney was still processing."""
        with self.request_lock:
            for operation in self.operations:
                if operation["status"] == "in_progress":
                    self._finish(operation, status)

    # === NOTIFICATIONS === #

    def receive_incoming(self, secret, amount="995.00", sender="41001000040", label="", **extra):
        """Book money received by the wallet and queue its notification."""
        fields_by_name = {
            "notification_type": "p2p-incoming",
            "operation_id": str(next(self._ids)),
            "amount": amount,
            "withdraw_amount": str((Decimal(amount) * Decimal("1.005")).quantize(CENT)),
            "currency": "643",
            "datetime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sender": sender,
            "codepro": "false",
            "label": label,
            "test_notification": "false",
            "unaccepted": "false",
            **extra,
        }
        fields_by_name["sha1_hash"] = sign_notification(fields_by_name, secret)
        self.balance += Decimal(amount)
        self.notifications.append(fields_by_name)
        return fields_by_name

    def deliver_notifications(self, url):
        """Post every queued notification to ``url``, as YooMoney does.

        :return: the webhook's responses
        """
        sent, self.notifications = self.notifications, []
        return [
            self.deliver(
                url, urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
            )
            for fields in sent
        ]

    # === PROTOCOL === #

    def _authorized(self, method):
        handler = getattr(self, "_" + method.replace("-", "_"))
        right = {
            "request-payment": "payment",
            "process-payment": "payment",
            "operation-history": "operation-history",
            "account-info": "account-info",
        }[method]

        def handle(request):
            header = request.headers.get("Authorization") or ""
            if not header.startswith("Bearer "):
                return self._auth_error(400, "invalid_request")
            token = self.tokens.get(header[len("Bearer "):])
            if not token or token["state"] != "valid":
                return self._auth_error(401, "invalid_token")
            rights = token["rights"]
            allowed = (
                any(r == "payment-p2p" or r.startswith("payment.to-account(") for r in rights)
                if right == "payment"
                else right in rights
            )
            if not allowed:
                return self._auth_error(403, "insufficient_scope")
            if not (request.headers.get("Content-Type") or "").startswith(
                "application/x-www-form-urlencoded"
            ):
                return self._auth_error(400, "invalid_request")
            with self.request_lock:
                return FakeResponse(200, handler(request.form(), token))

        return handle

    def _auth_error(self, status, code):
        return FakeResponse(
            status,
            {"error": code},
            headers={"WWW-Authenticate": f'Bearer error="{code}"'},
        )

    def _request_payment(self, form, token):
        if form.get("pattern_id") != "p2p":
            return {"status": "refused", "error": "illegal_params"}
        if ("amount" in form) == ("amount_due" in form):
            return {"status": "refused", "error": "illegal_params"}
        label = form.get("label")
        if label is not None and not 0 < len(label) <= 64:
            return {"status": "refused", "error": "illegal_param_label"}
        field = "amount_due" if "amount_due" in form else "amount"
        if not AMOUNT_PATTERN.match(form[field]) or Decimal(form[field]) <= 0:
            return {"status": "refused", "error": f"illegal_param_{field}"}
        if form.get("test_payment") == "true":
            return self._test_result(form, request_id=f"test-{uuid.uuid4().hex}")
        payee = self.payees.get(form.get("to") or "")
        if not payee:
            return {"status": "refused", "error": "payee_not_found"}
        if field == "amount_due":
            due = Decimal(form["amount_due"])
            contract = (due * (1 + FEE_RATE)).quantize(CENT)
        else:
            contract = Decimal(form["amount"])
            due = (contract / (1 + FEE_RATE)).quantize(CENT)
        if self.limit_per_transfer is not None and due > self.limit_per_transfer:
            return {"status": "refused", "error": "limit_exceeded"}
        if contract > self.balance:
            return {"status": "refused", "error": "not_enough_funds", "contract_amount": float(contract)}
        request_id = uuid.uuid4().hex
        self.contracts[request_id] = {
            "to": form["to"],
            "label": label or "",
            "amount_due": due,
            "contract_amount": contract,
            "comment": form.get("comment", ""),
        }
        answer = {
            "status": "success",
            "request_id": request_id,
            "contract_amount": float(contract),
            "recipient_account_status": payee["status"],
            "recipient_account_type": payee["type"],
        }
        if "account-info" in token["rights"]:
            answer["balance"] = float(self.balance)
        return answer

    def _process_payment(self, form, token):
        request_id = form.get("request_id") or ""
        if form.get("test_payment") == "true" and request_id.startswith("test-"):
            return self._test_result(form, payment_id=str(next(self._ids)))
        if request_id in self.processed:
            return self.processed[request_id]
        contract = self.contracts.get(request_id)
        if not contract:
            return {"status": "refused", "error": "contract_not_found"}
        operation = next((op for op in self.operations if op["request_id"] == request_id), None)
        if operation is None:
            if contract["contract_amount"] > self.balance:
                answer = {"status": "refused", "error": "not_enough_funds"}
                self.processed[request_id] = answer
                return answer
            operation = self._book(request_id, contract)
        if operation["status"] == "in_progress":
            if self.in_progress_calls > 0:
                self.in_progress_calls -= 1
                return {"status": "in_progress", "next_retry": 50}
            self._finish(operation, "success")
        answer = {
            "status": "success",
            "payment_id": operation["operation_id"],
            "credit_amount": float(contract["amount_due"]),
            "payee": contract["to"],
        }
        if "account-info" in token["rights"]:
            answer["balance"] = float(self.balance)
        self.processed[request_id] = answer
        if self.on_processed:
            self.on_processed(token)
        return answer

    def _book(self, request_id, contract):
        """Debit the wallet and record the outgoing operation, in progress."""
        self.balance -= contract["contract_amount"]
        operation = {
            "operation_id": str(next(self._ids)),
            "request_id": request_id,
            "status": "in_progress",
            "pattern_id": "p2p",
            "direction": "out",
            "label": contract["label"],
            "amount": float(contract["contract_amount"]),
            "amount_due": float(contract["amount_due"]),
            "fee": float(contract["contract_amount"] - contract["amount_due"]),
            "datetime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "title": contract["comment"],
            "type": "outgoing-transfer",
            "recipient": contract["to"],
        }
        self.operations.append(operation)
        return operation

    def _finish(self, operation, status):
        operation["status"] = status
        if status == "refused":
            self.balance += Decimal(str(operation["amount"]))

    def _test_result(self, form, **success_fields):
        result = form.get("test_result") or "success"
        if result == "success":
            return {"status": "success", **success_fields}
        known = {"not_enough_funds", "limit_exceeded", "payee_not_found", "account_blocked"}
        return {"status": "refused", "error": result if result in known else "authorization_reject"}

    def _operation_history(self, form, token):
        try:
            start = int(form.get("start_record") or 0)
            records = int(form.get("records") or 30)
        except ValueError:
            return {"error": "illegal_param_start_record"}
        if not 1 <= records <= 100:
            return {"error": "illegal_param_records"}
        types = set((form.get("type") or "deposition payment").split())
        operations = [
            {key: value for key, value in operation.items() if key != "request_id"}
            for operation in reversed(self.operations)
            if "payment" in types
            and ("label" not in form or operation["label"] == form["label"])
        ]
        page = operations[start : start + records]
        answer = {"operations": page}
        if start + records < len(operations):
            answer["next_record"] = str(start + records)
        return answer

    def _account_info(self, form, token):
        return {
            "account": self.account,
            "balance": float(self.balance),
            "currency": "643",
            "account_status": self.account_status,
            "account_type": "personal",
            "balance_details": {"total": float(self.balance), "available": float(self.balance)},
        }
