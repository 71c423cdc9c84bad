"""A country officer's quarterly report is of one of their countries or all of them; a
region's or a thematic area's is for HQ analysts and admins (docs/results.md#quarterly-report):
asked by an officer, it is the dashboard's 403 page, not a PDF titled with the region."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.test_report import needs_pdf
from tests.server.dashboard.test_report_bounds import _words
from tests.server.dashboard.world import World


@pytest.mark.parametrize(
    "scope",
    [{"region": "RBN"}, {"region": "RBJ"}, {"thematic_area": "TA1"}, {"region": "XX"}],
)
def test_a_country_officer_gets_no_report_of_a_region_or_a_thematic_area(
    officer: TestClient, world: World, scope: dict[str, str]
) -> None:
    """A country officer reports on one of their countries or all of them: a region's report
    (their own region's included) or an area's would be titled with what it does not hold.
    Neither is theirs to choose, a code they could not know included (their form offers
    neither, so it would have nowhere to be said)."""
    quarter = "2025Q3"
    response = officer.get("/reports/quarterly.pdf", params={"quarter": quarter, **scope})
    assert response.status_code == 403
    assert "application/pdf" not in response.headers["content-type"]
    assert _words("forbidden") in html.unescape(main_of(response.text))


@needs_pdf
def test_a_country_officer_still_gets_their_country_and_all_of_theirs(
    officer: TestClient, world: World
) -> None:
    for scope in ({"country": "LSO"}, {}):
        response = officer.get("/reports/quarterly.pdf", params={"quarter": "2025Q3", **scope})
        assert response.status_code == 200, (scope, response.text[:500])
        assert response.headers["content-type"] == "application/pdf"
