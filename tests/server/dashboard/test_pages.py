"""Every page renders for the people who may see it, shows their scope's numbers (the same as
the indicators API), stays light, and reads in French too."""

from __future__ import annotations

import math
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import charts
from server.dashboard.i18n import Translator
from server.dashboard.web import STATIC_DIR
from server.projects.models import Target
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only
from tests.server.dashboard.world import World

PAGE_BUDGET = 150 * 1024  # bytes of HTML, CSS and JS, photos aside


def pages(world: World) -> dict[str, str]:
    return {
        "overview": "/overview",
        "projects": "/projects",
        "project": f"/projects/{world.lso.id}",
        "review": "/review",
        "activity": f"/activities/{world.late.id if world.late else ''}",
        "tablets": "/tablets",
        "people": "/people",
        "person": f"/people/{world.expert.id}",
    }


def test_every_page_renders_and_stays_under_the_weight_budget(
    officer: TestClient, world: World
) -> None:
    assets = sum(
        len((STATIC_DIR / name).read_bytes())
        for name in ("dashboard.css", "dashboard.js", "favicon.svg")
    )
    for name, path in pages(world).items():
        response = officer.get(path)
        assert response.status_code == 200, (name, response.text[-400:])
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert len(response.content) + assets < PAGE_BUDGET, name
        # Everything the page loads is ours: no CDN, no other host.
        for ref in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            assert ref.startswith(("/", "#")), (name, ref)


@sqlite_only
def test_static_files_are_served_from_our_own_path(client: TestClient) -> None:
    for name, kind in (
        ("dashboard.css", "text/css"),
        ("dashboard.js", "javascript"),
        ("favicon.svg", "image/svg+xml"),
    ):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert client.get("/static/../routes.py").status_code == 404


@sqlite_only
def test_the_overview_shows_this_quarter_against_the_last_and_four_charts(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get("/overview").text)
    for label in ("Activities", "Participants", "Women&#39;s share", "Farmer trainings"):
        assert f'<p class="kpi-label">{label}</p>' in html
    assert html.count('<figure class="chart"') == 4
    for key in ("activities-by-month", "participants-by-sex-age", "women-share", "achievement"):
        assert f'id="chart-{key}"' in html
    assert html.count("<svg") == 4
    assert html.count('<details class="chart-data">') == 4  # a table behind each chart
    # Lesotho's officer sees Lesotho only: the Ethiopian project is nowhere.
    assert "LSO-CPP-POTATO" in html
    assert "ETH-CPP-CLIMATE" not in html
    assert "Drought-tolerant teff trial" not in html
    assert "Waiting for review" in html and "Seed potato storage demonstration" in html


