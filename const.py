"""Payment states, the transitions between them, and other fixed values."""

PAYMENT_STATES = [
    ("draft", "Draft"),
    ("to_approve", "To Approve"),
    ("approved", "Approved"),
    ("sending", "Sending"),
    ("pending", "Pending"),
    ("in_doubt", "In Doubt"),
    ("paid", "Paid"),
    ("failed", "Failed"),
    ("returned", "Returned"),
    ("cancelled", "Cancelled"),
]

# Every allowed move of wallet.payment.state, as {from: {to, ...}}. A write of
# any other pair is rejected by wallet.payment.write().
TRANSITIONS = {
    "draft": {"approved", "to_approve", "cancelled"},
    "to_approve": {"approved", "draft", "cancelled"},
    "approved": {"sending", "draft", "cancelled"},
    "sending": {"pending", "paid", "failed", "in_doubt"},
    "pending": {"paid", "failed", "in_doubt"},
    "in_doubt": {"pending", "paid", "failed"},
    "failed": {"approved", "cancelled"},
    "paid": {"returned"},
    "returned": set(),
    "cancelled": set(),
}

FINAL_STATES = ("paid", "returned", "cancelled")

# States in which a payment still claims part of what a purchase order may pay.
OPEN_STATES = ("draft", "to_approve", "approved", "sending", "pending", "in_doubt", "paid")

# States in which money may be on its way: the payee, amount and currency are frozen.
IN_FLIGHT_STATES = ("sending", "pending", "in_doubt")

# Fields whose change sends an approved or to-approve payment back to draft.
APPROVAL_FIELDS = ("amount", "currency_id", "partner_id", "payee_account_id", "provider_id")

# What a rail's status means for the payment, as returned by the provider hooks.
PROVIDER_STATUSES = ("pending", "paid", "failed", "returned")

# Causes recorded with each state change (wallet.payment.log.cause).
CAUSES = [
    ("user", "User"),
    ("rule", "Approval Rule"),
    ("dispatch", "Dispatch"),
    ("event", "Provider Event"),
    ("status_query", "Status Query"),
]

SIGNATURE_HEADER = "X-Wallet-Signature"

# Kinds of payee a rail may or may not pay (wallet.payee.account.payee_kind).
PAYEE_KINDS = [
    ("company", "Company"),
    ("sole_trader", "Sole Trader"),
    ("self_employed", "Self-Employed"),
    ("individual", "Individual"),
]
