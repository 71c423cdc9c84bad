"""A busy server (429, 503 with Retry-After): the client waits a short Retry-After out, hands a
long one back at once, and the schedule waits at least that long, saying why.

The client runs its real ``requests`` session (``default_session``: urllib3 retries) against a
scripted HTTP server on 127.0.0.1; ``BusyAwareRetry.pause`` is replaced to record the waits
instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from sync import errors
from sync.client import BusyAwareRetry, SyncClient, retry_after_seconds
from sync.engine import SyncEngine
from sync.schedule import MAX_RETRY_AFTER, SyncSchedule
from sync.status import read_status
from sync.store import DeviceStore
from tests.sync.scripted import Scripted as ScriptedServer

INFO = {
    "protocols": [1],
    "max_batch_mutations": 500,
    "max_batch_bytes": 1_000_000,
    "max_chunk_bytes": 1_048_576,
    "max_pull_limit": 1000,
    "server_time": "2026-01-01T00:00:00Z",
}


class Scripted(ScriptedServer):
    """The scripted server, answering the sync info once its script is done."""

    def __init__(self) -> None:
        super().__init__(default=(200, {}, INFO))

    def busy(self, seconds: int | None, *, status: int = 429, times: int = 1) -> None:
        headers = {} if seconds is None else {"Retry-After": str(seconds)}
        for _ in range(times):
            self.answers.append((status, headers, {"detail": "too many requests"}))


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(
        BusyAwareRetry, "pause", lambda self, seconds: recorded.append(round(seconds, 3))
    )
    return recorded


def _client(server: Scripted, *, read_timeout: float = 30.0) -> SyncClient:
    return SyncClient(server.url, token="t", timeout=(5.0, read_timeout))


def test_a_short_retry_after_is_waited_out_and_the_call_succeeds(
    server: Scripted, waits: list[float]
) -> None:
    server.busy(7)
    info = _client(server).info()
    assert info.max_batch_mutations == 500
    assert server.seen == ["GET /api/v1/sync/info"] * 2
    assert waits == [7]


def test_a_push_is_retried_after_a_busy_503_too(server: Scripted, waits: list[float]) -> None:
    server.busy(3, status=503)
    server.answers.append(
        (200, {}, {"last_seq": 0, "server_time": "2026-01-01T00:00:00Z", "results": []})
    )
    answer = _client(server).push(b'{"protocol":1,"device_id":"d","mutations":[]}')
    assert answer.last_seq == 0
    assert server.seen == ["POST /api/v1/sync/push"] * 2
    assert waits == [3]


def test_a_retry_after_longer_than_the_read_timeout_comes_back_at_once(
    server: Scripted, waits: list[float]
) -> None:
    server.busy(600)
    with pytest.raises(errors.ServerBusy) as caught:
        _client(server, read_timeout=30).info()
    assert server.seen == ["GET /api/v1/sync/info"]  # no retry, no wait on the thread
    assert waits == []
    assert caught.value.retry_after == 600 and caught.value.status == 429
    assert "the server is busy" in caught.value.message
    assert "about 10 minutes" in caught.value.message


def test_a_server_still_busy_after_the_retries_says_so(
    server: Scripted, waits: list[float]
) -> None:
    server.busy(2, times=5)
    with pytest.raises(errors.ServerBusy) as caught:
        _client(server).info()
    assert len(server.seen) == 3  # the first try and two retries
    assert waits == [2, 2]
    assert caught.value.retry_after == 2


def test_retry_after_as_a_date_is_read_against_the_server_clock() -> None:
    server_now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(server_now + timedelta(seconds=90), usegmt=True)
    assert (
        retry_after_seconds(
            {"Retry-After": later, "Date": format_datetime(server_now, usegmt=True)}
        )
        == 90
    )
    assert retry_after_seconds({"Retry-After": later}) is None  # no server clock to judge by
    assert retry_after_seconds({"retry-after": " 12 "}) == 12
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_the_schedule_waits_at_least_retry_after_and_the_status_says_busy(
    server: Scripted, waits: list[float], tmp_path: Path
) -> None:
    store = DeviceStore(tmp_path / "tablet.sqlite3")
    try:
        store.save("activity", {"id": "3b5a3c1e-0000-4000-8000-000000000001", "title": "x"})
        now = [0.0]
        schedule = SyncSchedule(
            SyncEngine(store, _client(server)),
            first_retry=10,
            max_delay=600,
            save_delay=2,
            min_gap=5,
            clock=lambda: now[0],
            rng=lambda: 1.0,
        )
        server.busy(900)  # the push is refused for 15 minutes
        assert schedule.run_once() is False
        assert schedule.seconds_to_next() == 900  # not the 10 s the back-off alone gives
        status = read_status(store, schedule)
        assert status.last_error is not None and "the server is busy" in status.last_error
        assert "Not synced: the server is busy" in status.summary
        assert status.pending == 1  # nothing lost

        schedule.sync_soon()  # a save does not bring the round forward
        assert schedule.seconds_to_next() == 900
        schedule.sync_now()  # nor does "Sync now"
        assert schedule.seconds_to_next() == 900

        now[0] = 900.0
        requests_before = len(server.seen)
        server.busy(None, status=503)  # busy again, without saying for how long
        server.busy(None, status=503, times=2)
        assert schedule.run_once() is False
        assert len(server.seen) == requests_before + 3
        assert schedule.seconds_to_next() == 20  # plain back-off: second failure in a row
    finally:
        store.close()


def test_an_absurd_retry_after_is_capped(tmp_path: Path) -> None:
    store = DeviceStore(tmp_path / "tablet.sqlite3")

    class Busy:
        def __init__(self) -> None:
            self.store = store

        def sync_once(self) -> Any:
            raise errors.ServerBusy(
                "the server is busy (429)", status=429, retry_after=30 * 24 * 3600
            )

        def stop_waiting(self) -> None:
            """Nothing waits here."""

    try:
        now = [0.0]
        schedule = SyncSchedule(Busy(), clock=lambda: now[0], rng=lambda: 0.5)
        schedule.run_once()
        assert schedule.seconds_to_next() == MAX_RETRY_AFTER
    finally:
        store.close()
