"""The IATI file's parameters are read once, as the indicator values read them: every bad one
is named in one 400 beside what the good ones' own checks find (a country outside the caller's
scope, a project it does not know), and no file starts (docs/indicators.md)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import World

URL = "/api/v1/exports/iati.xml"


def _problems(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.text
    assert "content-disposition" not in response.headers
    return {e["field"]: e["code"] for e in response.json()["detail"]}


def test_an_unknown_project_and_a_bad_status_are_named_together(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = client.get(f"{URL}?project=NOPE&status=bad", headers=world.auth("admin"))
    problems = _problems(response)
    assert problems == {"project": "out_of_scope", "status": "unknown_code"}
    assert "NOPE" in next(
        e["message"] for e in response.json()["detail"] if e["field"] == "project"
    )


def test_every_parameter_bad_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    params = {
        "country": "KEN",  # a country, but not the Lesotho officer's
        "project": "NOPE",
        "from": "2025-03-01",
        "to": "2025-01-01",
        "status": "approved,bad",
        "period_type": "weekly",
    }
    problems = _problems(client.get(URL, params=params, headers=world.auth("officer_lso")))
    assert problems == {
        "country": "out_of_scope",
        "project": "out_of_scope",  # none of that code in its scope
        "to": "end_before_start",
        "status": "unknown_code",
        "period_type": "unknown_code",
    }
    # an unknown country is its own problem, not a scope's; the dates' order is not judged
    # when one of them is not a date
    params |= {"country": "XXX", "from": "yesterday"}
    problems = _problems(client.get(URL, params=params, headers=world.auth("officer_lso")))
    assert problems == {
        "country": "unknown_code",
        "project": "out_of_scope",
        "from": "bad_date",
        "status": "unknown_code",
        "period_type": "unknown_code",
    }
    # with the bad ones put right, the file is made
    response = client.get(
        URL,
        params={"country": "LSO", "from": "2025-01-01", "to": "2025-03-31"},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 200, response.text
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
