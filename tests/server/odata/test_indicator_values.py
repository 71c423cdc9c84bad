"""IndicatorValues holds every indicator that breaks down by project and month
(docs/odata.md#entity-sets): the catalogue's and the result indicators of the published forms
(docs/results.md#result-indicators), defined at run time. Each row equals the indicator API's
for the same indicator, project and month, in the caller's scope, with the unit and the
additivity of its aggregate; by key and by ``$filter`` too."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.odata.entities import INDICATOR_VALUES
from server.odata.filters import parse_filter, values_of
from tests.conftest import seeded_module
from tests.factories import World, detach
from tests.server.results.helpers import HARVEST_INDICATORS, make_form, observe

BASE = "/api/v1/odata/"
RESULT_CODES = [i["code"] for i in HARVEST_INDICATORS]
ADDITIVE = {"sum", "count"}  # a mean, median, min, max, share or ratio does not add up


def _build(session: Session) -> World:
    world = World(session)
    form = make_form(session)
    harvests = [
        (world.project_lso, date(2025, 3, 14), "demo", 420.5, 1000, True, ["blight"]),
        (world.project_lso, date(2025, 3, 20), "control", 300.0, 1200, False, []),
        (world.project_lso, date(2025, 4, 2), "demo", 510.25, 900, None, ["aphid"]),
        (world.project_ken, date(2025, 3, 9), "demo", 88.0, 0, True, ["blight", "aphid"]),
        (world.project_ken, date(2025, 5, 30), "control", 150.0, None, False, []),
    ]
    for project, day, plot, kg, area, irrigated, pests in harvests:
        values: dict[str, Any] = {"crop": "potato", "plot": plot, "harvest_kg": kg}
        if area is not None:
            values["plot_area_m2"] = area
        if irrigated is not None:
            values["irrigated"] = irrigated
        values["pests"] = pests
        observe(session, form, project, values, observed_on=day)
    # a draft counts in no indicator
    observe(session, form, world.project_lso, {"plot": "demo", "harvest_kg": 9e4}, status="draft")
    session.commit()
    detach(session)
    return world


# The module's world, built once per backend and put back before each test: its tests only
# read it (tests/conftest.py seeded_module).
db_url, world = seeded_module(_build)


def _feed(client: TestClient, world: World, role: str, path: str, **params: str) -> Any:
    response = client.get(BASE + path, headers=world.auth(role), params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", ["hq", "officer_lso"])
def test_every_result_indicator_equals_the_indicator_api_by_project_and_month(
    client: TestClient, world: World, role: str
) -> None:
    definitions = {
        d["code"]: d
        for d in client.get("/api/v1/indicators", headers=world.auth(role)).json()
        if d["kind"] == "result"
    }
    assert sorted(definitions) == sorted(RESULT_CODES)
    every = _feed(client, world, role, "IndicatorValues")["value"]
    assert {r["Indicator"] for r in every} >= set(RESULT_CODES)
    for code in RESULT_CODES:
        api = client.get(
            f"/api/v1/indicators/{code}/values",
            headers=world.auth(role),
            params={"group_by": "project,period:month"},
        ).json()["rows"]
        assert api, code
        expected = {
            (r["project"], r["period"]): None if r["value"] is None else float(r["value"])
            for r in api
        }
        rows = _feed(
            client, world, role, "IndicatorValues", **{"$filter": f"Indicator eq '{code}'"}
        )
        got = {(r["ProjectCode"], r["Month"][:7]): r["Value"] for r in rows["value"]}
        assert got == expected, code
        assert [r for r in every if r["Indicator"] == code] == rows["value"]
        aggregate = definitions[code]["aggregate"]
        for row in rows["value"]:
            assert row["Unit"] == definitions[code]["unit"]
            assert row["Additive"] is (aggregate in ADDITIVE) is definitions[code]["additive"]
            # one by its key, as a client follows it
            key = f"Indicator='{code}',ProjectCode='{row['ProjectCode']}',Month={row['Month']}"
            one = _feed(client, world, role, f"IndicatorValues({key})")
            assert {k: v for k, v in one.items() if not k.startswith("@")} == row
    countries = {r["Country"] for r in every}
    assert countries == ({"LSO"} if role == "officer_lso" else {"LSO", "KEN"})


def test_a_form_published_at_run_time_adds_its_indicators_at_the_next_request(
    client: TestClient, session: Session, world: World
) -> None:
    before = _feed(client, world, "hq", "IndicatorValues", **{"$filter": "Indicator eq 'T_LATE'"})
    assert before["value"] == []
    late = make_form(
        session,
        code="T_LATE_FORM",
        indicators=[
            {
                "code": "T_LATE",
                "name": {"en": "Late"},
                "unit": "kg",
                "aggregate": "sum",
                "field": "harvest_kg",
            }
        ],
    )
    observe(session, late, world.project_ken, {"plot": "demo", "harvest_kg": 12.5})
    session.commit()
    detach(session)
    after = _feed(client, world, "hq", "IndicatorValues", **{"$filter": "Indicator eq 'T_LATE'"})
    assert [
        (r["ProjectCode"], r["Month"], r["Value"], r["Unit"], r["Additive"]) for r in after["value"]
    ] == [(world.project_ken.code, "2025-03-01", 12.5, "kg", True)]


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("Indicator eq 'A'", {"A"}),
        ("Indicator in ('A','B') and Value gt 1", {"A", "B"}),
        ("Indicator eq 'A' or Indicator eq 'B'", {"A", "B"}),
        ("Indicator in ('A','B') and (Indicator eq 'B' or Indicator eq 'C')", {"B"}),
        ("Indicator eq 'A' or Value gt 1", None),
        ("Indicator ne 'A'", None),
        ("Value gt 1", None),
    ],
)
def test_only_the_indicators_a_filter_names_are_computed(
    text: str, wanted: set[str] | None
) -> None:
    found = values_of(parse_filter(text, INDICATOR_VALUES.types), "Indicator")
    assert found == (None if wanted is None else frozenset(wanted))
