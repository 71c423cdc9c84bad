"""Translations of the field app: gettext catalogues for English, French, Portuguese and Spanish.

Pure Python (the controllers use it too). The language can change while the app runs: callers
translate at the moment they show text, and screens listen for :func:`add_listener` to redraw.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from pathlib import Path

from shared.typography import NO_BREAK_SPACE, minus_sign
from shared.units import with_unit

DOMAIN = "pilotmon"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "en"
# Each language named in itself, so that someone who cannot read the current one finds theirs.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "pt": "Português",
    "es": "Español",
}


class UnknownLanguage(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown language '{code}'; choose one of {', '.join(LANGUAGES)}")
        self.code = code


_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT_LANGUAGE
_listeners: list[Callable[[str], None]] = []


def _load(code: str) -> gettext.NullTranslations:
    # English is the source language: its catalogue exists for completeness, and a missing
    # catalogue file is a packaging bug that tests catch, so no silent fallback here.
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[code])


def set_language(code: str) -> None:
    """Switch every later translation to ``code`` and tell the listeners."""
    global _translations, _language
    if code not in LANGUAGES:
        raise UnknownLanguage(code)
    _translations = _load(code)
    _language = code
    for listener in list(_listeners):
        listener(code)


def language() -> str:
    return _language


def _(message: str) -> str:
    """The message in the current language."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _translations.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet (it is translated when shown)."""
    return message


def add_listener(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)


def remove_listener(listener: Callable[[str], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


class Worded(Exception):
    """An error whose message the field expert reads, in the language of the moment it is
    read: ``str(error)`` chooses its words through the catalogue each time, so a screen that
    shows it with ``BaseScreen.say(name, lambda: str(error))`` follows a language switch (a
    message translated when raised kept the old language: "No QR scanner…" in English on a
    tablet switched to Portuguese).

    ``words`` translates, e.g. ``lambda: _("Cannot reach {server}").format(server=server)``."""

    def __init__(self, words: Callable[[], str]) -> None:
        self.words = words
        super().__init__(self.words())  # the words when raised, for logs and repr

    def __str__(self) -> str:
        return self.words()


# French and Portuguese group thousands with a space that never splits a number across lines.
# CLDR's is the narrow no-break space (U+202F), which the tablet's font (Kivy's Roboto) lacks: it
# would draw a box in "1 234". The no-break space (U+00A0) is in the font.
GROUP_SPACE = NO_BREAK_SPACE

# How each language writes numbers (Unicode CLDR): the thousands separator, the decimal mark,
# and the smallest number that is grouped. Spanish groups from five digits. A comma in "1,234"
# reads as a decimal mark in all three.
_NUMBER_STYLE: dict[str, tuple[str, str, int]] = {
    "en": (",", ".", 1000),
    "fr": (GROUP_SPACE, ",", 1000),
    "pt": (GROUP_SPACE, ",", 1000),
    "es": (".", ",", 10000),
}


def number(value: int) -> str:
    """A whole number as the current language writes it: 12,345 · 12 345 · 12.345; a negative
    one with the minus sign, −12 (shared.typography)."""
    group, _decimal, smallest = _NUMBER_STYLE.get(_language, _NUMBER_STYLE["en"])
    text = f"{value:,}"
    return minus_sign(text.replace(",", group) if abs(value) >= smallest else text.replace(",", ""))


def percent(value: float) -> str:
    """A share in whole per cent, its sign bound to the number as groups are (GROUP_SPACE), so
    that the "%" never starts a line: "47 %", "1 234 %" in French, "−5 %" (a number and its
    unit, ``with_unit``)."""
    return with_unit(number(round(value)), "%")


def decimal(value: float, digits: int = 1) -> str:
    """A number with ``digits`` decimals as the current language writes it: 4.2 · 4,2; a
    negative one with the minus sign, −29,31."""
    group, mark, smallest = _NUMBER_STYLE.get(_language, _NUMBER_STYLE["en"])
    text = f"{value:,.{digits}f}"
    grouped = abs(value) >= smallest
    return minus_sign(
        "".join(mark if c == "." else (group if grouped else "") if c == "," else c for c in text)
    )
