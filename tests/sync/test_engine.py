"""A tablet syncing with a real (in-process) server: batches, faults, photos, status."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.accounts.models import Device
from server.activities.models import Activity, Attachment
from server.columns import utcnow
from server.records.models import Change, Receipt
from sync import errors
from sync.attachments import upload_photos
from sync.status import read_status
from tests.factories import office_edit
from tests.photos import jpeg_of
from tests.server.sync.conftest import Field
from tests.sync.conftest import Tablet
from tests.sync.transport import FaultyAdapter


def _server_activities(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(Activity)).scalar_one())


def _assert_one_current_receipt_each(engine: Engine, device: Device) -> None:
    """Every record the tablet pushed is covered by exactly one current receipt, for its
    version and with every photo, issued to this tablet, never logged twice, however the link
    behaved."""
    with Session(engine) as session:
        activities = session.execute(select(Activity)).scalars().all()
        receipts = session.execute(select(Receipt)).scalars().all()
        issued = Counter(
            session.execute(
                select(col(Change.entity_id)).where(
                    col(Change.entity) == "receipt", col(Change.device_id) == device.id
                )
            ).scalars()
        )
        photos = {a.id: a for a in session.execute(select(Attachment)).scalars() if a.complete}
    assert activities
    by_record = {r.entity_id: r for r in receipts}
    assert len(receipts) == len(by_record) == len(activities)
    for activity in activities:
        receipt = by_record[activity.id]
        assert receipt.issued_at is not None and receipt.version == activity.version
        assert receipt.device_id == device.id and receipt.attachments is not None
        listed = {uuid.UUID(a["id"]) for a in receipt.attachments}
        assert listed == {p.id for p in photos.values() if p.activity_id == activity.id}
        # Issued with the record's change, the receipt travels with that change; completed by
        # a photo's upload, it has one change of its own: never two.
        assert issued[activity.id] <= 1


def test_saved_records_reach_the_server_and_come_back_synced(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, engine_, _ = tablet
    records = [field.activity(title=f"Day {i}") for i in range(3)]
    for record in records:
        store.save("activity", record)
    report = engine_.sync_once()
    assert report.pushed == {"applied": 3}
    assert _server_activities(engine) == 3
    assert {store.state("activity", r["id"]) for r in records} == {"synced"}
    assert store.get("activity", records[0]["id"])["version"] == 1  # type: ignore[index]
    status = read_status(store)
    assert status.pending == 0 and status.last_error is None and status.last_success
    assert engine_.client.bytes_sent > 0 and engine_.client.bytes_received > 0


def test_batches_are_capped_by_gzip_bytes(tablet: Tablet, field: Field, engine: Engine) -> None:
    store, engine_, _ = tablet
    engine_.batch_bytes = engine_.max_batch_bytes = 2048
    engine_.min_batch_bytes = 1024
    sent: list[int] = []
    original = engine_.client.push_packed

    def counting_push(packed: bytes) -> Any:
        before = engine_.client.bytes_sent
        answer = original(packed)
        sent.append(engine_.client.bytes_sent - before)
        return answer

    engine_.client.push_packed = counting_push  # type: ignore[method-assign]
    rng = random.Random(1)
    for i in range(40):
        notes = "".join(rng.choice("abcdefghij ") for _ in range(400))
        store.save("activity", field.activity(title=f"Training {i}", notes=notes))
    report = engine_.push()
    assert report.pushed == {"applied": 40}
    assert report.batches == len(sent) > 3
    assert max(sent) <= 2048
    assert _server_activities(engine) == 40


def test_slow_batches_shrink_and_quick_full_ones_grow(tablet: Tablet, field: Field) -> None:
    store, engine_, _ = tablet
    now = [0.0]
    engine_.clock = lambda: now[0]
    original = engine_.client.push_packed

    def slow_push(packed: bytes) -> Any:
        now[0] += 60.0
        return original(packed)

    engine_.client.push_packed = slow_push  # type: ignore[method-assign]
    store.save("activity", field.activity())
    engine_.push()
    assert engine_.batch_bytes == engine_.max_batch_bytes // 2
    engine_._adapt(0.1, engine_.batch_bytes)
    assert engine_.batch_bytes == engine_.max_batch_bytes


@pytest.mark.parametrize(
    "fault", [FaultyAdapter.DROP_REQUEST, FaultyAdapter.DROP_ANSWER, FaultyAdapter.DUPLICATE]
)
def test_network_faults_never_lose_or_duplicate_a_record(
    tablet: Tablet, field: Field, engine: Engine, fault: str
) -> None:
    store, engine_, faults = tablet
    records = [field.activity(title=f"Day {i}") for i in range(3)]
    for record in records:
        store.save("activity", record)
    faults.faults.append(fault)
    try:
        engine_.sync_once()
    except errors.NetworkError:
        assert fault != FaultyAdapter.DUPLICATE
        assert store.pending_count() == 3  # nothing is marked sent without an answer
        assert read_status(store).last_error is not None
        engine_.sync_once()
    assert store.pending_count() == 0
    assert _server_activities(engine) == 3
    assert {store.state("activity", r["id"]) for r in records} == {"synced"}
    _assert_one_current_receipt_each(engine, field.device)


def test_a_revoked_tablet_keeps_its_records_and_says_why(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, engine_, _ = tablet
    record = field.activity()
    store.save("activity", record)
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None
        device.revoked_at = utcnow()
        session.commit()
    with pytest.raises(errors.DeviceRevoked):
        engine_.sync_once()
    assert store.pending_count() == 1
    assert store.get("activity", record["id"]) == record
    status = read_status(store)
    assert status.last_error is not None and "revoked" in status.last_error
    assert "Not synced" in status.summary
    assert _server_activities(engine) == 0


def test_what_the_server_already_holds_is_answered_duplicate_and_leaves_the_outbox(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, engine_, _ = tablet
    for i in range(3):
        store.save("activity", field.activity(title=f"Day {i}"))
    engine_.sync_once()
    later = field.activity(title="After")
    store.save("activity", later)
    with Session(engine) as session:  # as if a bundle had carried seq 4 and 5 already
        device = session.get(Device, field.device.id)
        assert device is not None
        device.last_seq = 5
        session.commit()
    store.save("activity", field.activity(title="Newest"))  # seq 5
    store.save("activity", field.activity(title="Newest still"))  # seq 6
    report = engine_.sync_once()
    assert store.pending_count() == 0
    assert report.pushed == {"duplicate": 2, "applied": 1}


def test_a_tablet_missing_part_of_its_outbox_reports_it(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, engine_, _ = tablet
    store.set_meta(last_seq="10")  # as if seqs 1-10 were lost with an old copy of the store
    store.save("activity", field.activity())
    with pytest.raises(errors.OutboxGap, match="expects change #1"):
        engine_.sync_once()
    assert store.pending_count() == 1


def _jpeg(size: int) -> bytes:
    return jpeg_of(size, os.urandom(size))


def _photo(store: Any, field: Field, tmp_path: Path, size: int) -> tuple[str, bytes]:
    record = field.activity()
    store.save("activity", record)
    data = _jpeg(size)
    source = tmp_path / f"{uuid.uuid4()}.jpg"
    source.write_bytes(data)
    photo_id = str(uuid.uuid4())
    store.add_photo(
        attachment_id=photo_id,
        activity_id=record["id"],
        source=source,
        content_type="image/jpeg",
        caption="plot",
    )
    return photo_id, data


def test_photos_follow_their_metadata(
    tablet: Tablet, field: Field, engine: Engine, tmp_path: Path
) -> None:
    store, engine_, _ = tablet
    photo_id, data = _photo(store, field, tmp_path, 700_000)
    report = engine_.sync_once()
    assert report.uploaded == 1
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and stored.complete
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert read_status(store).photos_waiting == 0
    _assert_one_current_receipt_each(engine, field.device)


class CountingAdapter(FaultyAdapter):
    """Counts the photo bytes sent, and breaks the link at chosen PATCH requests."""

    def __init__(self, inner: Any, break_at: set[int]) -> None:
        super().__init__(inner)
        self.break_at = break_at
        self.patches = 0
        self.patched_bytes = 0

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if request.method == "PATCH":
            self.patches += 1
            self.patched_bytes += int(request.headers.get("Content-Length", 0))
            if self.patches in self.break_at:
                self.faults.append(random.choice([self.DROP_REQUEST, self.DROP_ANSWER]))
        return super().send(request, *args, **kwargs)


@pytest.mark.parametrize("seed", range(4))
def test_an_interrupted_photo_resends_at_most_one_chunk_per_interruption(
    make_tablet: Callable[..., Tablet], field: Field, engine: Engine, tmp_path: Path, seed: int
) -> None:
    store, engine_, faults = make_tablet(str(field.device.id), field.token)
    chunk = 64 * 1024
    photo_id, data = _photo(store, field, tmp_path, random.Random(seed).randint(300_000, 900_000))
    engine_.push()
    chunks = -(-len(data) // chunk)
    rng = random.Random(seed)
    breaks = set(rng.sample(range(1, chunks + 1), k=min(3, chunks)))
    counting = CountingAdapter(faults.inner, breaks)
    engine_.client.session.mount("http://", counting)
    # Each interruption is followed by HEAD and the upload goes on in the same round.
    assert upload_photos(store, engine_.client, chunk_bytes=chunk) == 1
    assert counting.patched_bytes <= len(data) + len(breaks) * chunk
    assert counting.patches <= chunks + len(breaks)
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and stored.complete
    _assert_one_current_receipt_each(engine, field.device)


def photo_record(store: Any, photo_id: str) -> str:
    photo = store.get("attachment", photo_id)
    assert photo is not None
    return str(photo["activity_id"])


def test_the_real_server_s_receipts_make_the_tablet_safe_to_wipe_only_once_every_photo_is_in(
    make_tablet: Callable[..., Tablet], field: Field, engine: Engine, tmp_path: Path
) -> None:
    """End to end (docs/protocol.md#custody-receipts): the server signs, the tablet verifies
    against the key it learns from ``sync/info``; a record with a photo is safe only after the
    photo's bytes are verified, and a later edit is unsafe until its own receipt comes."""
    store, engine_, _ = make_tablet(str(field.device.id), field.token)
    plain = field.activity(title="No photo")
    store.save("activity", plain)
    photo_id, _ = _photo(store, field, tmp_path, 200_000)
    engine_.push()  # records and photo details; no bytes yet
    engine_.pull()
    custody = store.custody()
    # The photo's record waits for its bytes: the server issued only the plain record's receipt.
    assert (custody.records, custody.photos, custody.receipts) == (1, 1, 1)
    assert not custody.safe_to_wipe
    engine_.sync_once()  # the bytes go, the completing upload issues the receipt, pull gets it
    custody = store.custody()
    assert (custody.records, custody.photos, custody.receipts) == (0, 0, 2)
    assert custody.safe_to_wipe
    assert store.meta("receipts_refused") in (None, "0")
    # A later edit is not safe until the receipt of its new version arrives.
    store.save("activity", {**plain, "title": "Renamed"})
    assert not store.custody().safe_to_wipe
    engine_.sync_once()
    assert store.custody().safe_to_wipe
    with Session(engine) as session:  # one current receipt per record, the edit's replaced
        current = {r.entity_id: r.version for r in session.execute(select(Receipt)).scalars()}
    assert current == {uuid.UUID(plain["id"]): 2, uuid.UUID(photo_record(store, photo_id)): 1}


def test_a_refused_delete_whose_answer_was_lost_brings_the_record_back(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    """The expert deletes an activity the office has approved meanwhile; the server refuses
    (locked) and the answer is lost. Sent again, the batch is answered with the refusal: the
    activity shows again on the tablet with the server's reason, as on the server. Told
    "duplicate", the tablet hid it for good."""
    store, engine_, faults = tablet
    record = field.activity()
    store.save("activity", record)
    engine_.sync_once()
    office_edit(engine, record["id"], status="approved")
    engine_.sync_once()  # the tablet sees it approved
    store.delete("activity", record["id"])
    assert store.get("activity", record["id"]) is None
    faults.faults.append(FaultyAdapter.DROP_ANSWER)
    with pytest.raises(errors.NetworkError):
        engine_.sync_once()
    engine_.sync_once()
    assert store.pending_count() == 0
    shown = store.get("activity", record["id"])
    assert shown is not None and shown["status"] == "approved"
    assert store.state("activity", record["id"]) == "rejected"
    assert [e["code"] for e in store.errors("activity", record["id"])] == ["locked"]
    with Session(engine) as session:
        kept = session.get(Activity, uuid.UUID(record["id"]))
        assert kept is not None and not kept.deleted
