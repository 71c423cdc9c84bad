"""The review queue names a project or country filter it cannot apply, as the observations
page does (a country officer's review: ``/review?project=<typo>``, or another country's
project, showed "0 submitted activities match." under "All", and nothing waited)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.world import World

BANNER = "These filters cannot be applied: check the fields marked below."


def _field_error(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]+)<', html)
    assert found is not None, f"nothing is said next to {field}"
    return found.group(1)


def _selected(html: str, select_id: str) -> list[str]:
    select = html[html.index(f'id="{select_id}"') :]
    select = select[: select.index("</select>")]
    return re.findall(r'<option value="([^"]*)" selected', select)


def test_a_mistyped_project_is_named_not_read_as_an_empty_queue(
    officer: TestClient, world: World
) -> None:
    typo = world.lso.code[:-1]
    response = officer.get(f"/review?project={typo}")
    assert response.status_code == 422
    html = main_of(response.text)
    assert BANNER in html
    assert "submitted activities match" not in html  # not "0 match", as if nothing waited
    assert _field_error(html, "project")
    assert _selected(html, "f-project") == [typo]  # not "All"
    # the rest of what waits is still listed, unfiltered (the filter could not be applied)
    assert "sync conflict to settle" in html


def test_another_countrys_project_and_country_are_outside_the_officers_scope(
    officer: TestClient, world: World
) -> None:
    response = officer.get(f"/review?project={world.eth.code}")
    assert response.status_code == 422
    html = main_of(response.text)
    assert BANNER in html
    assert _field_error(html, "project") == "This is outside your projects or countries."
    response = officer.get("/review?country=ETH")
    html = main_of(response.text)
    assert BANNER in html
    assert _field_error(html, "country") == "This is outside your projects or countries."
    assert _selected(html, "f-country") == ["ETH"]
    officer.cookies.set("pilotmon_lang", "fr")
    html = main_of(officer.get(f"/review?project={world.eth.code}").text)
    assert "Ces filtres ne peuvent pas être appliqués" in html


def test_the_officers_own_project_is_applied_without_a_word(
    officer: TestClient, world: World
) -> None:
    response = officer.get(f"/review?project={world.lso.code}")
    assert response.status_code == 200
    html = main_of(response.text)
    assert BANNER not in html
    assert 'id="project-error"' not in html
    assert _selected(html, "f-project") == [world.lso.code]
