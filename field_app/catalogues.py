"""Keep the translation catalogues in step with the code (a developer tool, not used by the app).

``python -m field_app.catalogues`` finds every message in ``field_app`` (``_("…")``, ``N_("…")``,
``ngettext("…", "…", n)`` in Python, ``tr._("…")`` and ``tr.ngettext("…", "…", n)`` in ``.kv``
files, and the catalogue's names),
adds the new ones to each ``.po`` file, marks the ones no longer used as obsolete, and compiles
the ``.mo`` files the app loads. The ``.mo`` files are committed, so an Android build needs no
Babel. Tests check that every message is translated and every ``.mo`` matches its ``.po``.
"""

from __future__ import annotations

import ast
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from field_app import APP_VERSION
from field_app.i18n import DOMAIN, LANGUAGES, LOCALE_DIR
from shared.errors import EXPLANATIONS
from shared.units import messages as unit_messages

PACKAGE_DIR = Path(__file__).resolve().parent
PLURALS = {
    "en": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "pt": "nplurals=2; plural=(n != 1);",
    "es": "nplurals=2; plural=(n != 1);",
}
_KV_STRING = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""  # a quoted literal, either quote
_KV_MESSAGE = re.compile(rf"tr\._\(\s*{_KV_STRING}\s*\)")
_KV_PLURAL = re.compile(rf"tr\.ngettext\(\s*{_KV_STRING}\s*,\s*{_KV_STRING}\s*,")

Message = str | tuple[str, str]


def _python_messages(path: Path) -> Iterator[Message]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else (func.attr if isinstance(func, ast.Attribute) else "")
        )
        literals = [
            a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        if name in ("_", "N_") and literals and isinstance(node.args[0], ast.Constant):
            yield literals[0]
        elif name == "ngettext" and len(literals) >= 2:
            yield (literals[0], literals[1])


def _kv_messages(path: Path) -> Iterator[Message]:
    text = path.read_text(encoding="utf-8")
    for found in _KV_MESSAGE.finditer(text):
        yield ast.literal_eval(found.group(1))
    for found in _KV_PLURAL.finditer(text):
        yield (ast.literal_eval(found.group(1)), ast.literal_eval(found.group(2)))


def extract() -> dict[Message, list[str]]:
    """Every message id with where it is used."""
    from field_app.controllers import labels

    found: dict[Message, list[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")) + sorted(PACKAGE_DIR.rglob("*.kv")):
        if path.name == "catalogues.py":
            continue
        messages = _kv_messages(path) if path.suffix == ".kv" else _python_messages(path)
        where = str(path.relative_to(PACKAGE_DIR.parent))
        for message in messages:
            found.setdefault(message, []).append(where)
    for table in (labels.THEMATIC_AREA_NAMES, labels.SOLUTION_NAMES, labels.TOPIC_NAMES):
        for name in table.values():
            found.setdefault(name, []).append("shared/catalogue.py")
    for name in labels.COUNTRY_NAMES.values():
        found.setdefault(name, []).append("shared/geography.py")
    # The server's reasons, shown by their error code (field_app.controllers.messages).
    for explanation in EXPLANATIONS.values():
        found.setdefault(explanation, []).append("shared/errors.py")
    # The units' words, singular and plural (field_app.controllers.observations.unit_of).
    for pair in unit_messages():
        found.setdefault(pair, []).append("shared/units.py")
    return found


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN, project="Pilot Monitor field app")
    with path.open("rb") as stream:
        return read_po(stream, locale=language, domain=DOMAIN)


def update(language: str, messages: dict[Message, list[str]]) -> Catalog:
    old = load(language)
    # Dates from the old header, so that a run that changes no message changes no file.
    catalog = Catalog(
        locale=language,
        domain=DOMAIN,
        project="Pilot Monitor field app",
        version=APP_VERSION,
        fuzzy=False,
        creation_date=old.creation_date,
        revision_date=old.revision_date,
        copyright_holder="Pilot Monitor",
        msgid_bugs_address="",
    )
    # Babel would derive plural rules from CLDR (French has three forms there); gettext's
    # classic two-form rules are what our messages are written for.
    catalog.mime_headers = [("Plural-Forms", PLURALS[language])]
    for message_id, places in messages.items():
        key = message_id[0] if isinstance(message_id, tuple) else message_id
        previous = old.get(key)
        string: Any = (
            previous.string
            if previous is not None
            else (("", "") if isinstance(message_id, tuple) else "")
        )
        if language == "en" and not any(string if isinstance(string, tuple) else (string,)):
            string = message_id  # the source language translates to itself
        locations: list[tuple[str, Any]] = [(p, None) for p in sorted(set(places))]
        catalog.add(message_id, string, locations=locations)
    return catalog


def write(language: str, catalog: Catalog) -> None:
    path = po_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        write_po(
            stream, catalog, width=100, omit_header=False, sort_output=True, include_previous=False
        )
    compile_catalog(language)


def compiled(language: str) -> bytes:
    """The ``.mo`` bytes the ``.po`` file compiles to."""
    buffer = io.BytesIO()
    write_mo(buffer, load(language), use_fuzzy=False)
    return buffer.getvalue()


def compile_catalog(language: str) -> Path:
    target = po_path(language).with_suffix(".mo")
    target.write_bytes(compiled(language))
    return target


def untranslated(language: str) -> list[str]:
    catalog = load(language)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def main() -> int:
    messages = extract()
    for language in LANGUAGES:
        write(language, update(language, messages))
        missing = untranslated(language)
        print(f"{language}: {len(messages)} messages, {len(missing)} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
