"""shared.units (docs/results.md#units): which units are symbols, which are words and which
count a word takes, independent of any catalogue (English plural rule as a stand-in)."""

from __future__ import annotations

import pytest

from shared.units import PLURAL, plural_count, unit_text, with_unit


def english(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


@pytest.mark.parametrize(
    ("unit", "count", "shown"),
    [
        ("kg", 1, "kg"),
        ("m2", 2, "m²"),
        ("kg/ha", None, "kg/ha"),
        ("percent", 5, "%"),
        ("farmers", 1, "farmer"),
        ("farmers", 6, "farmers"),
        ("Farmers", None, "farmers"),
        ("farmer", 3, "farmers"),  # the singular typed by the author is the same word
        ("days", 1.5, "days"),  # a fraction takes the plural
        ("days", 1.0, "day"),
        ("households", -1, "household"),
        ("sacks", 1, "sacks"),  # unknown: as written
        ("  bundles ", 1, "bundles"),
        ("", 1, ""),
        (None, 1, ""),
    ],
)
def test_a_unit_is_a_symbol_a_counted_word_or_as_written(
    unit: str | None, count: object, shown: str
) -> None:
    assert unit_text(unit, "en", english, count=count) == shown


def test_the_forms_own_translation_comes_first_in_its_language_only() -> None:
    labels = {"fr": "sacs", "pt": " "}
    assert unit_text("sacks", "fr", english, labels=labels) == "sacs"
    assert unit_text("sacks", "pt", english, labels=labels) == "sacks"  # blank: not a text
    assert unit_text("kg", "fr", english, labels={"fr": "kilos"}) == "kilos"


def test_counts_are_bounded_and_non_numbers_take_the_plural() -> None:
    assert plural_count(10**30) == 1_000_000_000
    assert plural_count(float("inf")) == PLURAL
    assert plural_count("6") == PLURAL and plural_count(True) == PLURAL
    assert with_unit("6", "") == "6"


def test_a_number_stays_on_the_line_of_its_unit() -> None:
    # "0,5 – 2,5 kg" in a hint on a phone: the line may break at the dash, never before "kg".
    assert with_unit("6", "farmers") == "6\u00a0farmers"
    assert with_unit("2,5", "%") == "2,5\u00a0%"
