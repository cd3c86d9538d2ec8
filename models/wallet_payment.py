import logging
import time
import uuid
from datetime import timedelta

from psycopg2 import errorcodes
from psycopg2.extensions import TransactionRollbackError

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..const import (
    APPROVAL_FIELDS,
    IN_FLIGHT_STATES,
    OPEN_STATES,
    PAYMENT_STATES,
    TRANSITIONS,
)
from ..exceptions import WalletProviderError, WalletProviderUnreachable

_logger = logging.getLogger(__name__)

# PostgreSQL errors after which a step may simply run again: another
# transaction won a row, and nothing of this one was applied.
RETRYABLE_ERRORS = (
    errorcodes.SERIALIZATION_FAILURE,
    errorcodes.DEADLOCK_DETECTED,
    errorcodes.LOCK_NOT_AVAILABLE,
)
MAX_STEP_TRIES = 5

# Only business methods of this model write the fields in PROTECTED_FIELDS: they
# pass this object in the context, which no RPC call can forge (it is not JSON).
_INTERNAL_WRITE = object()

# Fields that record what happened rather than what a user asks for. A user,
# even an administrator over RPC, who could write them could forge a key, a
# requester or an accounting link, so only the model's own methods do.
PROTECTED_FIELDS = frozenset(
    [
        "state",
        "name",
        "requester_id",
        "trigger",
        "picking_id",
        "idempotency_key",
        "provider_reference",
        "error_message",
        "sent_at",
        "done_at",
        "account_payment_id",
        "accounting_error",
        "fee_amount",
        "fee_move_id",
        "rejection_reason",
        "overdue_notified",
        "dispatch_note",
    ]
)

# A payment still sending after this long lost its dispatcher (every provider
# call times out after REQUEST_TIMEOUT seconds, 30).
STALE_SENDING_SECONDS = 300


