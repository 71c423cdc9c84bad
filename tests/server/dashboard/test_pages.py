"""Every page renders for the people who may see it, shows their scope's numbers (the same as
the indicators API), stays light, and reads in French too."""

from __future__ import annotations

import math
import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.dashboard import charts, targets
from server.dashboard.i18n import Translator
from server.dashboard.web import STATIC_DIR
from server.db import write_engine
from server.projects.models import Project, Target
from server.records.models import AuditEntry, Change
from server.results.forms import ensure_shipped_forms
from server.results.shipped import SHIPPED_FORMS
from shared.typography import TypedNumberError, read_typed_number
from tests.factories import make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only, token_for
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
def test_the_achievement_table_names_each_project_and_period_once(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get("/overview").text)
    rows = re.findall(r'<th scope="row">([^<]*)<', html)
    year = str(world.today.year)
    assert f"{world.lso.code} · {year}" in rows, rows
    assert not [r for r in rows if f"{year} ({year})" in r], rows


def test_the_overview_shows_this_quarter_against_the_last_and_four_charts(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get("/overview").text)
    for label in ("Activities", "Participants", "Women&#39;s share", "Farmer trainings"):
        assert f'<p class="kpi-label">{label}</p>' in html
    assert html.count('<figure class="chart"') == 4
    for key in ("activities-by-month", "participants-by-sex-age", "women-share", "achievement"):
        assert f'id="chart-{key}"' in html
    # Each chart drawn twice, for a wide box and a phone's (the box's width picks one).
    assert html.count('class="chart-wide"') == html.count('class="chart-narrow"') == 4
    assert html.count("<svg") == 8
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
    # An unknown country is said next to the filter (400), not shown as "All countries"
    # without a word; two countries are one too many, not the last of them.
    for query, said in (
        ("country=ZZZ", "This is not one of the allowed choices."),
        ("country=LSO&country=ETH", "Choose one country."),
    ):
        response = client.get(f"/overview?{query}")
        assert response.status_code == 400, query
        html = main_of(response.text)
        assert f'<p class="field-error" id="country-error">{said}</p>' in html, query
        assert 'aria-describedby="country-error"' in html and 'role="alert"' in html
    # HQ sees every country: one without a pilot yet is shown, empty, not refused
    malawi = client.get("/overview?country=MWI")
    assert malawi.status_code == 200 and "<h1>Malawi</h1>" in main_of(malawi.text)


def test_an_officer_is_told_another_countrys_overview_is_not_theirs(
    officer: TestClient, world: World
) -> None:
    response = officer.get("/overview?country=ETH")
    assert response.status_code == 400
    html = main_of(response.text)
    assert (
        '<p class="field-error" id="country-error">This is outside your projects or countries.</p>'
        in html
    )
    assert "ETH-CPP-CLIMATE" not in html and "Ethiopia" not in html.split("<select")[0]
    officer.cookies.set("pilotmon_lang", "fr")
    french = main_of(officer.get("/overview?country=ETH&country=LSO").text)
    assert "Choisissez un seul pays." in french


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
    assert "Maseru demonstration plot" in html and "−29.3160" in html and "27.4860" in html
    assert 'id="chart-sites"' in html
    # The activity list, filterable by status.
    assert "Seed potato storage demonstration" in html
    approved = main_of(officer.get(f"/projects/{world.lso.id}?status=approved").text)
    assert "Seed potato storage demonstration" not in approved
    assert "pill-approved" in approved
    odd = officer.get(f"/projects/{world.lso.id}?status=<nonsense>")
    # an unknown status shows every activity, and says so above the list
    assert odd.status_code == 400
    assert "Seed potato storage demonstration" in main_of(odd.text)
    assert "a status the page does not know" in main_of(odd.text)


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
    assert "Reached the server over 30 days after it ended" in html  # the data-quality flag
    # … and, in other words, that it arrived after its quarter was closed
    assert '<span class="pill pill-late">Arrived after closing</span>' in html
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


# --- setting targets and baselines on the project page (docs/results.md#dashboard-results) ------


def _achievement(html: str, name: str, period: str) -> tuple[str, str, str]:
    """The targets table's row of ``name`` in ``period``: target, actual, achieved (as shown)."""
    found = re.search(
        rf'<th scope="row">{name}</th><td>{period}</td><td class="num">([^<]*)</td>'
        r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>',
        html,
    )
    assert found is not None, f"no row for {name} in {period}"
    return found.group(1), found.group(2), found.group(3).replace("\u00a0", " ")


