"""The background schedule: back-off with jitter on a monotonic clock, woken by saves."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sync import errors
from sync.client import BusyAwareRetry, SyncClient
from sync.engine import SyncEngine, SyncReport
from sync.schedule import SyncSchedule
from sync.store import DeviceStore
from tests.sync.tls import server_context


class FakeEngine:
    """Stands in for SyncEngine: fails while ``failing`` is set, counts rounds."""

    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self.failing: errors.SyncClientError | None = None
        self.rounds = 0
        self.ran = threading.Event()

    def sync_once(self) -> SyncReport:
        self.rounds += 1
        self.ran.set()
        if self.failing is not None:
            self.store.set_meta(last_error=self.failing.message)
            raise self.failing
        self.store.set_meta(last_error=None)
        return SyncReport()

    def stop_waiting(self) -> None:
        """Nothing waits here."""


@pytest.fixture
def engine(tmp_path: Path) -> FakeEngine:
    return FakeEngine(DeviceStore(tmp_path / "tablet.sqlite3"))


def _schedule(engine: FakeEngine, now: list[float], jitter: float) -> SyncSchedule:
    return SyncSchedule(
        engine,
        interval=300,
        first_retry=10,
        max_delay=600,
        save_delay=2,
        min_gap=5,
        clock=lambda: now[0],
        rng=lambda: jitter,
    )


def test_failures_back_off_exponentially_with_jitter_up_to_a_ceiling(engine: FakeEngine) -> None:
    now = [1000.0]
    schedule = _schedule(engine, now, jitter=1.0)
    engine.failing = errors.NetworkError("offline")
    delays = []
    for _ in range(8):
        assert schedule.run_once() is False
        delays.append(schedule.seconds_to_next())
    assert delays == [10, 20, 40, 80, 160, 320, 600, 600]
    low = _schedule(engine, now, jitter=0.0)
    low.run_once()
    assert low.seconds_to_next() == 5  # half fixed, half random


def test_a_success_resets_the_back_off_and_waits_the_interval(engine: FakeEngine) -> None:
    now = [0.0]
    schedule = _schedule(engine, now, jitter=0.5)
    engine.failing = errors.ServerError("boom")
    schedule.run_once()
    schedule.run_once()
    engine.failing = None
    assert schedule.run_once() is True
    assert schedule.failures == 0 and schedule.seconds_to_next() == 300


def test_work_left_in_the_outbox_is_picked_up_soon(engine: FakeEngine) -> None:
    now = [0.0]
    schedule = _schedule(engine, now, jitter=0.5)
    engine.store.save("activity", {"id": "3b5a3c1e-0000-4000-8000-000000000001", "title": "x"})
    schedule.run_once()
    assert schedule.seconds_to_next() == 1.0


def test_a_save_brings_the_next_attempt_forward_but_not_into_a_burst(engine: FakeEngine) -> None:
    now = [0.0]
    schedule = _schedule(engine, now, jitter=1.0)
    engine.failing = errors.NetworkError("offline")
    for _ in range(5):
        schedule.run_once()
    assert schedule.seconds_to_next() == 160
    schedule.sync_soon()
    assert schedule.seconds_to_next() == 5  # min_gap after the last attempt
    now[0] += 100
    schedule.sync_soon()
    assert schedule.seconds_to_next() == 0  # the minimum gap is long past: due now


def test_the_clock_is_monotonic_not_the_tablets_wall_clock(engine: FakeEngine) -> None:
    # The schedule only ever reads the injected monotonic clock: a wall-clock jump of a year
    # changes nothing, because no datetime is consulted.
    now = [50.0]
    schedule = _schedule(engine, now, jitter=1.0)
    engine.failing = errors.NetworkError("offline")
    schedule.run_once()
    assert schedule.seconds_to_next() == 10


@pytest.mark.real_clock
def test_the_thread_keeps_retrying_without_any_save(engine: FakeEngine) -> None:
    engine.failing = errors.NetworkError("offline")
    schedule = SyncSchedule(
        engine, interval=300, first_retry=0.01, max_delay=0.02, save_delay=0, min_gap=0
    )
    schedule.start()
    try:
        for _ in range(3):
            assert engine.ran.wait(10)
            engine.ran.clear()
    finally:
        schedule.stop()
    assert engine.rounds >= 3
    assert engine.store.meta("last_error") == "offline"


def test_a_save_wakes_a_sleeping_thread(engine: FakeEngine) -> None:
    schedule = SyncSchedule(
        engine, interval=3600, first_retry=3600, max_delay=3600, save_delay=0, min_gap=0
    )
    schedule.start()
    try:
        assert engine.ran.wait(10)  # the first round runs at once
        engine.ran.clear()
        schedule.sync_soon()
        assert engine.ran.wait(10)
    finally:
        schedule.stop()
    assert engine.rounds == 2


def test_sync_now_skips_the_back_off_and_the_save_delay(engine: FakeEngine) -> None:
    now = [0.0]
    schedule = _schedule(engine, now, jitter=1.0)
    engine.failing = errors.NetworkError("offline")
    for _ in range(4):
        schedule.run_once()
    schedule.sync_now()
    assert schedule.seconds_to_next() == 0


def test_an_unexpected_error_is_recorded_and_does_not_stop_the_loop(engine: FakeEngine) -> None:
    now = [0.0]
    schedule = _schedule(engine, now, jitter=1.0)

    def broken() -> SyncReport:
        raise RuntimeError("bug")

    engine.sync_once = broken  # type: ignore[method-assign]
    assert schedule.run_once() is False
    assert engine.store.meta("last_error") == "unexpected error: bug"


def test_stopping_ends_a_round_waiting_to_retry_an_unreachable_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the app while a round retries an unreachable server does not wait out the
    round's back-off on the app's UI thread (Android reports an app whose UI thread is held
    five seconds as not responding)."""
    with socket.socket() as probe:  # a port nobody listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waiting = threading.Event()
    pause = BusyAwareRetry.pause

    def long_pause(retry: BusyAwareRetry, seconds: float) -> None:
        waiting.set()
        pause(retry, 3600.0)  # a back-off far longer than the test may take

    monkeypatch.setattr(BusyAwareRetry, "pause", long_pause)
    monkeypatch.setattr(BusyAwareRetry, "get_backoff_time", lambda retry: 3600.0)
    store = DeviceStore(tmp_path / "tablet.sqlite3")
    try:
        engine = SyncEngine(store, SyncClient(f"http://127.0.0.1:{port}", token="t"))
        schedule = SyncSchedule(engine, interval=3600, first_retry=3600, save_delay=0)
        schedule.start()
        thread = schedule._thread
        assert thread is not None
        assert waiting.wait(30), "the round never retried"
        schedule.stop(timeout=30)
        assert not thread.is_alive()
        # the round's first request failed (its waits cut short); the next never left
        assert store.meta("last_error_cause") == "stopped"
    finally:
        store.close()


