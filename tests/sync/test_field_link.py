"""A tablet syncing over a 2G link (docs/protocol.md#attachments, docs/performance.md).

A real client and a real server on 127.0.0.1 with ``tests.netlink.Link`` between them: 10 KB/s
each way, 250 ms each way, 1 % loss, a 64 KiB queue. The link is cut half-way through each
photo; everything must arrive exactly once, and each cut may cost at most one chunk.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.activities.models import Activity, Attachment
from server.db import write_engine
from sync import errors
from sync.attachments import ChunkSizer
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
from tests.netlink import PROFILE_2G, Link, LinkProfile
from tests.photos import jpeg_of
from tests.sync.test_kill import live_server  # noqa: F401  (the API on a free port)

ACTIVITIES = 4
PHOTOS = 3
PHOTO_BYTES = 45_000
# Bytes of one request's line and headers, as the client sends them (generous).
HEADER_BYTES = 600


@dataclass
class Tablet:
    store: DeviceStore
    client: SyncClient
    engine: SyncEngine
    photos: dict[str, bytes]
    activities: list[str]
    requests: list[str] = field(default_factory=list)


def _jpeg(size: int) -> bytes:
    return jpeg_of(size, os.urandom(size))


@pytest.fixture
def make_tablet(
    live_server: tuple[str, Engine],  # noqa: F811
    tmp_path: Path,
) -> Iterator[Callable[..., Tablet]]:
    _, engine = live_server
    stores: list[DeviceStore] = []

    def make(
        url: str, *, photos: int, photo_bytes: int, activities: int, **options: float
    ) -> Tablet:
        with Session(write_engine(engine), expire_on_commit=False) as session:
            project = make_project(session)
            expert = make_user(session, projects=[project])
            device, token = make_device(session, expert)
            session.commit()
        store = DeviceStore(tmp_path / f"tablet-{device.id}.sqlite3", device_id=str(device.id))
        stores.append(store)
        records = [activity_data(project, title=f"Field day {n}") for n in range(activities)]
        for record in records:
            record.pop("status", None)
            store.save("activity", record)
        saved: dict[str, bytes] = {}
        for n in range(photos):
            data = _jpeg(photo_bytes)
            source = tmp_path / f"photo-{uuid.uuid4()}.jpg"
            source.write_bytes(data)
            photo_id = str(uuid.uuid4())
            store.add_photo(
                attachment_id=photo_id,
                activity_id=records[n % len(records)]["id"],
                source=source,
                content_type="image/jpeg",
                caption=f"plot {n}",
            )
            saved[photo_id] = data
        client = SyncClient(url, token=token, **options)  # type: ignore[arg-type]
        tablet = Tablet(store, client, SyncEngine(store, client), saved, [r["id"] for r in records])
        send = client._send

        def counted(method: str, path: str, **kwargs: object) -> object:
            tablet.requests.append(method)
            return send(method, path, **kwargs)  # type: ignore[arg-type]

        client._send = counted  # type: ignore[assignment,method-assign]
        return tablet

    yield make
    for store in stores:
        store.close()


def _sync_until_done(tablet: Tablet, *, rounds: int = 6) -> list[str]:
    """Sync rounds until nothing waits; returns the errors of the rounds that failed."""
    failed: list[str] = []
    for _ in range(rounds):
        try:
            tablet.engine.sync_once()
        except errors.NetworkError as exc:
            failed.append(exc.message)
            continue
        if not tablet.store.pending_count() and not tablet.store.uploads(state="waiting"):
            return failed
    raise AssertionError(f"still waiting after {rounds} rounds: {failed}")


def _assert_all_arrived_once(engine: Engine, tablet: Tablet, files: Path) -> None:
    device_id = uuid.UUID(tablet.store.device_id)
    with Session(engine) as session:
        on_server = sorted(
            str(i)
            for i in session.execute(
                select(col(Activity.id)).where(col(Activity.device_id) == device_id)
            ).scalars()
        )
        revisions = versions_by_device(session, device_id)
        assert on_server == sorted(tablet.activities)
        assert revisions == len(tablet.activities)  # each applied once
        for photo_id, data in tablet.photos.items():
            stored = session.get(Attachment, uuid.UUID(photo_id))
            assert stored is not None and stored.complete and stored.received == len(data)
            final = files / photo_id[:2] / photo_id
            assert hashlib.sha256(final.read_bytes()).hexdigest() == stored.sha256
            assert final.read_bytes() == data


@pytest.mark.real_clock
@pytest.mark.slow
def test_a_week_over_2g_cut_in_every_photo_arrives_once_and_each_cut_costs_one_chunk(
    live_server: tuple[str, Engine],  # noqa: F811
    make_tablet: Callable[..., Tablet],
) -> None:
    base_url, engine = live_server
    host, port = base_url.removeprefix("http://").split(":")
    with Link((host, int(port)), PROFILE_2G, seed=7) as link:
        tablet = make_tablet(
            link.url, photos=PHOTOS, photo_bytes=PHOTO_BYTES, activities=ACTIVITIES
        )
        chunk_at_cut: list[int] = []
        progress: list[tuple[str, int, int]] = []

        def cut_half_way(photo_id: str, sent: int, total: int) -> None:
            progress.append((photo_id, sent, total))
            if len(chunk_at_cut) < list(tablet.photos).index(photo_id) + 1 and sent > total // 2:
                chunk_at_cut.append(tablet.engine.uploader.sizer.size)
                link.cut()

        tablet.engine.on_progress = cut_half_way
        failed = _sync_until_done(tablet)
        files = _files_of(engine)
        _assert_all_arrived_once(engine, tablet, files)

    assert link.cuts == PHOTOS == len(chunk_at_cut)
    assert failed == []  # each cut was followed by HEAD and the round went on
    photo_total = sum(len(d) for d in tablet.photos.values())
    photo_sent = tablet.engine.report.photos.bytes
    assert tablet.engine.report.photos.failures == PHOTOS
    # Each cut cost at most the chunk in flight, not the photo.
    assert photo_total <= photo_sent <= photo_total + sum(chunk_at_cut)
    # The link carried no body byte the client does not account for (no hidden resend).
    assert link.carried_up <= tablet.client.bytes_sent + HEADER_BYTES * len(tablet.requests)
    # After every failure the next request asked the server's offset.
    assert tablet.requests.count("HEAD") == PHOTOS + len(chunk_at_cut)
    # Progress for the status line: it rises to the total for each photo.
    for photo_id, data in tablet.photos.items():
        assert (photo_id, len(data), len(data)) in progress


@pytest.mark.real_clock
@pytest.mark.slow
def test_a_slow_steady_link_is_never_cut_by_the_timeouts(
    live_server: tuple[str, Engine],  # noqa: F811
    make_tablet: Callable[..., Tablet],
) -> None:
    """One 480 KB chunk needs ~8 s at 60 KB/s: more than twice every timeout (3 s), which
    bound silence, not the length of a send. (The answer may take a second after the last
    byte left the tablet: the bytes still queued in buffers and on the link drain first, at
    most ~80 KB here.) A faster link and shorter timeouts than a real 2G one: what matters is
    the send's length against the timeouts, and the test takes half the time it did at
    20 KB/s with 7 s timeouts."""
    base_url, engine = live_server
    host, port = base_url.removeprefix("http://").split(":")
    steady = LinkProfile(rate=60_000, delay=0.05, loss=0.0, queue_bytes=8 * 1024)
    with Link((host, int(port)), steady) as link:
        tablet = make_tablet(
            link.url,
            photos=1,
            photo_bytes=480_000,
            activities=1,
            timeout=(3.0, 3.0),
            write_timeout=3.0,
        )
        tablet.engine.uploader.sizer = ChunkSizer(first=480_000, largest=480_000)
        failed = _sync_until_done(tablet, rounds=1)
        _assert_all_arrived_once(engine, tablet, _files_of(engine))
    assert failed == []
    assert tablet.engine.report.photos.failures == 0
    assert tablet.engine.report.photos.chunks == 1


@pytest.mark.real_clock
@pytest.mark.slow
def test_a_link_gone_silent_is_given_up_and_the_photo_resumes_where_the_server_stands(
    live_server: tuple[str, Engine],  # noqa: F811
    make_tablet: Callable[..., Tablet],
) -> None:
    """Coverage lost mid-chunk (no reset, just silence): the timeouts end the wait, the
    tablet asks HEAD once the link is back and sends only what the server lacks."""
    chunk = 120_000
    base_url, engine = live_server
    host, port = base_url.removeprefix("http://").split(":")
    quick = LinkProfile(rate=50_000, delay=0.05, loss=0.0, queue_bytes=16 * 1024)
    with Link((host, int(port)), quick) as link:
        tablet = make_tablet(
            link.url,
            photos=1,
            photo_bytes=150_000,
            activities=1,
            timeout=(3.0, 3.0),
            write_timeout=3.0,
        )
        tablet.engine.uploader.sizer = ChunkSizer(first=chunk, largest=chunk)
        silenced: list[int] = []

        def go_silent(photo_id: str, sent: int, total: int) -> None:
            if not silenced and sent > 40_000:
                silenced.append(sent)
                link.silence(4.0)  # longer than the timeouts (3 s)

        tablet.engine.on_progress = go_silent
        failed = _sync_until_done(tablet, rounds=3)
        _assert_all_arrived_once(engine, tablet, _files_of(engine))
    photos = tablet.engine.report.photos
    assert silenced and link.cuts == 0
    assert len(failed) + photos.failures >= 1  # the silence was noticed, not waited out
    sent = sum(len(d) for d in tablet.photos.values())
    assert tablet.client.bytes_sent - sent <= chunk + 20_000  # one chunk, and the records


def _files_of(engine: Engine) -> Path:
    url = engine.url.database
    assert url is not None
    return Path(url).parent / "data" / "attachments"
