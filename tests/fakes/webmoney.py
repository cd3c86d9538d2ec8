"""A fake WebMoney Transfer service for the WebMoney rail's tests.

:class:`FakeWebMoney` serves the certificate-authenticated ("WM Keeper Light")
XML interfaces X2 (purse to purse transfer), X3 (operation history) and X9
(purse balances) over HTTPS on 127.0.0.1. Like the real endpoints it accepts
only clients that present a certificate of its certification authority, here a
:class:`TestCertificateAuthority`, and it reads the signer's WMID from that
certificate. It checks every request number (``reqn``), transfer number
(``tranid``) and field as the interface pages document them, and answers with
their ``retval`` codes.

It also builds Web Merchant result notifications, signed with LMI_HASH and
LMI_HASH2 under the purse's Secret Key, and posts them when a test asks, since
the Odoo test server must not be called while it handles a payout.
"""

import hashlib
import ipaddress
import os
import re
import shutil
import ssl
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from .base import FakeProviderServer, FakeResponse

X2_PATH = "/asp/XMLTransCert.asp"
X3_PATH = "/asp/XMLOperationsCert.asp"
X9_PATH = "/asp/XMLPursesCert.asp"

PURSE_PATTERN = re.compile(r"^[A-Z]\d{12}$")
# X2 amounts: a dot as separator and no superfluous zeros ("10.5", not "10.50").
AMOUNT_PATTERN = re.compile(r"^(0|[1-9]\d*)(\.\d?[1-9])?$")
DATE_FORMAT = "%Y%m%d %H:%M:%S"
MAX_TRANID = 2**53
FEE_RATE = Decimal("0.008")  # 0.8 % of the amount, charged to the sender

MERCHANT_HASH_FIELDS = (
    "LMI_PAYEE_PURSE",
    "LMI_PAYMENT_AMOUNT",
    "LMI_PAYMENT_NO",
    "LMI_MODE",
    "LMI_SYS_INVS_NO",
    "LMI_SYS_TRANS_NO",
    "LMI_SYS_TRANS_DATE",
    None,  # the purse's Secret Key goes here
    "LMI_PAYER_PURSE",
    "LMI_PAYER_WM",
)


# === CERTIFICATES === #


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key, password=None):
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def _certificate_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class TestCertificateAuthority:
    """A throwaway certification authority for the fake's TLS.

    It issues the fake's server certificate and the clients' WMID
    certificates, and signs revocation lists.
    """

    __test__ = False  # Not a test case, despite its name.

    def __init__(self, name="Fake WebMoney Test CA"):
        self.key = _new_key()
        now = datetime.now(timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def certificate_pem(self):
        return _certificate_pem(self.certificate)

    def issue(self, common_name, not_before=None, not_after=None, ip_address=None, password=None):
        """Issue a leaf certificate.

        :param str common_name: the WMID of a client, or a host name
        :param datetime not_before: start of validity (default: yesterday)
        :param datetime not_after: end of validity (default: in a year)
        :param str ip_address: for a server certificate, its IP address
        :param str password: encrypt the returned private key with it
        :return: ``(certificate_pem, private_key_pem)``
        :rtype: tuple
        """
        key = _new_key()
        now = datetime.now(timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if ip_address:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip_address))]),
                critical=False,
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        return _certificate_pem(certificate), _key_pem(key, password)

    def crl_pem(self, serial_numbers):
        """Return a revocation list of the certificates with ``serial_numbers``."""
        now = datetime.now(timezone.utc)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=1))
        )
        for serial in sorted(serial_numbers):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - timedelta(minutes=1))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM).decode()


# === SERVER === #


