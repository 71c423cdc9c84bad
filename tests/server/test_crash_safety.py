"""Crash safety: a uvicorn server SIGKILLed at random moments while a tablet pushes.

After every kill the database holds exactly the prefix of the tablet's outbox up to the device's
``last_seq`` — every activity at the version that prefix gives it, with its revisions, change-log
rows and attendance, and nothing of the mutations after it (no half-applied batch). The tablet
then retries against the restarted server; at the end everything has arrived exactly once.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import pytest
import requests
from sqlalchemy import Engine, text

from server.config import Settings
from server.db import make_engine, write_engine
from sync import errors
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.store import DeviceStore
from tests.server.sync.conftest import Field, field  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
RUNS = 30
SAVES_PER_RUN = 4
ATTENDANCE_ROWS = 2


class CrashServer:
    """``tests/server/crash_server.py`` in a subprocess: start a uvicorn child, kill it."""

    def __init__(self, settings: Settings) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTMON_")}
        env.update(
            {
                "PILOTMON_ENVIRONMENT": "test",
                "PILOTMON_DATABASE_URL": settings.resolved_database_url,
                "PILOTMON_DATA_DIR": str(settings.data_dir),
                "PILOTMON_SECRET_KEY": settings.secret_key,
                "PILOTMON_LOG_LEVEL": "WARNING",
                "PILOTMON_RATE_LIMIT_SYNC_PER_MINUTE": "0",
                "PILOTMON_RATE_LIMIT_AUTH_PER_MINUTE": "0",
            }
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.server.crash_server"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self._answer("ready"))
        self.pid: int | None = None

    def _answer(self, word: str) -> str:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline().split()
        assert line and line[0] == word, f"crash server said {line!r} (exit {self.process.poll()})"
        return line[1]

    def start(self) -> int:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write("start\n")
        stdin.flush()
        self.pid = int(self._answer("pid"))
        return self.pid

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=30)


class KillDuringPush(requests.Session):
    """Arms a SIGKILL a random few milliseconds after the n-th push of a run leaves."""

    def __init__(self, server: CrashServer, *, nth: int, delay: float) -> None:
        super().__init__()
        self.server = server
        self.nth = nth
        self.delay = delay
        self.pushes = 0
        self.timer: threading.Timer | None = None

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if str(url).endswith("/sync/push"):
            self.pushes += 1
            if self.pushes == self.nth:
                self.timer = threading.Timer(self.delay, self.server.kill)
                self.timer.start()
        return super().request(method, url, *args, **kwargs)


def _db_id(engine: Engine, value: str) -> Any:
    return uuid.UUID(value).hex if engine.dialect.name == "sqlite" else value


def assert_exactly_the_acknowledged_prefix(
    engine: Engine, device_id: str, history: list[tuple[int, str]]
) -> int:
    """The server holds the outbox's mutations up to last_seq, each applied once, no more."""
    with engine.connect() as conn:
        last_seq = int(
            conn.execute(
                text("SELECT last_seq FROM device WHERE id = :id"),
                {"id": _db_id(engine, device_id)},
            ).scalar_one()
        )
        expected: dict[str, int] = defaultdict(int)
        for seq, activity_id in history:
            if seq <= last_seq:
                expected[activity_id] += 1
        rows = conn.execute(
            text(
                "SELECT a.id, a.version, "
                # the versions its history keeps: its revisions, and version 1 from the row
                # while no later version has superseded it (docs/architecture.md#revisions)
                " (SELECT count(*) FROM activity_revision r WHERE r.activity_id = a.id)"
                " + CASE WHEN a.version = 1 AND a.created_via IS NOT NULL THEN 1 ELSE 0 END, "
                " (SELECT count(*) FROM change c WHERE c.entity = 'activity' AND c.entity_id = a.id),"  # noqa: E501
                " (SELECT count(*) FROM attendance t WHERE t.activity_id = a.id) "
                "FROM activity a"
            )
        ).all()
        kept = conn.execute(text("SELECT count(*) FROM kept_mutation")).scalar_one()
    found = {str(uuid.UUID(str(r[0]))): r[1:] for r in rows}
    assert set(found) == {a for a, n in expected.items() if n > 0}, "lost or extra activities"
    for activity_id, (version, revisions, changes, attendance) in found.items():
        n = expected[activity_id]
        assert (version, revisions, changes) == (n, n, n), (
            activity_id,
            version,
            revisions,
            changes,
            n,
        )
        assert attendance == ATTENDANCE_ROWS
    assert kept == 0, "a mutation of the tablet's own was rejected or conflicted"
    return last_seq