def _target_post(client: TestClient, path: str, **data: str) -> Response:
    return client.post(
        path, data={"csrf_token": token_for(client, "/tokens"), **data}, follow_redirects=True
    )


def _saved(engine: Engine, project: Project) -> list[tuple[str, str, str, str | None, float]]:
    with Session(engine) as reader:
        return sorted(
            (t.indicator, t.kind, t.period, t.sex, t.value)
            for t in reader.exec(select(Target).where(Target.project_id == project.id))
        )


def test_an_officer_sets_changes_and_removes_a_target_and_sees_the_achievement(
    officer: TestClient, engine: Engine, world: World
) -> None:
    project = world.lso
    url = f"/projects/{project.id}"
    month = world.submitted[0].start_date.strftime("%Y-%m")  # a demonstration 3 days ago
    page = main_of(officer.get(url).text)
    assert f'action="/projects/{project.id}/targets#set-targets"' in page
    assert f'<option value="{month}">' in page  # the project's months, years and quarters
    assert '<option value="PARTICIPANTS" data-by-sex>Participants</option>' in page
    assert 'value="TARGET_ACHIEVEMENT"' not in page and 'value="COUNTRIES_REACHED"' not in page
    before = _saved(engine, project)

    added = _target_post(
        officer,
        f"{url}/targets",
        indicator="DEMONSTRATIONS",
        kind="target",
        period=month,
        sex="",
        value="2",
    )
    assert added.status_code == 200 and added.url.path == url
    html = main_of(added.text)
    # the month as the period picker writes it ("Jun 2027"), not its code
    shown = Translator("en").month(world.submitted[0].start_date)
    assert "Set the target of Demonstrations, " + shown + ": 2." in html
    target, actual, achieved = _achievement(html, "Demonstrations", month)
    assert target == "2" and int(actual) >= 1
    assert achieved == f"{100 * int(actual) / 2:.0f} %"
    with Session(engine) as reader:
        saved = reader.exec(select(Target).where(Target.period == month)).one()
    assert (saved.indicator, saved.kind, saved.value, saved.sex) == (
        "DEMONSTRATIONS",
        "target",
        2,
        None,
    )

    changed = _target_post(officer, f"{url}/targets/{saved.id}", value="4")
    html = main_of(changed.text)
    assert "Changed Demonstrations, " + shown + " to 4." in html
    assert _achievement(html, "Demonstrations", month) == (
        "4",
        actual,
        f"{100 * int(actual) / 4:.0f} %",
    )

    removed = _target_post(officer, f"{url}/targets/{saved.id}/delete")
    html = main_of(removed.text)
    assert "Removed the target of Demonstrations, " + shown + "." in html
    assert f"<td>{month}</td>" not in html
    assert _saved(engine, project) == before
    with Session(engine) as reader:
        trail = reader.exec(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "target", AuditEntry.entity_id == str(saved.id))
            .order_by(col(AuditEntry.id))
        ).all()
        ops = reader.exec(
            select(Change.op, Change.version)
            .where(Change.entity_id == saved.id)
            .order_by(col(Change.seq))
        ).all()
    assert trail == ["create", "update", "delete"]
    assert [tuple(o) for o in ops] == [("upsert", 1), ("upsert", 2), ("delete", 3)]


