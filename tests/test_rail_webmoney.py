import ssl
from datetime import datetime, timedelta, timezone
from unittest.mock import patch
from urllib.parse import urlencode

from lxml import etree

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..exceptions import WalletProviderUnreachable
from ..models import wallet_provider_webmoney as webmoney_module
from ..models.wallet_provider_webmoney import webmoney_merchant_hashes
from .common import WalletPaymentCommon
from .fakes.webmoney import X2_PATH, X3_PATH, FakeWebMoney, TestCertificateAuthority

WMID = "123456789012"
PAYEE_WMID = "210987654321"
KEY_PASSWORD = "key-password-7"
MERCHANT_SECRET = "MySecretKey-123"
# Seconds the fake holds a lost answer: longer than the 10 s to which Odoo's
# test setup raises shorter request timeouts.
LOST_ANSWER_DELAY = 12

PAYMENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_payment"
PROVIDER_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider"
CONTROLLER_LOGGER = "odoo.addons.purchase_wallet_payment.controllers.main"
EVENT_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_event"
RAIL_LOGGER = "odoo.addons.purchase_wallet_payment.models.wallet_provider_webmoney"


@tagged("post_install", "-at_install")
class TestWebMoneyRail(WalletPaymentCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The purse type follows the company currency: Z for USD, E for EUR.
        cls.letter = {"USD": "Z", "EUR": "E"}[cls.currency.name]
        cls.source_purse = f"{cls.letter}123456789012"
        cls.payee_purse = f"{cls.letter}210987654321"
        cls.authority = TestCertificateAuthority()
        cls.certificate_pem, cls.key_pem = cls.authority.issue(WMID, password=KEY_PASSWORD)
        cls.wm_journal = cls.env["account.journal"].create(
            {"name": "WebMoney", "type": "bank", "code": "WMN", "company_id": cls.company.id}
        )
        cls.wm_provider = cls.env["wallet.provider"].create(
            {
                "name": "Company WebMoney",
                "provider_type": "webmoney",
                "state": "test",
                "company_id": cls.company.id,
                "currency_id": cls.currency.id,
                "journal_id": cls.wm_journal.id,
                "webmoney_wmid": WMID,
                "webmoney_purse": cls.source_purse,
                "webmoney_certificate": cls.certificate_pem,
                "webmoney_private_key": cls.key_pem,
                "webmoney_key_password": KEY_PASSWORD,
                "webmoney_server_ca": cls.authority.certificate_pem,
                "webhook_secret": MERCHANT_SECRET,
            }
        )
        cls.wm_provider.fee_account_id = cls.company_data["default_account_expense"]
        cls.company.wallet_provider_id = cls.wm_provider
        cls.wm_vendor = cls._create_wm_vendor("Purse Traders", cls.payee_purse)

    @classmethod
    def _create_wm_vendor(cls, name, purse):
        return cls._create_vendor(name, purse, provider_type="webmoney")

    def setUp(self):
        super().setUp()
        # A fresh service per test: its ledger is not rolled back with the test.
        self._start_fake()

    # === HELPERS === #

    def _start_fake(self, **options):
        self.fake = FakeWebMoney(self.authority, **options).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_wmid(WMID)
        self.fake.add_purse(self.source_purse, WMID, balance=5000.0)
        self.fake.add_purse(self.payee_purse, PAYEE_WMID, trusted={WMID})
        self.fake.merchant_secrets[self.source_purse] = MERCHANT_SECRET
        self.wm_provider.api_base_url = self.fake.url

    def _approved(self, amount=100.0, vendor=None):
        return self._approved_payment(self.wm_provider, vendor or self.wm_vendor, amount)

    def _x2_requests(self):
        return [etree.fromstring(request.body) for request in self.fake.requests_to(X2_PATH)]

    def _tranid(self, payment):
        return payment.attempt_ids.filtered(
            lambda a: a.idempotency_key == payment.idempotency_key
        ).provider_number

    def _set_certificate(self, certificate_pem, key_pem, password=KEY_PASSWORD):
        self.wm_provider.write(
            {
                "webmoney_certificate": certificate_pem,
                "webmoney_private_key": key_pem,
                "webmoney_key_password": password,
            }
        )

    # === FLOW === #

    def test_receipt_to_paid_through_x2(self):
        order = self._create_order(vendor=self.wm_vendor)
        self._receive(order)
        payment = self._payments(order)
        self.assertEqual(payment.state, "approved")
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        tranid = self._tranid(payment)
        transfers = self.fake.transfers(tranid)
        self.assertEqual(len(transfers), 1)
        self.assertEqual(transfers[0]["pursedest"], self.payee_purse)
        self.assertEqual(transfers[0]["amount"], "500")
        self.assertEqual(payment.provider_reference, transfers[0]["id"])
        self.assertIn(payment.name, transfers[0]["desc"])
        self.assertIn(order.name, transfers[0]["desc"])
        self.assertEqual(self.fake.balance(self.payee_purse), 500.0)
        self.assertEqual(self.fake.balance(self.source_purse), 5000.0 - 500.0 - 4.0)
        self.assertEqual(payment.account_payment_id.state, "paid")
        self.assertEqual(payment.log_ids[-1].to_state, "paid")
        self.assertEqual(payment.fee_amount, 4.0, "comiss: 0.8 % of 500")
        self.assertTrue(payment.fee_move_id)

    def test_x2_request_follows_interface(self):
        payment = self._approved(amount=25.5)
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        [request] = self._x2_requests()
        trans = request.find("trans")
        self.assertEqual(trans.findtext("amount"), "25.5", "no trailing zero")
        self.assertEqual(trans.findtext("tranid"), self._tranid(payment))
        self.assertEqual(trans.findtext("pursesrc"), self.source_purse)
        self.assertEqual(trans.findtext("onlyauth"), "1")
        self.assertEqual(trans.findtext("period"), "0")
        self.assertEqual(trans.findtext("wminvid"), "0")
        self.assertIsNone(request.find("sign"), "the certificate endpoints take no signature")
        self.assertTrue(request.findtext("reqn").isdigit())

    def test_whole_amount_sent_without_decimals(self):
        payment = self._approved(amount=9.0)
        payment._dispatch()
        self.assertEqual(self._x2_requests()[0].find("trans").findtext("amount"), "9")
        self.assertEqual(payment.state, "paid")

    # === IDEMPOTENCY === #

    def test_same_attempt_reuses_tranid(self):
        payment = self._approved()
        payment._dispatch()
        tranid = self._tranid(payment)
        result = self.wm_provider._send_payout(payment)
        self.assertEqual(result["status"], "paid")
        self.assertEqual(result["provider_reference"], payment.provider_reference)
        first, second = self._x2_requests()
        self.assertEqual(second.find("trans").findtext("tranid"), tranid)
        self.assertGreater(int(second.findtext("reqn")), int(first.findtext("reqn")))
        self.assertEqual(len(self.fake.transfers(tranid)), 1, "error 103: paid once")
        self.assertEqual(len(self.fake.transfers()), 1)

    @mute_logger(PAYMENT_LOGGER)
    def test_new_attempt_gets_larger_tranid(self):
        self.fake.add_purse(self.source_purse, WMID, balance=50.0)
        payment = self._approved(amount=100.0)
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        first_tranid = self._tranid(payment)
        self.fake.add_purse(self.source_purse, WMID, balance=5000.0)
        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        second_tranid = self._tranid(payment)
        self.assertGreater(int(second_tranid), int(first_tranid))
        self.assertEqual(len(self.fake.transfers()), 1)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER, RAIL_LOGGER)
    def test_reqn_below_previous_is_resent_once(self):
        # Another integration of the same WMID used time-based numbers.
        self.fake.last_reqn[WMID] = int(datetime.now().timestamp() * 1_000_000) - 10
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        first, second = self._x2_requests()
        self.assertEqual(
            first.find("trans").findtext("tranid"), second.find("trans").findtext("tranid")
        )
        self.assertGreater(int(second.findtext("reqn")), int(first.findtext("reqn")))
        self.assertEqual(len(self.fake.transfers()), 1)

    # === UNKNOWN OUTCOMES === #

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_server_error_then_unknown_then_new_attempt(self):
        self.fake.inject("status", path=X2_PATH, status=503)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.assertFalse(self.fake.transfers())
        payment.action_check_status()
        self.assertEqual(payment.state, "in_doubt", "within the grace period")
        payment._internal().sent_at = fields.Datetime.now() - timedelta(hours=1)
        payment.action_check_status()
        self.assertEqual(payment.state, "failed")
        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(len(self.fake.transfers()), 1)
        self.assertEqual(len(self.fake.requests_to(X2_PATH)), 2)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_lost_answer_resolved_by_x3(self):
        # Odoo's test setup raises request timeouts below 10 s to 10 s.
        self.fake.inject("drop_after", path=X2_PATH, seconds=LOST_ANSWER_DELAY)
        payment = self._approved()
        with patch.object(webmoney_module, "REQUEST_TIMEOUT", 2):
            payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        tranid = self._tranid(payment)
        self.assertEqual(len(self.fake.transfers(tranid)), 1, "applied before the answer was lost")
        payment.action_check_status()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(payment.log_ids[-1].cause, "status_query")
        self.assertEqual(payment.provider_reference, self.fake.transfers(tranid)[0]["id"])
        self.assertEqual(len(self.fake.requests_to(X2_PATH)), 1, "a status query never resends")
        self.assertEqual(len(self.fake.requests_to(X3_PATH)), 1)
        self.assertTrue(payment.account_payment_id)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_status_query_failure_keeps_in_doubt(self):
        self.fake.inject("status", path=X2_PATH, status=502)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "in_doubt")
        self.fake.inject("status", path=X3_PATH, status=500)
        payment.action_check_status()
        self.assertEqual(payment.state, "in_doubt")
        self.assertEqual(len(self.fake.requests_to(X3_PATH)), 1)
        self.assertEqual(len(self.fake.requests_to(X2_PATH)), 1, "a failed query never resends")

    # === REFUSALS === #

    @mute_logger(PAYMENT_LOGGER)
    def test_not_enough_funds_fails(self):
        self.fake.add_purse(self.source_purse, WMID, balance=100.0)
        payment = self._approved(amount=100.0)
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("not enough money", payment.error_message)
        self.assertTrue(payment.error_message.startswith("WebMoney: "))
        self.assertFalse(self.fake.transfers())

    @mute_logger(PAYMENT_LOGGER)
    def test_unknown_payee_purse_fails(self):
        vendor = self._create_wm_vendor("Ghost Purse Ltd", f"{self.letter}999999999999")
        payment = self._approved(vendor=vendor)
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("does not exist", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_payee_purse_limit_fails(self):
        limited = f"{self.letter}444444444444"
        self.fake.add_purse(limited, "444444444444", trusted={WMID}, max_amount=50.0)
        payment = self._approved(vendor=self._create_wm_vendor("Small Purse Co", limited))
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("exceeds the limits", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_payee_without_authorisation_fails(self):
        closed = f"{self.letter}333333333333"
        self.fake.add_purse(closed, "333333333333")
        payment = self._approved(vendor=self._create_wm_vendor("Closed Purse Co", closed))
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("has not authorised transfers from the WMID", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_interface_not_enabled_fails(self):
        self.fake.add_wmid(WMID, x2_enabled=False)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("denied the WMID", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_expired_certificate_fails_before_sending(self):
        now = datetime.now(timezone.utc)
        certificate_pem, key_pem = self.authority.issue(
            WMID,
            not_before=now - timedelta(days=400),
            not_after=now - timedelta(days=2),
            password=KEY_PASSWORD,
        )
        self._set_certificate(certificate_pem, key_pem)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("expired on", payment.error_message)
        self.assertFalse(self.fake.requests)

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_revoked_certificate_fails_at_handshake(self):
        self.fake.revoke(self.certificate_pem)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("rejected the client certificate", payment.error_message)
        self.assertIn("CERTIFICATE_REVOKED", payment.error_message)
        self.assertTrue(self.fake.tls_rejections)
        self.assertFalse(self.fake.transfers())

    def test_tls13_server_pays(self):
        self._start_fake(tls_max_version=ssl.TLSVersion.TLSv1_3)
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "paid")

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_revoked_certificate_under_tls13_never_pays(self):
        """Under TLS 1.3 the rejection may come as a closed connection after
        the request was written: the outcome then stays unknown."""
        self._start_fake(tls_max_version=ssl.TLSVersion.TLSv1_3)
        self.fake.revoke(self.certificate_pem)
        payment = self._approved()
        payment._dispatch()
        self.assertIn(payment.state, ("failed", "in_doubt"))
        if payment.state == "in_doubt":
            self.assertIn("TLS connection failed", payment.error_message)
            payment.action_check_status()
            self.assertEqual(payment.state, "in_doubt")
        else:
            self.assertIn("rejected the client certificate", payment.error_message)
        self.assertTrue(self.fake.tls_rejections)
        self.assertFalse(self.fake.requests, "no request passed the handshake")

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_certificate_of_other_authority_fails(self):
        stranger = TestCertificateAuthority("Unknown CA")
        self._set_certificate(*stranger.issue(WMID, password=KEY_PASSWORD))
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("rejected the client certificate", payment.error_message)
        self.assertFalse(self.fake.transfers())

    @mute_logger(PAYMENT_LOGGER, PROVIDER_LOGGER)
    def test_untrusted_server_fails_before_sending(self):
        self.wm_provider.webmoney_server_ca = TestCertificateAuthority("Other CA").certificate_pem
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("server's certificate could not be verified", payment.error_message)
        self.assertFalse(self.fake.requests)

    @mute_logger(PAYMENT_LOGGER)
    def test_wrong_key_password_fails(self):
        self.wm_provider.webmoney_key_password = "not-the-password"
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("private key cannot be read", payment.error_message)
        self.assertNotIn("not-the-password", payment.error_message)

    @mute_logger(PAYMENT_LOGGER)
    def test_key_of_other_certificate_fails(self):
        _other_certificate, other_key = self.authority.issue(WMID, password=KEY_PASSWORD)
        self.wm_provider.webmoney_private_key = other_key
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("does not belong to the client certificate", payment.error_message)

    def test_key_pasted_on_one_line_is_read(self):
        self.wm_provider.webmoney_private_key = self.key_pem.replace("\n", "")
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "paid")

    @mute_logger(PAYMENT_LOGGER)
    def test_test_mode_without_url_fails_clearly(self):
        self.wm_provider.api_base_url = False
        payment = self._approved()
        payment._dispatch()
        self.assertEqual(payment.state, "failed")
        self.assertIn("no test environment", payment.error_message)

    def test_live_mode_uses_certificate_endpoint(self):
        self.wm_provider.write({"api_base_url": False, "state": "enabled"})
        self.assertEqual(self.wm_provider._webmoney_get_base_url(), "https://w3s.wmtransfer.com")

    # === STATUS AND BALANCE === #

    def test_status_maps_operation_types(self):
        payment = self._approved()
        payment._dispatch()
        tranid = self._tranid(payment)
        for opertype, status in (("0", "paid"), ("4", "pending"), ("12", "failed")):
            with self.subTest(opertype=opertype):
                self.fake.set_opertype(tranid, opertype)
                result = self.wm_provider._get_payout_status(payment)
                self.assertEqual(result["status"], status)
                self.assertEqual(result["provider_reference"], payment.provider_reference)
                self.assertEqual(result["fee"], 0.8)

    def test_status_of_transfer_to_other_payee_stays_unknown(self):
        payment = self._approved()
        payment._dispatch()
        self.fake.transfers(self._tranid(payment))[0]["pursedest"] = f"{self.letter}777777777777"
        with self.assertRaisesRegex(WalletProviderUnreachable, "not to this payment's payee"):
            self.wm_provider._get_payout_status(payment)

    def test_balance_read_with_x9(self):
        self.assertEqual(self.wm_provider._get_balance(), 5000.0)
        payment = self._approved(amount=100.0)
        payment._dispatch()
        self.assertEqual(self.wm_provider._get_balance(), 5000.0 - 100.0 - 0.8)

    @mute_logger(PROVIDER_LOGGER)
    def test_balance_error_reported(self):
        self.fake.inject("status", path="/asp/XMLPursesCert.asp", status=502)
        with self.assertRaisesRegex(WalletProviderUnreachable, "HTTP 502"):
            self.wm_provider._get_balance()
        self.wm_provider.webmoney_wmid = "999999999999"  # not the certificate's WMID
        with self.assertRaisesRegex(UserError, "rejected the credentials"):
            self.wm_provider.action_test_connection()

    def test_connection_test_shows_balance(self):
        action = self.wm_provider.action_test_connection()
        self.assertIn("5,000.00", action["params"]["message"])
        self.assertEqual(self.wm_provider.balance, 5000.0)

    # === PAYEES AND SETTINGS === #

    def test_payee_identifier_validation(self):
        provider = self.wm_provider
        self.assertTrue(provider._check_payee_identifier(self.payee_purse))
        other_type = "E" if self.letter == "Z" else "Z"
        cases = {
            f"{self.letter}21098765432": "not a WebMoney purse number",
            "210987654321": "not a WebMoney purse number",
            f"{self.letter.lower()}210987654321": "not a WebMoney purse number",
            f"{other_type}210987654321": "same type",
            "R210987654321": "ruble purse",
            "P210987654321": "ruble purse",
            self.source_purse: "own purse",
        }
        for identifier, message in cases.items():
            with self.subTest(identifier=identifier):
                with self.assertRaisesRegex(UserError, message):
                    provider._check_payee_identifier(identifier)

    def test_any_payee_kind_supported(self):
        kinds = self.wm_provider._get_supported_payee_kinds()
        self.assertEqual(kinds, {"company", "sole_trader", "self_employed", "individual"})
        self.assertEqual(self.wm_provider._get_rail_limits(), {})

    def test_purse_settings_validated(self):
        other_type = "E" if self.letter == "Z" else "Z"
        cases = {
            "ruble purse": {"webmoney_purse": "R123456789012"},
            "12 digits": {"webmoney_wmid": "12345"},
            "Choose": {"webmoney_purse": f"{other_type}123456789012"},
            "not a PEM certificate": {"webmoney_certificate": "not a certificate"},
        }
        for message, values in cases.items():
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValidationError, message):
                    self.wm_provider.copy(dict(values, name="Invalid WebMoney"))

    def test_certificate_expiry_shown(self):
        expiry = self.wm_provider.webmoney_certificate_expiry
        self.assertGreater(expiry, fields.Datetime.now() + timedelta(days=300))

    def test_private_key_write_only_and_encrypted(self):
        provider = self.wm_provider.with_user(self.manager)
        self.assertFalse(provider.webmoney_private_key)
        self.assertTrue(provider.webmoney_private_key_set)
        self.assertTrue(provider.webmoney_key_password_set)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT webmoney_private_key_encrypted FROM wallet_provider WHERE id = %s",
            [self.wm_provider.id],
        )
        self.assertNotIn("PRIVATE KEY", self.env.cr.fetchone()[0])

    # === MERCHANT NOTIFICATIONS === #

    def test_merchant_hashes_match_worked_examples(self):
        own = {
            "LMI_PAYEE_PURSE": "Z123456789012",
            "LMI_PAYMENT_AMOUNT": "25.50",
            "LMI_PAYMENT_NO": "42",
            "LMI_MODE": "1",
            "LMI_SYS_INVS_NO": "1001",
            "LMI_SYS_TRANS_NO": "2002",
            "LMI_SYS_TRANS_DATE": "20260115 13:45:00",
            "LMI_PAYER_PURSE": "Z210987654321",
            "LMI_PAYER_WM": "123456789012",
        }
        md5_hash, hash2 = webmoney_merchant_hashes(own, "MySecretKey-123", "md5")
        self.assertEqual(md5_hash, "750DD74C476AF475A485536834075572")
        self.assertEqual(hash2, "535FA3B97455EDC61121C064D3D19D952F65586FF4DBBEC15A32B1ED1B8D8E5A")
        sha_hash, _hash2 = webmoney_merchant_hashes(own, "MySecretKey-123", "sha256")
        self.assertEqual(
            sha_hash, "9BB3289EA4AABC8953DEAC3689F9A3BE85C24F96FE7114C8968F31315DD11F5B"
        )
        omnipay = {
            "LMI_PAYEE_PURSE": "Z123428476799",
            "LMI_PAYMENT_AMOUNT": "14.65",
            "LMI_PAYMENT_NO": "1444212666",
            "LMI_MODE": "1",
            "LMI_SYS_INVS_NO": "897",
            "LMI_SYS_TRANS_NO": "892",
            "LMI_SYS_TRANS_DATE": "20151007 13:07:36",
            "LMI_PAYER_PURSE": "Z366393600555",
            "LMI_PAYER_WM": "404521188333",
        }
        self.assertEqual(
            webmoney_merchant_hashes(omnipay, "226778888")[0],
            "0B12E75431284D6FCC05D8AF02B90AC28A0788FB95C9FF6B655344022F0746E5",
        )
        sample = {
            "LMI_PAYEE_PURSE": "Z945718891756",
            "LMI_PAYMENT_AMOUNT": "0.05",
            "LMI_PAYMENT_NO": "3",
            "LMI_MODE": "1",
            "LMI_SYS_INVS_NO": "821",
            "LMI_SYS_TRANS_NO": "458",
            "LMI_SYS_TRANS_DATE": "20170221 20:25:01",
            "LMI_PAYER_PURSE": "Z945718891756",
            "LMI_PAYER_WM": "059551878952",
        }
        self.assertEqual(
            webmoney_merchant_hashes(sample, "AD15BDAF-864A-4909-81E7-F034FFD0625C")[1],
            "8394AB2B012536D8535D3E1CB5917AB31E91EE891898B3AADD1FA887C9B2A0C2",
        )

    def test_worked_example_verifies(self):
        form = {
            "LMI_PAYEE_PURSE": "Z123456789012",
            "LMI_PAYMENT_AMOUNT": "25.50",
            "LMI_PAYMENT_NO": "42",
            "LMI_MODE": "1",
            "LMI_SYS_INVS_NO": "1001",
            "LMI_SYS_TRANS_NO": "2002",
            "LMI_SYS_TRANS_DATE": "20260115 13:45:00",
            "LMI_PAYER_PURSE": "Z210987654321",
            "LMI_PAYER_WM": "123456789012",
            "LMI_HASH": "9BB3289EA4AABC8953DEAC3689F9A3BE85C24F96FE7114C8968F31315DD11F5B",
            "LMI_HASH2": "535FA3B97455EDC61121C064D3D19D952F65586FF4DBBEC15A32B1ED1B8D8E5A",
        }
        verify = self.wm_provider._verify_notification
        self.assertTrue(verify(urlencode(form).encode(), {}))
        self.assertFalse(verify(urlencode(dict(form, LMI_PAYMENT_AMOUNT="25.5")).encode(), {}))
        self.assertFalse(verify(urlencode(dict(form, LMI_HASH2="0" * 64)).encode(), {}))
        only_hash2 = dict(form, LMI_HASH="")
        self.assertTrue(verify(urlencode(only_hash2).encode(), {}))
        self.wm_provider.webmoney_hash_method = "md5"
        self.assertFalse(verify(urlencode(form).encode(), {}), "SHA-256 hash under the MD5 setting")
        md5_form = dict(form, LMI_HASH="750DD74C476AF475A485536834075572")
        self.assertTrue(verify(urlencode(md5_form).encode(), {}))

    def _post_form(self, fields_):
        return self.url_open(
            f"/wallet/webhook/{self.wm_provider.id}",
            data=urlencode(fields_).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def _merchant_fields(self, **overrides):
        values = dict(
            payee_purse=self.source_purse,
            amount="25.50",
            payment_no="42",
            payer_purse=self.payee_purse,
            payer_wm=PAYEE_WMID,
            LMI_SECRET_KEY=MERCHANT_SECRET,
        )
        values.update(overrides)
        return self.fake.merchant_notification(**values)

    def _events(self):
        return self.env["wallet.event"].search([("provider_id", "=", self.wm_provider.id)])

    def test_merchant_notification_stored_over_http(self):
        self.fake.queue_notification(self._merchant_fields())
        [response] = self.fake.deliver_notifications(self.wm_provider.webhook_url)
        self.assertEqual(response.status_code, 200)
        event = self._events()
        self.assertTrue(event.signature_valid)
        self.assertEqual(event.state, "unmatched", "money received matches no payout")
        self.assertEqual(event.event_id, "merchant-2002")
        self.assertEqual(event.reference, "merchant:42")
        self.assertEqual(event.amount, 25.5)
        self.assertEqual(event.currency, self.currency.name)
        self.assertNotIn(MERCHANT_SECRET, event.payload)
        self.assertIn('"LMI_SECRET_KEY": "***"', event.payload)

    def test_duplicate_merchant_notification_stored_once(self):
        fields_ = self._merchant_fields()
        self.assertEqual(self._post_form(fields_).status_code, 200)
        response = self._post_form(fields_)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["status"], "duplicate")
        self.assertEqual(len(self._events()), 1)

    def test_md5_merchant_notification_accepted(self):
        self.wm_provider.webmoney_hash_method = "md5"
        fields_ = self._merchant_fields(hash_method="md5")
        self.assertEqual(len(fields_["LMI_HASH"]), 32)
        self.assertEqual(self._post_form(fields_).status_code, 200)

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_forged_merchant_notification_rejected(self):
        genuine = self._merchant_fields()
        guessed_hash, guessed_hash2 = webmoney_merchant_hashes(genuine, "guessed-secret")
        cases = {
            "amount changed": dict(genuine, LMI_PAYMENT_AMOUNT="2550.00"),
            "no hash": {k: v for k, v in genuine.items() if k not in ("LMI_HASH", "LMI_HASH2")},
            "empty hashes": dict(genuine, LMI_HASH="", LMI_HASH2=""),
            "other secret": dict(genuine, LMI_HASH=guessed_hash, LMI_HASH2=guessed_hash2),
        }
        for label, fields_ in cases.items():
            with self.subTest(case=label):
                self.assertEqual(self._post_form(fields_).status_code, 403)
        self.assertEqual(set(self._events().mapped("state")), {"rejected"})
        self.assertFalse(any(self._events().mapped("signature_valid")))

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_malformed_merchant_notification_rejected(self):
        self.fake.merchant_secrets[f"{self.letter}111111111111"] = MERCHANT_SECRET
        cases = {
            "amount not a number": self._merchant_fields(amount="abc"),
            "other payee purse": self._merchant_fields(payee_purse=f"{self.letter}111111111111"),
            "unknown mode": self._merchant_fields(mode="7"),
            "no order number": self._merchant_fields(payment_no=""),
        }
        for label, fields_ in cases.items():
            with self.subTest(case=label):
                self.assertEqual(self._post_form(fields_).status_code, 400)
        self.assertFalse(self._events().filtered(lambda e: e.state != "rejected"))

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_test_mode_notification_rejected_when_live(self):
        self.wm_provider.state = "enabled"
        self.assertEqual(self._post_form(self._merchant_fields(mode="1")).status_code, 400)
        self.assertEqual(self._post_form(self._merchant_fields(mode="0")).status_code, 200)

    @mute_logger(CONTROLLER_LOGGER)
    def test_json_notification_rejected(self):
        response = self.url_open(
            f"/wallet/webhook/{self.wm_provider.id}",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 415)
