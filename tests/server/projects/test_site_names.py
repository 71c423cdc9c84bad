"""One place, one site: the management API refuses a site whose name a live site of the same
project already has, whatever its case and spaces (409 ``already_exists`` on ``name``, naming the
site), so that a project's Sites card never lists two identical rows. A tablet's site is never
refused so: made offline, it arrives pending and the office decides."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.accounts.models import User
from server.projects.models import Site
from tests.factories import World, make_device, rows


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": str(world.project_lso.id),
        "name": "Roma valley orchard",
        "admin_area": "Maseru",
        "lat": -29.45,
        "lon": 27.72,
    }
    body.update(overrides)
    return body


def _names(session: Session, world: World) -> list[str]:
    found = rows(
        session,
        select(Site.name).where(col(Site.project_id) == world.project_lso.id).order_by(Site.name),
    )
    return list(found)


def test_the_same_site_twice_is_refused_and_names_the_first(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    first = client.post("/api/v1/sites", json=_body(world), headers=world.auth("officer_lso"))
    assert first.status_code == 201, first.text
    before = _names(session, world)

    for name in ("Roma valley orchard", "  roma  VALLEY orchard "):
        again = client.post(
            "/api/v1/sites", json=_body(world, name=name), headers=world.auth("officer_lso")
        )
        assert again.status_code == 409, again.text
        answer = again.json()
        assert answer["code"] == "already_exists"
        [issue] = answer["detail"]
        assert issue["field"] == "name" and issue["code"] == "already_exists"
        assert "'Roma valley orchard'" in issue["message"]
        assert first.json()["id"] in issue["message"]
    assert _names(session, world) == before

    # A field expert's online site, though pending, is refused too: the API can tell.
    expert = client.post(
        "/api/v1/sites",
        json=_body(world, name="ROMA valley orchard"),
        headers=world.auth("expert_lso"),
    )
    assert expert.status_code == 409 and expert.json()["detail"][0]["field"] == "name"


def test_another_project_a_rejected_site_and_a_new_name_are_free(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    officer = world.auth("officer_lso")
    # Another project's site of the same name is another place.
    taken_elsewhere = _body(world, name=world.site_ken.name, lat=None, lon=None)
    assert client.post("/api/v1/sites", json=taken_elsewhere, headers=officer).status_code == 201
    # A rejected site is gone: its name may be used again.
    pending = client.post("/api/v1/sites", json=_body(world), headers=world.auth("expert_lso"))
    assert pending.status_code == 201, pending.text
    rejected = client.patch(
        f"/api/v1/sites/{pending.json()['id']}", json={"status": "rejected"}, headers=officer
    )
    assert rejected.status_code == 200, rejected.text
    assert client.post("/api/v1/sites", json=_body(world), headers=officer).status_code == 201
    assert (
        client.post(
            "/api/v1/sites", json=_body(world, name="Roma valley orchard 2"), headers=officer
        ).status_code
        == 201
    )


def test_renaming_a_site_onto_another_ones_name_is_refused(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    officer = world.auth("officer_lso")
    second = client.post("/api/v1/sites", json=_body(world), headers=officer).json()
    renamed = client.patch(
        f"/api/v1/sites/{second['id']}", json={"name": world.site_lso.name.upper()}, headers=officer
    )
    assert renamed.status_code == 409, renamed.text
    assert renamed.json()["detail"][0]["field"] == "name"
    assert str(world.site_lso.id) in renamed.json()["detail"][0]["message"]
    # Its own name in other letters, and its other fields, are still its to change.
    for change in ({"name": "ROMA VALLEY ORCHARD"}, {"admin_area": "Berea"}):
        answer = client.patch(f"/api/v1/sites/{second['id']}", json=change, headers=officer)
        assert answer.status_code == 200, answer.text


def test_a_tablets_site_of_a_taken_name_arrives_pending(
    client: TestClient, session: Session
) -> None:
    """A field expert offline cannot know the office's sites: the push is applied, the site
    waits for approval, and approving it is the office's decision."""
    world = World(session)
    expert = session.get(User, world.users["expert_lso"].id)
    assert expert is not None
    device, token = make_device(session, expert)
    device_id = device.id
    session.commit()
    site_id = str(uuid.uuid4())
    mutation = {
        "seq": 1,
        "entity": "site",
        "op": "upsert",
        "id": site_id,
        "base_version": 0,
        "data": {
            "project_id": str(world.project_lso.id),
            "name": world.site_lso.name.lower(),
            "admin_area": "Maseru",
        },
    }
    body = json.dumps({"protocol": 1, "device_id": str(device_id), "mutations": [mutation]})
    answer = client.post(
        "/api/v1/sync/push", content=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == "applied", answer.text
    pending = client.get(
        "/api/v1/sites", params={"status": "pending"}, headers=world.auth("officer_lso")
    ).json()
    assert [s["id"] for s in pending["items"]] == [site_id]
    approved = client.patch(
        f"/api/v1/sites/{site_id}", json={"status": "approved"}, headers=world.auth("officer_lso")
    )
    assert approved.status_code == 200, approved.text
