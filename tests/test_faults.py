"""The fault suite: real concurrency, crashes and hostile input on committed
data, checked from the provider's side (the demo wallet's ledger).

These tests commit, so they run on their own database (``make test-faults``)
against the HTTP server that pytest-odoo starts with ``--odoo-http``.
"""

import json
import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from unittest import TestCase

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.service import server as odoo_server
from odoo.tests.common import get_db_name

from ..const import SIGNATURE_HEADER
from ..utils import sign_hmac_sha256

pytestmark = pytest.mark.faults

SECRET = "whsec-faults-7d2e"
PAYMENTS_PER_DISPATCH_RUN = 500
WEBHOOK_DELIVERIES = 1000
FUZZED_BODIES = 10000


class FaultSuiteCase(TestCase):
    """Builds a wallet, a vendor and the HTTP address on committed data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if odoo_server.server is None:
            raise RuntimeError("the fault suite needs pytest's --odoo-http option")
        cls.registry = Registry(get_db_name())
        cls.base_url = f"http://127.0.0.1:{odoo_server.server.httpd.server_port}"
        run = uuid.uuid4().hex[:6]
        with cls.environment() as env:
            env["ir.config_parameter"].set_param("web.base.url", cls.base_url)
            company = env.ref("base.main_company")
            journal = env["account.journal"].create(
                {"name": f"Fault Wallet {run}", "type": "bank", "code": f"F{run[:4]}"}
            )
            provider = env["wallet.provider"].create(
                {
                    "name": f"Fault Wallet {run}",
                    "provider_type": "demo",
                    "state": "test",
                    "journal_id": journal.id,
                    "currency_id": company.currency_id.id,
                    "webhook_secret": SECRET,
                    "demo_balance": 10**9,
                    "demo_slow_delay": 0,
                }
            )
            company.write({"wallet_provider_id": provider.id, "wallet_approval_threshold": 10**9})
            vendor = env["res.partner"].create(
                {
                    "name": f"Fault Vendor {run}",
                    "wallet_payee_account_ids": [
                        (0, 0, {"provider_type": "demo", "identifier": f"DW-{run}"})
                    ],
                }
            )
            cls.provider_id = provider.id
            cls.vendor_id = vendor.id
            cls.payee_account_id = vendor.wallet_payee_account_ids.id
            cls.currency_id = company.currency_id.id

    @classmethod
    @contextmanager
    def environment(cls):
        """Yield a superuser environment on a new cursor, committed at exit."""
        with cls.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})

    @classmethod
    def create_payments(cls, count, state="approved"):
        """Commit ``count`` payments of distinct amounts; return their ids."""
        with cls.environment() as env:
            payments = env["wallet.payment"].create(
                [
                    {
                        "partner_id": cls.vendor_id,
                        "provider_id": cls.provider_id,
                        "payee_account_id": cls.payee_account_id,
                        "currency_id": cls.currency_id,
                        "amount": 10 + index / 100,
                    }
                    for index in range(count)
                ]
            )
            if state == "approved":
                payments.action_submit()
            return payments.ids

    def ledger_counts(self, payment_ids):
        """Return {reference: number of payouts} and {key: number of payouts}."""
        with self.environment() as env:
            names = env["wallet.payment"].browse(payment_ids).mapped("name")
            payouts = env["wallet.demo.payout"].search([("reference", "in", names)])
            by_reference = Counter(payouts.mapped("reference"))
            by_key = Counter(payouts.mapped("idempotency_key"))
            return {name: by_reference.get(name, 0) for name in names}, by_key

    @classmethod
    def states(cls, payment_ids):
        with cls.environment() as env:
            return dict(
                (payment.id, payment.state) for payment in env["wallet.payment"].browse(payment_ids)
            )

    def deliver_all_notifications(self):
        """Run the demo wallet's notifier until nothing is due."""
        for _round in range(50):
            with self.environment() as env:
                ledger = env["wallet.demo.payout"]
                due = ledger.search_count(
                    [("notified", "=", False), ("notify_at", "<=", fields.Datetime.now())]
                )
                if not due:
                    return
                ledger._cron_send_notifications()
        raise AssertionError("notifications were still due after 50 rounds")

    def post(self, body, headers=None, session=None):
        headers = headers if headers is not None else signed_headers(body)
        sender = session or requests
        return sender.post(
            f"{self.base_url}/wallet/webhook/{self.provider_id}", data=body, headers=headers, timeout=60
        )


def signed_headers(body, secret=SECRET):
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: f"sha256={sign_hmac_sha256(secret, body)}",
    }


