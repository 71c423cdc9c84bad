"""A new activity's version 1 lives in its own rows; its revision row is written when a later
version supersedes it (docs/architecture.md#revisions). The history API and the merge base
answer exactly what they answered when every version had its revision row from the start."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.activities.models import Activity, ActivityRevision
from server.activities.service import tombstone_activity, write_activity
from server.columns import as_utc
from tests.factories import make_access_token
from tests.server.sync.conftest import Field, mutation, push


def _officer(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _history(client: TestClient, headers: dict[str, str], activity_id: str) -> list[Any]:
    response = client.get(f"/api/v1/activities/{activity_id}/revisions", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def _stored_revisions(engine: Engine, activity_id: str) -> list[ActivityRevision]:
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.execute(
                select(ActivityRevision)
                .where(col(ActivityRevision.activity_id) == uuid.UUID(activity_id))
                .order_by(col(ActivityRevision.version))
            ).scalars()
        )


def _row(engine: Engine, activity_id: str) -> Activity:
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(Activity, uuid.UUID(activity_id))
        assert found is not None
        return found


def _as_pushed(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1's state as its revision row held it when every push wrote one: the pushed
    record, with the status the server set, the capture time in UTC, not deleted."""
    return {
        **record,
        "status": "submitted",
        "captured_at": "2025-03-14T08:00:00+00:00",  # 10:00 at +02:00
        "deleted": False,
    }


def _moment(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))  # type: ignore[return-value]


