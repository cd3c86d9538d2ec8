#!/usr/bin/env python3
"""Check i18n/ru.po against the template i18n/purchase_wallet_payment.pot.

Reports every msgid of the template that ru.po lacks, leaves untranslated or
marks fuzzy, and every translation whose placeholders (``%(name)s``, ``%s``)
or XML tags differ from its msgid. Exits with 1 if it reports anything.

Usage: $VENV/bin/python tools/check_translations.py [PO_FILE [POT_FILE]]
polib comes with Odoo 18's requirements, which tools/setup.sh installs in $VENV.
"""
import re
import sys
from collections import Counter
from pathlib import Path

import polib

I18N = Path(__file__).resolve().parent.parent / "i18n"
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifrx]")
TAG = re.compile(r"</?[A-Za-z][^>]*>")


def find_problems(po_path, pot_path):
    """Return one line per problem found in ``po_path``, compared with ``pot_path``."""
    translations = {
        (entry.msgctxt, entry.msgid): entry
        for entry in polib.pofile(str(po_path))
        if not entry.obsolete
    }
    problems = []
    for template in polib.pofile(str(pot_path)):
        entry = translations.get((template.msgctxt, template.msgid))
        if entry is None:
            problems.append(f"missing: {template.msgid!r}")
        elif not entry.msgstr or entry.fuzzy:
            problems.append(f"untranslated or fuzzy: {template.msgid!r}")
        elif Counter(PLACEHOLDER.findall(entry.msgid)) != Counter(PLACEHOLDER.findall(entry.msgstr)):
            problems.append(f"placeholders differ: {entry.msgid!r} -> {entry.msgstr!r}")
        elif sorted(TAG.findall(entry.msgid)) != sorted(TAG.findall(entry.msgstr)):
            problems.append(f"XML tags differ: {entry.msgid!r} -> {entry.msgstr!r}")
    return problems


def main(argv):
    po_path = Path(argv[0]) if argv else I18N / "ru.po"
    pot_path = Path(argv[1]) if len(argv) > 1 else I18N / "purchase_wallet_payment.pot"
    problems = find_problems(po_path, pot_path)
    for problem in problems:
        print(f"{po_path.name}: {problem}")
    print(f"{po_path.name}: {len(problems)} problem(s) against {pot_path.name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
