import contextlib
import hashlib
import logging
import os
import re
import ssl
import tempfile
import time
from datetime import timedelta
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_compare, float_repr

from ..const import PAYEE_KINDS
from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..utils import signatures_match

_logger = logging.getLogger(__name__)

# Certificate ("WM Keeper Light") endpoints of the XML interfaces. The key-file
# ("WM Keeper Classic") endpoints need a <sign> made by WebMoney's proprietary
# WMSigner algorithm, which is not published, so this rail cannot use them.
WEBMONEY_LIVE_URL = "https://w3s.wmtransfer.com"
X2_PATH = "/asp/XMLTransCert.asp"  # purse to purse transfer
X3_PATH = "/asp/XMLOperationsCert.asp"  # operation history
X9_PATH = "/asp/XMLPursesCert.asp"  # purse balances
REQUEST_TIMEOUT = 30  # seconds, for each call to an XML interface

# PostgreSQL sequences of request numbers (reqn, strictly increasing per
# signing WMID) and of transfer numbers (tranid, unique per signing WMID).
REQN_SEQUENCE = "wallet_provider_webmoney_reqn_seq"
TRANID_SEQUENCE = "wallet_provider_webmoney_tranid_seq"

WMID_PATTERN = re.compile(r"^\d{12}$")
PURSE_PATTERN = re.compile(r"^[A-Z]\d{12}$")
AMOUNT_PATTERN = re.compile(r"^\d+(\.\d+)?$")
# Ruble purses: R (WMR), replaced by P (WMP) in August 2019. Both stopped for
# good when the licence of WebMoney's ruble settlement bank was revoked.
RUBLE_PURSE_TYPES = ("R", "P")
# Purse type letter of the fiat title units and their currency.
PURSE_CURRENCIES = {"Z": "USD", "E": "EUR", "B": "BYN", "K": "KZT"}

DATE_FORMAT = "%Y%m%d %H:%M:%S"
# X2/X3 operation types: completed, protected and not yet completed, protected
# and refunded to the payer.
OPERTYPE_STATUSES = {"0": "paid", "4": "pending", "12": "failed"}
RETVAL_ALREADY_DONE = 103
RETVAL_REQN_TOO_SMALL = 102

MERCHANT_REQUIRED_FIELDS = (
    "LMI_PAYEE_PURSE",
    "LMI_PAYMENT_AMOUNT",
    "LMI_PAYMENT_NO",
    "LMI_MODE",
    "LMI_SYS_TRANS_NO",
)
# Web Merchant result notification: the fields of LMI_HASH and LMI_HASH2 in
# their order, with the purse's Secret Key in eighth place (None).
MERCHANT_HASH_FIELDS = (
    "LMI_PAYEE_PURSE",
    "LMI_PAYMENT_AMOUNT",
    "LMI_PAYMENT_NO",
    "LMI_MODE",
    "LMI_SYS_INVS_NO",
    "LMI_SYS_TRANS_NO",
    "LMI_SYS_TRANS_DATE",
    None,
    "LMI_PAYER_PURSE",
    "LMI_PAYER_WM",
)

# TLS alerts with which a server rejects a client certificate, and the local
# error of an untrusted server certificate. Both end the handshake before the
# request reaches the XML interface, so nothing was executed.
TLS_CERTIFICATE_REJECTIONS = (
    "ALERT_CERTIFICATE_REVOKED",
    "ALERT_CERTIFICATE_EXPIRED",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_BAD_CERTIFICATE",
    "ALERT_UNKNOWN_CA",
    "ALERT_CERTIFICATE_REQUIRED",
    "ALERT_ACCESS_DENIED",
)
TLS_SERVER_UNTRUSTED = "CERTIFICATE_VERIFY_FAILED"

