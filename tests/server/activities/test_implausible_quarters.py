"""Closing a quarter of an implausible year (0000Q1, 0001Q1, 1999Q4, 2101Q1) is refused at
``period``, as a target's period is (``date_implausible``): never a 500, and never a quarter
closed for ever by a typo (a closed quarter cannot be reopened, docs/roles.md)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.activities.models import ClosedPeriod
from tests.factories import World, rows


def _answer(client: TestClient) -> TestClient:
    """The app's own answer to a crash (a 500), not the test client's re-raise."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("period", "code"),
    [
        ("0000Q1", "date_implausible"),
        ("0001Q1", "date_implausible"),
        ("1999Q4", "date_implausible"),
        ("2101Q1", "date_implausible"),
        ("\u0662\u0660\u0662\u0665Q1", "bad_period"),  # 2025Q1 in Arabic-Indic digits
        ("2025Q1\n", "bad_period"),
    ],
)
def test_closing_a_quarter_of_an_implausible_year_is_refused_at_period(
    client: TestClient, session: Session, period: str, code: str
) -> None:
    world = World(session)
    response = _answer(client).post(
        "/api/v1/periods/close",
        json={"country": "LSO", "period": period},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    assert [(e["field"], e["code"]) for e in body["detail"]] == [("period", code)]
    assert rows(session, select(ClosedPeriod)) == []


def test_an_implausible_quarter_is_named_with_the_other_problems(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = _answer(client).post(
        "/api/v1/periods/close",
        json={"country": "XXX", "period": "0000Q1"},
        headers=world.auth("admin"),
    )
    assert response.status_code == 422, response.text
    found = [(e["field"], e["code"]) for e in response.json()["detail"]]
    assert found == [("country", "unknown_code"), ("period", "date_implausible")]
