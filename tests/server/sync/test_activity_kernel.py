"""Every writer of an activity goes through the activity kernel (``write_activities`` in
server/activities/service.py), so each of their writes leaves the same things behind: the next
version, its revision holding the full state, its change-log entry, roll-ups equal to a rebuild,
and flags computed from the new content."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.activities import service
from server.activities.models import Activity, ActivityRevision
from server.activities.service import load_wire, write_activity
from server.indicators.refresh import rebuild_all
from server.records.changes import ChangeRecord
from server.records.models import Change
from server.sync.models import SyncConflict
from tests.factories import activity_versions, make_access_token
from tests.server.indicators.test_refresh import snapshot
from tests.server.sync.conftest import Field, mutation, push

Written = tuple[uuid.UUID, str, int]


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> list[Written]:
    """The writes that went through the kernel's last step, as (id, op, version)."""
    seen: list[Written] = []
    original = service._written

    def recording(session: Session, changes: list[ChangeRecord]) -> None:
        seen.extend((c.entity_id, c.op, c.version) for c in changes)
        original(session, changes)

    monkeypatch.setattr(service, "_written", recording)
    return seen


def _officer(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _assert_kept_together(engine: Engine, activity_id: uuid.UUID, sources: list[str]) -> None:
    """One version in the history and one change per version (version 1 in the row until a
    later one supersedes it, then a revision each), the last version is the stored state, and
    the roll-ups are what a rebuild makes."""
    with Session(engine) as session:
        activity = session.get(Activity, activity_id)
        assert activity is not None
        stored = session.execute(
            select(col(ActivityRevision.version)).where(
                col(ActivityRevision.activity_id) == activity_id
            )
        ).scalars()
        assert sorted(stored) == (
            list(range(1, activity.version + 1)) if activity.version > 1 else []
        )
        revisions = activity_versions(session, activity_id)
        assert [r.version for r in revisions] == list(range(1, activity.version + 1))
        assert [r.source for r in revisions] == sources
        assert revisions[-1].data == {**load_wire(session, activity), "deleted": activity.deleted}
        changes = session.execute(
            select(col(Change.version), col(Change.op))
            .where(col(Change.entity_id) == activity_id, col(Change.entity) == "activity")
            .order_by(col(Change.seq))
        ).all()
        assert [v for v, _ in changes] == list(range(1, activity.version + 1))
        assert changes[-1][1] == ("delete" if activity.deleted else "upsert")
        live = snapshot(session)
        rebuild_all(session)
        assert snapshot(session) == live
        session.rollback()


def _flags(engine: Engine, activity_id: uuid.UUID) -> list[dict[str, Any]]:
    with Session(engine) as session:
        activity = session.get(Activity, activity_id)
        assert activity is not None
        return list(activity.flags)


def test_push_review_resolution_and_delete_all_write_through_the_kernel(
    client: TestClient, field: Field, engine: Engine, kernel: list[Written]
) -> None:
    record = field.activity()
    activity_id = uuid.UUID(record["id"])
    # Push, a new activity (the bulk path).
    assert push(client, field, [mutation(1, record)]).json()["results"][0]["status"] == "applied"
    assert kernel == [(activity_id, "upsert", 1)]
    _assert_kept_together(engine, activity_id, ["push"])
    assert {f["code"] for f in _flags(engine, activity_id)} == {"reporting_lag"}

    # Push, an edit: a second activity on the same day makes it a likely duplicate.
    twin = field.activity(title="Another demonstration")
    push(client, field, [mutation(2, twin)])
    edit = {"end_date": "2025-03-15"}
    push(client, field, [mutation(3, edit, id=record["id"], base_version=1)])
    assert kernel[-1] == (activity_id, "upsert", 2)
    _assert_kept_together(engine, activity_id, ["push", "push"])
    flags = _flags(engine, activity_id)
    assert {f["code"] for f in flags} == {"reporting_lag", "likely_duplicate"}
    assert any("2025-03-15" in f["message"] for f in flags if f["code"] == "reporting_lag")

    # Review: a status change alone keeps the flags.
    officer = _officer(engine, field)
    response = client.post(
        f"/api/v1/activities/{activity_id}/review",
        json={"action": "return", "comment": "split the farmers by age band"},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert kernel[-1] == (activity_id, "upsert", 3)
    _assert_kept_together(engine, activity_id, ["push", "push", "review"])
    assert _flags(engine, activity_id) == flags

    # Conflict resolution: the office edits, the tablet edits the same field from v3.
    with Session(engine) as session:
        stored = session.get(Activity, activity_id)
        write_activity(
            session,
            data={"title": "Office", "end_date": "2025-03-18"},
            existing=stored,
            source="api",
            author_id=None,
        )
        session.commit()
    assert kernel[-1] == (activity_id, "upsert", 4)
    push(
        client,
        field,
        [
            mutation(
                4, {"title": "Tablet", "end_date": "2025-03-19"}, id=record["id"], base_version=3
            )
        ],
    )
    with Session(engine) as session:
        conflict = session.execute(select(SyncConflict)).scalar_one()
    response = client.post(
        f"/api/v1/conflicts/{conflict.id}/resolve",
        json={"keep": "custom", "values": {"title": "Both", "end_date": "2025-03-20"}},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert kernel[-1] == (activity_id, "upsert", 5)
    _assert_kept_together(engine, activity_id, ["push", "push", "review", "api", "resolve"])
    # The resolution changed the content: its flags follow the new end date.
    assert any(
        "2025-03-20" in f["message"]
        for f in _flags(engine, activity_id)
        if f["code"] == "reporting_lag"
    )

    # Push, a delete.
    response = push(client, field, [mutation(5, None, op="delete", id=twin["id"], base_version=1)])
    assert response.json()["results"][0]["status"] == "applied"
    assert kernel[-1] == (uuid.UUID(twin["id"]), "delete", 2)
    _assert_kept_together(engine, uuid.UUID(twin["id"]), ["push", "push"])


def _row(engine: Engine, activity_id: str) -> dict[str, Any]:
    ignored = {"id", "created_at", "updated_at", "submitted_at", "created_by_id", "device_id"}
    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(activity_id))
        assert activity is not None
        (revision,) = activity_versions(session, activity.id)
        data = {k: v for k, v in revision.data.items() if k != "id"}
        row = {k: v for k, v in activity.model_dump().items() if k not in ignored}
        return {"row": row, "revision": data, "wire": {**load_wire(session, activity), "id": 0}}


def test_a_new_activity_is_the_same_whoever_writes_it(
    client: TestClient, field: Field, engine: Engine, kernel: list[Written]
) -> None:
    """The same record pushed by the tablet (in bulk, and alone with a roster) and written by
    the management API's writer leaves the same row, revision and flags."""
    pushed = field.activity(start_date="2025-03-01", end_date="2025-03-01")
    push(client, field, [mutation(1, pushed)])
    written = field.activity(start_date="2025-03-02", end_date="2025-03-02")
    with Session(engine) as session:
        write_activity(
            session,
            data={**written, "status": "submitted"},
            existing=None,
            source="push",
            author_id=None,
        )
        session.commit()
    first, second = _row(engine, pushed["id"]), _row(engine, written["id"])
    for found in (first, second):
        found["row"].pop("start_date"), found["row"].pop("end_date")
        for key in ("revision", "wire"):
            found[key].pop("start_date"), found[key].pop("end_date")
        for flag in found["row"]["flags"]:
            flag["message"] = flag["message"].split(" ")[0]
            flag["params"] = sorted(flag["params"])  # the names; the figures follow the dates
    assert first == second
    assert len(kernel) == 2
