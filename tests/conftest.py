"""Fixtures shared by the whole suite.

Database tests run on SQLite always and on PostgreSQL too when PILOTMON_TEST_DATABASE_URL is
set (``.ci/run`` sets it). The schema is migrated once per backend per session; each test then
gets an empty database (a copied SQLite file, or truncated PostgreSQL tables).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, make_url, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from server.app import create_app
from server.config import Settings
from server.db import make_engine, write_engine
from server.migrate import upgrade
from server.wiring import install as install_wiring

# What the application connects at start-up (server.app, server.cli): tests that write through
# the services without building an app need it too.
install_wiring()

PG_URL_VAR = "PILOTMON_TEST_DATABASE_URL"
PG_SKIP_REASON = (
    "PostgreSQL tests need a server: set PILOTMON_TEST_DATABASE_URL="
    "postgresql://USER:PASS@127.0.0.1/DB (bash .ci/run starts one and sets it)"
)


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(PG_URL_VAR)
    return f"PostgreSQL tests: {'on' if url else 'off'} ({PG_URL_VAR}{'' if url else ' unset'})"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    url = os.environ.get(PG_URL_VAR)
    if not url:
        pytest.skip(PG_SKIP_REASON)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = _worker_database(url, worker)
    _commit_without_waiting_for_the_disk(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    yield engine
    engine.dispose()
    _commit_without_waiting_for_the_disk(url, off=False)


def _worker_database(url: str, worker: str) -> str:
    """Parallel workers (pytest-xdist) each get a database of their own beside the given one."""
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _commit_without_waiting_for_the_disk(url: str, *, off: bool = True) -> None:
    """``synchronous_commit = off`` for every session on the test database, the tests' own and
    those of the servers and commands they start (a setting of the database, so it reaches
    every process that connects to it).

    A commit is then acknowledged once it is in PostgreSQL's memory rather than after the WAL
    was flushed to disk. On a quiet disk that saves little (0.3 ms instead of 0.5), but while
    other work shares the disk a flush took 2 to 8 ms here (1 ms or less without), and a
    PostgreSQL test commits dozens of times. What a test can see does not change: a committed
    transaction is visible to every other session at once either way, and ordering, locks and
    constraints are the same; only a crash of PostgreSQL itself could lose the last commits,
    which no test does. A database the tests' role may not alter keeps its setting;
    ``off=False`` (at the end of the session) gives the database its server's setting back."""
    base = make_url(url)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            change = "SET synchronous_commit TO off" if off else "RESET synchronous_commit"
            conn.exec_driver_sql(f'ALTER DATABASE "{base.database}" {change}')
    except DBAPIError:
        pass
    finally:
        engine.dispose()


# Every sequence of the schema back to 1, as TRUNCATE ... RESTART IDENTITY does.
_RESTART_SEQUENCES = (
    "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) "
    "FROM pg_sequences WHERE schemaname = current_schema()"
)


def _emptying_script(engine: Engine) -> str:
    """One script that empties every table, children first, and restarts the sequences; ``%``
    doubled, as the driver reads its placeholders even in a statement sent without values."""
    deletes = [
        str(table.delete().compile(dialect=engine.dialect))
        for table in reversed(SQLModel.metadata.sorted_tables)
    ]
    return ";\n".join([*deletes, _RESTART_SEQUENCES]).replace("%", "%%")


def _truncate_all(engine: Engine) -> None:
    """Empty every table of a PostgreSQL test database and restart its sequences.

    DELETE, children first, rather than TRUNCATE: a test leaves a handful of rows, and
    TRUNCATE's fixed cost per table (new files, locks) made emptying the 44 tables take 0.2 to
    0.5 s before each of the ~1 200 PostgreSQL tests; DELETE takes a few milliseconds. The
    statements go as one script, in one round trip: one statement at a time, the round trips
    took 55–85 ms a test, the script 19–22 ms (a throwaway timing, 50 emptyings each)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_emptying_script(engine))


Snapshot = dict[str, list[dict[str, Any]]]


def take_snapshot(engine: Engine) -> Snapshot:
    """Every row of every table of a seeded PostgreSQL database (a world built once per worker),
    for :func:`restore_snapshot` to put back before each test: inserting the rows back is much
    cheaper than building the world again through the services."""
    with engine.connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(table.select())]
            for table in SQLModel.metadata.sorted_tables
        }


def restore_snapshot(engine: Engine, snapshot: Snapshot) -> None:
    """Empty the database and insert the snapshot's rows; sequences continue after them."""
    _truncate_all(engine)
    serials = []
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if not snapshot[table.name]:
                continue
            conn.execute(table.insert(), snapshot[table.name])
            column = table.autoincrement_column
            if column is not None and column.primary_key:
                sequence = func.pg_get_serial_sequence(f'"{table.name}"', column.name)
                serials.append(func.setval(sequence, select(func.max(column)).scalar_subquery()))
        if serials:  # every sequence in one statement
            conn.execute(select(*serials))


