"""A bad request is told every problem at once (docs/errors.md#body-shapes): one 422 names the
body's limit problems (FastAPI's: a too-long name, a wrong type) and the route's rule problems
(a weak password, an unknown country, dates out of order) together, each with its code; a
request with one problem still gets exactly that one; and nothing is written."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import User
from tests.factories import World, rows


def _problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == body["detail"][0]["code"]
    for entry in body["detail"]:
        assert set(entry) == {"field", "code", "message"} and entry["message"]
    return {(e["field"], e["code"]) for e in body["detail"]}


# --- people ------------------------------------------------------------------------------------


def _person(**overrides: Any) -> dict[str, Any]:
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


def test_a_new_person_is_told_every_problem_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("admin")
    # a limit problem (the name) and rule problems in other fields (password, country, project)
    response = client.post(
        "/api/v1/users",
        json=_person(
            full_name="x" * 201,
            password="passwordpassword",
            role="country_officer",
            countries=["XXX"],
        ),
        headers=headers,
    )
    assert _problems(response) == {
        ("full_name", "too_long"),
        ("password", "weak_password"),
        ("countries", "unknown_code"),
    }
    # two rule problems, no limit problem
    response = client.post(
        "/api/v1/users",
        json=_person(username="Bad Name!", projects=["NO-SUCH"]),
        headers=headers,
    )
    assert _problems(response) == {("username", "invalid"), ("projects", "not_found")}
    # a rule that depends on a refused field is skipped: the too-long password is named once
    response = client.post(
        "/api/v1/users", json=_person(password="p" * 257, countries=["XXX"]), headers=headers
    )
    assert _problems(response) == {
        ("password", "too_long"),
        ("countries", "unknown_code"),
        ("projects", "required"),
    }
    # one problem: exactly that one
    response = client.post(
        "/api/v1/users",
        json=_person(full_name="x" * 201, projects=[world.project_lso.code]),
        headers=headers,
    )
    assert _problems(response) == {("full_name", "too_long")}
    assert rows(session, select(User).where(User.username == "palesa")) == []


def test_a_change_of_person_is_told_every_problem_at_once(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    me = world.users["admin"]
    before = (me.full_name, me.password_hash, me.is_active)
    url = f"/api/v1/users/{me.id}"
    headers = world.auth("admin")
    # a limit problem beside a rule problem
    response = client.patch(
        url, json={"email": "e" * 255, "password": "passwordpassword"}, headers=headers
    )
    assert _problems(response) == {("email", "too_long"), ("password", "weak_password")}
    # two rule problems
    response = client.patch(
        url, json={"is_active": False, "password": "passwordpassword"}, headers=headers
    )
    assert _problems(response) == {("is_active", "forbidden"), ("password", "weak_password")}
    response = client.patch(url, json={"is_active": False}, headers=headers)
    assert _problems(response) == {("is_active", "forbidden")}
    session.expire_all()
    assert (me.full_name, me.password_hash, me.is_active) == before
    # statuses before the body's problems are unchanged
    assert client.patch(url, json={"email": "e" * 255}).status_code == 401
