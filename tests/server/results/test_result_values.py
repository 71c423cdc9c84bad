"""Result indicators equal a naive computation from the observations (docs/results.md), under
random writes, edits, reviews and deletions through the roll-up delta; the rebuild equals the
live roll-up; each aggregate, compare/uplift and null groups."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from server.accounts.auth import Caller
from server.errors import NotFound, ValidationFailed
from server.indicators.jobs import rebuild_rollups
from server.indicators.service import indicator_values, parse_values_query
from server.results.rollup import (
    fingerprint,
    rebuild_results,
    refresh_form,
    result_cell,
    result_fact,
)
from tests.factories import make_project, make_site, make_user
from tests.server.results.helpers import (
    HARVEST_FIELDS,
    HARVEST_INDICATORS,
    VARIETY,
    edit,
    make_form,
    naive_rows,
    observe,
)

CODES = [i["code"] for i in HARVEST_INDICATORS]
KEYS = (
    "project",
    "country",
    "region",
    "thematic_area",
    "site",
    "choice:crop",
    "choice:plot",
    "choice:variety",
)
PERIODS = ("period:month", "period:quarter", "period:year")
STATUSES = ("submitted", "approved", "returned")


def rows_of(
    session: Session, code: str, caller: Caller | None = None, **params: Any
) -> list[dict[str, Any]]:
    query = parse_values_query(code=code, session=session, **params)
    return indicator_values(session, caller=caller, query=query).rows


def as_map(rows: list[dict[str, Any]], keys: tuple[str, ...], compare: bool) -> dict[Any, Any]:
    labels = ["period" if k.startswith("period:") else k for k in keys]
    return {
        tuple(r[label] for label in labels): (
            (r["value"], r["compare"], r["uplift"]) if compare else r["value"]
        )
        for r in rows
    }


def assert_close(got: dict[Any, Any], expected: dict[Any, Any]) -> None:
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = got[key]
        if isinstance(want, tuple):
            assert have[0] == (pytest.approx(want[0], abs=0.011) if want[0] is not None else None)
            assert have[1].keys() == want[1].keys()
            for c in want[1]:
                w = want[1][c]
                assert have[1][c] == (pytest.approx(w, abs=0.011) if w is not None else None)
            if want[2] is None:
                assert have[2] is None
            else:
                assert have[2] == pytest.approx(want[2], abs=0.05)
        else:
            assert have == (pytest.approx(want, abs=0.011) if want is not None else None), key


# --- random worlds ----------------------------------------------------------------------------

values_strategy = st.fixed_dictionaries(
    {},
    optional={
        "crop": st.sampled_from(["potato", "maize"]),
        "plot": st.sampled_from(["demo", "control"]),
        "plot_area_m2": st.one_of(st.just(0), st.integers(1, 5000), st.floats(0.5, 5000)),
        "harvest_kg": st.one_of(st.integers(0, 9000), st.floats(0, 9000)),
        "irrigated": st.booleans(),
        "pests": st.lists(st.sampled_from(["aphid", "blight"]), unique=True),
        "variety": st.sampled_from(["early", "late"]),
    },
)
op_strategy = st.one_of(
    st.tuples(
        st.just("create"),
        st.integers(0, 2),  # project
        st.integers(1, 2),  # form version
        values_strategy,
        st.dates(date(2024, 11, 1), date(2025, 8, 31)),
        st.sampled_from(STATUSES),
        st.booleans(),  # on a site
    ),
    st.tuples(st.just("edit"), st.integers(0, 30), values_strategy),
    st.tuples(st.just("review"), st.integers(0, 30), st.sampled_from(STATUSES)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True))
    if draw(st.booleans()):
        keys.append(draw(st.sampled_from(PERIODS)))
    return {
        "keys": tuple(keys),
        "status": draw(st.sampled_from([None, "approved", "submitted,returned"])),
        "range": draw(
            st.sampled_from(
                [
                    (None, None),
                    (date(2025, 1, 1), date(2025, 3, 31)),  # whole months: cells only
                    (date(2024, 12, 10), None),  # a partial month from the facts
                    (date(2024, 12, 10), date(2025, 2, 14)),  # partial at both ends
                    (date(2025, 1, 5), date(2025, 1, 20)),  # inside one month
                    (None, date(2025, 2, 28)),
                ]
            )
        ),
        "country": draw(st.sampled_from([None, "LSO"])),
    }


def build_world(session: Session, ops: list[Any]) -> dict[str, Any]:
    projects = [
        make_project(session, country="LSO", thematic_area="TA1"),
        make_project(session, country="LSO", thematic_area="TA2"),
        make_project(session, country="MWI", thematic_area="TA1"),
    ]
    sites = [make_site(session, p) for p in projects]
    v1 = make_form(session, status="retired")
    v2 = make_form(session, version=2, fields=[*HARVEST_FIELDS, VARIETY])
    observations = []
    for op in ops:
        if op[0] == "create":
            _, p, version, values, day, status, on_site = op
            form = v1 if version == 1 else v2
            if version == 1:
                values = {k: v for k, v in values.items() if k != "variety"}
            observations.append(
                observe(
                    session,
                    form,
                    projects[p],
                    values,
                    observed_on=day,
                    status=status,
                    site_id=sites[p].id if on_site else None,
                )
            )
        elif observations:
            target = observations[op[1] % len(observations)]
            if op[0] == "edit":
                values = dict(op[2])
                if target.form_version == 1:
                    values.pop("variety", None)
                edit(session, target, values=values)
            elif op[0] == "review":
                edit(session, target, status=op[2])
            else:
                edit(session, target, deleted=True)
    return {"projects": projects}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(op_strategy, min_size=1, max_size=25),
    qs=st.lists(queries(), min_size=len(CODES), max_size=len(CODES)),
    officer=st.sampled_from([None, "LSO"]),
)
def test_result_values_equal_the_naive_computation(
    session: Session, ops: list[Any], qs: list[dict[str, Any]], officer: str | None
) -> None:
    try:
        world = build_world(session, ops)
        caller = None
        visible = None
        if officer:
            caller = Caller(user=make_user(session, role="country_officer", countries=[officer]))
            visible = {p.id for p in world["projects"] if p.country == officer}
        for code, q in zip(CODES, qs, strict=True):
            start, end = q["range"]
            rows = rows_of(
                session,
                code,
                caller,
                group_by=",".join(q["keys"]),
                status=q["status"],
                date_from=start.isoformat() if start else None,
                date_to=end.isoformat() if end else None,
                filters={"country": q["country"]} if q["country"] else None,
            )
            expected = naive_rows(
                session,
                code,
                q["keys"],
                statuses=tuple(q["status"].split(","))
                if q["status"]
                else ("submitted", "approved"),
                projects=visible,
                countries={q["country"]} if q["country"] else None,
                date_from=start,
                date_to=end,
            )
            compare = code in ("T_YIELD", "T_HARVEST_MEDIAN")
            assert_close(as_map(rows, q["keys"], compare), expected)
        # the safety net finds nothing to repair
        before = fingerprint(session)
        rebuild_results(session)
        assert fingerprint(session) == before
    finally:
        session.rollback()


# --- each aggregate by hand ---------------------------------------------------------------


@pytest.fixture
def harvest(session: Session) -> dict[str, Any]:
    project = make_project(session, code="LSO-CPP-R1")
    form = make_form(session)
    rows = [
        {
            "crop": "potato",
            "plot": "demo",
            "plot_area_m2": 100,
            "harvest_kg": 200,
            "irrigated": True,
            "pests": ["blight"],
        },
        {
            "crop": "potato",
            "plot": "demo",
            "plot_area_m2": 100,
            "harvest_kg": 250,
            "irrigated": False,
            "pests": [],
        },
        {
            "crop": "potato",
            "plot": "control",
            "plot_area_m2": 200,
            "harvest_kg": 200,
            "pests": ["aphid"],
        },
        {"crop": "maize", "plot": "control", "plot_area_m2": 50},
    ]
    made = [observe(session, form, project, r) for r in rows]
    return {"project": project, "form": form, "observations": made}


def test_each_aggregate(session: Session, harvest: dict[str, Any]) -> None:
    total = {code: rows_of(session, code)[0]["value"] for code in CODES if code != "T_YIELD"}
    assert total["T_HARVEST_SUM"] == 650
    assert total["T_HARVEST_MEAN"] == pytest.approx(216.67)
    assert total["T_HARVEST_MEDIAN"] == 200
    assert total["T_HARVEST_MIN"] == 200
    assert total["T_HARVEST_MAX"] == 250
    assert total["T_PLOTS"] == 4
    assert total["T_IRRIGATED"] == 50  # 1 of the 2 that answered
    assert total["T_DEMO_SHARE"] == 50
    assert total["T_BLIGHT"] == 50  # of the two answers; the empty list is not an answer
    # 100 × 650 / 400: the maize plot has no harvest, so its area does not count
    assert total["T_LOSS"] == 162.5


def test_compare_and_uplift(session: Session, harvest: dict[str, Any]) -> None:
    [row] = rows_of(session, "T_YIELD", group_by="project")
    assert row["project"] == "LSO-CPP-R1"
    assert row["compare"] == {"demo": 22500, "control": 10000}
    assert row["uplift"] == 125
    assert row["value"] == 16250
    by_plot = rows_of(session, "T_YIELD", group_by="choice:plot")
    assert [(r["choice:plot"], r["value"]) for r in by_plot] == [
        ("control", 10000),
        ("demo", 22500),
    ]
    # a group with only demo plots has no uplift
    by_crop = {r["choice:crop"]: r for r in rows_of(session, "T_YIELD", group_by="choice:crop")}
    assert by_crop["maize"]["value"] is None  # no harvest answered: null, never 0
    assert by_crop["maize"]["compare"] == {"demo": None, "control": None}
    assert by_crop["maize"]["uplift"] is None


def test_empty_groups_are_null_and_median_follows_edits(
    session: Session, harvest: dict[str, Any]
) -> None:
    rows = {
        r["choice:crop"]: r["value"]
        for r in rows_of(session, "T_HARVEST_MEDIAN", group_by="choice:crop")
    }
    assert rows == {"maize": None, "potato": 200}
    first, second, third, _ = harvest["observations"]
    edit(session, third, values={**third.values, "harvest_kg": 400})
    assert rows_of(session, "T_HARVEST_MEDIAN")[0]["value"] == 250
    edit(session, second, deleted=True)
    assert rows_of(session, "T_HARVEST_MEDIAN")[0]["value"] == 300
    edit(session, first, status="returned")
    assert rows_of(session, "T_HARVEST_MEDIAN")[0]["value"] == 400
    assert rows_of(session, "T_HARVEST_MEDIAN", status="returned")[0]["value"] == 200


def test_new_version_defines_indicators_and_old_observations_count(session: Session) -> None:
    project = make_project(session)
    v1 = make_form(session, status="retired", indicators=[HARVEST_INDICATORS[1]])
    observe(session, v1, project, {"crop": "potato", "plot": "demo", "harvest_kg": 10})
    assert rows_of(session, "T_HARVEST_SUM")[0]["value"] == 10
    v2 = make_form(
        session, version=2, fields=[*HARVEST_FIELDS, VARIETY], indicators=HARVEST_INDICATORS
    )
    refresh_form(session, "T_HARVEST")
    observe(
        session, v2, project, {"crop": "potato", "plot": "demo", "harvest_kg": 5, "variety": "late"}
    )
    assert rows_of(session, "T_PLOTS")[0]["value"] == 2
    by_variety = {
        r["choice:variety"]: r["value"]
        for r in rows_of(session, "T_HARVEST_SUM", group_by="choice:variety")
    }
    assert by_variety == {None: 10, "late": 5}


def test_rebuild_repairs_drift(session: Session, harvest: dict[str, Any]) -> None:
    before = fingerprint(session)
    session.execute(sa.delete(result_fact).where(result_fact.c.indicator == "T_PLOTS"))
    session.execute(sa.delete(result_cell).where(result_cell.c.indicator == "T_PLOTS"))
    assert rows_of(session, "T_PLOTS") == []
    rebuild_results(session)
    assert fingerprint(session) == before
    assert rows_of(session, "T_PLOTS")[0]["value"] == 4


def test_rebuild_repairs_drifted_cells(session: Session, harvest: dict[str, Any]) -> None:
    """Values are answered from the cells: a cell gone wrong is what a user sees, until the
    rebuild recomputes it from the observations."""
    before = fingerprint(session)
    right = rows_of(session, "T_HARVEST_SUM")[0]["value"]
    session.execute(
        sa.update(result_cell)
        .where(result_cell.c.indicator == "T_HARVEST_SUM")
        .values(total=result_cell.c.total + 1000, high=99999.0)
    )
    assert rows_of(session, "T_HARVEST_SUM")[0]["value"] != right
    assert fingerprint(session) != before
    rebuild_results(session)
    assert fingerprint(session) == before
    assert rows_of(session, "T_HARVEST_SUM")[0]["value"] == right


def test_bad_requests_name_the_field(session: Session, harvest: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_values_query(
            code="T_YIELD", group_by="sex,choice:nothing,choice:pests", session=session
        )
    issues = {(i.field, i.code) for i in caught.value.issues}
    assert ("group_by", "not_applicable") in issues
    assert ("group_by", "unknown_code") in issues
    with pytest.raises(ValidationFailed) as caught:
        parse_values_query(code="T_YIELD", filters={"topic": "S1.T2"}, session=session)
    assert [(i.field, i.code) for i in caught.value.issues] == [("topic", "not_applicable")]
    with pytest.raises(NotFound):
        parse_values_query(code="T_YIELD")  # without a session only the catalogue is known
    with pytest.raises(NotFound):
        parse_values_query(code="NO_SUCH", session=session)


def test_rollup_rebuild_job_repairs_result_values(engine: Any, session: Session) -> None:
    project = make_project(session)
    form = make_form(session)
    observe(session, form, project, {"crop": "potato", "plot": "demo", "harvest_kg": 7})
    session.commit()
    assert rebuild_rollups(engine=engine)["results_drifted"] is False
    session.execute(sa.delete(result_cell))
    session.commit()
    assert rows_of(session, "T_HARVEST_SUM") == []
    session.rollback()
    outcome = rebuild_rollups(engine=engine)
    assert outcome["results_drifted"] is True
    assert outcome["result_values"] == len(HARVEST_INDICATORS)
    assert rows_of(session, "T_HARVEST_SUM")[0]["value"] == 7
