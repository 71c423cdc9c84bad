"""The Access tokens page: a person makes a read-only token for Excel or Power BI (shown once),
sees their tokens, revokes one; the Exports page shows the feed's address and how to connect."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.accounts import tokens as personal_tokens
from server.accounts.models import PersonalToken
from tests.server.dashboard.conftest import main_of, sqlite_only, token_for
from tests.server.dashboard.world import World

FEED = "http://testserver/api/v1/odata/"


def test_a_token_made_on_the_page_opens_the_feed_until_revoked(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert 'href="/tokens"' in officer.get("/overview").text  # in the user menu
    csrf = token_for(officer, "/tokens")
    response = officer.post("/tokens", data={"csrf_token": csrf, "name": "Power BI at HQ"})
    assert response.status_code == 200
    html = main_of(response.text)
    shown = re.search(r'<p class="code mono">([A-Za-z0-9_-]{30,})</p>', html)
    assert shown is not None and FEED in html
    secret = shown.group(1)
    assert "Power BI at HQ" in html

    auth = (world.officer.username, secret)
    feed = officer.get(FEED + "Projects", auth=auth)
    assert feed.status_code == 200
    assert {p["Country"] for p in feed.json()["value"]} == {"LSO"}  # the officer's scope
    # shown once: the list never shows it again
    assert secret not in officer.get("/tokens").text

    with Session(engine) as reader:
        row = reader.exec(
            select(PersonalToken).where(PersonalToken.user_id == world.officer.id)
        ).one()
    revoked = officer.post(
        f"/tokens/{row.id}/revoke", data={"csrf_token": token_for(officer, "/tokens")}
    )
    assert revoked.status_code == 200  # followed the redirect
    assert "it no longer opens the feed" in revoked.text
    assert officer.get(FEED + "Projects", auth=auth).status_code == 401


@sqlite_only
def test_forms_need_their_csrf_token_and_a_name(officer: TestClient, engine: Engine) -> None:
    assert officer.post("/tokens", data={"name": "no csrf"}).status_code == 403
    nameless = officer.post(
        "/tokens", data={"csrf_token": token_for(officer, "/tokens"), "name": " "}
    )
    assert nameless.status_code == 422 and "Give the token a name" in nameless.text
    with Session(engine) as reader:
        assert reader.exec(select(PersonalToken)).all() == []


@sqlite_only
def test_exports_page_shows_the_feed_and_how_to_connect(officer: TestClient) -> None:
    html = main_of(officer.get("/exports").text)
    assert FEED in html and "From OData Feed" in html and "OData feed" in html
    # the per-form observation sets are in the feed too (docs/odata.md), said in each language
    assert "each form’s observations (Observations_ and the form’s code)" in html
    officer.cookies.set("pilotmon_lang", "fr")
    french = main_of(officer.get("/exports").text)
    assert "les observations de chaque formulaire (Observations_ suivi du code" in french


@sqlite_only
def test_the_page_speaks_french(officer: TestClient) -> None:
    officer.post(
        "/language",
        data={"csrf_token": token_for(officer, "/tokens"), "language": "fr", "next": "/tokens"},
    )
    html = officer.get("/tokens").text
    assert "Jetons d’accès" in html and "Créer le jeton" in html


@sqlite_only
def test_a_name_too_long_is_refused_not_cut(officer: TestClient, engine: Engine) -> None:
    """The field takes 100 characters; a longer name (sent by a script, say) is refused with a
    word next to it, where it was once cut to 100 without one."""
    long = officer.post(
        "/tokens", data={"csrf_token": token_for(officer, "/tokens"), "name": "x" * 101}
    )
    assert long.status_code == 422
    assert re.search(r'id="name-error"[^>]*>\s*Use at most 100 characters\.', long.text)
    with Session(engine) as reader:
        assert reader.exec(select(PersonalToken)).all() == []
    exact = officer.post(
        "/tokens", data={"csrf_token": token_for(officer, "/tokens"), "name": "x" * 100}
    )
    assert exact.status_code == 200


@sqlite_only
def test_one_token_too_many_is_said_in_the_readers_language(
    officer: TestClient, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(personal_tokens, "MAX_TOKENS_PER_PERSON", 2)
    officer.cookies.set("pilotmon_lang", "fr")
    for name in ("Excel", "Power BI", "One too many"):
        response = officer.post(
            "/tokens", data={"csrf_token": token_for(officer, "/tokens"), "name": name}
        )
    assert response.status_code == 409
    error = re.search(r'id="name-error"[^>]*>(.*?)<', response.text, re.S)
    assert error is not None
    assert "Vous avez déjà 2 jetons" in error.group(1) and "revoke" not in error.group(1)
    with Session(engine) as reader:
        assert len(reader.exec(select(PersonalToken)).all()) == 2
