"""The dashboard's sign-in lock-out says how long to wait in ``Retry-After``, as the API's 429
does (docs/roles.md): on the failure that locks the username and on every attempt until the
lock ends, the right password included."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from tests.factories import PASSWORD
from tests.server.dashboard.conftest import csrf_of
from tests.server.dashboard.world import World

LOCK_SECONDS = 15 * 60


def test_a_locked_sign_in_says_when_to_try_again(client: TestClient, world: World) -> None:
    token = csrf_of(client.get("/login").text)

    def sign_in(password: str) -> Response:
        return client.post(
            "/login",
            data={"csrf_token": token, "username": "officer.lso", "password": password},
        )

    failures = [sign_in(f"guess {n}") for n in range(5)]
    assert [r.status_code for r in failures] == [401, 401, 401, 401, 429]
    assert all("retry-after" not in r.headers for r in failures[:4])
    for locked in (failures[-1], sign_in(PASSWORD)):
        assert locked.status_code == 429
        assert "Too many failed attempts" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= LOCK_SECONDS
