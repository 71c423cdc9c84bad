"""Pushing participants (roster mode), sites found in the field and photo captions."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.activities.models import Attachment
from server.projects.models import Participant, Site
from server.records.models import RecordRevision
from tests.server.sync.conftest import Field, mutation, pull_all, push


def _participant(field: Field, **overrides: Any) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "code": "QR-0001",
        "sex": "female",
        "birth_year": 1990,
        "category": "farmer",
        "disability": False,
    }
    values.update(overrides)
    return values


def _statuses(response: Any) -> list[str]:
    return [r["status"] for r in response.json()["results"]]


def test_participants_are_created_edited_and_deleted(
    client: TestClient, field: Field, engine: Engine
) -> None:
    person = _participant(field)
    assert _statuses(push(client, field, [mutation(1, person, entity="participant")])) == [
        "applied"
    ]
    edit = push(
        client,
        field,
        [mutation(2, {"birth_year": 1991}, entity="participant", id=person["id"], base_version=1)],
    )
    assert _statuses(edit) == ["applied"]
    gone = push(
        client,
        field,
        [mutation(3, None, entity="participant", op="delete", id=person["id"], base_version=2)],
    )
    assert _statuses(gone) == ["applied"]
    with Session(engine) as session:
        stored = session.get(Participant, uuid.UUID(person["id"]))
        assert stored is not None and stored.birth_year == 1991 and stored.deleted
        versions = session.execute(
            select(col(RecordRevision.version))
            .where(col(RecordRevision.entity_id) == stored.id)
            .order_by(col(RecordRevision.version))
        ).scalars()
        assert list(versions) == [1, 2, 3]
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["entity"] == "participant"]
    assert pulled["op"] == "delete"


def test_a_participant_code_is_unique_in_its_project(client: TestClient, field: Field) -> None:
    first, second = _participant(field), _participant(field)
    response = push(
        client,
        field,
        [mutation(1, first, entity="participant"), mutation(2, second, entity="participant")],
    )
    assert _statuses(response) == ["applied", "rejected"]
    assert response.json()["results"][1]["errors"][0]["field"] == "code"


def test_an_activity_can_list_its_roster(client: TestClient, field: Field, engine: Engine) -> None:
    person = _participant(field)
    unknown = str(uuid.uuid4())
    with_roster = field.activity(participant_ids=[person["id"]])
    stray = field.activity(participant_ids=[unknown])
    response = push(
        client,
        field,
        [mutation(1, person, entity="participant"), mutation(2, with_roster), mutation(3, stray)],
    )
    assert _statuses(response) == ["applied", "applied", "rejected"]
    assert response.json()["results"][2]["errors"][0]["field"] == "participant_ids"


def test_two_tablets_editing_one_participant_merge_or_conflict(
    client: TestClient, field: Field, engine: Engine
) -> None:
    person = _participant(field)
    push(client, field, [mutation(1, person, entity="participant")])
    mine = push(
        client,
        field,
        [mutation(1, {"birth_year": 1985}, entity="participant", id=person["id"], base_version=1)],
        device=field.teammate_device,
        token=field.teammate_token,
    )
    assert _statuses(mine) == ["applied"]
    disjoint = push(
        client,
        field,
        [
            mutation(
                2, {"category": "technician"}, entity="participant", id=person["id"], base_version=1
            )
        ],
    )
    assert _statuses(disjoint) == ["merged"]
    clash = push(
        client,
        field,
        [mutation(3, {"birth_year": 1970}, entity="participant", id=person["id"], base_version=1)],
    )
    assert _statuses(clash) == ["conflict"]
    with Session(engine) as session:
        stored = session.get(Participant, uuid.UUID(person["id"]))
        assert stored is not None
        assert (stored.birth_year, stored.category) == (1985, "technician")


def test_a_site_found_in_the_field_arrives_pending(
    client: TestClient, field: Field, engine: Engine
) -> None:
    site: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "New demo plot",
        "admin_area": "Berea",
        "lat": -29.2,
        "lon": 27.9,
    }
    activity = field.activity(site_id=site["id"])
    response = push(client, field, [mutation(1, site, entity="site"), mutation(2, activity)])
    assert _statuses(response) == ["applied", "applied"]
    renamed = push(
        client,
        field,
        [mutation(3, {"name": "Berea demo plot"}, entity="site", id=site["id"], base_version=1)],
    )
    assert _statuses(renamed) == ["applied"]
    with Session(engine) as session:
        stored = session.get(Site, uuid.UUID(site["id"]))
        assert stored is not None and stored.status == "pending"
        assert stored.name == "Berea demo plot" and stored.created_by_id == field.expert.id
    removed = push(
        client,
        field,
        [mutation(4, None, entity="site", op="delete", id=site["id"], base_version=2)],
    )
    assert _statuses(removed) == ["rejected"]


def test_a_site_outside_the_country_is_rejected(client: TestClient, field: Field) -> None:
    site = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "Nairobi",
        "lat": -1.29,
        "lon": 36.82,
    }
    response = push(client, field, [mutation(1, site, entity="site")])
    assert _statuses(response) == ["rejected"]
    assert response.json()["results"][0]["errors"][0]["field"] == "lat"


def test_a_photo_caption_can_change_but_not_its_bytes(
    client: TestClient, field: Field, engine: Engine
) -> None:
    activity = field.activity()
    photo = {
        "id": str(uuid.uuid4()),
        "activity_id": activity["id"],
        "sha256": hashlib.sha256(b"a").hexdigest(),
        "size": 1,
        "content_type": "image/png",
    }
    push(client, field, [mutation(1, activity), mutation(2, photo, entity="attachment")])
    caption = push(
        client,
        field,
        [
            mutation(
                3, {"caption": "Women's group"}, entity="attachment", id=photo["id"], base_version=1
            )
        ],
    )
    assert _statuses(caption) == ["applied"]
    swap = push(
        client,
        field,
        [
            mutation(
                4,
                {"sha256": hashlib.sha256(b"b").hexdigest()},
                entity="attachment",
                id=photo["id"],
                base_version=2,
            )
        ],
    )
    assert _statuses(swap) == ["rejected"]
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo["id"]))
        assert stored is not None and stored.caption == "Women's group"
