"""Discarding a refused change (``DeviceStore.discard_refused``, docs/protocol.md, "Client
behaviour"): the way out of a change the server refused on a record it holds, e.g. an offline
edit of an activity the office approved meanwhile (``locked``). The tablet drops the change and
the photos that came with it, keeps the server's version, clears the reasons and settles the
state; the record then counts as the server's. Nothing not yet answered is ever dropped."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import Change, FieldError, MutationResult, Op, ResultStatus
from sync.store import DeviceStore, NewPhoto
from tests.sync.receipts import Issuer, change

LOCKED = FieldError(
    field="status", code="locked", message="this activity was approved and is locked"
)


def _activity(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "type": "field_day",
        "title": "Field day",
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "captured_at": "2025-03-14T10:00:00+02:00",
        "attendance": [],
        **fields,
    }


def _pull(store: DeviceStore, entity: str, record: dict[str, Any], version: int, **server: Any):
    store.apply_pull(
        [
            Change(
                entity=entity,
                id=record["id"],
                op=Op.UPSERT,
                version=version,
                data={**record, "status": "submitted", **server},
            )
        ],
        cursor=str(uuid.uuid4()),
    )


def _answer(store: DeviceStore, status: ResultStatus, version: int, *errors: FieldError) -> None:
    store.acknowledge(
        [
            MutationResult(seq=m.seq, id=m.id, status=status, version=version, errors=list(errors))
            for m in store.pending()
        ]
    )


def _photo(store: DeviceStore, tmp_path: Path, owner: str, *, observation: bool = False) -> str:
    source = tmp_path / f"camera-{uuid.uuid4()}.jpg"
    source.write_bytes(b"\xff\xd8\xff" + b"\x01" * 3000)
    photo = NewPhoto(
        id=str(uuid.uuid4()),
        activity_id=None if observation else owner,
        observation_id=owner if observation else None,
        source=source,
        content_type="image/jpeg",
    )
    store.save_all(photos=[photo])
    return photo.id


def _refused_edit_of_an_approved_activity(store: DeviceStore) -> dict[str, Any]:
    """A teammate's activity, approved by the office (version 3), edited offline here; the
    push is refused ``locked`` (the server kept version 3)."""
    record = _activity(title="Seed potato field day")
    _pull(store, "activity", record, 3, status="approved")
    store.save("activity", {**record, "title": "Seed potato field day (corrected)"})
    _answer(store, ResultStatus.REJECTED, 3, LOCKED)
    assert store.state("activity", record["id"]) == "rejected"
    return record


def test_a_change_refused_on_an_approved_activity_is_discarded_and_the_server_kept(
    store: DeviceStore,
) -> None:
    record = _refused_edit_of_an_approved_activity(store)
    assert not store.custody().safe_to_wipe  # the dead end: refused, not safe, for good

    assert store.discard_refused("activity", record["id"]) is True

    [found] = store.query("activity", ids=[record["id"]])
    assert found.state == "synced" and found.errors == []
    assert found.data["title"] == "Seed potato field day"  # the server's version
    assert found.data["status"] == "approved"
    assert store.errors("activity", record["id"]) == []
    assert store.pending() == []
    # It holds nothing of this tablet's any more: the server's, and safe.
    assert store.custody().safe_to_wipe
    # Nothing to discard a second time.
    assert store.discard_refused("activity", record["id"]) is False


def test_a_discarded_record_is_safe_once_its_receipt_covers_the_last_change_taken(
    store: DeviceStore, issuer: Issuer
) -> None:
    # Recorded here, taken (version 1), approved by the office (version 2), then edited
    # offline: refused.
    record = _activity()
    store.save("activity", record)
    _answer(store, ResultStatus.APPLIED, 1)
    _pull(store, "activity", record, 2, status="approved")
    store.save("activity", {**record, "title": "Changed offline"})
    _answer(store, ResultStatus.REJECTED, 2, LOCKED)

    assert store.discard_refused("activity", record["id"]) is True
    [found] = store.query("activity", ids=[record["id"]], custody=True)
    assert (found.state, found.safe) == ("synced", False)  # no receipt yet
    assert store.custody().records == 1

    store.apply_pull([change(issuer.covering(store, record["id"], version=1))], cursor="r1")
    [found] = store.query("activity", ids=[record["id"]], custody=True)
    assert found.safe and store.custody().safe_to_wipe


def test_after_the_office_reopens_the_discarded_record_is_its_reopened_version(
    store: DeviceStore,
) -> None:
    record = _refused_edit_of_an_approved_activity(store)
    _pull(store, "activity", record, 4, status="submitted", notes="reopened by the office")
    assert store.state("activity", record["id"]) == "rejected"  # the refusal still stands
    assert store.discard_refused("activity", record["id"]) is True
    [found] = store.query("activity", ids=[record["id"]])
    assert (found.state, found.data["status"]) == ("synced", "submitted")
    assert found.data["notes"] == "reopened by the office"


def test_a_returned_record_discarded_is_returned_again(store: DeviceStore) -> None:
    record = _activity()
    _pull(store, "activity", record, 2, status="returned", reviews=[{"action": "return"}])
    store.save("activity", {**record, "start_date": "2025-03-15"})
    _answer(
        store,
        ResultStatus.REJECTED,
        2,
        FieldError(field="start_date", code="in_future", message="in the future"),
    )
    assert store.discard_refused("activity", record["id"]) is True
    assert store.state("activity", record["id"]) == "returned"


def test_the_photo_that_came_with_the_refused_change_goes_with_it(
    store: DeviceStore, tmp_path: Path
) -> None:
    record = _refused_edit_of_an_approved_activity(store)
    # The offline edit had also added a photo: refused in the same push.
    photo_id = _photo(store, tmp_path, record["id"])
    _answer(store, ResultStatus.REJECTED, 0, LOCKED)
    [upload] = store.uploads()
    assert store.waiting().photos == 1 and store.custody().photos == 1

    assert store.discard_refused("activity", record["id"]) is True

    assert store.get("attachment", photo_id) is None
    assert store.uploads() == [] and not upload.path.exists()
    assert store.waiting().nothing and store.custody().safe_to_wipe


def test_a_photo_the_server_holds_stays_and_a_refused_caption_goes_back_to_the_servers(
    store: DeviceStore, tmp_path: Path
) -> None:
    record = _activity()
    store.save("activity", record)
    photo_id = _photo(store, tmp_path, record["id"])
    _answer(store, ResultStatus.APPLIED, 1)
    for upload in store.uploads():
        store.finish_upload(upload.id, state="done")
    _pull(store, "activity", record, 2, status="approved")
    held = store.get("attachment", photo_id)
    assert held is not None
    store.apply_pull(
        [Change(entity="attachment", id=photo_id, op=Op.UPSERT, version=1, data=held)],
        cursor="p1",
    )
    store.save("activity", {**record, "title": "Changed offline"})
    store.set_caption(photo_id, "A caption written offline")
    _answer(store, ResultStatus.REJECTED, 2, LOCKED)
    assert store.state("attachment", photo_id) == "rejected"

    assert store.discard_refused("activity", record["id"]) is True

    photo = store.get("attachment", photo_id)
    assert photo is not None and photo["caption"] == ""
    assert store.state("attachment", photo_id) == "synced"
    assert [u.id for u in store.uploads(state="done")] == [photo_id]  # its bytes stay


def test_nothing_waiting_is_ever_dropped(store: DeviceStore, tmp_path: Path) -> None:
    record = _refused_edit_of_an_approved_activity(store)
    other = _refused_edit_of_an_approved_activity(store)
    # A photo added after the refusal waits in the outbox: the discard is refused whole.
    photo_id = _photo(store, tmp_path, record["id"])
    # A change saved after the refusal: the record waits (pending).
    store.save("activity", {**other, "title": "Tried again"})
    before = store.pending()
    assert len(before) == 2

    assert store.discard_refused("activity", record["id"]) is False
    assert store.discard_refused("activity", other["id"]) is False

    assert store.pending() == before
    assert store.state("activity", record["id"]) == "rejected"
    assert store.errors("activity", record["id"])[0]["code"] == "locked"
    assert store.get("attachment", photo_id) is not None
    assert len(store.uploads()) == 1
    assert store.get("activity", other["id"])["title"] == "Tried again"  # type: ignore[index]


def test_only_a_refused_record_the_server_holds_is_discarded(store: DeviceStore) -> None:
    # Never taken by the server (version 0): deleting it removes it on the tablet alone.
    new = _activity()
    store.save("activity", new)
    _answer(
        store,
        ResultStatus.REJECTED,
        0,
        FieldError(field="start_date", code="in_future", message="in the future"),
    )
    assert store.discard_refused("activity", new["id"]) is False
    assert store.state("activity", new["id"]) == "rejected"
    # Not refused, or unknown: nothing to discard.
    synced = _activity()
    _pull(store, "activity", synced, 1)
    assert store.discard_refused("activity", synced["id"]) is False
    assert store.discard_refused("activity", str(uuid.uuid4())) is False
    with pytest.raises(ValueError):
        store.discard_refused("conflict", str(uuid.uuid4()))


def test_a_refused_observation_and_its_refused_photo_are_discarded_alike(
    store: DeviceStore, tmp_path: Path
) -> None:
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "form_id": str(uuid.uuid4()),
        "form_version": 1,
        "observed_on": "2025-03-14",
        "values": {"crop": "potato", "harvest_kg": 120},
    }
    _pull(store, "observation", record, 2, status="approved")
    store.save("observation", {**record, "values": {"crop": "potato", "harvest_kg": 150}})
    photo_id = _photo(store, tmp_path, record["id"], observation=True)
    _answer(store, ResultStatus.REJECTED, 2, LOCKED)
    assert store.state("observation", record["id"]) == "rejected"

    assert store.discard_refused("observation", record["id"]) is True

    [found] = store.query("observation", ids=[record["id"]])
    assert found.state == "synced" and found.errors == []
    assert found.data["values"] == {"crop": "potato", "harvest_kg": 120}
    assert store.get("attachment", photo_id) is None and store.uploads() == []
    assert store.custody().safe_to_wipe


PHOTO_LOCKED = FieldError(
    field="activity_id", code="locked", message="this activity was approved and is locked"
)


def _refused_photo_of_an_approved_activity(
    store: DeviceStore, tmp_path: Path
) -> tuple[dict[str, Any], str]:
    """An activity the server holds (version 3), approved by the office; a photo added to it
    offline here is the only change, and the server refuses it ``locked``."""
    record = _activity(title="Seed potato field day")
    _pull(store, "activity", record, 3, status="approved")
    photo_id = _photo(store, tmp_path, record["id"])
    _answer(store, ResultStatus.REJECTED, 0, PHOTO_LOCKED)
    return record, photo_id


def test_a_refused_photo_only_change_shows_its_record_refused_with_the_photos_reasons(
    store: DeviceStore, tmp_path: Path
) -> None:
    record, photo_id = _refused_photo_of_an_approved_activity(store, tmp_path)

    assert store.state("activity", record["id"]) == "rejected"
    [found] = store.query("activity", states=["rejected"])
    assert found.id == record["id"]
    assert [(e["field"], e["code"]) for e in found.errors] == [
        (f"photos[{photo_id}].activity_id", "locked")
    ]
    assert store.errors("activity", record["id"]) == found.errors
    assert store.state_counts("activity") == {"rejected": 1}


def test_a_refused_photo_only_change_is_discarded_and_the_server_kept(
    store: DeviceStore, tmp_path: Path
) -> None:
    record, photo_id = _refused_photo_of_an_approved_activity(store, tmp_path)
    [upload] = store.uploads()
    assert not store.custody().safe_to_wipe

    assert store.discard_refused("activity", record["id"]) is True

    [found] = store.query("activity", ids=[record["id"]])
    assert (found.state, found.errors) == ("synced", [])
    assert found.data["status"] == "approved"
    assert store.get("attachment", photo_id) is None
    assert store.uploads() == [] and not upload.path.exists()
    assert store.pending() == [] and store.waiting().nothing
    assert store.custody().safe_to_wipe  # the server's record; nothing of this tablet's
    assert store.discard_refused("activity", record["id"]) is False


def test_a_refused_photo_waits_for_what_was_queued_after_it_and_only_it_is_discarded(
    store: DeviceStore, tmp_path: Path
) -> None:
    record, refused = _refused_photo_of_an_approved_activity(store, tmp_path)
    # Reopened by the office; another photo added since waits in the outbox.
    _pull(store, "activity", record, 4, status="submitted")
    later = _photo(store, tmp_path, record["id"])
    before = store.pending()

    assert store.state("activity", record["id"]) != "rejected"  # something of it waits
    assert store.discard_refused("activity", record["id"]) is False
    assert store.pending() == before
    assert {u.id for u in store.uploads()} == {refused, later}

    _answer(store, ResultStatus.APPLIED, 1)  # the later photo is taken
    assert store.state("activity", record["id"]) == "rejected"
    assert store.discard_refused("activity", record["id"]) is True

    assert store.get("attachment", refused) is None
    assert store.get("attachment", later) is not None
    assert [u.id for u in store.uploads()] == [later]  # its bytes still go
    assert store.state("activity", record["id"]) == "photos_pending"


def test_a_refused_observation_photo_only_change_is_discarded_alike(
    store: DeviceStore, tmp_path: Path
) -> None:
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "form_id": str(uuid.uuid4()),
        "form_version": 1,
        "observed_on": "2025-03-14",
        "values": {"crop": "potato"},
    }
    _pull(store, "observation", record, 2, status="approved")
    photo_id = _photo(store, tmp_path, record["id"], observation=True)
    _answer(
        store,
        ResultStatus.REJECTED,
        0,
        FieldError(field="observation_id", code="locked", message="approved and locked"),
    )
    assert store.state("observation", record["id"]) == "rejected"

    assert store.discard_refused("observation", record["id"]) is True
    assert store.state("observation", record["id"]) == "synced"
    assert store.get("attachment", photo_id) is None and store.uploads() == []


def test_a_refused_photo_still_on_the_form_is_sent_again_when_the_form_is_saved(
    store: DeviceStore, tmp_path: Path
) -> None:
    record, photo_id = _refused_photo_of_an_approved_activity(store, tmp_path)
    _pull(store, "activity", record, 4, status="submitted")  # reopened by the office
    photo = store.get("attachment", photo_id)
    assert photo is not None
    kept = NewPhoto(
        id=photo_id,
        activity_id=record["id"],
        source=store.files_dir / photo_id,
        content_type="image/jpeg",
        caption="The demonstration plot",
    )

    [queued] = store.save_all([("activity", {**record, "status": "submitted"})], photos=[kept])

    assert (queued.entity, str(queued.id), queued.base_version) == ("attachment", photo_id, 0)
    # Its details whole again, as when it was first saved (a new photo for the server).
    assert queued.data == {
        **{k: v for k, v in photo.items() if k != "id"},
        "caption": "The demonstration plot",
    }
    assert store.state("attachment", photo_id) == "pending"
    assert store.state("activity", record["id"]) == "photos_pending"
    [upload] = store.uploads()
    assert (upload.id, upload.attempts, upload.error) == (photo_id, 0, None)
    _answer(store, ResultStatus.APPLIED, 1)
    assert store.upload_ready(photo_id)
