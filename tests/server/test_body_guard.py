"""Bodies are read only for known callers, only so slowly, only so many at once (security
finding 7): a stranger sending most of an 8 MB body and stalling must not hold server memory.

The ASGI tests drive the app with a ``receive`` that counts what the server pulls; the live test
runs ``pilotmon serve`` on 127.0.0.1 and measures its resident memory under 100 slow bodies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from server.config import Settings
from server.db import make_engine, write_engine
from server.migrate import upgrade
from tests.conftest import app_for
from tests.factories import make_access_token, make_device, make_user

Message = MutableMapping[str, Any]
EIGHT_MB = 8 * 1024 * 1024


def _scope(path: str, headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


class Wire:
    """The client side of one request: a body that arrives as the test says, and the answer."""

    def __init__(self, chunks: list[bytes], *, stall: bool = True) -> None:
        self.chunks = list(chunks)
        self.stall = stall
        self.pulled = 0
        self.finished = False
        self.answer: list[Message] = []

    async def receive(self) -> Message:
        if self.chunks:
            chunk = self.chunks.pop(0)
            self.pulled += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}
        if self.stall:
            await asyncio.sleep(3600)  # the client stops sending and keeps the line open
        if not self.finished:
            self.finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # (waiting for a disconnect that does not come)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.answer.append(message)

    @property
    def status(self) -> int:
        return int(next(m for m in self.answer if m["type"] == "http.response.start")["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.answer if m["type"] == "http.response.start")
        return {bytes(k).lower(): bytes(v) for k, v in start["headers"]}

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.answer if "body" in m))


def _app(settings: Settings, engine: Engine, **update: Any) -> Any:
    settings.ensure_data_dir()
    return app_for(settings.model_copy(update=update), engine)


def _run(app: Any, scope: dict[str, Any], wire: Wire, timeout: float = 30) -> None:
    asyncio.run(asyncio.wait_for(app(scope, wire.receive, wire.send), timeout))


JSON = (b"content-type", b"application/json")
DECLARED_8MB = (b"content-length", str(EIGHT_MB).encode())


def test_a_stranger_gets_401_before_a_byte_of_the_body_is_read(
    settings: Settings, engine: Engine
) -> None:
    app = _app(settings, engine)
    for headers in (
        [],
        [(b"authorization", b"Bearer not-a-real-token")],
        [(b"cookie", b"pilotmon_session=not-a-real-token")],
    ):
        wire = Wire([b"x" * 65536] * 120)  # 7.5 MB of the declared 8 MB, then silence
        _run(app, _scope("/api/v1/users", [JSON, DECLARED_8MB, *headers]), wire)
        assert wire.status == 401, headers
        assert wire.pulled == 0, f"read {wire.pulled} bytes of a stranger's body"
        assert wire.json()["code"] == "not_authenticated"
        assert wire.headers[b"connection"] == b"close"


def test_a_dashboard_form_without_a_session_is_answered_without_reading_it(
    settings: Settings, engine: Engine
) -> None:
    app = _app(settings, engine)
    wire = Wire([b"username=x&" * 6000] * 100)
    form = (b"content-type", b"application/x-www-form-urlencoded")
    _run(app, _scope("/people", [form, (b"content-length", b"6600000")]), wire)
    assert wire.status == 401 and wire.pulled == 0
    assert b"text/html" in wire.headers[b"content-type"]


def test_a_revoked_tablet_hears_so_before_its_push_is_read(
    settings: Settings, engine: Engine
) -> None:
    from server.columns import utcnow

    with Session(write_engine(engine)) as session:
        user = make_user(session, role="field_expert", countries=["LSO"])
        _, token = make_device(session, user, revoked_at=utcnow())
        session.commit()
    wire = Wire([b"{" * 65536] * 10)
    headers = [JSON, DECLARED_8MB, (b"authorization", f"Bearer {token}".encode())]
    _run(_app(settings, engine), _scope("/api/v1/sync/push", headers), wire)
    assert wire.status == 403 and wire.pulled == 0
    assert "revoked" in wire.json()["detail"]


def _token(engine: Engine, role: str = "admin") -> str:
    with Session(write_engine(engine)) as session:
        user = make_user(session, role=role, countries=[])
        token = make_access_token(session, user)
        session.commit()
    return token


def test_a_slow_body_of_a_known_caller_is_cut_with_408(settings: Settings, engine: Engine) -> None:
    token = _token(engine)
    app = _app(settings, engine, body_idle_timeout_seconds=0.3)
    wire = Wire([b'{"username": "slow', b"x" * 1000])  # then nothing more
    headers = [JSON, DECLARED_8MB, (b"authorization", f"Bearer {token}".encode())]
    _run(app, _scope("/api/v1/users", headers), wire)
    assert wire.status == 408
    assert wire.json()["code"] == "body_timeout"
    assert wire.headers[b"connection"] == b"close"


def test_beyond_the_bodies_read_at_once_the_server_says_503_with_retry_after(
    settings: Settings, engine: Engine
) -> None:
    token = _token(engine)
    app = _app(settings, engine, max_concurrent_bodies=2, body_idle_timeout_seconds=2)
    headers = [JSON, DECLARED_8MB, (b"authorization", f"Bearer {token}".encode())]

    def call(wire: Wire, scope_headers: list[tuple[bytes, bytes]] = headers) -> Any:
        return app(_scope("/api/v1/users", scope_headers), wire.receive, wire.send)

    async def three_at_once() -> list[Wire]:
        wires = [Wire([b"{" * 1000]) for _ in range(3)]
        held = [asyncio.create_task(call(w)) for w in wires[:2]]
        while not all(w.pulled for w in wires[:2]):
            await asyncio.sleep(0.01)
        await call(wires[2])
        await asyncio.gather(*held)
        return wires

    slow, slower, third = asyncio.run(asyncio.wait_for(three_at_once(), 30))
    assert third.status == 503 and third.pulled == 0
    assert third.headers[b"retry-after"] == b"5"
    assert third.json()["code"] == "server_busy"
    assert slow.status == slower.status == 408
    # Those bodies were cut and let go: the next one is read again.
    done = Wire([b"{}"], stall=False)
    asyncio.run(asyncio.wait_for(call(done, [JSON, (b"content-length", b"2"), headers[2]]), 30))
    assert done.status == 422 and done.pulled == 2


# --- a live server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[int, int, str]]:
    """``pilotmon serve`` on 127.0.0.1 with a migrated SQLite database: (port, pid, token)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("measuring the server's memory needs Linux /proc")
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    token = _token(engine)
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PILOTMON_DATABASE_URL": url,
        "PILOTMON_DATA_DIR": str(tmp_path / "data"),
        "PILOTMON_ENVIRONMENT": "test",
        "PILOTMON_LOG_LEVEL": "WARNING",
        "PILOTMON_BODY_IDLE_TIMEOUT_SECONDS": "2",
        "PILOTMON_RATE_LIMIT_AUTH_PER_MINUTE": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(port, "/api/v1/health") in (200, 503):
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the server did not start: " + (server.stderr.read() or b"").decode()[-2000:]
                    if server.stderr
                    else ""
                )
            time.sleep(0.2)
        yield port, server.pid, token
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _slow_body(port: int, headers: str, send_bytes: int) -> socket.socket:
    """Declare 8 MB, send ``send_bytes`` of it (as far as the server takes them), then stall."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        (
            f"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {EIGHT_MB}\r\n{headers}\r\n"
        ).encode()
    )
    chunk = b"x" * 65536
    sent = 0
    sock.settimeout(0.5)
    try:
        while sent < send_bytes:
            sent += sock.send(chunk)
    except OSError:
        pass  # refused (the server closed) or its window is full: either way, we stall now
    return sock


@pytest.mark.slow
def test_a_hundred_slow_strangers_do_not_pin_server_memory(
    live_server: tuple[int, int, str],
) -> None:
    port, pid, token = live_server
    assert _get(port, "/api/v1/auth/me", {"Authorization": f"Bearer {token}"}) == 200
    before = _rss_mb(pid)
    sockets = [_slow_body(port, "", 2 * 1024 * 1024) for _ in range(100)]
    try:
        time.sleep(1.0)
        during = _rss_mb(pid)
        assert during - before < 100, f"RSS went from {before:.0f} MB to {during:.0f} MB"
        # Others are still served while the strangers hang on.
        assert _get(port, "/api/v1/health") in (200, 503)
        assert _get(port, "/api/v1/auth/me", {"Authorization": f"Bearer {token}"}) == 200
        answers = []
        for sock in sockets[:5]:
            sock.settimeout(5)
            try:
                answers.append(sock.recv(200).split(b"\r\n", 1)[0])
            except OSError as exc:
                answers.append(repr(exc).encode())
        assert all(b" 401 " in a or b"Reset" in a for a in answers), answers
    finally:
        for sock in sockets:
            sock.close()

    # A known caller who stalls is cut with 408 after the idle timeout (2 s here).
    sock = _slow_body(port, f"Authorization: Bearer {token}\r\n", 100_000)
    try:
        sock.settimeout(30)
        status = sock.recv(200).split(b"\r\n", 1)[0]
    finally:
        sock.close()
    assert b" 408 " in status, status