def test_a_stopped_client_sends_nothing_more(tmp_path: Path) -> None:
    """Once stopping, each request of the round (the next push batch, photo chunk or pull
    page) is refused before it leaves, so that a round over 2G ends after the request on the
    wire instead of going on with the rest of a photo."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = SyncClient(f"http://127.0.0.1:{port}", token="t")
        client.stop_waiting()
        with pytest.raises(errors.Stopped) as caught:
            client.info()
        assert caught.value.retry and caught.value.cause in errors.CAUSES
        server.settimeout(0.5)
        with pytest.raises(TimeoutError):  # nobody knocked
            server.accept()
    assert client.bytes_sent == 0


class SilentServer:
    """Takes connections and reads what comes (``read=False``: reads nothing), never answers:
    a server behind a link that stalls."""

    def __init__(self, *, read: bool, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.read = read
        self.connections: list[socket.socket] = []
        self.request_seen = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                if self.tls is not None:
                    connection = self.tls.wrap_socket(connection, server_side=True)
                self.connections.append(connection)
                if self.read:
                    while b"\r\n\r\n" not in connection.recv(65536):
                        pass
                self.request_seen.set()

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


def run_in_thread(call: Any) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("stalled", ["waiting for the answer", "sending a photo chunk"])
def test_stopping_cuts_the_request_on_the_wire(
    stalled: str, scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the app while a request is on the wire ends it at once: over 2G, a photo chunk
    or a slow answer held the app's close until the request's own timeout (30 to 60 s), after
    which the store was closed under the sync thread. The request is not tried again. Over
    TLS too, the tablet's link in the field."""
    tls = server_context(tmp_path, monkeypatch) if scheme == "https" else None
    server = SilentServer(read=stalled == "waiting for the answer", tls=tls)
    try:
        client = SyncClient(f"{scheme}://127.0.0.1:{server.port}", token="t")
        went_out: list[int] = []
        if stalled == "waiting for the answer":
            thread, raised = run_in_thread(client.info)
            assert server.request_seen.wait(30), "the request never arrived"
        else:
            # far more than the socket buffers take: the send blocks, as over a slow link
            chunk = bytes(32 * 1024 * 1024)
            thread, raised = run_in_thread(
                lambda: client.upload_chunk("a1", offset=0, chunk=chunk, on_sent=went_out.append)
            )
            assert server.request_seen.wait(30), "the request never arrived"
            while not went_out:
                time.sleep(0.01)
        client.stop_waiting()
        thread.join(20)  # without the cut: the write timeout (30 s) or the read timeout (60 s)
        assert not thread.is_alive(), "the request went on after the app stopped"
        assert len(raised) == 1 and isinstance(raised[0], errors.Stopped), raised
        assert raised[0].cause == "stopped"
        if went_out:
            assert went_out[-1] < len(chunk)
        assert len(server.connections) == 1  # not tried again
    finally:
        server.close()