@sqlite_only
def test_headline_numbers_equal_the_indicators_api(
    officer: TestClient, engine: Engine, world: World
) -> None:
    from server.dashboard.service import add_months, quarter_label, quarter_start

    this_quarter = quarter_start(world.today)
    start = add_months(this_quarter, -3).isoformat()
    api = TestClient(officer.app)
    sign_in(api, engine, world.officer)
    token = api.cookies.get("pilotmon_session")
    answer = api.get(
        "/api/v1/indicators/ACTIVITIES/values",
        params={"group_by": "period:quarter", "from": start},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    by_period = {r["period"]: r["value"] for r in answer.json()["rows"]}
    html = main_of(officer.get("/overview").text)
    shown = re.search(
        r'<p class="kpi-label">Activities</p>\s*<p class="kpi-value">([\d,]+)</p>', html
    )
    assert shown is not None
    assert int(shown.group(1).replace(",", "")) == by_period.get(quarter_label(this_quarter), 0)


def test_hq_sees_every_country_and_can_pick_one(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.hq)
    html = main_of(client.get("/overview").text)
    assert "All countries" in html
    assert '<option value="ETH"' in html and '<option value="LSO"' in html
    projects = client.get("/projects").text
    assert "ETH-CPP-CLIMATE" in projects and "LSO-CPP-POTATO" in projects
    lesotho = main_of(client.get("/overview?country=LSO").text)
    assert "<h1>Lesotho</h1>" in lesotho
    assert "ETH-CPP-CLIMATE" not in lesotho
    # An unknown country is ignored, not an error.
    assert client.get("/overview?country=ZZZ").status_code == 200


def test_a_field_expert_sees_only_their_projects(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.expert)
    projects = main_of(client.get("/projects").text)
    assert "LSO-CPP-POTATO" in projects and "LSO-DAA-STORE" in projects
    assert "ETH-CPP-CLIMATE" not in projects
    queue = client.get("/review").text
    assert "Approve selected" not in queue  # experts read; officers review
    assert client.get(f"/projects/{world.eth.id}").status_code == 404


@sqlite_only
def test_the_project_page_has_targets_sites_and_activities(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get(f"/projects/{world.lso.id}").text)
    assert "<h1>Potato value chain pilot</h1>" in html
    assert 'id="chart-project-achievement"' in html
    assert 'id="chart-target-activities-all-year"' in html  # yearly and quarterly apart
    assert 'id="chart-target-activities-all-quarter"' in html
    # The targets table: every target with its period, value and achievement.
    assert html.count('<th scope="row">Activities</th>') >= 2
    assert str(world.today.year) in html
    # Sites with their coordinates, on a small map too.
    assert "Maseru demonstration plot" in html and "-29.3160" in html and "27.4860" in html
    assert 'id="chart-sites"' in html
    # The activity list, filterable by status.
    assert "Seed potato storage demonstration" in html
    approved = main_of(officer.get(f"/projects/{world.lso.id}?status=approved").text)
    assert "Seed potato storage demonstration" not in approved
    assert "pill-approved" in approved
    odd = officer.get(f"/projects/{world.lso.id}?status=<nonsense>")
    assert odd.status_code == 200  # an unknown status shows every activity


@sqlite_only
def test_the_activity_page_shows_every_field_and_the_attendance_totals(
    officer: TestClient, world: World
) -> None:
    assert world.late is not None
    html = main_of(officer.get(f"/activities/{world.late.id}").text)
    assert "<h1>Cooperative marketing workshop</h1>" in html
    for label in (
        "Project",
        "Site",
        "Type",
        "Dates",
        "Topic",
        "Modality",
        "Level",
        "Delivery",
        "Value-chain stage",
        "Facilitators",
        "Experts",
        "GPS location",
        "Roster participants",
        "Notes",
        "Captured on the tablet",
        "Submitted",
    ):
        assert f"<dt>{label}</dt>" in html, label
    assert "Mr Chen, Ms Mokoena" in html
    # 9 women and 15 men: the table totals them and gives the women's share.
    assert '<td class="num"><strong>9</strong></td>' in html
    assert '<td class="num"><strong>15</strong></td>' in html
    assert "24 participants · women's share 37.5 %" in html.replace("\u00a0", " ")
    assert "Reported late" in html  # the data-quality flag
    assert "pill-late" in html
    assert "Version 1" in html  # the history


@sqlite_only
def test_pages_read_in_french(client: TestClient, engine: Engine, world: World) -> None:
    sign_in(client, engine, world.officer)
    client.cookies.set("pilotmon_lang", "fr")
    expected = {
        "overview": "Activités par mois et par domaine thématique",
        "projects": "Projets",
        "project": "Cibles et réalisations",
        "review": "File de validation",
        "activity": "Participation",
        "tablets": "Tablettes enregistrées",
        "people": "Ajouter une personne",
        "person": "Définir un nouveau mot de passe",
    }
    for name, path in pages(world).items():
        response = client.get(path)
        assert response.status_code == 200, name
        assert '<html lang="fr">' in response.text
        assert expected[name] in response.text, name


@sqlite_only
@pytest.mark.parametrize("path", ["/activities/not-a-uuid", "/projects/123", "/tablets/xyz/revoke"])
def test_malformed_ids_get_a_page_not_a_crash(officer: TestClient, path: str) -> None:
    response = officer.get(path)
    assert response.status_code in (404, 405)
    assert response.headers["content-type"].startswith(("text/html", "application/json"))


def test_a_mistyped_address_gets_a_page_with_the_way_back_but_the_api_keeps_json(
    officer: TestClient,
) -> None:
    page = officer.get("/overveiw", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in page.text
    assert 'href="/overview"' in page.text

    api = officer.get("/api/v1/nothing-here", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found", "code": "not_found"}
    script = officer.get("/overveiw")  # a script that asks for nothing in particular
    assert script.status_code == 404
    assert script.json() == {"detail": "Not Found", "code": "not_found"}


@pytest.mark.parametrize("value", [1e30, 1.7e308])
def test_pages_with_an_absurd_target_still_render(
    client: TestClient, engine: Engine, session: Session, world: World, value: float
) -> None:
    # A target typed with too many zeros (1e30) made the project page and the overview answer
    # 500: the numbers formatter could not round it, and the chart's scale overflowed.
    session.add(Target(project_id=world.lso.id, indicator="ACTIVITIES", period="2025", value=value))
    session.commit()
    sign_in(client, engine, world.officer)
    for path in (f"/projects/{world.lso.id}", "/overview?target=ACTIVITIES"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert Translator("fr").number(value)  # written some way, never an exception
    assert all(math.isfinite(t) for t in charts.nice_ticks(value))
