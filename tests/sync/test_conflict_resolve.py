"""A tablet keeps the server's values of a conflict, and the server hears of it (an extension of
docs/protocol.md#push: a ``conflict`` mutation in the outbox, exactly once, by push or offline
bundle)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.activities.models import Activity
from server.records.models import AuditEntry
from server.sync.models import KeptMutation, SyncConflict
from sync.bundle import export_bundle
from sync.protocol import Entity
from tests.factories import make_access_token, office_edit
from tests.photos import JPEG_HEAD
from tests.server.sync.conftest import Field, mutation, pull_all, push
from tests.sync.conftest import Tablet
from tests.sync.test_bundle import pilotmon  # noqa: F401

Result = subprocess.CompletedProcess[str]


def _conflict(engine: Engine, conflict_id: str) -> SyncConflict:
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(SyncConflict, uuid.UUID(conflict_id))
        assert found is not None
        return found


def _in_conflict(tablet: Tablet, field: Field, engine: Engine) -> tuple[str, str]:
    """The tablet and the office change the same title: the tablet ends up with an open
    conflict (pulled) and the server's title. Returns (activity id, conflict id)."""
    store, sync, _ = tablet
    record = field.activity(title="Tablet first title")
    store.save("activity", record)
    sync.sync_once()
    office_edit(engine, record["id"], title="Office title")
    store.save("activity", {**record, "title": "Tablet second title"})
    sync.sync_once()
    assert store.state("activity", record["id"]) == "conflict"
    [found] = store.query("activity", ids=[record["id"]])
    [conflict] = found.conflicts
    assert found.data["title"] == "Office title"
    return record["id"], str(conflict["id"])


