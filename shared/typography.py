"""How numbers and dates are written for people, the same on the tablet and the dashboard.

A negative number is written with the minus sign (U+2212, "−43 %"), never the hyphen-minus
that Python and CLDR's patterns put there ("-43 %"): the hyphen is shorter than the plus sign,
sits lower, and a browser may break a line after it. Every formatter that writes a number for
people ends with :func:`minus_sign`; every reader of a typed number starts with
:func:`typed_minus`, so that a figure copied from a page reads back. Data for machines (the
API's JSON, CSV and XLSX cells) keeps its numbers as numbers.

A date is one word for the line breaker: "4\u00a0sept.\u00a02026", its day, month and year
bound by no-break spaces (:func:`unbroken`), so that no line ends inside it.

Standard library only: the tablet uses this too.
"""

from __future__ import annotations

MINUS = "\u2212"
HYPHEN_MINUS = "-"
NO_BREAK_SPACE = "\u00a0"


# The spaces a number may be grouped with, as written (CLDR's narrow no-break space on the
# dashboard, the no-break space on the tablet) or typed.
GROUP_SPACES = (" ", "\u00a0", "\u202f", "\u2009")


def is_zero(text: str) -> bool:
    """Whether a formatted number shows no digit but zeros ("0", "-0,0", "0 %")."""
    return not any(digit in text for digit in "123456789")


def minus_sign(text: str) -> str:
    """A formatted number with its negative sign as the minus sign ("-43" → "−43"), and none
    when it rounds to zero ("-0,0" → "0,0": -0.04 written with one decimal)."""
    if is_zero(text):
        return text.replace(HYPHEN_MINUS, "")
    return text.replace(HYPHEN_MINUS, MINUS)


def unbroken(text: str) -> str:
    """Text that must stay on one line, such as a date, with its spaces as no-break spaces
    ("4 sept. 2026" → "4\u00a0sept.\u00a02026"); other spaces (CLDR's narrow no-break space
    before "PM") are kept."""
    return text.replace(" ", NO_BREAK_SPACE)


def coordinate(value: float, decimals: int) -> str:
    """A latitude or longitude for people, in decimal degrees as maps write them (a point, no
    grouping, in every language): "−29.3160"."""
    return minus_sign(f"{value:.{decimals}f}")


def typed_minus(text: str) -> str:
    """Typed text with its minus signs as the hyphen-minus parsers read ("−5" → "-5")."""
    return text.replace(MINUS, HYPHEN_MINUS)


def ungrouped(text: str) -> str:
    """A number as typed or copied from a page, ready for a parser: the minus sign as the
    hyphen-minus and the grouping spaces gone ("−1 234,5" → "-1234,5"); the decimal mark is
    the reader's business (it depends on the language)."""
    clean = typed_minus(text)
    for space in GROUP_SPACES:
        clean = clean.replace(space, "")
    return clean
