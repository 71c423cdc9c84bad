"""People over the API: who may create whom, scoped lists, changes in the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import User
from server.records.models import AuditEntry
from tests.factories import PASSWORD, World, rows


def _user(**overrides: Any) -> dict[str, Any]:
    body = {
        "username": "palesa",
        "password": "long enough password",
        "role": "field_expert",
        "countries": [],
        "projects": [],
        "full_name": "Palesa Mokoena",
    }
    body.update(overrides)
    return body


def test_an_officer_creates_a_field_expert_of_its_country(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = client.post(
        "/api/v1/users",
        json=_user(projects=[world.project_lso.code]),
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["countries"] == ["LSO"]
    assert [p["code"] for p in created["projects"]] == [world.project_lso.code]
    assert "password" not in created and "password_hash" not in created
    [entry] = rows(session, select(AuditEntry).where(AuditEntry.entity == "user"))
    assert entry.actor_id == world.users["officer_lso"].id and entry.country == "LSO"
    assert "password" not in entry.after

    login = client.post(
        "/api/v1/auth/token", data={"username": "palesa", "password": "long enough password"}
    )
    assert login.status_code == 200


def test_what_an_officer_may_not_create(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("officer_lso")
    # Another country's project is unknown to them; so are other countries.
    response = client.post(
        "/api/v1/users", json=_user(projects=[world.project_ken.code]), headers=headers
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "projects"
    response = client.post(
        "/api/v1/users", json=_user(role="country_officer", countries=["KEN"]), headers=headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "out_of_scope"
    for role in ("admin", "hq_analyst"):
        response = client.post("/api/v1/users", json=_user(role=role), headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    for who in ("hq", "expert_lso"):
        assert (
            client.post(
                "/api/v1/users", json=_user(role="field_expert"), headers=world.auth(who)
            ).status_code
            == 403
        )
    assert rows(session, select(User).where(User.username == "palesa")) == []


def test_bad_user_bodies_name_the_field(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("admin")
    for body, field, status in (
        (_user(password="short"), "password", 422),
        (_user(username="Not Valid!", projects=[world.project_lso.code]), "username", 422),
        (_user(role="boss"), "role", 422),
        (_user(role="country_officer"), "countries", 422),
        (_user(role="country_officer", countries=["ZZZ"]), "countries", 422),
        (_user(), "projects", 422),
    ):
        response = client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert field in {e["field"] for e in response.json()["detail"]}, body
    taken = _user(username=world.users["hq"].username, role="hq_analyst")
    assert client.post("/api/v1/users", json=taken, headers=headers).status_code == 409


def test_an_email_address_must_be_one(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("admin")
    for email in ("notanemail", "x@@y.org", "name@localhost", "a b@example.org"):
        body = _user(role="hq_analyst", username="new.analyst", email=email)
        response = client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 422, (email, response.text)
        assert ("email", "invalid") in {
            (e["field"], e["code"]) for e in response.json()["detail"]
        }, email
    made = client.post(
        "/api/v1/users",
        json=_user(role="hq_analyst", username="new.analyst", email="mpho@example.org"),
        headers=headers,
    )
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    changed = client.patch(f"/api/v1/users/{user_id}", json={"email": "x@@y"}, headers=headers)
    assert changed.status_code == 422 and changed.json()["code"] == "invalid", changed.text
    kept = client.get(f"/api/v1/users/{user_id}", headers=headers).json()
    assert kept["email"] == "mpho@example.org"


def test_user_lists_are_scoped(client: TestClient, session: Session) -> None:
    world = World(session)

    def names(who: str) -> set[str]:
        body = client.get("/api/v1/users", params={"limit": 500}, headers=world.auth(who)).json()
        assert body["total"] == len(body["items"])
        return {u["username"] for u in body["items"]}

    everyone = {u.username for u in world.users.values()}
    assert names("admin") == names("hq") == everyone
    assert names("officer_lso") == {
        world.users["officer_lso"].username,
        world.users["expert_lso"].username,
    }
    assert client.get("/api/v1/users", headers=world.auth("expert_lso")).status_code == 403
    kenyan = world.users["expert_ken"].id
    assert (
        client.get(f"/api/v1/users/{kenyan}", headers=world.auth("officer_lso")).status_code == 404
    )
    assert (
        client.get(f"/api/v1/users/{kenyan}", headers=world.auth("officer_ken")).status_code == 200
    )


def test_an_officer_disables_a_field_expert(client: TestClient, session: Session) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    assert (
        client.patch(
            f"/api/v1/users/{expert.id}",
            json={"is_active": False},
            headers=world.auth("officer_ken"),
        ).status_code
        == 404
    )
    response = client.patch(
        f"/api/v1/users/{expert.id}", json={"is_active": False}, headers=world.auth("officer_lso")
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get("/api/v1/auth/me", headers=world.auth("expert_lso")).status_code == 401
    # Officers do not manage admins (they do not even see them), nor disable themselves.
    admin = world.users["admin"]
    assert (
        client.patch(
            f"/api/v1/users/{admin.id}", json={"full_name": "x"}, headers=world.auth("officer_lso")
        ).status_code
        == 404
    )
    me = world.users["officer_lso"]
    response = client.patch(
        f"/api/v1/users/{me.id}", json={"is_active": False}, headers=world.auth("officer_lso")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "is_active"


def test_a_new_password_ends_the_persons_other_sessions_but_not_the_callers(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    assert client.get("/api/v1/auth/me", headers=world.auth("expert_lso")).status_code == 200

    # The officer resets the expert's password: the expert's old token stops working.
    response = client.patch(
        f"/api/v1/users/{expert.id}",
        json={"password": "a brand new passphrase"},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/auth/me", headers=world.auth("expert_lso")).status_code == 401
    assert client.get("/api/v1/auth/me", headers=world.auth("officer_lso")).status_code == 200

    # Changing one's own password keeps the session that did it, and ends the others.
    officer = world.users["officer_lso"]
    second = client.post(
        "/api/v1/auth/token", data={"username": officer.username, "password": PASSWORD}
    )
    assert second.status_code == 200, second.text
    other = {"Authorization": f"Bearer {second.json()['access_token']}"}
    response = client.patch(
        f"/api/v1/users/{officer.id}",
        json={"password": "yet another passphrase"},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/auth/me", headers=world.auth("officer_lso")).status_code == 200
    assert client.get("/api/v1/auth/me", headers=other).status_code == 401


def test_a_country_filter_unknown_or_outside_the_scope_is_refused(
    client: TestClient, session: Session
) -> None:
    # An empty list read as "nobody there"; the other lists refuse such a filter (400).
    world = World(session)
    for who, country, code in (
        ("admin", "ZZZ", "unknown_code"),
        ("officer_lso", "KEN", "out_of_scope"),
    ):
        refused = client.get("/api/v1/users", params={"country": country}, headers=world.auth(who))
        assert refused.status_code == 400, (who, refused.text)
        assert [(e["field"], e["code"]) for e in refused.json()["detail"]] == [("country", code)]
    mine = client.get("/api/v1/users", params={"country": "lso"}, headers=world.auth("officer_lso"))
    assert mine.status_code == 200 and mine.json()["total"] >= 1
    # with a problem FastAPI finds, in one answer
    both = client.get(
        "/api/v1/users", params={"country": "ZZZ", "role": "bogus"}, headers=world.auth("admin")
    )
    assert both.status_code == 400
    assert {e["field"] for e in both.json()["detail"]} == {"country", "role"}
