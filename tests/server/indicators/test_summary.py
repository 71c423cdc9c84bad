"""The HQ summary: headline numbers by country and thematic area equal the naive computation."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.activities.service import write_activity
from server.columns import utcnow
from server.projects.models import Participant, Target
from tests.conftest import seeded_module
from tests.factories import World, activity_data, detach
from tests.server.indicators import naive

SUMMED = (
    "ACTIVITIES",
    "DEMONSTRATIONS",
    "TRAININGS",
    "EXPERT_DAYS",
    "PARTICIPANTS",
    "WOMEN_PARTICIPANTS",
    "YOUTH_PARTICIPANTS",
    "PWD_PARTICIPANTS",
    "WOMEN_SHARE",
    "UNIQUE_PARTICIPANTS",
    "COUNTRIES_REACHED",
)
Q3 = {"date_from": date(2025, 7, 1), "date_to": date(2025, 9, 30)}


def _world(session: Session) -> World:
    found = World(session)
    session.add_all([found.project_lso, found.project_ken])
    people = [
        Participant(project_id=found.project_lso.id, code=f"QR-{n}", sex=s, birth_year=1990)
        for n, s in enumerate(("female", "male", "female"))
    ]
    session.add_all(people)
    session.flush()
    rows = [
        (found.project_lso, "2025-07-03", "farmer_training", "S1.T1", [0, 1]),
        (found.project_lso, "2025-08-11", "expert_deployment", "S7.T2", [1, 2]),
        (found.project_lso, "2025-10-01", "demonstration", None, [2]),  # Q4: outside
        (found.project_ken, "2025-09-30", "demonstration", "S4.T2", None),
        (found.project_ken, "2025-07-15", "workshop", None, None),
    ]
    for project, day, kind, topic, roster in rows:
        write_activity(
            session,
            data=activity_data(
                project,
                start_date=day,
                end_date=day,
                type=kind,
                topic=topic,
                participant_ids=[str(people[i].id) for i in roster] if roster else None,
                attendance=[
                    {
                        "sex": "female",
                        "age_band": "youth",
                        "category": "farmer",
                        "disability": kind == "workshop",
                        "count": 9,
                    },
                    {
                        "sex": "male",
                        "age_band": "adult",
                        "category": "farmer",
                        "disability": False,
                        "count": 4,
                    },
                ],
            ),
            existing=None,
            source="api",
            author_id=None,
            status="approved",
        )
    session.add_all(
        [
            Target(
                project_id=found.project_lso.id, indicator="TRAININGS", period="2025Q3", value=4
            ),
            Target(
                project_id=found.project_ken.id, indicator="WOMEN_SHARE", period="2025-07", value=50
            ),
            Target(
                project_id=found.project_lso.id,
                indicator="PARTICIPANTS",
                period="2025-08",
                value=26,
                sex="female",
            ),
        ]
    )
    session.commit()
    detach(session)
    return found


# The module's world, built once per backend and put back before each test: its tests only
# read it (tests/conftest.py seeded_module).
db_url, world = seeded_module(_world)


def test_summary_equals_the_naive_computation(
    client: TestClient, world: World, session: Session
) -> None:
    response = client.get(
        "/api/v1/reports/summary", params={"period": "2025Q3"}, headers=world.auth("hq")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"]) == ("2025-07-01", "2025-09-30")
    records = naive.load(session)
    for code in SUMMED:
        by_country = naive.values(records, code, ("country",), **Q3)
        by_area = naive.values(records, code, ("thematic_area",), **Q3)
        total = naive.values(records, code, (), **Q3)
        assert {r["country"]: r[code] for r in body["by_country"]} == {
            k[0]: v for k, v in by_country.items()
        }, code
        assert {r["thematic_area"]: r[code] for r in body["by_thematic_area"]} == {
            k[0]: v for k, v in by_area.items()
        }, code
        assert body["totals"][code] == total[()], code
    targets = naive.target_values(
        records, ("country",), date_from=Q3["date_from"], date_to=Q3["date_to"]
    )
    got = {
        (r["country"], t["indicator"], t["period"], t["sex"]): t["achievement"]
        for r in body["by_country"]
        for t in r["targets"]
    }
    assert got == {k: v[2] for k, v in targets.items()}
    assert got[("LSO", "TRAININGS", "2025Q3", None)] == 25.0
    lso = next(r for r in body["by_country"] if r["country"] == "LSO")
    assert (lso["name"], lso["region"]) == ("Lesotho", "RBJ")
    ta3 = next(r for r in body["by_thematic_area"] if r["thematic_area"] == "TA3")
    assert ta3["name"].startswith("Disaster Risk Reduction")


def test_summary_is_scoped_and_filterable(client: TestClient, world: World) -> None:
    mine = client.get(
        "/api/v1/reports/summary", params={"period": "2025"}, headers=world.auth("officer_ken")
    ).json()
    assert [r["country"] for r in mine["by_country"]] == ["KEN"]
    assert mine["totals"]["COUNTRIES_REACHED"] == 1
    one = client.get(
        "/api/v1/reports/summary",
        params={"period": "2025-07", "country": "lso"},
        headers=world.auth("hq"),
    ).json()
    assert [r["country"] for r in one["by_country"]] == ["LSO"]
    assert one["totals"]["ACTIVITIES"] == 1


def test_an_officer_asking_for_another_country_is_refused(client: TestClient, world: World) -> None:
    # Kenya's officer asking for Lesotho got a summary of zeros, as if Lesotho had done nothing;
    # the quarterly report of another country is 403 out_of_scope (docs/roles.md), so is this.
    response = client.get(
        "/api/v1/reports/summary",
        params={"period": "2025", "country": "LSO"},
        headers=world.auth("officer_ken"),
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "out_of_scope"
    assert "LSO" in response.json()["detail"]
    own = client.get(
        "/api/v1/reports/summary",
        params={"period": "2025", "country": "ken"},
        headers=world.auth("officer_ken"),
    )
    assert own.status_code == 200
    assert [r["country"] for r in own.json()["by_country"]] == ["KEN"]


def test_a_quarter_in_lower_case_is_the_quarter(client: TestClient, world: World) -> None:
    # "2025q3" was 400 bad_period here while `pilotmon report --quarter 2025q3` and the
    # dashboard's report take it: the same quarter, written as an analyst types it.
    upper, lower = (
        client.get("/api/v1/reports/summary", params={"period": p}, headers=world.auth("hq"))
        for p in ("2025Q3", " 2025q3 ")
    )
    assert lower.status_code == 200, lower.text
    assert lower.json()["period"] == "2025Q3"
    assert {k: v for k, v in lower.json().items() if k != "as_of"} == {
        k: v for k, v in upper.json().items() if k != "as_of"
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "Q3-2025"}, "period"),
        ({"period": "2025", "country": "ZZZ"}, "country"),
        ({"period": "2025", "status": "gone"}, "status"),
    ],
)
def test_summary_bad_parameters(
    client: TestClient, world: World, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/reports/summary", params=params, headers=world.auth("hq"))
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == field


def test_a_period_that_has_not_begun_is_refused(client: TestClient, world: World) -> None:
    """2030Q1 has nothing to sum yet: 400 in_future on period (as the quarterly report), with
    the other problems; the current quarter, begun, is answered."""
    today = utcnow().date()
    future = f"{today.year + 1}Q1"
    for period in (future, str(today.year + 1), f"{today.year + 1}-01"):
        response = client.get(
            "/api/v1/reports/summary", params={"period": period}, headers=world.auth("hq")
        )
        assert response.status_code == 400, response.text
        [problem] = response.json()["detail"]
        assert (problem["field"], problem["code"]) == ("period", "in_future"), period
    both = client.get(
        "/api/v1/reports/summary",
        params={"period": future, "country": "ZZZ"},
        headers=world.auth("hq"),
    )
    assert {(e["field"], e["code"]) for e in both.json()["detail"]} == {
        ("period", "in_future"),
        ("country", "unknown_code"),
    }
    now = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    assert (
        client.get(
            "/api/v1/reports/summary", params={"period": now}, headers=world.auth("hq")
        ).status_code
        == 200
    )


def test_a_period_of_an_implausible_year_is_refused_not_summed_as_zeros(
    client: TestClient, world: World
) -> None:
    # 0001Q1 and 1999 answered 200 with zeros, which reads "nothing happened then".
    for period, code in (("0001Q1", "date_implausible"), ("1999", "date_implausible")):
        response = client.get(
            "/api/v1/reports/summary", params={"period": period}, headers=world.auth("hq")
        )
        assert response.status_code == 400, response.text
        assert [(p["field"], p["code"]) for p in response.json()["detail"]] == [("period", code)]
        targets = client.get("/api/v1/targets", params={"period": period}, headers=world.auth("hq"))
        assert targets.status_code == 400, targets.text
        assert [(p["field"], p["code"]) for p in targets.json()["detail"]] == [("period", code)]


def test_the_targets_list_refuses_an_indicator_it_does_not_know(
    client: TestClient, world: World
) -> None:
    # ?indicator=NOPE answered an empty list, which reads "no targets for it".
    headers = world.auth("hq")
    refused = client.get("/api/v1/targets", params={"indicator": "NOPE"}, headers=headers)
    assert refused.status_code == 400, refused.text
    assert [(p["field"], p["code"]) for p in refused.json()["detail"]] == [
        ("indicator", "unknown_code")
    ]
    both = client.get(
        "/api/v1/targets", params={"indicator": "NOPE", "period": "banana"}, headers=headers
    )
    assert {p["field"] for p in both.json()["detail"]} == {"indicator", "period"}
    for code in ("PARTICIPANTS", "participants"):
        known = client.get("/api/v1/targets", params={"indicator": code}, headers=headers)
        assert known.status_code == 200, known.text
