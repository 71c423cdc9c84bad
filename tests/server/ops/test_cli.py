"""``pilotmon backup`` and ``pilotmon restore`` from the shell: summaries and one-line errors."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine

from server.config import Settings
from server.db import dispose_engines, make_engine
from server.jobs import cli as jobs_cli
from server.jobs import scheduler as scheduler_module
from server.jobs.registry import Job
from server.migrate import alembic_config, current_revision, head_revision, upgrade
from server.ops import cli as ops_cli
from server.ops import pgtools, restore
from server.ops.backup import create_backup
from tests.server.in_process import one_line, run_in_process
from tests.server.ops.world import every_row, files_under, load_world
from tests.server.test_cli import assert_one_line_error, run_cli


def _office(tmp_path: Path, sqlite_template: Path) -> Path:
    """A data directory ``office`` whose SQLite database and photos hold the ops test world."""
    source = tmp_path / "office"
    source.mkdir()
    shutil.copyfile(sqlite_template, source / "pilotmon.sqlite3")
    engine: Engine = make_engine(f"sqlite:///{source / 'pilotmon.sqlite3'}")
    load_world(engine, source / "attachments")
    engine.dispose()
    return source


def test_backup_and_restore_commands(tmp_path: Path, sqlite_template: Path) -> None:
    source = _office(tmp_path, sqlite_template)
    archive = tmp_path / "nightly.tar.gz"

    made = run_cli("backup", str(archive), env={"PILOTMON_DATA_DIR": str(source)})
    assert made.returncode == 0, made.stderr
    assert "backup written to" in made.stdout and "3 photo files" in made.stdout

    again = run_cli("backup", str(archive), env={"PILOTMON_DATA_DIR": str(source)})
    assert_one_line_error(again, "already exists", "--overwrite")

    checked = run_cli("restore", "--check", str(archive), env={"PILOTMON_DATA_DIR": str(source)})
    assert checked.returncode == 0, checked.stderr
    assert "is intact" in checked.stdout

    target = tmp_path / "new-server"
    restored = run_cli("restore", str(archive), env={"PILOTMON_DATA_DIR": str(target)})
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout and "3 photo files" in restored.stdout
    assert files_under(target / "attachments") == files_under(source / "attachments")

    twice = run_cli("restore", str(archive), env={"PILOTMON_DATA_DIR": str(target)})
    assert_one_line_error(twice, "already holds data", "--force")
    forced = run_cli("restore", "--force", str(archive), env={"PILOTMON_DATA_DIR": str(target)})
    assert forced.returncode == 0, forced.stderr
    assert "kept in" in forced.stdout


def test_restore_errors_areone_line(tmp_path: Path) -> None:
    env = {"PILOTMON_DATA_DIR": str(tmp_path / "data")}
    assert_one_line_error(
        run_cli("restore", str(tmp_path / "nope.tar.gz"), env=env), "does not exist"
    )
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"definitely not gzip")
    assert_one_line_error(run_cli("restore", str(junk), env=env), "not a backup archive")
    assert_one_line_error(
        run_cli("backup", str(tmp_path / "no-such-folder" / "b.tar.gz"), env=env), "does not exist"
    )


def _at_revision(path: Path, revision: str) -> None:
    """A SQLite file whose schema says ``revision`` (only the version table: the commands
    must stop at the check, before they read anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))


def test_jobs_and_serve_refuse_a_schema_that_is_behind_or_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An older database (the package upgraded, init-db not run yet): `jobs run` printed a
    # traceback of "no such table" and the scheduler ran its jobs against it.
    old = tmp_path / "old"
    _at_revision(old / "pilotmon.sqlite3", "0005_receipts")
    for args in (("jobs", "run", "rollup-rebuild"), ("scheduler",), ("serve",)):
        code, _, err = run_in_process(monkeypatch, capsys, *args, PILOTMON_DATA_DIR=str(old))
        one_line(err, "0005_receipts", "pilotmon init-db")
        assert code == 3, args  # docs/cli.md: the schema is out of date
    # A newer one (the package rolled back without restoring): init-db printed alembic's
    # traceback "Can't locate revision".
    new = tmp_path / "new"
    _at_revision(new / "pilotmon.sqlite3", "0099_future")
    for args in (("init-db",), ("jobs", "run", "rollup-rebuild")):
        code, _, err = run_in_process(monkeypatch, capsys, *args, PILOTMON_DATA_DIR=str(new))
        one_line(err, "0099_future", "newer than this Pilot Monitor")
        assert code == 3, args


