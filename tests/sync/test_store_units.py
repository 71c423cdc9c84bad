"""The store's multi-record save (one transaction per save, docs/protocol.md#client-behaviour), its
bulk read with
states, and the migration of tablet files written by an older app."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import Change, FieldError, MutationResult, Op, ResultStatus
from sync.store import _SCHEMA, SCHEMA_VERSION, DeviceStore, NewPhoto


def _activity(project_id: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
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
            },
            {
                "sex": "male",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 3,
            },
        ],
    }
    values.update(overrides)
    return values


def _unit(
    tmp_path: Path, photos: int = 2
) -> tuple[list[tuple[str, dict[str, Any]]], list[NewPhoto]]:
    """A new site, an activity at it, and its photos: what one form save holds."""
    project_id = str(uuid.uuid4())
    site = {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "name": "Roma valley plot",
        "lat": -29.45,
        "lon": 27.72,
    }
    activity = _activity(project_id, site_id=site["id"])
    found = []
    for n in range(photos):
        source = tmp_path / f"photo-{n}.jpg"
        source.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
        found.append(
            NewPhoto(
                id=str(uuid.uuid4()),
                activity_id=activity["id"],
                source=source,
                content_type="image/jpeg",
                caption=f"photo {n}",
            )
        )
    return [("site", site), ("activity", activity)], found


@pytest.fixture
def store(tmp_path: Path) -> DeviceStore:
    return DeviceStore(tmp_path / "tablet" / "tablet.sqlite3")


def _nothing_saved(store: DeviceStore) -> None:
    assert store.pending_count() == 0
    assert store.meta("last_seq") == "0"
    assert store.count("site") == store.count("activity") == store.count("attachment") == 0
    assert store.uploads() == []


# --- one transaction per save ------------------------------------------------------------------


def test_a_save_of_several_records_and_photos_queues_them_with_consecutive_seqs(
    store: DeviceStore, tmp_path: Path
) -> None:
    store.save("activity", _activity(str(uuid.uuid4())))  # seq 1, before
    records, photos = _unit(tmp_path)
    mutations = store.save_all(records, photos=photos)
    assert [m.seq for m in mutations] == [2, 3, 4, 5]
    assert [m.entity for m in mutations] == ["site", "activity", "attachment", "attachment"]
    assert [m.seq for m in store.pending()] == [1, 2, 3, 4, 5]
    assert store.get("site", records[0][1]["id"]) == records[0][1]
    assert store.state("activity", records[1][1]["id"]) == "pending"
    uploads = {u.id: u for u in store.uploads()}
    assert set(uploads) == {p.id for p in photos}
    for photo in photos:
        kept = uploads[photo.id]
        assert kept.path.parent == store.files_dir
        assert kept.path.read_bytes() == Path(photo.source).read_bytes()
    # Saving the same photos again copies and queues nothing new.
    assert store.save_all([], photos=photos) == []
    assert store.pending_count() == 5


def test_an_exception_between_records_leaves_nothing_of_the_save(
    store: DeviceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, photos = _unit(tmp_path)
    real = DeviceStore._save
    calls: list[str] = []

    def failing(self: DeviceStore, entity: str, data: Any, *, draft: bool) -> Any:
        calls.append(entity)
        if len(calls) == 2:
            raise RuntimeError("injected between the site and the activity")
        return real(self, entity, data, draft=draft)

    monkeypatch.setattr(DeviceStore, "_save", failing)
    with pytest.raises(RuntimeError, match="injected"):
        store.save_all(records, photos=photos)
    assert calls == ["site", "activity"]
    _nothing_saved(store)
    assert list(store.files_dir.iterdir()) == []  # the copied photos went too
    monkeypatch.setattr(DeviceStore, "_save", real)
    again = store.save_all(records, photos=photos)
    assert [m.seq for m in again] == [1, 2, 3, 4]  # no seq was used by the failed save


_KILLED_SAVE = """
import os, signal, sys
from pathlib import Path
from sync.store import DeviceStore, NewPhoto
import json

path, unit, where = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
store = DeviceStore(path)
real_save, real_photo = DeviceStore._save, DeviceStore._photo_row
count = []

def save(self, entity, data, *, draft):
    count.append(entity)
    if where == "record" and len(count) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(self, entity, data, draft=draft)

def photo(self, staged):
    if where == "photo":
        os.kill(os.getpid(), signal.SIGKILL)
    return real_photo(self, staged)

DeviceStore._save, DeviceStore._photo_row = save, photo
store.save_all([tuple(r) for r in unit["records"]],
               photos=[NewPhoto(**p) for p in unit["photos"]])