PEM_PATTERN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class WalletProvider(models.Model):
    """WebMoney Transfer rail: purse to purse transfers over the XML interfaces.

    Payouts use interface X2 with the payment attempt's transfer number
    (``tranid``) as idempotency key, status queries X3 and the balance X9, all
    authenticated by the WMID's WM Keeper Light client certificate (mutual
    TLS). X2 responds synchronously, and WebMoney sends no notification for
    outgoing transfers: a transfer is paid when X2 or X3 says so. The webhook
    receives Web Merchant result notifications, which concern money received
    on the purse; they are checked and stored, and match no payout.

    Ruble purses no longer work. WebMoney replaced R purses (WMR) with P purses
    (WMP) in August 2019, the Bank of Russia restricted ruble purses in
    December 2021, and all R and P operations stopped after the licence of the
    ruble settlement bank (Bank KKB) was revoked. A Russian company cannot pay
    rubles through WebMoney; only other title units such as WMZ remain.
    """

    _inherit = "wallet.provider"

    provider_type = fields.Selection(
        selection_add=[("webmoney", "WebMoney")], ondelete={"webmoney": "set default"}
    )
    webmoney_wmid = fields.Char(
        string="WMID",
        help="The 12-digit WebMoney ID that owns the purse and the certificate.",
    )
    webmoney_purse = fields.Char(
        string="Source Purse",
        help="The purse payouts are sent from: its type letter and 12 digits, e.g. "
        "Z123456789012. The letter sets the currency (Z: USD, E: EUR, B: BYN, K: KZT).",
    )
    webmoney_certificate = fields.Text(
        string="Client Certificate",
        help="The WMID's WM Keeper Light certificate, in PEM format. To convert a "
        "certificate exported as .pfx: openssl pkcs12 -in wmid.pfx -clcerts -nokeys.",
    )
    webmoney_private_key = fields.Char(
        string="Certificate Private Key",
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="The certificate's private key in PEM format, PKCS#8 and optionally "
        "encrypted (openssl pkcs12 -in wmid.pfx -nocerts). Write-only: the stored "
        "value is encrypted and never shown again.",
    )
    webmoney_private_key_encrypted = fields.Char(groups="base.group_system", copy=False)
    webmoney_private_key_set = fields.Boolean(
        string="Private Key Set", compute="_compute_secret_inputs"
    )
    webmoney_key_password = fields.Char(
        string="Private Key Password",
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="Password of an encrypted private key; leave empty for a key without "
        "one. Write-only: the stored value is encrypted and never shown again.",
    )
    webmoney_key_password_encrypted = fields.Char(groups="base.group_system", copy=False)
    webmoney_key_password_set = fields.Boolean(
        string="Key Password Set", compute="_compute_secret_inputs"
    )
    webmoney_server_ca = fields.Text(
        string="Server CA Certificates",
        help="PEM certificates of the authorities that sign WebMoney's server "
        "certificates. Leave empty to use the system's trusted authorities.",
    )
    webmoney_certificate_expiry = fields.Datetime(
        string="Certificate Expires On", compute="_compute_webmoney_certificate_expiry"
    )
    webmoney_hash_method = fields.Selection(
        selection=[("sha256", "SHA256"), ("md5", "MD5")],
        string="Merchant Hash Method",
        default="sha256",
        help="The LMI_HASH method chosen in the purse's Web Merchant settings. The "
        "SIGN method needs WebMoney's proprietary signer and is not supported.",
    )

    # === COMPUTE METHODS === #

    @api.depends("webmoney_certificate")
    def _compute_webmoney_certificate_expiry(self):
        for provider in self:
            certificate = provider._webmoney_load_certificate()
            provider.webmoney_certificate_expiry = (
                certificate.not_valid_after if certificate else False
            )

    # === CONSTRAINT METHODS === #

    @api.constrains("provider_type", "webmoney_wmid", "webmoney_purse", "currency_id")
    def _check_webmoney_settings(self):
        for provider in self.filtered(lambda p: p.provider_type == "webmoney"):
            if provider.webmoney_wmid and not WMID_PATTERN.match(provider.webmoney_wmid):
                raise ValidationError(
                    _(
                        "The WMID %(wmid)s is invalid: a WMID has 12 digits.",
                        wmid=provider.webmoney_wmid,
                    )
                )
            purse = provider.webmoney_purse
            if not purse:
                continue
            provider._webmoney_check_purse_number(purse, ValidationError)
            currency = PURSE_CURRENCIES.get(purse[0])
            if currency and currency != provider.currency_id.name:
                raise ValidationError(
                    _(
                        "The purse %(purse)s holds %(purse_currency)s, but the wallet "
                        "%(provider)s pays in %(currency)s. Choose %(purse_currency)s "
                        "as the wallet's currency.",
                        purse=purse,
                        purse_currency=currency,
                        provider=provider.name,
                        currency=provider.currency_id.name,
                    )
                )

    @api.constrains("provider_type", "webmoney_certificate", "webmoney_server_ca")
    def _check_webmoney_certificates(self):
        for provider in self.filtered(lambda p: p.provider_type == "webmoney"):
            if provider.webmoney_certificate and not provider._webmoney_load_certificate():
                raise ValidationError(
                    _("The WebMoney client certificate is not a PEM certificate.")
                )
            server_ca = provider.webmoney_server_ca
            if server_ca and "-----BEGIN CERTIFICATE-----" not in server_ca:
                raise ValidationError(
                    _("The WebMoney server CA certificates must be in PEM format.")
                )

    # === CRUD METHODS === #

    def init(self):
        super().init()
        # Start the numbers at the current time in milliseconds, as WebMoney's
        # client libraries do, so they exceed numbers of older integrations.
        start = int(time.time() * 1000)
        for sequence in (REQN_SEQUENCE, TRANID_SEQUENCE):
            self.env.cr.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence} START WITH %s", [start])

    # === BUSINESS METHODS === #

    def _get_secret_field_names(self):
        """Add the WebMoney certificate's private key and its password."""
        return super()._get_secret_field_names() + [
            "webmoney_private_key",
            "webmoney_key_password",
        ]

    def _get_payload_secret_keys(self):
        """Remove the Merchant Secret Key and hashes from stored notifications."""
        keys = super()._get_payload_secret_keys()
        if self.provider_type != "webmoney":
            return keys
        return keys | {"lmi_secret_key", "lmi_hash", "lmi_hash2"}

    # === RAIL HOOKS === #

    def _get_supported_payee_kinds(self):
        """Pay any holder of a purse: the XML interfaces do not restrict payees."""
        if self.provider_type != "webmoney":
            return super()._get_supported_payee_kinds()
        return {kind for kind, _label in PAYEE_KINDS}

    def _get_rail_limits(self):
        """Set no limit: WebMoney publishes no fixed one, and enforces the
        payee purse's own limits with error 58."""
        if self.provider_type != "webmoney":
            return super()._get_rail_limits()
        return {}

    def _check_payee_identifier(self, identifier):
        """Accept a purse number of the source purse's type, other than it."""
        if self.provider_type != "webmoney":
            return super()._check_payee_identifier(identifier)
        purse = (identifier or "").strip()
        self._webmoney_check_purse_number(purse, UserError)
        source = self.webmoney_purse
        if source and purse[0] != source[0]:
            raise UserError(
                _(
                    "The purse %(purse)s cannot receive from %(source_purse)s: "
                    "WebMoney transfers only between purses of the same type (%(type)s).",
                    purse=purse,
                    source_purse=source,
                    type=source[0],
                )
            )
        if purse == source:
            raise UserError(_("The purse %(purse)s is the wallet's own purse.", purse=purse))
        return True

    def _send_payout(self, payment):
        """Transfer the payment with interface X2 under the attempt's tranid.

        A transfer whose tranid WebMoney has already executed (error 103) is
        not sent again: its outcome is read with X3.
        """
        if self.provider_type != "webmoney":
            return super()._send_payout(payment)
        self._webmoney_check_ready()
        attempt = self._webmoney_get_attempt(payment)
        tranid = attempt._reserve_provider_number(TRANID_SEQUENCE)
        transfer = [
            ("tranid", tranid),
            ("pursesrc", self.webmoney_purse),
            ("pursedest", payment.payee_account_id.identifier.strip()),
            ("amount", self._webmoney_format_amount(payment.amount, payment.currency_id)),
            ("period", "0"),
            ("pcode", ""),
            ("desc", self._webmoney_get_description(payment)),
            ("wminvid", "0"),
            # Required by WebMoney for X2 access: pay only payees who
            # authorised the sender.
            ("onlyauth", "1"),
        ]
        response = self._webmoney_call(X2_PATH, "trans", transfer)
        retval = response["retval"]
        if retval == RETVAL_ALREADY_DONE:
            _logger.info("webmoney: tranid %s of %s was already executed", tranid, payment.name)
            result = self._webmoney_find_transfer(payment, tranid)
            if result["status"] == "unknown":
                raise WalletProviderUnreachable(
                    f"webmoney: tranid {tranid} was already executed but X3 does not list it"
                )
            return result
        if retval:
            message = self._webmoney_get_error_message(retval, response["retdesc"], payment)
            raise WalletProviderError("WebMoney: " + message)
        operation = response["root"].find("operation")
        if operation is None:
            raise WalletProviderUnreachable("webmoney: X2 succeeded without an operation")
        return self._webmoney_read_operation(operation, payment)

    def _get_payout_status(self, payment):
        """Find the attempt's transfer in the source purse's X3 history."""
        if self.provider_type != "webmoney":
            return super()._get_payout_status(payment)
        attempt = self._webmoney_get_attempt(payment)
        tranid = attempt.provider_number
        if not tranid:
            # The number is committed before X2 is called: without one, the
            # request was never sent.
            return {"status": "unknown", "provider_reference": None, "message": ""}
        try:
            self._webmoney_check_ready()
        except WalletProviderError as error:
            raise WalletProviderUnreachable(str(error)) from error
        return self._webmoney_find_transfer(payment, tranid)

    def _get_balance(self):
        """Return the source purse's balance, read with interface X9."""
        if self.provider_type != "webmoney":
            return super()._get_balance()
        self._webmoney_check_ready()
        response = self._webmoney_call(X9_PATH, "getpurses", [("wmid", self.webmoney_wmid)])
        if response["retval"]:
            message = self._webmoney_get_error_message(response["retval"], response["retdesc"])
            raise WalletProviderError("WebMoney: " + message)
        for purse in response["root"].iterfind("purses/purse"):
            if (purse.findtext("pursename") or "").strip() == self.webmoney_purse:
                return float(purse.findtext("amount"))
        raise WalletProviderError(
            "WebMoney: "
            + _(
                "WebMoney does not list the purse %(purse)s under the WMID %(wmid)s.",
                purse=self.webmoney_purse,
                wmid=self.webmoney_wmid,
            )
        )

    def _verify_notification(self, raw_body, headers):
        """Check a Web Merchant notification's LMI_HASH and LMI_HASH2.

        Both are computed over the ten documented fields with the purse's
        Secret Key, stored as the webhook secret. At least one must be present,
        and every one present must match. Pre-requests carry no hash and are
        rejected, so turn them off in the Merchant settings.
        """
        if self.provider_type != "webmoney":
            return super()._verify_notification(raw_body, headers)
        secret = self._get_secret("webhook_secret")
        form = _parse_form(raw_body)
        if not secret or form is None:
            return False
        received = {name: form.get(name, "").strip().upper() for name in ("LMI_HASH", "LMI_HASH2")}
        if not any(received.values()):
            return False
        lmi_hash, lmi_hash2 = webmoney_merchant_hashes(form, secret, self.webmoney_hash_method)
        expected = {"LMI_HASH": lmi_hash, "LMI_HASH2": lmi_hash2}
        return all(
            signatures_match(value, expected[name]) for name, value in received.items() if value
        )

    def _parse_notification(self, raw_body, headers):
        """Read a verified Web Merchant notification of money received.

        Such money is not a payout, so the event's reference is the Merchant
        order number behind a ``merchant:`` prefix, which no wallet payment
        reference has: the event is kept as a payment not found.
        """
        if self.provider_type != "webmoney":
            return super()._parse_notification(raw_body, headers)
        form = _parse_form(raw_body)
        if form is None:
            raise ValueError("the body is not a url-encoded form")
        missing = [name for name in MERCHANT_REQUIRED_FIELDS if not form.get(name)]
        if missing:
            raise ValueError(f"missing fields: {', '.join(missing)}")
        if form["LMI_PAYEE_PURSE"] != self.webmoney_purse:
            raise ValueError(f"the payee purse {form['LMI_PAYEE_PURSE']} is not the wallet's")
        if form["LMI_MODE"] not in ("0", "1"):
            raise ValueError(f"unknown LMI_MODE {form['LMI_MODE']!r}")
        if form["LMI_MODE"] == "1" and self.state == "enabled":
            raise ValueError("a test mode payment was sent to a live wallet")
        if not AMOUNT_PATTERN.match(form["LMI_PAYMENT_AMOUNT"]):
            raise ValueError(f"invalid amount {form['LMI_PAYMENT_AMOUNT']!r}")
        test_mode = form["LMI_MODE"] == "1"
        return {
            "event_id": f"merchant-{form['LMI_SYS_TRANS_NO']}",
            "event_type": "merchant.payment.test" if test_mode else "merchant.payment",
            "reference": f"merchant:{form['LMI_PAYMENT_NO']}",
            "provider_reference": "",
            "status": "paid",
            "amount": float(form["LMI_PAYMENT_AMOUNT"]),
            "currency": PURSE_CURRENCIES.get(form["LMI_PAYEE_PURSE"][0], ""),
            "occurred_at": form.get("LMI_SYS_TRANS_DATE"),
            "message": "",
        }

    def _get_notification_content_types(self):
        """Accept Web Merchant notifications, which are posted as forms."""
        if self.provider_type != "webmoney":
            return super()._get_notification_content_types()
        return {"application/x-www-form-urlencoded"}

    # === WEBMONEY HELPERS === #

    def _webmoney_check_purse_number(self, purse, error_class):
        """Raise ``error_class`` if ``purse`` is not a usable purse number."""
        if not PURSE_PATTERN.match(purse or ""):
            raise error_class(
                _(
                    "%(purse)s is not a WebMoney purse number: a type letter and 12 "
                    "digits are expected, e.g. Z123456789012.",
                    purse=purse,
                )
            )
        if purse[0] in RUBLE_PURSE_TYPES:
            raise error_class(
                _(
                    "The purse %(purse)s is a ruble purse. WebMoney closed all ruble "
                    "purses (R and P) after the licence of its ruble settlement bank "
                    "was revoked, so they can neither send nor receive.",
                    purse=purse,
                )
            )

    def _webmoney_check_ready(self):
        """Raise a WalletProviderError if the wallet cannot call WebMoney."""
        self.ensure_one()
        if not (self.webmoney_wmid and self.webmoney_purse):
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "Enter the WMID and the source purse of the wallet %(provider)s.",
                    provider=self.name,
                )
            )
        self._webmoney_get_base_url()
        self._webmoney_load_credentials()

    def _webmoney_get_base_url(self):
        base_url = self._get_api_base_url(None, WEBMONEY_LIVE_URL)
        if not base_url:
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "WebMoney has no test environment for its XML interfaces. In test "
                    "mode, set the API Base URL of %(provider)s to a test server; to "
                    "test with real money, enable the wallet and transfer between two "
                    "purses of your own.",
                    provider=self.name,
                )
            )
        return base_url

    def _webmoney_load_certificate(self):
        """Return the client certificate as an x509 object, or None."""
        text = (self.webmoney_certificate or "").strip()
        if not text:
            return None
        try:
            return x509.load_pem_x509_certificate(_normalize_pem(text).encode())
        except ValueError:
            return None

    def _webmoney_load_credentials(self):
        """Return the client certificate and its unencrypted private key, in PEM.

        :return: ``(certificate_pem, private_key_pem)``
        :rtype: tuple
        :raise WalletProviderError: if either is missing, unreadable, outside
            its validity period, or they do not belong together
        """
        certificate = self._webmoney_load_certificate()
        key_text = self._get_secret("webmoney_private_key")
        if not certificate or not key_text:
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "Enter the WM Keeper Light certificate of the WMID %(wmid)s and its "
                    "private key on the wallet %(provider)s.",
                    wmid=self.webmoney_wmid,
                    provider=self.name,
                )
            )
        now = fields.Datetime.now()  # Naive UTC, as cryptography's validity dates.
        if certificate.not_valid_after < now:
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "The certificate of the WMID %(wmid)s expired on %(date)s. Renew it "
                    "in WM Keeper Light and enter the new certificate and key.",
                    wmid=self.webmoney_wmid,
                    date=certificate.not_valid_after.strftime("%Y-%m-%d"),
                )
            )
        if certificate.not_valid_before > now:
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "The certificate of the WMID %(wmid)s is valid only from %(date)s.",
                    wmid=self.webmoney_wmid,
                    date=certificate.not_valid_before.strftime("%Y-%m-%d %H:%M"),
                )
            )
        password = self._get_secret("webmoney_key_password")
        try:
            key = serialization.load_pem_private_key(
                _normalize_pem(key_text).encode(),
                password=password.encode() if password else None,
            )
        except (ValueError, TypeError) as error:
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "The certificate's private key cannot be read: check that it is a "
                    "PEM key and that the key password is right."
                )
            ) from error
        public_format = (
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        key_public = key.public_key().public_bytes(*public_format)
        if key_public != certificate.public_key().public_bytes(*public_format):
            raise WalletProviderError(
                "WebMoney: " + _("The private key does not belong to the client certificate.")
            )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem

    @contextlib.contextmanager
    def _webmoney_tls_files(self):
        """Yield the ``cert`` and ``verify`` arguments of ``requests`` for one call.

        Python's ssl module loads certificates and keys only from files, so the
        decrypted key is written to a private temporary folder (mode 0700,
        readable by the Odoo user alone) and deleted when the call ends.
        """
        certificate_pem, key_pem = self._webmoney_load_credentials()
        with tempfile.TemporaryDirectory(prefix="wallet-webmoney-") as folder:
            contents = {
                "client.pem": certificate_pem,
                "client.key": key_pem,
                "server-ca.pem": self.webmoney_server_ca,
            }
            paths = {}
            for name, text in contents.items():
                if not text:
                    continue
                paths[name] = os.path.join(folder, name)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
                with os.fdopen(os.open(paths[name], flags, 0o600), "w") as file:
                    file.write(text)
            verify = paths.get("server-ca.pem", True)
            yield (paths["client.pem"], paths["client.key"]), verify

    def _webmoney_call(self, path, command, values):
        """Send one XML interface request and return its parsed response.

        Each call takes a new request number (reqn). If WebMoney responds that
        the number is not above an earlier one (error 102), the request was not
        executed: the sequence is moved past the current time and the request
        is sent once more, with the same content.

        :param list values: ``(element, text)`` pairs of the command element
        :return: ``{"retval": int, "retdesc": str, "root": element}``
        :raise WalletProviderError: if the TLS handshake rejected a certificate
        :raise WalletProviderUnreachable: if the outcome is unknown
        """
        self.ensure_one()
        parsed = self._webmoney_send_request(path, command, values)
        if parsed["retval"] == RETVAL_REQN_TOO_SMALL:
            _logger.warning("webmoney: reqn was not above the previous one; moving the sequence")
            self._webmoney_advance_reqn()
            parsed = self._webmoney_send_request(path, command, values)
        return parsed

    def _webmoney_send_request(self, path, command, values):
        reqn = self._webmoney_next_reqn()
        body = self._webmoney_build_request(reqn, command, values)
        return self._webmoney_parse_response(self._webmoney_post(path, body))

    def _webmoney_post(self, path, body):
        url = self._webmoney_get_base_url() + path
        with self._webmoney_tls_files() as (cert, verify):
            try:
                return self._send_api_request(
                    "POST",
                    url,
                    timeout=REQUEST_TIMEOUT,
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    cert=cert,
                    verify=verify,
                )
            except WalletProviderUnreachable as error:
                self._webmoney_raise_for_tls_rejection(error)
                raise

    def _webmoney_raise_for_tls_rejection(self, error):
        """Raise a WalletProviderError if ``error`` is a TLS handshake that
        rejected a certificate, since then the request was not executed.

        Under TLS 1.2 a server that rejects the client certificate ends the
        handshake with an alert before the request is sent. Under TLS 1.3 the
        client may send the request first and then read either the alert or a
        closed connection. A closed connection is not proof that nothing was
        executed, so it stays an unknown outcome, with a hint in its message.
        """
        chain = list(_iter_exception_chain(error))
        tls_errors = [exception for exception in chain if isinstance(exception, ssl.SSLError)]
        reasons = {exception.reason for exception in tls_errors if exception.reason}
        if any(reason.endswith(TLS_CERTIFICATE_REJECTIONS) for reason in reasons):
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "WebMoney rejected the client certificate of the WMID %(wmid)s "
                    "(%(reason)s). Renew or re-register the certificate in WM Keeper "
                    "Light and enter it again.",
                    wmid=self.webmoney_wmid,
                    reason=", ".join(sorted(reasons)),
                )
            ) from error
        if TLS_SERVER_UNTRUSTED in reasons:
            raise WalletProviderError(
                "WebMoney: "
                + _(
                    "The server's certificate could not be verified. Enter the "
                    "certificates of WebMoney's root authorities as Server CA "
                    "Certificates of %(provider)s.",
                    provider=self.name,
                )
            ) from error
        if tls_errors:
            raise WalletProviderUnreachable(
                f"webmoney: the TLS connection failed ({type(tls_errors[-1]).__name__}); if "
                "this lasts, check that WebMoney still accepts the client certificate"
            ) from error

    def _webmoney_next_reqn(self):
        self.env.cr.execute("SELECT nextval(%s)", [REQN_SEQUENCE])
        return self.env.cr.fetchone()[0]

    def _webmoney_advance_reqn(self):
        microseconds = int(time.time() * 1_000_000)
        self.env.cr.execute(
            f"SELECT setval(%s, GREATEST((SELECT last_value FROM {REQN_SEQUENCE}), %s))",
            [REQN_SEQUENCE, microseconds],
        )

    def _webmoney_build_request(self, reqn, command, values):
        root = etree.Element("w3s.request")
        etree.SubElement(root, "reqn").text = str(reqn)
        command_element = etree.SubElement(root, command)
        for name, text in values:
            etree.SubElement(command_element, name).text = text
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")

    def _webmoney_parse_response(self, response):
        """Read ``retval`` and ``retdesc`` of a ``w3s.response``.

        :raise WalletProviderUnreachable: if the response is not one, since then
            the outcome of the call is unknown
        """
        try:
            root = etree.fromstring(response.content, XML_PARSER)
            retval = int(root.findtext("retval"))
        except (etree.XMLSyntaxError, TypeError, ValueError) as error:
            raise WalletProviderUnreachable(
                f"webmoney: unreadable response (HTTP {response.status_code})"
            ) from error
        if root.tag != "w3s.response":
            raise WalletProviderUnreachable(f"webmoney: unexpected response <{root.tag}>")
        retdesc = (root.findtext("retdesc") or "").strip()
        return {"retval": retval, "retdesc": retdesc, "root": root}

    def _webmoney_get_attempt(self, payment):
        key = payment.idempotency_key
        attempt = payment.attempt_ids.filtered(lambda a: a.idempotency_key == key)
        if not attempt:
            raise WalletProviderError(
                "WebMoney: "
                + _("The payment %(payment)s has no attempt to send.", payment=payment.name)
            )
        return attempt[-1]

    def _webmoney_format_amount(self, amount, currency):
        """Format an X2 amount: a dot and no trailing zeros ("10.5", "9")."""
        text = float_repr(currency.round(amount), currency.decimal_places)
        return text.rstrip("0").rstrip(".") if "." in text else text

    def _webmoney_get_description(self, payment):
        parts = [payment.name, payment.purchase_id.name]
        return " ".join(filter(None, parts))[:255]

    def _webmoney_find_transfer(self, payment, tranid):
        """Look the transfer with ``tranid`` up in the source purse's history (X3).

        :return: the result dict of :meth:`_get_payout_status`
        :raise WalletProviderUnreachable: if X3 cannot be read, or lists a
            transfer with this tranid to another payee or of another amount
            (never WalletProviderError, which would fail the payment)
        """
        sent_at = payment.sent_at or fields.Datetime.now()
        values = [
            ("purse", self.webmoney_purse),
            ("wmtranid", "0"),
            ("tranid", tranid),
            ("wminvid", "0"),
            ("orderid", "0"),
            ("datestart", (sent_at - timedelta(days=1)).strftime(DATE_FORMAT)),
            ("datefinish", (fields.Datetime.now() + timedelta(days=1)).strftime(DATE_FORMAT)),
        ]
        try:
            response = self._webmoney_call(X3_PATH, "getoperations", values)
        except WalletProviderError as error:
            # A status query must not fail the payment: its transfer may exist.
            raise WalletProviderUnreachable(str(error)) from error
        if response["retval"]:
            raise WalletProviderUnreachable(
                f"webmoney: X3 failed with retval {response['retval']}: {response['retdesc']}"
            )
        operations = [
            operation
            for operation in response["root"].iterfind("operations/operation")
            if (operation.findtext("tranid") or "").strip() == tranid
            and (operation.findtext("pursesrc") or "").strip() == self.webmoney_purse
        ]
        if not operations:
            return {"status": "unknown", "provider_reference": None, "message": ""}
        return self._webmoney_read_operation(operations[0], payment)

    def _webmoney_read_operation(self, operation, payment):
        """Turn an X2 or X3 ``operation`` element of ``payment`` into a result."""
        payee = (operation.findtext("pursedest") or "").strip()
        amount = float(operation.findtext("amount") or 0)
        if payee != payment.payee_account_id.identifier.strip() or float_compare(
            amount, payment.amount, precision_rounding=payment.currency_id.rounding
        ):
            # Another system signing with the same WMID used this tranid.
            raise WalletProviderUnreachable(
                f"webmoney: the transfer {operation.get('id')} with this tranid went to "
                f"{payee} for {amount}, not to this payment's payee and amount"
            )
        opertype = (operation.findtext("opertype") or "").strip()
        status = OPERTYPE_STATUSES.get(opertype, "pending")
        message = ""
        if status == "failed":
            message = _("WebMoney refunded the protected transfer to the payer.")
        return {
            "status": status,
            "provider_reference": operation.get("id"),
            "message": message,
            "fee": float(operation.findtext("comiss") or 0.0),
        }

    def _webmoney_get_error_message(self, retval, retdesc, payment=None):
        """Return the translated explanation of an X2/X3/X9 ``retval``."""
        payee = payment.payee_account_id.identifier if payment else ""
        amount = payment.currency_id.format(payment.amount) if payment else ""
        if retval == 17:
            return _(
                "There is not enough money in the purse %(purse)s for %(amount)s and "
                "WebMoney's fee.",
                purse=self.webmoney_purse,
                amount=amount,
            )
        if retval == 7:
            return _(
                "The payee purse %(payee)s does not exist. Check the vendor's WebMoney account.",
                payee=payee,
            )
        if retval == 6:
            return _("WebMoney does not know the payee of the purse %(payee)s.", payee=payee)
        if retval == 58:
            return _(
                "The transfer of %(amount)s exceeds the limits of the payee purse "
                "%(payee)s. Ask the vendor to raise them, or pay a smaller amount.",
                amount=amount,
                payee=payee,
            )
        if retval == 35:
            return _(
                "The owner of the purse %(payee)s has not authorised transfers from the "
                "WMID %(wmid)s. Ask the vendor to add it to their trusted "
                "correspondents.",
                payee=payee,
                wmid=self.webmoney_wmid,
            )
        if retval == 29:
            return _(
                "The purses %(purse)s and %(payee)s are of different types.",
                purse=self.webmoney_purse,
                payee=payee,
            )
        if retval == 26:
            return _(
                "The payee purse is the wallet's own purse %(purse)s.",
                purse=self.webmoney_purse,
            )
        if retval in (11, 111):
            return _(
                "The purse %(purse)s does not exist or does not belong to the WMID %(wmid)s.",
                purse=self.webmoney_purse,
                wmid=self.webmoney_wmid,
            )
        if retval in (110, -110, -12, 5):
            return _(
                "WebMoney denied the WMID %(wmid)s access to this interface (error "
                "%(code)s). Ask WebMoney support to enable it for this WMID and for "
                "this server's IP address.",
                wmid=self.webmoney_wmid,
                code=retval,
            )
        if retval == 13:
            return _("The amount must be greater than zero.")
        return _(
            "WebMoney rejected the request with error %(code)s: %(description)s",
            code=retval,
            description=retdesc or _("no description"),
        )


