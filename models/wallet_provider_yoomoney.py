import hashlib
import logging
import re
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_repr

from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..utils import signatures_match

_logger = logging.getLogger(__name__)

# The wallet API has no sandbox host: test mode sends YooMoney's debug
# parameters to the production host instead (see _yoomoney_get_test_parameters).
YOOMONEY_URL = "https://yoomoney.ru"

# A wallet number is 11 to 33 digits, as the ЮKassa SDKs check the account_number
# of a yoo_money payout. A phone number in international form without "+" also
# fits this pattern, and request-payment accepts both in "to".
WALLET_NUMBER_PATTERN = re.compile(r"^\d{11,33}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Rights (OAuth scope values) the rail needs: one of the payment rights to
# send, operation-history to find a payout by its label.
PAYMENT_RIGHTS = ("payment-p2p", "payment.to-account(")
STATUS_RIGHT = "operation-history"

# process-payment is repeated with the same request_id while it returns
# in_progress or its response is lost, at most this many calls in all.
PROCESS_PAYMENT_CALLS = 3
MAX_RETRY_WAIT = 5.0  # seconds, the cap on YooMoney's next_retry
LOST_ANSWER_WAIT = 1.0  # seconds before repeating a call whose response was lost

# Fields of an incoming-money notification covered by sha1_hash, in the order
# YooMoney joins them with "&" (notification_secret is the wallet's secret).
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
NOTIFICATION_TYPES = ("p2p-incoming", "card-incoming")
RUB_NUMERIC_CODE = "643"

OPERATION_STATUSES = {"success": "paid", "refused": "failed", "in_progress": "pending"}

# Debug outcomes that request-payment and process-payment accept with
# test_payment=true, as documented with the process-payment method.
TEST_RESULTS = [
    ("success", "Success"),
    ("not_enough_funds", "Not enough funds"),
    ("limit_exceeded", "Limit exceeded"),
    ("payee_not_found", "Payee not found"),
    ("authorization_reject", "Authorization rejected"),
    ("account_blocked", "Account blocked"),
]


def yoomoney_notification_hash(fields_by_name, secret):
    """Return the lowercase hex SHA-1 that signs a YooMoney notification.

    :param dict fields_by_name: the notification's fields, as received
    :param str secret: the wallet's notification secret
    :rtype: str
    """
    values = dict(fields_by_name, notification_secret=secret)
    signed = "&".join(values.get(name) or "" for name in NOTIFICATION_HASH_FIELDS)
    return hashlib.sha1(signed.encode()).hexdigest()


class WalletProvider(models.Model):
    """YooMoney rail: transfers from a YooMoney wallet to other wallets.

    A payout is a p2p transfer in two calls: request-payment prepares it and
    returns a request_id, process-payment executes that request_id. The
    payment's idempotency key travels as the transfer's label, which
    operation-history can filter on, so the status of a payout is found by its
    key. The wallet API sends no notification for outgoing transfers: the
    status comes from ``_get_payout_status``, polled by the resolver. The
    webhook only receives incoming-money notifications, which are verified,
    stored and ignored.
    """

    _inherit = "wallet.provider"

    provider_type = fields.Selection(
        selection_add=[("yoomoney", "YooMoney")], ondelete={"yoomoney": "set default"}
    )
    yoomoney_access_token = fields.Char(
        string="Access Token",
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="OAuth token of the wallet, issued to your application. Write-only: "
        "the stored value is encrypted and never shown again.",
    )
    yoomoney_access_token_encrypted = fields.Char(groups="base.group_system", copy=False)
    yoomoney_access_token_set = fields.Boolean(
        string="Access Token Set", compute="_compute_secret_inputs"
    )
    yoomoney_scope = fields.Char(
        string="Token Rights",
        help="The rights the token was issued with, separated by spaces, as in the "
        "OAuth scope: payment-p2p (or payment.to-account(...)) and "
        "operation-history are required, and account-info reads the balance.",
    )
    yoomoney_test_result = fields.Selection(
        selection=TEST_RESULTS,
        string="Test Outcome",
        default="success",
        help="In test mode payouts are sent with YooMoney's debug parameters, so "
        "no money moves and YooMoney answers with this outcome.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains("provider_type", "state", "currency_id", "yoomoney_scope")
    def _check_yoomoney_settings(self):
        for provider in self.filtered(lambda p: p.provider_type == "yoomoney"):
            if provider.currency_id.name != "RUB":
                raise ValidationError(
                    _(
                        "The YooMoney wallet %(provider)s must pay in RUB, the only "
                        "currency of YooMoney wallets.",
                        provider=provider.name,
                    )
                )
            if provider.state == "disabled":
                continue
            missing = provider._yoomoney_get_missing_rights()
            if missing:
                raise ValidationError(
                    _(
                        "The token rights of %(provider)s lack %(rights)s. Issue a "
                        "token with these rights and list them under Token Rights.",
                        provider=provider.name,
                        rights=", ".join(missing),
                    )
                )

    # === BUSINESS METHODS === #

    def _get_secret_field_names(self):
        """Add the YooMoney access token to the write-only credentials."""
        return super()._get_secret_field_names() + ["yoomoney_access_token"]

    def _yoomoney_get_missing_rights(self):
        """Return the rights the rail needs that ``yoomoney_scope`` lacks."""
        self.ensure_one()
        rights = (self.yoomoney_scope or "").split()
        missing = []
        if not any(right.startswith(PAYMENT_RIGHTS) for right in rights):
            missing.append("payment-p2p")
        if STATUS_RIGHT not in rights:
            missing.append(STATUS_RIGHT)
        return missing

    def _yoomoney_get_test_parameters(self):
        """Return the debug parameters that keep test-mode transfers fake."""
        self.ensure_one()
        if self.state == "enabled":
            return {}
        return {"test_payment": "true", "test_result": self.yoomoney_test_result or "success"}

    def _yoomoney_call(self, method, data):
        """Call one method of the wallet API and return its JSON response.

        :param str method: the method name, such as ``request-payment``
        :param dict data: the form fields of the request
        :rtype: dict
        :raise WalletProviderError: if YooMoney rejected the token or the request
        :raise WalletProviderUnreachable: if the outcome is unknown
        """
        self.ensure_one()
        token = self._get_secret("yoomoney_access_token")
        if not token:
            raise WalletProviderError(
                "YooMoney: "
                + _(
                    "No access token is set on %(provider)s. Enter the wallet's "
                    "OAuth token on its YooMoney tab.",
                    provider=self.name,
                )
            )
        url = f"{self._get_api_base_url(YOOMONEY_URL, YOOMONEY_URL)}/api/{method}"
        headers = {
            "Authorization": f"Bearer {token}",
            # Sent even with no fields, as every call of the wallet API is a form.
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = self._send_api_request("POST", url, data=data, headers=headers)
        if response.status_code in (400, 401, 403):
            raise WalletProviderError(self._yoomoney_get_auth_error_message(response, method))
        if response.status_code != 200:
            raise WalletProviderUnreachable(
                f"yoomoney: {method} returned HTTP {response.status_code}"
            )
        try:
            answer = response.json()
        except ValueError as error:
            raise WalletProviderUnreachable(f"yoomoney: {method} returned no JSON") from error
        if not isinstance(answer, dict):
            raise WalletProviderUnreachable(f"yoomoney: {method} returned no JSON object")
        return answer

    def _yoomoney_get_auth_error_message(self, response, method):
        """Return the message of a request that failed authorization (HTTP 4xx)."""
        header = response.headers.get("WWW-Authenticate") or ""
        match = re.search(r'error="([^"]+)"', header)
        code = match.group(1) if match else ""
        if not code:
            try:
                code = str(response.json().get("error") or "")
            except (ValueError, AttributeError):
                code = ""
        if code == "invalid_token" or (not code and response.status_code == 401):
            return "YooMoney: " + _(
                "The access token of %(provider)s is expired or revoked. Authorize "
                "the application again and enter the new token.",
                provider=self.name,
            )
        if code == "insufficient_scope" or (not code and response.status_code == 403):
            return "YooMoney: " + _(
                "The access token of %(provider)s lacks the right to call %(method)s. "
                "Issue a token with the rights payment-p2p, operation-history and "
                "account-info.",
                provider=self.name,
                method=method,
            )
        return "YooMoney: " + _(
            "YooMoney rejected the request to %(method)s as invalid (HTTP %(status)s).",
            method=method,
            status=response.status_code,
        )

    def _yoomoney_get_error_message(self, answer):
        """Return the message for the ``error`` code of a refused transfer."""
        code = str(answer.get("error") or "")
        link = answer.get("account_unblock_uri") or answer.get("ext_action_uri") or ""
        messages = {
            "not_enough_funds": lambda: _(
                "The wallet %(provider)s does not have enough funds for this payout.",
                provider=self.name,
            ),
            "limit_exceeded": lambda: _(
                "The payout exceeds a limit: the token's limit, or the limit of the "
                "wallet's identification level."
            ),
            "payee_not_found": lambda: _(
                "The payee's wallet, phone or e-mail was not found on YooMoney."
            ),
            "phone_unknown": lambda: _(
                "The payee's phone number is not linked to a YooMoney wallet."
            ),
            "illegal_param_to": lambda: _(
                "The payee's identifier is not a valid YooMoney payee."
            ),
            "illegal_param_amount_due": lambda: _(
                "YooMoney rejected the amount of the payout."
            ),
            "authorization_reject": lambda: _(
                "YooMoney refused the transfer for this wallet, for example because "
                "its owner has not accepted the service agreement or the wallet is "
                "not named or identified."
            ),
            "account_blocked": lambda: _(
                "The wallet %(provider)s is blocked. Unblock it on YooMoney: %(link)s",
                provider=self.name,
                link=link,
            ),
            "ext_action_required": lambda: _(
                "The wallet's owner must first complete an action on YooMoney, such "
                "as entering personal data: %(link)s",
                link=link,
            ),
            "contract_not_found": lambda: _(
                "The prepared transfer expired before it was confirmed. Nothing was "
                "sent."
            ),
            "payment_refused": lambda: _("YooMoney refused the transfer."),
            "money_source_not_available": lambda: _(
                "The wallet balance cannot be used to pay this transfer."
            ),
        }
        if code in messages:
            return "YooMoney: " + messages[code]()
        return "YooMoney: " + _(
            "YooMoney refused the transfer (%(code)s).", code=code or _("no reason given")
        )

    # === RAIL HOOKS === #

    def _get_supported_payee_kinds(self):
        """YooMoney transfers go between wallets of private individuals."""
        if self.provider_type != "yoomoney":
            return super()._get_supported_payee_kinds()
        return {"individual", "self_employed"}

    def _get_rail_limits(self):
        """YooMoney documents no numeric limit for wallet transfers.

        Its limits depend on the identification level of each wallet and on
        the token, and YooMoney reports them as ``limit_exceeded``.
        """
        if self.provider_type != "yoomoney":
            return super()._get_rail_limits()
        return {}

    def _check_payee_identifier(self, identifier):
        """Accept a YooMoney wallet number, a phone number or an e-mail."""
        if self.provider_type != "yoomoney":
            return super()._check_payee_identifier(identifier)
        value = identifier or ""
        if WALLET_NUMBER_PATTERN.match(value) or EMAIL_PATTERN.match(value):
            return True
        raise UserError(
            _(
                "%(identifier)s is not a YooMoney payee: enter a wallet number "
                "(11 to 33 digits), a phone number in international form with "
                "digits only (such as 79001234567), or an e-mail address.",
                identifier=identifier,
            )
        )

    def _send_payout(self, payment):
        """Transfer ``payment`` with request-payment, then process-payment."""
        if self.provider_type != "yoomoney":
            return super()._send_payout(payment)
        contract = self._yoomoney_request_payment(payment)
        result = self._yoomoney_process_payment(payment, contract)
        fee = self._yoomoney_get_fee(contract.get("contract_amount"), contract["amount_due"])
        if fee is not None:
            result["fee"] = fee
        return result

    def _yoomoney_request_payment(self, payment):
        """Prepare the transfer of ``payment`` and return YooMoney's answer.

        :return: the answer, with the ``request_id`` of the prepared transfer
        :raise WalletProviderError: if YooMoney refused, or did not answer
        """
        amount = float_repr(payment.currency_id.round(payment.amount), 2)
        data = {
            "pattern_id": "p2p",
            "to": payment.payee_account_id.identifier,
            # amount_due is what the payee receives, and YooMoney adds its fee on top.
            "amount_due": amount,
            "label": payment.idempotency_key,
            "comment": self._yoomoney_get_description(payment),
            "message": self._yoomoney_get_description(payment),
            **self._yoomoney_get_test_parameters(),
        }
        try:
            answer = self._yoomoney_call("request-payment", data)
        except WalletProviderUnreachable as error:
            # request-payment only prepares a transfer: without a process-payment
            # call for its request_id no money moves, so nothing was paid.
            raise WalletProviderError(
                "YooMoney: "
                + _(
                    "The transfer could not be prepared (%(error)s). Nothing was "
                    "sent, so the payment can be retried.",
                    error=error,
                )
            ) from error
        if answer.get("status") != "success" or not answer.get("request_id"):
            raise WalletProviderError(self._yoomoney_get_error_message(answer))
        _logger.info(
            "yoomoney: %s prepared as request %s", payment.name, answer["request_id"]
        )
        return dict(answer, amount_due=amount)

    def _yoomoney_process_payment(self, payment, contract):
        """Execute a prepared transfer, repeating the call with the same
        request_id while it is in progress or its answer is lost.

        YooMoney documents repeating the call with the same request_id after
        a timeout or an ``in_progress`` answer. What a repeat returns once an
        earlier call succeeded is not documented, so a refusal that follows a
        lost response is reported as an unknown outcome, for the status query.

        :return: the result dictionary of :meth:`_send_payout`
        :raise WalletProviderError: if YooMoney refused the transfer
        :raise WalletProviderUnreachable: if the outcome is still unknown
        """
        data = {
            "request_id": contract["request_id"],
            "money_source": "wallet",
            **self._yoomoney_get_test_parameters(),
        }
        lost_answer = None
        in_progress = False
        for call in range(1, PROCESS_PAYMENT_CALLS + 1):
            try:
                answer = self._yoomoney_call("process-payment", data)
            except WalletProviderUnreachable as error:
                _logger.warning(
                    "yoomoney: %s, process-payment call %s: %s", payment.name, call, error
                )
                lost_answer, in_progress, wait = error, False, LOST_ANSWER_WAIT
            except WalletProviderError as error:
                if lost_answer:
                    # An earlier call may have paid: only the status query can tell.
                    raise WalletProviderUnreachable(
                        f"yoomoney: process-payment rejected after a lost response: {error}"
                    ) from error
                raise
            else:
                status = answer.get("status")
                if status == "success":
                    return {
                        "status": "paid",
                        "provider_reference": str(answer.get("payment_id") or ""),
                        "message": "",
                    }
                if status == "refused":
                    if lost_answer:
                        raise WalletProviderUnreachable(
                            "yoomoney: process-payment rejected after a lost response "
                            f"({answer.get('error')})"
                        )
                    raise WalletProviderError(self._yoomoney_get_error_message(answer))
                # in_progress, or any other status: the transfer is not finished.
                in_progress = status == "in_progress"
                wait = min(float(answer.get("next_retry") or 5000) / 1000, MAX_RETRY_WAIT)
                _logger.info("yoomoney: %s is %s after call %s", payment.name, status, call)
            if call < PROCESS_PAYMENT_CALLS:
                time.sleep(wait)
        if in_progress:
            return {
                "status": "pending",
                "provider_reference": None,
                "message": _("YooMoney is still processing the transfer."),
            }
        raise WalletProviderUnreachable(
            f"yoomoney: no final response from process-payment after {PROCESS_PAYMENT_CALLS} calls"
        )

    def _yoomoney_get_description(self, payment):
        return " ".join(filter(None, [payment.name, payment.purchase_id.name]))

    def _yoomoney_get_fee(self, debited, credited):
        """Return what YooMoney charged on top of ``credited``, or None when it
        did not report the amount ``debited`` from the wallet."""
        if debited is None:
            return None
        try:
            fee = Decimal(str(debited)) - Decimal(str(credited))
        except InvalidOperation:
            return None
        return float(fee.quantize(Decimal("0.01")))

    def _get_payout_status(self, payment):
        """Find the transfer labelled with the payment's key in the history."""
        if self.provider_type != "yoomoney":
            return super()._get_payout_status(payment)
        try:
            operation = self._yoomoney_find_operation(payment.idempotency_key)
        except WalletProviderError as error:
            # The history could not be read, so the status stays unknown.
            raise WalletProviderUnreachable(str(error)) from error
        if not operation:
            return {"status": "unknown", "provider_reference": None, "message": ""}
        status = OPERATION_STATUSES.get(operation.get("status"))
        if not status:
            raise WalletProviderUnreachable(
                f"yoomoney: unknown operation status {operation.get('status')!r}"
            )
        result = {
            "status": status,
            "provider_reference": str(operation.get("operation_id") or "") or None,
            "message": _("YooMoney refused the transfer.") if status == "failed" else "",
        }
        fee = operation.get("fee")
        if fee is None and operation.get("amount_due") is not None:
            fee = self._yoomoney_get_fee(operation.get("amount"), operation["amount_due"])
        if fee is not None:
            result["fee"] = float(fee)
        return result

    def _yoomoney_find_operation(self, label):
        """Return the outgoing operation labelled ``label``, or None.

        :raise WalletProviderError: if YooMoney rejected the token
        :raise WalletProviderUnreachable: if the history could not be read
        """
        data = {"type": "payment", "label": label, "records": 100}
        for _page in range(10):
            answer = self._yoomoney_call("operation-history", data)
            if answer.get("error"):
                raise WalletProviderUnreachable(
                    f"yoomoney: operation-history failed ({answer['error']})"
                )
            for operation in answer.get("operations") or []:
                if operation.get("label") == label and operation.get("direction") == "out":
                    return operation
            if not answer.get("next_record"):
                return None
            data["start_record"] = answer["next_record"]
        raise WalletProviderUnreachable(f"yoomoney: too many operations labelled {label}")

    def _get_balance(self):
        """Return the wallet balance from account-info."""
        if self.provider_type != "yoomoney":
            return super()._get_balance()
        answer = self._yoomoney_call("account-info", {})
        if answer.get("currency") != RUB_NUMERIC_CODE or answer.get("balance") is None:
            raise WalletProviderError(
                "YooMoney: "
                + _("account-info did not return a balance in RUB for %(provider)s.", provider=self.name)
            )
        return float(answer["balance"])

    # === NOTIFICATIONS === #

    def _yoomoney_parse_form(self, raw_body):
        """Return the fields of a url-encoded body, or None if it is not one.

        A field sent twice makes the body invalid, so that the signed value
        and the stored one cannot differ.
        """
        try:
            parsed = parse_qs(raw_body.decode(), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        if any(len(values) != 1 for values in parsed.values()):
            return None
        return {name: values[0] for name, values in parsed.items()}

    def _verify_notification(self, raw_body, headers):
        """Check the sha1_hash of a YooMoney notification."""
        if self.provider_type != "yoomoney":
            return super()._verify_notification(raw_body, headers)
        secret = self._get_secret("webhook_secret")
        fields_by_name = self._yoomoney_parse_form(raw_body)
        if not secret or not fields_by_name or not fields_by_name.get("sha1_hash"):
            return False
        expected = yoomoney_notification_hash(fields_by_name, secret)
        return signatures_match(fields_by_name["sha1_hash"].strip().lower(), expected)

    def _parse_notification(self, raw_body, headers):
        """Read an incoming-money notification, which reports on no payout.

        The wallet API notifies only money received, so the event is stored
        with no status and changes no payment.
        """
        if self.provider_type != "yoomoney":
            return super()._parse_notification(raw_body, headers)
        fields_by_name = self._yoomoney_parse_form(raw_body)
        if fields_by_name is None:
            raise ValueError("the body is not url-encoded UTF-8")
        notification_type = fields_by_name.get("notification_type")
        if notification_type not in NOTIFICATION_TYPES:
            raise ValueError(f"unknown notification_type {notification_type!r}")
        operation_id = fields_by_name.get("operation_id")
        if not operation_id:
            raise ValueError("missing operation_id")
        try:
            amount = float(Decimal(fields_by_name.get("amount") or ""))
        except InvalidOperation as error:
            raise ValueError("amount is not a number") from error
        currency = fields_by_name.get("currency")
        if fields_by_name.get("test_notification") == "true":
            notification_type = f"{notification_type} (test)"
        return {
            "event_id": f"{notification_type}:{operation_id}",
            "event_type": notification_type,
            # The sender chooses the label, so it must never match a payment.
            "reference": "",
            "provider_reference": operation_id,
            "status": None,
            "amount": amount,
            "currency": "RUB" if currency == RUB_NUMERIC_CODE else currency,
            "occurred_at": fields_by_name.get("datetime"),
            "message": "",
        }

    def _get_notification_content_types(self):
        if self.provider_type != "yoomoney":
            return super()._get_notification_content_types()
        return {"application/x-www-form-urlencoded"}