def test_an_officer_sets_changes_and_removes_a_baseline(
    officer: TestClient, engine: Engine, session: Session, world: World
) -> None:
    from tests.server.dashboard.test_results import CODE, add_results

    # a yield indicator, baseline 9 000 (last year but one), target 18 000 (last year)
    year = add_results(session, world).year
    own = make_observation_form(session, project=world.eth, code="T_ETH_OWN")
    own.indicators = [{"code": "T_ETH_ONLY", "name": {"en": "Ethiopia only"}, "aggregate": "count"}]
    session.commit()
    project = world.lso
    url = f"/projects/{project.id}"
    page = main_of(officer.get(url).text)
    # the form offers the project's result indicators by name (not another project's own)
    assert f'<option value="{CODE}" data-baseline>Dashboard yield</option>' in page
    assert "T_ETH_ONLY" not in page
    before = str(project.start_date.year - 1)  # "before the project", for baselines
    assert f'<option value="{before}">{before}</option>' in page

    added = _target_post(
        officer, f"{url}/targets", indicator=CODE, kind="baseline", period=before, value="8000"
    )
    assert "Set the baseline of Dashboard yield, " + before + ": 8,000." in main_of(added.text)
    with Session(engine) as reader:
        rows = {
            t.period: t
            for t in reader.exec(
                select(Target).where(Target.indicator == CODE, Target.kind == "baseline")
            )
        }
    assert rows[before].value == 8000
    # the baseline in force in the results' year (the year before's) changes on the results card
    changed = _target_post(officer, f"{url}/targets/{rows[str(year - 1)].id}", value="9500")
    assert "baseline 9,500" in main_of(changed.text)
    removed = _target_post(officer, f"{url}/targets/{rows[before].id}/delete")
    assert "Removed the baseline of Dashboard yield, " + before + "." in main_of(removed.text)
    assert [(t[1], t[2], t[4]) for t in _saved(engine, project) if t[0] == CODE] == [
        ("baseline", str(year - 1), 9500),
        ("target", str(year), 18000),
    ]


@sqlite_only
def test_only_those_who_may_set_targets_see_the_form_or_can_post(
    client: TestClient, engine: Engine, world: World
) -> None:
    project, eth = world.lso, world.eth
    with Session(engine) as reader:
        mine = reader.exec(select(Target).where(Target.project_id == project.id)).first()
        theirs = reader.exec(select(Target).where(Target.project_id == eth.id)).one()
    assert mine is not None
    body = {"indicator": "TRAININGS", "kind": "target", "period": "2026Q1", "value": "3"}
    for person in (world.hq, world.expert):
        sign_in(client, engine, person)
        page = main_of(client.get(f"/projects/{project.id}").text)
        assert "Targets and actuals" in page and "/targets" not in page
        for path, data in (
            (f"/projects/{project.id}/targets", body),
            (f"/projects/{project.id}/targets/{mine.id}", {"value": "1"}),
            (f"/projects/{project.id}/targets/{mine.id}/delete", {}),
        ):
            refused = _target_post(client, path, **data)
            assert refused.status_code == 403, (person.username, path)
            assert "Nothing was changed." in refused.text
    sign_in(client, engine, world.officer)
    for path in (
        f"/projects/{eth.id}/targets",  # another country's project
        f"/projects/{eth.id}/targets/{theirs.id}",
        f"/projects/{project.id}/targets/{theirs.id}",  # its target under this project
        f"/projects/{project.id}/targets/{theirs.id}/delete",
    ):
        assert _target_post(client, path, **body).status_code == 404, path
    with Session(engine) as reader:
        assert reader.get(Target, theirs.id) is not None and reader.get(Target, mine.id) == mine


