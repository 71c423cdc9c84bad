"""Commands on a database `pilotmon init-db` never made: one line naming init-db, exit code 3,
and nothing left behind (no empty database file, no data directory, no receipt key)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from server.config import Settings
from server.db import make_engine
from server.errors import DatabaseError
from server.ops.backup import create_backup
from tests.server.in_process import one_line, run_in_process

COMMANDS = [
    ("backup", "{tmp}/b.tar.gz"),
    ("jobs", "list"),
    ("jobs", "run", "stale-tablets"),
    ("users", "create", "hq.one", "--role", "hq_analyst"),
    ("users", "set-scope", "hq.one", "--country", "LSO"),
    ("devices", "enrol-code", "nobody"),
    ("devices", "revoke", "00000000-0000-0000-0000-000000000000"),
    ("receipts", "rotate-key"),
    ("receipts", "verify", "{tmp}/receipts.json"),
    ("forms", "list"),
    ("demo", "--size", "tiny"),
    ("import-bundle", "{tmp}/bundle.zip"),
    ("report", "--quarter", "2026Q1", "--out", "{tmp}/r.pdf"),
    ("serve",),
    ("scheduler",),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_command_on_a_missing_database_says_init_db_and_leaves_nothing(
    args: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    filled = [a.format(tmp=tmp_path) for a in args]
    code, out, err = run_in_process(monkeypatch, capsys, *filled, PILOTMON_DATA_DIR=str(data))
    one_line(err, f"there is no database at {data / 'pilotmon.sqlite3'}", "`pilotmon init-db`")
    assert code == 3 and out == ""
    assert list(tmp_path.iterdir()) == []  # no data directory, no database file, no key


def test_help_and_usage_errors_come_before_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"PILOTMON_DATA_DIR": str(tmp_path / "data")}
    code, out, _ = run_in_process(monkeypatch, capsys, "users", "create", "--help", **env)
    assert code == 0 and "Usage: pilotmon users create" in out
    code, _, err = run_in_process(monkeypatch, capsys, "backup", **env)
    assert code == 2 and "Missing argument 'FILE'" in err
    assert list(tmp_path.iterdir()) == []


def test_backup_of_a_database_without_schema_says_init_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It wrote "backup written … schema revision None, 0 rows in 0 tables", exit 0: an archive
    # that restore then refuses.
    data = tmp_path / "data"
    data.mkdir()
    (data / "pilotmon.sqlite3").touch()
    archive = tmp_path / "b.tar.gz"
    code, out, err = run_in_process(
        monkeypatch, capsys, "backup", str(archive), PILOTMON_DATA_DIR=str(data)
    )
    one_line(err, "the database has no schema", "run `pilotmon init-db` first")
    assert code == 3 and "backup written" not in out
    assert not archive.exists()


@pytest.fixture
def unmade_postgresql(pg_engine: Engine) -> Iterator[str]:
    """A PostgreSQL database beside the test database, without any table."""
    name = f"{pg_engine.url.database}_unmade"
    admin = pg_engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.DBAPIError as exc:
        pytest.skip(f"cannot create a second PostgreSQL database: {exc.orig}")
    yield pg_engine.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_of_a_postgresql_database_without_schema_says_init_db(
    unmade_postgresql: str, tmp_path: Path
) -> None:
    settings = Settings(environment="test", data_dir=tmp_path, database_url=unmade_postgresql)
    engine = make_engine(unmade_postgresql)
    archive = tmp_path / "b.tar.gz"
    try:
        for method in ("auto", "logical"):
            with pytest.raises(DatabaseError, match="no schema: run `pilotmon init-db` first"):
                create_backup(settings=settings, engine=engine, path=archive, method=method)
    finally:
        engine.dispose()
    assert not archive.exists()