"""


@pytest.mark.parametrize("where", ["record", "photo"])
def test_a_kill_in_the_middle_of_a_save_leaves_nothing_and_no_orphan_file(
    tmp_path: Path, where: str
) -> None:
    path = tmp_path / "tablet" / "tablet.sqlite3"
    DeviceStore(path).close()
    records, photos = _unit(tmp_path)
    unit = {
        "records": records,
        "photos": [
            {
                "id": p.id,
                "activity_id": p.activity_id,
                "source": str(p.source),
                "content_type": p.content_type,
                "caption": p.caption,
            }
            for p in photos
        ],
    }
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_SAVE, str(path), json.dumps(unit), where],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    files_dir = path.parent / "tablet-photos"
    assert sorted(p.name for p in files_dir.iterdir()) == sorted(p.id for p in photos)

    reopened = DeviceStore(path)
    assert reopened.integrity_check() == "ok"
    _nothing_saved(reopened)
    assert list(files_dir.iterdir()) == []  # orphans removed at open
    assert [m.seq for m in reopened.save_all(records, photos=photos)] == [1, 2, 3, 4]
    reopened.close()


def test_a_conflict_decision_is_not_a_record_to_save(store: DeviceStore) -> None:
    with pytest.raises(ValueError, match="keep_theirs"):
        store.save_all([("conflict", {"id": str(uuid.uuid4())})])
    with pytest.raises(ValueError):
        store.save_all([("project", {"id": str(uuid.uuid4())})])


# --- bulk read with states --------------------------------------------------------------------


def _answer(
    seq: int, record_id: str, status: ResultStatus, errors: list[FieldError] | None = None
) -> MutationResult:
    return MutationResult(
        seq=seq, id=uuid.UUID(record_id), status=status, version=1, errors=errors or []
    )


def test_query_returns_records_with_state_errors_and_open_conflicts(store: DeviceStore) -> None:
    project, other = str(uuid.uuid4()), str(uuid.uuid4())
    ok = _activity(project, title="Réunion de village", start_date="2025-03-01")
    refused = _activity(project, title="Seed fair", start_date="2025-03-02")
    clashed = _activity(project, title="Potato storage", start_date="2025-03-03")
    elsewhere = _activity(other, title="Réunion elsewhere")
    for record in (ok, refused, clashed, elsewhere):
        store.save("activity", record)
    store.acknowledge(
        [
            _answer(1, ok["id"], ResultStatus.APPLIED),
            _answer(
                2,
                refused["id"],
                ResultStatus.REJECTED,
                [FieldError(field="end_date", code="end_before_start", message="before the start")],
            ),
            _answer(3, clashed["id"], ResultStatus.CONFLICT),
        ]
    )
    conflict = {
        "id": str(uuid.uuid4()),
        "entity": "activity",
        "entity_id": clashed["id"],
        "fields": ["title"],
        "status": "open",
        "server_values": {"title": "Office"},
        "device_values": {"title": "Potato storage"},
    }
    closed = {**conflict, "id": str(uuid.uuid4()), "status": "resolved"}
    store.apply_pull(
        [
            Change(entity="conflict", id=c["id"], op=Op.UPSERT, version=1, data=c)
            for c in (conflict, closed)
        ],
        "c1",
    )

    found = {r.id: r for r in store.query("activity", where={"project_id": project})}
    assert set(found) == {ok["id"], refused["id"], clashed["id"]}
    assert found[ok["id"]].state == "synced" and found[ok["id"]].data == ok
    assert found[refused["id"]].state == "rejected"
    assert found[refused["id"]].errors == [
        {"field": "end_date", "code": "end_before_start", "message": "before the start"}
    ]
    assert found[clashed["id"]].state == "conflict"
    assert [c["id"] for c in found[clashed["id"]].conflicts] == [conflict["id"]]
    assert found[ok["id"]].errors == [] and found[ok["id"]].conflicts == []

    assert [
        r.id for r in store.query("activity", states=["conflict", "rejected"], order_by=["title"])
    ] == [clashed["id"], refused["id"]]
    assert {r.id for r in store.query("activity", search="REUNION")} == {ok["id"], elsewhere["id"]}
    assert [r.id for r in store.query("activity", search="reunion village")] == [ok["id"]]
    assert store.query("activity", search="100%") == []
    assert store.count("activity", where={"project_id": project}) == 3
    assert store.state_counts("activity", where={"project_id": project}) == {
        "synced": 1,
        "rejected": 1,
        "conflict": 1,
    }
    assert store.count("activity", where={"type": "field_day", "project_id": other}) == 1


def test_query_sorts_pages_and_extracts_fields_and_totals(store: DeviceStore) -> None:
    project = str(uuid.uuid4())
    records = [
        _activity(project, title=f"Day {n:02d}", start_date=f"2025-03-{n % 5 + 1:02d}")
        for n in range(23)
    ]
    store.save_many("activity", records)
    ordered = store.query("activity", order_by=["-start_date", "title"])
    expected = sorted(records, key=lambda r: r["title"])
    expected.sort(key=lambda r: r["start_date"], reverse=True)
    assert [r.id for r in ordered] == [r["id"] for r in expected]
    pages = [
        store.query("activity", order_by=["-start_date", "title"], limit=10, offset=o)
        for o in (0, 10, 20)
    ]
    assert [r.id for page in pages for r in page] == [r.id for r in ordered]
    assert [len(p) for p in pages] == [10, 10, 3]

    [light] = store.query(
        "activity", ids=[records[0]["id"]], fields=["title", "site_id"], attendance_totals=True
    )
    assert light.data == {"id": records[0]["id"], "title": "Day 00", "site_id": None}
    assert (light.participants, light.women) == (8, 5)
    [whole] = store.query("activity", ids=[records[0]["id"]])
    assert whole.participants is None and whole.data == records[0]


def test_query_refuses_what_is_not_a_field_or_a_state(store: DeviceStore) -> None:
    with pytest.raises(ValueError, match="not a field name"):
        store.query("activity", where={"x') OR 1=1 --": 1})
    with pytest.raises(ValueError, match="not a field name"):
        store.query("activity", order_by=["-title; DROP TABLE record"])
    with pytest.raises(ValueError, match="unknown state"):
        store.query("activity", states=["lost"])


def test_deleted_records_are_left_out_unless_asked(store: DeviceStore) -> None:
    record = _activity(str(uuid.uuid4()))
    store.apply_pull(
        [Change(entity="activity", id=record["id"], op=Op.UPSERT, version=1, data=record)], "c1"
    )
    store.delete("activity", record["id"])
    assert store.query("activity") == []
    assert [r.id for r in store.query("activity", include_deleted=True)] == [record["id"]]


def test_the_fingerprint_moves_with_saves_and_answers(store: DeviceStore) -> None:
    before = store.fingerprint()
    record = _activity(str(uuid.uuid4()))
    store.save("activity", record)
    saved = store.fingerprint()
    assert saved != before
    store.acknowledge([_answer(1, record["id"], ResultStatus.APPLIED)])
    assert store.fingerprint() != saved


# --- migrating an older tablet file -----------------------------------------------------------


def test_a_tablet_file_of_schema_1_is_migrated_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for statement in _SCHEMA.split(";"):  # the tables as the first app version made them
        if statement.strip():
            db.execute(statement)
    project = str(uuid.uuid4())
    record = _activity(project, title="Réunion d'hiver")
    db.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("device_id", str(uuid.uuid4())), ("last_seq", "1"), ("schema", "1")],
    )
    db.execute(
        "INSERT INTO record (entity, id, data, state) VALUES ('activity', ?, ?, 'pending')",
        (record["id"], json.dumps(record)),
    )
    db.execute(
        "INSERT INTO outbox (seq, entity, id, op, base_version, data) VALUES "
        "(1, 'activity', ?, 'upsert', 0, ?)",
        (record["id"], json.dumps(record)),
    )
    db.commit()
    db.close()

    store = DeviceStore(path)
    assert store.schema_version == SCHEMA_VERSION == 5
    assert store.meta("schema") == "5"
    # Version 3: custody receipts; the record waiting in the outbox is not yet safe.
    assert store.receipt_keys() == [] and store.receipts() == []
    assert (store.custody().records, store.custody().safe_to_wipe) == (1, False)
    assert [
        r.id for r in store.query("activity", where={"project_id": project}, search="reunion hiver")
    ] == [record["id"]]
    with store._reader() as reader:
        plan = " ".join(
            str(r[3])
            for r in reader.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM record AS r WHERE r.entity = 'activity' "
                "AND r.project_id = ?",
                (project,),
            )
        )
    assert "record_project" in plan
    assert [m.seq for m in store.pending()] == [1]
    assert store.save("activity", _activity(project)).seq == 2  # type: ignore[union-attr]
    store.close()
    DeviceStore(path).close()  # opening again migrates nothing twice


def test_a_file_from_a_newer_app_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    DeviceStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ValueError, match="newer app"):
        DeviceStore(path)


# --- captions of photos already kept -------------------------------------------------------------


def test_a_new_caption_of_a_kept_photo_is_queued_alone_on_the_version_last_seen(
    store: DeviceStore, tmp_path: Path
) -> None:
    import dataclasses

    records, photos = _unit(tmp_path, photos=1)
    [photo] = photos
    store.save_all(records, photos=photos)
    store.acknowledge([_answer(m.seq, str(m.id), ResultStatus.APPLIED) for m in store.pending()])
    store.apply_pull(
        [
            Change(
                entity=entity,
                id=str(data["id"]),
                op=Op.UPSERT,
                version=3,
                data={**(store.get(entity, str(data["id"])) or {}), "version": 3},
            )
            for entity, data in [*records, ("attachment", {"id": photo.id})]
        ],
        "c1",
    )
    assert store.pending_count() == 0

    # In the form's save: the same photo, its caption changed, with the activity unchanged.
    renamed = dataclasses.replace(photo, caption="The new storage shed")
    [mutation] = store.save_all(records, photos=[renamed])
    assert (mutation.entity, str(mutation.id), mutation.base_version, mutation.data) == (
        "attachment",
        photo.id,
        3,
        {"caption": "The new storage shed"},
    )
    assert store.get("attachment", photo.id)["caption"] == "The new storage shed"  # type: ignore[index]
    assert store.state("attachment", photo.id) == "pending"
    assert len(store.uploads(state="waiting")) == 1  # the bytes are not copied or queued again
    assert store.save_all(records, photos=[renamed]) == []  # unchanged: nothing queued
    assert store.set_caption(photo.id, "The new storage shed") is None
    again = store.set_caption(photo.id, "Shed, from the north")
    assert again is not None and again.data == {"caption": "Shed, from the north"}
    assert [r.id for r in store.query("attachment", search="north")] == [photo.id]
    with pytest.raises(KeyError, match="keeps no photo"):
        store.set_caption(str(uuid.uuid4()), "Nowhere")


def test_a_caption_changed_before_the_first_push_sends_the_whole_metadata_again(
    store: DeviceStore, tmp_path: Path
) -> None:
    records, [photo] = _unit(tmp_path, photos=1)
    store.save_all(records, photos=[photo])
    mutation = store.set_caption(photo.id, "Renamed before any sync")
    assert mutation is not None and mutation.base_version == 0
    assert mutation.data is not None and mutation.data["caption"] == "Renamed before any sync"
    assert mutation.data["sha256"] == store.uploads()[0].sha256


# --- reading from many threads -------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_reads_from_many_short_lived_threads_leave_few_connections_open(store: DeviceStore) -> None:
    import threading

    def open_files() -> int:
        found = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                found += str(store.path) in os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
        return found

    store.save("activity", _activity(str(uuid.uuid4())))
    before = open_files()
    counts: list[int] = []
    for _ in range(60):  # as the app's worker threads do: one read each, then the thread ends
        thread = threading.Thread(target=lambda: counts.append(store.count("activity")))
        thread.start()
        thread.join()
    assert counts == [1] * 60
    # A few pooled read-only connections, not one per thread that ever read.
    assert open_files() - before <= 2 * 4


def test_storing_a_push_answer_reads_each_table_by_its_key(store: DeviceStore) -> None:
    """A tablet holds weeks of records: storing the answer to a batch asks the record, outbox
    and conflict tables by their keys, never reading a whole table for each chunk of ids."""
    project = str(uuid.uuid4())
    for n in range(30):
        store.save("activity", _activity(project, title=f"Held {n}"))
    store.acknowledge([_answer(m.seq, str(m.id), ResultStatus.APPLIED) for m in store.pending()])
    fresh = [_activity(project, title=f"New {n}") for n in range(5)]
    for record in fresh:
        store.save("activity", record)
    answers = [_answer(m.seq, str(m.id), ResultStatus.APPLIED) for m in store.pending()]
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        store.acknowledge(answers)
    finally:
        store._db.set_trace_callback(None)
    assert {r["id"] for r in fresh} <= {
        r.id for r in store.query("activity") if r.state == "synced"
    }
    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))]
    assert any("FROM record" in s for s in reads), reads
    with store._reader() as reader:
        plans = {
            s: " ".join(str(r[3]) for r in reader.execute(f"EXPLAIN QUERY PLAN {s}")) for s in reads
        }
    scans = {s: plan for s, plan in plans.items() if "SCAN" in plan}
    assert not scans, scans
