"""The attendance fast path (rows already exactly clean) answers as the full check does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shared.validation as validation
from shared.validation import MAX_ATTENDANCE_ROWS, MAX_COUNT, validate_attendance


def _row(**overrides: Any) -> dict[str, Any]:
    return {
        "sex": "female",
        "age_band": "adult",
        "category": "farmer",
        "disability": False,
        "count": 12,
        **overrides,
    }


def _both(monkeypatch: pytest.MonkeyPatch, rows: Any) -> tuple[Any, Any]:
    fast = validation._check_attendance(rows, "attendance")
    with monkeypatch.context() as patch:
        patch.setattr(validation, "_plain_attendance", lambda value: None)
        full = validation._check_attendance(rows, "attendance")
    return fast, full


CASES: list[Any] = [
    [_row()],
    [_row(), _row(sex="male", count=0)],
    [_row(), _row()],  # the same key twice
    [_row(count=MAX_COUNT)],
    [_row(count=MAX_COUNT + 1)],
    [_row(count=-1)],
    [_row(count=3.0)],  # a whole float: the full check's int
    [_row(count=True)],  # a boolean is not a count
    [_row(disability=1)],  # nor is 1 a boolean
    [_row(sex=" male ")],  # stripped by the full check
    [_row(sex="Male")],
    [_row(category=None)],
    [{k: v for k, v in _row().items() if k != "count"}],
    [{**_row(), "extra": "ignored"}],
    [None],
    ["text"],
    (_row(),),  # a tuple is a list too
    [
        _row(age_band=a, sex=s, category=c, disability=d, count=50_000)
        for a in ("youth", "adult")
        for s in ("female", "male")
        for c in ("farmer", "technician")
        for d in (False, True)
    ],  # over the total
    [_row()] * (MAX_ATTENDANCE_ROWS + 1),
    [],
]


@pytest.mark.parametrize("rows", CASES)
def test_the_fast_path_equals_the_full_check(monkeypatch: pytest.MonkeyPatch, rows: Any) -> None:
    fast, full = _both(monkeypatch, rows)
    assert fast == full
    assert validate_attendance(rows) == full[1]


# Mostly valid values, sometimes something the full check converts or refuses.
_ODD = st.one_of(
    st.sampled_from([" male", "", "Male"]),
    st.none(),
    st.booleans(),
    st.integers(-2, MAX_COUNT + 2),
    st.floats(allow_nan=False, width=32),
)
_ROW = st.fixed_dictionaries(
    {
        "sex": st.sampled_from(["female", "male"]) | _ODD,
        "age_band": st.sampled_from(["youth", "adult"]) | _ODD,
        "category": st.sampled_from(["farmer", "technician"]) | _ODD,
        "disability": st.booleans() | _ODD,
        "count": st.integers(0, MAX_COUNT) | _ODD,
    },
    optional={"other": _ODD},
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_ROW, _ROW, _ROW, st.none(), st.text(max_size=3)), max_size=8))
def test_any_rows_get_the_same_answer_both_ways(rows: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        fast = validation._check_attendance(rows, "attendance")
        patch.setattr(validation, "_plain_attendance", lambda value: None)
        full = validation._check_attendance(rows, "attendance")
    assert fast == full
