"""``pilotmon serve`` stops on one signal while a tablet's photo chunk is half-way (its link
stalled): the server does not wait for the rest of the body, and keeps the bytes that arrived."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Attachment
from server.config import Settings
from tests.server.sync.conftest import Field
from tests.server.sync.test_attachments import JPEG, _with_photo

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PILOTMON_ENVIRONMENT": "test",
        "PILOTMON_DATABASE_URL": str(settings.database_url),
        "PILOTMON_DATA_DIR": str(settings.data_dir),
        "PILOTMON_SECRET_KEY": settings.secret_key,
        "PILOTMON_LOG_LEVEL": "WARNING",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return child
        except OSError:
            time.sleep(0.1)
    child.kill()
    raise AssertionError("pilotmon serve did not start listening")


# Each signal on SQLite, and SIGTERM (what a service manager sends) on PostgreSQL too: the two
# signals differ in how the process ends (SIGINT's KeyboardInterrupt, server/serving.py), not in
# what reaches the database, the bytes received committed as the request stops.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "db_url"),
    [
        pytest.param(signal.SIGTERM, "sqlite", id="SIGTERM-sqlite"),
        pytest.param(signal.SIGTERM, "postgresql", id="SIGTERM-postgresql"),
        pytest.param(signal.SIGINT, "sqlite", id="SIGINT-sqlite"),
    ],
    indirect=["db_url"],
)
def test_one_signal_stops_the_server_with_a_half_sent_chunk_and_its_bytes_are_kept(
    client: TestClient,
    field: Field,
    engine: Engine,
    settings: Settings,
    stop: signal.Signals,
) -> None:
    photo_id = _with_photo(client, field)
    port = _free_port()
    child = _serve(settings, port)
    try:
        link = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (
            f"PATCH /api/v1/attachments/{photo_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {field.token}\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n"
        )
        link.sendall(head.encode() + JPEG[:40_000])  # then the link stalls
        time.sleep(1.0)  # the server has read what was sent and waits for more
        child.send_signal(stop)
        try:
            child.wait(timeout=6)
        except subprocess.TimeoutExpired:
            pytest.fail("pilotmon serve still runs 6 s after one signal")
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert child.returncode in (0, -stop), child.stderr.read().decode() if child.stderr else ""
        answer = link.recv(4096)
        link.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    assert b"upload-offset: 40000" in answer.lower()
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and stored.received == 40_000
    partial = settings.data_dir / "attachments" / "partial" / photo_id
    assert partial.read_bytes() == JPEG[:40_000]
