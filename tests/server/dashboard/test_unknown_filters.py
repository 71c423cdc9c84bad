"""A one-value filter whose value the page does not know (``/people?role=boss``, an address
edited by hand or shared from another version) is named next to the filter and not applied,
never dropped without a word as if no filter had been given (``web.refuse_unknown``)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from server.dashboard.session import LANGUAGE_COOKIE
from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.world import World

UNKNOWN = "This is not one of the allowed choices."
STATUS = (
    "This address gives a status the page does not know: every status is listed. Choose one above."
)


def _error(html: str, field: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>([^<]+)</p>', html)
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("path", "query", "field", "words"),
    [
        ("/people", "role=boss", "role", UNKNOWN),
        ("/forms", "status=archived", "status", UNKNOWN),
        ("/forms", "project=not-a-project", "project", UNKNOWN),
        ("/projects/{lso}", "status=finished", "status", STATUS),
    ],
)
def test_an_unknown_value_is_named_next_to_its_filter(
    officer: TestClient, world: World, path: str, query: str, field: str, words: str
) -> None:
    response = officer.get(f"{path.format(lso=world.lso.id)}?{query}")
    assert response.status_code == 400, query
    html = main_of(response.text)
    assert _error(html, field) == words
    assert len(re.findall(r'class="field-error" id="', html)) == 1  # nothing else blamed


def test_the_unknown_filter_is_not_applied_and_is_said_in_french(
    officer: TestClient, world: World
) -> None:
    assert world.returned is not None
    people = main_of(officer.get("/people?role=boss").text)
    assert world.expert.username in people and world.officer.username in people  # no filter
    project = main_of(officer.get(f"/projects/{world.lso.id}?status=finished").text)
    assert world.returned.title in project and world.approved[0].title in project
    officer.cookies.set(LANGUAGE_COOKIE, "fr")
    french = main_of(officer.get("/people?role=boss").text)
    assert _error(french, "role") == "Ce n’est pas l’un des choix possibles."
    # a known value is still read
    known = officer.get("/people?role=field_expert")
    assert known.status_code == 200 and _error(main_of(known.text), "role") is None
