"""shared.typography: the minus sign of numbers written for people, read back when typed."""

from __future__ import annotations

import pytest

from shared.typography import MINUS, coordinate, minus_sign, typed_minus


@pytest.mark.parametrize(
    ("formatted", "written"),
    [
        ("-43", "−43"),
        ("-1\u202f234,5", "−1\u202f234,5"),
        ("-1E30", "−1E30"),
        ("12", "12"),
        ("-0", "0"),  # rounded to nothing: no sign at all
        ("-0,0", "0,0"),
    ],
)
def test_negatives_take_the_minus_sign(formatted: str, written: str) -> None:
    assert minus_sign(formatted) == written
    assert "-" not in minus_sign(formatted)


def test_what_is_copied_from_a_page_reads_back() -> None:
    assert typed_minus(f"{MINUS}29.31") == "-29.31"
    assert float(typed_minus(minus_sign("-29.31"))) == -29.31


def test_coordinates_take_the_minus_sign_and_decimal_degrees() -> None:
    # The site map's axis read "-30.7°" and the sites' table "-29.3160" with a hyphen.
    assert coordinate(-29.316, 4) == "−29.3160"
    assert coordinate(27.486, 5) == "27.48600"
    assert coordinate(-0.00001, 4) == "0.0000"
