from odoo import api, fields, models


class WalletPaymentAttempt(models.Model):
    """One payout request sent for a wallet payment, under its own key."""

    _name = "wallet.payment.attempt"
    _description = "Wallet Payment Attempt"
    _order = "id"

    payment_id = fields.Many2one(
        "wallet.payment", required=True, ondelete="cascade", index=True
    )
    number = fields.Integer(compute="_compute_number", store=True)
    idempotency_key = fields.Char(required=True, readonly=True)
    provider_number = fields.Char(
        readonly=True,
        copy=False,
        help="Number sent in place of the idempotency key to a provider whose "
        "idempotency field must be an increasing integer (WebMoney tranid, QIWI "
        "payment id). Drawn once per attempt, before the first request.",
    )
    started_at = fields.Datetime(default=fields.Datetime.now, required=True)
    provider_reference = fields.Char(
        readonly=True, copy=False, index=True, help="The provider's id of this attempt's payout."
    )

    _sql_constraints = [
        ("key_uniq", "UNIQUE(idempotency_key)", "Each attempt has its own key."),
    ]

    @api.depends("payment_id")
    def _compute_number(self):
        for attempt in self:
            attempt.number = len(attempt.payment_id.attempt_ids.filtered("id"))

    def _reserve_provider_number(self, sequence):
        """Return the attempt's provider number, drawing it the first time.

        The number comes from the PostgreSQL sequence ``sequence``, so numbers
        increase across attempts and workers. It is committed in a cursor of
        its own before the caller sends it, so that a worker that dies during
        the request leaves the number on record for the status query. Every
        later call for the same attempt returns the same number.

        :param str sequence: the name of an existing PostgreSQL sequence
        :rtype: str
        """
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            cr.execute(
                "SELECT provider_number FROM wallet_payment_attempt WHERE id = %s FOR UPDATE",
                [self.id],
            )
            number = cr.fetchone()[0]
            if not number:
                cr.execute("SELECT nextval(%s)", [sequence])
                number = str(cr.fetchone()[0])
                cr.execute(
                    "UPDATE wallet_payment_attempt SET provider_number = %s WHERE id = %s",
                    [number, self.id],
                )
        self.invalidate_recordset(["provider_number"])
        return number
