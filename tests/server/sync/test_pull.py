"""Pull (docs/protocol.md#pull): a cursor that pages through the tablet's scope, never by clocks."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import User, UserProject
from server.activities.review import review_activity
from server.projects.models import Target
from server.projects.service import delete_target
from server.records.changes import record_target_change
from tests.factories import make_access_token, make_site
from tests.server.sync.conftest import Field, mutation, pull_all, push


def _push_activities(
    client: TestClient, field: Field, count: int, *, first_seq: int = 1, **overrides: object
) -> list[str]:
    records = [field.activity(title=f"Training {i}", **overrides) for i in range(count)]
    response = push(client, field, [mutation(first_seq + i, r) for i, r in enumerate(records)])
    assert response.status_code == 200, response.text
    return [r["id"] for r in records]


def _target(engine: Engine, field: Field) -> uuid.UUID:
    """A participants target of the field's project for 2025, with its change-log entry."""
    with Session(engine) as session:
        target = Target(
            project_id=field.project.id, indicator="PARTICIPANTS", period="2025", value=400
        )
        session.add(target)
        session.flush()
        record_target_change(session, target=target)
        session.commit()
        return target.id


def test_a_first_pull_brings_the_catalogue_then_the_scope(
    client: TestClient, field: Field, engine: Engine
) -> None:
    target_id = str(_target(engine, field))
    mine = _push_activities(client, field, 2)
    teammates = [field.activity(title="Teammate's day")]
    push(
        client,
        field,
        [mutation(1, teammates[0])],
        device=field.teammate_device,
        token=field.teammate_token,
    )
    foreign = field.activity(project_id=str(field.other_project.id))
    with Session(engine) as session:
        from server.activities.service import write_activity

        write_activity(session, data=foreign, existing=None, source="api", author_id=None)
        session.commit()

    changes, cursor = pull_all(client, field)
    assert changes[0]["entity"] == "catalogue"
    assert {t["code"] for t in changes[0]["data"]["thematic_areas"]} == {"TA1", "TA2", "TA3", "TA4"}
    by_entity: dict[str, set[str]] = {}
    for change in changes:
        by_entity.setdefault(change["entity"], set()).add(change["id"])
    assert by_entity["project"] == {str(field.project.id)}
    assert str(field.site.id) in by_entity["site"]
    assert by_entity["target"] == {target_id}
    assert by_entity["activity"] == {*mine, teammates[0]["id"]}
    assert foreign["id"] not in by_entity["activity"]

    again, same_cursor = pull_all(client, field, cursor=cursor)
    assert again == [] and same_cursor == cursor


def test_a_first_page_sends_each_record_once_and_names_the_tablets_projects(
    client: TestClient, field: Field, engine: Engine
) -> None:
    # The frame of a first pull (projects, sites, targets, forms) and the change log both name
    # a record logged when it was made: the page carries it once (docs/protocol.md#pull).
    _target(engine, field)
    _push_activities(client, field, 2)
    first = client.get("/api/v1/sync/pull", params={"limit": 1000}, headers=field.headers())
    assert first.status_code == 200, first.text
    body = first.json()
    keys = [(c["entity"], c["id"]) for c in body["changes"]]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert {"project", "site", "target", "activity"} <= {entity for entity, _ in keys}
    assert body["projects"] == [str(field.project.id)]
    # A page that carries on names none.
    again = client.get(
        "/api/v1/sync/pull", params={"cursor": body["cursor"]}, headers=field.headers()
    )
    assert again.status_code == 200 and again.json()["projects"] is None


def test_a_scope_with_nothing_logged_gets_its_frame_once(
    client: TestClient, field: Field, engine: Engine
) -> None:
    # The project and its site were loaded without change-log entries (as a bulk load does),
    # while another project's records were logged: the first pull brings the frame, and the
    # cursor moves on, so the next pull does not start again.
    foreign = field.activity(project_id=str(field.other_project.id))
    with Session(engine) as session:
        from server.activities.service import write_activity

        write_activity(session, data=foreign, existing=None, source="api", author_id=None)
        session.commit()
    first = client.get("/api/v1/sync/pull", headers=field.headers())
    assert first.status_code == 200, first.text
    assert {"project", "site"} <= {c["entity"] for c in first.json()["changes"]}
    again = client.get(
        "/api/v1/sync/pull", params={"cursor": first.json()["cursor"]}, headers=field.headers()
    )
    assert again.status_code == 200, again.text
    assert again.json()["changes"] == [] and again.json()["projects"] is None


