"""Logging in and out: bearer tokens, expiry, logout, throttling of repeated failures."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from server.accounts.models import AccessToken, LoginFailure
from server.accounts.service import MAX_LOGIN_FAILURES
from server.columns import utcnow
from tests.factories import PASSWORD, make_project, make_user


def _login(client: TestClient, username: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_login_gives_an_expiring_bearer_token_that_opens_me(
    client: TestClient, session: Session, settings
) -> None:
    project = make_project(session)
    user = make_user(session, role="field_expert", projects=[project], username="thabo")
    session.commit()

    response = _login(client, "Thabo")  # usernames are case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60

    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "thabo"
    assert me.json()["role"] == "field_expert"
    assert me.json()["countries"] == ["LSO"]
    assert [p["code"] for p in me.json()["projects"]] == [project.code]
    # Only the hash is stored.
    stored = session.exec(select(AccessToken).where(AccessToken.user_id == user.id)).one()
    assert stored.token_hash != body["access_token"]


def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, session: Session
) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    wrong = _login(client, "root", "not the password")
    unknown = _login(client, "nobody", "whatever-password")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"detail": "wrong username or password", "code": "bad_credentials"}
    )


def test_missing_form_fields_are_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "password"
    assert response.json()["detail"][0]["code"] == "required"


def test_an_expired_token_is_refused(client: TestClient, session: Session) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    token = _login(client, "root").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    for row in session.exec(select(AccessToken)):
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    session.commit()

    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_logout_revokes_only_that_token(client: TestClient, session: Session) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    first = {"Authorization": f"Bearer {_login(client, 'root').json()['access_token']}"}
    second = {"Authorization": f"Bearer {_login(client, 'root').json()['access_token']}"}

    assert client.post("/api/v1/auth/logout", headers=first).status_code == 204
    assert client.get("/api/v1/auth/me", headers=first).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=first).status_code == 401
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200


def test_repeated_failures_are_throttled_with_retry_after(
    client: TestClient, session: Session
) -> None:
    make_user(session, role="admin", countries=[], username="root")
    make_user(session, role="admin", countries=[], username="other")
    session.commit()
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert _login(client, "root", "guess-guess").status_code == 401
    locking = _login(client, "root", "guess-guess")
    assert locking.status_code == 429
    # Locked: even the right password waits, and says how long.
    response = _login(client, "root")
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert response.json()["code"] == "too_many_attempts"
    # Other usernames are not affected.
    assert _login(client, "other").status_code == 200

    # When the lock has passed, the right password works and clears the count.
    assert session.get(LoginFailure, "root") is not None
    session.execute(update(LoginFailure).values(locked_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert _login(client, "root").status_code == 200
    session.expire_all()
    assert session.get(LoginFailure, "root") is None


def test_a_success_resets_the_failure_count(client: TestClient, session: Session) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert _login(client, "root", "guess-guess").status_code == 401
    assert _login(client, "root").status_code == 200
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert _login(client, "root", "guess-guess").status_code == 401
    assert _login(client, "root").status_code == 200


def test_failures_outside_the_window_start_a_new_count(
    client: TestClient, session: Session
) -> None:
    make_user(session, role="admin", countries=[], username="root")
    session.commit()
    for _ in range(MAX_LOGIN_FAILURES - 1):
        _login(client, "root", "guess-guess")
    failure = session.get(LoginFailure, "root")
    assert failure is not None and failure.failures == MAX_LOGIN_FAILURES - 1
    session.execute(update(LoginFailure).values(first_failed_at=utcnow() - timedelta(minutes=16)))
    session.commit()
    assert _login(client, "root", "guess-guess").status_code == 401
    session.expire_all()
    assert session.get(LoginFailure, "root").failures == 1  # type: ignore[union-attr]


def test_a_disabled_account_cannot_log_in_and_its_tokens_stop(
    client: TestClient, session: Session
) -> None:
    user = make_user(session, role="admin", countries=[], username="root")
    session.commit()
    headers = {"Authorization": f"Bearer {_login(client, 'root').json()['access_token']}"}
    user.is_active = False
    session.add(user)
    session.commit()
    assert _login(client, "root").status_code == 401
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_routes_need_a_token(client: TestClient) -> None:
    response = client.get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "missing bearer token: log in first",
        "code": "not_authenticated",
    }
    bogus = client.get("/api/v1/projects", headers={"Authorization": "Bearer nonsense"})
    assert bogus.status_code == 401
    assert bogus.json()["code"] == "not_authenticated"


def test_logins_failures_and_lockouts_are_in_the_audit_trail_of_the_users_country(
    client: TestClient, session: Session
) -> None:
    expert = make_user(session, role="field_expert", countries=["KEN"], username="wanjiru")
    officer = make_user(session, role="country_officer", countries=["KEN"], username="otieno")
    make_user(session, role="country_officer", countries=["SEN"], username="fatou")
    expert_id, officer_id = str(expert.id), str(officer.id)
    session.commit()

    assert _login(client, "wanjiru", "not the password").status_code == 401
    assert _login(client, "wanjiru").status_code == 200
    assert _login(client, "ghost", "whatever-password").status_code == 401
    for _ in range(MAX_LOGIN_FAILURES):
        _login(client, "wanjiru", "still not the password")

    token = _login(client, "otieno").json()["access_token"]
    trail = client.get(
        "/api/v1/audit",
        params={"entity": "user", "limit": 100},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert trail.status_code == 200, trail.text
    mine = [
        (e["action"], e["actor_id"]) for e in trail.json()["items"] if e["entity_id"] == expert_id
    ]
    assert sorted(set(mine)) == [
        ("login", expert_id),
        ("login_failed", None),
        ("login_locked", None),
    ]
    # A guess at an unknown name adds nothing; the officer's own login is there too.
    assert {e["entity_id"] for e in trail.json()["items"]} == {expert_id, officer_id}

    # Another country's officer sees none of it.
    other = _login(client, "fatou").json()["access_token"]
    theirs = client.get(
        "/api/v1/audit",
        params={"entity": "user", "limit": 100},
        headers={"Authorization": f"Bearer {other}"},
    ).json()["items"]
    assert expert_id not in {e["entity_id"] for e in theirs}


def test_a_person_of_two_countries_is_in_the_trail_of_both_country_offices(
    client: TestClient, session: Session
) -> None:
    make_user(session, role="field_expert", countries=["KEN", "UGA"], username="amani")
    for username, country in (("otieno", "KEN"), ("nakato", "UGA"), ("fatou", "SEN")):
        make_user(session, role="country_officer", countries=[country], username=username)
    session.commit()
    assert _login(client, "amani").status_code == 200

    def logins_seen_by(officer: str) -> list[str]:
        token = _login(client, officer).json()["access_token"]
        items = client.get(
            "/api/v1/audit", params={"entity": "user"}, headers={"Authorization": f"Bearer {token}"}
        ).json()["items"]
        return [e["actor"] for e in items if e["action"] == "login" and e["country"] is None]

    assert logins_seen_by("otieno") == ["amani"]
    assert logins_seen_by("nakato") == ["amani"]
    assert logins_seen_by("fatou") == []
