"""Attacks a fresh user tried against the product, kept as tests."""

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestProtectedFields(WalletPaymentCommon):
    def test_system_fields_not_writable(self):
        payment = self._make_payment(amount=50.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        forged = {
            "idempotency_key": "forged-key",
            "sent_at": "2020-01-01 00:00:00",
            "requester_id": self.approver.id,
            "account_payment_id": False,
            "name": "RENAMED",
            "fee_amount": 99.0,
            "provider_reference": "X",
        }
        for field_name, value in forged.items():
            for user in (self.buyer, self.manager):
                with self.subTest(field=field_name, user=user.login):
                    with self.assertRaises(AccessError):
                        payment.with_user(user).write({field_name: value})

    def test_system_fields_not_settable_on_create(self):
        with self.assertRaises(AccessError):
            self.env["wallet.payment"].with_user(self.buyer).create(
                {
                    "partner_id": self.vendor.id,
                    "provider_id": self.provider.id,
                    "payee_account_id": self.vendor.wallet_payee_account_ids.id,
                    "amount": 10.0,
                    "requester_id": self.approver.id,
                }
            )

    def test_payee_change_resets_approved_payment(self):
        payment = self._make_payment(amount=50.0)
        payment.with_user(self.buyer).action_submit()
        self.assertEqual(payment.state, "approved")
        payment.payee_account_id.with_user(self.buyer).write({"identifier": "BUYER-PRIVATE"})
        self.assertEqual(payment.state, "draft")

    def test_payee_change_blocked_while_in_flight(self):
        payment = self._make_payment(amount=50.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        with self.assertRaises(UserError):
            payment.payee_account_id.with_user(self.buyer).write({"identifier": "BUYER-PRIVATE"})

    def test_split_payments_share_threshold(self):
        order = self._create_order(lines=[(self.product_ssd, 10, 150.0)])  # 1,500
        self._receive(order, {self.product_ssd: 5})  # 750: below 1,000 alone
        first = self._payments(order)
        self.assertEqual(first.state, "approved")
        self._receive(order)  # 750 more: the order's payments now total 1,500
        self.assertEqual(self._payments(order)[-1].state, "to_approve")

    def test_line_of_other_order_rejected(self):
        order = self._create_order(lines=[(self.product_ssd, 2, 50.0)])
        other = self._create_order(lines=[(self.product_ssd, 2, 50.0)])
        with self.assertRaises(ValidationError):
            self.env["wallet.payment"].with_user(self.buyer).create(
                {
                    "purchase_id": order.id,
                    "partner_id": self.vendor.id,
                    "provider_id": self.provider.id,
                    "payee_account_id": self.vendor.wallet_payee_account_ids.id,
                    "amount": 50.0,
                    "line_ids": [(0, 0, {"purchase_line_id": other.order_line.id, "quantity": 1, "amount": 50.0})],
                }
            )

    def test_returned_before_paid_fails(self):
        payment = self._make_payment(amount=50.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        payment._apply_provider_status("returned", "event")
        self.assertEqual(payment.state, "failed")
        payment._apply_provider_status("paid", "event")
        self.assertEqual(payment.state, "failed")
        self.assertFalse(payment.account_payment_id)

    def test_send_now_reports_unsent(self):
        self.provider.max_amount_per_day = 10.0
        payment = self._make_payment(amount=50.0)
        payment.with_user(self.buyer).action_submit()
        action = payment.with_user(self.buyer).action_send()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("daily limit", action["params"]["message"])
        self.env["wallet.payment"]._cron_dispatch()
        notes = payment.message_ids.filtered(lambda m: "Not sent" in (m.body or ""))
        self.assertEqual(len(notes), 1, "the reason is posted once")

    def test_other_company_sees_no_lines_or_attempts(self):
        company_b = self.setup_other_company(name="Company B")["company"]
        from odoo.tests import new_test_user

        user_b = new_test_user(
            self.env,
            login="wallet_b_reader",
            groups="purchase.group_purchase_user,purchase_wallet_payment.group_wallet_manager",
            company_id=company_b.id,
            company_ids=[(6, 0, company_b.ids)],
        )
        order = self._create_order(lines=[(self.product_ssd, 2, 50.0)])
        self._receive(order)
        self._payments(order)._dispatch()
        for model in ("wallet.payment.line", "wallet.payment.attempt", "wallet.payment.approval", "wallet.demo.payout"):
            with self.subTest(model=model):
                self.assertEqual(self.env[model].with_user(user_b).search_count([]), 0)


@tagged("post_install", "-at_install")
class TestHostileWebhooks(WalletPaymentCommon, HttpCase):
    def _post(self, body, headers):
        return self.url_open(f"/wallet/webhook/{self.provider.id}", data=body, headers=headers)

    @mute_logger(
        "odoo.addons.purchase_wallet_payment.controllers.main",
        "odoo.addons.purchase_wallet_payment.models.wallet_event",
    )
    def test_deeply_nested_json_rejected(self):
        body = b"[" * 900 + b"]" * 900
        self.assertEqual(self._post(body, {"Content-Type": "application/json"}).status_code, 403)
        self.assertEqual(self._post(body, self._signed_headers(body)).status_code, 400)

    @mute_logger("odoo.addons.purchase_wallet_payment.models.wallet_event")
    def test_nan_and_missing_amounts_rejected(self):
        payment = self._make_payment(amount=30.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        for amount in ("NaN", "Infinity", None):
            with self.subTest(amount=amount):
                body = self._notification_body(payment, "paid", amount=amount)
                self.assertEqual(self._post(body, self._signed_headers(body)).status_code, 400)
        body = self._notification_body(payment, "paid", amount="0.00")
        self.assertEqual(self._post(body, self._signed_headers(body)).status_code, 200)
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "pending")

    @mute_logger(
        "odoo.addons.purchase_wallet_payment.controllers.main",
        "odoo.addons.purchase_wallet_payment.models.wallet_event",
    )
    def test_large_unsigned_json_stored_truncated(self):
        body = b'{"padding": "' + b"x" * 700000 + b'"}'
        self.assertEqual(self._post(body, {"Content-Type": "application/json"}).status_code, 403)
        event = self.env["wallet.event"].search([("provider_id", "=", self.provider.id)], limit=1)
        self.assertLessEqual(len(event.payload), 20000)

    def test_event_of_earlier_attempt_ignored(self):
        payment = self._make_payment(amount=40.0, vendor=self.vendor_rejected)
        payment.with_user(self.buyer).action_submit()
        self.vendor_rejected.wallet_payee_account_ids.sudo().write({"identifier": "DW-3003-ok"})
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        first_reference = payment.provider_reference
        payment._apply_provider_status("failed", "status_query", message="test failure")
        payment.with_user(self.buyer).action_retry()
        payment._dispatch()
        self.assertNotEqual(payment.provider_reference, first_reference)
        body = self._notification_body(payment, "paid", payout_id=first_reference)
        self.assertEqual(self._post(body, self._signed_headers(body)).status_code, 200)
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "pending")

    def test_webhook_changes_made_by_system_user(self):
        payment = self._make_payment(amount=30.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        body = self._notification_body(payment, "paid")
        self._post(body, self._signed_headers(body))
        payment.invalidate_recordset()
        self.assertEqual(payment.log_ids[-1].user_id, self.env.ref("base.user_root"))