def test_a_database_url_in_an_error_never_shows_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in (
        "postgresql+pg8000://pm:S3cretPW@127.0.0.1/db",  # no such driver installed
        "postgresql://pm:S3cretPW@127.0.0.1:54x/db",  # a port that is not a number
        "pm:S3cretPW@127.0.0.1/db",  # no scheme
        "postgres://pm:S3cretPW@127.0.0.1:54x/db",  # a hosting provider's form, a bad port
        "mysql://pm:S3cretPW@127.0.0.1/db",  # a database Pilot Monitor does not support
    ):
        code, _, err = run_in_process(
            monkeypatch,
            capsys,
            "init-db",
            PILOTMON_DATABASE_URL=url,
            PILOTMON_DATA_DIR=str(tmp_path),
        )
        assert code == 2, url
        assert "S3cretPW" not in one_line(err, "pm:***@"), url


def test_a_backup_is_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "new-office"
    previous = os.umask(0o022)
    try:
        code, _, err = run_in_process(monkeypatch, capsys, "init-db", PILOTMON_DATA_DIR=str(data))
        assert code == 0, err
        # A new data directory (database, photos, receipt key) is its owner's only.
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        archive = tmp_path / "nightly.tar.gz"
        archive.write_bytes(b"last week's, made readable by all")
        archive.chmod(0o644)
        code, out, err = run_in_process(
            monkeypatch, capsys, "backup", "--overwrite", str(archive), PILOTMON_DATA_DIR=str(data)
        )
    finally:
        os.umask(previous)
    assert code == 0, err
    # Personal data: the archive is not world- or group-readable, whatever the umask.
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    # And the operator is told what the archive does not hold.
    assert "PILOTMON_SECRET_KEY" in out


