"""A person's projects or countries on their page (docs/roles.md#changing-a-persons-scope): the
choices the caller may give, the API's rules shown next to the list, CSRF, the audit entry."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.models import User, UserProject
from server.projects.models import Project
from server.records.models import AuditEntry
from tests.server.dashboard.conftest import fresh, main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World


def _codes(engine: Engine, user_id: uuid.UUID) -> list[str]:
    with Session(engine) as reader:
        return list(
            reader.exec(
                select(Project.code)
                .join(UserProject, col(UserProject.project_id) == Project.id)
                .where(UserProject.user_id == user_id)
                .order_by(col(Project.code))
            )
        )


def _scope_card(html: str) -> str:
    start = html.find('id="scope"')
    assert start >= 0, "no scope form on the page"
    return html[start : html.find("</section>", start)]


def _ticked(card: str, name: str) -> set[str]:
    return set(re.findall(rf'name="{name}" value="([^"]+)" checked', card))


def _post(client: TestClient, user_id: uuid.UUID, **lists: list[str]) -> Any:
    token = token_for(client, f"/people/{user_id}")
    return client.post(
        f"/people/{user_id}/scope", data={"csrf_token": token, **lists}, follow_redirects=False
    )


def test_an_officer_takes_a_project_from_a_field_expert(
    officer: TestClient, engine: Engine, world: World
) -> None:
    expert = world.expert
    card = _scope_card(main_of(officer.get(f"/people/{expert.id}").text))
    # the officer's country's projects, the expert's ticked; no other country's, no country list
    assert _ticked(card, "projects") == {"LSO-CPP-POTATO", "LSO-DAA-STORE"}
    assert "ETH-CPP-CLIMATE" not in card and 'name="countries"' not in card
    response = _post(officer, expert.id, projects=["LSO-CPP-POTATO"])
    assert response.status_code == 303, response.text
    page = officer.get(response.headers["location"]).text
    assert "Changed the projects of “Chen Wei”" in page
    assert _codes(engine, expert.id) == ["LSO-CPP-POTATO"]
    assert _ticked(_scope_card(main_of(page)), "projects") == {"LSO-CPP-POTATO"}
    with Session(engine) as reader:
        entry = reader.exec(select(AuditEntry).where(AuditEntry.entity_id == str(expert.id))).one()
    assert entry.actor_id == world.officer.id
    assert entry.before == {"projects": ["LSO-CPP-POTATO", "LSO-DAA-STORE"]}
    assert entry.after == {"projects": ["LSO-CPP-POTATO"]}
    # the same again changes nothing, and says so
    again = _post(officer, expert.id, projects=["LSO-CPP-POTATO"])
    shown = officer.get(again.headers["location"]).text
    assert "Nothing was changed." in shown


def test_a_field_expert_keeps_a_project_and_the_reason_is_next_to_the_list(
    officer: TestClient, engine: Engine, world: World
) -> None:
    expert = world.expert
    response = _post(officer, expert.id)
    assert response.status_code == 422
    card = _scope_card(main_of(response.text))
    assert 'id="projects-error">A field expert needs at least one project.' in card
    assert 'aria-describedby="projects-error"' in card
    assert _ticked(card, "projects") == set()  # what was sent, not what is stored
    # another country's project, sent by hand, is unknown to the officer: nothing changes
    response = _post(officer, expert.id, projects=["LSO-CPP-POTATO", "ETH-CPP-CLIMATE"])
    assert response.status_code == 422
    assert 'id="projects-error"' in response.text
    assert _codes(engine, expert.id) == ["LSO-CPP-POTATO", "LSO-DAA-STORE"]


def test_an_admin_gives_an_officer_a_second_country(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.admin)
    card = _scope_card(main_of(client.get(f"/people/{world.officer_eth.id}").text))
    assert _ticked(card, "countries") == {"ETH"} and 'value="KEN"' in card
    response = _post(client, world.officer_eth.id, countries=["ETH", "KEN"])
    assert response.status_code == 303, response.text
    assert "Changed the countries of" in client.get(response.headers["location"]).text
    assert fresh(engine, User, world.officer_eth.id).countries == ["ETH", "KEN"]
    # an officer keeps a country
    response = _post(client, world.officer_eth.id)
    assert response.status_code == 422
    assert "A country officer needs at least one country." in response.text


def test_no_form_for_oneself_hq_or_someone_outside_and_posts_change_nothing(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer)
    own = main_of(client.get(f"/people/{world.officer.id}").text)
    assert 'id="scope"' not in own
    token = token_for(client, f"/people/{world.officer.id}")
    refused = client.post(
        f"/people/{world.officer.id}/scope", data={"csrf_token": token, "countries": ["LSO"]}
    )
    assert refused.status_code == 403
    outside = client.post(
        f"/people/{world.officer_eth.id}/scope", data={"csrf_token": token, "countries": ["LSO"]}
    )
    assert outside.status_code == 404
    client.cookies.clear()
    sign_in(client, engine, world.hq)
    assert 'id="scope"' not in main_of(client.get(f"/people/{world.expert.id}").text)
    assert fresh(engine, User, world.officer.id).countries == ["LSO"]
    assert fresh(engine, User, world.officer_eth.id).countries == ["ETH"]


@sqlite_only
def test_without_the_csrf_token_nothing_changes(
    officer: TestClient, engine: Engine, world: World
) -> None:
    response = officer.post(
        f"/people/{world.expert.id}/scope", data={"projects": ["LSO-CPP-POTATO"]}
    )
    assert response.status_code == 403
    assert _codes(engine, world.expert.id) == ["LSO-CPP-POTATO", "LSO-DAA-STORE"]


@sqlite_only
def test_the_scope_form_in_french(officer: TestClient, world: World) -> None:
    officer.cookies.set("pilotmon_lang", "fr")
    card = _scope_card(main_of(officer.get(f"/people/{world.expert.id}").text))
    assert "Enregistrer les projets" in card and "ses pays en découlent" in card
    refused = _post(officer, world.expert.id)
    assert 'id="projects-error">Un expert de terrain doit avoir au moins un projet.' in refused.text


def test_ones_own_scope_is_refused_with_the_reason(
    client: TestClient, engine: Engine, world: World
) -> None:
    """A hand-made POST of one's own scope says why it is refused, where to turn instead."""
    for person, words in (
        (world.officer, "nobody changes their own projects or countries. Ask an administrator."),
        (
            world.admin,
            "Ask another administrator, or use “pilotmon users set-scope” on the server.",
        ),
    ):
        client.cookies.clear()
        sign_in(client, engine, person)
        token = token_for(client, f"/people/{person.id}")
        refused = client.post(
            f"/people/{person.id}/scope", data={"csrf_token": token, "countries": ["KEN"]}
        )
        assert refused.status_code == 403
        assert words in refused.text and "Your role may not do this" not in refused.text
    client.cookies.set("pilotmon_lang", "fr")
    token = token_for(client, f"/people/{world.admin.id}")
    refused = client.post(
        f"/people/{world.admin.id}/scope", data={"csrf_token": token, "countries": ["KEN"]}
    )
    assert "un autre administrateur" in refused.text
    assert fresh(engine, User, world.officer.id).countries == ["LSO"]
    assert fresh(engine, User, world.admin.id).countries == []


