"""One write path for sites: every writer (management API, push, conflict resolution) stores
the new version with its revision and change-log entry, so a later push merges against it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.records.models import Change, RecordRevision
from tests.factories import make_access_token
from tests.server.sync.conftest import Field, mutation, push


def _officer(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _revisions(engine: Engine, site_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    with Session(engine) as session:
        rows = session.execute(
            select(RecordRevision)
            .where(col(RecordRevision.entity_id) == uuid.UUID(site_id))
            .order_by(col(RecordRevision.version))
        ).scalars()
        return [(r.version, r.source, r.data) for r in rows]


def _logged_versions(engine: Engine, site_id: str) -> list[int]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(col(Change.version))
                .where(col(Change.entity_id) == uuid.UUID(site_id), col(Change.entity) == "site")
                .order_by(col(Change.seq))
            ).scalars()
        )


def test_an_office_edit_writes_a_revision_and_a_later_push_merges_against_it(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """The tablet adds a site; the office renames it through the management API; the tablet,
    which has not pulled, moves the site's point: the two changes touch different fields, so
    the push merges instead of conflicting (it can, because the office's version has its
    revision to merge against)."""
    site: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "New demo plot",
        "admin_area": "Berea",
        "lat": -29.2,
        "lon": 27.9,
    }
    assert push(client, field, [mutation(1, site, entity="site")]).status_code == 200
    edited = client.patch(
        f"/api/v1/sites/{site['id']}",
        json={"name": "Office name"},
        headers=_officer(engine, field),
    )
    assert edited.status_code == 200, edited.text
    revisions = _revisions(engine, site["id"])
    assert [(v, s) for v, s, _ in revisions] == [(1, "push"), (2, "api")]
    assert revisions[1][2]["name"] == "Office name" and revisions[1][2]["lat"] == -29.2
    assert _logged_versions(engine, site["id"]) == [1, 2]

    answer = push(
        client,
        field,
        [mutation(2, {"lat": -29.3}, entity="site", id=site["id"], base_version=1)],
    )
    [result] = answer.json()["results"]
    assert result["status"] == "merged", answer.text
    revisions = _revisions(engine, site["id"])
    assert [(v, s) for v, s, _ in revisions] == [(1, "push"), (2, "api"), (3, "push")]
    assert revisions[2][2]["name"] == "Office name" and revisions[2][2]["lat"] == -29.3
    assert _logged_versions(engine, site["id"]) == [1, 2, 3]


def test_a_site_added_through_the_management_api_starts_with_its_revision(
    client: TestClient, field: Field, engine: Engine
) -> None:
    created = client.post(
        "/api/v1/sites",
        json={
            "project_id": str(field.project.id),
            "name": "Office plot",
            "admin_area": "Maseru",
            "lat": -29.3,
            "lon": 27.5,
        },
        headers=_officer(engine, field),
    )
    assert created.status_code == 201, created.text
    site_id = created.json()["id"]
    [(version, source, data)] = _revisions(engine, site_id)
    assert (version, source) == (1, "api") and data["name"] == "Office plot"
    assert _logged_versions(engine, site_id) == [1]


def test_an_activity_may_use_a_site_pushed_earlier_in_the_same_push(
    client: TestClient, field: Field
) -> None:
    """The push checks an activity's site against the project's sites as they stand when it
    comes: a site the same push added before it counts, one added after it does not."""
    site = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "Plot found today",
        "lat": -29.2,
        "lon": 27.9,
    }
    before = field.activity(site_id=str(field.site.id), title="Before the new site")
    at_new = field.activity(site_id=site["id"], title="At the new site")
    answer = push(
        client,
        field,
        [
            mutation(1, field.activity(site_id=site["id"], title="Too early")),
            mutation(2, before),
            mutation(3, site, entity="site"),
            mutation(4, at_new),
        ],
    ).json()
    assert [r["status"] for r in answer["results"]] == [
        "rejected",
        "applied",
        "applied",
        "applied",
    ], answer
    assert answer["results"][0]["errors"][0]["code"] == "site_not_in_project"
