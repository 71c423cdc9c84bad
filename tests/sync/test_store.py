"""The tablet's store on its own: saves with their outbox, seqs, pulls with their cursor."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import Change, FieldError, MutationResult, Op, ResultStatus
from sync.store import DeviceStore


def _activity(**overrides: Any) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "type": "field_day",
        "title": "Field day",
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 5,
            }
        ],
    }
    values.update(overrides)
    return values


@pytest.fixture
def store(tmp_path: Path) -> DeviceStore:
    return DeviceStore(tmp_path / "tablet.sqlite3")


def _answer(
    seq: int, record_id: str, status: ResultStatus, errors: list[FieldError] | None = None
) -> MutationResult:
    return MutationResult(
        seq=seq, id=uuid.UUID(record_id), status=status, version=1, errors=errors or []
    )


def _pulled(record: dict[str, Any], version: int, *, op: Op = Op.UPSERT) -> Change:
    return Change(
        entity="activity",
        id=record["id"],
        op=op,
        version=version,
        data={**record, "status": "submitted", "version": version},
    )


def test_a_save_writes_the_record_and_its_mutation_together(store: DeviceStore) -> None:
    record = _activity()
    mutation = store.save("activity", record)
    assert mutation is not None and mutation.seq == 1 and mutation.base_version == 0
    assert mutation.data is not None and mutation.data["title"] == "Field day"
    assert store.get("activity", record["id"]) == record
    assert store.pending() == [mutation]
    assert store.state("activity", record["id"]) == "pending"


def test_seqs_rise_by_one_forever_even_after_acknowledgement(
    store: DeviceStore, tmp_path: Path
) -> None:
    first = _activity()
    store.save("activity", first)
    store.acknowledge([_answer(1, first["id"], ResultStatus.APPLIED)])
    assert store.pending_count() == 0
    second = store.save("activity", _activity())
    assert second is not None and second.seq == 2
    store.close()
    reopened = DeviceStore(tmp_path / "tablet.sqlite3")
    third = reopened.save("activity", _activity())
    assert third is not None and third.seq == 3


def test_an_edit_sends_only_the_fields_it_changed_with_the_pulled_version(
    store: DeviceStore,
) -> None:
    record = _activity()
    store.save("activity", record)
    store.acknowledge([_answer(1, record["id"], ResultStatus.APPLIED)])
    store.apply_pull([_pulled(record, 3)], "cursor-1")
    edit = store.save("activity", {**record, "title": "Renamed", "status": "submitted"})
    assert edit is not None
    assert edit.data == {"title": "Renamed"} and edit.base_version == 3
    assert store.save("activity", {**record, "title": "Renamed"}) is None


def test_a_record_the_server_never_saw_is_sent_whole(store: DeviceStore) -> None:
    record = _activity()
    store.save("activity", record)
    edit = store.save("activity", {**record, "title": "Fixed before sending"})
    assert edit is not None and edit.base_version == 0
    assert edit.data is not None and edit.data["project_id"] == record["project_id"]


def test_answers_set_the_record_state(store: DeviceStore) -> None:
    ok, refused, clashed = _activity(), _activity(), _activity()
    for record in (ok, refused, clashed):
        store.save("activity", record)
    store.acknowledge(
        [
            _answer(1, ok["id"], ResultStatus.APPLIED),
            _answer(
                2,
                refused["id"],
                ResultStatus.REJECTED,
                [FieldError(field="end_date", message="end_date: before the start")],
            ),
            _answer(3, clashed["id"], ResultStatus.CONFLICT),
        ]
    )
    assert store.state("activity", ok["id"]) == "synced"
    assert store.state("activity", refused["id"]) == "rejected"
    assert store.errors("activity", refused["id"])[0]["field"] == "end_date"
    assert store.state("activity", clashed["id"]) == "conflict"
    assert store.pending_count() == 0
    store.save("activity", {**refused, "end_date": "2025-03-15"})
    assert store.state("activity", refused["id"]) == "pending"
    assert store.errors("activity", refused["id"]) == []


def test_a_pull_page_and_its_cursor_are_stored_together(store: DeviceStore) -> None:
    record = _activity()
    store.apply_pull([_pulled(record, 1)], "after-page-1")
    assert store.cursor == "after-page-1"
    assert store.get("activity", record["id"])["title"] == "Field day"  # type: ignore[index]
    assert store.state("activity", record["id"]) == "synced"
    broken = [
        _pulled(_activity(), 1),
        Change(entity="activity", id="not-json-safe", op=Op.UPSERT, version=1, data={"x": {1, 2}}),
    ]
    with pytest.raises(TypeError):
        store.apply_pull(broken, "after-page-2")
    assert store.cursor == "after-page-1"
    assert len(store.records("activity")) == 1


def test_pending_edits_stay_on_top_of_what_the_server_sends(store: DeviceStore) -> None:
    record = _activity()
    store.apply_pull([_pulled(record, 1)], "c1")
    store.save("activity", {**record, "title": "Tablet title"})
    store.apply_pull([_pulled({**record, "notes": "office note"}, 2)], "c2")
    shown = store.get("activity", record["id"])
    assert shown is not None
    assert shown["title"] == "Tablet title" and shown["notes"] == "office note"
    assert store.state("activity", record["id"]) == "pending"


def test_an_own_push_coming_back_is_harmless(store: DeviceStore) -> None:
    record = _activity()
    store.save("activity", record)
    store.acknowledge([_answer(1, record["id"], ResultStatus.APPLIED)])
    store.apply_pull([_pulled(record, 1)], "c1")
    store.apply_pull([_pulled(record, 1)], "c1")
    assert store.records("activity") == [{**record, "status": "submitted", "version": 1}]
    assert store.pending_count() == 0


def test_a_returned_activity_shows_as_returned(store: DeviceStore) -> None:
    record = _activity()
    store.apply_pull(
        [
            Change(
                entity="activity",
                id=record["id"],
                op=Op.UPSERT,
                version=2,
                data={**record, "status": "returned"},
            )
        ],
        "c",
    )
    assert store.state("activity", record["id"]) == "returned"


def test_conflicts_from_the_server_mark_and_release_the_record(store: DeviceStore) -> None:
    record = _activity()
    store.apply_pull([_pulled(record, 1)], "c1")
    conflict = {
        "id": str(uuid.uuid4()),
        "entity": "activity",
        "entity_id": record["id"],
        "fields": ["title"],
        "status": "open",
    }
    store.apply_pull(
        [Change(entity="conflict", id=conflict["id"], op=Op.UPSERT, version=1, data=conflict)], "c2"
    )
    assert store.state("activity", record["id"]) == "conflict"
    assert len(store.conflicts()) == 1
    store.apply_pull(
        [
            Change(
                entity="conflict",
                id=conflict["id"],
                op=Op.UPSERT,
                version=2,
                data={**conflict, "status": "resolved"},
            )
        ],
        "c3",
    )
    assert store.state("activity", record["id"]) == "synced"


def test_a_delete_is_queued_and_hides_the_record(store: DeviceStore) -> None:
    record = _activity()
    store.apply_pull([_pulled(record, 4)], "c1")
    mutation = store.delete("activity", record["id"])
    assert mutation is not None and mutation.op == Op.DELETE and mutation.base_version == 4
    assert store.get("activity", record["id"]) is None
    with pytest.raises(ValueError, match="deleted"):
        store.save("activity", record)


def test_deleting_a_record_takes_its_photos_with_it_in_one_step(
    store: DeviceStore, tmp_path: Path
) -> None:
    # An activity deleted while its photo still waited: the photo's upload stayed queued for a
    # record that is gone ("Waiting to be sent: 1 photo" for ever, or a refused upload). Its
    # bytes are kept, unsent, until the server takes the delete (test_deleted_record_photos).
    from sync.store import NewPhoto

    record = _activity()
    source = tmp_path / "shed.jpg"
    source.write_bytes(b"\xff\xd8" + b"x" * 1000)
    photo_id = str(uuid.uuid4())
    mutations = store.save_all(
        [("activity", record)],
        photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg", "shed")],
    )
    store.acknowledge([_answer(m.seq, str(m.id), ResultStatus.APPLIED) for m in mutations])
    [path] = [p for p in store.files_dir.iterdir()]
    deletes = store.delete_record("activity", record["id"])
    # The photo goes on the server with its activity (and comes back with it, should the
    # delete be refused): no delete of its own, which the server would apply even then.
    assert [(m.entity, m.op, str(m.id)) for m in deletes] == [
        ("activity", Op.DELETE, record["id"]),
    ]
    assert store.get("activity", record["id"]) is None
    waiting = store.waiting()
    assert (waiting.records, waiting.photos) == (1, 0)
    assert store.delete_record("activity", record["id"]) == []  # twice: nothing more
    store.acknowledge([_answer(m.seq, str(m.id), ResultStatus.APPLIED) for m in deletes])
    assert not path.exists() and store.waiting().nothing


def test_a_refused_record_the_server_never_took_is_deleted_on_the_tablet_alone(
    store: DeviceStore, tmp_path: Path
) -> None:
    # The server refused the activity and its photo: it holds nothing of them. Deleting it
    # queued a delete the server refused in turn (not_found), and the record stayed refused.
    from sync.store import NewPhoto

    record = _activity(title="")
    source = tmp_path / "shed.jpg"
    source.write_bytes(b"\xff\xd8" + b"x" * 1000)
    photo_id = str(uuid.uuid4())
    mutations = store.save_all(
        [("activity", record)],
        photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg", "shed")],
    )
    refused = [FieldError(field="title", code="required", message="required")]
    store.acknowledge(
        [_answer(m.seq, str(m.id), ResultStatus.REJECTED, refused) for m in mutations]
    )
    assert store.state("activity", record["id"]) == "rejected"
    [path] = [p for p in store.files_dir.iterdir()]

    assert store.delete_record("activity", record["id"]) == []
    assert store.get("activity", record["id"]) is None
    assert store.get("attachment", photo_id) is None
    assert store.pending_count() == 0 and store.uploads(state="waiting") == []
    waiting = store.waiting()
    assert (waiting.records, waiting.photos) == (0, 0)
    assert store.custody().safe_to_wipe
    assert not path.exists()


def test_a_refused_edit_of_a_record_the_server_holds_is_deleted_on_the_server_too(
    store: DeviceStore,
) -> None:
    record = _activity()
    store.apply_pull([_pulled(record, 3)], "c1")
    [edit] = [m for m in [store.save("activity", {**record, "title": ""})] if m is not None]
    refused = [FieldError(field="title", code="required", message="required")]
    store.acknowledge([_answer(edit.seq, record["id"], ResultStatus.REJECTED, refused)])
    mutation = store.delete("activity", record["id"])
    assert mutation is not None and mutation.op == Op.DELETE and mutation.base_version == 3


def test_a_draft_stays_on_the_tablet_until_submitted(store: DeviceStore) -> None:
    record = _activity()
    assert store.save("activity", record, draft=True) is None
    assert store.state("activity", record["id"]) == "draft"
    assert store.pending_count() == 0
    submitted = store.save("activity", record)
    assert submitted is not None and submitted.data is not None
    assert "status" not in submitted.data
    assert store.state("activity", record["id"]) == "pending"


def test_a_store_belongs_to_one_tablet(tmp_path: Path) -> None:
    path = tmp_path / "tablet.sqlite3"
    DeviceStore(path, device_id="3b5a3c1e-0000-4000-8000-000000000001").close()
    with pytest.raises(ValueError, match="belongs to tablet"):
        DeviceStore(path, device_id="3b5a3c1e-0000-4000-8000-000000000002")


def test_only_pushable_records_are_saved(store: DeviceStore) -> None:
    with pytest.raises(ValueError):
        store.save("project", {"id": str(uuid.uuid4())})


def test_save_many_queues_every_record_in_one_transaction(store: DeviceStore) -> None:
    records = [_activity(title=f"Imported {n}") for n in range(5)]
    assert store.save_many("activity", records) == 5
    assert [m.seq for m in store.pending()] == [1, 2, 3, 4, 5]
    with pytest.raises(KeyError):
        store.save_many("activity", [_activity(), {"title": "no id"}])
    assert store.pending_count() == 5  # the failed import left nothing behind


def test_the_encoded_outbox_is_what_a_push_sends(store: DeviceStore) -> None:
    import json

    from sync.protocol import Mutation

    record = _activity()
    store.save("activity", record)
    store.acknowledge([_answer(1, record["id"], ResultStatus.APPLIED)])
    store.apply_pull([_pulled(record, 2)], "c")
    store.save("activity", {**record, "title": "Renamed"})
    store.delete("activity", record["id"])
    encoded = store.pending_encoded(limit=10)
    assert [seq for seq, _ in encoded] == [2, 3]
    for (_, text), mutation in zip(encoded, store.pending(), strict=True):
        assert Mutation.model_validate(json.loads(text)) == mutation


def test_an_activity_whose_photos_wait_is_photos_pending_not_synced(
    store: DeviceStore, tmp_path: Path
) -> None:
    from sync.store import NewPhoto

    record = _activity()
    source = tmp_path / "shed.jpg"
    source.write_bytes(b"\xff\xd8" + b"x" * 300_000)
    photo_id = str(uuid.uuid4())
    assert store.waiting().nothing
    mutations = store.save_all(
        [("activity", record)],
        photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg", "shed")],
    )
    waiting = store.waiting()
    # The photo's details count as its activity: one record, one photo of 300 002 bytes.
    assert (waiting.records, waiting.mutations, waiting.photos, waiting.photo_bytes) == (
        1,
        2,
        1,
        300_002,
    )
    assert store.state("activity", record["id"]) == "pending"
    store.acknowledge([_answer(m.seq, str(m.id), ResultStatus.APPLIED) for m in mutations])
    # The server holds the record, not the photo's bytes: not synced, and not "everything sent".
    assert store.state("activity", record["id"]) == "photos_pending"
    [found] = store.query("activity", ids=[record["id"]])
    assert found.state == "photos_pending"
    assert store.count("activity", states=["photos_pending"]) == 1
    assert store.state_counts("activity") == {"photos_pending": 1}
    waiting = store.waiting()
    assert (waiting.records, waiting.photos, waiting.nothing) == (0, 1, False)
    before = store.fingerprint()
    store.finish_upload(photo_id, state="done")
    assert store.fingerprint() != before  # the screens redraw when a photo is in
    assert store.state("activity", record["id"]) == "synced"
    assert store.waiting().nothing


def test_a_conflict_decision_waiting_counts_as_its_record(store: DeviceStore) -> None:
    record = _activity()
    store.save("activity", record)
    store.acknowledge([_answer(1, record["id"], ResultStatus.APPLIED)])
    conflict_id = str(uuid.uuid4())
    store.apply_pull(
        [
            Change(
                entity="conflict",
                id=conflict_id,
                op=Op.UPSERT,
                version=1,
                data={
                    "id": conflict_id,
                    "entity": "activity",
                    "entity_id": record["id"],
                    "status": "open",
                    "fields": ["title"],
                },
            )
        ],
        "c1",
    )
    store.keep_theirs("activity", record["id"])
    waiting = store.waiting()
    assert (waiting.records, waiting.mutations, waiting.photos) == (1, 1, 0)
