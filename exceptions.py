"""Errors a rail raises from its hooks, so the dispatcher can tell a refusal
from an unknown outcome."""


class WalletProviderError(Exception):
    """The provider answered and refused the request: nothing was paid.

    The message is shown to users, so rails pass a translated, readable text.
    """


class WalletProviderUnreachable(Exception):
    """The outcome of a request is unknown: timeout, connection error, 5xx.

    After a payout request this leaves the payment in doubt. Only a status
    query, never a second payout, may resolve it.
    """
