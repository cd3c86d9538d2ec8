"""Create the demo database of purchase_wallet_payment and play its main job.

Without --serve: drop and recreate DATABASE with the addon and its demo data,
start Odoo on 127.0.0.1:PORT, then play the job over Odoo's external JSON-RPC
API, signed in as the demo users. The buyer confirms and receives six purchase
orders, the approver approves the payment above the threshold, and the buyer
sends the approved payments. The demo wallet then reports each outcome through
its webhook. The script prints one line per wallet payment, stops the server
and exits 0 only when every outcome is the expected one.

With --serve: serve an existing demo database in the foreground, for a look in
the browser.

Only the standard library and requests are used, and all traffic goes to
127.0.0.1. Odoo's logs go to files next to the configuration file.
"""

import argparse
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import requests

ADDON = "purchase_wallet_payment"
HOST = "127.0.0.1"
DEMO_LOGINS = (("admin", "admin"), ("buyer", "buyer"), ("approver", "approver"), ("warehouse", "warehouse"))
INSTALL_TIMEOUT = 1200  # seconds, well above the minute or so that an install with demo data takes
STARTUP_TIMEOUT = 120  # seconds until the server responds on /web/health
STOP_TIMEOUT = 30  # seconds between SIGTERM and SIGKILL
RPC_TIMEOUT = 180  # seconds for one JSON-RPC call
POLL_INTERVAL = 1.0  # seconds between two reads of the payment states
# Payment states after which the demo wallet sends no further notification. A
# failed payment may be retried by hand, but the script does not retry it.
SETTLED_STATES = ("paid", "failed", "returned", "cancelled")


@dataclass(frozen=True)
class OrderPlan:
    """Plan for one demo purchase order: the job's steps and their expected outcome."""

    xmlid: str  # name of the purchase.order record in demo/purchase_demo.xml
    receiver: str = "buyer"  # login of the user who validates the receipt
    # (product default_code, quantity received) pairs. Products left out arrive in full.
    partial: tuple = ()
    bill: bool = False  # the buyer posts the vendor bill before sending the payment
    needs_approval: bool = False
    expected_state: str = "paid"
    expected_reconciled: bool = False


PLANS = (
    OrderPlan("purchase_order_monitors", bill=True, expected_reconciled=True),
    OrderPlan("purchase_order_ssd", bill=True, needs_approval=True, expected_reconciled=True),
    OrderPlan("purchase_order_keyboards", partial=(("KBD-MECH-US", 30),)),
    OrderPlan("purchase_order_routers", expected_state="failed"),
    OrderPlan("purchase_order_cables", bill=True, expected_reconciled=True),
    OrderPlan("purchase_order_ups", receiver="warehouse"),
)


# === JSON-RPC === #


class RpcError(Exception):
    """An error returned by Odoo's JSON-RPC endpoint, such as an AccessError."""

    def __init__(self, error):
        data = error.get("data") or {}
        self.name = data.get("name") or error.get("message") or "error"
        self.message = data.get("message") or error.get("message") or str(error)
        super().__init__(f"{self.name}: {self.message}")


class OdooServer:
    """The external JSON-RPC API (/jsonrpc) of one database on a local server."""

    def __init__(self, base_url, database):
        self.base_url = base_url
        self.database = database
        self.http = requests.Session()
        self.http.trust_env = False  # never send local traffic through a proxy
        self._request_ids = itertools.count(1)

    def call(self, service, method, *args):
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": list(args)},
            "id": next(self._request_ids),
        }
        response = self.http.post(f"{self.base_url}/jsonrpc", json=payload, timeout=RPC_TIMEOUT)
        response.raise_for_status()
        body = response.json()
        if "error" in body:
            raise RpcError(body["error"])
        return body["result"]

    def login(self, login, password):
        uid = self.call("common", "login", self.database, login, password)
        if not uid:
            raise SystemExit(f"demo: login {login!r} failed on {self.database}: wrong password or no such user.")
        return User(self, login, password, uid)


class User:
    """One signed-in user: every call runs with this user's access rights."""

    def __init__(self, server, login, password, uid):
        self.server = server
        self.login = login
        self.password = password
        self.uid = uid

    def execute(self, model, method, *args, **kwargs):
        return self.server.call(
            "object", "execute_kw", self.server.database, self.uid, self.password, model, method, list(args), kwargs
        )

    def read_one(self, model, record_id, fields):
        return self.execute(model, "read", [record_id], fields)[0]


