from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import WalletPaymentCommon


@tagged("post_install", "-at_install")
class TestMultiCompany(WalletPaymentCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.setup_other_company(name="Second Company")["company"]
        cls.provider_b = cls._create_provider("Wallet B", cls.company_b, "WLTB", "secret-b")
        cls.user_b = new_test_user(
            cls.env,
            login="wallet_user_b",
            groups="purchase.group_purchase_user,purchase_wallet_payment.group_wallet_manager",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )

    def test_other_company_payments_hidden(self):
        payment = self._make_payment(amount=10.0)
        visible = self.env["wallet.payment"].with_user(self.user_b).search([])
        self.assertNotIn(payment, visible)
        with self.assertRaises(AccessError):
            payment.with_user(self.user_b).read(["amount"])

    def test_other_company_providers_hidden(self):
        providers = self.env["wallet.provider"].with_user(self.user_b).search([])
        self.assertEqual(providers, self.provider_b)

    def test_provider_of_other_company_rejected(self):
        with self.assertRaises(UserError):
            self._make_payment(amount=10.0, provider=self.provider_b)

    def test_webhook_of_other_provider_does_not_match(self):
        payment = self._make_payment(amount=10.0)
        payment.with_user(self.buyer).action_submit()
        payment._dispatch()
        event_model = self.env["wallet.event"].sudo()
        body = self._notification_body(payment, "paid")
        headers = self._signed_headers(body, secret="secret-b")
        status, _message = event_model._receive_notification(self.provider_b, body, headers)
        self.assertEqual(status, 200)
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "pending")
        self.assertEqual(event_model.search([("provider_id", "=", self.provider_b.id)]).state, "unmatched")

    def test_events_of_other_company_hidden(self):
        body = self._notification_body(self._make_payment(amount=5.0), "paid")
        self.env["wallet.event"].sudo()._receive_notification(self.provider, body, self._signed_headers(body))
        self.assertFalse(self.env["wallet.event"].with_user(self.user_b).search([]))
