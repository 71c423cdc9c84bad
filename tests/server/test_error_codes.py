"""Every 4xx answer names its error with a stable code from shared.errors.ErrorCode, next to the
English message: ``{"detail": "…", "code": …}`` or ``{"detail": [{"field", "code", "message"}],
"code": …}``; rejected and conflicting push results carry codes per field too."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Activity
from server.activities.service import write_activity
from server.errors import PYDANTIC_CODES
from shared.errors import ErrorCode
from tests.factories import make_access_token, make_user, office_edit
from tests.server.sync.conftest import Field, field, mutation, push  # noqa: F401

CODES = {c.value for c in ErrorCode}


@pytest.fixture
def world(field: Field) -> Field:  # noqa: F811
    """The sync tests' small field world: a project, its site, an expert with a tablet."""
    return field


def coded(response: Any, status: int, code: str) -> dict[str, Any]:
    """The body of an error answer, checked: its status, its code, and a code on every entry."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    if isinstance(body["detail"], list):
        assert body["detail"] and all(e["code"] in CODES for e in body["detail"]), body
        assert body["detail"][0]["code"] == code
    else:
        assert isinstance(body["detail"], str) and body["detail"]
    return body


def _officer(engine: Engine, world: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, world.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_not_authenticated(client: TestClient) -> None:
    coded(client.get("/api/v1/projects"), 401, "not_authenticated")


def test_a_wrong_password_is_bad_credentials(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 12})
    coded(answer, 401, "bad_credentials")


def test_a_record_outside_the_scope_is_not_found(
    client: TestClient,
    world: Field,
    engine: Engine,
) -> None:
    coded(
        client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=_officer(engine, world)),
        404,
        "not_found",
    )


def test_a_role_that_may_not_is_forbidden(client: TestClient, world: Field, engine: Engine) -> None:
    with Session(engine) as session:
        token = make_access_token(session, world.expert)
        session.commit()
    answer = client.post(
        "/api/v1/users",
        json={"username": "newbie", "role": "field_expert", "password": "long enough pw"},
        headers={"Authorization": f"Bearer {token}"},
    )
    coded(answer, 403, "forbidden")


def test_a_taken_username_already_exists(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin", countries=[])
    make_user(session, username="taken")
    token = make_access_token(session, admin)
    session.commit()
    answer = client.post(
        "/api/v1/users",
        json={
            "username": "taken",
            "role": "country_officer",
            "countries": ["LSO"],
            "password": "long enough pw",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    coded(answer, 409, "already_exists")


def test_fastapis_own_errors_carry_codes_per_field(
    client: TestClient,
    world: Field,
    engine: Engine,
) -> None:
    # a bad query parameter is a 400, as every route's own checks of its parameters answer;
    # a bad body is a 422 (docs/errors.md#statuses)
    headers = _officer(engine, world)
    answer = client.get("/api/v1/projects?limit=many", headers=headers)
    body = coded(answer, 400, "not_integer")
    assert body["detail"][0]["field"] == "limit"
    answer = client.post("/api/v1/tokens", json={"name": 5}, headers=headers)
    assert coded(answer, 422, "not_text")["detail"][0]["field"] == "name"


def test_a_control_character_and_a_long_text_say_so_in_their_own_words(
    client: TestClient,
    world: Field,
    engine: Engine,
) -> None:
    # A NUL in a text parameter or body came back as code "invalid" with "Value error, must not
    # contain control characters"; an optional text over its limit said "items".
    headers = _officer(engine, world)
    body = coded(
        client.get("/api/v1/activities?q=a%00b", headers=headers), 400, "control_character"
    )
    assert body["detail"][0] == {
        "field": "q",
        "code": "control_character",
        "message": "must not contain control characters",
    }
    body = coded(
        client.post("/api/v1/tokens", json={"name": "x\u0000y"}, headers=headers),
        422,
        "control_character",
    )
    assert body["detail"][0]["field"] == "name"
    body = coded(
        client.get("/api/v1/activities", params={"q": "x" * 201}, headers=headers), 400, "too_long"
    )
    assert body["detail"][0]["message"] == "at most 200 characters"


def test_a_query_date_is_written_yyyy_mm_dd_not_as_a_unix_time(
    client: TestClient,
    world: Field,
    engine: Engine,
) -> None:
    # from=1735689600 was read as 2025-01-01 (pydantic's lax dates), and from=0 as 1970, on the
    # activity list and its exports, where the indicator values answer bad_date.
    headers = _officer(engine, world)
    for path in ("/api/v1/activities", "/api/v1/exports/activities.csv", "/api/v1/audit"):
        for value in ("1735689600", "0", "2025-1-5"):
            body = coded(client.get(path, params={"from": value}, headers=headers), 400, "bad_date")
            assert body["detail"][0]["field"] == "from", (path, value)
            assert body["detail"][0]["message"] == f"'{value}' is not a date: use YYYY-MM-DD"
    ok = client.get("/api/v1/activities", params={"from": "2025-01-05"}, headers=headers)
    assert ok.status_code == 200, ok.text


def test_a_service_validation_error_names_field_and_code(
    client: TestClient,
    world: Field,
    engine: Engine,
) -> None:
    answer = client.get(
        "/api/v1/activities?from=2025-03-01&to=2025-01-01", headers=_officer(engine, world)
    )
    body = coded(answer, 400, "end_before_start")
    assert body["detail"][0]["field"] == "to"


def test_an_unknown_route_and_method_are_coded(client: TestClient) -> None:
    coded(client.get("/api/v1/no-such-thing"), 404, "not_found")
    coded(client.delete("/api/v1/auth/token"), 405, "method_not_allowed")


def test_every_pydantic_code_we_map_to_is_an_error_code() -> None:
    assert set(PYDANTIC_CODES.values()) <= set(ErrorCode)


# --- sync -------------------------------------------------------------------------------------


def test_sync_errors_are_coded(client: TestClient, world: Field) -> None:
    coded(client.post("/api/v1/sync/push", content=b"{", headers=world.headers()), 422, "bad_body")
    body = {"protocol": 99, "device_id": str(world.device.id), "mutations": []}
    coded(
        client.post("/api/v1/sync/push", json=body, headers=world.headers()),
        426,
        "protocol_not_supported",
    )
    gap = push(client, world, [mutation(5, world.activity())])
    assert coded(gap, 409, "seq_gap")["expected_seq"] == 1
    coded(
        client.get("/api/v1/sync/pull?cursor=nonsense", headers=world.headers()), 400, "bad_cursor"
    )
    coded(
        client.get("/api/v1/sync/pull", headers={"Authorization": "Bearer nope"}),
        401,
        "not_authenticated",
    )


def test_a_rejected_push_result_carries_a_code_per_field(client: TestClient, world: Field) -> None:
    other = world.activity(project_id=str(world.other_project.id))
    bad = world.activity(title="x" * 300)
    results = push(client, world, [mutation(1, other), mutation(2, bad)]).json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert [(e["field"], e["code"]) for e in results[0]["errors"]] == [
        ("project_id", "out_of_scope")
    ]
    assert ("title", "too_long") in [(e["field"], e["code"]) for e in results[1]["errors"]]
    assert all(e["message"] for r in results for e in r["errors"])  # English stays, for scripts


def test_an_edit_of_an_approved_activity_is_locked(
    client: TestClient,
    world: Field,
    engine: Engine,
) -> None:
    record = world.activity()
    push(client, world, [mutation(1, record)])
    office_edit(engine, record["id"], status="approved")
    [result] = push(
        client, world, [mutation(2, {"title": "Late fix"}, id=record["id"], base_version=2)]
    ).json()["results"]
    assert result["status"] == "rejected"
    assert [e["code"] for e in result["errors"]] == ["locked"]


@pytest.mark.parametrize(
    ("office", "tablet", "codes"),
    [
        ({"title": "Office title"}, {"title": "Tablet title"}, [("title", "edit_conflict")]),
        ({"deleted": True}, {"title": "Tablet title"}, [("deleted", "deleted_on_server")]),
        ({"notes": "Office note"}, None, [("deleted", "changed_on_server")]),
    ],
)
def test_a_conflict_result_names_each_colliding_field_with_its_code(
    client: TestClient,
    world: Field,
    engine: Engine,
    office: dict[str, Any],
    tablet: dict[str, Any] | None,
    codes: list[tuple[str, str]],
) -> None:
    record = world.activity()
    push(client, world, [mutation(1, record)])
    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(record["id"]))
        assert activity is not None
        if office.get("deleted"):
            from server.activities.service import tombstone_activity

            tombstone_activity(session, activity=activity, source="api", author_id=None)
        else:
            write_activity(session, data=office, existing=activity, source="api", author_id=None)
        session.commit()
    op = "upsert" if tablet is not None else "delete"
    [result] = push(
        client, world, [mutation(2, tablet, op=op, id=record["id"], base_version=1)]
    ).json()["results"]
    assert result["status"] == "conflict"
    assert [(e["field"], e["code"]) for e in result["errors"]] == codes
