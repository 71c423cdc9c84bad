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

import re
from dataclasses import dataclass

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


# -- numbers as people type them ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberMarks:
    """How a language writes a number's marks when people type it: its decimal mark and the
    mark that may group its thousands (spaces group them in every language).

    ``point_decimal``: the point is this language's grouping mark on paper but a decimal mark
    as often, typed on a numeric keypad. A lone point that cannot group thousands ("1.5",
    "1234.5", "1 234.5") is then a decimal point; one that could ("1.234") is refused as
    unclear, never guessed either way."""

    decimal: str
    group: str
    point_decimal: bool = False


# English writes 1,234.5; Portuguese and Spanish 1.234,5 or 1 234,5. French writes 1 234,5:
# a point there is grouping (1.234.567) or a keypad's decimal point (1.5), so it reads only
# where it can be just one of them.
TYPED_MARKS: dict[str, NumberMarks] = {
    "en": NumberMarks(decimal=".", group=","),
    "fr": NumberMarks(decimal=",", group=".", point_decimal=True),
    "pt": NumberMarks(decimal=",", group="."),
    "es": NumberMarks(decimal=",", group="."),
}


def typed_marks(language: str) -> NumberMarks:
    """The marks of ``language`` ("pt-PT" and "pt_BR" as "pt"), English's when unknown."""
    base = language.replace("_", "-").split("-")[0].lower()
    return TYPED_MARKS.get(base, TYPED_MARKS["en"])


class TypedNumberError(ValueError):
    """Typed text that is not a number written in the language's way.

    ``reason`` is ``not_number`` (no number at all: letters, a sign alone), ``unclear`` or
    ``malformed`` (two decimal marks, a decimal mark before a thousands mark, groups of other
    than three digits…).

    ``unclear`` is one mark that may be read two ways. :attr:`decimal` is the text as the
    language writes it read as a decimal: "2.5" for "2,5" in English, which groups nothing
    (2.5 written the other languages' way, or 25 mistyped). :attr:`grouped` is, when the mark
    could also group thousands, the text as every language may write it read that way, grouped
    by a no-break space: "1\u00a0234" for "1.234" in French (1234, or 1.234 typed on a keypad);
    "" otherwise."""

    def __init__(self, reason: str, text: str, decimal: str = "", grouped: str = "") -> None:
        super().__init__(f"{reason}: {text!r}")
        self.reason = reason
        self.text = text
        self.decimal = decimal
        self.grouped = grouped


_DIGITS = re.compile(r"[0-9]+")


def read_typed_number(text: str, language: str) -> int | float | None:
    """A number as a person types it in ``language``: None when nothing was typed, an ``int``
    when it has no decimal mark, else a ``float``; :class:`TypedNumberError` when it is not a
    number written that way. Nothing is guessed:

    - the decimal mark is the language's only ("2.5" in English, "2,5" in French);
    - thousands may be grouped by the language's mark or by spaces (any of
      :data:`GROUP_SPACES`), in groups of three ("2,500" in English, "2.500" and "2 500" in
      French), never after the decimal mark;
    - the minus sign may be typed or pasted (U+2212), a plus sign is allowed;
    - in French (:attr:`NumberMarks.point_decimal`) a lone point that cannot group thousands
      is a decimal point ("1.5"), and one that could is ``unclear`` ("1.234").

    So "1.234" is 1.234 in English, 1234 in Portuguese and Spanish, and unclear in French;
    "2,5" in English is refused as ``unclear`` (neither a grouped thousand nor a decimal
    there)."""
    marks = typed_marks(language)
    typed = typed_minus(text).strip()
    if not typed:
        return None
    body = typed[1:] if typed[0] in "+-" else typed
    negative = typed[0] == "-"
    if marks.point_decimal and body.count(".") == 1 and marks.decimal not in body:
        whole, _, part = body.partition(".")
        lead, *spaced = re.split("[" + "".join(GROUP_SPACES) + "]", whole)
        if _groups_thousands(lead, [*spaced, part]):  # "1.234", "1 234.567"
            raise TypedNumberError(
                "unclear",
                text,
                decimal=minus_sign(typed.replace(".", marks.decimal)),
                grouped=minus_sign(typed.replace(".", NO_BREAK_SPACE)),
            )
        body = body.replace(".", marks.decimal)  # no grouping: a keypad's decimal point
    allowed = set("0123456789") | {marks.decimal, marks.group} | set(GROUP_SPACES)
    if not body or any(c not in allowed for c in body) or not any(c.isdigit() for c in body):
        raise TypedNumberError("not_number", text)
    whole, *fraction = body.split(marks.decimal)
    # "2." is 2 (the decimals are still to come as it is typed); "2.5.1" is no number.
    if len(fraction) > 1 or (fraction and fraction[0] and not _DIGITS.fullmatch(fraction[0])):
        raise TypedNumberError("malformed", text)
    spaces = [c for c in whole if c in GROUP_SPACES]
    groups = whole.count(marks.group)
    if spaces and groups:
        raise TypedNumberError("malformed", text)  # "1.234 567": two ways of grouping at once
    if spaces or groups:
        parts = re.split("[" + re.escape("".join(GROUP_SPACES) + marks.group) + "]", whole)
        if not _groups_thousands(parts[0], parts[1:]):
            if groups == 1 and not fraction and not spaces:
                # "2,5" in English, "1.5" in Spanish: one mark, as the other languages write a
                # decimal. Refused, with the decimal written the language's way.
                raise TypedNumberError(
                    "unclear", text, decimal=minus_sign(typed.replace(marks.group, marks.decimal))
                )
            raise TypedNumberError("malformed", text)
        whole = "".join(parts)
    elif whole and not _DIGITS.fullmatch(whole):
        raise TypedNumberError("malformed", text)
    if not whole and not (fraction and fraction[0]):
        raise TypedNumberError("not_number", text)  # "-", "."
    if not fraction:
        return -int(whole) if negative else int(whole)
    value = float(f"{whole or '0'}.{fraction[0] or '0'}")
    return -value if negative else value


def _groups_thousands(lead: str, groups: list[str]) -> bool:
    """Whether digits ``lead`` then ``groups`` are a number grouped by thousands: "1" "234"."""
    return (
        1 <= len(lead) <= 3
        and not lead.startswith("0")  # "0,500": a decimal written the other way
        and all(len(g) == 3 for g in groups)
        and all(_DIGITS.fullmatch(p) for p in (lead, *groups))
    )


def typed_text(value: int | float, language: str) -> str:
    """A number as ``language`` would type it back, ungrouped: "2.5" in English, "2,5" in
    French, "2500"; what :func:`read_typed_number` reads as the same number."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    written = repr(float(value))
    if "e" in written or "E" in written:
        written = f"{value:.15f}".rstrip("0").rstrip(".")
        written = written if "." in written else written + ".0"
    return written.replace(".", typed_marks(language).decimal)
