"""Fixtures of the dashboard's tests: the seeded world and a browser-like client that signs in
through the login form."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session

import server.accounts.service
from server.accounts.auth import issue_access_token
from server.accounts.models import User
from server.activities.models import Attachment
from server.config import Settings
from server.dashboard import session as cookies
from server.db import make_engine, write_engine
from tests.conftest import (
    Snapshot,
    _truncate_all,
    database_url_for,
    restore_snapshot,
    take_snapshot,
)
from tests.factories import PASSWORD
from tests.server.dashboard.world import World, add_photo, build_world

# For tests whose SQL the other tests already run on both backends: rendering details, form
# errors, CSRF refusals. Everything that writes or decides scope runs on both.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
T = TypeVar("T")


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords set on the People pages hashed by real argon2 with small parameters, as the
    factories' users are: the production cost (0.2 s and 64 MiB a hash, as much again for
    each login that checks it) is not what these tests are about, and the stored hash is still
    checked by the real ``verify_password``."""
    hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(server.accounts.service, "hash_password", hasher.hash)


@pytest.fixture(scope="session")
def sqlite_world(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, World]:
    """The world seeded once into a SQLite file that each test copies (much faster than
    seeding per test); PostgreSQL's is ``pg_world``."""
    path = tmp_path_factory.mktemp("dashboard") / "world.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, world


@pytest.fixture(scope="session")
def pg_world(pg_engine: Engine) -> tuple[Snapshot, World]:
    """The world seeded once into the worker's PostgreSQL database, kept as its rows for each
    test to put back (``restore_snapshot``): seeding it again for each test took 0.2 s of
    each of some 250 tests, putting its rows back a few hundredths."""
    _truncate_all(pg_engine)
    with Session(write_engine(pg_engine), expire_on_commit=False) as session:
        world = build_world(session)
    return take_snapshot(pg_engine), world


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """As the suite's ``db_url``, but the database already holds the world: a copy of the
    seeded SQLite file, or the seeded PostgreSQL rows put back."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_world")[0]
        return database_url_for(request, tmp_path, template=template)
    snapshot, _ = request.getfixturevalue("pg_world")
    engine: Engine = request.getfixturevalue("pg_engine")
    restore_snapshot(engine, snapshot)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def world(request: pytest.FixtureRequest, engine: Engine, session: Session) -> World:
    """The seeded world. Tests read its objects but never change them (they are shared)."""
    # Keep what the test session writes readable without touching the database again: a
    # session that reopened a transaction would hold SQLite's write lock against the app.
    session.expire_on_commit = False
    seeded: World = request.getfixturevalue(
        "sqlite_world" if engine.dialect.name == "sqlite" else "pg_world"
    )[1]
    return seeded


@pytest.fixture
def photo(world: World, session: Session, settings: Settings) -> Attachment:
    settings.ensure_data_dir()
    return add_photo(session, world, settings.attachments_dir)


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, engine: Engine, user: User) -> None:
    """Start a session as the login form does, without paying for a password hash."""
    with Session(write_engine(engine)) as writer:
        token, _ = issue_access_token(writer, user=user, minutes=60)
        writer.commit()
    client.cookies.set(cookies.SESSION_COOKIE, token)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person does."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[-500:]


def token_for(client: TestClient, path: str = "/overview") -> str:
    """The CSRF token a page of the signed-in browser carries."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_of(response.text)


def fresh(engine: Engine, model: type[T], key: uuid.UUID | Any) -> T:
    """The row as the database holds it now (a new short session, nothing cached)."""
    with Session(engine) as reader:
        row = reader.get(model, key)
        assert row is not None
        reader.expunge(row)
        return row


@pytest.fixture
def officer(client: TestClient, engine: Engine, world: World) -> Iterator[TestClient]:
    """The client, signed in as Lesotho's country officer."""
    sign_in(client, engine, world.officer)
    yield client


def main_of(html: str) -> str:
    """The page's <main> (without the menu and the language switch)."""
    start, end = html.find("<main"), html.find("</main>")
    assert start >= 0 and end > start
    return html[start:end]