# === Odoo processes === #


class OdooProcesses:
    """Runs odoo-bin for one database: install, server start and stop."""

    def __init__(self, args):
        self.python = args.python
        self.odoo_bin = args.odoo_bin
        self.config = args.config
        self.database = args.database
        self.port = args.port
        log_dir = Path(args.config).resolve().parent
        self.install_log = log_dir / f"demo-{args.database}-install.log"
        mode = "serve" if args.serve else "server"
        self.server_log = log_dir / f"demo-{args.database}-{mode}.log"
        self.base_url = f"http://{HOST}:{args.port}"
        self.server = None

    def _odoo_command(self, *options):
        return [self.python, self.odoo_bin, *options]

    def recreate_database(self):
        """Drop the database if it exists, then install the addon with demo data.

        The shared configuration sets ``without_demo = all`` for the tests, so
        the install passes an empty ``--without-demo`` to load demo data.
        """
        with open(self.install_log, "w") as log:
            drop = subprocess.run(
                self._odoo_command("db", "-c", self.config, "drop", self.database),
                stdout=log,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=STOP_TIMEOUT * 4,
            )
            log.write(drop.stderr)
            if drop.returncode and "does not exist" not in drop.stderr:
                raise SystemExit(f"demo: dropping {self.database} failed:\n{drop.stderr.strip()}")
            log.flush()
            install = subprocess.run(
                self._odoo_command(
                    "-c", self.config, "-d", self.database, "-i", ADDON,
                    "--without-demo=", "--stop-after-init", "--no-http",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=INSTALL_TIMEOUT,
            )
        if install.returncode:
            raise SystemExit(
                f"demo: installing {ADDON} into {self.database} failed (exit code "
                f"{install.returncode}). Last lines of {self.install_log}:\n{tail(self.install_log)}"
            )

    def start_server(self):
        """Start Odoo's threaded HTTP server with one cron thread, logging to a
        file, and wait until it responds."""
        if port_is_open(self.port):
            raise SystemExit(
                f"demo: something already listens on {HOST}:{self.port}. Stop it or choose another PORT."
            )

        environment = dict(os.environ)
        # The demo wallet posts its notifications to this same server.
        for name in ("no_proxy", "NO_PROXY"):
            environment[name] = ",".join(filter(None, [environment.get(name), HOST, "localhost"]))

        log = open(self.server_log, "w")
        self.server = subprocess.Popen(
            self._odoo_command(
                "-c", self.config,
                "--http-interface", HOST,
                "--http-port", str(self.port),
                "--db-filter", f"^{re.escape(self.database)}$",
                "--workers", "0",
                "--max-cron-threads", "1",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,  # Ctrl+C reaches this script, which stops the server once
        )
        log.close()
        self._wait_until_ready()

    def _wait_until_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit(
                    f"demo: the Odoo server exited with code {self.server.returncode} at start. "
                    f"Last lines of {self.server_log}:\n{tail(self.server_log)}"
                )
            try:
                if requests.get(f"{self.base_url}/web/health", timeout=5, proxies=NO_PROXIES).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop_server()
        raise SystemExit(f"demo: the Odoo server did not respond within {STARTUP_TIMEOUT} s; see {self.server_log}.")

    def stop_server(self):
        if self.server is None or self.server.poll() is not None:
            return
        self.server.terminate()
        try:
            self.server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"demo: the server did not stop within {STOP_TIMEOUT} s after SIGTERM; killing it.")
            self.server.kill()
            self.server.wait()


NO_PROXIES = {"http": None, "https": None}


def port_is_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) == 0


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(cannot read the log: {error})"


def format_amount(amount, currency):
    return f"{amount:,.2f} {currency}"


def set_base_url(admin, base_url):
    """Point web.base.url at this server: the demo wallet posts its
    notifications to the webhook URL built from it."""
    admin.execute("ir.config_parameter", "set_param", "web.base.url", base_url)


# === The main job === #


