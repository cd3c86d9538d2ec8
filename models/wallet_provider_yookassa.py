import ipaddress
import json
import logging
import re
from urllib.parse import quote

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.http import request
from odoo.tools import float_repr

from ..exceptions import WalletProviderError, WalletProviderUnreachable

_logger = logging.getLogger(__name__)

# Test gateways use the same host as live ones, with their own shop ID and key.
YOOKASSA_URL = "https://api.yookassa.ru"

# Addresses YooKassa sends notifications from, as listed by the SecurityHelper
# of yookassa-sdk-python, with the IPv6 range of its webhook documentation.
NOTIFICATION_NETWORKS = "\n".join(
    [
        "185.71.76.0/27",
        "185.71.77.0/27",
        "77.75.153.0/25",
        "77.75.154.128/25",
        "77.75.156.11",
        "77.75.156.35",
        "2a02:5180::/32",
    ]
)

# A YooMoney wallet number is 11 to 33 digits, as the ЮKassa SDKs check the
# account_number of a yoo_money payout.
WALLET_NUMBER_PATTERN = re.compile(r"^\d{11,33}$")

# Payouts to YooMoney wallets: at least 1 RUB, and at most 500,000 RUB, the
# balance cap of an identified wallet (15,000 for anonymous and 60,000 for
# named wallets). The 600,000 RUB a month is per payee wallet, so YooKassa
# enforces it (periodic_limit_exceeded).
MIN_PAYOUT = 1.0
MAX_PAYOUT = 500000.0

PAYOUT_STATUSES = {"pending": "pending", "succeeded": "paid", "canceled": "failed"}
MAX_DESCRIPTION = 128


