"""The indicator API: catalogue, values, the 400s that name what is wrong, and scope by role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from shared.indicators import INDICATORS
from tests.conftest import seeded_module
from tests.factories import World

URL = "/api/v1/indicators"


def _world(session: Session) -> World:
    return World(session)


# The module's world, built once per backend and put back before each test: its tests only
# read it (tests/conftest.py seeded_module).
db_url, world = seeded_module(_world)


def _values(client: TestClient, world: World, who: str, code: str, **params: str) -> dict:
    response = client.get(f"{URL}/{code}/values", params=params, headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_catalogue_lists_every_indicator(client: TestClient, world: World) -> None:
    response = client.get(URL, headers=world.auth("expert_lso"))
    assert response.status_code == 200
    body = {i["code"]: i for i in response.json()}
    assert list(body) == list(INDICATORS)
    assert "sex" in body["PARTICIPANTS"]["group_by"]
    assert "sex" not in body["ACTIVITIES"]["group_by"]
    assert body["WOMEN_SHARE"]["unit"] == "percent"


def test_everything_needs_a_token(client: TestClient, world: World) -> None:
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}/ACTIVITIES/values").status_code == 401


def test_values_shape(client: TestClient, world: World) -> None:
    body = _values(client, world, "hq", "PARTICIPANTS", group_by="country,period:quarter,sex")
    assert body["indicator"] == "PARTICIPANTS"
    assert body["as_of"]
    assert body["rows"] == [
        {"country": "KEN", "period": "2025Q1", "sex": "female", "value": 12},
        {"country": "KEN", "period": "2025Q1", "sex": "male", "value": 8},
        {"country": "LSO", "period": "2025Q1", "sex": "female", "value": 12},
        {"country": "LSO", "period": "2025Q1", "sex": "male", "value": 8},
    ]


def test_thematic_area_comes_from_the_topic(client: TestClient, world: World) -> None:
    body = _values(client, world, "hq", "WOMEN_SHARE", group_by="thematic_area,solution")
    assert body["rows"] == [
        {"thematic_area": "TA1", "solution": "S1", "value": 60.0},
        {"thematic_area": "TA2", "solution": "S4", "value": 60.0},
    ]


SCOPES = {
    "hq": {"KEN", "LSO"},
    "admin": {"KEN", "LSO"},
    "officer_lso": {"LSO"},
    "officer_ken": {"KEN"},
    "expert_ken": {"KEN"},
}


def test_scope_by_role(client: TestClient, world: World) -> None:
    for who, countries in SCOPES.items():
        body = _values(client, world, who, "ACTIVITIES", group_by="country")
        assert {r["country"] for r in body["rows"]} == countries, who
        total = _values(client, world, who, "PARTICIPANTS")["rows"]
        assert total == [{"value": 20 * len(countries)}], who
        targets = _values(client, world, who, "TARGET_ACHIEVEMENT", group_by="country")["rows"]
        assert {r["country"] for r in targets} == countries, who


def test_an_officer_cannot_name_another_countrys_project(client: TestClient, world: World) -> None:
    response = client.get(
        f"{URL}/ACTIVITIES/values",
        params={"project": world.project_ken.code},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "project"


@pytest.mark.parametrize(
    ("who", "countries", "outside"),
    [
        ("officer_lso", "KEN", "KEN"),
        ("officer_lso", "lso,ken", "KEN"),
        ("expert_ken", "LSO", "LSO"),
    ],
)
def test_a_country_outside_the_callers_scope_is_refused_not_answered_with_nothing(
    client: TestClient, world: World, who: str, countries: str, outside: str
) -> None:
    # Lesotho's officer asking for Kenya got 200 with no rows: "Kenya: nothing", which reads
    # as a real answer. A country filter is checked against the caller's scope like a project.
    for code in ("ACTIVITIES", "TARGET_ACHIEVEMENT"):
        response = client.get(
            f"{URL}/{code}/values", params={"country": countries}, headers=world.auth(who)
        )
        assert response.status_code == 400, response.text
        [detail] = response.json()["detail"]
        assert (detail["field"], detail["code"]) == ("country", "out_of_scope")
        assert outside in detail["message"]
    own = "LSO" if who == "officer_lso" else "KEN"
    mine = client.get(f"{URL}/ACTIVITIES/values", params={"country": own}, headers=world.auth(who))
    assert mine.status_code == 200 and mine.json()["rows"] == [{"value": 1}]
    everything = client.get(
        f"{URL}/ACTIVITIES/values", params={"country": "KEN,LSO"}, headers=world.auth("hq")
    )
    assert everything.status_code == 200 and everything.json()["rows"] == [{"value": 2}]


def test_target_achievement(client: TestClient, world: World) -> None:
    body = _values(client, world, "hq", "TARGET_ACHIEVEMENT", group_by="project")
    assert body["rows"] == sorted(
        [
            {
                "project": world.project_lso.code,
                "indicator": "PARTICIPANTS",
                "period": "2025",
                "sex": None,
                "target": 500,
                "actual": 20,
                "value": 4.0,
            },
            {
                "project": world.project_ken.code,
                "indicator": "PARTICIPANTS",
                "period": "2025",
                "sex": None,
                "target": 300,
                "actual": 20,
                "value": 6.67,
            },
        ],
        key=lambda r: str(r["project"]),
    )
    overall = _values(client, world, "hq", "TARGET_ACHIEVEMENT")["rows"]
    assert overall == [
        {
            "indicator": "PARTICIPANTS",
            "period": "2025",
            "sex": None,
            "target": 800,
            "actual": 40,
            "value": 5.0,
        }
    ]


BAD_REQUESTS = [
    ("ACTIVITIES", {"group_by": "sex"}, "group_by", "not_applicable"),
    ("COUNTRIES_REACHED", {"group_by": "country,age_band"}, "group_by", "not_applicable"),
    ("PARTICIPANTS", {"group_by": "country,colour"}, "group_by", "unknown_code"),
    ("PARTICIPANTS", {"group_by": "period:month,period:year"}, "group_by", "too_many"),
    ("PARTICIPANTS", {"country": "XXX"}, "country", "unknown_code"),
    ("PARTICIPANTS", {"modality": "Z"}, "modality", "unknown_code"),
    ("PARTICIPANTS", {"from": "2025-13-01"}, "from", "bad_date"),
    ("PARTICIPANTS", {"from": "2025-06-01", "to": "2025-01-01"}, "to", "end_before_start"),
    ("PARTICIPANTS", {"status": "lost"}, "status", "unknown_code"),
    ("PARTICIPANTS", {"sex": "female"}, "sex", "unknown_field"),
    ("TARGET_ACHIEVEMENT", {"group_by": "period:year"}, "group_by", "not_applicable"),
    ("TARGET_ACHIEVEMENT", {"modality": "T"}, "modality", "not_applicable"),
    ("ACTIVITIES", {"project": "LSO\x00CPP"}, "project", "control_character"),
    ("ACTIVITIES", {"project": "NO-SUCH-PROJECT"}, "project", "out_of_scope"),
]


def test_bad_requests_name_the_field_and_its_code(client: TestClient, world: World) -> None:
    for code, params, field, error in BAD_REQUESTS:
        response = client.get(f"{URL}/{code}/values", params=params, headers=world.auth("hq"))
        assert response.status_code == 400, (code, params, response.text)
        detail = response.json()["detail"]
        assert any(d["field"] == field and d["code"] == error for d in detail), detail


def test_unknown_indicator_is_404(client: TestClient, world: World) -> None:
    response = client.get(f"{URL}/HAPPINESS/values", headers=world.auth("hq"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "ACTIVITIES" in response.json()["detail"]  # the English lists the indicators
