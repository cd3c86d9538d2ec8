import os
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import config

from .. import utils
from .common import WEBHOOK_SECRET, WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestSecrets(WalletPaymentCommon):
    def test_secret_reads_empty(self):
        self.assertFalse(self.provider.with_user(self.manager).webhook_secret)
        self.assertTrue(self.provider.with_user(self.manager).webhook_secret_set)

    def test_secret_encrypted_at_rest(self):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT webhook_secret_encrypted FROM wallet_provider WHERE id = %s", [self.provider.id]
        )
        stored = self.env.cr.fetchone()[0]
        self.assertTrue(stored)
        self.assertNotIn(WEBHOOK_SECRET, stored)
        self.assertEqual(self.provider._get_secret("webhook_secret"), WEBHOOK_SECRET)

    def test_encrypted_column_hidden_from_managers(self):
        with self.assertRaises(AccessError):
            self.provider.with_user(self.manager).read(["webhook_secret_encrypted"])

    def test_plain_user_cannot_set_secret(self):
        with self.assertRaises(AccessError):
            self.provider.with_user(self.buyer).write({"webhook_secret": "x"})

    def test_empty_input_keeps_secret(self):
        self.provider.with_user(self.manager).write({"webhook_secret": False, "name": "Renamed"})
        self.assertEqual(self.provider._get_secret("webhook_secret"), WEBHOOK_SECRET)

    def test_missing_key_raises_clear_error(self):
        with patch.dict(os.environ, {utils.KEY_ENVIRONMENT_VARIABLE: ""}), patch.dict(
            config.options, {utils.KEY_OPTION: "", utils.KEY_FILE_OPTION: ""}
        ):
            with self.assertRaisesRegex(UserError, "wallet_encryption_key"):
                self.provider.write({"webhook_secret": "new"})

    def test_wrong_key_raises_clear_error(self):
        other_key = "m1kVfTLJH7yQf0qQO0W2xPz8hM3sV5rH6nN1cJ4bE2g="
        with patch.dict(os.environ, {utils.KEY_ENVIRONMENT_VARIABLE: other_key}):
            with self.assertRaisesRegex(UserError, "cannot be decrypted"):
                self.provider._get_secret("webhook_secret")

    def test_rotate_secret(self):
        token = self.provider.sudo().webhook_secret_encrypted
        new_key = "m1kVfTLJH7yQf0qQO0W2xPz8hM3sV5rH6nN1cJ4bE2g="
        rotated = utils.rotate_secret(token, utils.get_encryption_key(), new_key.encode())
        with patch.dict(os.environ, {utils.KEY_ENVIRONMENT_VARIABLE: new_key}):
            self.assertEqual(utils.decrypt_secret(rotated), WEBHOOK_SECRET)

    def test_rotate_all_credentials(self):
        new_key = b"m1kVfTLJH7yQf0qQO0W2xPz8hM3sV5rH6nN1cJ4bE2g="
        count = self.env["wallet.provider"]._rotate_encryption_key(utils.get_encryption_key(), new_key)
        self.assertGreaterEqual(count, 1)
        with patch.dict(os.environ, {utils.KEY_ENVIRONMENT_VARIABLE: new_key.decode()}):
            self.assertEqual(self.provider._get_secret("webhook_secret"), WEBHOOK_SECRET)

    def test_rotate_with_wrong_key_changes_nothing(self):
        before = self.provider.sudo().webhook_secret_encrypted
        wrong = b"m1kVfTLJH7yQf0qQO0W2xPz8hM3sV5rH6nN1cJ4bE2g="
        with self.assertRaisesRegex(UserError, "does not open"):
            self.env["wallet.provider"]._rotate_encryption_key(wrong, wrong)
        self.assertEqual(self.provider.sudo().webhook_secret_encrypted, before)
