"""The observations page names a filter it cannot apply, as the API does (400, every problem),
rather than showing "0 observations" with downloads that fail; another country's form or
project reads exactly as an unknown one (docs/results.md#dashboard-results)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import session as cookies
from tests.factories import make_observation_form
from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.world import World


def _shown(html: str) -> str:
    """The page's words, the values echoed into the filters left out."""
    main = main_of(html)
    main = re.sub(r"<option[^>]*>[^<]*</option>", "", main)
    return re.sub(r"(value|href)=\"[^\"]*\"", "", main)


def test_a_filter_the_page_cannot_apply_is_named_and_offers_no_download(
    officer: TestClient, engine: Engine, world: World
) -> None:
    with Session(engine) as session:
        make_observation_form(session, project=world.eth, code="ETH_ONLY_FORM")
        make_observation_form(session, project=world.lso, code="LSO_OWN_FORM")
        session.commit()
    good = officer.get("/observations", params={"form": "LSO_OWN_FORM"})
    assert good.status_code == 200 and "/observations/download?" in good.text

    answers = {}
    for form in ("ETH_ONLY_FORM", "NO_SUCH_FORM"):
        response = officer.get("/observations", params={"form": form})
        assert response.status_code == 400, form
        main = main_of(response.text)
        assert "/observations/download?" not in main and "observations match" not in main
        answers[form] = _shown(response.text).replace(form, "CODE")
    assert answers["ETH_ONLY_FORM"] == answers["NO_SUCH_FORM"]  # nothing told about Ethiopia

    projects = {}
    for project in (str(world.eth.id), world.eth.code, "NO-SUCH-PROJECT"):
        response = officer.get("/observations", params={"project": project})
        assert response.status_code == 400, project
        projects[project] = _shown(response.text).replace(project, "REF")
    assert len(set(projects.values())) == 1

    every = officer.get(
        "/observations",
        params={"form": "NO_SUCH_FORM", "project": "NO-SUCH-PROJECT", "status": "bogus"},
    )
    assert every.status_code == 400
    for name in ("form", "project", "status"):
        assert f'id="{name}-error"' in every.text, name

    officer.cookies.set(cookies.LANGUAGE_COOKIE, "fr")
    french = main_of(officer.get("/observations", params={"status": "bogus"}).text)
    assert "Ces filtres ne peuvent pas être appliqués" in french
