"""The attendance grid: cells, totals along every axis, women's share, wire rows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from field_app.controllers.attendance import (
    AGE_BANDS,
    CATEGORIES,
    SEXES,
    AttendanceError,
    AttendanceGrid,
    Cell,
    format_share,
    parse_count,
)
from shared.validation import MAX_COUNT, validate_attendance

cells = st.builds(
    Cell,
    st.sampled_from(CATEGORIES),
    st.booleans(),
    st.sampled_from(SEXES),
    st.sampled_from(AGE_BANDS),
)


def test_totals_women_share_and_rows() -> None:
    grid = AttendanceGrid()
    grid.set(Cell("farmer", False, "female", "youth"), 12)
    grid.set(Cell("farmer", True, "female", "adult"), 3)
    grid.set(Cell("farmer", False, "male", "adult"), 8)
    grid.set(Cell("official", False, "unspecified", "unspecified"), 2)
    assert grid.total() == 25
    assert grid.total(category="farmer") == 23
    assert grid.total(sex="female") == 15
    assert grid.total(disability=True) == 3
    assert grid.total(age_band="adult") == 11
    assert grid.women_share() == pytest.approx(60.0)
    assert grid.women_share(category="official") == 0.0
    assert grid.women_share(category="technician") is None
    assert [r["count"] for r in grid.rows()] == [12, 8, 3, 2]
    assert validate_attendance(grid.rows()) == []


def test_setting_a_cell_to_zero_removes_its_row() -> None:
    grid = AttendanceGrid()
    cell = Cell("farmer", False, "female", "youth")
    grid.set(cell, 4)
    grid.set(cell, 0)
    assert grid.rows() == [] and grid.total() == 0


@pytest.mark.parametrize(("text", "expected"), [("", 0), (" 7 ", 7), ("0", 0), ("100000", 100000)])
def test_parse_count_accepts_whole_numbers(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("text", ["-1", "2.5", "abc", "1e3", str(MAX_COUNT + 1)])
def test_parse_count_refuses_the_rest_with_a_reason(text: str) -> None:
    with pytest.raises(AttendanceError, match=r"whole number|At most"):
        parse_count(text)


def test_format_share() -> None:
    assert format_share(None) == "–"
    assert format_share(47.4) == "47\u00a0%"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(cells, st.integers(min_value=0, max_value=MAX_COUNT), max_size=20))
def test_rows_round_trip_and_totals_agree(counts: dict[Cell, int]) -> None:
    grid = AttendanceGrid()
    for cell, count in counts.items():
        grid.set(cell, count)
    again = AttendanceGrid.from_rows(grid.rows())
    assert again.rows() == grid.rows()
    assert grid.total() == sum(counts.values())
    assert sum(grid.total(sex=s) for s in SEXES) == grid.total()
    assert (
        sum(grid.total(category=c, disability=d) for c in CATEGORIES for d in (False, True))
        == grid.total()
    )
    assert validate_attendance(grid.rows()) == []
