"""Encryption of provider credentials at rest, and webhook signature helpers."""

import hashlib
import hmac
import logging
import os

from cryptography.fernet import Fernet, InvalidToken

from odoo.exceptions import UserError
from odoo.tools import config
from odoo.tools.translate import _

_logger = logging.getLogger(__name__)

KEY_OPTION = "wallet_encryption_key"
KEY_FILE_OPTION = "wallet_encryption_key_file"
KEY_ENVIRONMENT_VARIABLE = "WALLET_ENCRYPTION_KEY"


def get_encryption_key():
    """Return the Fernet key for provider credentials, or None when none is set.

    The key is read, in this order, from the environment variable
    ``WALLET_ENCRYPTION_KEY``, the ``wallet_encryption_key`` option of the Odoo
    configuration file, or the file named by its ``wallet_encryption_key_file``
    option. It never comes from the database, so a stolen dump alone does not
    reveal the credentials.

    :rtype: bytes or None
    """
    key = os.environ.get(KEY_ENVIRONMENT_VARIABLE) or config.get(KEY_OPTION)
    if not key and config.get(KEY_FILE_OPTION):
        try:
            with open(config[KEY_FILE_OPTION], "rb") as key_file:
                key = key_file.read().strip()
        except OSError as error:
            _logger.error("cannot read the wallet encryption key file: %s", error)
            return None
    if not key:
        return None
    return key.encode() if isinstance(key, str) else key


def _get_fernet():
    key = get_encryption_key()
    if not key:
        raise UserError(
            _(
                "No wallet encryption key is configured, so credentials cannot be "
                "stored or read. Set %(option)s in the Odoo configuration file or the "
                "%(variable)s environment variable to a Fernet key, then restart Odoo.",
                option=KEY_OPTION,
                variable=KEY_ENVIRONMENT_VARIABLE,
            )
        )
    try:
        return Fernet(key)
    except ValueError as error:
        raise UserError(
            _(
                "The wallet encryption key is invalid: it must be 32 url-safe "
                "base64-encoded bytes, as made by Fernet.generate_key()."
            )
        ) from error


def encrypt_secret(plaintext):
    """Encrypt a credential for storage.

    :param str plaintext: the secret as typed by the administrator
    :return: the Fernet token
    :rtype: str
    :raise UserError: if no valid encryption key is configured
    """
    return _get_fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token):
    """Decrypt a stored credential.

    :param str token: a token made by :func:`encrypt_secret`
    :rtype: str
    :raise UserError: if the key is missing or is not the one the token was made with
    """
    try:
        return _get_fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise UserError(
            _(
                "A stored wallet credential cannot be decrypted with the configured "
                "key. Restore the previous key, or enter the credential again."
            )
        ) from error


def rotate_secret(token, old_key, new_key):
    """Re-encrypt one stored token from ``old_key`` to ``new_key``.

    :rtype: str
    :raise cryptography.fernet.InvalidToken: if ``old_key`` does not open the token
    """
    plaintext = Fernet(old_key).decrypt(token.encode())
    return Fernet(new_key).encrypt(plaintext).decode()


def sign_hmac_sha256(secret, body):
    """Return the lowercase hex HMAC-SHA256 of ``body`` (bytes) under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signatures_match(received, expected):
    """Compare two signature strings in constant time."""
    return hmac.compare_digest(received.encode(), expected.encode())
