#!/usr/bin/env bash
# Create a fresh database with the addon installed (no demo data) for the tests.
# Expects the variables printed by tools/setup.sh in the environment.
set -euo pipefail
db=$1
"$VENV/bin/python" - "$db" "$ODOO_CONF" <<'PY'
import configparser, sys, psycopg2
db, conf = sys.argv[1], sys.argv[2]
options = configparser.ConfigParser()
options.read(conf)
o = options["options"]
connection = psycopg2.connect(host=o["db_host"], port=o["db_port"], user=o["db_user"], dbname="postgres")
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [db],
    )
    cursor.execute(f'DROP DATABASE IF EXISTS "{db}"')
connection.close()
PY
rm -rf "$(dirname "$ODOO_CONF")/filestore/filestore/$db"
echo "tests: installing purchase_wallet_payment into a fresh database $db" >&2
"$VENV/bin/python" "$ODOO_SRC/odoo-bin" -c "$ODOO_CONF" -d "$db" -i purchase_wallet_payment \
    --without-demo=all --stop-after-init --log-level=warn