def test_no_scope_form_for_hq_and_a_list_sent_by_hand_is_refused(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.admin)
    assert 'id="scope"' not in main_of(client.get(f"/people/{world.hq.id}").text)
    refused = _post(client, world.hq.id, countries=["KEN"])
    assert refused.status_code == 422
    assert "see every country and project by their role" in refused.text
    assert fresh(engine, User, world.hq.id).countries == []


def test_the_long_list_shows_what_the_person_has_first(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.admin)
    card = _scope_card(main_of(client.get(f"/people/{world.officer_eth.id}").text))
    offered = re.findall(r'name="countries" value="([^"]+)"', card)
    assert len(offered) > 100 and offered[0] == "ETH"  # Ethiopia before Afghanistan
    assert offered.count("ETH") == 1


def test_the_person_page_shows_their_recent_changes(
    officer: TestClient, engine: Engine, world: World
) -> None:
    expert = world.expert
    assert "No change of this account" in officer.get(f"/people/{expert.id}").text
    _post(officer, expert.id, projects=["LSO-CPP-POTATO"])
    token = token_for(officer, f"/people/{expert.id}")
    officer.post(
        f"/people/{expert.id}/password",
        data={"csrf_token": token, "password": "another long passphrase"},
    )
    page = main_of(officer.get(f"/people/{expert.id}").text)
    changes = page[
        page.index('id="changes"') : page.index("</section>", page.index('id="changes"'))
    ]
    newest, older = changes.split("<li>\n")[1:]
    assert "Set a new password" in newest and "Projects:" in older  # newest first
    assert world.officer.username in newest and world.officer.username in older
    assert (
        'Projects: <span class="was">LSO-CPP-POTATO, LSO-DAA-STORE</span> → '
        '<span class="now">LSO-CPP-POTATO</span>'
    ) in changes
    officer.cookies.set("pilotmon_lang", "pt")
    page = main_of(officer.get(f"/people/{expert.id}").text)
    assert "Alterações recentes" in page and "Alterou a conta" in page


def test_a_change_stays_on_the_page_however_often_the_person_signs_in_since(
    officer: TestClient, engine: Engine, world: World
) -> None:
    expert = world.expert
    _post(officer, expert.id, projects=["LSO-CPP-POTATO"])
    with Session(engine) as session:  # 150 sign-ins since: more than any page of entries
        session.add_all(
            AuditEntry(
                action="login",
                entity="user",
                entity_id=str(expert.id),
                actor_id=expert.id,
                country="LSO",
            )
            for _ in range(150)
        )
        session.commit()
    page = main_of(officer.get(f"/people/{expert.id}").text)
    changes = page[
        page.index('id="changes"') : page.index("</section>", page.index('id="changes"'))
    ]
    assert "Projects:" in changes
