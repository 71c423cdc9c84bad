"""A deleted record's photos whose bytes have not all reached the server (docs/protocol.md,
"Client behaviour"): the tablet keeps the bytes, without sending them, until the server takes
the delete. Refused as a conflict (the server's version kept), the record comes back with its
photos and their upload goes on; taken, the bytes go. Until then nothing of it is safe to
wipe: the tablet never says safe while a photo's bytes are missing on the server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sync.protocol import Change, FieldError, Op, ResultStatus
from sync.store import DeviceStore, NewPhoto
from tests.sync.receipts import Issuer, change
from tests.sync.test_discard_refused import _activity, _answer, _pull


def _half_sent_photo(store: DeviceStore, tmp_path: Path) -> tuple[dict[str, Any], str, Path]:
    """An activity recorded on this person's other tablet (pulled, version 2: nothing of it
    is this tablet's), and a photo added here: its details taken by the server, its bytes not
    all sent (the link was cut)."""
    record = _activity()
    _pull(store, "activity", record, 2)
    source = tmp_path / "tour.jpg"
    source.write_bytes(b"\xff\xd8\xff\xe0" + b"t" * 5000)
    photo_id = str(uuid.uuid4())
    store.save_all(photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg", "the group")])
    _answer(store, ResultStatus.APPLIED, 1)
    [upload] = store.uploads()
    assert upload.id == photo_id and store.upload_ready(photo_id)
    return record, photo_id, upload.path


def test_the_bytes_stay_unsent_while_the_delete_waits(store: DeviceStore, tmp_path: Path) -> None:
    record, _photo_id, path = _half_sent_photo(store, tmp_path)

    [queued] = store.delete_record("activity", record["id"])

    assert (queued.entity, queued.op) == ("activity", Op.DELETE)
    assert path.exists()  # kept until the server takes the delete
    assert store.uploads() == []  # not sent meanwhile: it may never be needed
    assert store.waiting().photos == 0  # and not counted as waiting to be sent
    custody = store.custody()
    assert (custody.records, custody.photos) == (1, 1) and not custody.safe_to_wipe


def test_once_the_server_takes_the_delete_the_bytes_go(store: DeviceStore, tmp_path: Path) -> None:
    record, _photo_id, path = _half_sent_photo(store, tmp_path)
    store.delete_record("activity", record["id"])

    _answer(store, ResultStatus.APPLIED, 3)

    assert not path.exists()
    assert store.uploads() == [] and store.uploads(state="held") == []
    assert store.waiting().nothing and store.custody().safe_to_wipe


def test_a_delete_refused_as_a_conflict_brings_the_record_back_and_its_upload_goes_on(
    store: DeviceStore, tmp_path: Path, issuer: Issuer
) -> None:
    record, photo_id, _path = _half_sent_photo(store, tmp_path)
    _pull(store, "activity", record, 3, title="Study tour, renamed by the office")
    store.delete_record("activity", record["id"])

    _answer(store, ResultStatus.CONFLICT, 3)

    assert store.get("activity", record["id"]) is not None  # the server's version, back
    assert store.get("attachment", photo_id) is not None
    [upload] = store.uploads()
    assert upload.id == photo_id and upload.path.exists() and store.upload_ready(photo_id)
    # Kept as the server has it: still not safe while the server lacks the photo's bytes
    # (the tablet said "Safe to wipe" here, the bytes gone from it and from the server).
    conflict_id = str(uuid.uuid4())
    store.apply_pull(
        [
            Change(
                entity="conflict",
                id=conflict_id,
                op=Op.UPSERT,
                version=1,
                data={"id": conflict_id, "entity": "activity", "entity_id": record["id"]},
            )
        ],
        cursor="c1",
    )
    assert store.keep_theirs("activity", record["id"])
    _answer(store, ResultStatus.APPLIED, 0)
    assert store.state("activity", record["id"]) == "photos_pending"
    custody = store.custody()
    assert (custody.records, custody.photos, custody.uploads) == (1, 1, 1)
    assert not custody.safe_to_wipe
    # The bytes reach the server, which signs for the record with its photo: safe.
    store.finish_upload(photo_id, state="done")
    store.apply_pull([change(issuer.covering(store, record["id"], version=3))], cursor="r1")
    assert store.custody().safe_to_wipe


def test_a_delete_refused_of_a_record_the_server_never_took_lets_the_bytes_go(
    store: DeviceStore, tmp_path: Path
) -> None:
    # Saved and deleted before any sync: the server refuses the record, then the delete.
    record = _activity(title="")
    source = tmp_path / "tour.jpg"
    source.write_bytes(b"\xff\xd8\xff\xe0" + b"t" * 5000)
    photo_id = str(uuid.uuid4())
    store.save_all(
        [("activity", record)], photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg")]
    )
    store.delete_record("activity", record["id"])
    [path] = list(store.files_dir.iterdir())

    _answer(
        store,
        ResultStatus.REJECTED,
        0,
        FieldError(field="title", code="required", message="required"),
    )

    assert not path.exists() and store.uploads() == [] and store.uploads(state="held") == []
    assert store.waiting().nothing and store.custody().safe_to_wipe


def test_the_held_bytes_survive_a_restart(store: DeviceStore, tmp_path: Path) -> None:
    record, photo_id, path = _half_sent_photo(store, tmp_path)
    store.delete_record("activity", record["id"])
    again = DeviceStore(store.path)  # opening removes photo files no upload row knows
    try:
        assert path.exists()
        assert [u.id for u in again.uploads(state="held")] == [photo_id]
    finally:
        again.close()


def test_a_photo_taken_off_its_record_keeps_its_bytes_until_the_server_takes_its_delete(
    store: DeviceStore, tmp_path: Path
) -> None:
    """The same for one photo removed from its activity's form: refused (the office approved
    the activity meanwhile), the photo comes back, and its upload goes on."""
    _record, photo_id, path = _half_sent_photo(store, tmp_path)
    store.apply_pull(
        [
            Change(
                entity="attachment",
                id=photo_id,
                op=Op.UPSERT,
                version=1,
                data=store.get("attachment", photo_id),
            )
        ],
        cursor="p1",
    )

    [queued] = store.save_all(removed_photos=[photo_id])
    assert (queued.entity, queued.op) == ("attachment", Op.DELETE)
    assert path.exists() and store.uploads() == [] and store.waiting().photos == 0

    _answer(
        store,
        ResultStatus.REJECTED,
        1,
        FieldError(field="activity_id", code="locked", message="approved and locked"),
    )
    assert store.get("attachment", photo_id) is not None  # back, as the server has it
    assert [u.id for u in store.uploads()] == [photo_id] and store.upload_ready(photo_id)

    # Removed again once the office reopened it: taken, and the bytes go.
    [queued] = store.save_all(removed_photos=[photo_id])
    _answer(store, ResultStatus.APPLIED, 2)
    assert store.get("attachment", photo_id) is None
    assert not path.exists() and store.uploads(state="held") == []
    assert store.waiting().nothing
