from collections import deque

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..const import PAYMENT_STATES, TRANSITIONS
from .common import WalletPaymentCommon

ALL_STATES = [state for state, _label in PAYMENT_STATES]


def path_to(target):
    """Return the shortest list of states leading from draft to ``target``."""
    queue = deque([["draft"]])
    while queue:
        path = queue.popleft()
        if path[-1] == target:
            return path[1:]
        for following in sorted(TRANSITIONS[path[-1]]):
            if following not in path:
                queue.append(path + [following])
    raise AssertionError(f"{target} cannot be reached from draft")


@tagged("post_install", "-at_install")
class TestStateMachine(WalletPaymentCommon):
    def _payment_in(self, state):
        payment = self._make_payment()
        for step in path_to(state):
            payment._set_state(step, "user", "test setup")
        self.assertEqual(payment.state, state)
        return payment

    def test_every_state_is_reachable(self):
        for state in ALL_STATES:
            with self.subTest(state=state):
                self._payment_in(state)

    def test_allowed_transitions_succeed(self):
        for from_state, targets in TRANSITIONS.items():
            for to_state in targets:
                with self.subTest(from_state=from_state, to_state=to_state):
                    payment = self._payment_in(from_state)
                    payment._set_state(to_state, "user", "allowed move")
                    self.assertEqual(payment.state, to_state)
                    log = payment.log_ids[-1]
                    self.assertEqual((log.from_state, log.to_state), (from_state, to_state))

    def test_other_transitions_rejected(self):
        for from_state in ALL_STATES:
            for to_state in set(ALL_STATES) - TRANSITIONS[from_state] - {from_state}:
                with self.subTest(from_state=from_state, to_state=to_state):
                    payment = self._payment_in(from_state)
                    with self.assertRaises(UserError):
                        payment._set_state(to_state, "user", "illegal move")
                    payment.invalidate_recordset()
                    self.assertEqual(payment.state, from_state)

    def test_final_states_have_no_exit(self):
        self.assertEqual(TRANSITIONS["cancelled"], set())
        self.assertEqual(TRANSITIONS["returned"], set())
        self.assertEqual(TRANSITIONS["paid"], {"returned"})

    def test_direct_state_write_rejected(self):
        """Even a legal move is refused when written directly, as over RPC."""
        payment = self._payment_in("sending")
        for user in (self.buyer, self.manager):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    payment.with_user(user).write({"state": "paid"})
        with self.assertRaises(AccessError):
            payment.sudo().write({"state": "paid"})
        with self.assertRaises(AccessError):
            payment.with_context(wallet_internal_write=True).write({"state": "paid"})
        payment.invalidate_recordset()
        self.assertEqual(payment.state, "sending")

    def test_create_in_other_state_rejected(self):
        with self.assertRaises(UserError):
            self.env["wallet.payment"].create(
                {
                    "partner_id": self.vendor.id,
                    "provider_id": self.provider.id,
                    "payee_account_id": self.vendor.wallet_payee_account_ids.id,
                    "amount": 10.0,
                    "state": "paid",
                }
            )

    def test_state_change_records_cause(self):
        payment = self._make_payment(amount=10.0)
        payment.with_user(self.buyer).action_submit()
        log = payment.log_ids[-1]
        self.assertEqual(log.cause, "rule")
        self.assertEqual(log.user_id, self.buyer)
        self.assertEqual(log.to_state, "approved")
        self.assertTrue(log.create_date)

    def test_amount_frozen_while_in_flight(self):
        for state in ("sending", "pending", "in_doubt", "paid", "failed"):
            with self.subTest(state=state):
                payment = self._payment_in(state)
                with self.assertRaises(UserError):
                    payment.with_user(self.buyer).write({"amount": 5.0})

    def test_cancel_allowed_states(self):
        for state in ALL_STATES:
            with self.subTest(state=state):
                payment = self._payment_in(state)
                if "cancelled" in TRANSITIONS[state]:
                    payment.with_user(self.buyer).action_cancel()
                    self.assertEqual(payment.state, "cancelled")
                else:
                    with self.assertRaises(UserError):
                        payment.with_user(self.buyer).action_cancel()

    def test_retry_only_after_failure(self):
        payment = self._payment_in("failed")
        payment.with_user(self.buyer).action_retry()
        self.assertEqual(payment.state, "approved")
        for state in ("in_doubt", "pending", "sending"):
            with self.subTest(state=state):
                with self.assertRaises(UserError):
                    self._payment_in(state).with_user(self.buyer).action_retry()

    @mute_logger("odoo.addons.purchase_wallet_payment.models.wallet_payment")
    def test_delete_only_draft(self):
        payment = self._payment_in("approved")
        with self.assertRaises(UserError):
            payment.with_user(self.manager).unlink()
        draft = self._make_payment()
        draft.with_user(self.manager).unlink()
        self.assertFalse(draft.exists())
