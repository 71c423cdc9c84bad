"""A form sent with the token of an earlier session (the reader signed out and in again in
another tab) is refused under a heading that says so: a country officer's review found
"You do not have access to this" above "This form had expired… reload the page"."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World

HEADINGS = {
    "en": "This form has expired",
    "fr": "Ce formulaire a expiré",
    "pt": "Este formulário expirou",
    "es": "Este formulario ha caducado",
}


@sqlite_only
@pytest.mark.parametrize("language", sorted(HEADINGS))
def test_an_approval_from_a_page_of_an_earlier_session_says_the_form_expired(
    officer: TestClient, engine: Engine, world: World, language: str
) -> None:
    stale = token_for(officer, "/review")  # the first tab's page
    sign_in(officer, engine, world.officer)  # signed out and in again in another tab
    officer.cookies.set("pilotmon_lang", language)
    response = officer.post(
        "/review/approve",
        data={"csrf_token": stale, "only": str(world.submitted[0].id), "next": "/review"},
    )
    assert response.status_code == 403
    html = main_of(response.text)
    heading = re.search(r"<h1>([^<]+)</h1>", html)
    assert heading is not None and heading.group(1) == HEADINGS[language]
