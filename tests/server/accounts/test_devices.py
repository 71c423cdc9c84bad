"""Tablets: one-time enrolment codes (API and CLI), enrolment, the device list, revocation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.accounts.devices import normalise_code
from server.accounts.models import Device, EnrolmentCode
from server.columns import utcnow
from server.records.models import AuditEntry
from tests.factories import World, activity_data, detach, fresh, rows


def _code(client: TestClient, world: World, username: str, who: str = "officer_lso"):
    return client.post(
        "/api/v1/devices/enrol-codes", json={"username": username}, headers=world.auth(who)
    )


def _enrol(client: TestClient, code: str | None, device_id: uuid.UUID, headers=None):
    body = {"device_id": str(device_id), "label": "Maseru tablet 3", "app_version": "1.2.0"}
    if code is not None:
        body["enrolment_code"] = code
    return client.post("/api/v1/devices/enrol", json=body, headers=headers or {})


def _push(client: TestClient, token: str, device_id: uuid.UUID, project, seq: int = 1):
    data = activity_data(project)
    return client.post(
        "/api/v1/sync/push",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "protocol": 1,
            "device_id": str(device_id),
            "mutations": [
                {
                    "seq": seq,
                    "entity": "activity",
                    "op": "upsert",
                    "id": data["id"],
                    "base_version": 0,
                    "data": data,
                }
            ],
        },
    )


def test_enrol_with_a_code_then_push_then_revoke(client: TestClient, session: Session) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    response = _code(client, world, expert.username)
    assert response.status_code == 201, response.text
    issued = response.json()
    code = issued["code"]
    assert len(normalise_code(code)) == 10 and code[5] == "-"
    assert issued["qr_svg"].startswith("<svg") and code in issued["qr_payload"]
    assert issued["username"] == expert.username
    [stored] = rows(session, select(EnrolmentCode))
    assert stored.code_hash != code and normalise_code(code) not in stored.code_hash

    device_id = uuid.uuid4()
    response = _enrol(client, code.lower().replace("-", " "), device_id)  # typed loosely
    assert response.status_code == 200, response.text
    enrolled = response.json()
    assert enrolled["device_id"] == str(device_id)
    assert enrolled["user"]["username"] == expert.username
    assert enrolled["user"]["role"] == "field_expert"
    assert enrolled["user"]["countries"] == ["LSO"]
    assert [p["id"] for p in enrolled["user"]["projects"]] == [str(world.project_lso.id)]
    # The keys that sign custody receipts, for the tablet to pin (docs/protocol.md).
    published = client.get("/api/v1/sync/info").json()["receipt_keys"]
    assert enrolled["receipt_keys"] == published and len(published) == 1
    token = enrolled["device_token"]
    device = fresh(session, Device, device_id)
    assert device.token_hash != token and device.label == "Maseru tablet 3"

    # The device token works on the device routes ...
    pushed = _push(client, token, device_id, world.project_lso)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] == "applied"
    # ... but not on the people's routes, and the code works only once.
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    again = _enrol(client, code, uuid.uuid4())
    assert again.status_code == 422
    assert again.json()["detail"][0]["field"] == "enrolment_code"
    assert again.json()["detail"][0]["code"] == "enrolment_code_used"

    # The officer sees the tablet with its app version and last acknowledged seq.
    listed = client.get("/api/v1/devices", headers=world.auth("officer_lso")).json()
    assert listed["total"] == 1
    row = listed["items"][0]
    assert (row["id"], row["username"], row["app_version"], row["revoked"]) == (
        str(device_id),
        expert.username,
        "1.2.0",
        False,
    )
    assert row["last_seq"] == 1

    revoked = client.post(f"/api/v1/devices/{device_id}/revoke", headers=world.auth("officer_lso"))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    refused = _push(client, token, device_id, world.project_lso, seq=2)
    assert refused.status_code == 403
    assert refused.json()["code"] == "device_revoked"

    actions = rows(
        session,
        select(AuditEntry.action).where(col(AuditEntry.entity).in_(["device", "enrolment_code"])),
    )
    assert sorted(actions) == ["enrol", "issue", "revoke"]


def test_an_expired_or_unknown_code_is_refused(client: TestClient, session: Session) -> None:
    world = World(session)
    code = _code(client, world, world.users["expert_lso"].username).json()["code"]
    row = session.exec(select(EnrolmentCode)).one()
    row.expires_at = utcnow() - timedelta(minutes=1)
    session.add(row)
    session.commit()
    detach(session)

    response = _enrol(client, code, uuid.uuid4())
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "enrolment_code",
            "code": "enrolment_code_expired",
            "message": "this code has expired: ask for a new one",
        }
    ]
    response = _enrol(client, "ZZZZZ-ZZZZZ", uuid.uuid4())
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "enrolment_code"
    assert response.json()["code"] == "enrolment_code_unknown"
    assert rows(session, select(Device)) == []


def test_enrol_with_a_user_token_and_reenrol(client: TestClient, session: Session) -> None:
    world = World(session)
    device_id = uuid.uuid4()
    first = _enrol(client, None, device_id, headers=world.auth("expert_ken"))
    assert first.status_code == 200, first.text
    assert first.json()["user"]["username"] == world.users["expert_ken"].username

    # Enrolling the same tablet again gives a new token; the old one stops working.
    second = _enrol(client, None, device_id, headers=world.auth("expert_ken"))
    assert second.status_code == 200
    assert (
        _push(client, first.json()["device_token"], device_id, world.project_ken).status_code == 401
    )
    assert (
        _push(client, second.json()["device_token"], device_id, world.project_ken).status_code
        == 200
    )

    # Someone else cannot take the tablet over.
    taken = _enrol(client, None, device_id, headers=world.auth("expert_lso"))
    assert taken.status_code == 409
    assert taken.json()["code"] == "device_taken"

    # A revoked tablet comes back only with a fresh code, and keeps its push sequence.
    client.post(f"/api/v1/devices/{device_id}/revoke", headers=world.auth("admin"))
    refused = _enrol(client, None, device_id, headers=world.auth("expert_ken"))
    assert refused.status_code == 403
    code = _code(client, world, world.users["expert_ken"].username, "officer_ken").json()["code"]
    restored = _enrol(client, code, device_id)
    assert restored.status_code == 200
    assert fresh(session, Device, device_id).revoked_at is None
    assert (
        _push(
            client, restored.json()["device_token"], device_id, world.project_ken, seq=2
        ).status_code
        == 200
    )


def test_enrol_without_code_or_token_names_the_code(client: TestClient) -> None:
    response = _enrol(client, None, uuid.uuid4())
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "enrolment_code"


def test_codes_are_issued_only_for_people_in_scope(client: TestClient, session: Session) -> None:
    world = World(session)
    kenyan = world.users["expert_ken"].username
    response = _code(client, world, kenyan, who="officer_lso")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "username"
    assert _code(client, world, kenyan, who="hq").status_code == 403
    assert _code(client, world, kenyan, who="expert_ken").status_code == 403
    assert _code(client, world, kenyan, who="admin").status_code == 201


def test_device_list_and_revoke_are_scoped(client: TestClient, session: Session) -> None:
    from tests.factories import make_device

    world = World(session)
    lso, _ = make_device(session, world.users["expert_lso"])
    ken, _ = make_device(session, world.users["expert_ken"])
    session.commit()
    detach(session)
    lso_id, ken_id = lso.id, ken.id

    def ids(who: str) -> set[str]:
        body = client.get("/api/v1/devices", headers=world.auth(who)).json()
        return {d["id"] for d in body["items"]}

    assert ids("admin") == ids("hq") == {str(lso_id), str(ken_id)}
    assert ids("officer_lso") == ids("expert_lso") == {str(lso_id)}
    assert ids("officer_ken") == {str(ken_id)}
    assert (
        client.post(
            f"/api/v1/devices/{ken_id}/revoke", headers=world.auth("officer_lso")
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/devices/{lso_id}/revoke", headers=world.auth("expert_lso")
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/devices/{lso_id}/revoke", headers=world.auth("hq")).status_code == 403
    )
    assert fresh(session, Device, ken_id).revoked_at is None


@pytest.fixture
def cli_env(settings, monkeypatch: pytest.MonkeyPatch):
    from server.config import get_settings
    from server.db import dispose_engines

    monkeypatch.setenv("PILOTMON_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PILOTMON_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    dispose_engines()


def test_cli_enrol_code_and_revoke(cli_env, client: TestClient, session: Session) -> None:
    from server.cli import cli

    world = World(session)
    runner = CliRunner()
    result = runner.invoke(cli, ["devices", "enrol-code", world.users["expert_lso"].username])
    assert result.exit_code == 0, result.output
    code = result.output.split(": ")[1].split()[0]
    assert "expires at" in result.output

    device_id = uuid.uuid4()
    token = _enrol(client, code, device_id).json()["device_token"]
    result = runner.invoke(cli, ["devices", "revoke", str(device_id)])
    assert result.exit_code == 0, result.output
    assert f"revoked device {device_id}" in result.output
    assert _push(client, token, device_id, world.project_lso).status_code == 403

    unknown = runner.invoke(cli, ["devices", "enrol-code", "nobody"])
    assert unknown.exit_code != 0 and "no user 'nobody'" in unknown.output
    bad = runner.invoke(cli, ["devices", "revoke", "not-a-uuid"])
    assert bad.exit_code != 0


# --- people reaching beyond the issuer's countries (security finding 1) -----------------------


def _people_beyond_lesotho(session: Session, world: World) -> dict[str, Any]:
    """People a Lesotho officer sees but must not manage: each reaches Kenya too."""
    from tests.factories import make_user

    people = {
        # A colleague covering Lesotho and Kenya.
        "two_country_officer": make_user(session, role="country_officer", countries=["LSO", "KEN"]),
        # A field expert on one Lesotho and one Kenyan project.
        "two_country_expert": make_user(
            session, role="field_expert", projects=[world.project_lso, world.project_ken]
        ),
        # Listed for Lesotho only, but one of the projects is Kenyan (it moved there later).
        "moved_project_expert": make_user(
            session,
            role="field_expert",
            countries=["LSO"],
            projects=[world.project_lso, world.project_ken],
        ),
    }
    session.commit()
    detach(session)
    return people


def test_an_officer_cannot_issue_a_code_for_someone_reaching_another_country(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    people = _people_beyond_lesotho(session, world)
    for name, person in people.items():
        response = _code(client, world, person.username, who="officer_lso")
        assert response.status_code == 403, f"{name}: {response.text}"
        body = response.json()
        assert body["code"] == "person_out_of_scope"
        assert "KEN" in body["detail"] and person.username in body["detail"]
    assert rows(session, select(EnrolmentCode)) == []
    # An admin may, and the tablet then has exactly its person's scope: both countries.
    response = _code(client, world, people["two_country_expert"].username, who="admin")
    assert response.status_code == 201, response.text
    enrolled = _enrol(client, response.json()["code"], uuid.uuid4())
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["user"]["countries"] == ["KEN", "LSO"]
    assert {p["id"] for p in enrolled.json()["user"]["projects"]} == {
        str(world.project_lso.id),
        str(world.project_ken.id),
    }


def test_an_officer_of_every_country_of_the_person_may_issue_the_code(
    client: TestClient, session: Session
) -> None:
    from tests.factories import make_access_token, make_user

    world = World(session)
    people = _people_beyond_lesotho(session, world)
    both = make_user(session, role="country_officer", countries=["KEN", "LSO"])
    token = make_access_token(session, both)
    session.commit()
    detach(session)
    for person in people.values():
        response = client.post(
            "/api/v1/devices/enrol-codes",
            json={"username": person.username},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text


def test_an_officer_cannot_revoke_or_edit_someone_reaching_another_country(
    client: TestClient, session: Session
) -> None:
    from tests.factories import make_device

    world = World(session)
    people = _people_beyond_lesotho(session, world)
    devices = {name: make_device(session, person)[0].id for name, person in people.items()}
    session.commit()
    detach(session)
    for name, device_id in devices.items():
        response = client.post(
            f"/api/v1/devices/{device_id}/revoke", headers=world.auth("officer_lso")
        )
        assert response.status_code == 403, f"{name}: {response.text}"
        assert response.json()["code"] == "person_out_of_scope"
        assert fresh(session, Device, device_id).revoked_at is None
        # Changing the person's password would hand over the same reach: the same rule.
        edited = client.patch(
            f"/api/v1/users/{people[name].id}",
            json={"password": "another long password"},
            headers=world.auth("officer_lso"),
        )
        assert edited.status_code == 403, f"{name}: {edited.text}"
    assert (
        client.post(
            f"/api/v1/devices/{devices['two_country_expert']}/revoke", headers=world.auth("admin")
        ).status_code
        == 200
    )