@sqlite_only
def test_every_problem_of_a_target_shows_next_to_its_field_and_nothing_is_saved(
    officer: TestClient, engine: Engine, world: World
) -> None:
    project = world.lso
    url = f"/projects/{project.id}/targets"
    before = _saved(engine, project)
    after_end = str(project.end_date.year + 1)

    def errors(response: Response) -> dict[str, str]:
        return dict(
            re.findall(r'<p class="field-error" id="([\w-]+)-error">([^<]+)</p>', response.text)
        )

    # an unknown indicator, a period after the project, a negative value: all at once
    response = _target_post(
        officer, url, indicator="NO_SUCH", kind="target", period=after_end, value="-3"
    )
    assert response.status_code == 422
    end = Translator("en").date(project.end_date)
    start = Translator("en").date(project.start_date)
    assert errors(response) == {
        "indicator": "Choose one of this project’s indicators.",
        "period": f"Choose a period within the project’s dates, {start} to {end}.",
        "value": "Type a number from 0 to 1,000,000,000,000.",
    }
    html = response.text
    assert "Nothing was saved: check the fields marked below." in html
    assert f'<option value="{after_end}"' not in html  # not offered; typed back as posted
    assert 'name="value" value="-3"' in html

    # not a number, a sex for an indicator not counted by sex; a baseline of activities
    response = _target_post(
        officer,
        url,
        indicator="ACTIVITIES",
        kind="baseline",
        period="2026",
        sex="female",
        value="lots",
    )
    assert response.status_code == 422
    assert errors(response) == {
        "value": "Type a number, like 1,234.5.",
        "sex": "This indicator is not counted by sex: choose “Everyone”.",
        "kind": "Baselines are for result indicators only: set a target for this indicator.",
    }
    html = response.text
    assert (
        '<option value="ACTIVITIES" selected>' in html
        and '<option value="female" selected>' in html
    )
    assert '<option value="baseline" selected>' in html and 'name="value" value="lots"' in html

    # a second target for the same key: the API's conflict, said next to the period
    year = str(world.today.year)
    response = _target_post(
        officer, url, indicator="ACTIVITIES", kind="target", period=year, value="5"
    )
    assert response.status_code == 409
    assert errors(response) == {
        "period": "This project already has a target for this indicator, period and sex: change "
        "its value in the list below instead."
    }
    # a share above 100
    response = _target_post(officer, url, indicator="WOMEN_SHARE", period="2026Q2", value="120")
    assert errors(response) == {"value": "Type a number from 0 to 100."}
    # a result indicator in % above 100: the storage check's loss (a shipped form)
    with Session(write_engine(engine)) as writer:
        ensure_shipped_forms(writer, SHIPPED_FORMS)
        writer.commit()
    response = _target_post(
        officer, url, indicator="LOSS_PCT", kind="baseline", period="2026", value="400"
    )
    assert errors(response) == {"value": "Type a number from 0 to 100."}

    # a value changed to nothing, to a word, below zero, too large
    with Session(engine) as reader:
        target = reader.exec(
            select(Target).where(Target.project_id == project.id, Target.indicator == "TRAININGS")
        ).one()
    for typed, message in (
        ("", "Type a value."),
        ("ten", "Type a number, like 1,234.5."),
        ("-1", "Type a number from 0 to 1,000,000,000,000."),
        ("1e13", "Type a number, like 1,234.5."),
        ("10000000000000", "Type a number from 0 to 1,000,000,000,000."),
    ):
        response = _target_post(officer, f"{url}/{target.id}", value=typed)
        assert response.status_code == 422, typed
        assert errors(response) == {f"v-{target.id}": message}, typed
        assert f'id="v-{target.id}" name="value" value="{typed}"' in response.text
    assert _saved(engine, project) == before


@sqlite_only
def test_a_target_is_typed_in_the_readers_number_format(
    officer: TestClient, engine: Engine, world: World
) -> None:
    officer.cookies.set("pilotmon_lang", "fr")
    url = f"/projects/{world.lso.id}"
    page = main_of(officer.get(url).text)
    assert "Fixer une cible ou une référence de départ" in page
    assert "Par exemple 1\u202f234,5" in page
    # A count of participants is a whole number: 1 234,5 is refused, in French, and not saved.
    fields = {"indicator": "PARTICIPANTS", "kind": "target", "period": "2026Q2", "sex": "female"}
    refused = _target_post(officer, f"{url}/targets", **fields, value="1 234,5")
    assert refused.status_code == 422
    assert (
        'id="value-error">Cet indicateur est un comptage\u202f: saisissez un nombre entier, '
        "par exemple 1\u202f234.</p>" in refused.text
    )
    response = _target_post(officer, f"{url}/targets", **fields, value="1 234")
    assert "1\u202f234" in main_of(response.text)
    with Session(engine) as reader:
        saved = reader.exec(select(Target).where(Target.period == "2026Q2")).one()
    assert (saved.value, saved.sex) == (1234.0, "female")
    # Expert days may be halves: 1 234,5 is read as typed
    _target_post(
        officer, f"{url}/targets", indicator="EXPERT_DAYS", period="2026Q2", value="1 234,5"
    )
    with Session(engine) as reader:
        days = reader.exec(select(Target).where(Target.indicator == "EXPERT_DAYS")).one()
    assert days.value == 1234.5
    # changed with a decimal point, which French readers type too
    _target_post(officer, f"{url}/targets/{days.id}", value="1500.25")
    with Session(engine) as reader:
        assert reader.get(Target, days.id).value == 1500.25  # type: ignore[union-attr]
    # and a count's row changed to a fraction is refused next to it
    refused = _target_post(officer, f"{url}/targets/{saved.id}", value="1500,5")
    assert refused.status_code == 422
    assert f'id="v-{saved.id}-error">Cet indicateur est un comptage' in refused.text
    with Session(engine) as reader:
        assert reader.get(Target, saved.id).value == 1234.0  # type: ignore[union-attr]


