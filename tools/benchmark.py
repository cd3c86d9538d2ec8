"""Measure dispatch and webhook throughput of the addon on a throwaway database.

Run through ``make bench``: it creates the database with the addon installed,
then this script commits N payments on a demo wallet, dispatches them, and
applies one signed notification per payment through the webhook inbox, in
process (no HTTP). It prints per-payment times (median and 95th percentile)
and the peak resident memory of the process.
"""

import argparse
import json
import resource
import statistics
import sys
import time
import uuid


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def describe(label, seconds):
    return (
        f"{label:<28} n={len(seconds):<5} median {statistics.median(seconds) * 1000:7.1f} ms"
        f"   p95 {percentile(seconds, 0.95) * 1000:7.1f} ms   total {sum(seconds):6.1f} s"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="Odoo configuration file")
    parser.add_argument("--database", required=True, help="database with the addon installed")
    parser.add_argument("--payments", type=int, default=300, help="number of payments (default 300)")
    args = parser.parse_args()

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    from odoo.addons.purchase_wallet_payment.const import SIGNATURE_HEADER
    from odoo.addons.purchase_wallet_payment.utils import sign_hmac_sha256

    registry = Registry(args.database)
    secret = "bench-secret"
    run = uuid.uuid4().hex[:6]
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.ref("base.main_company")
        journal = env["account.journal"].create({"name": f"Bench {run}", "type": "bank", "code": f"B{run[:4]}"})
        provider = env["wallet.provider"].create(
            {
                "name": f"Bench {run}",
                "provider_type": "demo",
                "state": "test",
                "journal_id": journal.id,
                "webhook_secret": secret,
                "demo_balance": 10**9,
            }
        )
        company.wallet_approval_threshold = 10**9
        vendor = env["res.partner"].create(
            {"name": f"Bench Vendor {run}", "wallet_payee_account_ids": [(0, 0, {"provider_type": "demo", "identifier": f"DW-B{run}"})]}
        )
        payments = env["wallet.payment"].create(
            [
                {
                    "partner_id": vendor.id,
                    "provider_id": provider.id,
                    "payee_account_id": vendor.wallet_payee_account_ids.id,
                    "amount": 10 + index / 100,
                }
                for index in range(args.payments)
            ]
        )
        payments.action_submit()
        payment_ids, provider_id = payments.ids, provider.id

    dispatch_times = []
    for payment_id in payment_ids:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            started = time.perf_counter()
            env["wallet.payment"].browse(payment_id)._dispatch()
            dispatch_times.append(time.perf_counter() - started)

    webhook_times = []
    for payment_id in payment_ids:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            payment = env["wallet.payment"].browse(payment_id)
            body = json.dumps(
                {"event_id": str(uuid.uuid4()), "reference": payment.name, "status": "paid",
                 "amount": f"{payment.amount:.2f}", "currency": payment.currency_id.name}
            ).encode()
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: f"sha256={sign_hmac_sha256(secret, body)}"}
            started = time.perf_counter()
            status, _message = env["wallet.event"]._receive_notification(env["wallet.provider"].browse(provider_id), body, headers)
            webhook_times.append(time.perf_counter() - started)
            if status != 200 or payment.state != "paid":
                sys.exit(f"unexpected result for {payment.name}: HTTP {status}, {payment.state}")

    print(describe("dispatch (claim, call, store)", dispatch_times))
    print(describe("webhook (verify, apply, book)", webhook_times))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory         {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