class WalletPayment(models.Model):
    """A request to pay a vendor from a company wallet, from draft to paid."""

    _name = "wallet.payment"
    _description = "Wallet Payment"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference",
        required=True,
        readonly=True,
        copy=False,
        default=lambda self: _("New"),
    )
    state = fields.Selection(
        selection=PAYMENT_STATES,
        required=True,
        default="draft",
        readonly=True,
        copy=False,
        index=True,
        tracking=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    purchase_id = fields.Many2one(
        "purchase.order",
        string="Purchase Order",
        index=True,
        check_company=True,
        tracking=True,
        domain="[('state', 'in', ('purchase', 'done'))]",
    )
    bill_id = fields.Many2one(
        "account.move",
        string="Vendor Bill",
        check_company=True,
        copy=False,
        domain="[('move_type', '=', 'in_invoice'), ('partner_id', '=', partner_id)]",
    )
    picking_id = fields.Many2one(
        "stock.picking", string="Receipt", readonly=True, copy=False, check_company=True
    )
    trigger = fields.Selection(
        selection=[("manual", "By Hand"), ("receipt", "Goods Receipt")],
        required=True,
        default="manual",
        readonly=True,
    )
    partner_id = fields.Many2one(
        "res.partner", string="Vendor", required=True, tracking=True, check_company=True
    )
    buyer_id = fields.Many2one(related="purchase_id.user_id", string="Buyer")
    provider_id = fields.Many2one(
        "wallet.provider",
        string="Wallet",
        required=True,
        tracking=True,
        check_company=True,
        domain="[('state', '!=', 'disabled')]",
    )
    provider_type = fields.Selection(related="provider_id.provider_type")
    payee_account_id = fields.Many2one(
        "wallet.payee.account",
        string="Payee Account",
        required=True,
        ondelete="restrict",
        tracking=True,
        domain="[('partner_id', '=', partner_id), ('provider_type', '=', provider_type)]",
    )
    amount = fields.Monetary(required=True, tracking=True)
    currency_id = fields.Many2one(
        "res.currency", required=True, default=lambda self: self.env.company.currency_id
    )
    line_ids = fields.One2many("wallet.payment.line", "payment_id", string="Lines")
    requester_id = fields.Many2one(
        "res.users",
        string="Requested By",
        required=True,
        readonly=True,
        default=lambda self: self.env.user,
    )
    approval_ids = fields.One2many(
        "wallet.payment.approval", "payment_id", string="Approvals", readonly=True
    )
    rejection_reason = fields.Text(readonly=True, copy=False, tracking=True)
    idempotency_key = fields.Char(
        readonly=True,
        copy=False,
        index=True,
        help="Key of the current attempt, sent to the provider so that the same "
        "attempt pays at most once.",
    )
    provider_reference = fields.Char(readonly=True, copy=False, index=True)
    error_message = fields.Text(readonly=True, copy=False)
    sent_at = fields.Datetime(readonly=True, copy=False)
    done_at = fields.Datetime(string="Settled At", readonly=True, copy=False)
    account_payment_id = fields.Many2one(
        "account.payment", string="Accounting Payment", readonly=True, copy=False
    )
    accounting_error = fields.Text(readonly=True, copy=False)
    fee_amount = fields.Monetary(
        string="Provider Fee", readonly=True, copy=False, help="Fee the provider charged for the payout."
    )
    fee_move_id = fields.Many2one("account.move", string="Fee Entry", readonly=True, copy=False)
    attempt_ids = fields.One2many(
        "wallet.payment.attempt", "payment_id", string="Attempts", readonly=True
    )
    log_ids = fields.One2many(
        "wallet.payment.log", "payment_id", string="State History", readonly=True
    )
    event_ids = fields.One2many(
        "wallet.event", "payment_id", string="Provider Events", readonly=True
    )
    can_approve = fields.Boolean(compute="_compute_can_approve")
    overdue_notified = fields.Boolean(readonly=True, copy=False)
    dispatch_note = fields.Char(
        readonly=True, copy=False, help="Why the last dispatch did not send the payment."
    )

    _sql_constraints = [
        ("name_company_uniq", "UNIQUE(name, company_id)", "The reference must be unique."),
        ("idempotency_key_uniq", "UNIQUE(idempotency_key)", "Idempotency keys are unique."),
        ("amount_positive", "CHECK(amount > 0)", "The amount must be positive."),
    ]

    # === COMPUTE METHODS === #

    @api.depends("state", "requester_id", "approval_ids.user_id")
    @api.depends_context("uid")
    def _compute_can_approve(self):
        is_approver = self.env.user.has_group(
            "purchase_wallet_payment.group_wallet_approver"
        )
        for payment in self:
            payment.can_approve = (
                is_approver
                and payment.state == "to_approve"
                and payment.requester_id != self.env.user
                and self.env.user not in payment.approval_ids.user_id
            )

    @api.onchange("line_ids")
    def _onchange_line_ids(self):
        if self.line_ids:
            self.amount = sum(self.line_ids.mapped("amount"))

    # === CONSTRAINT METHODS === #

    @api.constrains("partner_id", "payee_account_id", "provider_id")
    def _check_payee_account(self):
        for payment in self:
            account = payment.payee_account_id
            if account.partner_id.commercial_partner_id != payment.partner_id.commercial_partner_id:
                raise ValidationError(
                    _(
                        "The payee account %(account)s does not belong to %(vendor)s.",
                        account=account.display_name,
                        vendor=payment.partner_id.display_name,
                    )
                )
            if account.provider_type != payment.provider_id.provider_type:
                raise ValidationError(
                    _(
                        "The payee account %(account)s is for another rail than the "
                        "wallet %(provider)s.",
                        account=account.display_name,
                        provider=payment.provider_id.name,
                    )
                )

    @api.constrains("amount", "line_ids", "state")
    def _check_lines_total(self):
        for payment in self.filtered("line_ids"):
            total = sum(payment.line_ids.mapped("amount"))
            if payment.currency_id.compare_amounts(total, payment.amount):
                raise ValidationError(
                    _(
                        "The amount of %(payment)s (%(amount)s) differs from the total "
                        "of its lines (%(total)s).",
                        payment=payment.name,
                        amount=payment.currency_id.format(payment.amount),
                        total=payment.currency_id.format(total),
                    )
                )

    @api.constrains("purchase_id", "line_ids")
    def _check_lines_order(self):
        for payment in self:
            foreign = payment.line_ids.purchase_line_id.order_id - payment.purchase_id
            if foreign:
                raise ValidationError(
                    _(
                        "The lines of %(payment)s must belong to its purchase order, not "
                        "to %(orders)s.",
                        payment=payment.name,
                        orders=", ".join(foreign.mapped("name")),
                    )
                )

    @api.constrains("amount", "state", "purchase_id", "line_ids")
    def _check_purchase_payable(self):
        self.purchase_id._wallet_check_payable()

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        internal = self._is_internal_write()
        for vals in vals_list:
            if vals.get("state", "draft") != "draft":
                raise UserError(_("A wallet payment always starts as a draft."))
            forged = (PROTECTED_FIELDS - {"state"}).intersection(vals)
            if forged and not internal:
                raise AccessError(
                    _(
                        "These fields of a wallet payment are set by the system, not on "
                        "creation: %(fields)s",
                        fields=", ".join(sorted(forged)),
                    )
                )
            if vals.get("name", _("New")) == _("New"):
                vals["name"] = self.env["ir.sequence"].next_by_code("wallet.payment") or _("New")
        return super().create(vals_list)

    def write(self, vals):
        if "state" in vals:
            self._check_state_write(vals["state"])
        forged = PROTECTED_FIELDS.intersection(vals)
        if forged and not self._is_internal_write():
            raise AccessError(
                _(
                    "These fields of a wallet payment change only through its actions "
                    "and the provider's confirmations: %(fields)s",
                    fields=", ".join(sorted(forged)),
                )
            )
        changed = set(APPROVAL_FIELDS).intersection(vals)
        if changed and self.env.context.get("wallet_internal_write") is not _INTERNAL_WRITE:
            self._check_editable(changed)
            to_reset = self.filtered(lambda p: p.state in ("to_approve", "approved"))
            result = super().write(vals)
            to_reset._reset_to_draft(
                _("Sent back to draft because %(fields)s changed.", fields=", ".join(sorted(changed)))
            )
            return result
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_draft(self):
        if any(payment.state != "draft" for payment in self):
            raise UserError(
                _("Only draft wallet payments can be deleted. Cancel the others.")
            )

    def _is_internal_write(self):
        return self.env.context.get("wallet_internal_write") is _INTERNAL_WRITE

    def _internal(self):
        """Return ``self`` allowed to write PROTECTED_FIELDS. For the model's
        own methods only: never pass this context on to user input."""
        return self.with_context(wallet_internal_write=_INTERNAL_WRITE)

    def _check_state_write(self, new_state):
        if not self._is_internal_write():
            raise AccessError(
                _(
                    "The state of a wallet payment changes only through its actions "
                    "(submit, approve, send, cancel) or the provider's confirmation."
                )
            )
        for payment in self:
            if new_state not in TRANSITIONS[payment.state]:
                raise UserError(
                    _(
                        "%(payment)s cannot go from %(from_state)s to %(to_state)s.",
                        payment=payment.name,
                        from_state=payment._get_state_label(payment.state),
                        to_state=payment._get_state_label(new_state),
                    )
                )

    def _check_editable(self, field_names):
        locked = self.filtered(lambda p: p.state not in ("draft", "to_approve", "approved"))
        if locked:
            raise UserError(
                _(
                    "%(payment)s is %(state)s: its amount, currency, vendor, payee "
                    "account and wallet can no longer change.",
                    payment=locked[0].name,
                    state=locked[0]._get_state_label(locked[0].state),
                )
            )

    # === ACTION METHODS === #

    def action_submit(self):
        """Send draft payments through the approval rules."""
        for payment in self:
            if payment.state != "draft":
                raise UserError(
                    _("Only draft payments can be submitted: %(payment)s is not.", payment=payment.name)
                )
            payment._check_eligible()
            payment._internal().rejection_reason = False
            if payment._needs_approval():
                payment._set_state(
                    "to_approve",
                    "rule",
                    _(
                        "%(amount)s is at or above the approval threshold.",
                        amount=payment.currency_id.format(payment.amount),
                    ),
                )
                payment._notify_approvers()
            else:
                payment._set_state(
                    "approved",
                    "rule",
                    _("Approved automatically: below the approval threshold."),
                )
        return True

    def action_approve(self):
        """Record the current user's approval; approve once enough are given."""
        user = self.env.user
        if not user.has_group("purchase_wallet_payment.group_wallet_approver"):
            raise AccessError(_("Only Wallet Approvers can approve wallet payments."))
        for payment in self:
            if payment.state != "to_approve":
                raise UserError(
                    _("%(payment)s is not waiting for approval.", payment=payment.name)
                )
            if payment.requester_id == user:
                raise UserError(
                    _("You requested %(payment)s, so someone else must approve it.", payment=payment.name)
                )
            if user in payment.approval_ids.user_id:
                raise UserError(_("You have already approved %(payment)s.", payment=payment.name))
            self.env["wallet.payment.approval"].sudo().create(
                {"payment_id": payment.id, "user_id": user.id}
            )
            required = payment.company_id.wallet_approvals_required or 1
            if len(payment.approval_ids) >= required:
                payment.sudo().activity_unlink(["mail.mail_activity_data_todo"])
                payment._set_state("approved", "user", _("Approved by %(user)s.", user=user.name))
            else:
                payment.message_post(
                    body=_(
                        "Approved by %(user)s (%(count)s of %(required)s).",
                        user=user.name,
                        count=len(payment.approval_ids),
                        required=required,
                    )
                )
        return True

    def action_open_reject_wizard(self):
        return {
            "type": "ir.actions.act_window",
            "name": _("Reject Wallet Payment"),
            "res_model": "wallet.payment.reject",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    def action_reject(self, reason):
        """Send payments waiting for approval, or approved, back to draft."""
        if not self.env.user.has_group("purchase_wallet_payment.group_wallet_approver"):
            raise AccessError(_("Only Wallet Approvers can reject wallet payments."))
        if not (reason or "").strip():
            raise UserError(_("Give a reason for the rejection."))
        for payment in self:
            if payment.state not in ("to_approve", "approved"):
                raise UserError(
                    _("%(payment)s cannot be rejected in its current state.", payment=payment.name)
                )
        self._internal().write({"rejection_reason": reason.strip()})
        self._reset_to_draft(_("Rejected: %(reason)s", reason=reason.strip()))
        return True

    def action_cancel(self):
        for payment in self:
            if "cancelled" not in TRANSITIONS[payment.state]:
                raise UserError(
                    _(
                        "%(payment)s is %(state)s and can no longer be cancelled.",
                        payment=payment.name,
                        state=payment._get_state_label(payment.state),
                    )
                )
            payment._set_state("cancelled", "user", _("Cancelled by %(user)s.", user=self.env.user.name))
        return True

    def action_retry(self):
        """Queue a new attempt for payments whose failure the provider confirmed.

        The approval given before still holds: amount, payee and wallet cannot
        change once a payment has been sent.
        """
        self._check_access_send()
        for payment in self:
            if payment.state != "failed":
                raise UserError(
                    _("Only failed payments can be retried: %(payment)s is not.", payment=payment.name)
                )
            payment._check_eligible()
            payment._set_state("approved", "user", _("Retry requested by %(user)s.", user=self.env.user.name))
        self.purchase_id._wallet_check_payable()
        return True

    def action_send(self):
        """Send the approved payments now instead of waiting for the scheduler."""
        self._check_access_send()
        if any(payment.state != "approved" for payment in self):
            raise UserError(_("Only approved payments can be sent."))
        self._dispatch()
        unsent = self.filtered(lambda p: p.state == "approved")
        if not unsent:
            return True
        busy = _("taken by another dispatcher")
        reasons = "; ".join(f"{payment.name}: {payment.dispatch_note or busy}" for payment in unsent)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning",
                "title": _("Not sent"),
                "message": reasons,
                "sticky": True,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_check_status(self):
        """Ask the provider for the status of payments whose outcome is open."""
        self._check_access_send()
        self.filtered(lambda p: p.state in IN_FLIGHT_STATES)._resolve_status()
        return True

    def action_create_account_payment(self):
        """Create the missing accounting payment of paid payments."""
        for payment in self.filtered(lambda p: p.state == "paid" and not p.account_payment_id):
            payment._create_account_payment()
        return True

    def action_view_account_payment(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.payment",
            "res_id": self.account_payment_id.id,
            "view_mode": "form",
        }

    def _check_access_send(self):
        if not self.env.user.has_group("purchase_wallet_payment.group_wallet_user"):
            raise AccessError(_("Only Wallet Users can send wallet payments."))

    # === STATE MACHINE === #

    def _set_state(self, new_state, cause, message=None, event=None, values=None):
        """Move one payment to ``new_state`` and record why.

        :param str new_state: a key of ``TRANSITIONS[self.state]``
        :param str cause: one of the causes of ``wallet.payment.log``
        :param str message: what happened, for the state history
        :param event: the wallet.event that caused the change, if any
        :param dict values: other fields to write in the same step
        :raise UserError: if the transition is not allowed
        """
        self.ensure_one()
        old_state = self.state
        self.with_context(wallet_internal_write=_INTERNAL_WRITE).write(
            dict(values or {}, state=new_state)
        )
        self.env["wallet.payment.log"].sudo().create(
            {
                "payment_id": self.id,
                "from_state": old_state,
                "to_state": new_state,
                "cause": cause,
                "user_id": self.env.uid,
                "event_id": event.id if event else False,
                "message": message,
            }
        )
        self._on_state_changed(old_state)

    def _on_state_changed(self, old_state):
        """Run the side effects of entering the current state."""
        if self.state == "paid":
            self._create_account_payment()
            self._wallet_post_on_purchase(
                _("Wallet payment %(payment)s of %(amount)s is paid.", payment=self.name, amount=self.currency_id.format(self.amount))
            )
        elif self.state == "failed":
            self._notify_buyer(
                _("Wallet payment %(payment)s failed", payment=self.name),
                self.error_message or _("The provider reported a failure."),
            )
        elif self.state == "returned":
            self._reverse_account_payment()
            self._notify_buyer(
                _("Wallet payment %(payment)s came back", payment=self.name),
                self.error_message or _("The provider returned the payout."),
            )

    def _get_current_attempt(self):
        self.ensure_one()
        return self.attempt_ids.filtered(lambda a: a.idempotency_key == self.idempotency_key)[:1]

    def _reset_to_draft(self, message):
        for payment in self:
            payment.approval_ids.sudo().unlink()
            payment.sudo().activity_unlink(["mail.mail_activity_data_todo"])
            payment._set_state("draft", "user", message)

    def _get_state_label(self, state):
        return dict(self._fields["state"]._description_selection(self.env))[state]

    # === APPROVAL === #

    def _check_eligible(self):
        """Raise a UserError, with the reason, if this payment cannot be paid."""
        self.ensure_one()
        if not self.payee_account_id.active:
            raise UserError(
                _("The payee account of %(vendor)s is archived.", vendor=self.partner_id.display_name)
            )
        self.provider_id._check_can_pay(self.amount, self.currency_id)
        self.provider_id._check_payee(self.payee_account_id)

    def _needs_approval(self):
        self.ensure_one()
        company = self.company_id
        threshold = company.wallet_approval_threshold
        amount = self.amount
        if self.purchase_id:
            # Splitting an order's payment must not avoid the approval: the
            # threshold applies to all its open wallet payments together.
            open_payments = self.purchase_id.sudo().wallet_payment_ids.filtered(
                lambda p: p.state in OPEN_STATES
            )
            amount = max(amount, sum(open_payments.mapped("amount")))
        amount = self.currency_id._convert(
            amount, company.currency_id, company, fields.Date.context_today(self)
        )
        return company.currency_id.compare_amounts(amount, threshold) >= 0

    def _notify_approvers(self):
        approvers = self.env.ref("purchase_wallet_payment.group_wallet_approver").sudo().users
        approvers = approvers.filtered(
            lambda u: self.company_id in u.company_ids and u != self.requester_id and not u.share
        )
        for user in approvers[:10]:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("Approve wallet payment"),
                user_id=user.id,
            )

    # === DISPATCH === #

    def _dispatch(self):
        """Send each approved payment of ``self`` to its provider at most once.

        Every step runs in a cursor of its own and commits, so that the key and
        the ``sending`` state are stored before the provider is called, and no
        row lock is held while the network call runs. A payment that another
        transaction holds is skipped, including one approved by the caller's
        own transaction and not yet committed.
        """
        # The step cursors read from the database, not from this cache.
        self.env.flush_all()
        for payment_id in self.ids:
            if self._claim_for_sending(payment_id):
                result = self._call_send_payout(payment_id)
                self._store_dispatch_outcome(payment_id, result)
        self.env.invalidate_all()

    @api.model
    def _claim_for_sending(self, payment_id):
        """Lock one approved payment, give it a new attempt and key, commit.

        :return: whether this dispatcher now owns the payment
        """
        self.env.flush_all()
        with self.env.registry.cursor() as cr:
            cr.execute(
                "SELECT id FROM wallet_payment WHERE id = %s AND state = 'approved' "
                "FOR UPDATE SKIP LOCKED",
                [payment_id],
            )
            if not cr.fetchone():
                return False
            payment = self.env(cr=cr)["wallet.payment"].browse(payment_id)
            # One claim at a time per wallet, so that concurrent dispatchers
            # cannot both pass the daily, monthly and balance checks.
            cr.execute(
                "SELECT id FROM wallet_provider WHERE id = %s FOR UPDATE", [payment.provider_id.id]
            )
            if payment.provider_id.health_state == "suspended":
                return False  # Held until the provider is resumed.
            try:
                payment._check_eligible()
                payment.provider_id._check_period_limits(payment.amount)
                payment.provider_id._check_balance(payment.amount)
            except UserError as error:
                # Kept approved: the limit may allow it later, or a user fixes it.
                # The reason is posted once, not at every run of the scheduler.
                if payment.dispatch_note != str(error):
                    payment._internal().dispatch_note = str(error)
                    payment.message_post(body=_("Not sent: %(reason)s", reason=str(error)))
                _logger.info("wallet payment %s not sent: %s", payment.name, error)
                return False
            key = str(uuid.uuid4())
            attempt = payment.env["wallet.payment.attempt"].sudo().create(
                {"payment_id": payment.id, "idempotency_key": key}
            )
            if payment.provider_id.balance_updated_at:
                # Keep the last balance read honest until the next refresh.
                payment.provider_id.sudo().balance -= payment.amount
            payment._set_state(
                "sending",
                "dispatch",
                _("Attempt %(number)s sent with key %(key)s.", number=attempt.number, key=key),
                values={
                    "dispatch_note": False,
                    "idempotency_key": key,
                    "sent_at": fields.Datetime.now(),
                    "error_message": False,
                    # The reference of an earlier attempt names another payout.
                    "provider_reference": False,
                },
            )
            _logger.info("wallet payment %s: sending with key %s", payment.name, key)
        return True

    @api.model
    def _call_send_payout(self, payment_id):
        """Call the rail for a claimed payment.

        :return: the rail's result (see ``wallet.provider._send_payout``);
            its status is ``in_doubt`` when the outcome is unknown
        :rtype: dict
        """
        with self.env.registry.cursor() as cr:
            payment = self.env(cr=cr)["wallet.payment"].browse(payment_id)
            try:
                result = payment.provider_id._send_payout(payment)
            except WalletProviderUnreachable as error:
                _logger.warning("wallet payment %s in doubt: %s", payment.name, error)
                return {"status": "in_doubt", "message": str(error)}
            except WalletProviderError as error:
                _logger.info("wallet payment %s rejected by the provider: %s", payment.name, error)
                return {"status": "failed", "message": str(error)}
            except Exception as error:
                # Whatever broke, the request may have reached the provider.
                _logger.exception("wallet payment %s: payout call failed", payment.name)
                return {"status": "in_doubt", "message": _("Unexpected error: %(error)s", error=error)}
            return result

    @api.model
    def _store_dispatch_outcome(self, payment_id, result):
        """Apply the provider's response under the payment's row lock.

        A webhook may have changed the payment since the call started; the
        step is then run again on the new row, never the call.
        """
        for attempt in range(1, MAX_STEP_TRIES + 1):
            try:
                with self.env.registry.cursor() as cr:
                    cr.execute("SELECT id FROM wallet_payment WHERE id = %s FOR UPDATE", [payment_id])
                    payment = self.env(cr=cr)["wallet.payment"].browse(payment_id)
                    payment._apply_provider_result(result, "dispatch")
                    payment.env["wallet.event"]._match_waiting_events(payment)
                return
            except TransactionRollbackError as error:
                if error.pgcode not in RETRYABLE_ERRORS or attempt == MAX_STEP_TRIES:
                    # Left in sending: the status query will settle it.
                    _logger.exception("wallet payment %s: storing the outcome failed", payment_id)
                    return
                _logger.info("wallet payment %s: outcome conflict, retry %s", payment_id, attempt)
                time.sleep(0.05 * attempt)

    def _apply_provider_result(self, result, cause, event=None):
        """Apply a rail's result dictionary (status, provider_reference,
        message, fee) with :meth:`_apply_provider_status`."""
        return self._apply_provider_status(
            result["status"],
            cause,
            provider_reference=result.get("provider_reference"),
            message=result.get("message"),
            event=event,
            fee=result.get("fee"),
        )

    def _apply_provider_status(
        self, status, cause, provider_reference=None, message=None, event=None, fee=None
    ):
        """Move one payment to what the provider reported, if that is a move
        forward. A stale or contradictory status changes nothing.

        :param str status: pending, paid, failed, returned or in_doubt
        :param float fee: the provider's fee for the payout, if it reports one
        :return: a short description of what changed, for the event record
        :rtype: str
        """
        self.ensure_one()
        if status == "returned" and self.state in ("sending", "pending", "in_doubt"):
            # The money came back before we heard it arrived: the payout ended
            # without paying, and a late "paid" must not book it.
            status = "failed"
            message = message or _("The provider returned the payout.")
        values = {}
        if fee and not self.fee_amount:
            values["fee_amount"] = fee
        if provider_reference and not self.provider_reference:
            values["provider_reference"] = provider_reference
        if status in ("failed", "returned", "in_doubt") and message:
            values["error_message"] = message
        if status in ("paid", "failed", "returned"):
            values["done_at"] = fields.Datetime.now()
        if values.get("provider_reference"):
            self._get_current_attempt().sudo().provider_reference = values["provider_reference"]
        if self.state == status:
            extra = {key: values[key] for key in ("provider_reference", "fee_amount") if key in values}
            if extra:
                self._internal().write(extra)
            return _("no change: already %(state)s", state=self._get_state_label(status))
        if status not in TRANSITIONS[self.state]:
            return _(
                "ignored: %(state)s cannot go to %(status)s",
                state=self._get_state_label(self.state),
                status=self._get_state_label(status),
            )
        old_state = self.state
        self._set_state(status, cause, message, event=event, values=values)
        return _(
            "%(from_state)s → %(to_state)s",
            from_state=self._get_state_label(old_state),
            to_state=self._get_state_label(status),
        )

    # === STATUS RESOLUTION === #

    def _resolve_status(self):
        """Ask the provider for each payment's payout by its idempotency key,
        and apply the response.

        Never sends a payout under a new key. A rail whose provider can only
        be asked by repeating the request under the same key (PayPal, without
        the batch id that a lost response carried) may repeat it: the provider
        pays at most once per key.
        """
        for payment in self:
            try:
                result = payment.provider_id._get_payout_status(payment)
            except WalletProviderUnreachable as error:
                _logger.warning("wallet payment %s: status query failed: %s", payment.name, error)
                if payment.state in ("sending", "pending"):
                    payment._set_state("in_doubt", "status_query", str(error), values={"error_message": str(error)})
                continue
            status = result["status"]
            if status == "unknown":
                status = payment._status_for_unknown_payout()
                if not status and payment.state == "sending":
                    # Its dispatcher stopped before or during the call.
                    status = "in_doubt"
                if not status:
                    continue
            payment._apply_provider_result(dict(result, status=status), "status_query")

    def _status_for_unknown_payout(self):
        """Decide what a provider's "no such payout" means for this payment.

        A request can still be on its way shortly after it was sent, so only
        after the grace period is the attempt taken as failed (and so open to a
        new attempt with a new key).
        """
        grace = timedelta(minutes=self.company_id.wallet_unknown_grace_minutes or 15)
        if self.sent_at and fields.Datetime.now() - self.sent_at > grace:
            self._internal().error_message = _("The provider never received this payout.")
            return "failed"
        return None

    @api.model
    def _cron_dispatch(self, limit=200):
        payments = self.search([("state", "=", "approved")], order="id", limit=limit)
        payments._dispatch()

    @api.model
    def _get_payments_to_poll(self, limit):
        """Return payments in doubt, payments sending for longer than a call can
        take (their worker died), and payments pending with no news for longer
        than their company's polling delay."""
        now = fields.Datetime.now()
        domain = [
            "|",
            ("state", "=", "in_doubt"),
            "&",
            ("state", "=", "sending"),
            ("write_date", "<", now - timedelta(seconds=STALE_SENDING_SECONDS)),
        ]
        for company in self.env["res.company"].sudo().search([]):
            delay = timedelta(minutes=company.wallet_poll_after_minutes or 30)
            domain = [
                "|",
                *domain,
                "&",
                "&",
                ("company_id", "=", company.id),
                ("state", "=", "pending"),
                ("write_date", "<", now - delay),
            ]
        return self.search(domain, order="write_date", limit=limit)

    @api.model
    def _cron_resolve_status(self, limit=200):
        payments = self._get_payments_to_poll(limit)
        self.env.flush_all()
        for payment_id in payments.ids:
            with self.env.registry.cursor() as cr:
                cr.execute(
                    "SELECT id FROM wallet_payment WHERE id = %s FOR UPDATE SKIP LOCKED", [payment_id]
                )
                if cr.fetchone():
                    # The lock is held during the status query so that a
                    # webhook for the same payment waits instead of racing.
                    self.env(cr=cr)["wallet.payment"].browse(payment_id)._resolve_status()
        self._notify_overdue()
        self.env.invalidate_all()

    @api.model
    def _notify_overdue(self):
        """Alert the buyer once about each payment in doubt for too long."""
        now = fields.Datetime.now()
        for payment in self.search([("state", "=", "in_doubt"), ("overdue_notified", "=", False)]):
            delay = timedelta(minutes=payment.company_id.wallet_in_doubt_alert_minutes or 60)
            if payment.sent_at and now - payment.sent_at > delay:
                payment._notify_buyer(
                    _("Wallet payment %(payment)s is still in doubt", payment=payment.name),
                    _(
                        "The provider has not confirmed the outcome since %(time)s. "
                        "It is queried again automatically; check the wallet's "
                        "dashboard if this lasts.",
                        time=payment.sent_at,
                    ),
                )
                payment._internal().overdue_notified = True

    # === ACCOUNTING === #

    def _create_account_payment(self):
        """Post the outbound accounting payment of a paid payment, reconciled
        with the open vendor bills of its purchase order when there are any.

        A failure here must not undo the paid state, since the money has left
        the wallet: it is stored in ``accounting_error`` for a person to fix.
        """
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                account_payment = self._prepare_and_post_account_payment()
        except (UserError, ValidationError) as error:
            _logger.exception("wallet payment %s: accounting payment failed", self.name)
            self._internal().accounting_error = str(error)
            self._notify_buyer(_("Wallet payment %(payment)s needs an accounting payment", payment=self.name), str(error))
            return
        self._internal().write({"account_payment_id": account_payment.id, "accounting_error": False})
        if self.fee_amount and not self.fee_move_id:
            self._create_fee_move()

    def _prepare_and_post_account_payment(self):
        # The provider confirmed the payout, so it is recorded as superuser, whichever
        # user or webhook request applied the confirmation.
        payment = self.sudo().with_company(self.company_id)
        provider = payment.provider_id
        if not provider.payment_method_line_id:
            provider._setup_payment_method_line()
        bills = payment._get_bills_to_reconcile()
        if bills:
            wizard = payment.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=bills.ids
            ).create(
                {
                    "journal_id": provider.journal_id.id,
                    "payment_method_line_id": provider.payment_method_line_id.id,
                    "amount": payment.amount,
                    "currency_id": payment.currency_id.id,
                    "payment_date": fields.Date.context_today(payment),
                    "communication": payment._get_accounting_memo(),
                    "group_payment": True,
                    "payment_difference_handling": "open",
                }
            )
            account_payment = wizard._create_payments()
        else:
            account_payment = payment.env["account.payment"].create(
                {
                    "payment_type": "outbound",
                    "partner_type": "supplier",
                    "partner_id": payment.partner_id.commercial_partner_id.id,
                    "amount": payment.amount,
                    "currency_id": payment.currency_id.id,
                    "journal_id": provider.journal_id.id,
                    "payment_method_line_id": provider.payment_method_line_id.id,
                    "memo": payment._get_accounting_memo(),
                    "date": fields.Date.context_today(payment),
                }
            )
            account_payment.action_post()
        account_payment.wallet_payment_id = payment.id
        return account_payment

    def _create_fee_move(self):
        """Book the provider's fee: the wallet's account pays it to the
        provider's fee expense account, in the wallet's journal."""
        provider = self.provider_id.sudo()
        if not provider.fee_account_id:
            self._internal().accounting_error = _(
                "The provider charged a fee of %(fee)s but the wallet %(provider)s has no "
                "fee account, so the fee is not booked.",
                fee=self.currency_id.format(self.fee_amount),
                provider=provider.name,
            )
            return
        journal = provider.journal_id
        company_currency = self.company_id.currency_id
        balance = self.currency_id._convert(
            self.fee_amount, company_currency, self.company_id, fields.Date.context_today(self)
        )
        line_values = {"partner_id": self.partner_id.commercial_partner_id.id, "name": _("Fee of %(payment)s", payment=self.name)}
        if self.currency_id != company_currency:
            line_values["currency_id"] = self.currency_id.id
        move = self.env["account.move"].sudo().with_company(self.company_id).create(
            {
                "move_type": "entry",
                "journal_id": journal.id,
                "date": fields.Date.context_today(self),
                "ref": _("Wallet fee %(payment)s", payment=self.name),
                "line_ids": [
                    fields.Command.create(
                        dict(line_values, account_id=provider.fee_account_id.id, debit=balance, amount_currency=self.fee_amount)
                    ),
                    fields.Command.create(
                        dict(line_values, account_id=journal.default_account_id.id, credit=balance, amount_currency=-self.fee_amount)
                    ),
                ],
            }
        )
        move.action_post()
        self._internal().fee_move_id = move

    def _get_accounting_memo(self):
        return " ".join(filter(None, [self.name, self.purchase_id.name, self.provider_reference]))

    def _get_bills_to_reconcile(self):
        bills = self.bill_id or self.purchase_id.invoice_ids
        return bills.filtered(
            lambda m: m.move_type == "in_invoice"
            and m.state == "posted"
            and m.payment_state not in ("paid", "in_payment", "reversed")
            and not m.currency_id.is_zero(m.amount_residual)
        ).sorted("invoice_date_due")

    def _reverse_account_payment(self):
        """Undo the accounting payment of a payout that came back."""
        account_payment = self.sudo().account_payment_id
        if not account_payment:
            return
        try:
            with self.env.cr.savepoint():
                account_payment.action_draft()
                account_payment.action_cancel()
        except (UserError, ValidationError) as error:
            _logger.exception("wallet payment %s: cancelling accounting payment failed", self.name)
            self._internal().accounting_error = str(error)

    # === NOTIFICATIONS === #

    def _wallet_post_on_purchase(self, body):
        if self.purchase_id:
            self.purchase_id.sudo().message_post(body=body, subtype_xmlid="mail.mt_note")

    def _notify_buyer(self, summary, note):
        """Give the buyer (or the requester) an activity and note it on the PO."""
        user = self.purchase_id.user_id or self.requester_id
        self.sudo().activity_schedule(
            "mail.mail_activity_data_todo", summary=summary, note=note, user_id=user.id
        )
        self._wallet_post_on_purchase(f"{summary}: {note}")
