"""Kill the tablet at random points (docs/protocol.md#client-behaviour): nothing is lost, nothing
is sent twice.

A real client process (``tests.sync.kill_client``) saves records, pushes them in small batches
and pulls its team's records page by page, against a real server on 127.0.0.1; the test sends
it SIGKILL at a random moment of a randomly chosen stage. Then: the store passes
``PRAGMA integrity_check``, and a sync round with no new save brings every saved record to the
server exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.activities.models import Activity
from server.activities.service import write_activity
from server.app import create_app
from server.config import Settings
from server.db import make_engine, write_engine
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.store import DeviceStore
from tests.factories import (
    activity_data,
    make_device,
    make_project,
    make_user,
    versions_by_device,
)

RUNS = int(os.environ.get("PILOTMON_KILL_RUNS", "50"))
RECORDS = 12
TEAM_RECORDS = 15
STAGES = ("saving", "pushing", "pulling")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Engine]]:
    """The API on a free port of 127.0.0.1, in a thread, on its own SQLite database."""
    directory = tmp_path_factory.mktemp("kill-server")
    database = directory / "server.sqlite3"
    database.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    settings = Settings(
        environment="test",
        data_dir=directory / "data",
        database_url=url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    settings.ensure_data_dir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", engine
    server.should_exit = True
    thread.join(10)
    engine.dispose()


def _team(engine: Engine) -> tuple[str, str, str]:
    """A project with a teammate's records to pull, and an expert with a fresh tablet."""
    with Session(write_engine(engine), expire_on_commit=False) as session:
        project = make_project(session)
        teammate = make_user(session, projects=[project])
        expert = make_user(session, projects=[project])
        device, token = make_device(session, expert)
        for n in range(TEAM_RECORDS):
            write_activity(
                session,
                data=activity_data(project, title=f"Team day {n}"),
                existing=None,
                source="api",
                author_id=teammate.id,
            )
        session.commit()
        return str(project.id), str(device.id), token


def _kill_somewhere(command: list[str], rng: random.Random) -> str:
    """Run the client and SIGKILL it inside a random stage; returns where it died."""
    stage = rng.choice(STAGES)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    killed_in = "finished"
    for line in child.stdout:
        if line.strip() == stage:
            time.sleep(rng.uniform(0, 0.12))
            child.send_signal(signal.SIGKILL)
            killed_in = stage
            break
    child.stdout.close()
    child.wait(60)
    return killed_in if child.returncode == -signal.SIGKILL else "finished"


def _one_run(base_url: str, engine: Engine, directory: Path, run: int) -> str:
    rng = random.Random(20250314 + run)
    project_id, device_id, token = _team(engine)
    path = directory / f"tablet-{run}.sqlite3"
    first = (run + 1) << 32
    command = [
        sys.executable,
        "-m",
        "tests.sync.kill_client",
        base_url,
        token,
        device_id,
        str(path),
        project_id,
        str(first),
        str(RECORDS),
    ]
    where = _kill_somewhere(command, rng)

    store = DeviceStore(path, device_id=device_id)
    try:
        assert store.integrity_check() == "ok"
        saved = {
            r["id"] for r in store.records("activity") if uuid.UUID(r["id"]).int >> 32 == run + 1
        }
        # No new save: the queue restarts by itself.
        SyncEngine(store, SyncClient(base_url, token=token)).sync_once()
        assert store.pending_count() == 0
        with Session(engine) as session:
            on_server = {
                str(i)
                for i in session.execute(
                    select(col(Activity.id)).where(col(Activity.device_id) == uuid.UUID(device_id))
                ).scalars()
            }
            revisions = versions_by_device(session, uuid.UUID(device_id))
        assert on_server == saved, where
        assert revisions == len(saved), where  # each applied once: one revision each
        assert len(store.records("activity")) == len(saved) + TEAM_RECORDS
    finally:
        store.close()
    return where


@pytest.mark.slow
def test_a_killed_tablet_loses_nothing_and_sends_nothing_twice(
    live_server: tuple[str, Engine], tmp_path: Path
) -> None:
    base_url, engine = live_server
    # A few tablets at a time: each run waits mostly on its child process and the server.
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = Counter(
            pool.map(lambda run: _one_run(base_url, engine, tmp_path, run), range(RUNS))
        )
    print("kill test outcomes:", dict(outcomes))
    assert sum(outcomes[stage] for stage in STAGES) >= RUNS * 0.8, outcomes
