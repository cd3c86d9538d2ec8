import json
import uuid

from odoo import Command
from odoo.tests import new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from ..const import SIGNATURE_HEADER
from ..utils import sign_hmac_sha256

WEBHOOK_SECRET = "whsec-test-4f1c"


class WalletPaymentCommon(AccountTestInvoicingCommon):
    """A company with a demo wallet, buyers, approvers, vendors and products.

    The dispatcher commits each step in a cursor of its own, so the registry
    runs in test mode: those cursors share the test's transaction.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.registry.test_cr:
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)

        cls.company = cls.company_data["company"]
        cls.currency = cls.company.currency_id
        cls.provider = cls._create_provider(
            "Test Demo Wallet", cls.company, "WLT", WEBHOOK_SECRET, demo_slow_delay=3600
        )
        cls.wallet_journal = cls.provider.journal_id
        cls.company.write(
            {
                "wallet_provider_id": cls.provider.id,
                "wallet_payment_trigger": "receipt",
                "wallet_approval_threshold": 1000.0,
                "wallet_approvals_required": 1,
            }
        )
        cls.buyer = cls._create_wallet_user("wallet_buyer", "group_wallet_user")
        cls.approver = cls._create_wallet_user("wallet_approver", "group_wallet_approver")
        cls.approver_2 = cls._create_wallet_user("wallet_approver_2", "group_wallet_approver")
        cls.manager = cls._create_wallet_user("wallet_manager", "group_wallet_manager")
        cls.stock_user = new_test_user(
            cls.env,
            login="wallet_stock_user",
            groups="stock.group_stock_user,base.group_user",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )
        cls.vendor = cls._create_vendor("Northwind Components", "DW-1001")
        cls.vendor_failing = cls._create_vendor("Failing Supplies", "DW-fail-2002")
        cls.vendor_rejected = cls._create_vendor("Blocked Trading", "DW-reject-3003")
        cls.vendor_timeout = cls._create_vendor("Silent Networks", "DW-timeout-4004")
        cls.vendor_no_wallet = cls.env["res.partner"].create({"name": "Cash Only Ltd"})
        cls.product_ssd = cls._create_storable("SSD 1 TB")
        cls.product_monitor = cls._create_storable("Monitor 27 inch")

    @classmethod
    def _create_provider(cls, name, company, journal_code, secret, **values):
        """Create a demo wallet in test mode with its own bank journal."""
        journal = cls.env["account.journal"].create(
            {"name": name, "type": "bank", "code": journal_code, "company_id": company.id}
        )
        return cls.env["wallet.provider"].create(
            {
                "name": name,
                "provider_type": "demo",
                "state": "test",
                "company_id": company.id,
                "currency_id": company.currency_id.id,
                "journal_id": journal.id,
                "webhook_secret": secret,
                **values,
            }
        )

    @classmethod
    def get_default_groups(cls):
        groups = super().get_default_groups()
        return groups | cls.env.ref("purchase_wallet_payment.group_wallet_manager")

    @classmethod
    def _create_wallet_user(cls, login, group):
        return new_test_user(
            cls.env,
            login=login,
            name=login.replace("_", " ").title(),
            groups=f"purchase.group_purchase_user,stock.group_stock_user,"
            f"purchase_wallet_payment.{group}",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )

    @classmethod
    def _create_vendor(cls, name, identifier, provider_type="demo", kind=None, **values):
        """Create a vendor with one wallet account on ``provider_type``."""
        account = {"provider_type": provider_type, "identifier": identifier}
        if kind:
            account["payee_kind"] = kind
        return cls.env["res.partner"].create(
            {
                "name": name,
                "supplier_rank": 1,
                "wallet_payee_account_ids": [Command.create(account)],
                **values,
            }
        )

    @classmethod
    def _create_storable(cls, name):
        return cls.env["product.product"].create(
            {
                "name": name,
                "type": "consu",
                "is_storable": True,
                "purchase_method": "receive",
                "supplier_taxes_id": [Command.clear()],
            }
        )

    # === HELPERS === #

    def _create_order(self, vendor=None, lines=None, confirm=True, user=None):
        """Create a purchase order; ``lines`` is a list of (product, qty, price)."""
        lines = lines or [(self.product_ssd, 10, 50.0)]
        order = self.env["purchase.order"].with_user(user or self.buyer).create(
            {
                "partner_id": (vendor or self.vendor).id,
                "company_id": self.company.id,
                "order_line": [
                    Command.create(
                        {"product_id": product.id, "product_qty": qty, "price_unit": price, "taxes_id": False}
                    )
                    for product, qty, price in lines
                ],
            }
        )
        if confirm:
            order.button_confirm()
        return order.with_user(self.env.user)

    def _receive(self, order, quantities=None, user=None):
        """Validate the order's open receipt, with ``{product: qty}`` done (all
        when omitted); the rest goes to a backorder."""
        picking = order.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        self.assertEqual(len(picking), 1, "expected one open receipt")
        picking = picking.with_user(user or self.stock_user)
        for move in picking.move_ids:
            quantity = move.product_uom_qty
            if quantities is not None:
                quantity = quantities.get(move.product_id, 0.0)
            move.quantity = quantity
            move.picked = True
        picking._action_done()
        return picking

    def _payments(self, order):
        order.invalidate_recordset()
        return order.wallet_payment_ids.sorted("id")

    def _approve(self, payment):
        payment.with_user(self.approver).action_approve()

    def _create_bill(self, order):
        order.invalidate_recordset()
        action = order.action_create_invoice()
        bill = self.env["account.move"].browse(action["res_id"])
        bill.invoice_date = bill.date
        bill.action_post()
        return bill

    def _make_payment(self, amount=100.0, vendor=None, provider=None, user=None):
        """A draft payment with no purchase order."""
        vendor = vendor or self.vendor
        provider = provider or self.provider
        return self.env["wallet.payment"].with_user(user or self.buyer).create(
            {
                "partner_id": vendor.id,
                "provider_id": provider.id,
                "payee_account_id": vendor.wallet_payee_account_ids[:1].id,
                "amount": amount,
                "currency_id": provider.currency_id.id,
                "company_id": provider.company_id.id,
            }
        ).with_user(self.env.user)

    def _approved_payment(self, provider, vendor, amount):
        """Submit a payment below the threshold, so it is approved at once."""
        payment = self._make_payment(amount=amount, vendor=vendor, provider=provider)
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "approved")
        return payment

    def _notification_body(self, payment, status="paid", event_id=None, **overrides):
        data = {
            "event_id": event_id or str(uuid.uuid4()),
            "type": f"payout.{status}",
            "reference": payment.name,
            "payout_id": payment.provider_reference or "DEMO-TEST",
            "status": status,
            "amount": f"{payment.amount:.2f}",
            "currency": payment.currency_id.name,
        }
        data.update(overrides)
        return json.dumps(data).encode()

    def _signed_headers(self, body, secret=WEBHOOK_SECRET):
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: f"sha256={sign_hmac_sha256(secret, body)}",
        }
