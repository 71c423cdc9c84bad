"""The review workflow end to end: approve, return with a comment, reopen, locks, history."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.activities.models import Activity, ActivityRevision, Review
from server.activities.review import is_locked
from server.records.models import AuditEntry, Change
from tests.factories import World, detach, fresh, rows


def _review(
    client: TestClient, world: World, who: str, activity: Activity, action: str, comment: str = ""
):
    return client.post(
        f"/api/v1/activities/{activity.id}/review",
        json={"action": action, "comment": comment},
        headers=world.auth(who),
    )


def test_review_flow_end_to_end(client: TestClient, session: Session) -> None:
    world = World(session)
    activity = world.activity_lso

    # Returning needs a comment, and a refused review changes nothing.
    response = _review(client, world, "officer_lso", activity, "return")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "comment"
    stored = fresh(session, Activity, activity.id)
    assert stored.status == "submitted" and stored.version == 1

    response = _review(
        client,
        world,
        "officer_lso",
        activity,
        "return",
        "Attendance: split the 20 farmers by age band",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "returned"
    assert body["version"] == 2
    assert body["reviews"][-1]["action"] == "return"
    assert body["reviews"][-1]["comment"] == "Attendance: split the 20 farmers by age band"
    assert body["reviews"][-1]["author"] == world.users["officer_lso"].username

    # A returned activity cannot be returned again; it can be approved.
    assert _review(client, world, "officer_lso", activity, "return", "again").status_code == 409
    response = _review(client, world, "officer_lso", activity, "approve")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert is_locked(fresh(session, Activity, activity.id))

    # Approving twice is a conflict; reopening goes back to submitted.
    assert _review(client, world, "officer_lso", activity, "approve").status_code == 409
    response = _review(client, world, "admin", activity, "reopen", "late correction")
    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    assert response.json()["version"] == 4
    assert not is_locked(fresh(session, Activity, activity.id))

    # Every status change made a revision, a change for pull, a review and an audit entry.
    revisions = rows(
        session,
        select(ActivityRevision)
        .where(ActivityRevision.activity_id == activity.id)
        .order_by(col(ActivityRevision.version)),
    )
    assert [(r.version, r.source, r.data["status"]) for r in revisions] == [
        (1, "api", "submitted"),
        (2, "review", "returned"),
        (3, "review", "approved"),
        (4, "review", "submitted"),
    ]
    changes = rows(
        session, select(Change).where(Change.entity_id == activity.id).order_by(col(Change.seq))
    )
    assert [c.version for c in changes] == [1, 2, 3, 4]
    reviews = rows(session, select(Review).where(Review.activity_id == activity.id))
    assert sorted(r.action for r in reviews) == ["approve", "reopen", "return"]
    audit = rows(
        session,
        select(AuditEntry)
        .where(AuditEntry.entity == "activity", AuditEntry.entity_id == str(activity.id))
        .order_by(col(AuditEntry.id)),
    )
    assert [(a.action, a.before, a.after["status"], a.country) for a in audit] == [
        ("return", {"status": "submitted"}, "returned", "LSO"),
        ("approve", {"status": "returned"}, "approved", "LSO"),
        ("reopen", {"status": "approved"}, "submitted", "LSO"),
    ]

    # The history shows what changed at each version.
    history = client.get(
        f"/api/v1/activities/{activity.id}/revisions", headers=world.auth("expert_lso")
    ).json()
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    assert history[1]["changes"] == [
        {"field": "status", "before": "submitted", "after": "returned"}
    ]
    assert history[1]["author"] == world.users["officer_lso"].username
    assert history[0]["author"] == world.users["expert_lso"].username
    assert {c["field"] for c in history[0]["changes"]} >= {"title", "attendance", "status"}


def test_only_officers_of_the_country_and_admins_review(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    activity = world.activity_lso
    assert _review(client, world, "expert_lso", activity, "approve").status_code == 403
    assert _review(client, world, "hq", activity, "approve").status_code == 403
    # Another country's officer does not even learn that the activity exists.
    response = _review(client, world, "officer_ken", activity, "approve")
    assert response.status_code == 404
    # A field expert may not review at all: 403 whatever the record, which tells nothing of it.
    assert _review(client, world, "expert_ken", activity, "approve").status_code == 403
    stored = fresh(session, Activity, activity.id)
    assert stored.status == "submitted" and stored.version == 1
    assert rows(session, select(Review)) == []


def test_only_an_approved_activity_can_be_reopened(client: TestClient, session: Session) -> None:
    world = World(session)
    response = _review(client, world, "officer_lso", world.activity_lso, "reopen")
    assert response.status_code == 409
    assert response.json()["code"] == "state_conflict"


def test_bad_review_bodies_name_the_field(client: TestClient, session: Session) -> None:
    world = World(session)
    url = f"/api/v1/activities/{world.activity_lso.id}/review"
    response = client.post(url, json={"action": "delete"}, headers=world.auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "action"
    response = client.post(
        url, json={"action": "return", "comment": "x" * 2001}, headers=world.auth("admin")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "comment"
    response = client.post(
        url, json={"action": "return", "comment": "   "}, headers=world.auth("admin")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "comment"


def test_detail_has_attendance_flags_attachments_and_reviews(
    client: TestClient, session: Session
) -> None:
    from server.activities.models import Attachment

    world = World(session)
    activity = session.get(Activity, world.activity_lso.id)
    assert activity is not None
    activity.flags = [{"code": "likely_duplicate", "field": "", "message": "same day and site"}]
    session.add(activity)
    session.add(
        Attachment(
            id=uuid.uuid4(),
            activity_id=activity.id,
            sha256="a" * 64,
            size=1234,
            content_type="image/jpeg",
            caption="Storage shed",
        )
    )
    session.commit()
    detach(session)
    _review(client, world, "officer_lso", activity, "approve")

    body = client.get(f"/api/v1/activities/{activity.id}", headers=world.auth("hq")).json()
    assert body["project_code"] == world.project_lso.code
    assert body["country"] == "LSO"
    assert sum(r["count"] for r in body["attendance"]) == 20
    assert body["flags"] == [
        {"code": "likely_duplicate", "field": "", "message": "same day and site", "params": {}}
    ]
    assert [a["caption"] for a in body["attachments"]] == ["Storage shed"]
    assert body["attachments"][0]["url"].endswith(str(body["attachments"][0]["id"]))
    assert [r["action"] for r in body["reviews"]] == ["approve"]
    assert body["created_by"] == world.users["expert_lso"].username
