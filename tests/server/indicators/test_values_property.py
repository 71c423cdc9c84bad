"""Every indicator, under random groupings, filters and scopes, equals the naive computation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from server.accounts.auth import Caller
from server.errors import ValidationFailed
from server.indicators.service import indicator_values, parse_values_query
from shared.geography import region_of
from shared.indicators import INDICATORS, PERIOD_KEYS, IndicatorKind
from tests.factories import make_user
from tests.server.indicators import naive
from tests.server.indicators.world import (
    COUNTRIES,
    THEMATIC_AREAS,
    TOPICS,
    TYPES,
    build,
    worlds,
)

DATE_RANGES = (
    (None, None),
    (date(2025, 1, 1), date(2025, 6, 30)),  # whole months: the cubes answer
    (date(2024, 12, 15), date(2025, 5, 10)),  # cuts months: the fact table answers
    (None, date(2025, 2, 28)),
)
STATUS_CHOICES = (None, "approved", "submitted,approved,returned")


@st.composite
def queries(draw: st.DrawFn, code: str) -> dict[str, Any]:
    indicator = INDICATORS[code]
    plain = [k for k in indicator.group_by if k not in PERIOD_KEYS]
    keys = draw(st.lists(st.sampled_from(plain), max_size=3, unique=True))
    if indicator.kind != IndicatorKind.TARGET and draw(st.booleans()):
        keys.insert(draw(st.integers(0, len(keys))), draw(st.sampled_from(PERIOD_KEYS)))
    choices: dict[str, st.SearchStrategy[Any]] = {
        "country": st.sampled_from(COUNTRIES),
        "region": st.sampled_from(sorted({region_of(c) for c in COUNTRIES})),  # type: ignore[type-var]
        "thematic_area": st.sampled_from(THEMATIC_AREAS),
    }
    if indicator.kind != IndicatorKind.TARGET:
        choices.update(
            {
                "topic": st.sampled_from([t for t in TOPICS if t]),
                "solution": st.sampled_from(["S1", "S4", "S6"]),
                "modality": st.sampled_from(["P", "T", "K"]),
                "activity_type": st.sampled_from(TYPES),
            }
        )
    names = draw(
        st.lists(
            st.sampled_from(sorted(choices)), max_size=1 + draw(st.integers(0, 1)), unique=True
        )
    )
    filters = {n: draw(st.lists(choices[n], min_size=1, max_size=2, unique=True)) for n in names}
    date_from, date_to = draw(st.sampled_from(DATE_RANGES))
    return {
        "group_by": tuple(keys),
        "filters": filters,
        "status": draw(st.sampled_from(STATUS_CHOICES)),
        "from": date_from,
        "to": date_to,
    }


def _engine_rows(
    session: Session, code: str, q: dict[str, Any], caller: Caller | None
) -> list[dict[str, Any]]:
    query = parse_values_query(
        code=code,
        group_by=",".join(q["group_by"]),
        filters={k: ",".join(v) for k, v in q["filters"].items()},
        date_from=q["from"].isoformat() if q["from"] else None,
        date_to=q["to"].isoformat() if q["to"] else None,
        status=q["status"],
    )
    return indicator_values(session, caller=caller, query=query).rows


def _statuses(q: dict[str, Any]) -> tuple[str, ...]:
    return tuple(q["status"].split(",")) if q["status"] else ("submitted", "approved")


def check_indicator(
    session: Session,
    records: naive.Records,
    code: str,
    q: dict[str, Any],
    caller: Caller | None,
    visible: set[Any] | None,
) -> None:
    outside = [c for c in q["filters"].get("country", ()) if caller and c not in caller.countries]
    if outside:
        # a country outside the officer's scope is refused, never answered with nothing
        with pytest.raises(ValidationFailed) as refused:
            _engine_rows(session, code, q, caller)
        assert [(i.field, i.code) for i in refused.value.issues] == [("country", "out_of_scope")]
        return
    rows = _engine_rows(session, code, q, caller)
    keys = q["group_by"]
    if INDICATORS[code].kind == IndicatorKind.TARGET:
        projects = {
            p.id
            for p in records.projects.values()
            if (visible is None or p.id in visible)
            and all(_project_attr(p, k) in v for k, v in q["filters"].items())
        }
        expected = naive.target_values(
            records,
            keys,
            statuses=_statuses(q),
            projects=projects,
            date_from=q["from"],
            date_to=q["to"],
        )
        got = {
            tuple(r[k] for k in (*keys, "indicator", "period", "sex")): (
                r["target"],
                r["actual"],
                r["value"],
            )
            for r in rows
        }
        assert got.keys() == expected.keys()
        for key, (target, actual, value) in expected.items():
            assert got[key] == (
                pytest.approx(target, abs=0.01),
                pytest.approx(actual, abs=0.01) if actual is not None else None,
                pytest.approx(value, abs=0.02) if value is not None else None,
            )
        return
    expected_values = naive.values(
        records,
        code,
        keys,
        statuses=_statuses(q),
        filters=q["filters"],
        date_from=q["from"],
        date_to=q["to"],
        projects=visible,
    )
    assert naive.rows_as_map(rows, keys) == expected_values, (code, q)
    assert len(rows) == len(expected_values)


def _project_attr(project: Any, key: str) -> Any:
    return {
        "country": project.country,
        "region": region_of(project.country),
        "thematic_area": project.thematic_area,
    }[key]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "world": draw(worlds()),
        "queries": {code: draw(queries(code)) for code in INDICATORS},
        "officer_of": draw(st.one_of(st.none(), st.sampled_from(COUNTRIES))),
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_every_indicator_equals_the_naive_computation(
    session: Session, scenario: dict[str, Any]
) -> None:
    try:
        built = build(session, scenario["world"])
        caller = visible = None
        if scenario["officer_of"]:
            officer = make_user(session, role="country_officer", countries=[scenario["officer_of"]])
            caller = Caller(user=officer)
            visible = {p.id for p in built.projects if p.country == scenario["officer_of"]}
        records = naive.load(session)
        for code, q in scenario["queries"].items():
            check_indicator(session, records, code, q, caller, visible)
    finally:
        session.rollback()
