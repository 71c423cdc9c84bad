"""A filter given twice in a page's address (``?country=LSO&country=ETH``: a shared link edited
by hand or built by appending) is never read as one of its values without a word. Where several
make sense (the review queue's countries, projects and types) the page reads them all and shows
the filter holding them; anywhere else the page says so next to that filter, as it shows its
other filter problems, and does not apply it (``server.dashboard.web.query_filters``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.world import World

REPEATED = "Give one value here, not several."


def _rows(html: str) -> list[str]:
    """The titles of the review queue's rows."""
    return re.findall(r'<a class="cell-title" href="/activities/[^"]+">([^<]+)</a>', html)


@pytest.fixture
def hq(client: TestClient, engine: Engine, world: World) -> TestClient:
    """The client, signed in as an HQ analyst: every country."""
    sign_in(client, engine, world.hq)
    return client


# --- several values, where several make sense --------------------------------------------------


def test_the_queue_takes_every_country_given_and_shows_them_chosen(
    hq: TestClient, world: World
) -> None:
    assert world.eth_activity is not None
    lesotho = main_of(hq.get("/review?country=LSO").text)
    assert world.eth_activity.title not in _rows(lesotho)
    for params in ("country=LSO&country=ETH", "country=LSO,ETH", "country=lso&country=ETH"):
        response = hq.get(f"/review?{params}")
        assert response.status_code == 200, params
        html = main_of(response.text)
        rows = _rows(html)
        assert world.eth_activity.title in rows, params
        assert {a.title for a in world.submitted} <= set(rows), params
        assert f"{len(world.submitted) + 1} submitted activities match." in html
        # The select holds both, and says so in words a phone shows too.
        select = re.search(
            r'<select id="f-country" name="country" ([^>]*)>(.*?)</select>', html, re.S
        )
        assert select is not None
        assert "multiple" in select.group(1)
        assert '<option value="LSO" selected>' in select.group(2)
        assert '<option value="ETH" selected>' in select.group(2)
        assert "Several chosen: Ethiopia, Lesotho." in html  # in the options' order


def test_the_queue_takes_every_type_and_project_given(officer: TestClient, world: World) -> None:
    response = officer.get("/review?type=farmer_training&type=field_day")
    assert response.status_code == 200
    html = main_of(response.text)
    assert sorted(_rows(html)) == ["Farmer training on late blight", "Field day at the Leribe plot"]
    assert "2 submitted activities match." in html
    assert '<option value="farmer_training" selected>' in html
    assert '<option value="field_day" selected>' in html
    assert "Several chosen: Farmer training, Field day." in html
    projects = f"/review?project={world.lso.code}&project={world.lso_storage.code}"
    html = main_of(officer.get(projects).text)
    assert set(_rows(html)) == {a.title for a in world.submitted}
    assert f"Several chosen: {world.lso.code}, {world.lso_storage.code}." in html


def test_several_chosen_in_french(hq: TestClient) -> None:
    hq.cookies.set("pilotmon_lang", "fr")
    html = main_of(hq.get("/review?country=LSO&country=ETH").text)
    assert "Plusieurs choisis\u202f: Éthiopie, Lesotho." in html


# --- one value, where one is what the page takes ------------------------------------------------


@dataclass(frozen=True)
class Case:
    path: str
    params: list[tuple[str, str]]
    status: int  # as the page answers its other filter problems
    field: str  # the filter whose error is shown


