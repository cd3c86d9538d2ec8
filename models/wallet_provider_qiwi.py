import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_compare, float_round

from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..utils import signatures_match

_logger = logging.getLogger(__name__)

# QIWI Bank lost its banking licence on 21 February 2024 and QIWI wallets
# stopped working that day; the API address below no longer serves payments.
QIWI_LIVE_URL = "https://edge.qiwi.com"
PAYMENT_PATH = "/sinap/api/v2/terms/99/payments"  # provider 99: transfer to a QIWI wallet
TRANSACTION_PATH = "/payment-history/v2/transactions/{txn_id}"
HISTORY_PATH = "/payment-history/v2/persons/{wallet}/payments"
ACCOUNTS_PATH = "/funding-sources/v2/persons/{wallet}/accounts"
HOOKS_PATH = "/payment-notifier/v1/hooks"
REQUEST_TIMEOUT = 30  # seconds, for each call to the API

# PostgreSQL sequence of client payment ids, which must be unique and
# increasing for the wallet.
PAYMENT_ID_SEQUENCE = "wallet_provider_qiwi_payment_id_seq"

RUB_CODE = "643"
CURRENCY_CODES = {"643": "RUB", "840": "USD", "978": "EUR", "398": "KZT"}
# The wallet number: a phone number in international format.
WALLET_PATTERN = re.compile(r"^\+\d{10,15}$")
MIN_AMOUNT = 1.0  # rubles; smaller payments fail with error 241 or 254
HISTORY_ROWS = 50  # the largest page of the payment history
HISTORY_MAX_PAGES = 20
MAX_HOOK_URL_LENGTH = 100  # characters of the webhook URL, before encoding
TRANSACTION_STATUSES = {"WAITING": "pending", "SUCCESS": "paid", "ERROR": "failed"}
# A hook signature must cover at least these fields of the payment.
REQUIRED_SIGN_FIELDS = {"sum.currency", "sum.amount", "account", "txnId"}

ERROR_DUPLICATE_PAYMENT = 408
ERRORS_NOT_ENOUGH_FUNDS = {220, 407, 472}
ERRORS_LIMIT = {700, 702, 704, 705, 710, 711, 716, 717, 746, 747, 757, 852, 866, 867, 943, 1050}
ERRORS_AMOUNT_TOO_SMALL = {241, 254}
ERRORS_AMOUNT_TOO_LARGE = {242, 558}
ERRORS_INVALID_ACCOUNT = {4, 303}
ERRORS_PAYEE_STATUS = {57, 167}
ERRORS_PAYER_STATUS = {166, 319}
ERRORS_TECHNICAL = {3, 202, 300, 749, 750}


