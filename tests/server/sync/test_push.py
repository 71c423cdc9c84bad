"""Push (docs/protocol.md#push): exactly once, final answers that never block, conflicts kept and
visible."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.accounts.models import Device
from server.activities.models import Activity, ActivityRevision, AttendanceRow
from server.columns import utcnow
from server.records.models import Change
from server.sync.models import KeptMutation, SyncConflict
from tests.factories import activity_versions, make_access_token, office_edit
from tests.server.sync.conftest import Field, mutation, pull_all, push


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with Session(engine) as session:
        return int(
            session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )


def _activity(engine: Engine, activity_id: str) -> Activity | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Activity, uuid.UUID(activity_id))


def _snapshot(engine: Engine) -> tuple[int, ...]:
    return (
        _count(engine, Activity),
        _count(engine, ActivityRevision),
        _count(engine, AttendanceRow),
        _count(engine, Change),
        _count(engine, KeptMutation),
    )


def test_a_new_activity_is_applied_with_attendance_revision_and_change(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    response = push(client, field, [mutation(1, record)])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["last_seq"] == 1
    assert body["server_time"]
    assert body["results"] == [
        {"seq": 1, "id": record["id"], "status": "applied", "version": 1, "errors": []}
    ]
    stored = _activity(engine, record["id"])
    assert stored is not None and stored.status == "submitted"
    assert stored.device_id == field.device.id and stored.created_by_id == field.expert.id
    assert _count(engine, AttendanceRow, AttendanceRow.activity_id == stored.id) == 2
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None and device.last_seq == 1 and device.last_seen_at is not None


def test_a_replayed_batch_changes_nothing_and_answers_duplicate(
    client: TestClient, field: Field, engine: Engine
) -> None:
    first, second = field.activity(), field.activity(title="Farmer field day")
    batch = [mutation(1, first), mutation(2, second)]
    assert push(client, field, batch).status_code == 200
    before = _snapshot(engine)
    replay = push(client, field, batch)
    assert replay.status_code == 200
    assert [r["status"] for r in replay.json()["results"]] == ["duplicate", "duplicate"]
    assert [r["version"] for r in replay.json()["results"]] == [1, 1]
    assert _snapshot(engine) == before


def test_a_batch_overlapping_the_last_ack_applies_only_the_new_part(
    client: TestClient, field: Field, engine: Engine
) -> None:
    first, second = field.activity(), field.activity(title="Second")
    push(client, field, [mutation(1, first)])
    response = push(client, field, [mutation(1, first), mutation(2, second)])
    assert [r["status"] for r in response.json()["results"]] == ["duplicate", "applied"]
    assert _count(engine, Activity) == 2


def test_a_seq_gap_gets_409_with_the_expected_seq_and_changes_nothing(
    client: TestClient, field: Field, engine: Engine
) -> None:
    push(client, field, [mutation(1, field.activity())])
    before = _snapshot(engine)
    response = push(client, field, [mutation(3, field.activity()), mutation(4, field.activity())])
    assert response.status_code == 409
    assert response.json()["expected_seq"] == 2
    assert response.json()["server_time"]
    assert _snapshot(engine) == before
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None and device.last_seq == 1


def test_seqs_must_rise_by_one_inside_a_batch(client: TestClient, field: Field) -> None:
    response = push(client, field, [mutation(1, field.activity()), mutation(3, field.activity())])
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "mutations"


def test_an_invalid_activity_is_rejected_kept_and_does_not_block_the_queue(
    client: TestClient, field: Field, engine: Engine
) -> None:
    bad = field.activity(end_date="2025-03-01")  # before its start
    good = field.activity()
    response = push(client, field, [mutation(1, bad), mutation(2, good)])
    results = response.json()["results"]
    assert results[0]["status"] == "rejected"
    assert results[0]["errors"][0]["field"] == "end_date"
    assert results[1]["status"] == "applied"
    assert response.json()["last_seq"] == 2
    with Session(engine) as session:
        kept = session.execute(select(KeptMutation)).scalar_one()
        assert kept.seq == 1 and kept.status == "rejected"
        assert kept.data is not None and kept.data["end_date"] == "2025-03-01"
        assert kept.errors[0]["field"] == "end_date"
    assert _activity(engine, bad["id"]) is None


def test_a_new_activity_sent_approved_or_on_a_base_the_server_lacks_is_rejected(
    client: TestClient, field: Field, engine: Engine
) -> None:
    # docs/protocol.md: a tablet's status is draft or submitted; a base ahead of the server's
    # is refused. Both used to be applied as a new record, version 1, status submitted: in
    # bulk with other new ones, and with a roster (one by one).
    approved = {**field.activity(), "status": "approved"}
    returned = {**field.activity(), "status": "returned"}
    ahead = field.activity()
    far_ahead = field.activity()
    good = {**field.activity(), "status": "submitted"}
    batch = [
        mutation(1, approved),
        mutation(2, returned),
        mutation(3, ahead, base_version=5),
        mutation(4, far_ahead, base_version=2**31 - 1),
        mutation(5, good),
        # a roster activity goes one by one
        mutation(6, {**approved, "id": str(uuid.uuid4()), "participant_ids": [str(uuid.uuid4())]}),
    ]
    response = push(client, field, batch)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["status"], [(e["field"], e["code"]) for e in r["errors"]]) for r in results] == [
        ("rejected", [("status", "status_not_allowed")]),
        ("rejected", [("status", "status_not_allowed")]),
        ("rejected", [("base_version", "base_ahead")]),
        ("rejected", [("base_version", "base_ahead")]),
        ("applied", []),
        ("rejected", [("status", "status_not_allowed")]),
    ]
    for record in (approved, returned, ahead, far_ahead):
        assert _activity(engine, record["id"]) is None


def test_a_base_version_beyond_a_32_bit_version_is_a_malformed_batch(
    client: TestClient, field: Field, engine: Engine
) -> None:
    # 2^62 was applied as a new record; refused as ahead, keeping the refused mutation overflowed
    # PostgreSQL's integer column: a 500.
    for base in (2**31, 2**62, 2**70):
        response = push(client, field, [mutation(1, field.activity(), base_version=base)])
        assert response.status_code == 422, (base, response.text)
        body = response.json()
        assert [e["field"] for e in body["detail"]] == ["mutations.0.base_version"], body
    assert _count(engine, KeptMutation) == 0


def test_activities_of_another_project_are_rejected(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity(project_id=str(field.other_project.id))
    result = push(client, field, [mutation(1, record)]).json()["results"][0]
    assert result["status"] == "rejected"
    assert result["errors"][0]["field"] == "project_id"
    assert _count(engine, KeptMutation) == 1


def test_an_expert_cannot_change_a_teammates_activity(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    push(
        client,
        field,
        [mutation(1, record)],
        device=field.teammate_device,
        token=field.teammate_token,
    )
    result = push(
        client, field, [mutation(1, {"title": "Mine now"}, id=record["id"], base_version=1)]
    ).json()["results"][0]
    assert result["status"] == "rejected"
    stored = _activity(engine, record["id"])
    assert stored is not None and stored.title == record["title"]


def test_an_edit_to_an_approved_activity_is_rejected_and_kept(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    office_edit(engine, record["id"], status="approved")
    response = push(
        client, field, [mutation(2, {"title": "Too late"}, id=record["id"], base_version=2)]
    )
    result = response.json()["results"][0]
    assert result["status"] == "rejected"
    assert result["errors"][0]["field"] == "status"
    assert result["errors"][0]["code"] == "locked"
    assert result["version"] == 2
    stored = _activity(engine, record["id"])
    assert stored is not None and stored.title == record["title"] and stored.version == 2
    with Session(engine) as session:
        kept = session.execute(select(KeptMutation)).scalar_one()
        assert kept.data == {"title": "Too late"} and kept.status == "rejected"


def test_a_refused_change_sent_again_gets_its_refusal_again_not_duplicate(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """The answer a tablet did not get may have been a refusal. Told only "duplicate", the
    tablet took a refused delete of an approved activity for done: the activity vanished from
    it for good while the server kept it (found by the hostile-network stateful test)."""
    record, invalid = field.activity(), field.activity(end_date="2025-03-01")
    push(client, field, [mutation(1, record)])
    office_edit(engine, record["id"], status="approved")
    batch = [
        mutation(2, None, id=record["id"], op="delete", base_version=2),
        mutation(3, invalid),
        mutation(4, field.activity()),
    ]
    first = push(client, field, batch).json()["results"]
    assert [r["status"] for r in first] == ["rejected", "rejected", "applied"]
    before = _snapshot(engine)
    again = push(client, field, batch).json()["results"]  # the answer was lost on the way
    assert [r["status"] for r in again] == ["rejected", "rejected", "duplicate"]
    assert again[0]["errors"] == first[0]["errors"] and again[0]["errors"][0]["code"] == "locked"
    assert again[1]["errors"] == first[1]["errors"]
    assert [r["version"] for r in again] == [2, None, 1]
    assert _snapshot(engine) == before  # nothing changed, nothing kept twice
    stored = _activity(engine, record["id"])
    assert stored is not None and not stored.deleted and stored.status == "approved"


def test_a_revoked_tablet_gets_403_and_nothing_changes(
    client: TestClient, field: Field, engine: Engine
) -> None:
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None
        device.revoked_at = utcnow()
        session.commit()
    response = push(client, field, [mutation(1, field.activity())])
    assert response.status_code == 403
    assert response.json()["code"] == "device_revoked"
    assert response.json()["server_time"]
    assert _count(engine, Activity) == 0


def test_an_unknown_token_gets_401(client: TestClient, field: Field) -> None:
    response = push(client, field, [mutation(1, field.activity())], token="not-a-token")
    assert response.status_code == 401


def test_a_token_of_another_tablet_gets_403(client: TestClient, field: Field) -> None:
    response = push(
        client,
        field,
        [mutation(1, field.activity())],
        device=field.device,
        token=field.teammate_token,
    )
    assert response.status_code == 403


def test_another_protocol_gets_426(client: TestClient, field: Field) -> None:
    body = {"protocol": 2, "device_id": str(field.device.id), "mutations": []}
    response = client.post("/api/v1/sync/push", json=body, headers=field.headers())
    assert response.status_code == 426
    assert response.json()["protocols"] == [1]


def test_a_malformed_envelope_gets_422_naming_the_field(client: TestClient, field: Field) -> None:
    body = {
        "protocol": 1,
        "device_id": str(field.device.id),
        "mutations": [
            {"seq": 1, "entity": "spaceship", "op": "upsert", "id": str(uuid.uuid4()), "data": {}}
        ],
    }
    response = client.post("/api/v1/sync/push", json=body, headers=field.headers())
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "mutations.0.entity"
    not_json = client.post("/api/v1/sync/push", content=b"{nope", headers=field.headers())
    assert not_json.status_code == 422


def test_too_many_mutations_get_413_with_the_published_limit(
    client: TestClient, field: Field
) -> None:
    settings = cast(FastAPI, client.app).state.settings
    limit = settings.max_push_mutations
    settings.max_push_mutations = 2
    try:
        response = push(client, field, [mutation(i, field.activity()) for i in (1, 2, 3)])
    finally:
        settings.max_push_mutations = limit
    assert response.status_code == 413
    assert response.json()["limit"] == 2


def test_a_gzip_bomb_gets_413_not_a_memory_blow_up(client: TestClient, field: Field) -> None:
    limit = client.get("/api/v1/sync/info").json()["max_batch_bytes"]
    bomb = gzip.compress(b" " * (limit * 4))  # a few kilobytes that inflate past the limit
    assert len(bomb) < limit // 100
    response = client.post(
        "/api/v1/sync/push", content=bomb, headers={**field.headers(), "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


def test_gzip_in_both_directions(client: TestClient, field: Field) -> None:
    records = [field.activity(title=f"Training {i}") for i in range(30)]
    response = push(
        client, field, [mutation(i + 1, r) for i, r in enumerate(records)], gzipped=True
    )
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == "gzip"
    assert response.headers.get("server-time")
    assert len(response.json()["results"]) == 30


def test_info_publishes_limits_and_server_time(client: TestClient) -> None:
    body = client.get("/api/v1/sync/info").json()
    assert body["protocols"] == [1]
    assert body["max_chunk_bytes"] == 1024 * 1024
    assert body["max_batch_bytes"] > 0 and body["max_batch_mutations"] > 0
    assert body["server_time"]


def test_the_app_version_is_recorded(client: TestClient, field: Field, engine: Engine) -> None:
    body = json.dumps({"protocol": 1, "device_id": str(field.device.id), "mutations": []})
    response = client.post(
        "/api/v1/sync/push", content=body, headers={**field.headers(), "X-App-Version": "2.3.4"}
    )
    assert response.status_code == 200 and response.json()["last_seq"] == 0
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None and device.app_version == "2.3.4"


# --- merges and conflicts --------------------------------------------------------------------


def test_a_second_offline_edit_of_the_same_field_is_not_a_conflict(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    response = push(
        client,
        field,
        [
            mutation(1, record),
            mutation(2, {"title": "First fix"}, id=record["id"]),
            mutation(3, {"title": "Second fix"}, id=record["id"]),
        ],
    )
    assert [r["status"] for r in response.json()["results"]] == ["applied"] * 3
    stored = _activity(engine, record["id"])
    assert stored is not None and stored.title == "Second fix" and stored.version == 3


def test_disjoint_changes_merge(client: TestClient, field: Field, engine: Engine) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    office_edit(engine, record["id"], notes="Checked by the office")
    result = push(
        client, field, [mutation(2, {"title": "Better title"}, id=record["id"], base_version=1)]
    ).json()["results"][0]
    assert result["status"] == "merged" and result["version"] == 3
    stored = _activity(engine, record["id"])
    assert stored is not None
    assert (stored.title, stored.notes) == ("Better title", "Checked by the office")
    assert _count(engine, SyncConflict) == 0


def test_the_same_field_changed_on_both_sides_keeps_the_server_value_and_is_visible(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    office_edit(engine, record["id"], title="Office title")
    result = push(
        client,
        field,
        [
            mutation(
                2,
                {"title": "Tablet title", "notes": "from the field"},
                id=record["id"],
                base_version=1,
            )
        ],
    ).json()["results"][0]
    assert result["status"] == "conflict"
    stored = _activity(engine, record["id"])
    assert stored is not None
    assert stored.title == "Office title" and stored.notes == "from the field"

    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    listed = client.get("/api/v1/conflicts", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    [conflict] = listed.json()["items"]
    assert conflict["fields"] == ["title"]
    assert conflict["server_values"] == {"title": "Office title"}
    assert conflict["device_values"] == {"title": "Tablet title"}
    assert conflict["base_values"] == {"title": record["title"]}
    with Session(engine) as session:
        kept = session.execute(select(KeptMutation)).scalar_one()
        assert kept.status == "conflict" and kept.data is not None
        assert kept.data["title"] == "Tablet title"

    changes, _ = pull_all(client, field)
    pulled = [c for c in changes if c["entity"] == "conflict"]
    assert [c["id"] for c in pulled] == [conflict["id"]]
    assert pulled[0]["data"]["status"] == "open"


def test_attendance_is_one_field(client: TestClient, field: Field, engine: Engine) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    office_rows = [
        {
            "sex": "female",
            "age_band": "adult",
            "category": "farmer",
            "disability": False,
            "count": 30,
        }
    ]
    office_edit(engine, record["id"], attendance=office_rows)
    tablet_rows = [
        {"sex": "male", "age_band": "adult", "category": "farmer", "disability": False, "count": 5},
        *record["attendance"],
    ]
    result = push(
        client, field, [mutation(2, {"attendance": tablet_rows}, id=record["id"], base_version=1)]
    ).json()["results"][0]
    assert result["status"] == "conflict"
    with Session(engine) as session:
        conflict = session.execute(select(SyncConflict)).scalar_one()
        assert conflict.fields == ["attendance"]


def test_delete_against_update_is_a_conflict(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    office_edit(engine, record["id"], notes="Office note")
    result = push(
        client, field, [mutation(2, None, op="delete", id=record["id"], base_version=1)]
    ).json()["results"][0]
    assert result["status"] == "conflict"
    stored = _activity(engine, record["id"])
    assert stored is not None and not stored.deleted
    with Session(engine) as session:
        assert session.execute(select(SyncConflict)).scalar_one().fields == ["deleted"]


def test_a_delete_is_a_tombstone(client: TestClient, field: Field, engine: Engine) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    result = push(
        client, field, [mutation(2, None, op="delete", id=record["id"], base_version=1)]
    ).json()["results"][0]
    assert result["status"] == "applied" and result["version"] == 2
    stored = _activity(engine, record["id"])
    assert stored is not None and stored.deleted
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["entity"] == "activity"]
    assert pulled["op"] == "delete"


def _officer_token(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _conflicted(client: TestClient, field: Field, engine: Engine) -> tuple[str, str]:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    office_edit(engine, record["id"], title="Office title")
    push(client, field, [mutation(2, {"title": "Tablet title"}, id=record["id"], base_version=1)])
    with Session(engine) as session:
        conflict = session.execute(select(SyncConflict)).scalar_one()
        return record["id"], str(conflict.id)


def test_resolving_with_the_tablets_values_writes_them(
    client: TestClient, field: Field, engine: Engine
) -> None:
    activity_id, conflict_id = _conflicted(client, field, engine)
    headers = _officer_token(engine, field)
    response = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve", json={"keep": "device"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    stored = _activity(engine, activity_id)
    assert stored is not None and stored.title == "Tablet title"
    again = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve", json={"keep": "server"}, headers=headers
    )
    assert again.status_code == 409
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["entity"] == "conflict"]
    assert pulled["data"]["status"] == "resolved"


def test_resolving_with_custom_values_needs_every_conflicting_field(
    client: TestClient, field: Field, engine: Engine
) -> None:
    activity_id, conflict_id = _conflicted(client, field, engine)
    headers = _officer_token(engine, field)
    wrong = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "custom", "values": {"notes": "x"}},
        headers=headers,
    )
    assert wrong.status_code == 422
    # each problem at its field, at once: the conflicting field left out, the other one given
    assert {(d["field"], d["code"]) for d in wrong.json()["detail"]} == {
        ("values.title", "required"),
        ("values.notes", "unknown_field"),
    }
    right = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "custom", "values": {"title": "Agreed title"}},
        headers=headers,
    )
    assert right.status_code == 200
    stored = _activity(engine, activity_id)
    assert stored is not None and stored.title == "Agreed title"


def test_keeping_the_server_values_changes_nothing_but_the_conflict(
    client: TestClient, field: Field, engine: Engine
) -> None:
    activity_id, conflict_id = _conflicted(client, field, engine)
    before = _activity(engine, activity_id)
    assert before is not None
    version = before.version
    response = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "server"},
        headers=_officer_token(engine, field),
    )
    assert response.status_code == 200
    stored = _activity(engine, activity_id)
    assert stored is not None and stored.title == "Office title" and stored.version == version


def test_a_field_expert_may_not_resolve(client: TestClient, field: Field, engine: Engine) -> None:
    _, conflict_id = _conflicted(client, field, engine)
    with Session(engine) as session:
        token = make_access_token(session, field.expert)
        session.commit()
    response = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "device"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


def test_conflicts_of_other_countries_are_not_listed(
    client: TestClient, field: Field, engine: Engine
) -> None:
    _conflicted(client, field, engine)
    from tests.factories import make_user

    with Session(engine) as session:
        stranger = make_user(session, role="country_officer", countries=["KEN"])
        token = make_access_token(session, stranger)
        session.commit()
    listed = client.get("/api/v1/conflicts", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.json() == {"items": [], "total": 0}


def test_the_tablet_settles_its_conflict_by_saving_again_after_seeing_the_server(
    client: TestClient, field: Field, engine: Engine
) -> None:
    activity_id, conflict_id = _conflicted(client, field, engine)
    before = _activity(engine, activity_id)
    assert before is not None
    version = before.version
    result = push(
        client,
        field,
        [mutation(3, {"title": "Tablet title"}, id=activity_id, base_version=version)],
    ).json()["results"][0]
    assert result["status"] == "applied"
    with Session(engine) as session:
        conflict = session.get(SyncConflict, uuid.UUID(conflict_id))
        assert conflict is not None and conflict.status == "superseded"


# --- many new activities at once -----------------------------------------------------------


def _state(engine: Engine, activity_id: str) -> tuple[Any, ...]:
    from server.activities.service import load_wire

    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(activity_id))
        assert activity is not None
        (revision,) = activity_versions(session, activity.id)
        changes = session.execute(
            select(func.count()).select_from(Change).where(col(Change.entity_id) == activity.id)
        ).scalar_one()
        wire = load_wire(session, activity)
        row = {
            k: getattr(activity, k)
            for k in ("status", "version", "late", "flags", "deleted", "device_id", "created_by_id")
        }
        return wire, {**revision.data}, changes, row, activity.submitted_at is not None


def test_new_activities_written_in_bulk_equal_those_written_one_by_one(
    client: TestClient, field: Field, engine: Engine
) -> None:
    records = [
        field.activity(
            title=f"Day {i}",
            site_id=str(field.site.id),
            start_date=f"2025-03-1{i}",
            end_date=f"2025-03-1{i}",
            location={"lat": -29.31, "lon": 27.48, "accuracy_m": 5},
        )
        for i in range(4)
    ]
    # Alone in their batch, the first two take the bulk path; sent each with an edit of
    # itself, the last two go one by one.
    push(client, field, [mutation(1, records[0]), mutation(2, records[1])])
    push(
        client,
        field,
        [
            mutation(3, records[2]),
            mutation(4, {}, id=records[2]["id"]),
            mutation(5, records[3]),
            mutation(6, {}, id=records[3]["id"]),
        ],
    )
    bulk, single = _state(engine, records[1]["id"]), _state(engine, records[3]["id"])
    assert [f["code"] for f in bulk[3]["flags"]] == [f["code"] for f in single[3]["flags"]]
    for left, right in zip(bulk, single, strict=True):
        if isinstance(left, dict):
            left = {
                k: v
                for k, v in left.items()
                if k not in ("id", "title", "flags") and "date" not in k
            }
            right = {
                k: v
                for k, v in right.items()
                if k not in ("id", "title", "flags") and "date" not in k
            }
        assert left == right


def test_a_mixed_batch_keeps_its_order(client: TestClient, field: Field, engine: Engine) -> None:
    import hashlib

    first, second = field.activity(), field.activity(title="Second")
    photo = {
        "id": str(uuid.uuid4()),
        "activity_id": first["id"],
        "sha256": hashlib.sha256(b"x").hexdigest(),
        "size": 1,
        "content_type": "image/jpeg",
    }
    invalid = field.activity(end_date="2025-01-01")
    response = push(
        client,
        field,
        [
            mutation(1, first),
            mutation(2, invalid),
            mutation(3, photo, entity="attachment"),
            mutation(4, second),
            mutation(5, {"title": "Edited"}, id=second["id"]),
        ],
    )
    assert [r["status"] for r in response.json()["results"]] == [
        "applied",
        "rejected",
        "applied",
        "applied",
        "applied",
    ]
    assert [r["seq"] for r in response.json()["results"]] == [1, 2, 3, 4, 5]
    stored = _activity(engine, second["id"])
    assert stored is not None and stored.title == "Edited"
    assert _count(engine, KeptMutation) == 1


def test_data_quality_flags_and_late_submissions_are_stored(
    client: TestClient, field: Field, engine: Engine
) -> None:
    from server.activities.models import ClosedPeriod

    with Session(engine) as session:
        session.add(ClosedPeriod(country="LSO", period="2025Q1", closed_by_id=field.officer.id))
        session.commit()
    usual = [
        field.activity(
            title=f"Day {i}", start_date=f"2025-04-{i + 1:02d}", end_date=f"2025-04-{i + 1:02d}"
        )
        for i in range(6)
    ]
    push(client, field, [mutation(i + 1, r) for i, r in enumerate(usual)])
    crowd = [
        {
            "sex": "female",
            "age_band": "adult",
            "category": "farmer",
            "disability": False,
            "count": 900,
        }
    ]
    big = field.activity(attendance=crowd, start_date="2025-04-01", end_date="2025-04-01")
    in_closed_quarter = field.activity(start_date="2025-02-10", end_date="2025-02-10")
    push(client, field, [mutation(7, big), mutation(8, in_closed_quarter)])
    flagged = _activity(engine, big["id"])
    assert flagged is not None
    codes = {f["code"] for f in flagged.flags}
    assert {"attendance_unusual", "likely_duplicate", "reporting_lag"} <= codes
    assert not flagged.late
    late = _activity(engine, in_closed_quarter["id"])
    assert late is not None and late.late


def test_a_gathering_with_nobody_counted_is_flagged_until_someone_is(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """A training with no attendance was saved without a word; the office now sees
    ``no_participants`` in review, and the flag goes once the counts arrive."""
    nobody = field.activity(type="farmer_training", attendance=[])
    deployment = field.activity(
        type="expert_deployment", attendance=[], start_date="2025-03-15", end_date="2025-03-15"
    )
    push(client, field, [mutation(1, nobody), mutation(2, deployment)])

    def flags(record: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
        found = _activity(engine, record["id"])
        assert found is not None
        # (the test's dates are long past: each also carries reporting_lag)
        return [
            (f["code"], f["field"], f["params"])
            for f in found.flags
            if f["code"] != "reporting_lag"
        ]

    assert flags(nobody) == [("no_participants", "attendance", {"value": "farmer_training"})]
    assert flags(deployment) == []  # an expert deployed may count nobody

    counted = [
        {
            "sex": "female",
            "age_band": "adult",
            "category": "farmer",
            "disability": False,
            "count": 4,
        }
    ]
    edit = {"id": nobody["id"], "attendance": counted}
    response = push(client, field, [mutation(3, edit, base_version=1)])
    assert response.json()["results"][0]["status"] == "applied", response.text
    assert flags(nobody) == []


def test_a_mutation_with_a_nul_is_rejected_and_still_kept(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity(title="Field\x00day")
    response = push(client, field, [mutation(1, record)])
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "title"
    with Session(engine) as session:
        kept = session.execute(select(KeptMutation)).scalar_one()
        assert kept.data is not None and kept.data["title"] == "Field\ufffdday"


def test_json_the_parser_refuses_gets_422_not_500(client: TestClient, field: Field) -> None:
    for body in (b'{"protocol": 1' + b"0" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000):
        response = client.post("/api/v1/sync/push", content=body, headers=field.headers())
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "body"