def webmoney_merchant_hashes(form, secret, hash_method="sha256"):
    """Return ``(LMI_HASH, LMI_HASH2)`` of a Web Merchant notification.

    Both hash the ten documented fields in their order, the purse's Secret Key
    being the eighth: LMI_HASH is the uppercase hex MD5 or SHA-256 of the values
    joined with no separator, LMI_HASH2 the uppercase hex SHA-256 of the values
    joined by semicolons. Absent fields count as empty strings.

    :param dict form: the notification's fields
    :param str secret: the purse's Secret Key
    :param str hash_method: ``"sha256"`` or ``"md5"``, as set for LMI_HASH
    :rtype: tuple
    """
    values = [secret if name is None else form.get(name, "") for name in MERCHANT_HASH_FIELDS]
    digest = hashlib.md5 if hash_method == "md5" else hashlib.sha256
    lmi_hash = digest("".join(values).encode()).hexdigest().upper()
    lmi_hash2 = hashlib.sha256(";".join(values).encode()).hexdigest().upper()
    return lmi_hash, lmi_hash2


def _parse_form(raw_body):
    """Return a url-encoded body as a dict, or None if it is not one or
    repeats a field (which would make the signed values ambiguous)."""
    try:
        pairs = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None


def _normalize_pem(text):
    """Restore the line breaks of a PEM block pasted into a one-line input.

    Browsers drop the line breaks of text pasted into a password input, which
    PEM parsers need. Blocks with headers (old-style encrypted keys) are
    returned as they are.
    """
    match = PEM_PATTERN.search(text)
    if not match:
        return text
    label, body = match.groups()
    if ":" in body:
        return text
    body = "".join(body.split())
    lines = [body[index : index + 64] for index in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _iter_exception_chain(error):
    """Yield ``error`` and the exceptions it wraps, through causes, contexts,
    arguments and urllib3's ``reason`` attribute."""
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(getattr(current, "args", ()))
        pending.extend(item for item in linked if isinstance(item, BaseException))
