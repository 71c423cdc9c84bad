"""Accounts under attack (security finding 6): a stranger cannot lock the owner out, trivial
passwords are refused, a deactivated person's tokens and tablets end for good, the session
cookie is Secure in production, and a push does not tell whether an id exists elsewhere."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from server.accounts.models import AccessToken, Device, LoginFailure
from server.accounts.service import (
    ACCOUNT_DELAY,
    ACCOUNT_MAX_FAILURES,
    MAX_LOGIN_FAILURES,
    TooManyAttempts,
    authenticate,
)
from server.app import create_app
from server.columns import utcnow
from server.config import Settings
from server.db import write_engine
from tests.factories import (
    PASSWORD,
    World,
    activity_data,
    detach,
    fresh,
    make_access_token,
    make_device,
    make_user,
)


def _client_from(client: TestClient, address: str) -> TestClient:
    """The same app, reached from another client address."""
    return TestClient(client.app, client=(address, 50000))


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


# --- lock-out per account and source ---------------------------------------------------------


def test_a_stranger_cannot_lock_the_owner_out(client: TestClient, session: Session) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    stranger = _client_from(client, "203.0.113.9")
    owner = _client_from(client, "198.51.100.7")
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert _login(stranger, "root", "guess-guess").status_code == 401
    locked = _login(stranger, "root", "guess-guess")
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    # The stranger stays locked out, even with the right password...
    assert _login(stranger, "root").status_code == 429
    # ...but the owner, elsewhere, logs in at once.
    assert _login(owner, "root").status_code == 200


def test_many_sources_slow_an_account_down_only_briefly(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guesses from very many addresses (a botnet) make the account wait a short delay
    between attempts, never a long lock-out."""
    import server.accounts.service as accounts

    # Counting is under test here, not argon2: a hundred real hashes would take a minute.
    monkeypatch.setattr(accounts, "verify_password", lambda password, _hash: password == PASSWORD)
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    for n in range(ACCOUNT_MAX_FAILURES):
        with pytest.raises(Exception) as failed:
            authenticate(
                session, username="root", password="guess", source=f"10.0.{n // 250}.{n % 250}"
            )
        session.commit()
        assert failed.type.__name__ in ("LoginFailed", "TooManyAttempts")
    with pytest.raises(TooManyAttempts) as delayed:
        authenticate(session, username="root", password=PASSWORD, source="198.51.100.7")
    session.rollback()
    assert 0 < delayed.value.retry_after <= ACCOUNT_DELAY.total_seconds()
    assert "try again" in delayed.value.message
    # After the short delay the owner gets in.
    later = utcnow() + ACCOUNT_DELAY + timedelta(seconds=1)
    user = authenticate(
        session, username="root", password=PASSWORD, source="198.51.100.7", now=later
    )
    assert user.username == "root"


