"""Bundle keys (docs/protocol.md#enrolment): each enrolment gives a tablet the key that signs its
offline bundles; a tablet enrolled before bundles were signed fetches its key with its token."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.devices import bundle_key
from server.accounts.models import Device
from server.config import Settings
from tests.factories import World, detach, fresh, make_device


def _enrol(client: TestClient, world: World, device_id: uuid.UUID, who: str) -> dict[str, str]:
    body = {"device_id": str(device_id), "label": "Tablet", "app_version": "1.2.0"}
    response = client.post("/api/v1/devices/enrol", json=body, headers=world.auth(who))
    assert response.status_code == 200, response.text
    answer: dict[str, str] = response.json()
    return answer


def _fetch(client: TestClient, token: str) -> tuple[int, dict[str, str]]:
    response = client.post("/api/v1/sync/bundle-key", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


def test_enrolment_hands_out_a_key_the_server_can_verify_and_a_new_one_each_time(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = World(session)
    device_id = uuid.uuid4()
    first = _enrol(client, world, device_id, "expert_lso")
    assert len(first["bundle_key"]) == 64 and first["bundle_key_id"]
    device = fresh(session, Device, device_id)
    assert bundle_key(secret_key=settings.secret_key, device=device) == first["bundle_key"]
    # The database keeps only the nonce: nothing in it (or in a backup) signs a bundle.
    assert first["bundle_key"] not in repr(device.model_dump())

    # Its own token fetches the same key again.
    status, fetched = _fetch(client, first["device_token"])
    assert status == 200 and fetched == {
        "bundle_key": first["bundle_key"],
        "bundle_key_id": first["bundle_key_id"],
    }

    # Enrolling again makes a new key; the old one no longer verifies.
    second = _enrol(client, world, device_id, "expert_lso")
    assert second["bundle_key"] != first["bundle_key"]
    assert second["bundle_key_id"] != first["bundle_key_id"]


def test_a_tablet_enrolled_before_signed_bundles_gets_its_key_once(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = World(session)
    device, token = make_device(session, world.users["expert_lso"])  # no nonce: an old tablet
    assert device.bundle_key_nonce is None
    session.commit()
    detach(session)
    status, first = _fetch(client, token)
    assert status == 200
    status, again = _fetch(client, token)
    assert status == 200 and again == first
    stored = fresh(session, Device, device.id)
    assert bundle_key(secret_key=settings.secret_key, device=stored) == first["bundle_key"]


def test_only_the_tablet_itself_gets_its_key(client: TestClient, session: Session) -> None:
    world = World(session)
    device_id = uuid.uuid4()
    enrolled = _enrol(client, world, device_id, "expert_lso")
    # A person's access token, even the tablet's own person's or an admin's: not a tablet.
    for who in ("expert_lso", "admin"):
        response = client.post("/api/v1/sync/bundle-key", headers=world.auth(who))
        assert response.status_code == 401, who
    assert client.post("/api/v1/sync/bundle-key").status_code == 401
    client.post(f"/api/v1/devices/{device_id}/revoke", headers=world.auth("admin"))
    status, _ = _fetch(client, enrolled["device_token"])
    assert status == 403
