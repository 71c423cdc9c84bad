"""The units a form question or a result indicator is measured in (docs/results.md#units), as
the apps show them in the reader's language.

A unit is written by the form's author (``kg``, ``m2``, ``farmers``…). Two kinds are known:

- **symbols** stay symbols in every language; a few are written better than typed
  (``m2`` → ``m²``);
- **words** (``farmers``, ``households``, ``days``…) are translated by each app's catalogue,
  as a singular and a plural (``ngettext("farmer", "farmers", n)``), so that a count reads
  "1 agriculteur", "6 agriculteurs". Without a count (a column heading, a chart's axis) the
  plural is shown.

Anything else is shown as the author wrote it, unless the form gives its own translations
(``unit_label``: ``{language: text}``, from an XLSForm's ``unit::French (fr)`` columns), which
come first. Standard library only: the tablet uses this too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from shared.typography import NO_BREAK_SPACE

N_ = str  # the words below are translated where they are shown


# A symbol as typed -> as shown. Case matters (``t`` is tonnes, ``USD`` a currency).
SYMBOLS: dict[str, str] = {
    "%": "%",
    "percent": "%",
    "g": "g",
    "kg": "kg",
    "t": "t",
    "ha": "ha",
    "m": "m",
    "km": "km",
    "m2": "m²",
    "m²": "m²",
    "m3": "m³",
    "m³": "m³",
    "km2": "km²",
    "km²": "km²",
    "l": "l",
    "L": "L",
    "ml": "ml",
    "mm": "mm",
    "cm": "cm",
    "kg/ha": "kg/ha",
    "t/ha": "t/ha",
    "USD": "USD",
    "USD/kg": "USD/kg",
    "EUR": "EUR",
    "°C": "°C",
}

# A word as typed (its English plural, lower case) -> (singular, plural) in English, the
# message ids of the apps' catalogues.
WORDS: dict[str, tuple[str, str]] = {
    "farmers": (N_("farmer"), N_("farmers")),
    "households": (N_("household"), N_("households")),
    "people": (N_("person"), N_("people")),
    "participants": (N_("participant"), N_("participants")),
    "women": (N_("woman"), N_("women")),
    "men": (N_("man"), N_("men")),
    "plots": (N_("plot"), N_("plots")),
    "fields": (N_("field"), N_("fields")),
    "bags": (N_("bag"), N_("bags")),
    "silos": (N_("silo"), N_("silos")),
    "trees": (N_("tree"), N_("trees")),
    "animals": (N_("animal"), N_("animals")),
    "groups": (N_("group"), N_("groups")),
    "checks": (N_("check"), N_("checks")),
    "visits": (N_("visit"), N_("visits")),
    "sessions": (N_("session"), N_("sessions")),
    "hours": (N_("hour"), N_("hours")),
    "days": (N_("day"), N_("days")),
    "weeks": (N_("week"), N_("weeks")),
    "months": (N_("month"), N_("months")),
    "years": (N_("year"), N_("years")),
    "seasons": (N_("season"), N_("seasons")),
    "litres": (N_("litre"), N_("litres")),
    "liters": (N_("litre"), N_("litres")),
}
# A singular typed by the author reads as its word too ("1 farmer" and "farmer" alike).
_SINGULARS = {singular: key for key, (singular, _plural) in WORDS.items()}

# The count that asks a catalogue for the plural when there is no count, or a fraction
# (gettext's plural rules take whole numbers; "2.5 days", "2,5 jours").
PLURAL = 2

Plural = Callable[[str, str, int], str]  # ngettext: (singular, plural, n) -> text


def word_of(unit: str) -> tuple[str, str] | None:
    """The catalogue's (singular, plural) of a unit, or None when it is not a known word."""
    key = unit.strip()
    if key in SYMBOLS:
        return None
    folded = key.lower()
    return WORDS.get(folded) or (WORDS.get(_SINGULARS[folded]) if folded in _SINGULARS else None)


def plural_count(value: Any) -> int:
    """What ``ngettext`` is given for ``value``: the whole number itself, else the plural."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return PLURAL
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return PLURAL
    return min(abs(int(value)), 1_000_000_000)


def unit_text(
    unit: str | None,
    language: str,
    ngettext: Plural,
    *,
    labels: Mapping[str, str] | None = None,
    count: Any = None,
) -> str:
    """``unit`` in ``language``: the form's own translation, else a symbol as written or a known
    word in the singular or plural ``count`` asks for (the plural without one), else as
    typed. Empty for no unit."""
    text = (unit or "").strip()
    if not text:
        return ""
    if isinstance(labels, Mapping):
        own = labels.get(language)
        if isinstance(own, str) and own.strip():
            return own.strip()
    if text in SYMBOLS:
        return SYMBOLS[text]
    word = word_of(text)
    if word is None:
        return text
    n = PLURAL if count is None else plural_count(count)
    return ngettext(word[0], word[1], n)


def with_unit(number: str, unit: str) -> str:
    """A number and its unit's text: "6 agriculteurs", "500 kg", bound by a no-break space so
    that a line never breaks between them."""
    return f"{number}{NO_BREAK_SPACE}{unit}" if unit else number


def messages() -> list[tuple[str, str]]:
    """Every word's (singular, plural), for the catalogues."""
    return list(dict.fromkeys(WORDS.values()))