def test_serve_and_scheduler_refuse_a_data_directory_they_cannot_write(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # With the database elsewhere (PostgreSQL, say), serve started on a read-only data
    # directory and the first photo a tablet sent failed.
    database = tmp_path / "db.sqlite3"
    shutil.copyfile(sqlite_template, database)
    blocked = tmp_path / "occupied"
    blocked.write_text("a file where the data directory should be")
    for args in (("serve",), ("scheduler",)):
        code, _, err = run_in_process(
            monkeypatch,
            capsys,
            *args,
            PILOTMON_DATABASE_URL=f"sqlite:///{database}",
            PILOTMON_DATA_DIR=str(blocked),
        )
        one_line(err, "not writable", "PILOTMON_DATA_DIR")
        assert code == 2, args


def _data_dir(tmp_path: Path, sqlite_template: Path) -> Path:
    """A data directory holding a database at the current schema."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "pilotmon.sqlite3")
    return data


def test_serve_on_a_port_in_use_says_so_inone_line(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It exited 3 after six lines of uvicorn's log ("ERROR: [Errno 98] …") and no word of its own.
    data = _data_dir(tmp_path, sqlite_template)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_in_process(
            monkeypatch,
            capsys,
            "serve",
            "--port",
            str(port),
            PILOTMON_DATA_DIR=str(data),
        )
    one_line(err, f"127.0.0.1:{port} is already in use", "--port")
    assert code == 3


def test_postgres_urls_mean_postgresql_through_psycopg() -> None:
    # postgres:// is what most hosting providers (and their DATABASE_URL) give; it was refused.
    for url in (
        "postgres://pm:pw@db.example.org:5432/pilotmon",
        "postgresql://pm:pw@db.example.org/pilotmon",
        "postgres+psycopg://pm:pw@db.example.org/pilotmon?sslmode=require",
    ):
        engine = make_engine(url)  # builds the engine; connects only when used
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg"), url
        assert engine.url.render_as_string(hide_password=True).startswith("postgresql+psycopg://")
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_postgres_url_runs_init_db_and_backup(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgres://" + db_url.split("://", 1)[1]
    env = {"PILOTMON_DATABASE_URL": url, "PILOTMON_DATA_DIR": str(tmp_path / "data")}
    try:
        code, out, err = run_in_process(monkeypatch, capsys, "init-db", **env)
        assert code == 0, err
        assert "up to date" in out and "postgresql+psycopg://" in out
        archive = tmp_path / "nightly.tar.gz"
        code, out, err = run_in_process(monkeypatch, capsys, "backup", str(archive), **env)
        assert code == 0, err  # pg_dump (or the logical export) reached the same database
        assert "backup written to" in out
    finally:
        dispose_engines()


@pytest.mark.real_clock  # how long it waits, in seconds
@pytest.mark.parametrize("method", ["native", "logical"])
def test_a_restore_into_a_database_in_use_fails_fast_and_changes_nothing(
    db_url: str,
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    method: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A scheduler or a server still running holds locks: the restore waited on them for up to
    # pg_restore's 6-hour limit, and a logical restore into SQLite for the engine's busy
    # timeout (30 s) before the driver's "database is locked". Now it gives up after
    # LOCK_TIMEOUT_S, in one line.
    if method == "native" and engine.dialect.name == "postgresql" and not pgtools.have("pg_dump"):
        pytest.skip("pg_dump is not installed here")
    settings.ensure_data_dir()
    load_world(engine, settings.attachments_dir)
    archive = tmp_path / "nightly.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive, method=method)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM review")  # a change the restore would undo
    rows, photos = every_row(engine), files_under(settings.attachments_dir)
    engine.dispose()
    monkeypatch.setattr(restore, "LOCK_TIMEOUT_S", 0.2)  # 5 s in production
    with _database_held(engine, "activity"):
        started = time.monotonic()
        code, out, err = run_in_process(
            monkeypatch,
            capsys,
            "restore",
            "--force",
            str(archive),
            PILOTMON_DATABASE_URL=db_url,
            PILOTMON_DATA_DIR=str(settings.data_dir),
        )
        waited = time.monotonic() - started
        dispose_engines()
    assert code == 1, out
    one_line(
        err.splitlines()[-1],
        "the database is in use by another process",
        "stop `pilotmon serve` and `pilotmon scheduler`",
        "nothing was changed",
    )
    assert waited < 10, waited  # the archive's checks and LOCK_TIMEOUT_S, not 30 s
    assert every_row(engine) == rows  # nothing half-restored: the review stays deleted
    assert files_under(settings.attachments_dir) == photos


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_upgrade_after_restoring_an_older_backup_fails_fast_and_applies_whole_or_not(
    db_url: str,
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A server that takes a table between the restore's commit and the schema upgrade after it
    # (an archive of an older version) made the upgrade wait forever: no lock_timeout there.
    if not pgtools.have("pg_dump"):
        pytest.skip("pg_dump is not installed here")
    old = "0011_result_cells"  # the upgrade from it drops and remakes result_cell
    settings.ensure_data_dir()
    load_world(engine, settings.attachments_dir)
    config = alembic_config()
    try:
        with engine.begin() as conn:  # the database of an older version
            config.attributes["connection"] = conn
            command.downgrade(config, old)
        archive = tmp_path / "old.tar.gz"
        create_backup(settings=settings, engine=engine, path=archive, method="native")
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM review")  # changes the restore undoes
        photos = files_under(settings.attachments_dir)
        next(p for p in settings.attachments_dir.rglob("*") if p.is_file()).unlink()
        rows = {t: r for t, r in every_row(engine).items() if t in ("activity", "participant")}
        monkeypatch.setattr(restore, "LOCK_TIMEOUT_S", 0.2)  # 5 s in production
        real_run = pgtools.run
        holder = engine.connect()

        def run_then_hold(tool: str, args: list[str], **kwargs: Any) -> None:
            real_run(tool, args, **kwargs)
            if tool == "psql":  # the restore committed: a server reads a result table
                holder.begin()
                # should the upgrade wait anyway, the holder's session ends after 20 s
                holder.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = '20s'")
                holder.exec_driver_sql("LOCK TABLE result_cell IN ACCESS SHARE MODE")

        monkeypatch.setattr(pgtools, "run", run_then_hold)
        try:
            code, out, err = run_in_process(
                monkeypatch,
                capsys,
                "restore",
                "--force",
                str(archive),
                PILOTMON_DATABASE_URL=db_url,
                PILOTMON_DATA_DIR=str(settings.data_dir),
            )
        finally:
            holder.close()
            dispose_engines()
        assert code == 1, out
        one_line(
            err.splitlines()[-1],
            "in use",
            f"its schema is still at revision {old}",
            "stop `pilotmon serve` and `pilotmon scheduler`, then run `pilotmon init-db`",
        )
        # Nothing half-applied: the restore whole (the reviews back, the photos in place), the
        # upgrade not at all (rolled back whole: the schema is the archive's).
        assert current_revision(engine) == old
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM review").scalar_one() > 0
        assert files_under(settings.attachments_dir) == photos
        # What the line says to do finishes it.
        code, out, err = run_in_process(
            monkeypatch, capsys, "init-db", PILOTMON_DATABASE_URL=db_url
        )
        dispose_engines()
        assert code == 0, err
        assert current_revision(engine) == head_revision()
        assert {t: r for t, r in every_row(engine).items() if t in rows} == rows
    finally:
        upgrade(engine)  # the next tests' database is at the latest revision


@contextlib.contextmanager
def _database_held(engine: Engine, table: str, mode: str = "ACCESS SHARE") -> Iterator[None]:
    """Another process's hold on the database, as a server or a scheduler left running has:
    ``table`` locked in ``mode`` on PostgreSQL (its session ends after 20 s, should the command wait
    anyway: the test then fails instead of hanging), the write lock on SQLite (which the
    command, without a limit of its own, would wait 30 s for)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as holder, holder.begin():
            holder.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = '20s'")
            holder.exec_driver_sql(f"LOCK TABLE {table} IN {mode} MODE")
            yield
        return
    assert engine.url.database
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        yield
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_init_db_on_a_database_in_use_gives_up_after_its_lock_timeout_and_changes_nothing(
    db_url: str,
    settings: Settings,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # init-db run while `serve` or `scheduler` held a lock waited without limit (PostgreSQL)
    # or 30 s (SQLite) and then printed the driver's error. Now it waits --lock-timeout.
    old = "0011_result_cells"  # the upgrade from it drops and remakes result_cell
    settings.ensure_data_dir()
    load_world(engine, settings.attachments_dir)
    config = alembic_config()
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(settings.data_dir)}
    rows = {t: r for t, r in every_row(engine).items() if t in ("activity", "participant")}
    try:
        with engine.begin() as conn:  # the database of an older version
            config.attributes["connection"] = conn
            command.downgrade(config, old)
        engine.dispose()
        with _database_held(engine, "result_cell"):
            code, out, err = run_in_process(
                monkeypatch, capsys, "init-db", "--lock-timeout", "0.2", **env
            )
            dispose_engines()
        assert code == 1, out
        assert out == ""
        one_line(
            err,
            "the database is in use",
            "nothing was changed",
            "stop `pilotmon serve` and `pilotmon scheduler`",
            "run `pilotmon init-db` again",
        )
        assert current_revision(engine) == old  # rolled back whole
        # Once they are stopped, what the line says to do finishes it.
        code, out, err = run_in_process(monkeypatch, capsys, "init-db", **env)
        dispose_engines()
        assert code == 0, err
        assert f"migrated from {old}" in out and "result indicators rebuilt" in out
        assert current_revision(engine) == head_revision()
        assert {t: r for t, r in every_row(engine).items() if t in rows} == rows
    finally:
        upgrade(engine)  # the next tests' database is at the latest revision


def test_the_rebuild_after_restoring_an_older_backup_gives_up_too_and_applies_with_the_upgrade(
    db_url: str,
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The result rebuild that follows the upgrade of an older archive ran in a transaction of
    # its own, without limit: a server reading the result facts (PostgreSQL) or writing
    # (SQLite, where the upgrade itself waited 30 s and ended in the driver's error) made it
    # hang. Now it is part of the upgrade's transaction, under the same lock timeout.
    if engine.dialect.name == "postgresql" and not pgtools.have("pg_dump"):
        pytest.skip("pg_dump is not installed here")
    old = "0011_result_cells"  # the upgrade from it asks for the results' rebuild
    settings.ensure_data_dir()
    load_world(engine, settings.attachments_dir)
    config = alembic_config()
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(settings.data_dir)}
    held = contextlib.ExitStack()
    try:
        with engine.begin() as conn:  # the database of an older version
            config.attributes["connection"] = conn
            command.downgrade(config, old)
        archive = tmp_path / "old.tar.gz"
        create_backup(settings=settings, engine=engine, path=archive, method="native")
        upgrade(engine)
        engine.dispose()
        monkeypatch.setattr(restore, "LOCK_TIMEOUT_S", 0.2)  # 5 s in production
        if engine.dialect.name == "postgresql":
            real_run = pgtools.run

            def run_then_hold(tool: str, args: list[str], **kwargs: Any) -> None:
                real_run(tool, args, **kwargs)
                if tool == "psql":  # restored: a server reads the result facts (not the cells
                    # the migration remakes: it alone would pass)
                    held.enter_context(_database_held(engine, "result_fact", "SHARE"))

            monkeypatch.setattr(pgtools, "run", run_then_hold)
        else:
            real_copy = restore._restore_sqlite_file

            def copy_then_hold(**kwargs: Any) -> None:
                real_copy(**kwargs)
                held.enter_context(_database_held(engine, "result_fact"))

            monkeypatch.setattr(restore, "_restore_sqlite_file", copy_then_hold)
        with held:
            code, out, err = run_in_process(
                monkeypatch, capsys, "restore", "--force", str(archive), **env
            )
            dispose_engines()
        assert code == 1, out
        assert "rebuilt" not in out
        one_line(
            err.splitlines()[-1],
            "in use",
            f"its schema is still at revision {old}",
            "then run `pilotmon init-db`",
        )
        assert current_revision(engine) == old  # the upgrade went back with the rebuild
        code, out, err = run_in_process(monkeypatch, capsys, "init-db", **env)
        dispose_engines()
        assert code == 0, err
        assert "result indicators rebuilt" in out
        assert current_revision(engine) == head_revision()
    finally:
        upgrade(engine)  # the next tests' database is at the latest revision


def _percent_lines(err: str, label: str) -> list[int]:
    """The percentages logged for ``label``, checking each is a whole line of its own."""
    assert "\r" not in err and "\x1b" not in err, repr(err)  # no bar, no terminal codes
    return [
        int(line.split(": ")[1].removesuffix(" %"))
        for line in err.splitlines()
        if line.startswith(f"{label}: ")
    ]


def test_without_a_terminal_backup_and_restore_log_their_progress_in_plain_lines(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Under cron the log got the final line only: no way to tell how far a night's backup got.
    source = _office(tmp_path, sqlite_template)
    archive = tmp_path / "nightly.tar.gz"
    code, out, err = run_in_process(
        monkeypatch, capsys, "backup", str(archive), PILOTMON_DATA_DIR=str(source)
    )
    assert code == 0, err
    assert err.splitlines()[0] == "taking a sqlite snapshot of the database …"
    written = _percent_lines(err, "writing backup")
    assert written == sorted(set(written)) and written[-1] == 100, err
    assert all(p % 10 == 0 for p in written), err
    assert "backup written to" in out  # the summary stays on stdout

    code, out, err = run_in_process(
        monkeypatch, capsys, "restore", str(archive), PILOTMON_DATA_DIR=str(tmp_path / "new")
    )
    assert code == 0, err
    unpacked = _percent_lines(err, "verifying and unpacking")
    assert unpacked == sorted(set(unpacked)) and unpacked[-1] == 100, err
    assert err.splitlines()[-1] == "restoring the database (sqlite backup into sqlite) …", err


def test_progress_in_a_log_is_a_line_every_tenth(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ops_cli._Bar()  # stderr is captured here: not a terminal
    bar.start("restoring rows", 1000)
    for _ in range(333):
        bar.advance(3)  # 999 of 1000: not quite done
    bar.advance(1)
    bar.finish()
    assert capsys.readouterr().err.splitlines() == [
        f"restoring rows: {p} %" for p in range(10, 101, 10)
    ]


@pytest.mark.real_clock
def test_the_scheduler_says_it_stopped_on_sigterm_and_which_job_it_was_running(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # systemd stops it with SIGTERM: it exited without a word, unlike `pilotmon serve`.
    data = _data_dir(tmp_path, sqlite_template)
    started, release = threading.Event(), threading.Event()

    def probe(_engine: Engine, _settings: Settings) -> dict[str, int]:
        started.set()
        release.wait(30)
        return {}

    jobs = {"probe": Job("probe", "a job that waits", {"year": "2099"}, probe)}
    monkeypatch.setattr(jobs_cli, "JOBS", jobs)
    monkeypatch.setattr(scheduler_module, "JOBS", jobs)
    installed = signal.getsignal(signal.SIGTERM)

    def terminate_when(ready: Callable[[], bool]) -> threading.Thread:
        def send() -> None:
            for _ in range(3000):
                if ready():
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=send)
        thread.start()
        return thread

    try:
        # Idle: as soon as the scheduler has taken over SIGTERM.
        sender = terminate_when(lambda: signal.getsignal(signal.SIGTERM) is not installed)
        code, out, err = run_in_process(
            monkeypatch, capsys, "scheduler", PILOTMON_DATA_DIR=str(data)
        )
        sender.join()
        assert code == 0, err
        assert out.splitlines()[-1] == "scheduler stopped"
        # In the middle of a job (now one that fires at the next whole second).
        jobs["probe"] = Job("probe", "a job that waits", {"second": "*"}, probe)
        sender = terminate_when(started.is_set)
        code, out, err = run_in_process(
            monkeypatch, capsys, "scheduler", PILOTMON_DATA_DIR=str(data)
        )
        sender.join()
        assert code == 0, err
        assert out.splitlines()[-1] == (
            "scheduler stopped while job probe was running; the process exits once it has finished"
        )
    finally:
        release.set()
        for _ in range(3000):  # let the job record its end before the database goes
            if not scheduler_module.running_jobs():
                break
            time.sleep(0.01)
        dispose_engines()
    assert signal.getsignal(signal.SIGTERM) is installed  # the test process's own, given back
