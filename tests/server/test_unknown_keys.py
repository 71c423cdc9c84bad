"""A management body refuses a key it does not know (docs/errors.md#body-shapes): a misspelt
optional key ("full_nmae") is a 422 ``unknown_field`` naming it, beside the body's other
problems, and nothing is written; it is never dropped without a word. The tablet's protocol
bodies (enrolment, sync) ignore unknown keys instead, so that an older server takes a newer
app's requests (docs/protocol.md)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import Device, PersonalToken, User
from server.activities.models import Activity, ClosedPeriod
from server.projects.models import Project, Site, Target
from tests.factories import World, rows
from tests.server.accounts.test_users import _user
from tests.server.test_errors_all_at_once import enrolment_code

# The request bodies of protocol 1, which ignore unknown keys on purpose.
PROTOCOL_BODIES = {"EnrolRequest"}


def _problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return {(e["field"], e["code"]) for e in response.json()["detail"]}


def test_every_management_body_refuses_unknown_keys(client: TestClient) -> None:
    """Read off the API's own schema, so that a new route's body cannot forget it."""
    schema = client.get("/api/v1/openapi.json").json()
    components = schema["components"]["schemas"]
    lenient = []
    json_bodies = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue  # the login form and the XLSForm upload are forms, not JSON
            json_bodies += 1
            name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            if components[name].get("additionalProperties") is not False:
                lenient.append((method.upper(), path, name))
    assert json_bodies >= 15
    assert {name for _, _, name in lenient} == PROTOCOL_BODIES, lenient


def test_a_misspelt_key_is_named_beside_the_other_problems(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    admin = world.auth("admin")
    response = client.post(
        "/api/v1/users",
        json={
            **_user(password="passwordpassword", projects=[world.project_lso.code]),
            "full_nmae": "Palesa",
        },
        headers=admin,
    )
    assert _problems(response) == {("full_nmae", "unknown_field"), ("password", "weak_password")}
    assert rows(session, select(User).where(User.username == "palesa")) == []

    expert = world.users["expert_lso"]
    response = client.patch(
        f"/api/v1/users/{expert.id}", json={"full_nmae": "Someone else"}, headers=admin
    )
    assert _problems(response) == {("full_nmae", "unknown_field")}
    session.expire_all()
    assert session.get(User, expert.id).full_name == expert.full_name  # type: ignore[union-attr]


def test_nothing_is_written_for_a_body_with_an_unknown_key(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    officer = world.auth("officer_lso")
    project, site = world.project_lso, world.site_lso
    # each body below is accepted without its unknown key
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/v1/tokens", {"name": "Power BI"}, "admin"),
        ("POST", "/api/v1/devices/enrol-codes", {"username": "expert_lso_name"}, "officer_lso"),
        ("PATCH", f"/api/v1/projects/{project.id}", {"name": "Renamed"}, "admin"),
        ("POST", "/api/v1/sites", {"project_id": str(project.id), "name": "Plot 9"}, "officer_lso"),
        ("PATCH", f"/api/v1/sites/{site.id}", {"name": "Renamed"}, "officer_lso"),
        (
            "POST",
            "/api/v1/targets",
            {"project_id": str(project.id), "indicator": "PARTICIPANTS", "period": "2027"},
            "officer_lso",
        ),
        ("POST", f"/api/v1/activities/{world.activity_lso.id}/review", {"action": "approve"}, ""),
        ("POST", "/api/v1/periods/close", {"country": "LSO", "period": "2025Q1"}, "officer_lso"),
    ]
    for method, url, body, who in cases:
        if body.get("username") == "expert_lso_name":
            body = {"username": world.users["expert_lso"].username}
        if url.endswith("/targets"):
            body = {**body, "value": 10}
        headers = world.auth(who) if who else officer
        response = client.request(method, url, json={**body, "colour": "green"}, headers=headers)
        assert _problems(response) == {("colour", "unknown_field")}, (method, url)

    session.expire_all()
    assert rows(session, select(PersonalToken)) == []
    assert session.get(Project, project.id).name == project.name  # type: ignore[union-attr]
    assert session.get(Site, site.id).name == site.name  # type: ignore[union-attr]
    assert rows(session, select(Site).where(Site.name == "Plot 9")) == []
    assert rows(session, select(Target).where(Target.period == "2027")) == []
    assert session.get(Activity, world.activity_lso.id).status == world.activity_lso.status  # type: ignore[union-attr]
    assert rows(session, select(ClosedPeriod)) == []

    # and without the unknown key, the same bodies go through
    response = client.post("/api/v1/tokens", json={"name": "Power BI"}, headers=world.auth("admin"))
    assert response.status_code == 201, response.text
    response = client.patch(f"/api/v1/sites/{site.id}", json={"name": "Renamed"}, headers=officer)
    assert response.status_code == 200, response.text


def test_enrolment_ignores_unknown_keys_as_protocol_1_does(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    code = enrolment_code(client, world)
    device_id = uuid.uuid4()
    response = client.post(
        "/api/v1/devices/enrol",
        json={
            "enrolment_code": code,
            "device_id": str(device_id),
            "label": "Tablet 1",
            "app_version": "9.0",
            "screen": "a key a newer app might send",
        },
    )
    assert response.status_code == 200, response.text
    assert session.get(Device, device_id) is not None