def test_keep_theirs_closes_the_conflict_on_the_server_with_an_audit_entry(
    tablet: Tablet, field: Field, engine: Engine, client: TestClient
) -> None:
    store, sync, _ = tablet
    activity_id, conflict_id = _in_conflict(tablet, field, engine)

    [queued] = store.keep_theirs("activity", activity_id)
    assert queued.entity == Entity.CONFLICT and str(queued.id) == conflict_id
    assert queued.base_version == 0 and queued.data == {"resolution": "keep_server"}
    assert store.state("activity", activity_id) == "pending"
    [shown] = store.query("activity", ids=[activity_id])
    assert shown.conflicts == [] and shown.data["title"] == "Office title"
    assert store.keep_theirs("activity", activity_id) == []  # nothing open any more

    report = sync.sync_once()

    assert report.pushed == {"applied": 1}
    assert store.state("activity", activity_id) == "synced"
    assert store.pending_count() == 0
    conflict = _conflict(engine, conflict_id)
    assert conflict.status == "resolved" and conflict.resolved_by_id == field.expert.id
    assert conflict.resolution is not None and conflict.resolution["keep"] == "server"
    assert conflict.resolution["device_id"] == str(field.device.id)
    with Session(engine) as session:
        [entry] = (
            session.execute(
                select(AuditEntry).where(
                    col(AuditEntry.entity) == "conflict", col(AuditEntry.entity_id) == conflict_id
                )
            )
            .scalars()
            .all()
        )
        assert entry.action == "resolve" and entry.actor_id == field.expert.id
        assert entry.device_id == field.device.id and entry.country == "LSO"
        stored = session.get(Activity, uuid.UUID(activity_id))
        assert stored is not None and stored.title == "Office title"
    # The office sees it closed; the tablet pulled the server's closed conflict back.
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    listed = client.get(
        "/api/v1/conflicts",
        params={"status": "resolved"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["items"]
    assert [c["id"] for c in listed] == [conflict_id]
    [pulled] = store.conflicts(status="resolved")
    assert pulled["resolution"]["by"] == field.expert.username
    changes, _ = pull_all(client, field)
    assert [c["data"]["status"] for c in changes if c["entity"] == "conflict"] == ["resolved"]


def test_a_lost_answer_then_a_resend_is_harmless(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, sync, faults = tablet
    activity_id, conflict_id = _in_conflict(tablet, field, engine)
    store.keep_theirs("activity", activity_id)
    faults.faults.append(faults.DROP_ANSWER)  # the server commits, the tablet never hears
    try:
        sync.sync_once()
    except Exception as exc:  # noqa: BLE001
        assert "cannot reach" in str(exc) or "answer lost" in str(exc)
    assert store.state("activity", activity_id) == "pending"
    assert _conflict(engine, conflict_id).status == "resolved"
    faults.faults.append(faults.DUPLICATE)  # and the resend arrives twice
    report = sync.sync_once()
    assert report.pushed == {"duplicate": 1}
    assert store.state("activity", activity_id) == "synced"
    with Session(engine) as session:
        entries = (
            session.execute(select(AuditEntry).where(col(AuditEntry.entity_id) == conflict_id))
            .scalars()
            .all()
        )
        assert len(entries) == 1


def test_a_conflict_the_office_closed_first_answers_duplicate_and_keeps_its_resolution(
    tablet: Tablet, field: Field, engine: Engine, client: TestClient
) -> None:
    store, sync, _ = tablet
    activity_id, conflict_id = _in_conflict(tablet, field, engine)
    store.keep_theirs("activity", activity_id)
    with Session(engine) as session:
        conflict = session.get(SyncConflict, uuid.UUID(conflict_id))
        assert conflict is not None
        conflict.status, conflict.resolution = "resolved", {"keep": "server", "by": "office"}
        session.add(conflict)
        session.commit()
    report = sync.sync_once()
    assert report.pushed == {"duplicate": 1}
    assert store.state("activity", activity_id) == "synced"
    assert _conflict(engine, conflict_id).resolution == {"keep": "server", "by": "office"}


def test_another_users_conflict_or_an_unknown_id_is_rejected_and_kept(
    tablet: Tablet, field: Field, engine: Engine, client: TestClient
) -> None:
    _, conflict_id = _in_conflict(tablet, field, engine)
    unknown = str(uuid.uuid4())
    answer = push(
        client,
        field,
        [
            mutation(1, {"resolution": "keep_server"}, entity="conflict", id=conflict_id),
            mutation(2, {"resolution": "keep_server"}, entity="conflict", id=unknown),
            mutation(3, {"resolution": "keep_device"}, entity="conflict", id=conflict_id),
            mutation(4, None, entity="conflict", op="delete", id=conflict_id),
        ],
        device=field.teammate_device,
        token=field.teammate_token,
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert [r["errors"][0]["field"] for r in results] == ["id", "id", "data.resolution", "op"]
    assert [r["errors"][0]["code"] for r in results] == [
        "not_found",
        "not_found",
        "unknown_code",
        "invalid",
    ]
    assert _conflict(engine, conflict_id).status == "open"
    with Session(engine) as session:
        kept = (
            session.execute(select(KeptMutation).where(col(KeptMutation.entity) == "conflict"))
            .scalars()
            .all()
        )
        assert len(kept) == 4  # refused, and kept for review like any rejected mutation


def test_a_refused_resolution_opens_the_conflict_again_on_the_tablet(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, sync, _ = tablet
    activity_id, conflict_id = _in_conflict(tablet, field, engine)
    store.keep_theirs("activity", activity_id)
    with Session(engine) as session:  # the project leaves the expert's scope meanwhile
        conflict = session.get(SyncConflict, uuid.UUID(conflict_id))
        assert conflict is not None
        conflict.project_id = field.other_project.id
        session.add(conflict)
        session.commit()
    report = sync.sync_once()
    assert report.pushed == {"rejected": 1}
    assert store.state("activity", activity_id) == "conflict"
    [found] = store.query("activity", ids=[activity_id])
    assert found.conflicts[0]["resolve_errors"][0]["field"] == "id"


def test_an_offline_bundle_carries_the_resolution_exactly_once(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    tmp_path: Path,
    pilotmon: Callable[..., Result],  # noqa: F811
) -> None:
    store, sync, _ = tablet
    activity_id, conflict_id = _in_conflict(tablet, field, engine)
    store.keep_theirs("activity", activity_id)
    summary = export_bundle(store, tmp_path / "outbox.zip")
    assert summary.mutations == 1

    result = pilotmon("import-bundle", str(summary.path))
    assert result.returncode == 0, result.stderr
    assert "1 applied" in result.stdout
    assert _conflict(engine, conflict_id).status == "resolved"
    assert _conflict(engine, conflict_id).resolution["source"] == "bundle"  # type: ignore[index]

    report = sync.sync_once()
    assert report.pushed == {"duplicate": 1}
    assert store.state("activity", activity_id) == "synced"


def test_a_refused_delete_kept_as_the_server_has_it_keeps_the_photos(
    tablet: Tablet, field: Field, engine: Engine, client: TestClient, tmp_path: Path
) -> None:
    """The tablet deletes an activity with a photo while the office edits it: the delete is
    refused as a conflict, and keeping the server's activity keeps its photo too. The photo's
    own delete, queued beside the activity's, used to be applied: the activity came back
    without it."""
    from sync.store import NewPhoto

    store, sync, _ = tablet
    record = field.activity(title="Study tour with a photo")
    source = tmp_path / "tour.jpg"
    source.write_bytes(JPEG_HEAD + b"t" * 5000)
    photo_id = str(uuid.uuid4())
    store.save_all(
        [("activity", record)],
        photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg", "the group")],
    )
    sync.sync_once()
    assert store.custody().uploads == 0  # the bytes reached the server
    office_edit(engine, record["id"], title="Study tour, renamed by the office")

    assert [m.entity for m in store.delete_record("activity", record["id"])] == ["activity"]
    sync.sync_once()
    assert store.state("activity", record["id"]) == "conflict"
    store.keep_theirs("activity", record["id"])
    sync.sync_once()

    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    office = {"Authorization": f"Bearer {token}"}
    shown = client.get(f"/api/v1/activities/{record['id']}", headers=office).json()
    assert shown["title"] == "Study tour, renamed by the office"
    assert [a["id"] for a in shown["attachments"]] == [photo_id]
    assert client.get(f"/api/v1/attachments/{photo_id}", headers=office).status_code == 200
    # … and the tablet shows it back, with its photo.
    assert store.get("activity", record["id"]) is not None
    assert store.get("attachment", photo_id) is not None


def test_a_refused_delete_kept_as_the_server_has_it_finishes_the_photos_upload(
    tablet: Tablet, field: Field, engine: Engine, client: TestClient, tmp_path: Path
) -> None:
    """As above, but the photo's bytes had not all reached the server when the tablet deleted
    the activity: the tablet dropped them then, and the photo the activity came back with
    stayed incomplete on the server for ever. The bytes wait, unsent, for the delete's answer;
    the conflict brings the activity back and the upload finishes."""
    from sync.store import NewPhoto

    store, sync, _ = tablet
    record = field.activity(title="Study tour with a photo")
    source = tmp_path / "tour.jpg"
    photo = JPEG_HEAD + b"t" * 5000
    source.write_bytes(photo)
    photo_id = str(uuid.uuid4())
    store.save_all(
        [("activity", record)],
        photos=[NewPhoto(photo_id, record["id"], source, "image/jpeg", "the group")],
    )
    sync.push()
    sync.client.upload_chunk(photo_id, offset=0, chunk=photo[:2000])  # then the link is cut
    sync.pull()
    assert sync.client.upload_offset(photo_id) == 2000
    office_edit(engine, record["id"], title="Study tour, renamed by the office")

    store.delete_record("activity", record["id"])
    assert not store.custody().safe_to_wipe
    sync.sync_once()  # refused as a conflict: the activity comes back, its photo's bytes go
    assert store.state("activity", record["id"]) == "conflict"
    assert sync.client.upload_offset(photo_id) == len(photo)
    store.keep_theirs("activity", record["id"])
    sync.sync_once()

    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    office = {"Authorization": f"Bearer {token}"}
    shown = client.get(f"/api/v1/activities/{record['id']}", headers=office).json()
    assert shown["title"] == "Study tour, renamed by the office"
    assert [a["id"] for a in shown["attachments"]] == [photo_id]
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=office)
    assert served.status_code == 200 and served.content == photo
    # The server signed for the activity with its photo: the tablet may be wiped.
    assert store.custody().safe_to_wipe
