from . import test_state_machine
from . import test_approval
from . import test_receipt_trigger
from . import test_dispatch
from . import test_webhook
from . import test_accounting
from . import test_multi_company
from . import test_secrets
