"""Site conflicts resolve like activity conflicts: the server's, the tablet's or edited values."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.projects.models import Site
from server.records.models import AuditEntry, Change, RecordRevision
from server.sync.models import SyncConflict
from tests.factories import make_access_token
from tests.server.sync.conftest import Field, mutation, pull_all, push


def _officer(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _site_conflict(client: TestClient, field: Field, engine: Engine) -> tuple[str, str]:
    """The tablet adds a site, the office renames it (management API), the tablet renames it too."""
    site: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "New demo plot",
        "admin_area": "Berea",
        "lat": -29.2,
        "lon": 27.9,
    }
    assert push(client, field, [mutation(1, site, entity="site")]).status_code == 200
    renamed = client.patch(
        f"/api/v1/sites/{site['id']}", json={"name": "Office name"}, headers=_officer(engine, field)
    )
    assert renamed.status_code == 200, renamed.text
    answer = push(
        client,
        field,
        [mutation(2, {"name": "Tablet name"}, entity="site", id=site["id"], base_version=1)],
    )
    assert answer.json()["results"][0]["status"] == "conflict", answer.text
    with Session(engine) as session:
        conflict = session.execute(select(SyncConflict)).scalar_one()
        assert conflict.entity == "site" and conflict.fields == ["name"]
        return site["id"], str(conflict.id)


def _site(engine: Engine, site_id: str) -> Site:
    with Session(engine) as session:
        site = session.get(Site, uuid.UUID(site_id))
        assert site is not None
        session.expunge(site)
        return site


def test_keeping_the_tablets_values_of_a_site_writes_them(
    client: TestClient, field: Field, engine: Engine
) -> None:
    site_id, conflict_id = _site_conflict(client, field, engine)
    _, cursor = pull_all(client, field)
    response = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "device"},
        headers=_officer(engine, field),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    site = _site(engine, site_id)
    assert site.name == "Tablet name" and site.version == 3
    with Session(engine) as session:
        revision = session.execute(
            select(RecordRevision).where(
                col(RecordRevision.entity_id) == site.id, col(RecordRevision.version) == 3
            )
        ).scalar_one()
        assert revision.source == "resolve" and revision.data["name"] == "Tablet name"
        assert revision.author_id == field.officer.id
        logged = session.execute(
            select(func.count())
            .select_from(Change)
            .where(col(Change.entity_id) == site.id, col(Change.version) == 3)
        ).scalar_one()
        assert logged == 1
        audit = session.execute(
            select(AuditEntry).where(col(AuditEntry.action) == "resolve")
        ).scalar_one()
        assert str(audit.entity_id) == conflict_id
        assert audit.after["values"] == {"name": "Tablet name"}
    changes, _ = pull_all(client, field, cursor=cursor)
    [pulled] = [c for c in changes if c["id"] == site_id]
    assert pulled["version"] == 3 and pulled["data"]["name"] == "Tablet name"
    assert [c["data"]["status"] for c in changes if c["entity"] == "conflict"] == ["resolved"]


def test_a_site_conflict_resolves_with_edited_values_checked_like_a_push(
    client: TestClient, field: Field, engine: Engine
) -> None:
    site_id, conflict_id = _site_conflict(client, field, engine)
    headers = _officer(engine, field)
    url = f"/api/v1/conflicts/{conflict_id}/resolve"
    blank = client.post(url, json={"keep": "custom", "values": {"name": ""}}, headers=headers)
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["field"] == "values.name"
    # Every problem at once: the field left out, the field not in conflict, a bad value.
    other = client.post(
        url, json={"keep": "custom", "values": {"status": "approved"}}, headers=headers
    )
    assert other.status_code == 422
    assert {(d["field"], d["code"]) for d in other.json()["detail"]} == {
        ("values.name", "required"),
        ("values.status", "unknown_field"),
    }
    assert _site(engine, site_id).version == 2  # refused: nothing written
    good = client.post(
        url, json={"keep": "custom", "values": {"name": "Berea demo plot"}}, headers=headers
    )
    assert good.status_code == 200, good.text
    site = _site(engine, site_id)
    assert site.name == "Berea demo plot" and site.version == 3 and site.status == "pending"


def test_keeping_the_servers_site_values_writes_nothing(
    client: TestClient, field: Field, engine: Engine
) -> None:
    site_id, conflict_id = _site_conflict(client, field, engine)
    response = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "server"},
        headers=_officer(engine, field),
    )
    assert response.status_code == 200, response.text
    site = _site(engine, site_id)
    assert site.name == "Office name" and site.version == 2
