"""Tablets and passwords (docs/protocol.md#enrolment): a new password revokes the tablets enrolled
with the old one, not those enrolled with the country office's code, and their person enrols
them again with the new password; an HQ analyst (read only) has no tablet."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.devices import issue_enrolment_code
from server.accounts.models import Device, EnrolmentCode, User
from server.columns import utcnow
from server.db import write_engine
from server.migrate import alembic_config, current_revision, head_revision, upgrade
from server.records.models import AuditEntry
from tests.factories import World, make_device, make_user, rows
from tests.server.test_migrations import _downgrade

NEW_PASSWORD = "harvest-lantern-Maseru-2026"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _enrol(client: TestClient, device_id: uuid.UUID, *, code: str | None = None, token=None):
    body: dict[str, Any] = {"device_id": str(device_id), "label": "Tab A8", "app_version": "1.2"}
    if code is not None:
        body["enrolment_code"] = code
    return client.post("/api/v1/devices/enrol", json=body, headers=_bearer(token) if token else {})


def _enrolled(client: TestClient, device_id: uuid.UUID, **how: Any) -> str:
    answer = _enrol(client, device_id, **how)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["device_token"])


def _code(client: TestClient, world: World, username: str, who: str = "officer_lso") -> Any:
    return client.post(
        "/api/v1/devices/enrol-codes", json={"username": username}, headers=world.auth(who)
    )


def _pull(client: TestClient, device_token: str) -> Any:
    return client.get("/api/v1/sync/pull", headers=_bearer(device_token))


def _set_password(client: TestClient, world: World, user: User, who: str = "officer_lso") -> None:
    answer = client.patch(
        f"/api/v1/users/{user.id}", json={"password": NEW_PASSWORD}, headers=world.auth(who)
    )
    assert answer.status_code == 200, answer.text


def _login(client: TestClient, username: str, password: str) -> str:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_a_new_password_revokes_the_tablets_enrolled_with_a_password(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    # One tablet enrolled with the person's access token (what a stolen password can do)...
    by_password = uuid.uuid4()
    stolen = _enrolled(client, by_password, token=world.tokens["expert_lso"])
    # ...and one with a code the country office issued (what it cannot).
    by_code = uuid.uuid4()
    issued = _code(client, world, expert.username)
    assert issued.status_code == 201, issued.text
    in_the_field = _enrolled(client, by_code, code=issued.json()["code"])
    assert _pull(client, stolen).status_code == 200

    _set_password(client, world, expert)

    # The old session stops working, and so does the tablet it enrolled; the answer says why.
    assert client.get("/api/v1/projects", headers=world.auth("expert_lso")).status_code == 401
    refused = _pull(client, stolen)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "device_password_changed"
    assert "new password" in refused.json()["detail"]
    # The code's tablet syncs on: its person may be weeks away from a network.
    assert _pull(client, in_the_field).status_code == 200
    session.expire_all()
    devices = {d.id: d for d in rows(session, select(Device))}
    assert devices[by_password].revoked_at is not None
    assert devices[by_code].revoked_at is None
    # The audit entry of the password change counts the tablets it revoked.
    [entry] = rows(
        session,
        select(AuditEntry).where(
            col(AuditEntry.entity) == "user",
            col(AuditEntry.entity_id) == str(expert.id),
            col(AuditEntry.action) == "update",
        ),
    )
    assert entry.after["password"] == "changed"
    assert entry.after["tablets_revoked"] == 1


def test_the_person_enrols_the_tablet_again_with_the_new_password(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    device_id = uuid.uuid4()
    _enrolled(client, device_id, token=world.tokens["expert_lso"])
    _set_password(client, world, expert)

    # The old token (the thief's) cannot bring it back; the new password can.
    refused = _enrol(client, device_id, token=world.tokens["expert_lso"])
    assert refused.status_code == 401, refused.text
    fresh_session = _login(client, expert.username, NEW_PASSWORD)
    again = _enrolled(client, device_id, token=fresh_session)
    assert _pull(client, again).status_code == 200
    session.expire_all()
    device = session.get(Device, device_id)
    assert device is not None and device.revoked_at is None and device.revoked_reason is None
    assert device.enrolled_with == "password"


def test_a_tablet_an_officer_revoked_still_needs_a_code(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    device_id = uuid.uuid4()
    token = _enrolled(client, device_id, token=world.tokens["expert_lso"])
    answer = client.post(f"/api/v1/devices/{device_id}/revoke", headers=world.auth("officer_lso"))
    assert answer.status_code == 200, answer.text
    assert _pull(client, token).json()["code"] == "device_revoked"
    refused = _enrol(client, device_id, token=world.tokens["expert_lso"])
    assert refused.status_code == 403 and refused.json()["code"] == "device_revoked"


def test_a_disabled_account_s_tablet_is_not_told_to_log_in_again(
    client: TestClient, session: Session
) -> None:
    """After a password change and then a deactivation, logging in again cannot help."""
    world = World(session)
    expert = world.users["expert_lso"]
    token = _enrolled(client, uuid.uuid4(), token=world.tokens["expert_lso"])
    _set_password(client, world, expert)
    answer = client.patch(
        f"/api/v1/users/{expert.id}", json={"is_active": False}, headers=world.auth("officer_lso")
    )
    assert answer.status_code == 200, answer.text
    assert _pull(client, token).json()["code"] == "device_revoked"


def test_after_a_deactivation_the_new_password_no_longer_brings_a_tablet_back(
    client: TestClient, session: Session
) -> None:
    """Reactivating restores no way in: a tablet the new password had signed out needs a code
    once the account was deactivated in between, as every other tablet of the person does."""
    world = World(session)
    expert = world.users["expert_lso"]
    device_id = uuid.uuid4()
    _enrolled(client, device_id, token=world.tokens["expert_lso"])
    _set_password(client, world, expert)
    for active in (False, True):
        answer = client.patch(
            f"/api/v1/users/{expert.id}",
            json={"is_active": active},
            headers=world.auth("officer_lso"),
        )
        assert answer.status_code == 200, answer.text
    refused = _enrol(client, device_id, token=_login(client, expert.username, NEW_PASSWORD))
    assert refused.status_code == 403 and refused.json()["code"] == "device_revoked"


def test_the_migration_says_which_tablets_used_a_code(engine: Engine) -> None:
    """0021_device_enrolled_with: a tablet that used an enrolment code is "code", else
    "password"."""
    with Session(write_engine(engine)) as session:
        user = make_user(session)
        user_id = user.id
        session.commit()
    by_code, by_password = uuid.uuid4(), uuid.uuid4()
    before = ScriptDirectory.from_config(alembic_config()).get_revision("0021_device_enrolled_with")
    try:
        _downgrade(engine, str(before.down_revision))
        device = sa.table(
            "device",
            sa.column("id", sa.Uuid()),
            sa.column("user_id", sa.Uuid()),
            sa.column("token_hash", sa.String()),
            sa.column("enrolled_at", sa.DateTime(timezone=True)),
            sa.column("last_seq", sa.BigInteger()),
            sa.column("label", sa.String()),
            sa.column("app_version", sa.String()),
        )
        now = utcnow()
        with write_engine(engine).begin() as conn:
            conn.execute(
                sa.insert(device),
                [
                    {"id": d, "user_id": user_id, "token_hash": d.hex, "enrolled_at": now}
                    | {"last_seq": 0, "label": "", "app_version": ""}
                    for d in (by_code, by_password)
                ],
            )
            conn.execute(
                sa.insert(EnrolmentCode.__table__),  # type: ignore[attr-defined]
                {
                    "id": uuid.uuid4(),
                    "code_hash": uuid.uuid4().hex,
                    "user_id": user_id,
                    "created_at": now,
                    "expires_at": now,
                    "used_at": now,
                    "used_by_device_id": by_code,
                },
            )
    finally:
        upgrade(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as reader:
        found = {
            d.id: (d.enrolled_with, d.revoked_reason)
            for d in reader.exec(select(Device).where(col(Device.user_id) == user_id))
        }
    assert found == {by_code: ("code", None), by_password: ("password", None)}


# --- HQ analysts have no tablet --------------------------------------------------------------


def test_an_hq_analyst_may_not_enrol_a_tablet(client: TestClient, session: Session) -> None:
    world = World(session)
    refused = _enrol(client, uuid.uuid4(), token=world.tokens["hq"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "no_tablet"
    assert rows(session, select(Device)) == []


def test_no_enrolment_code_for_an_hq_analyst(client: TestClient, session: Session) -> None:
    world = World(session)
    refused = _code(client, world, world.users["hq"].username, who="admin")
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "no_tablet"
    assert rows(session, select(EnrolmentCode)) == []


def test_a_code_issued_to_an_hq_analyst_earlier_does_not_enrol(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    hq = session.get(User, world.users["hq"].id)
    assert hq is not None
    _row, code = issue_enrolment_code(session, user=hq, hours=24, created_by_id=None)
    session.commit()
    refused = _enrol(client, uuid.uuid4(), code=code)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "no_tablet"
    session.expire_all()
    assert rows(session, select(Device)) == []
    [unused] = rows(session, select(EnrolmentCode))
    assert unused.used_at is None


def test_an_hq_analyst_s_tablet_is_refused_on_every_device_route(
    client: TestClient, session: Session
) -> None:
    """A tablet enrolled before HQ was refused tablets reaches nothing: no names, no photos."""
    world = World(session)
    hq = session.get(User, world.users["hq"].id)
    assert hq is not None
    device, token = make_device(session, hq)
    session.commit()
    photo = uuid.uuid4()
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/sync/pull", {}),
        ("POST", "/api/v1/sync/push", {"json": {"protocol": 1, "device_id": str(device.id)}}),
        ("POST", "/api/v1/sync/status", {"json": {}}),
        ("POST", "/api/v1/sync/bundle-key", {}),
        ("GET", f"/api/v1/attachments/{photo}", {}),
        ("HEAD", f"/api/v1/attachments/{photo}", {}),
        (
            "PATCH",
            f"/api/v1/attachments/{photo}",
            {"content": b"\xff\xd8\xff", "headers": {"Upload-Offset": "0"}},
        ),
    ]
    for method, url, more in calls:
        headers = {**_bearer(token), **more.pop("headers", {})}
        answer = client.request(method, url, headers=headers, **more)
        assert answer.status_code == 403, (method, url, answer.text)
        if method != "HEAD":
            assert answer.json()["code"] == "no_tablet", (method, url)


def test_the_demo_s_new_passwords_revoke_tablets_enrolled_with_the_old_ones(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reloading the demo gives everyone a new password: as a password change, it revokes the
    tablets enrolled with the old ones, while the demo's own (enrolled with codes) sync on."""
    import server.demo.load
    from server.demo.load import load_demo

    hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)  # quick, still real
    monkeypatch.setattr(server.demo.load, "hash_password", hasher.hash)
    today = date(2026, 11, 22)
    load_demo(engine, seed=7, size="tiny", today=today)
    with Session(write_engine(engine)) as session:
        live = select(Device).where(col(Device.revoked_at).is_(None))
        demo_tablets = {d.id for d in session.exec(live)}
        expert = session.exec(select(User).where(User.role == "field_expert")).first()
        assert expert is not None and demo_tablets
        by_password, _ = make_device(session, expert, enrolled_with="password")
        by_code, _ = make_device(session, expert, enrolled_with="code")
        session.commit()
        ids = (by_password.id, by_code.id)

    load_demo(engine, seed=7, size="tiny", today=today)

    with Session(engine) as reader:
        found = {d.id: d for d in reader.exec(select(Device))}
    assert found[ids[0]].revoked_at is not None
    assert found[ids[0]].revoked_reason == "password_changed"
    assert found[ids[1]].revoked_at is None
    assert all(found[d].revoked_at is None for d in demo_tablets)
