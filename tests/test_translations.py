import importlib.util
import io
import tempfile
from pathlib import Path

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import trans_export

MODULE_ROOT = Path(__file__).resolve().parent.parent


def load_checker():
    """Import tools/check_translations.py, which is not a package module."""
    path = MODULE_ROOT / "tools" / "check_translations.py"
    spec = importlib.util.spec_from_file_location("check_translations", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestTranslations(TransactionCase):
    def test_russian_covers_every_term(self):
        """Every term of the installed module, exported now, is in ru.po."""
        buffer = io.BytesIO()
        trans_export(False, ["purchase_wallet_payment"], buffer, "po", self.env.cr)
        with tempfile.NamedTemporaryFile(suffix=".pot") as template:
            template.write(buffer.getvalue())
            template.flush()
            problems = load_checker().find_problems(MODULE_ROOT / "i18n" / "ru.po", template.name)
        self.assertEqual(problems, [], "\n".join(problems[:40]))