@pytest.mark.real_clock
@pytest.mark.slow
def test_sigkill_during_pushes_never_half_applies_and_the_tablet_converges(
    settings: Settings,
    engine: Engine,
    field: Field,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings.ensure_data_dir()
    rng = random.Random(20260101)
    server = CrashServer(settings)
    store = DeviceStore(tmp_path / "tablet.sqlite3", device_id=str(field.device.id))
    client = SyncClient(f"http://127.0.0.1:{server.port}", token=field.token, timeout=(5.0, 20.0))
    tablet = SyncEngine(store, client, max_batch_mutations=2)
    # A teammate's tablet only pulls, a page at a time, between the crashes.
    mate_store = DeviceStore(tmp_path / "teammate.sqlite3", device_id=str(field.teammate_device.id))
    mate_client = SyncClient(
        f"http://127.0.0.1:{server.port}", token=field.teammate_token, timeout=(5.0, 20.0)
    )
    teammate = SyncEngine(mate_store, mate_client, pull_limit=5)
    history: list[tuple[int, str]] = []
    activities: list[str] = []
    interrupted = 0
    try:
        for _run in range(RUNS):
            for _ in range(SAVES_PER_RUN):
                if activities and rng.random() < 0.35:
                    activity_id = rng.choice(activities)
                    saved = store.save(
                        "activity", {"id": activity_id, "title": f"edited {rng.random():.6f}"}
                    )
                else:
                    record = field.activity()
                    activity_id = record["id"]
                    activities.append(activity_id)
                    saved = store.save("activity", record)
                assert saved is not None
                history.append((saved.seq, activity_id))
            session = KillDuringPush(server, nth=rng.randint(1, 2), delay=rng.uniform(0, 0.08))
            client.session = session
            server.start()
            mate_client.session = requests.Session()
            teammate.pull()
            mate_client.session.close()
            try:
                tablet.push()
            except errors.NetworkError:
                interrupted += 1
            if session.timer is not None:
                session.timer.join()
            server.kill()  # a run always ends with a kill, mid-push or just after
            session.close()
            assert_exactly_the_acknowledged_prefix(engine, str(field.device.id), history)

        # The tablet retries against a server that stays up: everything arrives, once.
        client.session = requests.Session()
        server.start()
        tablet.push()
        tablet.pull()
        assert store.pending_count() == 0
        last_seq = assert_exactly_the_acknowledged_prefix(engine, str(field.device.id), history)
        assert last_seq == len(history) == RUNS * SAVES_PER_RUN
        # Both tablets converge on the same records, the teammate through incremental pulls.
        mate_client.session = requests.Session()
        teammate.pull()
        mine = {r["id"]: r["title"] for r in store.records("activity")}
        theirs = {r["id"]: r["title"] for r in mate_store.records("activity")}
        assert set(mine) == set(activities)
        assert theirs == mine
    finally:
        server.close()
        store.close()
        mate_store.close()
    print(f"{RUNS} kills, {interrupted} of them interrupted a push in flight")


def test_the_server_s_sqlite_syncs_each_commit_to_disk(tmp_path: Path) -> None:
    """What the server acknowledged must survive a power cut, not only a killed process: the
    tablet forgets a push once it is acknowledged, and a custody receipt says the record is
    safe. In WAL mode ``synchronous=NORMAL`` (what the server had) may lose the last commits
    when the power goes; FULL syncs the WAL at every commit. (A power cut cannot be staged in
    a test; the setting every connection gets can be read.)"""
    engine = make_engine(f"sqlite:///{tmp_path / 'pilotmon.sqlite3'}")
    try:
        for connections in (engine, write_engine(engine)):
            with connections.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        engine.dispose()
