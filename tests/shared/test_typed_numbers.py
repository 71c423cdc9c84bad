"""shared.typography.read_typed_number: a number read as a person types it in their language,
never guessed; typed_text writes one back the same way."""

from __future__ import annotations

import pytest

from shared.typography import TypedNumberError, read_typed_number, typed_marks, typed_text


@pytest.mark.parametrize(
    ("typed", "language", "value"),
    [
        ("2,500", "en", 2500),  # was 2.5: every comma read as a decimal mark
        ("2.5", "en", 2.5),
        ("1.234", "en", 1.234),
        ("1.234", "pt", 1234),  # was 1.234 in every language
        ("1.234", "es", 1234),
        ("1,234", "fr", 1.234),
        ("2,5", "pt", 2.5),
        ("1,234,567.89", "en", 1234567.89),
        ("1 234 567,5", "fr", 1234567.5),
        ("1\u00a0234,5", "fr", 1234.5),  # as the tablet writes it
        ("1\u202f234,5", "fr", 1234.5),  # as the dashboard writes it
        ("1.234,5", "es", 1234.5),
        ("1.234,5", "fr", 1234.5),  # the comma is the decimal: the point groups
        ("1.234.567", "fr", 1234567),  # two points: no decimal
        # A French point that groups nothing is a keypad's decimal point.
        ("1.5", "fr", 1.5),
        ("1234.5", "fr", 1234.5),
        ("0.500", "fr", 0.5),
        ("1 234.5", "fr", 1234.5),
        ("\u22122.75", "fr", -2.75),
        (".5", "fr", 0.5),
        ("1.234.567", "pt", 1234567),
        ("1 234", "en", 1234),
        ("\u221229.31", "en", -29.31),  # the minus sign, pasted
        ("\u221229,31", "fr", -29.31),
        ("+12", "en", 12),
        ("12", "es", 12),
        ("12.0", "en", 12.0),
        (".5", "en", 0.5),
        ("2.", "en", 2.0),  # the decimals still to come
        ("  42  ", "en", 42),
        ("", "en", None),
        ("   ", "fr", None),
    ],
)
def test_a_number_reads_as_its_language_writes_it(
    typed: str, language: str, value: float | None
) -> None:
    read = read_typed_number(typed, language)
    assert read == value
    assert type(read) is type(value)


@pytest.mark.parametrize(
    ("typed", "language", "decimal"),
    [
        ("2,5", "en", "2.5"),  # neither a grouped thousand nor a decimal in English
        ("1234,5", "en", "1234.5"),
        ("0,500", "en", "0.500"),  # a leading zero groups nothing
        ("1.5", "es", "1,5"),  # Spanish and Portuguese group with the point, as on paper
        ("12.34", "es", "12,34"),
        ("\u22122,5", "en", "\u22122.5"),
    ],
)
def test_a_mark_that_groups_nothing_is_unclear(typed: str, language: str, decimal: str) -> None:
    with pytest.raises(TypedNumberError) as refused:
        read_typed_number(typed, language)
    assert (refused.value.reason, refused.value.decimal) == ("unclear", decimal)


@pytest.mark.parametrize(
    ("typed", "decimal", "fraction", "grouped", "whole"),
    [
        # "1.234" was 1234 on the tablet and 1.234 on the dashboard
        ("1.234", "1,234", 1.234, "1\u00a0234", 1234),
        ("12.345", "12,345", 12.345, "12\u00a0345", 12345),
        ("\u2212123.456", "\u2212123,456", -123.456, "\u2212123\u00a0456", -123456),
        ("+1.000", "+1,000", 1.0, "+1\u00a0000", 1000),
        ("1 234.567", "1 234,567", 1234.567, "1 234\u00a0567", 1234567),
    ],
)
def test_a_french_point_that_may_group_thousands_is_unclear(
    typed: str, decimal: str, fraction: float, grouped: str, whole: int
) -> None:
    # French groups thousands with a space; a point is a keypad's decimal point as often.
    with pytest.raises(TypedNumberError) as refused:
        read_typed_number(typed, "fr")
    error = refused.value
    assert (error.reason, error.decimal, error.grouped) == ("unclear", decimal, grouped)
    # Each way of writing it that the error offers reads as that one number.
    assert read_typed_number(decimal, "fr") == fraction
    assert read_typed_number(grouped, "fr") == whole


@pytest.mark.parametrize(
    ("typed", "language"),
    [
        ("1,23,456", "en"),  # groups of other than three
        ("1.234.5", "en"),  # two decimal marks
        ("1,2,3", "fr"),
        ("1.234,567", "en"),  # a thousands mark after the decimal mark
        ("1.234 567", "fr"),  # two ways of grouping at once
        ("1,234.5", "fr"),
        ("12,34,5", "en"),
    ],
)
def test_a_malformed_number_is_refused(typed: str, language: str) -> None:
    with pytest.raises(TypedNumberError) as refused:
        read_typed_number(typed, language)
    assert refused.value.reason == "malformed"


@pytest.mark.parametrize("typed", ["lots", "-", ".", "1e5", "nan", "inf", "12 kg", "0x10", "١٢"])
def test_text_that_is_no_number_is_refused(typed: str) -> None:
    with pytest.raises(TypedNumberError) as refused:
        read_typed_number(typed, "en")
    assert refused.value.reason == "not_number"


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
@pytest.mark.parametrize("value", [2.5, -29.31, 1234.5, 2500, 0, 1e-7, 1e20, 0.1])
def test_a_number_written_back_reads_as_the_same(value: float, language: str) -> None:
    assert read_typed_number(typed_text(value, language), language) == value


def test_regional_languages_take_their_language_s_marks() -> None:
    assert typed_marks("pt-PT") == typed_marks("pt_BR") == typed_marks("pt")
    assert typed_marks("xx") == typed_marks("en")
