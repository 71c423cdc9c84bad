"""Which of a project's targets the quarterly report judges a quarter against, and the value so
far it compares with it (docs/results.md#quarterly-report): plain functions over labels, so
that which period contains which cannot turn round unseen."""

from __future__ import annotations

import uuid
from datetime import date

from server.dashboard.report import holding_target, to_date_value
from server.projects.models import Target

Q3 = (date(2025, 7, 1), date(2025, 9, 30))


def _target(period: str) -> Target:
    return Target(project_id=uuid.uuid4(), indicator="DEMONSTRATIONS", period=period, value=4)


def test_the_shortest_target_holding_the_quarter_is_taken() -> None:
    year, quarter, month = _target("2025"), _target("2025Q3"), _target("2025-08")
    assert holding_target([year, quarter, month], *Q3) is quarter
    assert holding_target([year, month], *Q3) is year
    # a month inside the quarter does not hold it, nor another year or a label not a period
    assert holding_target([month, _target("2024"), _target("2025Q2"), _target("soon")], *Q3) is None
    # the days at either end count
    assert holding_target([_target("2025Q3")], date(2025, 7, 1), date(2025, 7, 1)) is not None
    assert holding_target([_target("2025Q3")], date(2025, 9, 30), date(2025, 9, 30)) is not None
    assert holding_target([_target("2025Q3")], date(2025, 6, 30), date(2025, 9, 30)) is None
    assert holding_target([_target("2025Q3")], date(2025, 7, 1), date(2025, 10, 1)) is None


def test_a_years_value_so_far_adds_its_quarters_up_to_the_quarters_end() -> None:
    values = {
        "2024Q4": 100.0,  # the year before
        "2025Q1": 1.0,
        "2025Q2": 2.0,
        "2025Q3": 4.0,
        "2025Q4": 8.0,  # after the quarter
        "2025": 16.0,  # counted only once its last day is in (the fourth quarter's end)
        "later": 32.0,  # not a period
    }
    assert to_date_value(values, "2025", "2025Q3") == 7.0
    assert to_date_value(values, "2025", "2025Q1") == 1.0
    # a quarter's target: that quarter alone; a year's value would need all four
    assert to_date_value(values, "2025Q3", "2025Q3") == 4.0
    assert to_date_value(values, "2025", "2025Q4") == 31.0
    assert to_date_value({"2025Q1": None, "2025Q4": 3.0}, "2025", "2025Q3") is None
