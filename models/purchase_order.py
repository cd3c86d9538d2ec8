from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_compare

from ..const import OPEN_STATES


class PurchaseOrder(models.Model):
    _inherit = "purchase.order"

    wallet_payment_ids = fields.One2many(
        "wallet.payment", "purchase_id", string="Wallet Payments"
    )
    wallet_payment_count = fields.Integer(compute="_compute_wallet_payment_count")
    wallet_amount_paid = fields.Monetary(
        string="Paid by Wallet", compute="_compute_wallet_payment_state", store=True
    )
    wallet_payment_state = fields.Selection(
        selection=[
            ("not_paid", "Not Paid"),
            ("partial", "Partially Paid"),
            ("paid", "Paid"),
        ],
        string="Wallet Payment Status",
        compute="_compute_wallet_payment_state",
        store=True,
    )

    def _compute_wallet_payment_count(self):
        # Buyers without wallet rights still see how many payments there are.
        counts = dict(
            self.env["wallet.payment"].sudo()._read_group(
                [("purchase_id", "in", self.ids)], ["purchase_id"], ["__count"]
            )
        )
        for order in self:
            order.wallet_payment_count = counts.get(order.sudo(), 0)

    @api.depends("wallet_payment_ids.state", "wallet_payment_ids.amount", "amount_total")
    def _compute_wallet_payment_state(self):
        for order in self:
            payments = order.sudo().wallet_payment_ids
            paid = sum(payments.filtered(lambda p: p.state == "paid").mapped("amount"))
            order.wallet_amount_paid = paid
            if order.currency_id.is_zero(paid):
                order.wallet_payment_state = "not_paid"
            elif order.currency_id.compare_amounts(paid, order.amount_total) >= 0:
                order.wallet_payment_state = "paid"
            else:
                order.wallet_payment_state = "partial"

    # === ACTIONS === #

    def action_wallet_pay(self):
        """Create a wallet payment for what the order still owes and submit it."""
        self.ensure_one()
        if self.state not in ("purchase", "done"):
            raise UserError(_("Confirm the purchase order before paying it by wallet."))
        payment = self._wallet_create_payment("manual")
        if not payment:
            raise UserError(
                _("%(order)s has nothing left to pay by wallet.", order=self.name)
            )
        return {
            "type": "ir.actions.act_window",
            "res_model": "wallet.payment",
            "res_id": payment.id,
            "view_mode": "form",
        }

    def action_view_wallet_payments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "purchase_wallet_payment.wallet_payment_action"
        )
        action["domain"] = [("purchase_id", "=", self.id)]
        action["context"] = {"default_purchase_id": self.id}
        if len(self.wallet_payment_ids) == 1:
            action["views"] = [(False, "form")]
            action["res_id"] = self.wallet_payment_ids.id
        return action

    # === BUSINESS METHODS === #

    def _wallet_create_payment(self, trigger, picking=None):
        """Create and submit one wallet payment for the unpaid part of the order.

        With ``trigger="receipt"`` the payable quantity of each line is what was
        received, otherwise what was ordered (or received, if more). Quantities
        already claimed by open wallet payments are left out, so a quantity is
        never paid twice.

        :return: the new wallet.payment, or an empty recordset if nothing is due
        :raise UserError: if the order cannot be paid by wallet
        """
        self.ensure_one()
        provider = self.company_id.wallet_provider_id
        if not provider:
            raise UserError(
                _("Choose a default wallet for %(company)s in the Purchase settings.", company=self.company_id.name)
            )
        account = self.partner_id._get_wallet_payee_account(provider)
        if not account:
            raise UserError(
                _(
                    "%(vendor)s has no account on the rail of the wallet %(provider)s. "
                    "Add one on the vendor's Wallet Accounts tab.",
                    vendor=self.partner_id.display_name,
                    provider=provider.name,
                )
            )
        line_values = self._wallet_prepare_line_values(trigger)
        if not line_values:
            return self.env["wallet.payment"]
        # trigger and picking_id are system fields: set here, never by users.
        payment = self.env["wallet.payment"]._internal().create(
            {
                "company_id": self.company_id.id,
                "purchase_id": self.id,
                "partner_id": self.partner_id.id,
                "provider_id": provider.id,
                "payee_account_id": account.id,
                "currency_id": self.currency_id.id,
                "amount": sum(values["amount"] for values in line_values),
                "trigger": trigger,
                "picking_id": picking.id if picking else False,
                "line_ids": [fields.Command.create(values) for values in line_values],
            }
        )
        payment = payment.with_context(wallet_internal_write=None)
        payment.action_submit()
        return payment

    def _wallet_prepare_line_values(self, trigger):
        """Return the values of the payment lines still due, one per order line."""
        claimed = self._wallet_claimed_quantities()
        values = []
        for line in self.order_line.filtered(lambda l: not l.display_type and l.product_qty > 0):
            basis = line.qty_received if trigger == "receipt" else max(line.product_qty, line.qty_received)
            quantity = basis - claimed.get(line.id, 0.0)
            if float_compare(quantity, 0.0, precision_rounding=line.product_uom.rounding) <= 0:
                continue
            amount = self.currency_id.round(line.price_total * quantity / line.product_qty)
            if self.currency_id.is_zero(amount):
                continue
            values.append({"purchase_line_id": line.id, "quantity": quantity, "amount": amount})
        return values

    def _wallet_claimed_quantities(self):
        """Return ``{purchase line id: quantity}`` held by open wallet payments."""
        self.ensure_one()
        lines = self.env["wallet.payment.line"].sudo().search(
            [("purchase_line_id.order_id", "=", self.id), ("payment_id.state", "in", OPEN_STATES)]
        )
        claimed = {}
        for line in lines:
            claimed[line.purchase_line_id.id] = claimed.get(line.purchase_line_id.id, 0.0) + line.quantity
        return claimed

    def _wallet_check_payable(self):
        """Raise a ValidationError if open wallet payments exceed what is payable:
        per line, the larger of the ordered and received quantities."""
        for order in self:
            claimed = order._wallet_claimed_quantities()
            for line in order.order_line.filtered(lambda l: l.id in claimed):
                payable = max(line.product_qty, line.qty_received)
                if float_compare(claimed[line.id], payable, precision_rounding=line.product_uom.rounding) > 0:
                    raise ValidationError(
                        _(
                            "Wallet payments of %(order)s would pay %(claimed)s %(uom)s of "
                            "%(product)s, but only %(payable)s are payable.",
                            order=order.name,
                            claimed=claimed[line.id],
                            uom=line.product_uom.name,
                            product=line.product_id.display_name,
                            payable=payable,
                        )
                    )
            open_payments = order.sudo().wallet_payment_ids.filtered(lambda p: p.state in OPEN_STATES)
            total = sum(open_payments.mapped("amount"))
            if order.currency_id.compare_amounts(total, order._wallet_payable_amount()) > 0:
                raise ValidationError(
                    _(
                        "Wallet payments of %(order)s would total %(total)s, more than "
                        "the %(payable)s it owes.",
                        order=order.name,
                        total=order.currency_id.format(total),
                        payable=order.currency_id.format(order._wallet_payable_amount()),
                    )
                )

    def _wallet_payable_amount(self):
        self.ensure_one()
        total = 0.0
        for line in self.order_line.filtered(lambda l: not l.display_type and l.product_qty > 0):
            quantity = max(line.product_qty, line.qty_received)
            total += self.currency_id.round(line.price_total * quantity / line.product_qty)
        return total
