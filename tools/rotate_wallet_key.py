"""Re-encrypt every stored wallet credential of a database with a new key.

Usage (with Odoo stopped, or before restarting it with the new key):

    PYTHONPATH=<odoo source> python tools/rotate_wallet_key.py \\
        --config odoo.conf --database DB --old-key-file old.key --new-key-file new.key

It reads each ``*_encrypted`` column of wallet.provider, decrypts it with the
old key and encrypts it with the new one, in one transaction: either every
credential is re-encrypted or none is. Then point the configuration (or the
WALLET_ENCRYPTION_KEY variable) at the new key.
"""

import argparse
import sys


def read_key(path):
    with open(path, "rb") as key_file:
        return key_file.read().strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="Odoo configuration file")
    parser.add_argument("--database", required=True)
    parser.add_argument("--old-key-file", required=True, help="file with the key in use")
    parser.add_argument("--new-key-file", required=True, help="file with the new Fernet key")
    args = parser.parse_args()

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database])
    registry = Registry(args.database)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        count = env["wallet.provider"]._rotate_encryption_key(
            read_key(args.old_key_file), read_key(args.new_key_file)
        )
    print(f"re-encrypted {count} credentials in {args.database}")


if __name__ == "__main__":
    sys.exit(main())