def _cases(world: World) -> list[Case]:
    project = f"/projects/{world.lso.id}"
    quarter = f"{world.today.year}Q{(world.today.month - 1) // 3 + 1}"
    return [
        Case("/review", [("from", "2026-01-01"), ("from", "2026-02-01")], 422, "from"),
        Case("/review", [("to", "2026-01-01"), ("to", "2026-02-01")], 422, "to"),
        Case("/review", [("q", "blight"), ("q", "potato")], 422, "q"),
        Case("/review", [("late", "1"), ("late", "0")], 422, "late"),
        Case("/observations", [("status", "approved"), ("status", "submitted")], 400, "status"),
        Case("/observations", [("project", world.lso.code), ("project", "X")], 400, "project"),
        Case("/observations", [("form", "A"), ("form", "B")], 400, "form"),
        Case("/observations/download", [("form", "A"), ("form", "B")], 400, "form"),
        Case(
            "/observations/download",
            [("format", "csv"), ("format", "xlsx")],
            400,
            "format",
        ),
        Case("/people", [("role", "admin"), ("role", "field_expert")], 400, "role"),
        Case("/people", [("q", "thabo"), ("q", "lineo")], 400, "q"),
        Case("/forms", [("status", "draft"), ("status", "published")], 400, "status"),
        Case("/forms", [("project", str(world.lso.id)), ("project", "x")], 400, "project"),
        Case(project, [("status", "approved"), ("status", "returned")], 400, "status"),
        Case("/exports", [("country", "LSO"), ("country", "ETH")], 400, "country"),
        Case("/exports/download", [("status", "approved"), ("status", "submitted")], 400, "status"),
        Case("/reports", [("country", "LSO"), ("country", "ETH")], 400, "country"),
        Case(
            "/reports/quarterly.pdf",
            [("quarter", quarter), ("country", "LSO"), ("country", "ETH")],
            400,
            "country",
        ),
        Case(
            "/reports/quarterly.pdf", [("quarter", "2026Q1"), ("quarter", "2026Q2")], 400, "quarter"
        ),
        Case("/overview", [("target", "ACTIVITIES"), ("target", "PARTICIPANTS")], 400, "target"),
        Case("/overview", [("country", "LSO"), ("country", "ETH")], 400, "country"),
    ]


CASES = 21


@pytest.mark.parametrize("index", range(CASES))
def test_a_one_value_filter_given_twice_is_said_next_to_it(
    officer: TestClient, world: World, index: int
) -> None:
    cases = _cases(world)
    assert len(cases) == CASES  # each case is a test of its own
    case = cases[index]
    response = officer.get(case.path, params=case.params)
    where = f"{case.path} {case.params}"
    assert response.status_code == case.status, where
    assert response.headers["content-type"].startswith("text/html"), where  # a page, no file
    assert "content-disposition" not in response.headers, where
    html = main_of(response.text)
    error = re.search(rf'<p class="field-error" id="{case.field}-error"[^>]*>([^<]+)</p>', html)
    assert error is not None, where
    assert error.group(1) in (
        REPEATED,
        "Choose one country.",  # the overview's own words for its one country
        "This address gives the status more than once: every status is listed. Choose one above.",
    ), where
    # No other field is blamed: the other values were each given once.
    assert len(re.findall(r'class="field-error" id="', html)) == 1, where


def test_the_same_value_twice_is_that_value(officer: TestClient, world: World) -> None:
    for path, params in (
        ("/review", "from=2026-01-01&from=2026-01-01"),
        ("/observations", "status=approved&status=approved"),
        ("/people", "role=admin&role=admin"),
        ("/forms", "status=draft&status=draft"),
        (f"/projects/{world.lso.id}", "status=approved&status=approved"),
        ("/exports", "country=LSO&country=LSO"),
        ("/reports", "country=LSO&country=LSO"),
        ("/overview", "country=LSO&country=lso"),
    ):
        response = officer.get(f"{path}?{params}")
        assert response.status_code == 200, (path, params)
        assert "field-error" not in main_of(response.text), (path, params)


def test_the_repeated_filter_is_not_applied_and_the_page_says_which(
    officer: TestClient, world: World
) -> None:
    """The page answers without the refused filter, never with one of its values: the
    project's activities of every status, and the address's problem above the list."""
    assert world.returned is not None
    response = officer.get(f"/projects/{world.lso.id}?status=approved&status=returned")
    html = main_of(response.text)
    assert world.returned.title in html and world.approved[0].title in html
    people = main_of(officer.get("/people?role=admin&role=field_expert").text)
    assert world.expert.username in people and world.officer.username in people
    pages = main_of(officer.get("/exports?country=LSO&country=ETH").text)
    assert "choose one where it is marked below" in pages
    assert "Nothing was downloaded" not in pages  # the page was opened, nothing asked for yet