class WalletProvider(models.Model):
    """YooKassa Payouts rail: payouts from a company's payout gateway to
    YooMoney wallets of individuals and the self-employed.

    A payout is one ``POST /v3/payouts`` carrying the payment's idempotency key
    in the ``Idempotence-Key`` header and in the payout's metadata, so a lost
    answer is resolved by searching payouts by that metadata. YooKassa does not
    sign its notifications: the webhook accepts them only from YooKassa's
    published addresses, then reads the payout back from the API and trusts
    only what the API returns.
    """

    _inherit = "wallet.provider"

    provider_type = fields.Selection(
        selection_add=[("yookassa", "YooKassa Payouts")],
        ondelete={"yookassa": "set default"},
    )
    yookassa_shop_id = fields.Char(
        string="Gateway ID",
        help="The ID of the payout gateway (agentId), the user name of the API's "
        "basic authentication. A test gateway has its own ID and key.",
    )
    yookassa_secret_key = fields.Char(
        string="Secret Key",
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="The gateway's secret key, the password of the API's basic "
        "authentication. Write-only: the stored value is encrypted and never "
        "shown again.",
    )
    yookassa_secret_key_encrypted = fields.Char(groups="base.group_system", copy=False)
    yookassa_secret_key_set = fields.Boolean(
        string="Secret Key Set", compute="_compute_secret_inputs"
    )
    yookassa_notification_networks = fields.Text(
        string="Notification Addresses",
        default=NOTIFICATION_NETWORKS,
        help="Addresses and networks, one per line, that notifications are "
        "accepted from. Behind a reverse proxy, run Odoo with proxy_mode so that "
        "it sees the sender's address. Leave empty to accept any sender: every "
        "notified payout is still read back from the API.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains("provider_type", "currency_id", "yookassa_notification_networks")
    def _check_yookassa_settings(self):
        for provider in self.filtered(lambda p: p.provider_type == "yookassa"):
            if provider.currency_id.name != "RUB":
                raise ValidationError(
                    _(
                        "The YooKassa gateway %(provider)s must pay in RUB: payouts "
                        "to YooMoney wallets are in rubles.",
                        provider=provider.name,
                    )
                )
            for line in (provider.yookassa_notification_networks or "").split():
                try:
                    ipaddress.ip_network(line, strict=False)
                except ValueError as error:
                    raise ValidationError(
                        _(
                            "%(value)s is not an IP address or network. Enter one "
                            "per line, such as 185.71.76.0/27.",
                            value=line,
                        )
                    ) from error

    # === BUSINESS METHODS === #

    def _get_secret_field_names(self):
        """Add the YooKassa secret key to the write-only credentials."""
        return super()._get_secret_field_names() + ["yookassa_secret_key"]

    def _yookassa_request(self, method, path, payload=None, params=None, idempotence_key=None):
        """Send one request to the YooKassa API and return its JSON response.

        :param str method: ``GET`` or ``POST``
        :param str path: the path under the host, such as ``/v3/payouts``
        :param dict payload: the JSON body of a POST
        :param dict params: the query parameters of a GET
        :param str idempotence_key: the ``Idempotence-Key`` header of a POST
        :return: the answer, or None for HTTP 404
        :rtype: dict
        :raise WalletProviderError: if YooKassa rejected the request (HTTP 4xx)
        :raise WalletProviderUnreachable: if the outcome is unknown
        """
        self.ensure_one()
        secret_key = self._get_secret("yookassa_secret_key")
        if not self.yookassa_shop_id or not secret_key:
            raise WalletProviderError(
                "YooKassa: "
                + _(
                    "Enter the gateway ID and the secret key of %(provider)s on its "
                    "YooKassa tab.",
                    provider=self.name,
                )
            )
        headers = {"Idempotence-Key": idempotence_key} if idempotence_key else {}
        response = self._send_api_request(
            method,
            f"{self._get_api_base_url(YOOKASSA_URL, YOOKASSA_URL)}{path}",
            auth=(self.yookassa_shop_id, secret_key),
            json=payload,
            params=params,
            headers=headers,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise WalletProviderError(self._yookassa_get_error_message(response))
        try:
            answer = response.json()
        except ValueError as error:
            raise WalletProviderUnreachable(f"yookassa: {path} returned no JSON") from error
        if not isinstance(answer, dict):
            raise WalletProviderUnreachable(f"yookassa: {path} returned no JSON object")
        return answer

    def _yookassa_get_error_message(self, response):
        """Return the message of a request YooKassa rejected."""
        try:
            error = response.json()
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        code = error.get("code") or f"HTTP {response.status_code}"
        description = error.get("description") or ""
        parameter = error.get("parameter") or ""
        if response.status_code == 401:
            message = _(
                "The gateway ID or the secret key of %(provider)s was rejected: it is "
                "wrong, expired or revoked. Issue a new secret key in your YooKassa "
                "account and enter it on the wallet.",
                provider=self.name,
            )
        elif response.status_code == 403:
            message = _(
                "YooKassa does not allow %(provider)s to do this (%(description)s). "
                "Check that the gateway may make payouts to YooMoney wallets.",
                provider=self.name,
                description=description or code,
            )
        elif response.status_code == 429:
            message = _(
                "YooKassa received too many requests and did not process this one. "
                "Retry the payment later."
            )
        elif parameter.startswith("payout_destination_data"):
            message = _(
                "YooKassa rejected the payee's wallet number (%(description)s). Check "
                "the vendor's wallet account.",
                description=description or code,
            )
        else:
            message = _(
                "YooKassa rejected the request (%(code)s: %(description)s).",
                code=code,
                description=description or parameter or _("no description"),
            )
        return "YooKassa: " + message

    def _yookassa_get_cancellation_message(self, details):
        """Return the reason of a canceled payout, from its cancellation_details."""
        reason = (details or {}).get("reason") or ""
        messages = {
            "insufficient_funds": lambda: _(
                "The payout balance of the gateway %(provider)s is too low for this "
                "payout. Top it up from the YooBusiness account.",
                provider=self.name,
            ),
            "one_time_limit_exceeded": lambda: _(
                "The payout exceeds the payee wallet's limit: after the payout its "
                "balance would pass the cap of its identification status (15,000 "
                "RUB anonymous, 60,000 RUB named, 500,000 RUB identified)."
            ),
            "periodic_limit_exceeded": lambda: _(
                "The payee wallet reached its payout limit for the month (600,000 "
                "RUB)."
            ),
            "recipient_not_found": lambda: _("The payee's YooMoney wallet was not found."),
            "recipient_check_failed": lambda: _("YooKassa could not verify the payee."),
            "identification_required": lambda: _(
                "The payee's YooMoney wallet must be identified to receive this payout."
            ),
            "rejected_by_payee": lambda: _("The payee rejected the payout."),
            "fraud_suspected": lambda: _("YooKassa blocked the payout on suspicion of fraud."),
            "issuer_unavailable": lambda: _(
                "The payee's provider did not answer. Retry the payment later."
            ),
            "self_employed_annual_limit_exceeded": lambda: _(
                "The payee passed the yearly income limit of the self-employed."
            ),
            "general_decline": lambda: _("YooKassa declined the payout without a reason."),
        }
        if reason in messages:
            return "YooKassa: " + messages[reason]()
        return "YooKassa: " + _(
            "YooKassa canceled the payout (%(reason)s).", reason=reason or _("no reason given")
        )

    def _yookassa_get_payout_result(self, payout):
        """Map a payout object to the result dictionary of the rail hooks."""
        status = PAYOUT_STATUSES.get(payout.get("status"))
        if not status:
            raise WalletProviderUnreachable(
                f"yookassa: unknown payout status {payout.get('status')!r}"
            )
        message = ""
        if status == "failed":
            message = self._yookassa_get_cancellation_message(payout.get("cancellation_details"))
        return {"status": status, "provider_reference": payout.get("id"), "message": message}

    # === RAIL HOOKS === #

    def _get_supported_payee_kinds(self):
        """YooKassa pays out to individuals and the self-employed only."""
        if self.provider_type != "yookassa":
            return super()._get_supported_payee_kinds()
        return {"individual", "self_employed"}

    def _get_rail_limits(self):
        if self.provider_type != "yookassa":
            return super()._get_rail_limits()
        return {"per_payout": MAX_PAYOUT}

    def _check_payee_identifier(self, identifier):
        """Accept a YooMoney wallet number."""
        if self.provider_type != "yookassa":
            return super()._check_payee_identifier(identifier)
        if not WALLET_NUMBER_PATTERN.match(identifier or ""):
            raise UserError(
                _(
                    "%(identifier)s is not a YooMoney wallet number: it has 11 to 33 "
                    "digits, such as 410011234567890.",
                    identifier=identifier,
                )
            )
        return True

    def _send_payout(self, payment):
        """Create a payout to the payee's YooMoney wallet."""
        if self.provider_type != "yookassa":
            return super()._send_payout(payment)
        amount = payment.currency_id.round(payment.amount)
        if payment.currency_id.compare_amounts(amount, MIN_PAYOUT) < 0:
            raise WalletProviderError(
                "YooKassa: "
                + _(
                    "A payout to a YooMoney wallet is at least %(minimum)s.",
                    minimum=payment.currency_id.format(MIN_PAYOUT),
                )
            )
        payload = {
            "amount": {"value": float_repr(amount, 2), "currency": "RUB"},
            "payout_destination_data": {
                "type": "yoo_money",
                "account_number": payment.payee_account_id.identifier,
            },
            "description": self._yookassa_get_description(payment),
            # The key is also stored in the metadata, the only field that
            # payouts can be searched by when the response to this call is lost.
            "metadata": {"reference": payment.name, "idempotency_key": payment.idempotency_key},
        }
        payout = self._yookassa_request(
            "POST", "/v3/payouts", payload=payload, idempotence_key=payment.idempotency_key
        )
        if payout is None:
            raise WalletProviderError("YooKassa: " + _("The payouts API was not found (HTTP 404)."))
        _logger.info("yookassa: %s sent as payout %s", payment.name, payout.get("id"))
        return self._yookassa_get_payout_result(payout)

    def _yookassa_get_description(self, payment):
        description = " ".join(filter(None, [payment.name, payment.purchase_id.name]))
        return description[:MAX_DESCRIPTION]

    def _get_payout_status(self, payment):
        """Read the payout by its ID, or find it by the key in its metadata."""
        if self.provider_type != "yookassa":
            return super()._get_payout_status(payment)
        try:
            if payment.provider_reference:
                payout = self._yookassa_request(
                    "GET", f"/v3/payouts/{quote(payment.provider_reference, safe='')}"
                )
            else:
                payout = self._yookassa_find_payout(payment.idempotency_key)
        except WalletProviderError as error:
            # The payout could not be read, so its status stays unknown.
            raise WalletProviderUnreachable(str(error)) from error
        if not payout:
            return {"status": "unknown", "provider_reference": None, "message": ""}
        return self._yookassa_get_payout_result(payout)

    def _yookassa_find_payout(self, key):
        """Return the payout whose metadata contains ``key``, or None.

        The search filters on one metadata pair and covers the payouts of the
        last three months.
        """
        # NOTE: the path and its metadata[<key>]=<value> query follow the
        # ЮKassa SDKs, not a page of the API reference.
        answer = self._yookassa_request(
            "GET", "/v3/payouts/search", params={"metadata[idempotency_key]": key}
        )
        for payout in (answer or {}).get("items") or []:
            if (payout.get("metadata") or {}).get("idempotency_key") == key:
                return payout
        return None

    def _get_balance(self):
        """Return the payout balance of the gateway, from ``GET /v3/me``."""
        if self.provider_type != "yookassa":
            return super()._get_balance()
        # NOTE: payout_balance and its {value, currency} shape follow the
        # settings object of the ЮKassa SDKs, not a page of the API reference.
        settings = self._yookassa_request("GET", "/v3/me")
        balance = (settings or {}).get("payout_balance") or {}
        if balance.get("currency") != "RUB" or balance.get("value") is None:
            raise WalletProviderError(
                "YooKassa: "
                + _(
                    "The settings of %(provider)s show no payout balance in RUB: it "
                    "is not a payout gateway.",
                    provider=self.name,
                )
            )
        return float(balance["value"])

    # === NOTIFICATIONS === #

    def _yookassa_get_networks(self):
        return [
            ipaddress.ip_network(line, strict=False)
            for line in (self.yookassa_notification_networks or "").split()
        ]

    def _verify_notification(self, raw_body, headers):
        """Accept notifications from YooKassa's addresses only.

        YooKassa does not sign notifications. The sender's address is checked
        here, and ``_parse_notification`` reads the payout back from the API.
        """
        if self.provider_type != "yookassa":
            return super()._verify_notification(raw_body, headers)
        self.ensure_one()
        networks = self._yookassa_get_networks()
        if not networks:
            return True
        address = request.httprequest.remote_addr if request else None
        try:
            sender = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        if sender.version == 6 and sender.ipv4_mapped:
            sender = sender.ipv4_mapped
        return any(sender in network for network in networks)

    def _parse_notification(self, raw_body, headers):
        """Read the notified payout back from the API and report what the API
        returns, never what the body claims."""
        if self.provider_type != "yookassa":
            return super()._parse_notification(raw_body, headers)
        data = json.loads(raw_body)
        if not isinstance(data, dict) or data.get("type") != "notification":
            raise ValueError("the body is not a YooKassa notification")
        event = data.get("event")
        notified = data.get("object")
        if not isinstance(event, str) or not isinstance(notified, dict):
            raise ValueError("missing event or object")
        object_id = notified.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise ValueError("the notified object has no id")
        if not event.startswith("payout."):
            # Events of payments or refunds of the same account: no payout.
            return {
                "event_id": f"{event}:{object_id}",
                "event_type": event,
                "reference": "",
                "provider_reference": object_id,
                "status": None,
                "amount": None,
                "currency": "",
                "occurred_at": None,
                "message": "",
            }
        payout = self._yookassa_read_notified_payout(object_id)
        result = self._yookassa_get_payout_result(payout)
        amount = payout.get("amount") or {}
        return {
            "event_id": f"{object_id}:{payout['status']}",
            "event_type": f"payout.{payout['status']}",
            "reference": (payout.get("metadata") or {}).get("reference") or "",
            "provider_reference": object_id,
            "status": result["status"],
            "amount": float(amount["value"]) if amount.get("value") else None,
            "currency": amount.get("currency") or "",
            "occurred_at": payout.get("succeeded_at") or payout.get("created_at"),
            "message": result["message"],
        }

    def _yookassa_read_notified_payout(self, payout_id):
        """Return the payout ``payout_id`` as the API has it.

        :raise ValueError: if the API has no such payout or cannot be asked, so
            that the notification is rejected and YooKassa sends it again
        """
        try:
            payout = self._yookassa_request("GET", f"/v3/payouts/{quote(payout_id, safe='')}")
        except (WalletProviderError, WalletProviderUnreachable) as error:
            raise ValueError(f"payout {payout_id} could not be read back: {error}") from error
        if not payout or payout.get("id") != payout_id or payout.get("status") not in PAYOUT_STATUSES:
            raise ValueError(f"the API has no payout {payout_id}")
        return payout
