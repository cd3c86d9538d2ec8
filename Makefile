# Every target prepares what it needs first (tools/setup.sh is idempotent).
# Variables: DB (demo database), PORT (demo HTTP port), TEST_DB, ODOO_SRC.
DB ?= wallet_demo
PORT ?= 8069
TEST_DB ?= wallet_test
PAYMENTS ?= 300
SETUP = eval "$$(bash tools/setup.sh)"
ODOO = "$$VENV/bin/python" "$$ODOO_SRC/odoo-bin" -c "$$ODOO_CONF"
TEST_DIR = "$$ADDONS/purchase_wallet_payment/tests"
PYTEST = PYTHONPATH="$$ODOO_SRC" "$$VENV/bin/pytest" -p no:cacheprovider \
	--odoo-config="$$ODOO_CONF" --odoo-database=$(TEST_DB) --odoo-http

PYTEST_FAULTS = PYTHONPATH="$$ODOO_SRC" "$$VENV/bin/pytest" -p no:cacheprovider \
	--odoo-config="$$ODOO_CONF" --odoo-database=$(TEST_DB)_faults --odoo-http

.PHONY: setup demo serve test test-faults bench clean

setup:
	@$(SETUP) && echo "Odoo: $$ODOO_SRC" && echo "config: $$ODOO_CONF"

# Create $(DB) with the addon and its demo data, then play the main job over
# JSON-RPC against a server on 127.0.0.1:$(PORT) and stop it.
demo:
	@$(SETUP) && "$$VENV/bin/python" tools/demo.py --odoo-bin "$$ODOO_SRC/odoo-bin" \
		--python "$$VENV/bin/python" --config "$$ODOO_CONF" --database $(DB) --port $(PORT)

# Serve $(DB) for a look in the browser (run `make demo` first).
serve:
	@$(SETUP) && "$$VENV/bin/python" tools/demo.py --odoo-bin "$$ODOO_SRC/odoo-bin" \
		--python "$$VENV/bin/python" --config "$$ODOO_CONF" --database $(DB) --port $(PORT) --serve

# The whole suite on a fresh database with the addon installed.
test:
	@$(SETUP) && bash tools/create_test_db.sh "$(TEST_DB)" && \
		cd "$$ADDONS/purchase_wallet_payment" && $(PYTEST) -m "not faults" $(TEST_DIR)

# The fault suite with its large counts.
test-faults:
	@$(SETUP) && bash tools/create_test_db.sh "$(TEST_DB)_faults" && \
		cd "$$ADDONS/purchase_wallet_payment" && $(PYTEST_FAULTS) -m faults $(TEST_DIR)

# Dispatch and webhook timings on a throwaway database (not part of the tests).
bench:
	@$(SETUP) && bash tools/create_test_db.sh "$(TEST_DB)_bench" && \
		PYTHONPATH="$$ODOO_SRC" "$$VENV/bin/python" tools/benchmark.py \
		--config "$$ODOO_CONF" --database $(TEST_DB)_bench --payments $(PAYMENTS)

# Remove this checkout's build folder (the shared virtualenv stays).
clean:
	@$(SETUP) && rm -rf "$$WALLET_BUILD_DIR"
