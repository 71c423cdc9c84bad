"""Periods a request names (``shared.indicators.request_period``): the one check every route
that takes a period or a quarter uses, so that year 0000 is never a 500 and a year outside
2000–2100 is refused as a target's period is (``date_implausible``)."""

from __future__ import annotations

from datetime import date

import pytest

from shared.errors import ErrorCode
from shared.indicators import PeriodRefused, period_bounds, period_issue, request_period
from shared.validation import validate_target


@pytest.mark.parametrize(
    ("label", "bounds"),
    [
        ("2025", (date(2025, 1, 1), date(2025, 12, 31))),
        ("2025Q3", (date(2025, 7, 1), date(2025, 9, 30))),
        ("2024-02", (date(2024, 2, 1), date(2024, 2, 29))),
        ("2000Q1", (date(2000, 1, 1), date(2000, 3, 31))),
        ("2100-12", (date(2100, 12, 1), date(2100, 12, 31))),
    ],
)
def test_a_period_gives_its_days(label: str, bounds: tuple[date, date]) -> None:
    assert request_period(label) == bounds
    assert period_issue(label) is None


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("0000", ErrorCode.DATE_IMPLAUSIBLE),
        ("0000Q1", ErrorCode.DATE_IMPLAUSIBLE),
        ("0000-01", ErrorCode.DATE_IMPLAUSIBLE),
        ("0001Q1", ErrorCode.DATE_IMPLAUSIBLE),
        ("1999Q4", ErrorCode.DATE_IMPLAUSIBLE),
        ("2101", ErrorCode.DATE_IMPLAUSIBLE),
        ("9999-12", ErrorCode.DATE_IMPLAUSIBLE),
        ("2025Q5", ErrorCode.BAD_PERIOD),
        ("2025-13", ErrorCode.BAD_PERIOD),
        ("2025q3", ErrorCode.BAD_PERIOD),  # as written: a route upper-cases first if it allows
        ("25Q3", ErrorCode.BAD_PERIOD),
        ("", ErrorCode.BAD_PERIOD),
        ("2025\n", ErrorCode.BAD_PERIOD),
        ("\u0662\u0660\u0662\u0665", ErrorCode.BAD_PERIOD),  # 2025 in Arabic-Indic digits
    ],
)
def test_what_is_not_a_period_or_not_a_plausible_one_is_refused_at_its_field(
    label: str, code: ErrorCode
) -> None:
    with pytest.raises(PeriodRefused) as caught:
        request_period(label, "quarter")
    assert (caught.value.issue.field, caught.value.issue.code) == ("quarter", code)
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError still do
    found = period_issue(label, "quarter")
    assert found is not None and (found.field, found.code) == ("quarter", code)


@pytest.mark.parametrize("label", ["0001Q1", "1999Q4", "2101Q1", "0000Q1"])
def test_the_years_refused_are_those_a_targets_period_refuses(label: str) -> None:
    """One range for a period given to the server, whether it is stored or asked about."""
    data = {"project_id": "x", "indicator": "PARTICIPANTS", "period": label, "value": 1}
    result = validate_target(data, indicators=["PARTICIPANTS"])
    by_field = {i.field: i.code for i in result.errors}
    assert by_field["period"] == ErrorCode.DATE_IMPLAUSIBLE
    found = period_issue(label)
    assert found is not None and found.code == by_field["period"]


def test_a_route_that_takes_quarters_only_says_so() -> None:
    for label in ("2025", "2025-07"):
        found = period_issue(label, grains=("quarter",))
        assert found is not None and found.code == ErrorCode.BAD_PERIOD
        assert "quarter" in found.message
    assert request_period("2025Q1", grains=("quarter",)) == (date(2025, 1, 1), date(2025, 3, 31))


def test_period_bounds_counts_back_before_2000_but_never_fails_on_year_0000() -> None:
    """Stored periods and quarters counted back from them (a report's same quarter a year
    before) may fall outside 2000–2100; year 0000 is a ValueError that names the label, not
    Python's "year 0 is out of range"."""
    assert period_bounds("1999Q1") == (date(1999, 1, 1), date(1999, 3, 31))
    for label in ("0000", "0000Q1", "0000-01"):
        with pytest.raises(ValueError, match=label):
            period_bounds(label)