class WalletProvider(models.Model):
    """QIWI Wallet rail: transfers between QIWI wallets (legacy, sunset).

    The Bank of Russia revoked the licence of QIWI Bank on 21 February 2024 and
    QIWI wallets stopped working the same day, so this rail cannot be enabled.
    It stays usable in test mode against a test server that speaks QIWI's
    documented protocol.

    Payouts are posted to provider 99 with the attempt's client payment id
    (``id``, digits, increasing) as idempotency key. QIWI answers only that it
    accepted the payout; the outcome comes later from the wallet webhook
    (HMAC-SHA256 of the fields listed in ``signFields``) or from the payment
    history, where the client id reappears as ``trmTxnId``.
    """

    _inherit = "wallet.provider"

    provider_type = fields.Selection(
        selection_add=[("qiwi", "QIWI Wallet (sunset)")], ondelete={"qiwi": "set default"}
    )
    qiwi_wallet = fields.Char(
        string="QIWI Wallet Number",
        help="The wallet payouts are sent from: its phone number in international "
        "format, e.g. +79001234567.",
    )
    qiwi_api_token = fields.Char(
        string="QIWI API Token",
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="The wallet's API token, sent as a Bearer token. Write-only: the stored "
        "value is encrypted and never shown again.",
    )
    qiwi_api_token_encrypted = fields.Char(groups="base.group_system", copy=False)
    qiwi_api_token_set = fields.Boolean(
        string="QIWI API Token Set", compute="_compute_secret_inputs"
    )
    qiwi_hook_id = fields.Char(
        string="QIWI Webhook ID",
        readonly=True,
        copy=False,
        help="The id of the webhook registered for this wallet's outgoing payments.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains("state", "health_state", "provider_type")
    def _check_sunset_not_live(self):
        """Explain why a QIWI wallet cannot be enabled, whatever its health."""
        for provider in self:
            if provider.provider_type == "qiwi" and provider.state == "enabled":
                raise ValidationError(
                    _(
                        "The wallet %(provider)s cannot be enabled: QIWI Wallet no longer "
                        "works. The Bank of Russia revoked the licence of QIWI Bank on 21 "
                        "February 2024, and QIWI wallets stopped working that day. Use "
                        "test mode with a test server, or pay through another rail.",
                        provider=provider.name,
                    )
                )
        return super()._check_sunset_not_live()

    @api.constrains("provider_type", "qiwi_wallet", "currency_id")
    def _check_qiwi_settings(self):
        for provider in self.filtered(lambda p: p.provider_type == "qiwi"):
            if provider.qiwi_wallet and not WALLET_PATTERN.match(provider.qiwi_wallet):
                raise ValidationError(
                    _(
                        "The QIWI wallet number %(wallet)s is invalid: enter its phone "
                        "number in international format, e.g. +79001234567.",
                        wallet=provider.qiwi_wallet,
                    )
                )
            if provider.currency_id.name != CURRENCY_CODES[RUB_CODE]:
                raise ValidationError(
                    _(
                        "QIWI wallet transfers are in rubles only: choose RUB as the "
                        "currency of %(provider)s.",
                        provider=provider.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Mark new QIWI wallets as sunset."""
        for vals in vals_list:
            if vals.get("provider_type") == "qiwi":
                vals.setdefault("health_state", "sunset")
        return super().create(vals_list)

    def write(self, vals):
        """Give wallets that change rail the health of the new rail, unless
        they are suspended: sunset for QIWI."""
        result = super().write(vals)
        if "provider_type" in vals:
            for provider in self.filtered(lambda p: p.health_state != "suspended"):
                health_state = provider._get_default_health_state()
                if provider.health_state != health_state:
                    provider.health_state = health_state
        return result

    def init(self):
        super().init()
        # QIWI suggests 1000 times the Unix time in seconds as payment id; the
        # sequence starts there and increases by one per attempt.
        self.env.cr.execute(
            f"CREATE SEQUENCE IF NOT EXISTS {PAYMENT_ID_SEQUENCE} START WITH %s",
            [int(time.time()) * 1000],
        )

    # === ACTION METHODS === #

    def action_qiwi_register_webhook(self):
        """Register this wallet's webhook URL for outgoing payments and store
        the hook's signing key as the webhook secret."""
        self.ensure_one()
        if not self.env.user.has_group("purchase_wallet_payment.group_wallet_manager"):
            raise UserError(_("Only Wallet Managers can register the QIWI webhook."))
        url = self.webhook_url
        if len(url) > MAX_HOOK_URL_LENGTH:
            raise UserError(
                _(
                    "QIWI accepts webhook URLs of at most %(limit)s characters; %(url)s "
                    "is longer. Use a shorter web.base.url.",
                    limit=MAX_HOOK_URL_LENGTH,
                    url=url,
                )
            )
        try:
            hook_id = self._qiwi_create_hook(url)
            response = self._qiwi_request("GET", f"{HOOKS_PATH}/{hook_id}/key")
        except (WalletProviderError, WalletProviderUnreachable) as error:
            raise UserError(str(error)) from error
        if response.status_code not in (200, 201):
            raise UserError("QIWI: " + self._qiwi_get_http_error_message(response))
        key = self._qiwi_json(response, UserError).get("key")
        if not key:
            raise UserError(
                "QIWI: " + _("QIWI returned no key for the webhook %(hook)s.", hook=hook_id)
            )
        # The key signs notifications, so it is stored like any webhook secret.
        self.write({"qiwi_hook_id": hook_id, "webhook_secret": key})
        return True

    # === BUSINESS METHODS === #

    def _get_default_health_state(self):
        """Keep QIWI wallets sunset: the service closed in February 2024."""
        if self.provider_type == "qiwi":
            return "sunset"
        return super()._get_default_health_state()

    def _get_secret_field_names(self):
        """Add the QIWI API token."""
        return super()._get_secret_field_names() + ["qiwi_api_token"]

    def _get_payload_secret_keys(self):
        """Remove the hook's HMAC signature from stored notifications."""
        keys = super()._get_payload_secret_keys()
        if self.provider_type != "qiwi":
            return keys
        return keys | {"hash"}

    # === RAIL HOOKS === #

    def _get_supported_payee_kinds(self):
        """Pay natural persons only: a QIWI wallet is a person's phone number
        under the personal wallet API."""
        if self.provider_type != "qiwi":
            return super()._get_supported_payee_kinds()
        # NOTE: inferred from the personal API's phone-number wallets; QIWI's
        # documentation states no rule on which holders may receive transfers.
        return {"individual", "sole_trader", "self_employed"}

    def _get_rail_limits(self):
        """Set no fixed limit: QIWI's maxima depend on the wallet's
        identification level and are enforced by its errors (limits exceeded)."""
        if self.provider_type != "qiwi":
            return super()._get_rail_limits()
        return {}

    def _check_payee_identifier(self, identifier):
        """Accept a wallet number in international format, e.g. +79001234567."""
        if self.provider_type != "qiwi":
            return super()._check_payee_identifier(identifier)
        if not WALLET_PATTERN.match((identifier or "").strip()):
            raise UserError(
                _(
                    "%(identifier)s is not a QIWI wallet number: enter the phone number "
                    "in international format, with + and 10 to 15 digits, e.g. "
                    "+79001234567.",
                    identifier=identifier,
                )
            )
        if identifier.strip() == self.qiwi_wallet:
            raise UserError(
                _("The wallet %(wallet)s is this company's own wallet.", wallet=identifier)
            )
        return True

    def _send_payout(self, payment):
        """Post a transfer to provider 99 under the attempt's client payment id.

        QIWI only accepts the payment at once; its outcome follows in the
        webhook or the history. A payment id QIWI already has (error 408) is
        not paid again: its outcome is read from the history.
        """
        if self.provider_type != "qiwi":
            return super()._send_payout(payment)
        self._qiwi_check_ready()
        currency = payment.currency_id
        if float_compare(payment.amount, MIN_AMOUNT, precision_rounding=currency.rounding) < 0:
            raise WalletProviderError(
                "QIWI: "
                + _(
                    "QIWI transfers start at 1 ruble; %(amount)s is less.",
                    amount=currency.format(payment.amount),
                )
            )
        attempt = self._qiwi_get_attempt(payment)
        payment_id = attempt._reserve_provider_number(PAYMENT_ID_SEQUENCE)
        body = {
            "id": payment_id,
            # QIWI rounds amounts down to kopecks; round them first.
            "sum": {
                "amount": float_round(payment.amount, precision_digits=2),
                "currency": RUB_CODE,
            },
            "paymentMethod": {"type": "Account", "accountId": RUB_CODE},
            "comment": payment.name,
            "fields": {"account": payment.payee_account_id.identifier.strip()},
        }
        response = self._qiwi_request("POST", PAYMENT_PATH, json=body)
        if response.status_code == 200:
            data = self._qiwi_json(response, WalletProviderUnreachable)
            transaction = data.get("transaction") or {}
            if str(data.get("id")) != payment_id or not transaction.get("id"):
                raise WalletProviderUnreachable(
                    "qiwi: the payment response is not for this payment id"
                )
            return {
                "status": "pending",
                "provider_reference": str(transaction["id"]),
                "message": "",
            }
        code = self._qiwi_get_error_code(response)
        if code == ERROR_DUPLICATE_PAYMENT:
            _logger.info("qiwi: payment id %s of %s already exists", payment_id, payment.name)
            result = self._qiwi_find_payment(payment, payment_id)
            if result["status"] == "unknown":
                raise WalletProviderUnreachable(
                    f"qiwi: payment id {payment_id} already exists but is not in the history"
                )
            return result
        if response.status_code == 423:
            # Too many requests or maintenance: nothing shows that the payment was not taken.
            raise WalletProviderUnreachable("qiwi: the API is temporarily unavailable (HTTP 423)")
        message = self._qiwi_get_http_error_message(response, payment)
        raise WalletProviderError("QIWI: " + message)

    def _get_payout_status(self, payment):
        """Read the attempt's payment by its QIWI transaction id, else find it
        in the history by its client payment id (``trmTxnId``)."""
        if self.provider_type != "qiwi":
            return super()._get_payout_status(payment)
        attempt = self._qiwi_get_attempt(payment)
        payment_id = attempt.provider_number
        if not payment_id:
            # The id is committed before the payment is posted: without one,
            # the request was never sent.
            return {"status": "unknown", "provider_reference": None, "message": ""}
        try:
            self._qiwi_check_ready()
            return self._qiwi_find_payment(payment, payment_id)
        except WalletProviderError as error:
            # A status query must not fail the payment: it may have been paid.
            raise WalletProviderUnreachable(str(error)) from error

    def _get_balance(self):
        """Return the balance of the wallet's ruble account."""
        if self.provider_type != "qiwi":
            return super()._get_balance()
        path = ACCOUNTS_PATH.format(wallet=self._qiwi_person_id())
        self._qiwi_check_ready()
        response = self._qiwi_request("GET", path)
        accounts = self._qiwi_read_accounts(response)
        account = next((a for a in accounts if str(a.get("currency")) == RUB_CODE), None)
        if account and account.get("hasBalance") and not account.get("balance"):
            # QIWI may omit a balance it has not computed yet; ask for it.
            alias = account.get("alias")
            params = {"timeout": 1000, "alias": alias}
            response = self._qiwi_request("GET", path, params=params)
            accounts = self._qiwi_read_accounts(response)
            account = next((a for a in accounts if a.get("alias") == alias), None)
        balance = (account or {}).get("balance") or {}
        if balance.get("amount") is None:
            raise WalletProviderError(
                "QIWI: "
                + _(
                    "QIWI returned no ruble balance for the wallet %(wallet)s.",
                    wallet=self.qiwi_wallet,
                )
            )
        return float(balance["amount"])

    def _verify_notification(self, raw_body, headers):
        """Check a wallet webhook's ``hash``: the HMAC-SHA256, keyed with the
        Base64-decoded hook key, of the ``signFields`` values joined by ``|``.

        Numbers are signed as they are written in the body, so the body is
        parsed with its number tokens kept as text.
        """
        if self.provider_type != "qiwi":
            return super()._verify_notification(raw_body, headers)
        key = self._get_secret("webhook_secret")
        data = _load_literal_json(raw_body)
        if not key or not isinstance(data, dict) or not isinstance(data.get("payment"), dict):
            return False
        received = data.get("hash")
        sign_fields = data["payment"].get("signFields")
        if not isinstance(received, str) or not isinstance(sign_fields, str):
            return False
        paths = sign_fields.split(",")
        # NOTE: QIWI signs only these fields; the status and messageId are not
        # signed, so they are taken as sent once the signed fields match.
        if not REQUIRED_SIGN_FIELDS.issubset(paths):
            return False
        try:
            message = qiwi_hook_message(data["payment"], paths)
            key_bytes = base64.b64decode(key, validate=True)
        except (KeyError, TypeError, binascii.Error):
            return False
        expected = hmac.new(key_bytes, message.encode(), hashlib.sha256).hexdigest()
        return signatures_match(received.strip().lower(), expected)

    def _parse_notification(self, raw_body, headers):
        """Read a verified wallet webhook about one transaction.

        The signed ``txnId`` is QIWI's transaction id, which the payout's
        acceptance stored as provider reference, so it is both the event's
        reference and provider reference. The comment is not signed and is
        not used to find the payment.
        """
        if self.provider_type != "qiwi":
            return super()._parse_notification(raw_body, headers)
        data = json.loads(raw_body)
        payment = data["payment"]
        status = TRANSACTION_STATUSES.get(payment.get("status"))
        if not status:
            raise ValueError(f"unknown status {payment.get('status')!r}")
        if not data.get("messageId") or not payment.get("txnId"):
            raise ValueError("missing messageId or txnId")
        amount = payment["sum"]["amount"]
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ValueError("sum.amount is not a number")
        message = ""
        if status == "failed":
            message = self._qiwi_get_error_message(
                _to_int(payment.get("errorCode")), payment.get("error") or ""
            )
        direction = str(payment.get("type", "")).lower()
        return {
            "event_id": str(data["messageId"]),
            "event_type": f"qiwi.{direction}.{payment['status'].lower()}",
            "reference": str(payment["txnId"]),
            "provider_reference": str(payment["txnId"]),
            "status": status,
            "amount": float(amount),
            "currency": CURRENCY_CODES.get(str(payment["sum"].get("currency")), ""),
            "occurred_at": payment.get("date"),
            "message": message,
        }

    # === QIWI HELPERS === #

    def _qiwi_check_ready(self):
        """Raise a WalletProviderError if the wallet cannot call QIWI."""
        self.ensure_one()
        if not self.qiwi_wallet or not self._get_secret("qiwi_api_token"):
            raise WalletProviderError(
                "QIWI: "
                + _(
                    "Enter the wallet number and the API token of %(provider)s.",
                    provider=self.name,
                )
            )
        self._qiwi_get_base_url()

    def _qiwi_get_base_url(self):
        base_url = self._get_api_base_url(None, QIWI_LIVE_URL)
        if not base_url:
            raise WalletProviderError(
                "QIWI: "
                + _(
                    "QIWI has no test environment. In test mode, set the API Base URL "
                    "of %(provider)s to a test server.",
                    provider=self.name,
                )
            )
        return base_url

    def _qiwi_person_id(self):
        """Return the wallet number without its +, as the API paths need it."""
        return (self.qiwi_wallet or "").lstrip("+")

    def _qiwi_request(self, method, path, **kwargs):
        """Send one request to the wallet API, with its JSON headers and token.

        :raise WalletProviderUnreachable: on a timeout, connection error or 5xx
        """
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self._get_secret('qiwi_api_token')}",
        }
        if "json" in kwargs:
            headers["Content-Type"] = "application/json"
        url = self._qiwi_get_base_url() + path
        return self._send_api_request(
            method, url, timeout=REQUEST_TIMEOUT, headers=headers, **kwargs
        )

    def _qiwi_json(self, response, error_class):
        try:
            data = response.json()
        except ValueError as error:
            raise error_class(
                f"qiwi: the response with HTTP {response.status_code} is not JSON"
            ) from error
        if not isinstance(data, dict):
            raise error_class("qiwi: the response is not a JSON object")
        return data

    def _qiwi_get_attempt(self, payment):
        key = payment.idempotency_key
        attempt = payment.attempt_ids.filtered(lambda a: a.idempotency_key == key)
        if not attempt:
            raise WalletProviderError(
                "QIWI: "
                + _("The payment %(payment)s has no attempt to send.", payment=payment.name)
            )
        return attempt[-1]

    def _qiwi_create_hook(self, url):
        """Register ``url`` for outgoing payments and return the hook id. If a
        hook already exists for this URL, return its id."""
        response = self._qiwi_request(
            "PUT", HOOKS_PATH, params={"hookType": 1, "param": url, "txnType": 1}
        )
        if response.status_code == 200:
            return self._qiwi_json(response, UserError)["hookId"]
        if response.status_code != 422:
            raise UserError("QIWI: " + self._qiwi_get_http_error_message(response))
        active = self._qiwi_request("GET", f"{HOOKS_PATH}/active")
        hook = self._qiwi_json(active, UserError) if active.status_code == 200 else {}
        if (hook.get("hookParameters") or {}).get("url") == url:
            return hook["hookId"]
        raise UserError(
            "QIWI: "
            + _(
                "QIWI refused the webhook %(url)s. If another webhook is registered for "
                "this wallet (%(other)s), delete it first.",
                url=url,
                other=(hook.get("hookParameters") or {}).get("url") or _("none found"),
            )
        )

    def _qiwi_find_payment(self, payment, payment_id):
        """Return the status of the payment with client id ``payment_id``.

        :return: the result dict of :meth:`_get_payout_status`
        :raise WalletProviderUnreachable: if the history cannot be read, or
            holds this id for another payee or amount
        """
        transaction = None
        if payment.provider_reference:
            path = TRANSACTION_PATH.format(txn_id=payment.provider_reference)
            response = self._qiwi_request("GET", path, params={"type": "OUT"})
            if response.status_code == 200:
                transaction = self._qiwi_json(response, WalletProviderUnreachable)
            elif response.status_code != 404:
                raise WalletProviderUnreachable(
                    f"qiwi: transaction query returned HTTP {response.status_code}"
                )
        if transaction is None:
            transaction = self._qiwi_search_history(payment, payment_id)
        if transaction is None:
            return {"status": "unknown", "provider_reference": None, "message": ""}
        return self._qiwi_read_transaction(transaction, payment, payment_id)

    def _qiwi_search_history(self, payment, payment_id):
        """Return the outgoing transaction whose ``trmTxnId`` is ``payment_id``,
        or None, paging through the history from a day before the send."""
        start = (payment.sent_at or fields.Datetime.now()) - timedelta(days=1)
        end = min(fields.Datetime.now() + timedelta(days=1), start + timedelta(days=90))
        params = {
            "rows": HISTORY_ROWS,
            "operation": "OUT",
            "startDate": start.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "endDate": end.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        }
        path = HISTORY_PATH.format(wallet=self._qiwi_person_id())
        for _page in range(HISTORY_MAX_PAGES):
            response = self._qiwi_request("GET", path, params=params)
            if response.status_code != 200:
                raise WalletProviderUnreachable(
                    f"qiwi: history query returned HTTP {response.status_code}"
                )
            data = self._qiwi_json(response, WalletProviderUnreachable)
            for transaction in data.get("data") or []:
                if str(transaction.get("trmTxnId")) == payment_id:
                    return transaction
            if not (data.get("nextTxnId") and data.get("nextTxnDate")):
                return None
            params.update(nextTxnId=data["nextTxnId"], nextTxnDate=data["nextTxnDate"])
        raise WalletProviderUnreachable(
            f"qiwi: payment id {payment_id} not found in {HISTORY_MAX_PAGES} history pages"
        )

    def _qiwi_read_transaction(self, transaction, payment, payment_id):
        """Turn a history transaction of ``payment`` into a result dict."""
        account = str(transaction.get("account") or "").lstrip("+")
        amount = float((transaction.get("sum") or {}).get("amount") or 0.0)
        expected_account = payment.payee_account_id.identifier.strip().lstrip("+")
        same_amount = not float_compare(
            amount, payment.amount, precision_rounding=payment.currency_id.rounding
        )
        same_id = str(transaction.get("trmTxnId")) == payment_id
        if not (same_id and account == expected_account and same_amount):
            raise WalletProviderUnreachable(
                f"qiwi: transaction {transaction.get('txnId')} does not match payment id "
                f"{payment_id}, its payee and amount"
            )
        status = TRANSACTION_STATUSES.get(transaction.get("status"))
        if not status:
            raise WalletProviderUnreachable(
                f"qiwi: unknown transaction status {transaction.get('status')!r}"
            )
        message = ""
        if status == "failed":
            message = self._qiwi_get_error_message(
                _to_int(transaction.get("errorCode")), transaction.get("error") or ""
            )
        result = {
            "status": status,
            "provider_reference": str(transaction.get("txnId")),
            "message": message,
        }
        commission = transaction.get("commission") or {}
        if commission.get("amount") is not None:
            result["fee"] = float(commission["amount"])
        return result

    def _qiwi_read_accounts(self, response):
        if response.status_code != 200:
            raise WalletProviderError("QIWI: " + self._qiwi_get_http_error_message(response))
        return self._qiwi_json(response, WalletProviderUnreachable).get("accounts") or []

    def _qiwi_get_error_code(self, response):
        """Return the number of a ``QWPRC-<n>`` error body, or None."""
        try:
            code = response.json().get("code") or ""
        except (ValueError, AttributeError):
            return None
        match = re.fullmatch(r"QWPRC-(\d+)", str(code))
        return int(match.group(1)) if match else None

    def _qiwi_get_http_error_message(self, response, payment=None):
        """Return the translated explanation of a 4xx response."""
        if response.status_code == 401:
            return _(
                "QIWI rejected the API token of %(provider)s: it has expired or was "
                "revoked. QIWI no longer issues tokens.",
                provider=self.name,
            )
        if response.status_code == 403:
            return _(
                "The API token of %(provider)s lacks the rights for this request.",
                provider=self.name,
            )
        code = self._qiwi_get_error_code(response)
        if code is not None:
            try:
                description = response.json().get("message") or ""
            except ValueError:
                description = ""
            return self._qiwi_get_error_message(code, description, payment)
        return _(
            "QIWI rejected the request with HTTP status %(status)s.",
            status=response.status_code,
        )

    def _qiwi_get_error_message(self, code, description, payment=None):
        """Return the translated explanation of a QIWI ``errorCode``."""
        payee = payment.payee_account_id.identifier if payment else _("the payee")
        if code in ERRORS_NOT_ENOUGH_FUNDS:
            return _(
                "There is not enough money in the QIWI wallet %(wallet)s.",
                wallet=self.qiwi_wallet,
            )
        if code in ERRORS_LIMIT:
            return _(
                "The transfer exceeds a QIWI limit (error %(code)s): the wallet's "
                "daily, monthly or per-recipient limit, or the payee's balance limit.",
                code=code,
            )
        if code in ERRORS_AMOUNT_TOO_SMALL:
            return _("QIWI transfers start at 1 ruble.")
        if code in ERRORS_AMOUNT_TOO_LARGE:
            return _("The amount is above the largest transfer QIWI allows for this wallet.")
        if code in ERRORS_INVALID_ACCOUNT:
            return _("%(payee)s is not a valid QIWI wallet number.", payee=payee)
        if code == 5:
            return _("The QIWI wallet %(payee)s does not exist.", payee=payee)
        if code in ERRORS_PAYEE_STATUS:
            return _(
                "The QIWI wallet %(payee)s is not verified enough to receive this "
                "transfer. Ask the vendor to raise its identification level.",
                payee=payee,
            )
        if code in ERRORS_PAYER_STATUS:
            return _(
                "The identification level of the wallet %(wallet)s does not allow this transfer.",
                wallet=self.qiwi_wallet,
            )
        if code in ERRORS_TECHNICAL:
            return _(
                "QIWI had a technical error (error %(code)s). Retry the payment later.",
                code=code,
            )
        if code == 797:
            return _("QIWI cancelled the payment and returned the money.")
        return _(
            "QIWI rejected the payment with error %(code)s: %(description)s",
            code=code,
            description=description or _("no description"),
        )


def qiwi_hook_message(payment, paths):
    """Return the signed string of a wallet webhook's ``payment`` object: the
    values at the dotted ``paths``, as text, joined by ``|``.

    :raise KeyError: if a path is missing
    """
    values = []
    for path in paths:
        value = payment
        for part in path.split("."):
            if not isinstance(value, dict):
                raise KeyError(path)
            value = value[part]
        values.append(str(value))
    return "|".join(values)


def _load_literal_json(raw_body):
    """Parse a JSON body with its numbers kept as they are written, or return
    None if it is not JSON."""
    try:
        return json.loads(raw_body, parse_float=str, parse_int=str)
    except (ValueError, UnicodeDecodeError):
        return None


def _to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
