"""``pilotmon receipts rotate-key`` on a database it cannot use: nothing written, not even a key
file; a database another process is writing to is exit code 1 (a lock), said while it waits,
not exit code 3 (an unreachable database) after 30 silent seconds."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import click
import pytest
import sqlalchemy as sa

from server.cli import cli
from server.records import receipts
from tests.server.in_process import initialised_data_dir, run_in_process


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: Path, *args: str
) -> tuple[int, str, str]:
    return run_in_process(monkeypatch, capsys, *args, PILOTMON_DATA_DIR=str(data))


@pytest.fixture
def data(tmp_path: Path, sqlite_template: Path) -> Path:
    return initialised_data_dir(tmp_path / "data", sqlite_template)


def test_rotate_key_on_a_database_without_schema_writes_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It wrote data/receipt_key, then failed with exit code 3.
    data = tmp_path / "data"
    data.mkdir()
    (data / "pilotmon.sqlite3").touch()
    code, _, err = _run(monkeypatch, capsys, data, "receipts", "rotate-key")
    assert code == 3, err
    assert err.strip().splitlines() == [
        "pilotmon: the database has no schema or an old one: run `pilotmon init-db` first"
    ]
    assert not (data / "receipt_key").exists()


def _hold_write_lock(database: Path) -> sqlite3.Connection:
    """Another process in the middle of a write (a bundle import, a push)."""
    writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    return writer


def test_rotate_key_while_another_command_writes_says_so_and_exits_1(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(monkeypatch, capsys, data, "receipts", "rotate-key")
    assert code == 0, err
    key = (data / "receipt_key").read_text()
    with sa.create_engine(f"sqlite:///{data / 'pilotmon.sqlite3'}").connect() as conn:
        published = conn.exec_driver_sql("SELECT * FROM receipt_key ORDER BY key_id").all()

    monkeypatch.setattr(receipts, "ROTATE_LOCK_WAIT_S", 0.3)
    writer = _hold_write_lock(data / "pilotmon.sqlite3")
    started = time.monotonic()
    try:
        code, out, err = _run(monkeypatch, capsys, data, "receipts", "rotate-key")
    finally:
        writer.close()
    assert time.monotonic() - started < 10  # it waited 30 s, then said nothing useful
    assert code == 1, err
    assert out == ""
    assert err.splitlines() == [
        "waiting up to 0.3 s for the database: another pilotmon command or the server is "
        "writing to it …",
        "pilotmon: the database is in use: another pilotmon command or the server kept writing "
        "to it for 0.3 s; nothing was changed (the old key still signs): try again once it is "
        "done",
    ]
    assert (data / "receipt_key").read_text() == key
    with sa.create_engine(f"sqlite:///{data / 'pilotmon.sqlite3'}").connect() as conn:
        assert conn.exec_driver_sql("SELECT * FROM receipt_key ORDER BY key_id").all() == published


# Waits on the sync schedule's (or the lock's) timers, which libfaketime's clock never lets
# expire: left out of make test-days.
@pytest.mark.real_clock
def test_rotate_key_goes_ahead_once_the_other_writer_is_done(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = _hold_write_lock(data / "pilotmon.sqlite3")
    done = threading.Timer(0.3, writer.close)
    done.start()
    try:
        code, out, err = _run(monkeypatch, capsys, data, "receipts", "rotate-key")
    finally:
        done.join()
    assert code == 0, err
    assert err.startswith("waiting up to 10 s for the database")
    assert "receipts are now signed by key" in out


def test_a_lock_wait_that_runs_out_in_any_command_is_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    # "pilotmon: the database refused the command: database is locked", exit 3 (unreachable).
    @click.command("probe")
    def probe() -> None:
        locked = sqlite3.OperationalError("database is locked")
        locked.sqlite_errorcode = sqlite3.SQLITE_BUSY
        raise sa.exc.OperationalError("INSERT …", {}, locked)

    monkeypatch.setitem(cli.commands, "probe", probe)
    code, _, err = _run(monkeypatch, capsys, data, "probe")
    assert code == 1
    assert err == (
        "pilotmon: the database is busy: another pilotmon command or the server held its write "
        "lock too long, and this command stopped; try again once it is done\n"
    )
