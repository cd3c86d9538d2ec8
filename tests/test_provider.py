import os
from unittest.mock import patch

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import config, mute_logger

from .. import utils
from .common import WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestProvider(WalletPaymentCommon):
    def test_balance_refresh_and_test_connection(self):
        self.provider.demo_balance = 1234.5
        action = self.provider.action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.provider.balance, 1234.5)
        self.assertTrue(self.provider.balance_updated_at)

    def test_balance_cron_skips_suspended(self):
        self.provider.demo_balance = 50.0
        self.provider.action_suspend()
        self.env["wallet.provider"]._cron_refresh_balances()
        self.assertFalse(self.provider.balance_updated_at)
        self.provider.action_resume()
        self.env["wallet.provider"]._cron_refresh_balances()
        self.assertEqual(self.provider.balance, 50.0)

    def test_dispatch_refused_beyond_known_balance(self):
        self.provider.demo_balance = 150.0
        self.provider._refresh_balance()
        first = self._make_payment(amount=100.0)
        second = self._make_payment(amount=100.0)
        (first | second).with_user(self.buyer).action_submit()
        (first | second)._dispatch()
        self.assertEqual(first.state, "pending")
        self.assertEqual(second.state, "approved")
        self.assertIn("cannot cover", second.message_ids[0].body)

    def test_funds_needed(self):
        small = self._make_payment(amount=100.0)
        large = self._make_payment(amount=2500.0)
        (small | large).with_user(self.buyer).action_submit()
        self._make_payment(amount=40.0)  # draft: not counted
        self.provider.invalidate_recordset(["funds_needed"])
        self.assertEqual(self.provider.funds_needed, 2600.0)

    def test_live_mode_needs_encryption_key(self):
        with patch.dict(os.environ, {utils.KEY_ENVIRONMENT_VARIABLE: ""}), patch.dict(
            config.options, {utils.KEY_OPTION: "", utils.KEY_FILE_OPTION: ""}
        ):
            with self.assertRaisesRegex(ValidationError, "encryption key"):
                self.provider.state = "enabled"
        self.provider.state = "enabled"
        self.assertEqual(self.provider.state, "enabled")

    def test_payee_kind_not_supported(self):
        account = self.vendor.wallet_payee_account_ids
        account.payee_kind = "company"
        provider_class = type(self.env["wallet.provider"])
        with patch.object(provider_class, "_get_supported_payee_kinds", lambda self: {"individual"}):
            payment = self._make_payment(amount=10.0)
            with self.assertRaisesRegex(UserError, "cannot pay a payee of kind"):
                payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "draft")

    def test_rail_limit_per_payout(self):
        provider_class = type(self.env["wallet.provider"])
        with patch.object(provider_class, "_get_rail_limits", lambda self: {"per_payout": 500.0}):
            payment = self._make_payment(amount=600.0)
            with self.assertRaisesRegex(UserError, "limit of"):
                payment.with_user(self.buyer).action_submit()

    def test_rail_limit_per_month(self):
        provider_class = type(self.env["wallet.provider"])
        first = self._make_payment(amount=300.0)
        second = self._make_payment(amount=300.0)
        (first | second).with_user(self.buyer).action_submit()
        with patch.object(provider_class, "_get_rail_limits", lambda self: {"per_month": 500.0}):
            (first | second)._dispatch()
        self.assertEqual(first.state, "pending")
        self.assertEqual(second.state, "approved")
        self.assertIn("monthly limit", second.message_ids[0].body)

    def test_fee_booked_to_fee_account(self):
        fee_account = self.company_data["default_account_expense"]
        self.provider.fee_account_id = fee_account
        payment = self._make_payment(amount=200.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        payment._apply_provider_status("paid", "status_query", fee=2.5)
        self.assertEqual(payment.fee_amount, 2.5)
        move = payment.fee_move_id
        self.assertEqual(move.state, "posted")
        fee_line = move.line_ids.filtered(lambda line: line.account_id == fee_account)
        self.assertEqual(fee_line.debit, 2.5)
        wallet_line = move.line_ids.filtered(
            lambda line: line.account_id == self.wallet_journal.default_account_id
        )
        self.assertEqual(wallet_line.credit, 2.5)

    @mute_logger("odoo.addons.purchase_wallet_payment.models.wallet_payment")
    def test_fee_without_account_reported(self):
        payment = self._make_payment(amount=200.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        payment._apply_provider_status("paid", "status_query", fee=1.0)
        self.assertFalse(payment.fee_move_id)
        self.assertIn("no fee account", payment.accounting_error)
        self.assertTrue(payment.account_payment_id)

    def test_stranded_vendors_exclude_other_rails(self):
        self._make_payment(amount=10.0)
        self.assertIn(self.vendor, self.provider._get_stranded_vendors())
        # The vendor's demo account can be paid by another demo wallet.
        backup = self._create_provider("Backup Wallet", self.company, "WLB", "secret-backup")
        self.assertNotIn(self.vendor, self.provider._get_stranded_vendors())
        backup.action_suspend()
        self.assertIn(self.vendor, self.provider._get_stranded_vendors())

    def test_delete_provider_with_payments_refused(self):
        self._make_payment(amount=10.0)
        with self.assertRaises(UserError):
            self.provider.unlink()

    def test_journal_gets_wallet_method_line(self):
        line = self.provider.payment_method_line_id
        self.assertEqual(line.journal_id, self.wallet_journal)
        self.assertEqual(line.payment_account_id, self.wallet_journal.default_account_id)
        new_journal = self.env["account.journal"].create(
            {"name": "Wallet 2", "type": "bank", "code": "WLT2", "company_id": self.company.id}
        )
        self.provider.journal_id = new_journal
        self.assertEqual(self.provider.payment_method_line_id.journal_id, new_journal)