class DemoJob:
    """Plays the purchase-to-payment job as the demo users and checks its outcomes."""

    def __init__(self, server, settle_timeout):
        self.server = server
        self.settle_timeout = settle_timeout
        self.users = {}  # login -> User, filled when the job signs in
        self.problems = []  # every outcome that differs from the plan, as a sentence
        self.orders = {}  # plan xmlid -> purchase.order values read at start
        self.payments = {}  # plan xmlid -> wallet.payment id

    def expect(self, condition, problem):
        if not condition:
            self.problems.append(problem)
            print(f"  UNEXPECTED: {problem}")
        return condition

    def run(self):
        admin = self.server.login("admin", "admin")
        set_base_url(admin, self.server.base_url)
        self.users = {login: self.server.login(login, login) for login in ("buyer", "approver", "warehouse")}
        self.buyer = self.users["buyer"]
        self.approver = self.users["approver"]
        names = ", ".join(f"{user.login} ({self._user_name(user)})" for user in self.users.values())
        print(f"Signed in as {names}.")
        self._find_orders(admin)

        print("\n-- Purchase orders")
        for plan in PLANS:
            self._confirm(plan)
        for plan in PLANS:
            self._receive(plan)

        print("\n-- Payment requests made by the receipts")
        for plan in PLANS:
            self._find_payment(plan)

        print("\n-- Vendor bills")
        for plan in PLANS:
            if plan.bill:
                self._post_bill(plan)

        print("\n-- Approval")
        for plan in PLANS:
            if plan.needs_approval:
                self._approve(plan)

        print("\n-- Sending")
        self._send()
        self._wait_until_settled()

        print("\n-- Outcomes")
        self._report()
        self._check_failure_activity()
        return not self.problems

    def _user_name(self, user):
        return user.read_one("res.users", user.uid, ["name"])["name"]

    def _find_orders(self, admin):
        records = admin.execute(
            "ir.model.data",
            "search_read",
            [("module", "=", ADDON), ("model", "=", "purchase.order")],
            ["name", "res_id"],
        )
        order_ids = {record["name"]: record["res_id"] for record in records}
        missing = [plan.xmlid for plan in PLANS if plan.xmlid not in order_ids]
        if missing:
            raise SystemExit(
                f"demo: the database has no demo purchase orders {', '.join(missing)}; "
                "it was created without the addon's demo data."
            )
        for plan in PLANS:
            self.orders[plan.xmlid] = self.buyer.read_one(
                "purchase.order", order_ids[plan.xmlid], ["name", "partner_id", "amount_total", "currency_id", "state"]
            )

    def _order_label(self, plan):
        order = self.orders[plan.xmlid]
        return f"{order['name']} ({order['partner_id'][1]})"

    def _confirm(self, plan):
        order = self.orders[plan.xmlid]
        self.buyer.execute("purchase.order", "button_confirm", [order["id"]])
        state = self.buyer.read_one("purchase.order", order["id"], ["state"])["state"]
        amount = format_amount(order["amount_total"], order["currency_id"][1])
        print(f"buyer confirms {self._order_label(plan)}, {amount}: {state}")
        self.expect(state == "purchase", f"{order['name']} is {state} after confirmation, not purchase")

    def _receive(self, plan):
        """Validate the order's receipt as the planned user, with a backorder
        for the quantities not received, as the receipt form does."""
        user = self.users[plan.receiver]
        order = self.orders[plan.xmlid]
        picking_ids = user.execute(
            "stock.picking",
            "search",
            [("purchase_id", "=", order["id"]), ("state", "not in", ("done", "cancel"))],
        )
        if not self.expect(len(picking_ids) == 1, f"{order['name']} has {len(picking_ids)} open receipts, not 1"):
            return
        picking_id = picking_ids[0]
        notes = self._set_received_quantities(user, picking_id, dict(plan.partial))

        result = user.execute("stock.picking", "button_validate", [picking_id])
        if isinstance(result, dict) and result.get("res_model") == "stock.backorder.confirmation":
            # The "Create Backorder" button of the wizard the receipt form opens.
            context = result.get("context") or {}
            wizard_id = user.execute("stock.backorder.confirmation", "create", {}, context=context)
            user.execute("stock.backorder.confirmation", "process", [wizard_id], context=context)
        elif result is not True:
            self.expect(False, f"validating the receipt of {order['name']} returned {result!r}")

        picking = user.read_one("stock.picking", picking_id, ["name", "state"])
        backorders = user.execute("stock.picking", "search_read", [("backorder_id", "=", picking_id)], ["name"])
        description = f"in part ({', '.join(notes)})" if notes else "in full"
        line = f"{plan.receiver} receives {order['name']} {description}: {picking['name']} {picking['state']}"
        if backorders:
            line += f", backorder {backorders[0]['name']} for the rest"
        print(line)
        self.expect(picking["state"] == "done", f"receipt {picking['name']} is {picking['state']}, not done")
        self.expect(bool(backorders) == bool(plan.partial), f"receipt {picking['name']} has {len(backorders)} backorders")

    @staticmethod
    def _set_received_quantities(user, picking_id, quantities):
        """Set the quantity of each move whose product code is in ``quantities``,
        as a user types it on the receipt.

        :return: one "<quantity> of <demand> <code>" note per changed move
        """
        if not quantities:
            return []
        notes = []
        moves = user.execute(
            "stock.move",
            "search_read",
            [("picking_id", "=", picking_id)],
            ["product_id", "product_uom_qty"],
        )
        for move in moves:
            code = user.read_one("product.product", move["product_id"][0], ["default_code"])["default_code"]
            if code in quantities:
                user.execute("stock.move", "write", [move["id"]], {"quantity": quantities[code]})
                notes.append(f"{quantities[code]:g} of {move['product_uom_qty']:g} {code}")
        return notes

    def _find_payment(self, plan):
        order = self.orders[plan.xmlid]
        payments = self.buyer.execute(
            "wallet.payment",
            "search_read",
            [("purchase_id", "=", order["id"])],
            ["name", "amount", "currency_id", "state", "requester_id", "trigger"],
        )
        if not self.expect(len(payments) == 1, f"{order['name']} has {len(payments)} wallet payments, not 1"):
            return
        payment = payments[0]
        self.payments[plan.xmlid] = payment["id"]
        amount = format_amount(payment["amount"], payment["currency_id"][1])
        print(
            f"{payment['name']} for {order['name']}: {amount}, {payment['state']}, "
            f"requested by {payment['requester_id'][1]} on receipt"
        )
        self._check_requested_payment(plan, order, payment)

    def _check_requested_payment(self, plan, order, payment):
        amount = format_amount(payment["amount"], payment["currency_id"][1])
        expected_state = "to_approve" if plan.needs_approval else "approved"
        self.expect(payment["state"] == expected_state, f"{payment['name']} is {payment['state']}, not {expected_state}")
        self.expect(payment["trigger"] == "receipt", f"{payment['name']} was not triggered by the receipt")
        requester = self.users[plan.receiver].uid
        self.expect(payment["requester_id"][0] == requester, f"{payment['name']} is not requested by {plan.receiver}")
        expected_amount = self._received_value(order["id"])
        self.expect(
            abs(payment["amount"] - expected_amount) < 0.005,
            f"{payment['name']} is {amount}, but the goods received are worth {expected_amount:,.2f}",
        )
        if plan.partial:
            self.expect(
                payment["amount"] < order["amount_total"],
                f"{payment['name']} pays the whole order although only part of it was received",
            )

    def _received_value(self, order_id):
        """Return the value, taxes included, of what the order's receipts brought in."""
        lines = self.buyer.execute(
            "purchase.order.line",
            "search_read",
            [("order_id", "=", order_id), ("display_type", "=", False)],
            ["price_total", "product_qty", "qty_received"],
        )
        return sum(round(line["price_total"] * line["qty_received"] / line["product_qty"], 2) for line in lines)

    def _post_bill(self, plan):
        """Create the vendor bill from the order and post it, as the buyer."""
        order = self.orders[plan.xmlid]
        self.buyer.execute("purchase.order", "action_create_invoice", [order["id"]])
        bill_ids = self.buyer.read_one("purchase.order", order["id"], ["invoice_ids"])["invoice_ids"]
        if not self.expect(len(bill_ids) == 1, f"{order['name']} has {len(bill_ids)} bills, not 1"):
            return
        self.buyer.execute("account.move", "write", bill_ids, {"invoice_date": date.today().isoformat()})
        self.buyer.execute("account.move", "action_post", bill_ids)
        bill = self.buyer.read_one("account.move", bill_ids[0], ["name", "state", "amount_total", "currency_id"])
        amount = format_amount(bill["amount_total"], bill["currency_id"][1])
        print(f"buyer posts bill {bill['name']} of {amount} for {order['name']}: {bill['state']}")
        self.expect(bill["state"] == "posted", f"bill {bill['name']} is {bill['state']}, not posted")

    def _approve(self, plan):
        payment_id = self.payments.get(plan.xmlid)
        if not payment_id:
            return
        name = self.buyer.read_one("wallet.payment", payment_id, ["name"])["name"]
        try:
            self.buyer.execute("wallet.payment", "action_approve", [payment_id])
        except RpcError as error:
            print(f"buyer tries to approve {name}: rejected ({error.name}: {error.message})")
            self.expect("AccessError" in error.name, f"the buyer's approval failed with {error.name}, not AccessError")
        else:
            self.expect(False, f"the buyer, who requested {name}, could approve it")

        activities = self.approver.execute(
            "mail.activity",
            "search_count",
            [("res_model", "=", "wallet.payment"), ("res_id", "=", payment_id), ("user_id", "=", self.approver.uid)],
        )
        self.expect(activities == 1, f"the approver has {activities} activities on {name}, not 1")
        self.approver.execute("wallet.payment", "action_approve", [payment_id])
        state = self.approver.read_one("wallet.payment", payment_id, ["state"])["state"]
        print(f"approver approves {name} (had an approval activity: {'yes' if activities else 'no'}): {state}")
        self.expect(state == "approved", f"{name} is {state} after approval, not approved")

    def _send(self):
        """Send every approved payment of the plan at once, as the buyer does
        from the list of payments (the scheduler would send them later)."""
        approved = self.buyer.execute(
            "wallet.payment",
            "search_read",
            [("id", "in", list(self.payments.values())), ("state", "=", "approved")],
            ["name"],
            order="name",
        )
        self.expect(
            len(approved) == len(self.payments),
            f"{len(approved)} of {len(self.payments)} payments are approved before sending",
        )
        self.buyer.execute("wallet.payment", "action_send", [payment["id"] for payment in approved])
        print(f"buyer sends {len(approved)} approved payments: {', '.join(p['name'] for p in approved)}")

    def _wait_until_settled(self):
        print(f"Waiting for the demo wallet's notifications (at most {self.settle_timeout} s)...")
        started = time.monotonic()
        reported = {}
        while True:
            payments = self.buyer.execute(
                "wallet.payment", "read", list(self.payments.values()), ["name", "state"]
            )
            elapsed = time.monotonic() - started
            for payment in payments:
                if reported.get(payment["id"]) != payment["state"]:
                    reported[payment["id"]] = payment["state"]
                    print(f"  {elapsed:5.1f} s  {payment['name']}: {payment['state']}")
            if all(payment["state"] in SETTLED_STATES for payment in payments):
                print(f"Every payment is settled after {elapsed:.0f} s.")
                return
            if elapsed > self.settle_timeout:
                open_payments = [p["name"] for p in payments if p["state"] not in SETTLED_STATES]
                self.expect(False, f"still open after {self.settle_timeout} s: {', '.join(open_payments)}")
                return
            time.sleep(POLL_INTERVAL)

    def _report(self):
        header = f"{'PO':<8} {'Vendor':<26} {'Amount':>14}  {'State':<8} {'Accounting payment':<22} Reconciled"
        print(header)
        print("-" * len(header))
        for plan in PLANS:
            payment_id = self.payments.get(plan.xmlid)
            if not payment_id:
                continue
            payment = self.buyer.read_one(
                "wallet.payment",
                payment_id,
                ["name", "partner_id", "amount", "currency_id", "state", "account_payment_id",
                 "accounting_error", "error_message"],
            )
            reconciled = False
            account_payment_name = "-"
            if payment["account_payment_id"]:
                account_payment = self.buyer.read_one(
                    "account.payment", payment["account_payment_id"][0], ["name", "state", "is_reconciled"]
                )
                account_payment_name = account_payment["name"]
                reconciled = account_payment["is_reconciled"]
            amount = format_amount(payment["amount"], payment["currency_id"][1])
            print(
                f"{self.orders[plan.xmlid]['name']:<8} {payment['partner_id'][1][:26]:<26} {amount:>14}  "
                f"{payment['state']:<8} {account_payment_name:<22} {'yes' if reconciled else 'no'}"
            )
            name = payment["name"]
            self.expect(
                payment["state"] == plan.expected_state,
                f"{name} is {payment['state']}, not {plan.expected_state} "
                f"(provider message: {payment['error_message'] or 'none'})",
            )
            has_account_payment = bool(payment["account_payment_id"])
            self.expect(
                has_account_payment == (plan.expected_state == "paid"),
                f"{name} {'has' if has_account_payment else 'has no'} accounting payment "
                f"(accounting error: {payment['accounting_error'] or 'none'})",
            )
            if has_account_payment:
                self.expect(
                    reconciled == plan.expected_reconciled,
                    f"the accounting payment of {name} is {'' if reconciled else 'not '}reconciled",
                )

    def _check_failure_activity(self):
        """Check that the buyer of each failed payment has an activity on it."""
        for plan in PLANS:
            payment_id = self.payments.get(plan.xmlid)
            if plan.expected_state != "failed" or not payment_id:
                continue
            payment = self.buyer.read_one("wallet.payment", payment_id, ["name", "error_message"])
            activities = self.buyer.execute(
                "mail.activity",
                "search_read",
                [("res_model", "=", "wallet.payment"), ("res_id", "=", payment_id), ("user_id", "=", self.buyer.uid)],
                ["summary"],
            )
            summaries = "; ".join(activity["summary"] or "" for activity in activities)
            print(
                f"{payment['name']} failed ({payment['error_message'] or 'no message'}); "
                f"activities for the buyer: {summaries or 'none'}"
            )
            self.expect(bool(activities), f"the buyer has no activity on the failed payment {payment['name']}")