class FakeWebMoney(FakeProviderServer):
    """WebMoney's certificate-authenticated XML interfaces, with one ledger.

    Set up WMIDs and purses with :meth:`add_wmid` and :meth:`add_purse`; a
    payer's purses belong to the WMID of its client certificate. The fee is
    0.8 % of the amount, debited from the payer on top of it.
    """

    def __init__(self, authority, tls_max_version=ssl.TLSVersion.TLSv1_2):
        super().__init__()
        self.authority = authority
        # Under TLS 1.2 a rejected client certificate ends the handshake before
        # the client sends its request; under TLS 1.3 the client learns it only
        # when it reads the response, as an alert or a closed connection.
        self.tls_max_version = tls_max_version
        self.purses = {}  # purse -> {"wmid", "balance", "trusted", "max_amount"}
        self.x2_enabled = {}  # wmid -> whether X2 is enabled for it
        self.last_reqn = {}  # wmid -> last accepted reqn
        self.operations = []
        self.next_wmtranid = 9000001
        self.notifications = []
        self.merchant_secrets = {}  # purse -> Secret Key of its Merchant settings
        self.tls_rejections = []
        self.revoked_serials = set()
        self._peer = threading.local()
        self._workdir = None
        self.route("POST", X2_PATH, self._x2_transfer)
        self.route("POST", X3_PATH, self._x3_operations)
        self.route("POST", X9_PATH, self._x9_purses)

    # === LIFECYCLE === #

    def start(self):
        super().start()
        self._workdir = tempfile.mkdtemp(prefix="fake-webmoney-")
        certificate_pem, key_pem = self.authority.issue("127.0.0.1", ip_address="127.0.0.1")
        self._server_files = (
            self._write("server.pem", certificate_pem),
            self._write("server.key", key_pem),
        )
        self._tls_context = self._make_tls_context()
        # Each connection is wrapped in TLS in its own thread, before the
        # HTTP handler reads it; no client connects before start() returns.
        plain_finish_request = self.server.finish_request

        def finish_request(connection, client_address):
            try:
                tls_connection = self._tls_context.wrap_socket(connection, server_side=True)
            except (ssl.SSLError, OSError) as error:
                self.tls_rejections.append(str(error))
                return
            try:
                common_names = [
                    value
                    for field in tls_connection.getpeercert()["subject"]
                    for key, value in field
                    if key == "commonName"
                ]
                self._peer.wmid = common_names[0] if common_names else None
                plain_finish_request(tls_connection, client_address)
            finally:
                tls_connection.close()

        self.server.finish_request = finish_request
        return self

    def stop(self):
        super().stop()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def url(self):
        host, port = self.server.server_address
        return f"https://{host}:{port}"

    def _write(self, name, text):
        path = os.path.join(self._workdir, name)
        with open(path, "w") as file:
            file.write(text)
        return path

    def _make_tls_context(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.maximum_version = self.tls_max_version
        context.load_cert_chain(*self._server_files)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=self.authority.certificate_pem)
        if self.revoked_serials:
            crl_pem = self.authority.crl_pem(self.revoked_serials)
            context.load_verify_locations(cafile=self._write("ca.crl", crl_pem))
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return context

    def revoke(self, certificate_pem):
        """Revoke a client certificate: later TLS handshakes with it fail."""
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        self.revoked_serials.add(certificate.serial_number)
        self._tls_context = self._make_tls_context()

    # === SET-UP === #

    def add_wmid(self, wmid, x2_enabled=True):
        self.x2_enabled[wmid] = x2_enabled

    def add_purse(self, purse, wmid, balance=0.0, trusted=(), max_amount=None):
        """Create a purse of ``wmid``.

        :param tuple trusted: WMIDs allowed to send to it with onlyauth=1
        :param float max_amount: largest transfer the purse accepts (retval 58)
        """
        self.x2_enabled.setdefault(wmid, False)
        self.purses[purse] = {
            "wmid": wmid,
            "balance": Decimal(str(balance)),
            "trusted": set(trusted),
            "max_amount": Decimal(str(max_amount)) if max_amount is not None else None,
        }

    def balance(self, purse):
        return float(self.purses[purse]["balance"])

    def transfers(self, tranid=None):
        """Return the executed transfers, or those with ``tranid``."""
        with self.lock:
            return [
                operation
                for operation in self.operations
                if tranid is None or operation["tranid"] == str(tranid)
            ]

    def set_opertype(self, tranid, opertype):
        """Change the operation type of a transfer (4: protected, 12: refunded)."""
        for operation in self.transfers(tranid):
            operation["opertype"] = str(opertype)

    # === X2: TRANSFER === #

    def _x2_transfer(self, request):
        root, wmid, reply = self._open_request(request, "trans")
        if reply:
            return reply
        trans = root.find("trans")
        values = {
            name: (trans.findtext(name) or "").strip()
            for name in (
                "tranid",
                "pursesrc",
                "pursedest",
                "amount",
                "period",
                "pcode",
                "desc",
                "wminvid",
                "onlyauth",
            )
        }
        with self.lock:
            error = self._check_transfer_fields(values) or self._check_reqn(wmid, root)
            if error:
                return self._reply(root, *error)
            if not self.x2_enabled.get(wmid):
                return self._reply(root, 110, "no access to the interface")
            for operation in self.transfers(values["tranid"]):
                if self.purses[operation["pursesrc"]]["wmid"] == wmid:
                    return self._reply(
                        root, 103, "a transfer with this tranid was already executed"
                    )
            error = self._check_transfer_parties(wmid, values)
            if error:
                return self._reply(root, *error)
            operation = self._execute_transfer(values)
        return self._reply(
            root, 0, "", self._operation_element(operation, for_purse=values["pursesrc"])
        )

    def _check_transfer_fields(self, values):
        tranid = values["tranid"]
        if not tranid.isdigit() or not 0 < int(tranid) < MAX_TRANID:
            return -3, "invalid tranid"
        if not PURSE_PATTERN.match(values["pursesrc"]):
            return -4, "invalid pursesrc"
        if not PURSE_PATTERN.match(values["pursedest"]):
            return -5, "invalid pursedest"
        if not AMOUNT_PATTERN.match(values["amount"]):
            return -6, "invalid amount"
        if len(values["desc"]) > 255:
            return -7, "invalid desc"
        if len(values["pcode"]) > 255:
            return -8, "pcode too long"
        period = int(values["period"]) if values["period"].isdigit() else -1
        if not 0 <= period <= 255:
            return -100, "invalid period"
        if period and not values["pcode"]:
            return -9, "pcode is required when period > 0"
        if not period and values["pcode"]:
            return -10, "pcode must be empty when period = 0"
        if not values["wminvid"].isdigit():
            return -11, "invalid wminvid"
        return None

    def _check_transfer_parties(self, wmid, values):
        source = self.purses.get(values["pursesrc"])
        if source is None:
            return 11, "sender purse not found"
        if source["wmid"] != wmid:
            return 111, "the purse does not belong to the signer and has no trust"
        if values["pursesrc"] == values["pursedest"]:
            return 26, "source and destination purse are the same"
        if values["pursesrc"][0] != values["pursedest"][0]:
            return 29, "purse types differ"
        payee = self.purses.get(values["pursedest"])
        if payee is None:
            return 7, "recipient purse not found"
        amount = Decimal(values["amount"])
        if amount <= 0:
            return 13, "amount must be greater than 0"
        if values["onlyauth"] == "1" and wmid not in payee["trusted"]:
            return 35, "payer not authorised by the correspondent"
        if payee["max_amount"] is not None and amount > payee["max_amount"]:
            return 58, "recipient's purse limits exceeded"
        if source["balance"] < amount + self._fee(amount):
            return 17, "not enough money in the purse"
        return None

    def _fee(self, amount):
        return (amount * FEE_RATE).quantize(Decimal("0.01"))

    def _execute_transfer(self, values):
        amount = Decimal(values["amount"])
        fee = self._fee(amount)
        source = self.purses[values["pursesrc"]]
        payee = self.purses[values["pursedest"]]
        source["balance"] -= amount + fee
        payee["balance"] += amount
        now = datetime.now(timezone.utc).strftime(DATE_FORMAT)
        operation = {
            "id": str(self.next_wmtranid),
            "tranid": values["tranid"],
            "pursesrc": values["pursesrc"],
            "pursedest": values["pursedest"],
            "amount": values["amount"],
            "comiss": str(fee),
            "opertype": "0",
            "period": values["period"],
            "wminvid": values["wminvid"],
            "orderid": "0",
            "desc": values["desc"],
            "datecrt": now,
            "dateupd": now,
            "corrwm": payee["wmid"],
            "rest": str(source["balance"]),
        }
        self.next_wmtranid += 1
        self.operations.append(operation)
        return operation

    # === X3: HISTORY === #

    def _x3_operations(self, request):
        root, wmid, reply = self._open_request(request, "getoperations")
        if reply:
            return reply
        query = root.find("getoperations")
        values = {
            name: (query.findtext(name) or "").strip()
            for name in (
                "purse",
                "wmtranid",
                "tranid",
                "wminvid",
                "orderid",
                "datestart",
                "datefinish",
            )
        }
        with self.lock:
            error = self._check_reqn(wmid, root)
            if error:
                return self._reply(root, *error)
            purse = self.purses.get(values["purse"])
            if purse is None or purse["wmid"] != wmid:
                return self._reply(root, 111, "the purse does not belong to the signer")
            try:
                start = datetime.strptime(values["datestart"], DATE_FORMAT)
                finish = datetime.strptime(values["datefinish"], DATE_FORMAT)
            except ValueError:
                return self._reply(root, -100, "datestart and datefinish are mandatory")
            found = [
                operation
                for operation in self.operations
                if values["purse"] in (operation["pursesrc"], operation["pursedest"])
                and start <= datetime.strptime(operation["datecrt"], DATE_FORMAT) <= finish
                and values["tranid"] in ("", "0", operation["tranid"])
                and values["wmtranid"] in ("", "0", operation["id"])
            ]
        operations = etree.Element("operations", cnt=str(len(found)))
        for operation in found:
            operations.append(self._operation_element(operation, for_purse=values["purse"]))
        return self._reply(root, 0, "", operations)

    def _operation_element(self, operation, for_purse):
        element = etree.Element("operation", id=operation["id"], ts=operation["id"])
        names = (
            "tranid",
            "pursesrc",
            "pursedest",
            "amount",
            "comiss",
            "opertype",
            "period",
            "wminvid",
            "orderid",
            "desc",
            "datecrt",
            "dateupd",
            "corrwm",
        )
        for name in names:
            etree.SubElement(element, name).text = operation[name]
        if for_purse == operation["pursesrc"]:
            etree.SubElement(element, "rest").text = operation["rest"]
        return element

    # === X9: BALANCES === #

    def _x9_purses(self, request):
        root, wmid, reply = self._open_request(request, "getpurses")
        if reply:
            return reply
        with self.lock:
            error = self._check_reqn(wmid, root)
            if error:
                return self._reply(root, *error)
            requested = (root.find("getpurses").findtext("wmid") or "").strip()
            if requested != wmid:
                return self._reply(root, -15, "invalid wmid")
            owned = [(purse, data) for purse, data in self.purses.items() if data["wmid"] == wmid]
        purses = etree.Element("purses", cnt=str(len(owned)))
        for index, (purse, data) in enumerate(owned, start=1):
            element = etree.SubElement(purses, "purse", id=str(index))
            etree.SubElement(element, "pursename").text = purse
            etree.SubElement(element, "amount").text = str(data["balance"])
            etree.SubElement(element, "desc").text = "Fake purse"
            etree.SubElement(element, "outsideopen").text = "1"
        return self._reply(root, 0, "", purses)

    # === PROTOCOL HELPERS === #

    def _open_request(self, request, command):
        """Parse a ``w3s.request`` with the ``command`` element.

        :return: ``(root, signer_wmid, error_response_or_None)``
        """
        wmid = getattr(self._peer, "wmid", None)
        try:
            root = etree.fromstring(request.body, etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError:
            return None, wmid, self._reply(None, -100, "the request is not XML")
        if root.tag != "w3s.request" or root.find(command) is None:
            return None, wmid, self._reply(root, -100, "bad command format")
        if root.find("sign") is not None or root.find("wmid") is not None:
            # The certificate endpoints authenticate by TLS, not by signature.
            return None, wmid, self._reply(root, -100, "wmid and sign are not accepted here")
        return root, wmid, None

    def _check_reqn(self, wmid, root):
        """Accept a reqn greater than every earlier one of the signer's WMID."""
        reqn = (root.findtext("reqn") or "").strip()
        if not reqn.isdigit() or len(reqn) > 18:
            return -1, "invalid reqn"
        if int(reqn) <= self.last_reqn.get(wmid, 0):
            return 102, "reqn is not greater than the previous one"
        self.last_reqn[wmid] = int(reqn)
        return None

    def _reply(self, root, retval, retdesc, *children):
        response = etree.Element("w3s.response")
        reqn = root.findtext("reqn") if root is not None else ""
        etree.SubElement(response, "reqn").text = reqn or ""
        etree.SubElement(response, "retval").text = str(retval)
        etree.SubElement(response, "retdesc").text = retdesc
        for child in children:
            response.append(child)
        body = etree.tostring(response, xml_declaration=True, encoding="utf-8")
        return FakeResponse(200, body, content_type="text/xml; charset=utf-8")

    # === MERCHANT NOTIFICATIONS === #

    def merchant_notification(
        self,
        payee_purse,
        amount,
        payment_no,
        payer_purse,
        payer_wm,
        mode="1",
        invoice_no="1001",
        transaction_no="2002",
        date="20260115 13:45:00",
        hash_method="sha256",
        **extra,
    ):
        """Return the fields of a Merchant result notification, signed as the
        purse's settings ask (LMI_HASH with ``hash_method``, and LMI_HASH2)."""
        fields = {
            "LMI_MODE": mode,
            "LMI_PAYMENT_AMOUNT": amount,
            "LMI_PAYEE_PURSE": payee_purse,
            "LMI_PAYMENT_NO": payment_no,
            "LMI_PAYER_WM": payer_wm,
            "LMI_PAYER_PURSE": payer_purse,
            "LMI_SYS_INVS_NO": invoice_no,
            "LMI_SYS_TRANS_NO": transaction_no,
            "LMI_SYS_TRANS_DATE": date,
            "LMI_PAYMENT_DESC": "Order " + payment_no,
        }
        fields.update(extra)
        secret = self.merchant_secrets[payee_purse]
        fields["LMI_HASH"], fields["LMI_HASH2"] = merchant_hashes(fields, secret, hash_method)
        return fields

    def queue_notification(self, fields):
        self.notifications.append(urlencode(fields).encode())

    def deliver_notifications(self, url):
        """Post the queued notifications to ``url`` and return the responses."""
        responses = []
        while self.notifications:
            body = self.notifications.pop(0)
            responses.append(
                requests.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    timeout=30,
                )
            )
        return responses


def merchant_hashes(fields, secret, hash_method="sha256"):
    """Return ``(LMI_HASH, LMI_HASH2)`` of Merchant notification ``fields``.

    LMI_HASH is the uppercase MD5 or SHA-256 of the ten values joined with no
    separator, LMI_HASH2 the uppercase SHA-256 of the same values joined by
    semicolons; the Secret Key is the eighth value.
    """
    values = [secret if name is None else fields.get(name, "") for name in MERCHANT_HASH_FIELDS]
    digest = hashlib.md5 if hash_method == "md5" else hashlib.sha256
    lmi_hash = digest("".join(values).encode()).hexdigest().upper()
    lmi_hash2 = hashlib.sha256(";".join(values).encode()).hexdigest().upper()
    return lmi_hash, lmi_hash2