def test_a_lock_ends_and_a_success_clears_the_counts(client: TestClient, session: Session) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    for _ in range(MAX_LOGIN_FAILURES):
        _login(client, "root", "guess-guess")
    assert _login(client, "root").status_code == 429
    session.execute(update(LoginFailure).values(locked_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert _login(client, "root").status_code == 200
    session.expire_all()
    assert session.get(LoginFailure, "root") is None


# --- passwords ---------------------------------------------------------------------------------

WEAK = ("aaaaaaaaaa", " " * 10, "password123", "qwertyuiop", "1234567890", "expert.maseru")


@pytest.mark.parametrize("password", WEAK, ids=repr)
def test_common_and_trivial_passwords_are_refused(
    client: TestClient, session: Session, password: str
) -> None:
    world = World(session)
    response = client.post(
        "/api/v1/users",
        json={
            "username": "expert.maseru",
            "password": password,
            "role": "field_expert",
            "projects": [world.project_lso.code],
        },
        headers=world.auth("admin"),
    )
    assert response.status_code == 422, response.text
    [error] = [e for e in response.json()["detail"] if e["field"] == "password"]
    assert "guess" in error["message"]
    # Changing a password follows the same rule (here: the person's own username).
    changed = client.patch(
        f"/api/v1/users/{world.users['expert_lso'].id}",
        json={"password": password if password != "expert.maseru" else "expertlso1"},
        headers=world.auth("admin"),
    )
    assert changed.status_code == 422


def test_a_password_made_of_the_username_is_refused(client: TestClient, session: Session) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    response = client.patch(
        f"/api/v1/users/{expert.id}",
        json={"password": expert.username + "1"},
        headers=world.auth("admin"),
    )
    assert response.status_code == 422, response.text
    good = client.patch(
        f"/api/v1/users/{expert.id}",
        json={"password": "maize silo under the mango tree"},
        headers=world.auth("admin"),
    )
    assert good.status_code == 200, good.text


# --- deactivation ends every token and tablet ----------------------------------------------


def test_deactivating_a_person_revokes_their_tokens_and_tablets_for_good(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    token = make_access_token(session, expert)
    device, device_token = make_device(session, expert)
    session.commit()
    detach(session)
    device_id = device.id

    def off(active: bool) -> None:
        response = client.patch(
            f"/api/v1/users/{expert.id}", json={"is_active": active}, headers=world.auth("admin")
        )
        assert response.status_code == 200, response.text

    off(False)
    assert fresh(session, Device, device_id).revoked_at is not None
    off(True)
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    pull = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {device_token}"})
    assert pull.status_code == 403 and "revoked" in pull.json()["detail"]
    tokens = session.exec(select(AccessToken).where(AccessToken.user_id == expert.id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    session.rollback()
    # Logging in again works: a new token, a new enrolment for the tablet.
    assert _login(client, expert.username).status_code == 200


def test_an_enrolment_code_issued_before_a_deactivation_does_not_work_after_it(
    client: TestClient, session: Session
) -> None:
    """Reactivating restores no way in: a code issued before (a QR code left on a desk)
    enrols no tablet once the account has been deactivated."""
    world = World(session)
    expert = world.users["expert_lso"]
    issued = client.post(
        "/api/v1/devices/enrol-codes",
        json={"username": expert.username},
        headers=world.auth("officer_lso"),
    )
    assert issued.status_code == 201, issued.text
    for active in (False, True):
        changed = client.patch(
            f"/api/v1/users/{expert.id}",
            json={"is_active": active},
            headers=world.auth("officer_lso"),
        )
        assert changed.status_code == 200, changed.text
    enrol = client.post(
        "/api/v1/devices/enrol",
        json={"enrolment_code": issued.json()["code"], "device_id": str(uuid.uuid4())},
    )
    assert enrol.status_code == 422, enrol.text
    [problem] = enrol.json()["detail"]
    assert (problem["field"], problem["code"]) == ("enrolment_code", "enrolment_code_expired")
    session.rollback()
    assert session.exec(select(Device).where(Device.user_id == expert.id)).all() == []


def test_an_unknown_username_takes_a_password_check_too(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong password for a real name and any password for a name nobody has both cost one
    argon2 check, so the answer's speed does not tell which usernames exist."""
    import server.accounts.service as accounts

    checked: list[str | None] = []

    def check(password: str, password_hash: str | None) -> bool:
        checked.append(password_hash)
        return False

    monkeypatch.setattr(accounts, "verify_password", check)
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    for name in ("root", "nobody"):
        with pytest.raises(accounts.LoginFailed):
            authenticate(session, username=name, password="guess-guess", source="203.0.113.9")
        session.rollback()
    assert len(checked) == 2
    assert checked[0] is not None and checked[1] is None


# --- the session cookie ------------------------------------------------------------------------


def test_the_session_cookie_is_secure_in_production_even_behind_plain_http(
    settings: Settings, engine: Engine
) -> None:
    import re

    with Session(write_engine(engine)) as session:
        make_user(session, role="hq_analyst", username="hq.cookie", countries=[])
        session.commit()
    production = settings.model_copy(update={"environment": "production"})
    production.ensure_data_dir()
    with TestClient(create_app(production, engine), base_url="http://pilot.example.org") as http:
        page = http.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        [prelogin] = [c for c in page.headers.get_list("set-cookie") if "prelogin" in c]
        assert "secure" in {part.strip().lower() for part in prelogin.split(";")}
        # A browser would not send a Secure cookie over plain http: hand it over explicitly.
        http.cookies.clear()
        answer = http.post(
            "/login",
            data={"username": "hq.cookie", "password": PASSWORD, "csrf_token": csrf.group(1)},
            headers={"Cookie": prelogin.split(";", 1)[0]},
            follow_redirects=False,
        )
    assert answer.status_code == 303, answer.text[-300:]
    cookies = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("pilotmon_session="))
    assert "secure" in {part.strip().lower() for part in session_cookie.split(";")}


# --- no existence oracle in push results ---------------------------------------------------


def _push(client: TestClient, token: str, device_id: uuid.UUID, mutations: list[Any]) -> Any:
    response = client.post(
        "/api/v1/sync/push",
        json={"protocol": 1, "device_id": str(device_id), "mutations": mutations},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_a_push_does_not_tell_whether_an_id_exists_in_another_project(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    device, token = make_device(session, world.users["expert_lso"])
    session.commit()
    detach(session)
    kenyan = str(world.activity_ken.id)
    nowhere = str(uuid.uuid4())
    mine = str(world.project_lso.id)

    def upsert(seq: int, record_id: str) -> dict[str, Any]:
        data = activity_data(world.project_lso, id=record_id, project_id=mine)
        data.pop("status")
        return {
            "seq": seq,
            "entity": "activity",
            "op": "upsert",
            "id": record_id,
            "base_version": 1,
            "data": data,
        }

    def delete(seq: int, record_id: str, entity: str = "activity") -> dict[str, Any]:
        return {"seq": seq, "entity": entity, "op": "delete", "id": record_id, "base_version": 1}

    def photo(seq: int, activity_id: str) -> dict[str, Any]:
        return {
            "seq": seq,
            "entity": "attachment",
            "op": "upsert",
            "id": str(uuid.uuid4()),
            "base_version": 0,
            "data": {
                "activity_id": activity_id,
                "sha256": "0" * 64,
                "size": 10,
                "content_type": "image/jpeg",
            },
        }

    results = _push(
        client,
        token,
        device.id,
        [
            upsert(1, kenyan),  # an edit of a Kenyan activity, claiming a project of mine
            delete(2, kenyan),
            delete(3, nowhere),
            photo(4, kenyan),
            photo(5, nowhere),
        ],
    )
    assert all(r["status"] == "rejected" for r in results), results
    edit, delete_kenyan, delete_nowhere, photo_kenyan, photo_nowhere = results
    assert delete_kenyan["errors"] == delete_nowhere["errors"]
    assert delete_kenyan.get("version") is None and edit.get("version") is None
    assert photo_kenyan["errors"] == photo_nowhere["errors"]
    # The edit reads like any refused record of a project that is not yours.
    assert "another project" not in str(edit["errors"]) and "no longer" not in str(edit["errors"])
