"""Participant conflicts resolve like the others: a new version with its revision and change."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.projects.models import Participant
from server.records.changes import record_participant_change
from server.records.models import Change, RecordRevision
from server.sync.models import SyncConflict
from server.sync.wire import participant_wire
from tests.factories import make_access_token
from tests.server.sync.conftest import Field, mutation, push


def test_keeping_the_tablets_value_of_a_participant_writes_a_new_version(
    client: TestClient, field: Field, engine: Engine
) -> None:
    person: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "code": "QR-0001",
        "sex": "female",
        "birth_year": 1990,
        "category": "farmer",
        "disability": False,
    }
    assert push(client, field, [mutation(1, person, entity="participant")]).status_code == 200
    with Session(engine) as session:  # the office corrects the year
        stored = session.get(Participant, uuid.UUID(person["id"]))
        assert stored is not None
        stored.birth_year = 1989
        stored.version += 1
        session.add(stored)
        session.flush()
        session.add(
            RecordRevision(
                entity="participant",
                entity_id=stored.id,
                version=stored.version,
                data=participant_wire(stored),
                source="api",
            )
        )
        record_participant_change(session, participant=stored)
        token = make_access_token(session, field.officer)
        session.commit()
    answer = push(
        client,
        field,
        [mutation(2, {"birth_year": 1991}, entity="participant", id=person["id"], base_version=1)],
    )
    assert answer.json()["results"][0]["status"] == "conflict", answer.text
    with Session(engine) as session:
        conflict_id = str(session.execute(select(col(SyncConflict.id))).scalar_one())

    response = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"keep": "device"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    with Session(engine) as session:
        stored = session.get(Participant, uuid.UUID(person["id"]))
        assert stored is not None and stored.birth_year == 1991 and stored.version == 3
        revision = session.execute(
            select(RecordRevision).where(
                col(RecordRevision.entity_id) == stored.id, col(RecordRevision.version) == 3
            )
        ).scalar_one()
        assert revision.source == "resolve" and revision.data["birth_year"] == 1991
        assert revision.author_id == field.officer.id
        assert (
            session.execute(
                select(func.count())
                .select_from(Change)
                .where(col(Change.entity_id) == stored.id, col(Change.version) == 3)
            ).scalar_one()
            == 1
        )