def test_a_push_keeps_version_1_in_the_row_and_the_first_edit_writes_both_revisions(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    result = push(client, field, [mutation(1, record)]).json()["results"][0]
    assert result["status"] == "applied"
    assert _stored_revisions(engine, record["id"]) == []
    row = _row(engine, record["id"])
    assert (row.created_via, row.created_by_id, row.device_id) == (
        "push",
        field.expert.id,
        field.device.id,
    )

    officer = _officer(engine, field)
    before = _history(client, officer, record["id"])
    [first] = before
    assert first["data"] == _as_pushed(record)
    assert (first["version"], first["source"], first["author"], first["author_id"]) == (
        1,
        "push",
        field.expert.username,
        str(field.expert.id),
    )
    assert first["device_id"] == str(field.device.id)
    assert _moment(first["created_at"]) == as_utc(row.created_at)
    # Every field set on the first version is listed as a change from nothing.
    assert [c["field"] for c in first["changes"]][:3] == ["project_id", "type", "title"]

    edit = {"title": "Storage in the new shed"}
    result = push(client, field, [mutation(2, edit, id=record["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "applied"
    stored = _stored_revisions(engine, record["id"])
    assert [(r.version, r.source) for r in stored] == [(1, "push"), (2, "push")]
    # Version 1's revision is the state before the edit, with its own author, device and time.
    assert stored[0].data == _as_pushed(record)
    assert (stored[0].author_id, stored[0].device_id) == (field.expert.id, field.device.id)
    assert as_utc(stored[0].created_at) == as_utc(row.created_at)
    assert stored[1].data == {**_as_pushed(record), **edit}

    after = _history(client, officer, record["id"])
    assert after[0] == first
    assert after[1]["version"] == 2
    assert after[1]["changes"] == [
        {"field": "title", "before": record["title"], "after": edit["title"]}
    ]


def test_an_office_edit_or_a_review_supersedes_version_1_with_its_state_before_the_change(
    client: TestClient, field: Field, engine: Engine
) -> None:
    edited, reviewed = field.activity(), field.activity(title="Second demonstration")
    push(client, field, [mutation(1, edited), mutation(2, reviewed)])
    officer = _officer(engine, field)
    firsts = {r["id"]: _history(client, officer, r["id"]) for r in (edited, reviewed)}

    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(edited["id"]))
        write_activity(
            session,
            data={"notes": "Checked", "attendance": []},
            existing=activity,
            source="api",
            author_id=field.officer.id,
        )
        session.commit()
    response = client.post(
        f"/api/v1/activities/{reviewed['id']}/review",
        json={"action": "approve"},
        headers=officer,
    )
    assert response.status_code == 200, response.text

    for record, source, status in ((edited, "api", "submitted"), (reviewed, "review", "approved")):
        history = _history(client, officer, record["id"])
        assert history[0] == firsts[record["id"]][0]
        assert history[0]["data"] == _as_pushed(record)
        assert [(h["version"], h["source"]) for h in history] == [(1, "push"), (2, source)]
        assert history[1]["data"]["status"] == status
        assert history[1]["author"] == field.officer.username
    assert _history(client, officer, edited["id"])[1]["data"]["attendance"] == []


def test_a_delete_or_an_api_write_as_first_change_keeps_version_1_as_written(
    field: Field, engine: Engine
) -> None:
    with Session(engine) as session:
        created = write_activity(
            session,
            data={**field.activity(), "status": "submitted"},
            existing=None,
            source="api",
            author_id=field.officer.id,
        )
        session.commit()
        activity_id = str(created.id)
        born = (created.created_by_id, created.device_id, as_utc(created.created_at))
        assert created.created_via == "api"
    assert _stored_revisions(engine, activity_id) == []
    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(activity_id))
        assert activity is not None
        tombstone_activity(session, activity=activity, source="api", author_id=None)
        session.commit()
    stored = _stored_revisions(engine, activity_id)
    assert [(r.version, r.source, r.data["deleted"]) for r in stored] == [
        (1, "api", False),
        (2, "api", True),
    ]
    assert (stored[0].author_id, stored[0].device_id, as_utc(stored[0].created_at)) == born
    assert stored[0].data == {**stored[1].data, "deleted": False}


def test_a_stale_base_merges_against_version_1_kept_in_the_row_or_superseded(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """Base 1 with the record still at version 1 (read from its row), and base 1 after an
    office edit (read from the revision the edit wrote): the outcomes the protocol promises."""
    still, edited = field.activity(), field.activity(title="Edited by the office")
    push(client, field, [mutation(1, still), mutation(2, edited)])
    # At version 1: a whole record from base 1 with one field changed is applied.
    whole = {**still, "notes": "From the tablet"}
    result = push(client, field, [mutation(3, whole, id=still["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "applied", result
    assert _row(engine, still["id"]).notes == "From the tablet"

    # Superseded: the office changed the title; the tablet's whole record from base 1 keeps
    # the old title (not its change) and changes the notes (merged, both kept) …
    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(edited["id"]))
        write_activity(
            session, data={"title": "Office title"}, existing=activity, source="api", author_id=None
        )
        session.commit()
    whole = {**edited, "notes": "From the tablet"}
    result = push(client, field, [mutation(4, whole, id=edited["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "merged", result
    row = _row(engine, edited["id"])
    assert (row.title, row.notes, row.version) == ("Office title", "From the tablet", 3)
    # … and the same field changed on both sides conflicts, with version 1's title as base.
    whole = {**edited, "title": "Tablet title"}
    result = push(client, field, [mutation(5, whole, id=edited["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "conflict", result


def test_a_re_sent_create_from_base_0_is_the_tablets_own_version(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """A create sent again (its answer lost, a new seq) finds the record at version 1 written
    by the same device: its own version, no conflict, as when version 1 had a revision row."""
    record = field.activity()
    push(client, field, [mutation(1, record)])
    again = {**record, "notes": "Sent again with a note"}
    result = push(client, field, [mutation(2, again, base_version=0)]).json()
    assert result["results"][0]["status"] == "applied", result
    assert _row(engine, record["id"]).notes == "Sent again with a note"
    with Session(engine) as session:
        conflicts = session.execute(select(func.count()).select_from(ActivityRevision)).scalar()
    assert conflicts == 2  # version 1 (superseded) and version 2