def test_pages_follow_the_cursor_without_gaps_or_repeats(client: TestClient, field: Field) -> None:
    ids = _push_activities(client, field, 7)
    _, cursor = pull_all(client, field, limit=1000)
    more = _push_activities(client, field, 5, first_seq=8)
    seen: list[str] = []
    receipts: list[str] = []
    pages = 0
    while True:
        response = client.get(
            "/api/v1/sync/pull", params={"cursor": cursor, "limit": 2}, headers=field.headers()
        )
        body = response.json()
        seen += [c["id"] for c in body["changes"] if c["entity"] == "activity"]
        receipts += [c["id"] for c in body["changes"] if c["entity"] == "receipt"]
        cursor = body["cursor"]
        pages += 1
        if not body["has_more"]:
            break
    assert sorted(seen) == sorted(more)
    # Each pushed activity brings its custody receipt with it, on the same page: 5 changes
    # logged, 2 a page.
    assert sorted(receipts) == sorted(more)
    assert pages == 3
    assert len(set(ids) & set(seen)) == 0


def test_a_record_changed_twice_is_sent_once_with_its_latest_state(
    client: TestClient, field: Field
) -> None:
    [record_id] = _push_activities(client, field, 1)
    push(client, field, [mutation(2, {"title": "Renamed"}, id=record_id)])
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["entity"] == "activity"]
    assert pulled["version"] == 2 and pulled["data"]["title"] == "Renamed"


def test_a_removed_target_reaches_the_tablet_as_a_tombstone(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """A target's row is deleted (its key is free again); its change-log entry tells tablets."""
    target_id = _target(engine, field)
    _, cursor = pull_all(client, field)
    with Session(engine) as session:
        officer = session.get(User, field.officer.id)
        assert officer is not None
        delete_target(session, caller=Caller(user=officer), target_id=target_id)
        session.commit()
    changes, _ = pull_all(client, field, cursor=cursor)
    assert changes == [
        {
            "entity": "target",
            "id": str(target_id),
            "op": "delete",
            "version": 2,
            "data": {"id": str(target_id), "project_id": str(field.project.id)},
        }
    ]


def test_review_status_and_comments_reach_the_tablet(
    client: TestClient, field: Field, engine: Engine
) -> None:
    [record_id] = _push_activities(client, field, 1)
    _, cursor = pull_all(client, field)
    with Session(engine) as session:
        officer = session.get(User, field.officer.id)
        assert officer is not None
        review_activity(
            session,
            caller=Caller(user=officer),
            activity_id=uuid.UUID(record_id),
            action="return",
            comment="Add the women's attendance",
        )
        session.commit()
    changes, _ = pull_all(client, field, cursor=cursor)
    [pulled] = changes
    assert pulled["data"]["status"] == "returned"
    assert pulled["data"]["reviews"][0]["comment"] == "Add the women's attendance"


def test_joining_a_project_brings_its_records_on_the_next_pull(
    client: TestClient, field: Field, engine: Engine
) -> None:
    _, cursor = pull_all(client, field)
    with Session(engine) as session:
        site = make_site(session, field.other_project, name="Kitui store", lat=-1.37, lon=38.01)
        session.add(UserProject(user_id=field.expert.id, project_id=field.other_project.id))
        site_id = str(site.id)
        session.commit()
    changes, _ = pull_all(client, field, cursor=cursor)
    ids = {c["id"] for c in changes}
    assert str(field.other_project.id) in ids and site_id in ids


def test_a_bad_cursor_gets_400_naming_it(client: TestClient, field: Field) -> None:
    response = client.get(
        "/api/v1/sync/pull", params={"cursor": "not-ours"}, headers=field.headers()
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "cursor"


def test_the_page_size_is_bounded(client: TestClient, field: Field) -> None:
    response = client.get("/api/v1/sync/pull", params={"limit": 100_000}, headers=field.headers())
    assert response.status_code == 400  # a bad query parameter, as everywhere
    assert response.json()["detail"][0]["field"] == "limit"
    assert "server_time" in response.json()  # the sync routes' error shape


def test_pull_needs_a_device_token(client: TestClient, field: Field, engine: Engine) -> None:
    with Session(engine) as session:
        token = make_access_token(session, field.expert)
        session.commit()
    response = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert client.get("/api/v1/sync/pull").status_code == 401


def test_conflicts_go_only_to_the_tablet_that_raised_them(
    client: TestClient, field: Field, engine: Engine
) -> None:
    from tests.server.sync.test_push import _conflicted

    _conflicted(client, field, engine)
    mine, _ = pull_all(client, field)
    theirs, _ = pull_all(client, field, token=field.teammate_token)
    assert [c["entity"] for c in mine].count("conflict") == 1
    assert [c["entity"] for c in theirs].count("conflict") == 0