def notification(reference, status, amount, event_id=None):
    return json.dumps(
        {
            "event_id": event_id or str(uuid.uuid4()),
            "reference": reference,
            "status": status,
            "amount": f"{amount:.2f}",
            "currency": "USD",
        }
    ).encode()


class TestParallelDispatch(FaultSuiteCase):
    def test_two_dispatchers_pay_each_once(self):
        payment_ids = self.create_payments(PAYMENTS_PER_DISPATCH_RUN)
        errors = []

        def dispatch():
            try:
                with self.environment() as env:
                    env["wallet.payment"].browse(payment_ids)._dispatch()
            except Exception as error:  # noqa: BLE001 - reported by the assert below
                errors.append(error)

        workers = [threading.Thread(target=dispatch) for _index in range(2)]
        for worker in workers:
            worker.start()
        notifier_stop = threading.Event()

        def notify_while_dispatching():
            while not notifier_stop.is_set():
                with self.environment() as env:
                    env["wallet.demo.payout"]._cron_send_notifications()

        notifier = threading.Thread(target=notify_while_dispatching)
        notifier.start()
        for worker in workers:
            worker.join()
        notifier_stop.set()
        notifier.join()
        self.assertEqual(errors, [])
        self.deliver_all_notifications()

        by_reference, by_key = self.ledger_counts(payment_ids)
        self.assertEqual(set(by_reference.values()), {1}, "each payment paid exactly once")
        self.assertEqual(set(by_key.values()), {1})
        self.assertEqual(set(self.states(payment_ids).values()), {"paid"})
        with self.environment() as env:
            payments = env["wallet.payment"].browse(payment_ids)
            self.assertEqual(set(len(payment.attempt_ids) for payment in payments), {1})
            account_payments = env["account.payment"].search([("wallet_payment_id", "in", payment_ids)])
            self.assertEqual(len(account_payments), len(payment_ids))
            ledger_total = sum(env["wallet.demo.payout"].search([("reference", "in", payments.mapped("name"))]).mapped("amount"))
            self.assertAlmostEqual(ledger_total, sum(payments.mapped("amount")), places=2)
            self.assertAlmostEqual(sum(account_payments.mapped("amount")), ledger_total, places=2)
            for move in account_payments.move_id:
                self.assertEqual(move.state, "posted")
                self.assertAlmostEqual(sum(move.line_ids.mapped("balance")), 0.0, places=2)


