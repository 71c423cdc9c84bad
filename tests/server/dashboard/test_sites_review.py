"""A site added on a tablet waits for a country officer, who approves or rejects it on the
dashboard: on the project page's Sites card or on the Review page (docs/product.md: Site). The
decision goes through the API's write path; roles, scope, CSRF and a site already decided are
refused with nothing changed."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.dashboard.session import LANGUAGE_COOKIE
from server.db import write_engine
from server.projects import service as projects_service
from server.projects.models import Project, Site
from server.records.models import AuditEntry, Change
from tests.server.dashboard.conftest import fresh, main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World

NAME = "Roma valley plot"


def _field_site(engine: Engine, world: World, project: Project | None = None) -> Site:
    """A site the Lesotho field expert added on a tablet: pending (as POST /api/v1/sites)."""
    project = project or world.lso
    expert = Caller(user=world.expert, project_ids=frozenset({world.lso.id, world.lso_storage.id}))
    with Session(write_engine(engine), expire_on_commit=False) as writer:
        site = projects_service.create_site(
            writer,
            caller=expert,
            data={
                "project_id": str(project.id),
                "name": NAME,
                "admin_area": "Maseru",
                "lat": -29.45,
                "lon": 27.72,
            },
        )
        writer.commit()
        writer.expunge(site)
    assert site.status == "pending"
    return site


def _decide(
    client: TestClient, site: Site, action: str, *, page: str, token: str | None = None
) -> Response:
    return client.post(
        f"/sites/{site.id}/review",
        data={
            "csrf_token": token if token is not None else token_for(client, page),
            "action": action,
            "next": page,
        },
        follow_redirects=False,
    )


def _history(engine: Engine, site_id: uuid.UUID) -> tuple[list[int], list[str]]:
    """The site's versions in the change log tablets pull, and its audit entries' actions."""
    with Session(engine) as reader:
        versions = list(
            reader.exec(
                select(Change.version)
                .where(Change.entity == "site", Change.entity_id == site_id)
                .order_by(col(Change.seq))
            )
        )
        actions = list(
            reader.exec(
                select(AuditEntry.action)
                .where(AuditEntry.entity == "site", AuditEntry.entity_id == str(site_id))
                .order_by(col(AuditEntry.id))
            )
        )
    return versions, actions


def test_an_officer_approves_a_site_on_the_project_page(
    officer: TestClient, engine: Engine, world: World
) -> None:
    site = _field_site(engine, world)
    path = f"/projects/{world.lso.id}"
    card = main_of(officer.get(path).text).split('id="sites"')[1]
    assert f'{NAME} <span class="pill pill-returned">Pending approval</span>' in card
    assert "1 waiting for approval" in card
    assert f'action="/sites/{site.id}/review"' in card
    assert card.count('name="action" value="approve"') == 1  # only the pending site
    assert ">pending<" not in card

    response = _decide(officer, site, "approve", page=f"{path}#sites")
    assert response.status_code == 303, response.text[-500:]
    assert response.headers["location"] == f"{path}#sites"
    now = fresh(engine, Site, site.id)
    assert (now.status, now.version) == ("approved", 2)
    # The API's write path: a new version in the change log tablets pull, and its audit entry.
    assert _history(engine, site.id) == ([1, 2], ["create", "approve"])

    html = main_of(officer.get(path).text)
    card = html.split('id="sites"')[1].split("</section>")[0]
    assert "Approved the site “Roma valley plot”." in card  # said where the page opens
    assert "Approved the site" not in html.split('id="sites"')[0]
    assert "Pending approval" not in card and f'action="/sites/{site.id}/review"' not in card
    assert "waiting for approval" not in card


def test_an_officer_rejects_a_site_on_the_review_page(
    officer: TestClient, engine: Engine, world: World
) -> None:
    site = _field_site(engine, world)
    html = main_of(officer.get("/review").text)
    assert 'id="pending-sites"' in html
    section = html.split('id="pending-sites"')[1].split("</section>")[0]
    assert "1 site waiting for approval" in section
    assert NAME in section and world.lso.code in section and "Maseru" in section
    assert world.expert.username in section  # who added it
    assert f'action="/sites/{site.id}/review"' in section
    # placed above the queue's filters, where an officer sees it first
    assert html.index('id="pending-sites"') < html.index('class="filters"')

    response = _decide(officer, site, "reject", page="/review#pending-sites")
    assert response.status_code == 303
    assert response.headers["location"] == "/review#pending-sites"
    now = fresh(engine, Site, site.id)
    assert (now.status, now.version) == ("rejected", 2)
    assert _history(engine, site.id) == ([1, 2], ["create", "reject"])

    after = main_of(officer.get("/review").text)
    assert "Rejected the site “Roma valley plot”." in after
    assert 'id="pending-sites"' not in after  # nothing left to decide: no section
    # Still listed on its project, as rejected, without buttons.
    card = main_of(officer.get(f"/projects/{world.lso.id}").text).split('id="sites"')[1]
    assert f'{NAME} <span class="pill pill-deleted">Rejected</span>' in card
    assert f'action="/sites/{site.id}/review"' not in card


def test_a_pending_site_named_as_another_of_its_project_says_so(
    officer: TestClient, engine: Engine, world: World
) -> None:
    # A tablet, offline, cannot know the project already has the place (the API refuses the
    # name; a tablet's site arrives pending): the officer is told before approving it.
    site = _field_site(engine, world)
    other = _field_site(engine, world, world.lso_storage)  # another project: not a twin
    html = main_of(officer.get("/review").text).split('id="pending-sites"')[1]
    assert "already has a site called" not in html
    with Session(write_engine(engine)) as writer:
        writer.add(
            Site(project_id=world.lso.id, name="  ROMA valley  PLOT", status="approved", lat=-29.4)
        )
        writer.commit()
    section = main_of(officer.get("/review").text).split('id="pending-sites"')[1]
    rows = section.split("</section>")[0].split("<tr>")[1:]
    [mine] = [r for r in rows if f"/sites/{site.id}/review" in r]
    [theirs] = [r for r in rows if f"/sites/{other.id}/review" in r]
    assert "The project already has a site called “  ROMA valley  PLOT”" in mine
    assert "approve this one only if it is another place." in mine
    assert "already has a site called" not in theirs
    officer.cookies.set(LANGUAGE_COOKIE, "fr")
    french = main_of(officer.get("/review").text)
    assert "Le projet a déjà un site appelé «\u202f  ROMA valley  PLOT\u202f»" in french


@sqlite_only
def test_the_review_page_says_nothing_of_sites_when_none_wait(officer: TestClient) -> None:
    html = main_of(officer.get("/review").text)
    assert 'id="pending-sites"' not in html and "waiting for approval" not in html


@sqlite_only
def test_the_review_page_follows_the_queue_filters_and_the_scope(
    client: TestClient, engine: Engine, world: World
) -> None:
    _field_site(engine, world, world.lso_storage)
    sign_in(client, engine, world.officer)
    assert NAME in main_of(client.get("/review").text)
    assert NAME in main_of(client.get(f"/review?project={world.lso_storage.code}").text)
    assert NAME not in main_of(client.get(f"/review?project={world.lso.code}").text)
    sign_in(client, engine, world.officer_eth)
    assert 'id="pending-sites"' not in main_of(client.get("/review").text)


def test_another_countrys_officer_and_a_field_expert_are_refused(
    client: TestClient, engine: Engine, world: World
) -> None:
    site = _field_site(engine, world)
    # Ethiopia's officer: not found, as the scope rules answer for another country's record.
    sign_in(client, engine, world.officer_eth)
    refused = _decide(client, site, "approve", page="/review")
    assert refused.status_code == 404
    assert NAME not in refused.text
    # The field expert who added it, and an HQ analyst, see it waiting but may not decide.
    for person in (world.expert, world.hq):
        sign_in(client, engine, person)
        page = main_of(client.get(f"/projects/{world.lso.id}").text)
        assert "Pending approval" in page and f"/sites/{site.id}/review" not in page
        review = main_of(client.get("/review").text)
        assert NAME in review and f"/sites/{site.id}/review" not in review
        for action in ("approve", "reject"):
            response = _decide(client, site, action, page="/review")
            assert response.status_code == 403, (person.username, response.status_code)
            assert "Nothing was changed." in response.text
    now = fresh(engine, Site, site.id)
    assert (now.status, now.version) == ("pending", 1)
    assert _history(engine, site.id) == ([1], ["create"])


def test_a_site_already_decided_is_left_as_it_is(
    officer: TestClient, engine: Engine, world: World
) -> None:
    site = _field_site(engine, world)
    path = f"/projects/{world.lso.id}#sites"
    assert _decide(officer, site, "approve", page=path).status_code == 303
    officer.get(f"/projects/{world.lso.id}")  # reads the notice
    # The same form sent again (another tab, another officer first): said, nothing written.
    again = _decide(officer, site, "reject", page=path)
    assert again.status_code == 303
    html = main_of(officer.get(f"/projects/{world.lso.id}").text)
    assert "“Roma valley plot” had already been approved: nothing was changed." in html
    assert "notice-error" in html
    # A site approved from the start (an officer's) is no different.
    seeded = world.sites[0]
    assert _decide(officer, seeded, "reject", page=path).status_code == 303
    assert fresh(engine, Site, seeded.id).status == "approved"
    now = fresh(engine, Site, site.id)
    assert (now.status, now.version) == ("approved", 2)
    assert _history(engine, site.id) == ([1, 2], ["create", "approve"])


@sqlite_only
def test_bad_requests_change_nothing(officer: TestClient, engine: Engine, world: World) -> None:
    site = _field_site(engine, world)
    page = f"/projects/{world.lso.id}"
    # without the CSRF token, or with another
    missing = officer.post(f"/sites/{site.id}/review", data={"action": "approve"})
    assert missing.status_code == 403 and "nothing was changed" in missing.text
    forged = _decide(officer, site, "approve", page=page, token="forged")
    assert forged.status_code == 403
    # an action the form never sends; a site that does not exist; not an id
    assert _decide(officer, site, "delete", page=page).status_code == 422
    assert _decide(officer, site, "", page=page).status_code == 422
    token = token_for(officer, page)
    unknown = officer.post(
        f"/sites/{uuid.uuid4()}/review", data={"csrf_token": token, "action": "approve"}
    )
    assert unknown.status_code == 404
    odd = officer.post("/sites/not-an-id/review", data={"csrf_token": token, "action": "approve"})
    assert odd.status_code == 404
    # a "next" elsewhere is not followed
    outside = officer.post(
        f"/sites/{site.id}/review",
        data={"csrf_token": token, "action": "reject", "next": "https://example.org/"},
        follow_redirects=False,
    )
    assert outside.headers["location"] == f"{page}#sites"
    now = fresh(engine, Site, site.id)
    assert (now.status, now.version) == ("rejected", 2)  # only the last one was a decision


@sqlite_only
def test_the_pill_buttons_and_notice_read_in_french(
    officer: TestClient, engine: Engine, world: World
) -> None:
    site = _field_site(engine, world)
    officer.cookies.set(LANGUAGE_COOKIE, "fr")
    path = f"/projects/{world.lso.id}"
    card = main_of(officer.get(path).text).split('id="sites"')[1]
    assert '<span class="pill pill-returned">À approuver</span>' in card
    assert "1 en attente d’approbation" in card
    assert "Approuver<span" in card and "Rejeter<span" in card
    assert "Rejeter le site «\u202fRoma valley plot\u202f»\u202f?" in card
    review = main_of(officer.get("/review").text)
    assert "1 site en attente d’approbation" in review and "Ajouté" in review
    _decide(officer, site, "reject", page=f"{path}#sites")
    card = main_of(officer.get(path).text).split('id="sites"')[1]
    assert "Site «\u202fRoma valley plot\u202f» rejeté." in card
    assert '<span class="pill pill-deleted">Rejeté</span>' in card
