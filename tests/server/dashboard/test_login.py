"""Signing in and out, the session cookie, CSRF on the anonymous forms, the language switch."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from server.accounts.models import AccessToken
from server.dashboard import session as cookies
from tests.factories import PASSWORD
from tests.server.dashboard.conftest import csrf_of, login, main_of, token_for
from tests.server.dashboard.world import World


@pytest.fixture
def db_url(sqlite_world: tuple[Path, World], tmp_path: Path) -> Iterator[str]:
    """Logging in runs the accounts service, which its own tests run on both backends; the
    dashboard's part (cookies, CSRF, redirects, language) does not touch SQL: SQLite only."""
    path = tmp_path / "pilotmon.sqlite3"
    shutil.copyfile(sqlite_world[0], path)
    yield f"sqlite:///{path}"


def _tokens(engine: Engine) -> int:
    with Session(engine) as reader:
        return reader.exec(select(func.count()).select_from(AccessToken)).one()


def test_the_root_sends_a_stranger_to_the_login_form(client: TestClient, world: World) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'type="password"' in page.text
    assert "Sign in" in page.text


def test_pages_need_a_session_and_come_back_after_login(client: TestClient, world: World) -> None:
    target = f"/projects/{world.lso.id}?status=approved"
    response = client.get(target, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fprojects%2F")
    form = client.get(response.headers["location"])
    assert f'value="{target}"' in form.text.replace("&amp;", "&")
    answer = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(form.text),
            "username": world.officer.username,
            "password": "correct horse battery",
            "next": target,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == target
    assert client.get(target).status_code == 200


def test_the_session_cookie_is_http_only_and_lax(client: TestClient, world: World) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": world.officer.username,
            "password": "correct horse battery",
        },
        follow_redirects=False,
    )
    header = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(cookies.SESSION_COOKIE)
    )
    assert "HttpOnly" in header
    assert "SameSite=lax" in header or "SameSite=Lax" in header
    assert "Secure" not in header  # plain http in this test; https sets it (next test)
    assert response.headers["location"] == "/overview"


def test_the_session_cookie_is_secure_over_https(
    settings: object, engine: Engine, world: World
) -> None:
    from server.app import create_app

    with TestClient(
        create_app(settings, engine),  # type: ignore[arg-type]
        base_url="https://testserver",
    ) as secure:
        token = csrf_of(secure.get("/login").text)
        response = secure.post(
            "/login",
            data={
                "csrf_token": token,
                "username": world.officer.username,
                "password": "correct horse battery",
            },
            follow_redirects=False,
        )
        header = next(
            h
            for h in response.headers.get_list("set-cookie")
            if h.startswith(cookies.SESSION_COOKIE)
        )
        assert "Secure" in header


def test_a_wrong_password_says_so_and_keeps_the_username(client: TestClient, world: World) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "officer.lso", "password": "not the password"},
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert 'value="officer.lso"' in response.text
    assert cookies.SESSION_COOKIE not in response.cookies
    assert client.get("/overview", follow_redirects=False).status_code == 303


def test_empty_fields_are_named_next_to_the_inputs(client: TestClient, world: World) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, "username": " ", "password": ""})
    assert response.status_code == 422
    assert '<p class="field-error" id="username-error">Enter your username.</p>' in response.text
    assert '<p class="field-error" id="password-error">Enter your password.</p>' in response.text


def test_repeated_failures_lock_the_username_for_a_while(client: TestClient, world: World) -> None:
    token = csrf_of(client.get("/login").text)
    answers = [
        client.post(
            "/login",
            data={"csrf_token": token, "username": "officer.lso", "password": f"guess {n}"},
        ).status_code
        for n in range(6)
    ]
    assert answers[0] == 401
    assert answers[-1] == 429
    locked = client.post(
        "/login",
        data={"csrf_token": token, "username": "officer.lso", "password": "correct horse battery"},
    )
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.text


def test_login_without_or_with_a_forged_csrf_token_signs_nobody_in(
    client: TestClient, engine: Engine, world: World
) -> None:
    client.get("/login")
    before = _tokens(engine)
    for data in (
        {"username": "officer.lso", "password": "correct horse battery"},
        {"username": "officer.lso", "password": "correct horse battery", "csrf_token": "forged"},
    ):
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?expired=1")
    assert _tokens(engine) == before
    assert client.get("/overview", follow_redirects=False).status_code == 303


def test_a_sign_in_page_left_open_too_long_shows_the_form_again(
    client: TestClient, engine: Engine, world: World
) -> None:
    form = client.get("/login?next=/review").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    client.cookies.clear()  # the pre-login cookie expired while the page stayed open
    response = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "username": "officer.lso",
            "password": PASSWORD,
            "next": "/review",
        },
    )
    assert response.status_code == 200  # not "You do not have access to this" (403)
    assert "The sign-in page had been open too long" in response.text
    assert 'id="username"' in response.text and 'value="/review"' in response.text
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert fresh is not None
    again = client.post(
        "/login",
        data={
            "csrf_token": fresh.group(1),
            "username": "officer.lso",
            "password": PASSWORD,
            "next": "/review",
        },
        follow_redirects=False,
    )
    assert again.status_code == 303 and again.headers["location"] == "/review"


def test_head_answers_like_get(client: TestClient, world: World) -> None:
    assert client.head("/login").status_code == 200
    assert client.head("/", follow_redirects=False).status_code == 303


def test_a_link_elsewhere_after_login_is_not_followed(client: TestClient, world: World) -> None:
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = csrf_of(client.get("/login").text)
        response = client.post(
            "/login",
            data={
                "csrf_token": token,
                "next": evil,
                "username": world.officer.username,
                "password": "correct horse battery",
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/overview"


def test_sign_out_ends_the_session_everywhere(client: TestClient, world: World) -> None:
    login(client, world.officer.username)
    session_token = client.cookies.get(cookies.SESSION_COOKIE)
    token = token_for(client)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/overview", follow_redirects=False).status_code == 303
    # The old cookie, replayed, no longer works: its token was revoked.
    client.cookies.set(cookies.SESSION_COOKIE, session_token or "")
    assert client.get("/overview", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_csrf_token(client: TestClient, world: World) -> None:
    login(client, world.officer.username)
    response = client.post("/logout", data={"csrf_token": "nope"}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/overview").status_code == 200


def test_the_language_switch_turns_the_pages_french(client: TestClient, world: World) -> None:
    login(client, world.officer.username)
    token = token_for(client, "/review")
    response = client.post(
        "/language",
        data={"csrf_token": token, "language": "fr", "next": "/review"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/review"
    page = client.get("/review")
    assert '<html lang="fr">' in page.text
    assert "File de validation" in main_of(page.text)
    assert page.headers["content-language"] == "fr"
    back = client.post(
        "/language", data={"csrf_token": csrf_of(page.text), "language": "en", "next": "/review"}
    )
    assert '<html lang="en">' in back.text and "Review queue" in back.text


def test_the_language_follows_the_browser_until_chosen(client: TestClient, world: World) -> None:
    page = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in page.text and "Se connecter" in page.text


def test_an_unknown_language_changes_nothing(client: TestClient, world: World) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/language",
        data={"csrf_token": token, "language": "xx", "next": "/login"},
        follow_redirects=False,
    )
    assert cookies.LANGUAGE_COOKIE not in response.cookies
    assert response.status_code == 303


def test_the_language_switch_needs_the_csrf_token(client: TestClient, world: World) -> None:
    client.get("/login")
    response = client.post(
        "/language", data={"language": "fr", "next": "/login"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert '<html lang="en">' in client.get("/login").text