class TestWebhookStorm(FaultSuiteCase):
    def test_concurrent_duplicate_and_late_events(self):
        payment_ids = self.create_payments(WEBHOOK_DELIVERIES // 5)
        with self.environment() as env:
            payments = env["wallet.payment"].browse(payment_ids)
            payments._dispatch()
            targets = [(payment.id, payment.name, payment.amount) for payment in payments]
            # Stop the demo wallet's own notifications: this test sends them.
            env["wallet.demo.payout"].search([("reference", "in", payments.mapped("name"))]).write(
                {"notified": True}
            )
        deliveries, expected_final = [], {}
        randomizer = random.Random(20261204)
        for payment_id, name, amount in targets:
            pending = notification(name, "pending", amount)
            paid = notification(name, "paid", amount)
            conflicting = notification(name, "failed", amount)
            forged = notification(name, "paid", amount)
            # pending twice, paid twice, one failure that conflicts, one forgery
            deliveries += [(pending, True), (pending, True), (paid, True), (paid, True), (conflicting, True)]
            deliveries.append((forged, False))
            expected_final[payment_id] = {"paid", "failed"}
        randomizer.shuffle(deliveries)
        deliveries = deliveries[: WEBHOOK_DELIVERIES + len(targets)]

        def send(item):
            body, genuine = item
            headers = signed_headers(body) if genuine else signed_headers(body, secret="forged")
            return genuine, self.post(body, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(send, deliveries))
        statuses = Counter(status for _genuine, status in results)
        self.assertFalse([status for status in statuses if status >= 500], statuses)
        self.assertEqual({status for genuine, status in results if not genuine}, {403})
        self.assertEqual({status for genuine, status in results if genuine}, {200})

        states = self.states(payment_ids)
        with self.environment() as env:
            for payment in env["wallet.payment"].browse(payment_ids):
                self.assertIn(states[payment.id], expected_final[payment.id])
                finals = payment.log_ids.filtered(lambda log: log.to_state in ("paid", "failed"))
                self.assertEqual(len(finals), 1, payment.name)
                accounting = env["account.payment"].search_count([("wallet_payment_id", "=", payment.id)])
                self.assertEqual(accounting, 1 if payment.state == "paid" else 0, payment.name)
                event_ids = payment.event_ids.mapped("event_id")
                self.assertEqual(len(event_ids), len(set(event_ids)), "each event stored once")
        by_reference, _by_key = self.ledger_counts(payment_ids)
        self.assertEqual(set(by_reference.values()), {1})


class TestCrashRecoveryAtScale(FaultSuiteCase):
    """Every payment's dispatcher dies at a random commit point; recovery
    must pay each exactly once."""

    CRASH_POINTS = ("none", "after_claim", "after_call", "inside_store")

    def test_random_crashes_pay_each_once(self):
        payment_ids = self.create_payments(200)
        randomizer = random.Random(7)
        crashes = Counter()
        for payment_id in payment_ids:
            point = randomizer.choice(self.CRASH_POINTS)
            crashes[point] += 1
            with self.environment() as env:
                model = env["wallet.payment"]
                if point == "none":
                    model.browse(payment_id)._dispatch()
                    continue
                model._claim_for_sending(payment_id)
                if point == "after_claim":
                    continue
                outcome = model._call_send_payout(payment_id)
                if point == "inside_store":
                    try:
                        with self.registry.cursor() as cr:
                            crashed = api.Environment(cr, SUPERUSER_ID, {})["wallet.payment"]
                            crashed.browse(payment_id)._apply_provider_result(outcome, "dispatch")
                            raise RuntimeError("worker died")
                    except RuntimeError:
                        pass
        self.recover(payment_ids)
        by_reference, by_key = self.ledger_counts(payment_ids)
        self.assertEqual(set(by_reference.values()), {1}, crashes)
        self.assertEqual(set(by_key.values()), {1})
        self.assertEqual(set(self.states(payment_ids).values()), {"paid"}, crashes)

    def recover(self, payment_ids):
        """Let time pass and run the resolver, retries and notifier until every
        payment is final."""
        for _round in range(10):
            with self.environment() as env:
                past = fields.Datetime.now() - timedelta(hours=2)
                env.cr.execute(
                    "UPDATE wallet_payment SET write_date = %s, sent_at = %s "
                    "WHERE id IN %s AND state IN ('sending', 'in_doubt', 'pending')",
                    [past, past, tuple(payment_ids)],
                )
            with self.environment() as env:
                env["wallet.payment"]._cron_resolve_status(limit=1000)
            with self.environment() as env:
                failed = env["wallet.payment"].browse(payment_ids).filtered(lambda p: p.state == "failed")
                failed.action_retry()
                retried = failed.ids
            # A dispatcher only sees what is committed, as a cron would.
            with self.environment() as env:
                env["wallet.payment"].browse(retried)._dispatch()
            self.deliver_all_notifications()
            if set(self.states(payment_ids).values()) == {"paid"}:
                return


class TestFuzzedWebhooks(FaultSuiteCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.session = requests.Session()
        ids = cls.create_payments(3)
        with cls.environment() as env:
            payments = env["wallet.payment"].browse(ids)
            payments[0]._dispatch()  # pending
            payments[1].action_cancel()  # final: nothing may move it
            env["wallet.demo.payout"].search([("reference", "in", payments.mapped("name"))]).write(
                {"notified": True}
            )
            cls.targets = payments.mapped("name")
            cls.payment_ids = ids
        cls.before = cls.states(ids)

    def tearDown(self):
        self.assertEqual(self.states(self.payment_ids), self.before)
        super().tearDown()

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=10,
    )

    @settings(max_examples=FUZZED_BODIES // 2, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=st.binary(max_size=512), signed=st.booleans(), content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
    ))
    def test_random_bytes_never_break_webhook(self, body, signed, content_type):
        headers = signed_headers(body) if signed else {}
        if content_type:
            headers["Content-Type"] = content_type
        else:
            headers.pop("Content-Type", None)
        status = self.post(body, headers=headers, session=self.session).status_code
        self.assertIn(status, (400, 403, 415, 200))

    @settings(max_examples=FUZZED_BODIES // 2, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        fields_=st.dictionaries(
            st.sampled_from(["event_id", "reference", "status", "amount", "currency", "type", "payout_id"]),
            json_values,
        ),
        reference_index=st.integers(min_value=0, max_value=2),
        status=st.text(max_size=12).filter(lambda text: text not in ("pending", "paid", "failed", "returned")),
    )
    def test_malformed_notifications_change_nothing(self, fields_, reference_index, status):
        data = dict(fields_)
        data.setdefault("reference", self.targets[reference_index])
        data["status"] = status
        body = json.dumps(data).encode()
        response = self.post(body, session=self.session)
        self.assertIn(response.status_code, (400, 200))
