"""A client that sends the whole record from a stale base merges exactly like one that sends only
the fields it changed (docs/protocol.md#push): a field sent back with the value the tablet saw is
not a change by the tablet and never conflicts."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from server.activities.models import Activity
from server.projects.models import Participant, Site
from server.sync.models import SyncConflict
from tests.factories import make_access_token, office_edit
from tests.server.sync.conftest import Field, mutation, pull_all, push


def _conflicts(engine: Engine) -> list[SyncConflict]:
    with Session(engine) as session:
        return list(session.execute(select(SyncConflict)).scalars())


def _officer_headers(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _pulled(client: TestClient, field: Field, entity: str, record_id: str) -> dict[str, Any]:
    """The record as the tablet holds it after a pull: what a whole-record client sends back."""
    changes, _ = pull_all(client, field)
    [found] = [c for c in changes if c["entity"] == entity and c["id"] == record_id]
    return dict(found["data"])


# --- activities ------------------------------------------------------------------------------


def _pushed_activity(client: TestClient, field: Field) -> dict[str, Any]:
    record = field.activity()
    assert push(client, field, [mutation(1, record)]).json()["results"][0]["status"] == "applied"
    return record


def _stored(engine: Engine, activity_id: str) -> Activity:
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(Activity, uuid.UUID(activity_id))
        assert found is not None
        return found


def test_a_whole_activity_from_a_stale_base_keeps_both_edits(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = _pushed_activity(client, field)
    seen = _pulled(client, field, "activity", record["id"])
    office_edit(engine, record["id"], title="Office title")
    whole = {**seen, "notes": "Rain in the morning"}
    result = push(client, field, [mutation(2, whole, id=record["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "merged", result
    assert result["results"][0]["version"] == 3
    stored = _stored(engine, record["id"])
    assert (stored.title, stored.notes) == ("Office title", "Rain in the morning")
    assert _conflicts(engine) == []


def test_a_whole_activity_identical_to_the_base_but_one_field_merges(
    client: TestClient, field: Field, engine: Engine
) -> None:
    # The tablet sends back the record exactly as it first pushed it, but for the experts.
    record = _pushed_activity(client, field)
    office_rows = [
        {
            "sex": "female",
            "age_band": "adult",
            "category": "farmer",
            "disability": False,
            "count": 30,
        }
    ]
    office_edit(engine, record["id"], notes="Checked by the office", attendance=office_rows)
    whole = {**record, "experts_count": 4}
    result = push(client, field, [mutation(2, whole, id=record["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "merged", result
    stored = _stored(engine, record["id"])
    assert (stored.notes, stored.experts_count) == ("Checked by the office", 4)
    detail = client.get(
        f"/api/v1/activities/{record['id']}", headers=_officer_headers(engine, field)
    ).json()
    assert [r["count"] for r in detail["attendance"]] == [30]
    assert _conflicts(engine) == []


def test_a_whole_activity_changing_the_offices_field_conflicts_with_three_values(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = _pushed_activity(client, field)
    seen = _pulled(client, field, "activity", record["id"])
    office_edit(engine, record["id"], title="Office title")
    whole = {**seen, "title": "Tablet title", "notes": "from the field"}
    result = push(client, field, [mutation(2, whole, id=record["id"], base_version=1)]).json()
    assert result["results"][0]["status"] == "conflict", result
    stored = _stored(engine, record["id"])
    assert (stored.title, stored.notes) == ("Office title", "from the field")
    [conflict] = _conflicts(engine)
    assert conflict.fields == ["title"]
    assert conflict.base_values == {"title": record["title"]}
    assert conflict.server_values == {"title": "Office title"}
    assert conflict.device_values == {"title": "Tablet title"}


# --- sites found in the field ----------------------------------------------------------------


def _pushed_site(client: TestClient, field: Field) -> dict[str, Any]:
    site: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "New demo plot",
        "admin_area": "Berea",
        "lat": -29.2,
        "lon": 27.9,
    }
    answer = push(client, field, [mutation(1, site, entity="site")]).json()
    assert answer["results"][0]["status"] == "applied", answer
    return site


def _office_renames(client: TestClient, engine: Engine, field: Field, site_id: str) -> None:
    response = client.patch(
        f"/api/v1/sites/{site_id}",
        json={"name": "Office name"},
        headers=_officer_headers(engine, field),
    )
    assert response.status_code == 200, response.text


def test_a_whole_site_from_a_stale_base_keeps_both_edits(
    client: TestClient, field: Field, engine: Engine
) -> None:
    site = _pushed_site(client, field)
    _office_renames(client, engine, field, site["id"])
    whole = {**site, "lat": -29.25}
    answer = push(
        client, field, [mutation(2, whole, entity="site", id=site["id"], base_version=1)]
    ).json()
    assert answer["results"][0]["status"] == "merged", answer
    with Session(engine) as session:
        stored = session.get(Site, uuid.UUID(site["id"]))
        assert stored is not None
        assert (stored.name, stored.lat, stored.lon) == ("Office name", -29.25, 27.9)
    assert _conflicts(engine) == []


def test_a_whole_site_renamed_on_both_sides_conflicts_with_three_values(
    client: TestClient, field: Field, engine: Engine
) -> None:
    site = _pushed_site(client, field)
    _office_renames(client, engine, field, site["id"])
    whole = {**site, "name": "Tablet name"}
    answer = push(
        client, field, [mutation(2, whole, entity="site", id=site["id"], base_version=1)]
    ).json()
    assert answer["results"][0]["status"] == "conflict", answer
    [conflict] = _conflicts(engine)
    assert conflict.fields == ["name"]
    assert (conflict.base_values, conflict.server_values, conflict.device_values) == (
        {"name": "New demo plot"},
        {"name": "Office name"},
        {"name": "Tablet name"},
    )


# --- participants (roster mode) --------------------------------------------------------------


def _participant_edited_by_teammate(client: TestClient, field: Field) -> dict[str, Any]:
    """The expert's tablet adds a participant; the teammate's tablet corrects the birth year."""
    person: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "code": "QR-0001",
        "sex": "female",
        "birth_year": 1990,
        "category": "farmer",
        "disability": False,
    }
    answer = push(client, field, [mutation(1, person, entity="participant")]).json()
    assert answer["results"][0]["status"] == "applied", answer
    answer = push(
        client,
        field,
        [mutation(1, {"birth_year": 1989}, entity="participant", id=person["id"], base_version=1)],
        device=field.teammate_device,
        token=field.teammate_token,
    ).json()
    assert answer["results"][0]["status"] == "applied", answer
    return person


def test_a_whole_participant_from_a_stale_base_keeps_both_edits(
    client: TestClient, field: Field, engine: Engine
) -> None:
    person = _participant_edited_by_teammate(client, field)
    whole = {**person, "disability": True}
    answer = push(
        client, field, [mutation(2, whole, entity="participant", id=person["id"], base_version=1)]
    ).json()
    assert answer["results"][0]["status"] == "merged", answer
    with Session(engine) as session:
        stored = session.get(Participant, uuid.UUID(person["id"]))
        assert stored is not None
        assert (stored.birth_year, stored.disability, stored.version) == (1989, True, 3)
        assert session.execute(select(func.count()).select_from(SyncConflict)).scalar_one() == 0


def test_a_whole_participant_changed_on_both_sides_conflicts_with_three_values(
    client: TestClient, field: Field, engine: Engine
) -> None:
    person = _participant_edited_by_teammate(client, field)
    whole = {**person, "birth_year": 1991}
    answer = push(
        client, field, [mutation(2, whole, entity="participant", id=person["id"], base_version=1)]
    ).json()
    assert answer["results"][0]["status"] == "conflict", answer
    [conflict] = _conflicts(engine)
    assert conflict.fields == ["birth_year"]
    assert (conflict.base_values, conflict.server_values, conflict.device_values) == (
        {"birth_year": 1990},
        {"birth_year": 1989},
        {"birth_year": 1991},
    )
