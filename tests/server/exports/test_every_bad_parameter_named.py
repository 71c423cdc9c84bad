"""Every bad parameter of a report or export is named in one 400 (docs/indicators.md): the IATI
file's unknown project beside its bad status, and the summary's country list is told that the
summary takes one country, not that "LSO,KEN" is an unknown country."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import World


def _problems(response: Any) -> dict[str, tuple[str, str]]:
    assert response.status_code == 400, response.text
    return {e["field"]: (e["code"], e["message"]) for e in response.json()["detail"]}


def test_iati_names_an_unknown_project_beside_a_bad_status(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = client.get(
        "/api/v1/exports/iati.xml",
        params={"project": "NOPE", "status": "bad", "period_type": "weekly"},
        headers=world.auth("admin"),
    )
    problems = _problems(response)
    assert set(problems) == {"project", "status", "period_type"}
    assert "NOPE" in problems["project"][1]
    assert "content-disposition" not in response.headers
    # a country outside the officer's scope beside bad dates
    response = client.get(
        "/api/v1/exports/iati.xml",
        params={"country": "KEN", "from": "yesterday"},
        headers=world.auth("officer_lso"),
    )
    assert {f: c for f, (c, _) in _problems(response).items()} == {
        "country": "out_of_scope",
        "from": "bad_date",
    }


def test_the_summary_says_it_takes_one_country(client: TestClient, session: Session) -> None:
    world = World(session)
    response = client.get(
        "/api/v1/reports/summary",
        params={"period": "2025", "country": "LSO,KEN"},
        headers=world.auth("admin"),
    )
    code, message = _problems(response)["country"]
    assert code == "invalid"
    assert "one country" in message
    assert "unknown country" not in message
    response = client.get(
        "/api/v1/reports/summary",
        params={"period": "2025", "country": "XXX"},
        headers=world.auth("admin"),
    )
    assert _problems(response)["country"][0] == "unknown_code"
    response = client.get(
        "/api/v1/reports/summary",
        params={"period": "2025", "country": "LSO"},
        headers=world.auth("admin"),
    )
    assert response.status_code == 200, response.text
