"""Out-of-scope URLs get 404 (or 403 when readable but not changeable), as pages, and change
nothing — the same rules as the API."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.accounts.models import Device
from server.activities.models import Activity, Attachment
from tests.server.dashboard.conftest import fresh, main_of, sign_in, token_for
from tests.server.dashboard.world import World


def test_another_countrys_records_are_not_found(officer: TestClient, world: World) -> None:
    assert world.eth_activity is not None
    for path in (
        f"/activities/{world.eth_activity.id}",
        f"/projects/{world.eth.id}",
        f"/activities/{uuid.uuid4()}",
        f"/projects/{uuid.uuid4()}",
    ):
        response = officer.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "Not found" in html and "Drought-tolerant teff trial" not in html
        assert 'href="/review"' in html  # still the dashboard, with its menu


def test_another_countrys_activity_cannot_be_reviewed(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.eth_activity is not None
    token = token_for(officer)
    response = officer.post(
        f"/activities/{world.eth_activity.id}/review",
        data={"csrf_token": token, "action": "approve"},
    )
    assert response.status_code == 404
    assert fresh(engine, Activity, world.eth_activity.id).status == "submitted"


def test_the_officer_of_one_country_sees_nothing_of_another(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer_eth)
    queue = main_of(client.get("/review").text)
    assert "Drought-tolerant teff trial" in queue
    assert "Seed potato storage demonstration" not in queue
    assert client.get(f"/activities/{world.submitted[0].id}").status_code == 404
    assert client.get(f"/projects/{world.lso.id}").status_code == 404
    tablets = main_of(client.get("/tablets").text)
    assert "Tablet A — Maseru" not in tablets


def test_another_countrys_tablet_cannot_be_revoked(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer_eth)
    tablet = world.tablets["Tablet A — Maseru"]
    token = token_for(client, "/tablets")
    response = client.post(f"/tablets/{tablet.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    assert fresh(engine, Device, tablet.id).revoked_at is None


def test_photos_follow_the_scope_of_their_activity(
    client: TestClient, engine: Engine, world: World, photo: Attachment
) -> None:
    path = f"/attachments/{photo.id}"
    sign_in(client, engine, world.officer)
    own = client.get(path)
    assert own.status_code == 200 and own.headers["content-type"] == "image/png"
    assert own.content.startswith(b"\x89PNG")
    client.cookies.clear()
    sign_in(client, engine, world.officer_eth)
    assert client.get(path).status_code == 404
    client.cookies.clear()
    assert client.get(path, follow_redirects=False).status_code == 303  # to the login form
