"""A values request read with its problems returned, not raised (``values_query_with_issues``):
every problem at once, beside the query of the parameters that read well, each bad one as if
it had not been given. The IATI export runs its own checks (scope, unknown projects) on that
query, so that one answer names every bad parameter (docs/indicators.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from server.errors import NotFound, ValidationFailed
from server.indicators.service import parse_values_query, values_query_with_issues
from shared.indicators import DEFAULT_STATUSES

BAD: dict[str, Any] = {
    "group_by": "country,nonsense",
    "filters": {"country": "XXX", "project": "LSO-DAA-001", "region": "RBJ"},
    "date_from": "2025-03-01",
    "date_to": "2025-01-01",
    "status": "approved,bad",
}


def test_every_problem_is_named_beside_what_reads_well() -> None:
    query, issues = values_query_with_issues(code="ACTIVITIES", **BAD)
    assert [(i.field, i.code) for i in issues] == [
        ("group_by", "unknown_code"),
        ("country", "unknown_code"),
        ("to", "end_before_start"),
        ("status", "unknown_code"),
    ]
    # each bad one as if not given; the good ones as given
    assert query.group_by == ()
    assert dict(query.filters) == {"project": ("LSO-DAA-001",), "region": ("RBJ",)}
    assert (query.date_from, query.date_to) == (date(2025, 3, 1), None)
    assert query.statuses == DEFAULT_STATUSES


def test_raising_names_the_same_problems() -> None:
    _, issues = values_query_with_issues(code="ACTIVITIES", **BAD)
    with pytest.raises(ValidationFailed) as raised:
        parse_values_query(code="ACTIVITIES", **BAD)
    assert raised.value.status_code == 400
    assert raised.value.issues == issues


def test_good_parameters_read_the_same_both_ways() -> None:
    given: dict[str, Any] = {
        "group_by": "country,period:year",
        "filters": {"country": "lso", "project": "LSO-DAA-001"},
        "date_from": "2025-01-01",
        "date_to": "2025-03-31",
        "status": "APPROVED",
    }
    query, issues = values_query_with_issues(code="PARTICIPANTS", **given)
    assert issues == []
    assert query == parse_values_query(code="PARTICIPANTS", **given)
    assert query.group_by == ("country", "period:year")
    assert dict(query.filters) == {"country": ("LSO",), "project": ("LSO-DAA-001",)}
    assert (query.date_from, query.date_to) == (date(2025, 1, 1), date(2025, 3, 31))
    assert query.statuses == ("approved",)


def test_a_bad_date_alone_leaves_the_other_date() -> None:
    query, issues = values_query_with_issues(
        code="ACTIVITIES", date_from="yesterday", date_to="2025-01-01"
    )
    assert [(i.field, i.code) for i in issues] == [("from", "bad_date")]
    assert (query.date_from, query.date_to) == (None, date(2025, 1, 1))


def test_an_unknown_indicator_is_still_not_found() -> None:
    with pytest.raises(NotFound):
        values_query_with_issues(code="NO_SUCH", status="bad")
