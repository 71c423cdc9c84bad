"""The enrolment answer names the person by id as well as by username (docs/protocol.md
#enrolment): pulled records name their author only by id (``created_by_id``), and a field
expert's tablet tells its person's records from a colleague's by it from its first minute."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import World, activity_data


def _enrol(
    client: TestClient, device_id: uuid.UUID, *, code: str | None = None, headers=None
) -> dict:
    body = {"device_id": str(device_id), "label": "Maseru tablet 3", "app_version": "1.2.0"}
    if code is not None:
        body["enrolment_code"] = code
    response = client.post("/api/v1/devices/enrol", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_enrolment_names_the_person_by_the_id_their_pulled_records_carry(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert, colleague = world.users["expert_lso"], world.users["officer_lso"]
    issued = client.post(
        "/api/v1/devices/enrol-codes",
        json={"username": expert.username},
        headers=world.auth("officer_lso"),
    )
    assert issued.status_code == 201, issued.text
    device_id = uuid.uuid4()
    enrolled = _enrol(client, device_id, code=issued.json()["code"])
    assert enrolled["user"]["id"] == str(expert.id) != str(colleague.id)
    assert enrolled["user"]["username"] == expert.username

    token = enrolled["device_token"]
    data = activity_data(world.project_lso)
    pushed = client.post(
        "/api/v1/sync/push",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "protocol": 1,
            "device_id": str(device_id),
            "mutations": [
                {
                    "seq": 1,
                    "entity": "activity",
                    "op": "upsert",
                    "id": data["id"],
                    "base_version": 0,
                    "data": data,
                }
            ],
        },
    )
    assert pushed.status_code == 200, pushed.text
    pulled = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {token}"})
    assert pulled.status_code == 200, pulled.text
    [mine] = [
        c for c in pulled.json()["changes"] if (c["entity"], c["id"]) == ("activity", data["id"])
    ]
    # The record the tablet recorded comes back naming its author by the enrolment's id.
    assert mine["data"]["created_by_id"] == enrolled["user"]["id"]


def test_an_enrolment_with_an_access_token_names_the_person_too(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    enrolled = _enrol(client, uuid.uuid4(), headers=world.auth("expert_ken"))
    assert enrolled["user"]["id"] == str(world.users["expert_ken"].id)