@sqlite_only
def test_a_french_point_that_may_group_thousands_is_refused_and_both_readings_shown(
    officer: TestClient, engine: Engine, world: World
) -> None:
    # "1.234" was saved as 1.234 here and as 1234 by the tablet: neither is guessed now.
    officer.cookies.set("pilotmon_lang", "fr")
    url = f"/projects/{world.lso.id}"
    before = _saved(engine, world.lso)
    unclear = (
        "Pas clair\u202f: saisissez 1\u202f234 pour un nombre entier, ou 1,234 pour un "
        "nombre décimal."
    )
    fields = {"indicator": "EXPERT_DAYS", "kind": "target", "period": "2026Q2"}
    refused = _target_post(officer, f"{url}/targets", **fields, value="1.234")
    assert refused.status_code == 422
    assert f'id="value-error">{unclear}</p>' in refused.text
    assert 'name="value" value="1.234"' in refused.text  # kept as typed
    with Session(engine) as reader:
        target = reader.exec(
            select(Target).where(Target.project_id == world.lso.id, Target.indicator == "TRAININGS")
        ).one()
    refused = _target_post(officer, f"{url}/targets/{target.id}", value="−12.345")
    assert refused.status_code == 422
    assert (
        f'id="v-{target.id}-error">Pas clair\u202f: saisissez \u221212\u202f345 pour un nombre '
        "entier, ou \u221212,345 pour un nombre décimal.</p>"
    ) in refused.text
    assert _saved(engine, world.lso) == before
    # Written either way, or with a keypad's point that groups nothing, it is read.
    _target_post(officer, f"{url}/targets/{target.id}", value="1 234")
    with Session(engine) as reader:
        assert reader.get(Target, target.id).value == 1234  # type: ignore[union-attr]
    _target_post(officer, f"{url}/targets", **fields, value="2.5")
    with Session(engine) as reader:
        days = reader.exec(select(Target).where(Target.indicator == "EXPERT_DAYS")).one()
    assert days.value == 2.5


@sqlite_only
def test_a_mark_another_language_writes_a_decimal_with_is_refused_with_the_decimal_shown(
    officer: TestClient, engine: Engine, world: World
) -> None:
    url = f"/projects/{world.lso.id}"
    with Session(engine) as reader:
        target = reader.exec(
            select(Target).where(Target.project_id == world.lso.id, Target.indicator == "TRAININGS")
        ).one()
    for language, typed, message in (
        ("en", "2,5", "Unclear: type 2.5 for a decimal, or group thousands by three."),
        (
            "es",
            "2.5",
            "Poco claro: escriba 2,5 para un número decimal, o agrupe los miles de tres en tres.",
        ),
    ):
        officer.cookies.set("pilotmon_lang", language)
        refused = _target_post(officer, f"{url}/targets/{target.id}", value=typed)
        assert refused.status_code == 422, language
        assert f'id="v-{target.id}-error">{message}</p>' in refused.text, language


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [
        ("en", "1,234.5", 1234.5),
        ("en", "1234.5", 1234.5),
        ("en", "1,23", "1,23"),
        ("fr", "1 234,5", 1234.5),
        ("fr", "1\u202f234,5", 1234.5),
        ("fr", "1234.5", 1234.5),
        ("fr", "1.5", 1.5),
        ("fr", "1.234", "1.234"),  # was 1.234: 1234 on the tablet, and unclear (refused) now
        ("pt", "1.234,5", 1234.5),
        ("es", "1.234", 1234.0),
        ("es", "1.5", "1.5"),
        ("fr", "−2", -2.0),
        ("fr", "  ", None),
        ("en", "nan", "nan"),
        ("en", "1e5", "1e5"),
    ],
)
def test_numbers_are_read_as_typed_in_each_language(
    language: str, typed: str, read: float | str | None
) -> None:
    assert targets.read_number(typed, language) == read


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
@pytest.mark.parametrize(
    "typed",
    ["1.234", "1,234", "1.5", "1,5", "1 234", "1 234,5", "1.234,5", "1,234.5", "0.500", "−2.75"],
)
def test_the_dashboard_reads_a_typed_number_as_the_tablet_does(language: str, typed: str) -> None:
    # The target form read French "1.234" as 1.234 where the tablet read 1234.
    try:
        tablet: object = read_typed_number(typed, language)
    except TypedNumberError:
        tablet = typed  # refused: the dashboard's rules then call it not_number
    assert targets.read_number(typed, language) == tablet