def database_url_for(
    request: pytest.FixtureRequest, folder: Path, *, template: Path | None = None
) -> str:
    """The URL of a migrated database on the backend ``request.param`` names: on SQLite a copy
    of ``template`` (the empty ``sqlite_template`` unless given) in ``folder``, on PostgreSQL
    the test database, emptied."""
    if request.param == "sqlite":
        source: Path = template or request.getfixturevalue("sqlite_template")
        path = folder / "pilotmon.sqlite3"
        shutil.copyfile(source, path)
        return f"sqlite:///{path}"
    engine: Engine = request.getfixturevalue("pg_engine")
    _truncate_all(engine)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database on each backend."""
    return database_url_for(request, tmp_path)


# --- a world built once per module -------------------------------------------------------------
# A module whose tests each start from the same seeded rows builds them once per backend and
# puts them back before each test: its own ``db_url`` returns ``seeded_url(request, tmp_path,
# build)`` and its ``world`` fixture ``seeded_world(request, engine)``. Module scope: a module's
# tests run together (xdist's worksteal may move some to the other worker, which builds its own),
# so a world's access tokens never outlive it.


@pytest.fixture(scope="module")
def seeded_worlds() -> dict[str, tuple[Path | Snapshot, Any]]:
    """Per backend, the module's seeded world: its SQLite file or its PostgreSQL rows, and the
    object ``build`` returned."""
    return {}


def seeded_url(
    request: pytest.FixtureRequest, folder: Path, build: Callable[[Session], Any]
) -> str:
    """As ``database_url_for``, but the database holds what ``build`` wrote through the session
    it was given (committed): built at the module's first test on this backend, then a copy of
    its SQLite file, or its PostgreSQL rows put back (``restore_snapshot``), for each test."""
    worlds: dict[str, tuple[Path | Snapshot, Any]] = request.getfixturevalue("seeded_worlds")
    backend: str = request.param
    if backend not in worlds:
        worlds[backend] = _seed(request, build)
    source = worlds[backend][0]
    if isinstance(source, Path):
        return database_url_for(request, folder, template=source)
    engine: Engine = request.getfixturevalue("pg_engine")
    restore_snapshot(engine, source)
    return engine.url.render_as_string(hide_password=False)


def seeded_world(request: pytest.FixtureRequest, engine: Engine) -> Any:
    """The object ``seeded_url``'s ``build`` returned for this test's backend. Tests share it:
    they read it, never change it."""
    worlds: dict[str, tuple[Path | Snapshot, Any]] = request.getfixturevalue("seeded_worlds")
    return worlds["sqlite" if engine.dialect.name == "sqlite" else "postgresql"][1]


def seeded_module(build: Callable[[Session], Any], *, name: str = "world") -> tuple[Any, Any]:
    """The two fixtures of a module whose tests only read one world, to assign at its top
    (``db_url, world = seeded_module(_build)``): ``db_url``, the suite's database holding what
    ``build`` wrote, built once per module and backend and put back before each test
    (``seeded_url``), and ``name``, the object ``build`` returned (``seeded_world``)."""

    @pytest.fixture(params=["sqlite", "postgresql"], name="db_url")
    def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
        return seeded_url(request, tmp_path, build)

    @pytest.fixture(name=name)
    def world(request: pytest.FixtureRequest, engine: Engine) -> Any:
        return seeded_world(request, engine)

    return db_url, world


def _seed(
    request: pytest.FixtureRequest, build: Callable[[Session], Any]
) -> tuple[Path | Snapshot, Any]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        path = factory.mktemp("seeded") / "world.sqlite3"
        shutil.copyfile(template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            with Session(write_engine(engine)) as session:
                world = build(session)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        return path, world
    pg: Engine = request.getfixturevalue("pg_engine")
    _truncate_all(pg)
    with Session(write_engine(pg)) as session:
        world = build(session)
    return take_snapshot(pg), world


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(write_engine(engine)) as session:
        yield session


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )


# One application per worker process and per set of settings: FastAPI builds an app's routes
# (their parameters' validators) at its first request, 0.2–0.4 s that the 1 200 tests with a
# client paid each. A test gets the app with its own settings and engine in ``app.state`` (all
# the application reads of them at request time), a middleware stack made afresh at its first
# request (the rate limits and the body guard start from nothing), and no dependency override.
# The key is every setting ``create_app`` may build from, i.e. all but the per-test paths.
_APPS: dict[str, FastAPI] = {}
_PER_TEST = {"data_dir", "database_url"}


def app_for(settings: Settings, engine: Engine) -> FastAPI:
    """The application for these settings and this engine, as ``create_app`` makes it."""
    key = settings.model_dump_json(exclude=_PER_TEST)
    app = _APPS.get(key)
    if app is None:
        app = _APPS[key] = create_app(settings, engine)
    app.state.settings = settings
    app.state.engine = engine
    app.middleware_stack = None
    app.dependency_overrides.clear()
    return app


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    settings.ensure_data_dir()
    with TestClient(app_for(settings, engine)) as test_client:
        yield test_client
