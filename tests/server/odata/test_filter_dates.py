"""Dates in the OData feed's ``$filter`` the feed cannot read (year 0000, years before 1000,
a time past 9999 once in UTC) are a 400 ``bad_filter`` in OData's shape that says the date is
out of range, never a 500 or "unexpected"; far dates it reads are answered. A date alone
compared with a date and time (``UpdatedAt ge 2026-01-01``) is a 400 ``datetime_expected``
that names the property and the literal to write, never midnight UTC guessed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from tests.conftest import seeded_url, seeded_world
from tests.factories import World, detach, make_observation_form

ODATA = "http://testserver/api/v1/odata/"


def _answer(client: TestClient) -> TestClient:
    """The app's own answer to a crash (a 500), not the test client's re-raise."""
    return TestClient(client.app, raise_server_exceptions=False)


def _build(session: Session) -> World:
    world = World(session)
    make_observation_form(
        session,
        code="CROP",
        fields=[{"name": "harvest_date", "type": "date", "label": {"en": "Harvest date"}}],
    )
    session.commit()
    detach(session)
    return world


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database holding the module's world, built once per backend."""
    return seeded_url(request, tmp_path, _build)


@pytest.fixture
def feed(
    request: pytest.FixtureRequest, client: TestClient, engine: Engine
) -> tuple[TestClient, tuple[str, str]]:
    world: World = seeded_world(request, engine)
    made = client.post("/api/v1/tokens", json={"name": "Excel"}, headers=world.auth("hq"))
    assert made.status_code == 201, made.text
    return _answer(client), (world.users["hq"].username, made.json()["token"])


@pytest.mark.parametrize(
    ("entity_set", "condition"),
    [
        ("Activities", "StartDate ge 0000-01-01"),
        ("Activities", "StartDate ge 0000-02-30"),
        ("Activities", "StartDate ge 0001-01-01"),
        ("Activities", "StartDate in (2025-01-01, 0000-01-01)"),
        ("Activities", "UpdatedAt ge 0000-01-01T00:00:00Z"),
        ("Activities", "UpdatedAt ge 0999-12-31T23:59:59Z"),
        ("Observations_CROP", "harvest_date ge 0001-01-01"),
        ("Observations_CROP", "harvest_date ge 0000-01-01"),
    ],
)
def test_a_filter_on_a_date_before_year_1000_is_out_of_range(
    feed: tuple[TestClient, tuple[str, str]], entity_set: str, condition: str
) -> None:
    client, auth = feed
    response = client.get(ODATA + entity_set, auth=auth, params={"$filter": condition})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("bad_filter", "$filter")
    literal = re.search(r"\b0\d{3}-\S+?(?=\)|$)", condition)
    assert literal is not None
    # the literal and its place, as the feed's other bad_filter messages name them
    assert f"{literal[0]} at position {literal.start() + 1} is out of range" in error["message"]


@pytest.mark.parametrize(
    ("entity_set", "condition"),
    [
        ("Activities", "StartDate ge 1000-01-01"),
        ("Activities", "StartDate le 9999-12-31"),
        ("Activities", "UpdatedAt le 9999-12-31T23:59:59Z"),
        ("Activities", "UpdatedAt ge 1000-01-01T00:30:00+01:00"),
        ("Observations_CROP", "harvest_date ge 1950-01-01"),
    ],
)
def test_a_filter_on_a_far_date_the_feed_reads_is_answered(
    feed: tuple[TestClient, tuple[str, str]], entity_set: str, condition: str
) -> None:
    """A filter compares: a date long before or after the data is a question with an answer
    (a form's date field may allow years before 2000), not a refusal."""
    client, auth = feed
    response = client.get(ODATA + entity_set, auth=auth, params={"$filter": condition})
    assert response.status_code == 200, response.text


def test_a_time_past_year_9999_once_in_utc_is_out_of_range(
    feed: tuple[TestClient, tuple[str, str]],
) -> None:
    client, auth = feed
    condition = "UpdatedAt le 9999-12-31T23:59:59-05:00"
    response = client.get(ODATA + "Activities", auth=auth, params={"$filter": condition})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("bad_filter", "$filter")
    assert "out of range" in error["message"], error["message"]


def test_year_0000_in_a_filter_is_no_longer_a_crash_anywhere_in_the_words(
    feed: tuple[TestClient, tuple[str, str]],
) -> None:
    client, auth = feed
    for condition in ("StartDate ge 0000-13-45", "StartDate eq 0000-02-29", "0000-01-01"):
        response = client.get(ODATA + "Activities", auth=auth, params={"$filter": condition})
        assert response.status_code == 400, (condition, response.text)
        assert response.json()["error"]["code"] == "bad_filter"
    ok = client.get(ODATA + "Activities", auth=auth, params={"$filter": "StartDate ge 2025-01-01"})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("entity_set", "condition", "prop"),
    [
        ("Activities", "UpdatedAt ge 2026-01-01", "UpdatedAt"),
        ("Activities", "2026-01-01 lt SubmittedAt", "SubmittedAt"),
        ("Activities", "Title ne 'x' and SubmittedAt eq 2026-01-01", "SubmittedAt"),
        ("Activities", "SubmittedAt in (2026-01-02T00:00:00Z, 2026-01-01)", "SubmittedAt"),
        ("Projects", "UpdatedAt le 2026-01-01", "UpdatedAt"),
        ("Sites", "UpdatedAt gt 2026-01-01", "UpdatedAt"),
        ("Observations_CROP", "CapturedAt lt 2026-01-01", "CapturedAt"),
        ("Observations_CROP", "CreatedAt ge 2026-01-01", "CreatedAt"),
    ],
)
def test_a_date_alone_compared_with_a_date_and_time_is_refused_with_the_literal_to_write(
    feed: tuple[TestClient, tuple[str, str]], entity_set: str, condition: str, prop: str
) -> None:
    # It was read as midnight UTC without a word: hours off for an analyst elsewhere, where
    # OData defines no such comparison (its promotions are between numbers only).
    client, auth = feed
    response = client.get(ODATA + entity_set, auth=auth, params={"$filter": condition})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("datetime_expected", "$filter")
    message = error["message"]
    assert message.startswith(f"{prop} is a date and time (Edm.DateTimeOffset)"), message
    assert "2026-01-01 alone is no instant" in message, message
    assert "2026-01-01T00:00:00Z" in message and "2026-01-01T00:00:00+02:00" in message, message


@pytest.mark.parametrize(
    "condition",
    [
        "UpdatedAt ge 2026-01-01T00:00:00Z",
        "UpdatedAt ge 2026-01-01T00:00:00+02:00",
        "StartDate ge 2026-01-01",  # an Edm.Date takes a date
        "SubmittedAt eq null",
    ],
)
def test_a_date_and_time_or_a_date_for_a_date_is_answered(
    feed: tuple[TestClient, tuple[str, str]], condition: str
) -> None:
    client, auth = feed
    response = client.get(ODATA + "Activities", auth=auth, params={"$filter": condition})
    assert response.status_code == 200, response.text
