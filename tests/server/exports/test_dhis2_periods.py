"""The DHIS2 export refuses a period of an implausible year (0000, 0000Q1, 0000-01, 0001,
1999-12, 2101Q1) at ``period`` with a 400 (``date_implausible``), never a 500, beside the
request's other problems."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import World

DHIS2 = "/api/v1/exports/dhis2/dataValueSets.json"


def _answer(client: TestClient) -> TestClient:
    """The app's own answer to a crash (a 500), not the test client's re-raise."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("period", "code"),
    [
        ("0000", "date_implausible"),
        ("0000Q1", "date_implausible"),
        ("0000-01", "date_implausible"),
        ("0001", "date_implausible"),
        ("1999-12", "date_implausible"),
        ("2101Q1", "date_implausible"),
        ("2025Q5", "bad_period"),
    ],
)
def test_the_dhis2_export_refuses_an_implausible_period(
    client: TestClient, session: Session, period: str, code: str
) -> None:
    world = World(session)
    response = _answer(client).get(DHIS2, params={"period": period}, headers=world.auth("hq"))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code
    assert [(e["field"], e["code"]) for e in body["detail"]] == [("period", code)]


def test_the_dhis2_export_names_an_implausible_period_with_the_other_problems(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = _answer(client).get(
        DHIS2,
        params={"period": "0000", "period_type": "weekly", "indicators": "NOPE"},
        headers=world.auth("hq"),
    )
    assert response.status_code == 400, response.text
    found = {(e["field"], e["code"]) for e in response.json()["detail"]}
    assert found == {
        ("period", "date_implausible"),
        ("period_type", "unknown_code"),
        ("indicators", "unknown_code"),
    }


def test_the_dhis2_export_still_sends_a_plausible_period(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    for period in ("2000", "2025Q1", "2100-12"):
        response = client.get(DHIS2, params={"period": period}, headers=world.auth("hq"))
        assert response.status_code == 200, (period, response.text)
