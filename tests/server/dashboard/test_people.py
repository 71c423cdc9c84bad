"""The People page: who is in the caller's scope with their role, projects and tablets; adding
a person, setting a new password, deactivating — with the API's own scope and rules."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from server.accounts.models import Device, User, UserProject
from tests.factories import PASSWORD
from tests.server.dashboard.conftest import (
    fresh,
    main_of,
    sign_in,
    sqlite_only,
    token_for,
)
from tests.server.dashboard.world import World

NEW_PASSWORD = "a long enough passphrase"


def _users(engine: Engine) -> int:
    with Session(engine) as reader:
        return reader.exec(select(func.count()).select_from(User)).one()


def _user(engine: Engine, username: str) -> User | None:
    with Session(engine) as reader:
        return reader.exec(select(User).where(User.username == username)).one_or_none()


def _api_login(client: TestClient, username: str, password: str) -> int:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return response.status_code


def _add(client: TestClient, **fields: Any) -> Any:
    token = token_for(client, "/people")
    data: dict[str, Any] = {
        "csrf_token": token,
        "username": "thabo.m",
        "full_name": "Thabo Mofokeng",
        "email": "thabo@example.org",
        "role": "field_expert",
        "countries": ["LSO"],
        "projects": ["LSO-CPP-POTATO"],
        "password": NEW_PASSWORD,
    }
    data.update(fields)
    return client.post("/people", data=data, follow_redirects=False)


def _rows(html: str) -> str:
    start = html.find("<tbody>")
    return html[start : html.find("</tbody>", start)]


def test_an_officer_sees_only_the_people_of_their_countries(
    officer: TestClient, world: World
) -> None:
    response = officer.get("/people")
    assert response.status_code == 200
    rows = _rows(main_of(response.text))
    assert "Palesa Mokoena" in rows and "Chen Wei" in rows and "expert.lso" in rows
    for outside in ("officer.eth", "hq.analyst", ">admin<"):
        assert outside not in rows, outside
    # The field expert's projects, two live tablets (the revoked one not counted), last sync.
    expert_row = re.search(r"<tr>\s*<th scope=\"row\"><a[^>]*>Chen Wei</a>.*?</tr>", rows, re.S)
    assert expert_row is not None
    assert "LSO-CPP-POTATO" in expert_row.group(0) and "LSO-DAA-STORE" in expert_row.group(0)
    assert "2 tablets" in expert_row.group(0) and "synced 1 day ago" in expert_row.group(0)
    assert 'href="/people"' in response.text  # in the menu


def test_search_and_role_filter_narrow_the_list(officer: TestClient, world: World) -> None:
    rows = _rows(main_of(officer.get("/people?q=chen").text))
    assert "Chen Wei" in rows and "Palesa Mokoena" not in rows
    rows = _rows(main_of(officer.get("/people?role=country_officer").text))
    assert "Palesa Mokoena" in rows and "Chen Wei" not in rows
    html = main_of(officer.get("/people?q=nobody-like-this").text)
    assert "Nobody matches this search." in html
    # An unknown role lists everyone and says so next to the filter (a bad page number is the
    # first page).
    pirate = officer.get("/people?role=pirate&page=abc")
    assert pirate.status_code == 400
    assert "This is not one of the allowed choices." in main_of(pirate.text)
    assert "Palesa Mokoena" in _rows(main_of(pirate.text))


def test_an_officer_adds_a_field_expert_who_can_then_log_in(
    officer: TestClient, engine: Engine, world: World
) -> None:
    response = _add(officer)
    assert response.status_code == 303
    user = _user(engine, "thabo.m")
    assert user is not None
    assert response.headers["location"] == f"/people/{user.id}"
    assert (user.role, user.countries, user.full_name) == (
        "field_expert",
        ["LSO"],
        "Thabo Mofokeng",
    )
    with Session(engine) as reader:
        projects = reader.exec(
            select(UserProject.project_id).where(UserProject.user_id == user.id)
        ).all()
    assert projects == [world.lso.id]
    page = officer.get(response.headers["location"])
    assert "Added “Thabo Mofokeng” (thabo.m)." in page.text
    assert NEW_PASSWORD not in page.text
    assert _api_login(officer, "thabo.m", NEW_PASSWORD) == 200


def test_bad_input_keeps_what_was_typed_and_says_why_next_to_the_field(
    officer: TestClient, engine: Engine, world: World
) -> None:
    before = _users(engine)
    response = _add(officer, username="Thabo M!", password="short")
    assert response.status_code == 422
    html = main_of(response.text)
    assert re.search(r'<p class="field-error" id="username-error">2 to 64 characters', html)
    assert 'value="Thabo M!"' in html and 'value="Thabo Mofokeng"' in html
    assert 'value="thabo@example.org"' in html
    assert re.search(r'<option value="field_expert" selected>', html)
    assert re.search(r'value="LSO-CPP-POTATO" checked', html)
    assert 'value="short"' not in html  # a password is never sent back
    # A weak password alone.
    weak = _add(officer, password="short")
    assert weak.status_code == 422
    assert re.search(r'id="password-error">Use at least 10 characters', weak.text)
    # A field expert without a project.
    lonely = _add(officer, projects=[])
    assert lonely.status_code == 422
    assert 'id="projects-error">A field expert needs at least one project.' in lonely.text
    assert _users(engine) == before


def test_every_bad_field_is_named_at_once_next_to_itself(
    officer: TestClient, engine: Engine, world: World
) -> None:
    # A too-long full name hid the username, password and role errors: one fix, one more try.
    before = _users(engine)
    too_long = "Thabo " + "M" * 200
    response = _add(officer, full_name=too_long, username="Thabo M!", password="short", role="")
    assert response.status_code == 422
    html = main_of(response.text)
    errors = re.findall(r'<p class="field-error" id="([a-z_]+)-error">', html)
    assert sorted(errors) == ["full_name", "password", "role", "username"]
    for field, label, message in (
        ("full_name", 'for="full_name"', "Use at most 200 characters."),
        ("username", 'for="new-username"', "2 to 64 characters"),
        ("role", 'for="new-role"', "Choose a role."),
        ("password", 'for="new-password"', "Use at least 10 characters"),
    ):
        # Each message sits in its own field's box, right after its input.
        box = re.search(rf'<div class="field has-error">\s*<label {label}>.*?</div>', html, re.S)
        assert box is not None, field
        assert f'id="{field}-error">{message}' in box.group(0), (field, box.group(0))
    assert f'value="{too_long}"' in html and 'value="Thabo M!"' in html
    assert 'value="thabo@example.org"' in html
    assert re.search(r'value="LSO-CPP-POTATO" checked', html)
    assert 'value="short"' not in html
    assert _users(engine) == before and _user(engine, "thabo m!") is None
    # The account rules are checked even when the form's limits fail: an unknown role and a
    # field expert without projects both said nothing about the weak password.
    again = _add(officer, full_name=too_long, projects=[], password="short")
    assert again.status_code == 422
    errors = re.findall(r'id="([a-z_]+)-error">', main_of(again.text))
    assert sorted(errors) == ["full_name", "password", "projects"]
    assert _users(engine) == before
    # An e-mail address that cannot be one, said in the reader's words.
    bad_email = _add(officer, email="thabo@@example")
    assert bad_email.status_code == 422
    assert 'id="email-error">Type an e-mail address, like name@example.org.' in main_of(
        bad_email.text
    )
    assert _users(engine) == before


def test_a_taken_username_is_a_409_next_to_the_username(
    officer: TestClient, engine: Engine, world: World
) -> None:
    before = _users(engine)
    response = _add(officer, username=world.expert.username)
    assert response.status_code == 409
    html = main_of(response.text)
    assert 'id="username-error">This username is taken' in html
    assert f'value="{world.expert.username}"' in html
    assert _users(engine) == before


@sqlite_only
def test_adding_without_the_csrf_token_changes_nothing(
    officer: TestClient, engine: Engine, world: World
) -> None:
    before = _users(engine)
    response = officer.post(
        "/people",
        data={
            "username": "thabo.m",
            "role": "field_expert",
            "projects": ["LSO-CPP-POTATO"],
            "password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert _users(engine) == before


def test_an_officer_cannot_create_an_admin_or_reach_other_countries(
    officer: TestClient, engine: Engine, world: World
) -> None:
    form = main_of(officer.get("/people").text)
    add_form = form[form.find('id="add"') :]
    assert '<option value="field_expert"' in add_form
    assert '<option value="country_officer"' in add_form
    assert '<option value="admin"' not in add_form and '<option value="hq_analyst"' not in add_form
    assert 'value="ETH"' not in add_form and "ETH-CPP-CLIMATE" not in add_form
    before = _users(engine)
    forged = _add(officer, username="sneaky.admin", role="admin", countries=[], projects=[])
    assert forged.status_code == 403
    assert "You do not have access to this" in forged.text
    assert "Your role may not do this. Nothing was changed." in forged.text
    elsewhere = _add(
        officer, username="sneaky.eth", role="country_officer", countries=["ETH"], projects=[]
    )
    assert elsewhere.status_code == 403  # said next to the countries, the form kept
    assert 'id="countries-error">You may only give people your own countries.' in elsewhere.text
    assert 'value="sneaky.eth"' in elsewhere.text
    other_project = _add(
        officer, username="sneaky.expert", projects=["ETH-CPP-CLIMATE"], countries=[]
    )
    assert other_project.status_code == 422  # it does not exist for them
    assert "Not found on the server, or outside your projects." in other_project.text
    assert _users(engine) == before


def test_deactivating_stops_logins_and_reactivating_restores_them(
    officer: TestClient, engine: Engine, world: World
) -> None:
    expert = world.expert
    token = token_for(officer, "/people")
    response = officer.post(
        f"/people/{expert.id}/active",
        data={"csrf_token": token, "active": "0", "next": "/people"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/people"
    assert fresh(engine, User, expert.id).is_active is False
    assert "Deactivated “Chen Wei”" in officer.get("/people").text
    assert _api_login(officer, expert.username, PASSWORD) == 401
    response = officer.post(
        f"/people/{expert.id}/active",
        data={"csrf_token": token, "active": "1"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/people/{expert.id}"
    assert fresh(engine, User, expert.id).is_active is True
    assert _api_login(officer, expert.username, PASSWORD) == 200


@sqlite_only
def test_an_officer_cannot_deactivate_themselves_or_someone_outside(
    officer: TestClient, engine: Engine, world: World
) -> None:
    token = token_for(officer, "/people")
    html = main_of(officer.get("/people").text)
    assert f'action="/people/{world.officer.id}/active"' not in html  # no button for oneself
    own = officer.post(
        f"/people/{world.officer.id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert own.status_code == 200
    assert "you cannot deactivate your own account" in own.text
    assert fresh(engine, User, world.officer.id).is_active is True
    other = officer.post(
        f"/people/{world.officer_eth.id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert other.status_code == 404
    assert fresh(engine, User, world.officer_eth.id).is_active is True


def test_setting_a_new_password(officer: TestClient, engine: Engine, world: World) -> None:
    expert = world.expert
    page = officer.get(f"/people/{expert.id}")
    assert page.status_code == 200
    html = main_of(page.text)
    assert "Tablet A — Maseru" in html and "LSO-CPP-POTATO" in html
    token = token_for(officer, f"/people/{expert.id}")
    weak = officer.post(
        f"/people/{expert.id}/password", data={"csrf_token": token, "password": "tiny"}
    )
    assert weak.status_code == 422
    assert 'id="password-error">Use at least 10 characters' in weak.text
    assert 'value="tiny"' not in weak.text
    assert _api_login(officer, expert.username, PASSWORD) == 200
    done = officer.post(
        f"/people/{expert.id}/password",
        data={"csrf_token": token, "password": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    shown = officer.get(done.headers["location"]).text
    assert "Set a new password for “Chen Wei”" in shown and NEW_PASSWORD not in shown
    assert _api_login(officer, expert.username, PASSWORD) == 401
    assert _api_login(officer, expert.username, NEW_PASSWORD) == 200


@sqlite_only
def test_hq_sees_everyone_without_the_forms(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.hq)
    html = main_of(client.get("/people").text)
    rows = _rows(html)
    for username in ("officer.lso", "officer.eth", "expert.lso", "hq.analyst", "admin"):
        assert f">{username}<" in rows, username
    assert 'action="/people"' not in html.replace('method="get" action="/people"', "")
    assert "Deactivate" not in rows and "Add a person" not in html
    token = token_for(client, "/people")
    before = _users(engine)
    refused = client.post(
        "/people",
        data={
            "csrf_token": token,
            "username": "hq.made",
            "role": "field_expert",
            "password": NEW_PASSWORD,
        },
    )
    assert refused.status_code == 403
    deactivate = client.post(
        f"/people/{world.expert.id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert deactivate.status_code == 403
    assert _users(engine) == before
    assert fresh(engine, User, world.expert.id).is_active is True
    person = main_of(client.get(f"/people/{world.expert.id}").text)
    assert "Set a new password" not in person


@sqlite_only
def test_a_field_expert_has_no_people_page(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.expert)
    overview = client.get("/overview")
    assert 'href="/people"' not in overview.text
    refused = client.get("/people")
    assert refused.status_code == 403
    assert "You do not have access to this" in refused.text
    assert client.get(f"/people/{world.expert.id}").status_code == 403


def test_an_admin_may_add_an_admin(client: TestClient, engine: Engine, world: World) -> None:
    sign_in(client, engine, world.admin)
    html = main_of(client.get("/people").text)
    assert '<option value="admin"' in html and 'value="ETH"' in html and 'value="FRA"' not in html
    response = _add(client, username="second.admin", role="admin", countries=[], projects=[])
    assert response.status_code == 303
    created = _user(engine, "second.admin")
    assert created is not None and created.role == "admin"


@sqlite_only
def test_the_people_page_in_french(officer: TestClient, world: World) -> None:
    officer.cookies.set("pilotmon_lang", "fr")
    html = officer.get("/people").text
    assert '<html lang="fr">' in html
    assert "Ajouter une personne" in html and "Personnes" in html
    weak = _add(officer, password="short")
    assert weak.status_code == 422
    assert "Utilisez au moins 10 caractères" in weak.text
    person = officer.get(f"/people/{world.expert.id}").text
    assert "Définir un nouveau mot de passe" in person


@sqlite_only
def test_the_count_and_the_note_for_readers_are_two_sentences(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.hq)
    text = re.sub(r"<[^>]+>", " ", main_of(client.get("/people").text))
    text = re.sub(r"\s+", " ", text)
    assert re.search(r"people in your scope\. Country officers and administrators add", text)


@sqlite_only
def test_reactivating_says_the_tablets_stay_revoked(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Deactivating revokes the person's tablets and reactivating restores none
    (docs/roles.md): the dashboard must not promise they "sync again"."""
    expert = world.expert
    token = token_for(officer, "/people")
    officer.post(f"/people/{expert.id}/active", data={"csrf_token": token, "active": "0"})
    page = officer.get(f"/people/{expert.id}").text
    asked = re.search(r'data-confirm="(Reactivate[^"]+)"', page)
    assert asked is not None
    assert "sync again" not in asked.group(1) and "new enrolment code" in asked.group(1)
    done = officer.post(
        f"/people/{expert.id}/active", data={"csrf_token": token, "active": "1"}
    ).text
    notice = main_of(done)
    assert "Reactivated “Chen Wei”" in notice
    assert "sync again" not in notice and "new enrolment code" in notice
    with Session(engine) as reader:
        devices = reader.exec(select(Device).where(Device.user_id == expert.id)).all()
    assert devices and all(d.revoked_at is not None for d in devices)
