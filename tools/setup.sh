#!/usr/bin/env bash
# Prepare everything `make demo` and `make test` need, idempotently:
# Odoo 18 source, a virtualenv with Odoo's and our requirements, a reachable
# PostgreSQL, an addons folder that holds this checkout as
# `purchase_wallet_payment`, and an Odoo configuration file.
# Prints `export` lines for the paths it prepared, for `eval`.
#
# Nothing is written inside the checkout, which is the module folder: Odoo
# would scan a build folder there (the translation export follows the addons
# link back into it). The virtualenv is shared by every checkout with the same
# requirements; each checkout has its own build folder (addons link, config,
# filestore, encryption key, logs).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/purchase_wallet_payment
checkout_id=$(printf '%s' "$repo" | sha1sum | cut -c1-12)
build=${WALLET_BUILD:-$cache/checkouts/$(basename "$repo")-$checkout_id}
python=${PYTHON:-python3.11}
db_host=${PGHOST:-127.0.0.1}
db_port=${PGPORT:-5432}
db_user=${PGUSER:-$(id -un)}
mkdir -p "$build"

log() { echo "setup: $*" >&2; }

# 1. Odoo 18 source: ODOO_SRC, else /opt/odoo/18.0, else a clone of the
#    official 18.0 branch in the user's cache folder.
find_odoo() {
    local candidate
    for candidate in "${ODOO_SRC:-}" /opt/odoo/18.0 "$cache/odoo-18.0"; do
        if [ -n "$candidate" ] && [ -f "$candidate/odoo-bin" ]; then
            echo "$candidate"
            return
        fi
    done
    if [ -n "${ODOO_SRC:-}" ]; then
        log "ODOO_SRC=$ODOO_SRC has no odoo-bin; point it at an Odoo 18.0 source tree."
        exit 1
    fi
    log "no Odoo 18 source found; cloning branch 18.0 into $cache/odoo-18.0"
    mkdir -p "$cache"
    git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git \
        "$cache/odoo-18.0" >&2
    echo "$cache/odoo-18.0"
}
odoo_src=$(find_odoo)
if ! grep -q "^version_info = (18, 0" "$odoo_src/odoo/release.py"; then
    log "$odoo_src is not Odoo 18.0 (see odoo/release.py)."
    exit 1
fi

# 2. System libraries that Odoo's requirements compile against (Debian).
missing=()
for package in libpq-dev libldap2-dev libsasl2-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    else
        log "missing Debian packages: ${missing[*]}; install them with apt-get as root."
        exit 1
    fi
fi

# 3. Virtualenv. A stamp of the requirement files decides whether to reinstall.
stamp=$( (echo "$python"; cat "$odoo_src/requirements.txt" "$repo/requirements.txt") \
    | sha1sum | cut -c1-16)
venv=${WALLET_VENV:-$cache/venv-$stamp}
mkdir -p "$cache"
exec 9>"$cache/venv.lock"
flock 9  # One set-up at a time builds the shared virtualenv.
if [ ! -f "$venv/.stamp-$stamp" ]; then
    log "creating the virtualenv in $venv (about 3 minutes)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    # Odoo 18's pins need pkg_resources (setuptools < 70) and cbor2 needs
    # setuptools_scm at build time, so build without isolation.
    "$venv/bin/pip" install -q "setuptools<70" wheel "setuptools_scm<8" >&2
    "$venv/bin/pip" install -q --no-build-isolation -r "$odoo_src/requirements.txt" >&2
    "$venv/bin/pip" install -q --no-build-isolation -r "$repo/requirements.txt" >&2
    touch "$venv/.stamp-$stamp"
fi
flock -u 9

# 4. PostgreSQL must answer.
if ! "$venv/bin/python" - "$db_host" "$db_port" "$db_user" <<'PY' 2>/dev/null
import sys, psycopg2
psycopg2.connect(host=sys.argv[1], port=sys.argv[2], user=sys.argv[3], dbname="postgres").close()
PY
then
    log "PostgreSQL does not answer on $db_host:$db_port as user $db_user."
    log "Start it, for example: pg_ctlcluster 15 main start"
    log "(or set PGHOST, PGPORT and PGUSER to a server you can reach)."
    exit 1
fi

# 5. Odoo names a module after its folder, so link the checkout under that name.
addons=$build/addons
mkdir -p "$addons"
ln -sfn "$repo" "$addons/purchase_wallet_payment"

# 6. A Fernet key for provider credentials, kept outside the database.
key_file=$build/wallet.key
if [ ! -s "$key_file" ]; then
    (umask 077 && "$venv/bin/python" -c \
        "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" \
        >"$key_file")
fi

# 7. Odoo configuration shared by the demo, the server and the tests.
config=$build/odoo.conf
cat >"$config" <<CONF
[options]
addons_path = $odoo_src/addons,$addons
data_dir = $build/filestore
db_host = $db_host
db_port = $db_port
db_user = $db_user
http_interface = 127.0.0.1
list_db = True
without_demo = all
wallet_encryption_key_file = $key_file
CONF

echo "export ODOO_SRC=$odoo_src"
echo "export VENV=$venv"
echo "export ADDONS=$addons"
echo "export ODOO_CONF=$config"
echo "export WALLET_BUILD_DIR=$build"
