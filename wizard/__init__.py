from . import wallet_payment_reject
