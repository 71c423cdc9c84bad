"""The custody line's "oldest" (docs/protocol.md#custody-receipts): when this tablet made the
oldest change the server has not confirmed, never the record's capture date. An old record
edited today is dated today; a record never sent, by when it was saved; a change made while an
earlier one still waits for its receipt keeps the earlier time."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.protocol import Change, MutationResult, Op, ResultStatus
from sync.store import DeviceStore, NewPhoto
from tests.sync.receipts import Issuer, change

OLD = "2025-07-03T09:30:00+02:00"


def _activity(**overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "type": "field_day",
        "title": "Field day at Roma",
        "start_date": "2025-07-03",
        "captured_at": OLD,
        **overrides,
    }


def _oldest(store: DeviceStore) -> datetime:
    oldest = store.custody().oldest
    assert oldest is not None
    return datetime.fromisoformat(oldest)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _safe_on_server(store: DeviceStore, issuer: Issuer, record: dict[str, Any]) -> None:
    """The server takes every pending change at version 1 and signs for it."""
    store.acknowledge(
        [
            MutationResult(seq=m.seq, id=m.id, status=ResultStatus.APPLIED, version=1)
            for m in store.pending()
        ]
    )
    page = [Change(entity="activity", id=record["id"], op=Op.UPSERT, version=1, data=record)]
    page.append(change(issuer.covering(store, record["id"], version=1)))
    store.apply_pull(page, cursor=f"c-{uuid.uuid4()}")
    assert store.custody().safe_to_wipe


def test_a_record_never_sent_is_dated_by_when_it_was_saved(store: DeviceStore) -> None:
    before = _now()
    store.save("activity", _activity())
    assert before <= _oldest(store) <= _now()


def test_an_old_record_safe_on_the_server_then_edited_today_reads_today(
    store: DeviceStore, issuer: Issuer
) -> None:
    record = _activity()
    store.save("activity", record)
    _safe_on_server(store, issuer, record)

    before = _now()
    store.save("activity", {"id": record["id"], "title": "Field day at Roma, moved"})
    assert before <= _oldest(store) <= _now()
    assert store.custody().oldest != OLD


def test_an_old_record_from_the_server_edited_today_reads_today(store: DeviceStore) -> None:
    record = _activity()
    store.apply_pull(
        [Change(entity="activity", id=record["id"], op=Op.UPSERT, version=3, data=record)],
        cursor="c1",
    )
    assert store.custody().oldest is None  # the server's record holds nothing of this tablet's
    before = _now()
    store.save("activity", {"id": record["id"], "title": "Renamed"})
    assert before <= _oldest(store) <= _now()


def test_a_photo_or_a_delete_dates_its_record(
    store: DeviceStore, issuer: Issuer, tmp_path: Path
) -> None:
    record = _activity()
    store.save("activity", record)
    _safe_on_server(store, issuer, record)
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8\xff" + b"x" * 500)
    before = _now()
    store.save_all(
        photos=[
            NewPhoto(
                id=str(uuid.uuid4()),
                activity_id=record["id"],
                source=source,
                content_type="image/jpeg",
            )
        ]
    )
    assert before <= _oldest(store) <= _now()


def test_a_later_edit_keeps_the_time_of_the_earlier_change_not_yet_confirmed(
    store: DeviceStore,
) -> None:
    record = _activity()
    store.save("activity", record)
    # As if saved three days ago: a second edit, the first still unconfirmed, keeps that time.
    earlier = (_now() - timedelta(days=3)).isoformat()
    db = sqlite3.connect(store.path)
    db.execute("UPDATE record SET changed_at = ? WHERE id = ?", (earlier, record["id"]))
    db.commit()
    db.close()
    store.save("activity", {"id": record["id"], "title": "Field day at Roma, again"})
    assert store.custody().oldest == earlier


def test_a_file_from_schema_4_keeps_the_capture_time_as_its_best_date(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    store = DeviceStore(path)
    record = _activity()
    store.save("activity", record)
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE record SET changed_at = NULL")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()

    store = DeviceStore(path)
    try:
        assert store.schema_version == 5
        assert store.custody().oldest == OLD
    finally:
        store.close()