# === Commands === #


def run_demo(args):
    started = time.monotonic()
    odoo = OdooProcesses(args)
    if port_is_open(args.port):
        raise SystemExit(f"demo: something already listens on {HOST}:{args.port}. Stop it or choose another PORT.")
    print(f"Creating database {args.database} with {ADDON} and its demo data (log: {odoo.install_log})...")
    odoo.recreate_database()
    print(f"  done in {time.monotonic() - started:.0f} s")
    print(f"Starting Odoo on {odoo.base_url} (log: {odoo.server_log})...")
    try:
        odoo.start_server()
        print("  ready")
        job = DemoJob(OdooServer(odoo.base_url, args.database), args.settle_timeout)
        success = job.run()
    except RpcError as error:
        print(f"\ndemo: a JSON-RPC call failed with {error}\nSee the server log: {odoo.server_log}")
        return 1
    finally:
        odoo.stop_server()
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    print(f"\nServer stopped. Total time: {minutes} min {seconds:02d} s.")
    if not success:
        print(f"{len(job.problems)} outcomes differ from the plan:")
        for problem in job.problems:
            print(f"  - {problem}")
        return 1
    print(f"All {len(PLANS)} wallet payments ended as expected.")
    return 0


def run_serve(args):
    odoo = OdooProcesses(args)
    print(f"Starting Odoo on {odoo.base_url} for database {args.database} (log: {odoo.server_log})...")
    odoo.start_server()
    try:
        server = OdooServer(odoo.base_url, args.database)
        if not server.call("db", "db_exist", args.database):
            print(f"Database {args.database} does not exist. Create it first: make demo DB={args.database}")
            return 1
        try:
            set_base_url(server.login("admin", "admin"), odoo.base_url)
        except (SystemExit, RpcError) as error:
            print(f"{error}\nweb.base.url is unchanged, so the demo wallet may post its notifications elsewhere.")
        print(f"\nOpen {odoo.base_url}/odoo in a browser. Demo logins (login / password):")
        for login, password in DEMO_LOGINS:
            print(f"  {login} / {password}")
        print("Press Ctrl+C to stop the server.")
        odoo.server.wait()
        print(f"The server exited with code {odoo.server.returncode}; see {odoo.server_log}.")
        return odoo.server.returncode or 0
    except KeyboardInterrupt:
        print("\nStopping the server...")
        return 0
    finally:
        odoo.stop_server()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--odoo-bin", required=True, help="path of Odoo 18's odoo-bin")
    parser.add_argument("--python", required=True, help="Python interpreter of Odoo's virtualenv")
    parser.add_argument("--config", required=True, help="Odoo configuration file; logs are written next to it")
    parser.add_argument("--database", required=True, help="name of the demo database")
    parser.add_argument("--port", required=True, type=int, help="HTTP port of the server on 127.0.0.1")
    parser.add_argument(
        "--serve", action="store_true", help="serve the existing database in the foreground instead of recreating it"
    )
    parser.add_argument(
        "--settle-timeout",
        type=int,
        default=90,
        help="seconds to wait for the demo wallet to settle the sent payments (default: %(default)s)",
    )
    args = parser.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.database):
        parser.error(f"invalid database name {args.database!r}: use letters, digits, '_', '.' and '-'")
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the server on SIGTERM too
    try:
        return run_serve(args) if args.serve else run_demo(args)
    except KeyboardInterrupt:
        print("\ndemo: interrupted.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
