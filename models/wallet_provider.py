import json
import logging
from urllib.parse import urlsplit

import requests
from cryptography.fernet import InvalidToken

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..const import PAYEE_KINDS, SIGNATURE_HEADER
from ..exceptions import WalletProviderError, WalletProviderUnreachable
from ..utils import (
    decrypt_secret,
    rotate_secret,
    encrypt_secret,
    get_encryption_key,
    sign_hmac_sha256,
    signatures_match,
)

_logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 30  # seconds, for every call to a provider's API


class WalletProvider(models.Model):
    """A company e-wallet that pays vendors through one rail.

    Each rail is a ``provider_type`` and overrides the hooks in the "Rail
    hooks" section below, the way Odoo payment providers do: an override
    handles its own type and calls ``super()`` for the others.
    """

    _name = "wallet.provider"
    _description = "Wallet Provider"
    _inherit = ["mail.thread"]
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    provider_type = fields.Selection(
        selection=[("demo", "Demo Wallet")],
        string="Rail",
        required=True,
        default="demo",
        tracking=True,
        help="The wallet service and API this provider talks to.",
    )
    state = fields.Selection(
        selection=[("disabled", "Disabled"), ("test", "Test Mode"), ("enabled", "Enabled")],
        required=True,
        default="disabled",
        copy=False,
        tracking=True,
        help="Test mode uses the provider's sandbox; only enabled providers pay "
        "with real money.",
    )
    health_state = fields.Selection(
        selection=[("active", "Active"), ("sunset", "Sunset"), ("suspended", "Suspended")],
        string="Health",
        required=True,
        default="active",
        tracking=True,
        help="Sunset: the service is closing down, so it can only run in test "
        "mode. Suspended: payments are held and nothing is sent until it is "
        "resumed.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        default=lambda self: self.env.company.currency_id,
        help="The currency the wallet holds and pays in.",
    )
    journal_id = fields.Many2one(
        "account.journal",
        string="Wallet Journal",
        check_company=True,
        domain="[('type', '=', 'bank')]",
        help="Bank-type journal that represents the wallet in accounting. Paid "
        "payments are posted here.",
    )
    payment_method_line_id = fields.Many2one(
        "account.payment.method.line",
        string="Outbound Payment Method",
        readonly=True,
        copy=False,
        help="Set up by the provider on its journal: outbound, booked straight to "
        "the wallet's account, because a payment is only recorded once the "
        "provider has confirmed it.",
    )
    max_amount_per_payment = fields.Monetary(
        string="Limit per Payment",
        currency_field="currency_id",
        help="Largest amount of one payout. Zero means no limit.",
    )
    max_amount_per_day = fields.Monetary(
        string="Daily Limit",
        currency_field="currency_id",
        help="Largest total sent in one day (UTC). Zero means no limit.",
    )
    webhook_secret = fields.Char(
        compute="_compute_secret_inputs",
        inverse="_inverse_secret_inputs",
        groups="purchase_wallet_payment.group_wallet_manager",
        help="Shared secret that signs the provider's notifications. Write-only: "
        "the stored value is encrypted and never shown again.",
    )
    webhook_secret_encrypted = fields.Char(groups="base.group_system", copy=False)
    webhook_secret_set = fields.Boolean(
        string="Webhook Secret Set", compute="_compute_secret_inputs"
    )
    webhook_url = fields.Char(string="Webhook URL", compute="_compute_webhook_url")
    api_base_url = fields.Char(
        string="API Base URL",
        help="Leave empty to use the provider's official address for the current "
        "mode (sandbox in test mode). Set it only for a proxy or a local test "
        "server.",
    )
    fee_account_id = fields.Many2one(
        "account.account",
        string="Fee Account",
        check_company=True,
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost'))]",
        help="Expense account for the fees the provider reports on payouts.",
    )
    balance = fields.Monetary(
        currency_field="currency_id",
        readonly=True,
        copy=False,
        help="Available funds as last read from the provider.",
    )
    balance_updated_at = fields.Datetime(string="Balance Read At", readonly=True, copy=False)
    funds_needed = fields.Monetary(
        currency_field="currency_id",
        compute="_compute_funds_needed",
        help="Total of the payments waiting for approval or to be sent.",
    )
    payment_ids = fields.One2many("wallet.payment", "provider_id")
    payment_count = fields.Integer(compute="_compute_payment_count")

    _sql_constraints = [
        (
            "positive_limits",
            "CHECK(max_amount_per_payment >= 0 AND max_amount_per_day >= 0)",
            "Wallet limits cannot be negative.",
        ),
    ]

    # === COMPUTE METHODS === #

    def _compute_secret_inputs(self):
        for provider in self:
            stored = provider.sudo()  # Credentials are readable by system users only.
            for name in self._get_secret_field_names():
                provider[name] = False
                provider[f"{name}_set"] = bool(stored[f"{name}_encrypted"])

    def _inverse_secret_inputs(self):
        for provider in self:
            for name in self._get_secret_field_names():
                value = provider[name]
                if value:
                    # The encrypted column is restricted to system users.
                    provider.sudo()[f"{name}_encrypted"] = encrypt_secret(value.strip())

    @api.depends("provider_type")
    def _compute_webhook_url(self):
        for provider in self:
            if provider.id:
                provider.webhook_url = (
                    f"{provider.get_base_url()}/wallet/webhook/{provider.id}"
                )
            else:
                provider.webhook_url = False

    def _compute_funds_needed(self):
        totals = dict(
            self.env["wallet.payment"].sudo()._read_group(
                [("provider_id", "in", self.ids), ("state", "in", ("to_approve", "approved"))],
                ["provider_id"],
                ["amount:sum"],
            )
        )
        for provider in self:
            provider.funds_needed = totals.get(provider, 0.0)

    def _compute_payment_count(self):
        counts = dict(
            self.env["wallet.payment"]._read_group(
                [("provider_id", "in", self.ids)], ["provider_id"], ["__count"]
            )
        )
        for provider in self:
            provider.payment_count = counts.get(provider, 0)

    # === CONSTRAINT METHODS === #

    @api.constrains("state", "journal_id", "currency_id")
    def _check_ready_to_pay(self):
        if any(p.state == "enabled" for p in self) and not get_encryption_key():
            raise ValidationError(
                _(
                    "A wallet cannot pay with real money while no encryption key is "
                    "configured for its credentials. Set wallet_encryption_key in the "
                    "Odoo configuration file or the WALLET_ENCRYPTION_KEY environment "
                    "variable, restart Odoo, then enable the wallet."
                )
            )
        for provider in self.filtered(lambda p: p.state != "disabled"):
            if not provider.journal_id:
                raise ValidationError(
                    _(
                        "Choose a wallet journal for %(provider)s before you enable it.",
                        provider=provider.name,
                    )
                )
            journal_currency = provider.journal_id.currency_id or provider.company_id.currency_id
            if journal_currency != provider.currency_id:
                raise ValidationError(
                    _(
                        "The journal %(journal)s is in %(journal_currency)s but the "
                        "wallet %(provider)s pays in %(currency)s.",
                        journal=provider.journal_id.display_name,
                        journal_currency=journal_currency.name,
                        provider=provider.name,
                        currency=provider.currency_id.name,
                    )
                )

    @api.constrains("state", "health_state")
    def _check_sunset_not_live(self):
        for provider in self:
            if provider.health_state == "sunset" and provider.state == "enabled":
                raise ValidationError(
                    _(
                        "%(provider)s is on a service that is closing down, so it can "
                        "only be used in test mode.",
                        provider=provider.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        providers = super().create(vals_list)
        providers.filtered("journal_id")._setup_payment_method_line()
        return providers

    def write(self, vals):
        result = super().write(vals)
        if "journal_id" in vals:
            self.filtered("journal_id")._setup_payment_method_line()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_used(self):
        if self.env["wallet.payment"].sudo().search_count(
            [("provider_id", "in", self.ids)], limit=1
        ):
            raise UserError(
                _("You cannot delete a wallet that has payments. Archive it instead.")
            )

    # === ACTION METHODS === #

    def action_view_payments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "purchase_wallet_payment.wallet_payment_action"
        )
        action["domain"] = [("provider_id", "=", self.id)]
        action["context"] = {"default_provider_id": self.id}
        return action

    def action_suspend(self):
        """Hold every payment of the provider until it is resumed."""
        for provider in self.filtered(lambda p: p.health_state != "suspended"):
            provider.health_state = "suspended"
            stranded = provider._get_stranded_vendors()
            if stranded:
                provider.message_post(
                    body=_(
                        "Suspended. Vendors with no other wallet: %(vendors)s",
                        vendors=", ".join(stranded.mapped("display_name")),
                    )
                )
        return True

    def action_resume(self):
        for provider in self.filtered(lambda p: p.health_state == "suspended"):
            provider.health_state = provider._get_default_health_state()
        return True

    def action_test_connection(self):
        """Check the credentials by reading the balance, and show it."""
        self.ensure_one()
        try:
            balance = self._refresh_balance()
        except WalletProviderUnreachable as error:
            raise UserError(
                _("%(provider)s cannot be reached: %(error)s", provider=self.name, error=str(error))
            ) from error
        except WalletProviderError as error:
            raise UserError(
                _("%(provider)s rejected the credentials: %(error)s", provider=self.name, error=str(error))
            ) from error
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": _("Connection works"),
                "message": _(
                    "%(provider)s answered. Available balance: %(balance)s.",
                    provider=self.name,
                    balance=self.currency_id.format(balance),
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_view_stranded_vendors(self):
        """List the vendors that only this provider can pay."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Vendors Without Another Wallet"),
            "res_model": "res.partner",
            "view_mode": "list,form",
            "domain": [("id", "in", self._get_stranded_vendors().ids)],
        }

    # === BUSINESS METHODS === #

    def _refresh_balance(self):
        """Read the balance from the provider and store it.

        :return: the balance
        :raise WalletProviderError, WalletProviderUnreachable: from the rail
        """
        self.ensure_one()
        balance = self._get_balance()
        self.sudo().write({"balance": balance, "balance_updated_at": fields.Datetime.now()})
        return balance

    @api.model
    def _cron_refresh_balances(self):
        for provider in self.search([("state", "!=", "disabled"), ("health_state", "!=", "suspended")]):
            try:
                with self.env.cr.savepoint():
                    provider._refresh_balance()
            except (WalletProviderError, WalletProviderUnreachable, UserError) as error:
                _logger.warning("wallet %s: balance not refreshed: %s", provider.id, error)

    def _check_balance(self, amount):
        """Raise a UserError if the last balance read cannot cover ``amount``.

        A wallet whose balance was never read is not checked: the provider
        rejects a payout it cannot fund anyway.
        """
        self.ensure_one()
        if not self.balance_updated_at:
            return
        if self.currency_id.compare_amounts(amount, self.balance) > 0:
            raise UserError(
                _(
                    "The balance of %(provider)s (%(balance)s, read at %(time)s) cannot "
                    "cover %(amount)s. Top up the wallet, then send again.",
                    provider=self.name,
                    balance=self.currency_id.format(self.balance),
                    time=self.balance_updated_at,
                    amount=self.currency_id.format(amount),
                )
            )

    def _get_default_health_state(self):
        """Return the health of the rail when nothing is wrong with it."""
        return "active"

    def _get_stranded_vendors(self):
        """Return the vendors with open payments on this provider that no other
        usable provider of the company can pay."""
        self.ensure_one()
        open_payments = self.env["wallet.payment"].sudo().search(
            [
                ("provider_id", "=", self.id),
                ("state", "in", ("draft", "to_approve", "approved", "failed")),
            ]
        )
        others = self.sudo().search(
            [
                ("id", "!=", self.id),
                ("company_id", "=", self.company_id.id),
                ("state", "!=", "disabled"),
                ("health_state", "!=", "suspended"),
            ]
        )
        vendors = open_payments.partner_id.commercial_partner_id
        return vendors.filtered(
            lambda vendor: not any(vendor._get_wallet_payee_account(other) for other in others)
        )

    def _setup_payment_method_line(self):
        """Give each provider's journal an outbound method line booked on the
        wallet's own account, so a posted payment is paid at once."""
        # Wallet managers set up wallets without needing accounting rights.
        for provider in self.sudo():
            journal = provider.journal_id
            line = provider.payment_method_line_id
            if line.journal_id != journal:
                line = self.env["account.payment.method.line"]
            if not line:
                manual = self.env.ref("account.account_payment_method_manual_out")
                line = self.env["account.payment.method.line"].create(
                    {
                        "name": provider.name,
                        "payment_method_id": manual.id,
                        "journal_id": journal.id,
                    }
                )
            line.payment_account_id = journal.default_account_id
            provider.payment_method_line_id = line

    def _get_secret_field_names(self):
        """Return the names of the write-only credential fields.

        Each ``<name>`` is a form input computed by ``_compute_secret_inputs``
        that always reads empty, ``<name>_encrypted`` (restricted to system
        users) keeps the Fernet token, and ``<name>_set`` shows whether one is
        stored. Rails extend the list with their own credentials.
        """
        return ["webhook_secret"]

    @api.model
    def _rotate_encryption_key(self, old_key, new_key):
        """Re-encrypt every stored credential from ``old_key`` to ``new_key``.

        :return: the number of credentials re-encrypted
        :raise UserError: if a credential does not open with ``old_key``; then
            nothing is written
        """
        providers = self.sudo().with_context(active_test=False).search([])
        updates = []
        for provider in providers:
            for name in provider._get_secret_field_names():
                token = provider[f"{name}_encrypted"]
                if not token:
                    continue
                try:
                    updates.append((provider, f"{name}_encrypted", rotate_secret(token, old_key, new_key)))
                except InvalidToken as error:
                    raise UserError(
                        _(
                            "The %(field)s of %(provider)s does not open with the old key; "
                            "nothing was re-encrypted.",
                            field=name,
                            provider=provider.name,
                        )
                    ) from error
        for provider, field_name, token in updates:
            provider[field_name] = token
        return len(updates)

    def _get_secret(self, name):
        """Return the decrypted credential ``name`` of one provider, or None.

        For server-side code only: the value must never reach a log line, an
        event payload, an error message or a web response.
        """
        self.ensure_one()
        token = self.sudo()[f"{name}_encrypted"]  # Restricted to system users.
        return decrypt_secret(token) if token else None

    def _check_can_pay(self, amount, currency):
        """Raise a UserError if this provider cannot send ``amount`` now.

        :param float amount: the amount of one payout, in ``currency``
        :param currency: the payout's res.currency record
        """
        self.ensure_one()
        if self.state == "disabled":
            raise UserError(
                _("The wallet %(provider)s is disabled.", provider=self.name)
            )
        if self.health_state == "suspended":
            raise UserError(
                _(
                    "The wallet %(provider)s is suspended: its payments are held "
                    "until a manager resumes it.",
                    provider=self.name,
                )
            )
        if currency != self.currency_id:
            raise UserError(
                _(
                    "The wallet %(provider)s pays in %(wallet_currency)s, not in "
                    "%(currency)s.",
                    provider=self.name,
                    wallet_currency=self.currency_id.name,
                    currency=currency.name,
                )
            )
        limits = [self.max_amount_per_payment, self._get_rail_limits().get("per_payout")]
        limit = min((value for value in limits if value), default=0.0)
        if limit and currency.compare_amounts(amount, limit) > 0:
            raise UserError(
                _(
                    "%(amount)s is more than the limit of %(limit)s per payment of "
                    "the wallet %(provider)s.",
                    amount=currency.format(amount),
                    limit=currency.format(limit),
                    provider=self.name,
                )
            )

    def _check_payee(self, account):
        """Raise a UserError, with the reason, if the rail cannot pay ``account``."""
        self.ensure_one()
        if account.payee_kind not in self._get_supported_payee_kinds():
            kinds = dict(account._fields["payee_kind"]._description_selection(self.env))
            raise UserError(
                _(
                    "The wallet %(provider)s cannot pay a payee of kind %(kind)s "
                    "(%(account)s). Use another wallet for this vendor.",
                    provider=self.name,
                    kind=kinds[account.payee_kind],
                    account=account.display_name,
                )
            )
        self._check_payee_identifier(account.identifier)

    def _get_amount_sent_since(self, since):
        """Return the total of payouts sent since ``since`` that may have paid."""
        return self.env["wallet.payment"].sudo()._read_group(
            [
                ("provider_id", "=", self.id),
                ("sent_at", ">=", since),
                ("state", "in", ("sending", "pending", "in_doubt", "paid")),
            ],
            aggregates=["amount:sum"],
        )[0][0]

    def _check_period_limits(self, amount):
        """Raise a UserError if sending ``amount`` now passes the daily limit of
        the wallet or the monthly limit of the rail."""
        self.ensure_one()
        today = fields.Date.today()
        monthly = self._get_rail_limits().get("per_month")
        if monthly:
            sent = self._get_amount_sent_since(fields.Datetime.to_datetime(today.replace(day=1)))
            if self.currency_id.compare_amounts(sent + amount, monthly) > 0:
                raise UserError(
                    _(
                        "Sending %(amount)s would pass the monthly limit of %(limit)s "
                        "of the rail of %(provider)s (%(sent)s already sent this month).",
                        amount=self.currency_id.format(amount),
                        limit=self.currency_id.format(monthly),
                        provider=self.name,
                        sent=self.currency_id.format(sent),
                    )
                )
        if not self.max_amount_per_day:
            return
        sent = self._get_amount_sent_since(fields.Datetime.to_datetime(today))
        if self.currency_id.compare_amounts(sent + amount, self.max_amount_per_day) > 0:
            raise UserError(
                _(
                    "Sending %(amount)s would pass the daily limit of %(limit)s of the "
                    "wallet %(provider)s (%(sent)s already sent today).",
                    amount=self.currency_id.format(amount),
                    limit=self.currency_id.format(self.max_amount_per_day),
                    provider=self.name,
                    sent=self.currency_id.format(sent),
                )
            )

    def _send_api_request(self, method, url, *, timeout=REQUEST_TIMEOUT, **kwargs):
        """Send one request to the provider's API and return its response.

        Shared by the rails so that every call has a timeout and every unknown
        outcome is reported the same way. Responses below 500 are returned for
        the rail to read. Only the method, host, path and status are logged,
        never headers or bodies, because they may carry credentials.

        :param str method: the HTTP method
        :param str url: the full URL
        :param int timeout: seconds to wait for the answer
        :return: the response, with a status below 500
        :rtype: requests.Response
        :raise WalletProviderUnreachable: on a timeout, a connection error or a
            5xx answer, after which nobody knows whether the request was applied
        """
        self.ensure_one()
        parts = urlsplit(url)
        target = f"{parts.netloc}{parts.path}"
        try:
            response = requests.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout as error:
            _logger.warning("%s %s %s: timed out", self.provider_type, method, target)
            raise WalletProviderUnreachable(
                f"{self.provider_type}: {parts.netloc} timed out after {timeout} s"
            ) from error
        except requests.RequestException as error:
            _logger.warning(
                "%s %s %s: %s", self.provider_type, method, target, type(error).__name__
            )
            raise WalletProviderUnreachable(
                f"{self.provider_type}: cannot reach {parts.netloc} ({type(error).__name__})"
            ) from error
        _logger.info("%s %s %s: HTTP %s", self.provider_type, method, target, response.status_code)
        if response.status_code >= 500:
            raise WalletProviderUnreachable(
                f"{self.provider_type}: {parts.netloc} returned HTTP {response.status_code}"
            )
        return response

    def _get_api_base_url(self, test_url, live_url):
        """Return ``api_base_url`` if set, else the sandbox or live address."""
        self.ensure_one()
        if self.api_base_url:
            return self.api_base_url.rstrip("/")
        return test_url if self.state != "enabled" else live_url

    # === RAIL HOOKS === #

    def _get_supported_payee_kinds(self):
        """Return the kinds of payee (see ``PAYEE_KINDS``) the rail can pay."""
        return {kind for kind, _label in PAYEE_KINDS}

    def _get_rail_limits(self):
        """Return the rail's own limits in the provider's currency.

        :return: ``{"per_payout": float, "per_month": float}``; zero or a
            missing key means the rail sets no such limit
        :rtype: dict
        """
        return {}

    def _check_payee_identifier(self, identifier):
        """Raise a UserError if ``identifier`` is not a valid payee on the rail."""
        return True

    def _send_payout(self, payment):
        """Ask the provider to pay ``payment``, carrying its idempotency key.

        Rails must send ``payment.idempotency_key`` in the provider's own
        idempotency field, so that a repeated request pays at most once.

        :param payment: the wallet.payment record, in state ``sending``
        :return: ``{"status": "pending"|"paid"|"failed", "provider_reference":
            str, "message": str}``
        :rtype: dict
        :raise WalletProviderError: if the provider refused the payout
        :raise WalletProviderUnreachable: if the outcome is unknown
        """
        raise UserError(
            _("The rail %(rail)s cannot send payouts.", rail=self.provider_type)
        )

    def _get_payout_status(self, payment):
        """Ask the provider what became of the payout of ``payment``.

        :return: the same dictionary as :meth:`_send_payout`; ``status`` may
            also be ``"returned"``, or ``"unknown"`` when the provider has no
            payout under that key (it never received the request)
        :raise WalletProviderUnreachable: if the provider could not be asked
        """
        raise UserError(
            _("The rail %(rail)s cannot query payouts.", rail=self.provider_type)
        )

    def _get_balance(self):
        """Return the wallet's available balance, in the provider's currency."""
        raise UserError(
            _("The rail %(rail)s cannot read balances.", rail=self.provider_type)
        )

    def _verify_notification(self, raw_body, headers):
        """Return whether a notification's signature is valid.

        The default is the scheme of the demo wallet: HMAC-SHA256 of the raw
        body under the webhook secret, as ``sha256=<lowercase hex>`` in the
        ``X-Wallet-Signature`` header.

        :param bytes raw_body: the request body exactly as received
        :param headers: the request headers (case-insensitive mapping)
        :rtype: bool
        """
        self.ensure_one()
        secret = self._get_secret("webhook_secret")
        header = headers.get(SIGNATURE_HEADER) or ""
        if not secret or not header.startswith("sha256="):
            return False
        expected = sign_hmac_sha256(secret, raw_body)
        return signatures_match(header[len("sha256="):].strip().lower(), expected)

    def _parse_notification(self, raw_body, headers):
        """Parse a verified notification into the fields the event inbox needs.

        :return: ``{"event_id", "event_type", "reference", "provider_reference",
            "status", "amount", "currency", "occurred_at"}``; ``status`` is one of
            pending, paid, failed, returned, or None for a notification that
            reports on no payout (stored, then ignored)
        :rtype: dict
        :raise ValueError: if the body is not a notification of this rail
        """
        data = json.loads(raw_body)
        if not isinstance(data, dict):
            raise ValueError("the notification body is not a JSON object")
        missing = [
            key for key in ("event_id", "reference", "status") if not data.get(key)
        ]
        if missing:
            raise ValueError(f"missing fields: {', '.join(missing)}")
        status = data["status"]
        if status not in ("pending", "paid", "failed", "returned"):
            raise ValueError(f"unknown status {status!r}")
        amount = data.get("amount")
        if amount is None or isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
            raise ValueError("amount is missing or not a number")
        for key in ("event_id", "reference"):
            if not isinstance(data[key], (str, int)) or isinstance(data[key], bool):
                raise ValueError(f"{key} is not text")
        return {
            "event_id": str(data["event_id"]),
            "event_type": str(data.get("type") or f"payout.{status}"),
            "reference": str(data["reference"]),
            "provider_reference": str(data.get("payout_id") or ""),
            "status": status,
            "amount": float(amount),
            "currency": str(data.get("currency") or ""),
            "occurred_at": data.get("created_at"),
            "message": str(data.get("message") or ""),
        }

    def _get_notification_content_types(self):
        """Return the media types the rail's notifications are sent with."""
        return {"application/json"}

    def _get_payload_secret_keys(self):
        """Return the payload keys whose values are removed before storage."""
        return {"secret", "token", "access_token", "api_key", "password", "signature"}

