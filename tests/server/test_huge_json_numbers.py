"""A JSON body with an integer longer than Python reads (4 300 digits) is a body that cannot be
read: 422 ``bad_body`` on ``body`` with the reason, as for any other unreadable body and as the
sync push answers (docs/errors.md#codes); never FastAPI's bare 400 "error parsing the body"."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import World

HUGE = "1" + "0" * 4400  # 4 401 digits: past the interpreter's limit on integer strings


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users",
        "/api/v1/forms",
        # (a fixed id: parallel test workers must collect the same test names)
        "/api/v1/conflicts/6f1c2b9e-0d4a-4c1e-9a57-3b8e2f7d5c10/resolve",
        "/api/v1/devices/enrol",
        "/api/v1/projects",
    ],
)
def test_an_integer_too_long_to_read_is_bad_body(
    client: TestClient, session: Session, path: str
) -> None:
    admin = World(session).auth("admin")
    response = client.post(
        path,
        content=f'{{"username": {HUGE}}}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "bad_body"
    [issue] = body["detail"]
    assert issue["field"] == "body"
    assert issue["message"].startswith("the body is not valid JSON (")
    assert "digits" in issue["message"]
