"""The audit trail over the API: scoped by country, filtered, newest first."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from server.columns import utcnow
from tests.factories import World


def _entries(client: TestClient, world: World, who: str, **params) -> list[dict]:
    response = client.get("/api/v1/audit", params=params, headers=world.auth(who))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return body["items"]


def test_changes_land_in_a_scoped_trail(client: TestClient, session: Session) -> None:
    world = World(session)
    client.post(
        f"/api/v1/activities/{world.activity_lso.id}/review",
        json={"action": "approve"},
        headers=world.auth("officer_lso"),
    )
    client.post(
        f"/api/v1/activities/{world.activity_ken.id}/review",
        json={"action": "approve"},
        headers=world.auth("officer_ken"),
    )
    client.patch(
        f"/api/v1/targets/{world.target_ken.id}", json={"value": 350}, headers=world.auth("admin")
    )

    everything = _entries(client, world, "hq")
    assert [(e["entity"], e["action"]) for e in everything] == [
        ("target", "update"),
        ("activity", "approve"),
        ("activity", "approve"),
    ]
    assert everything[0]["before"] == {"value": 300.0} and everything[0]["after"] == {
        "value": 350.0
    }
    assert everything[0]["actor"] == world.users["admin"].username

    lesotho = _entries(client, world, "officer_lso")
    assert [(e["entity_id"], e["country"]) for e in lesotho] == [
        (str(world.activity_lso.id), "LSO")
    ]
    assert {e["country"] for e in _entries(client, world, "officer_ken")} == {"KEN"}
    assert client.get("/api/v1/audit", headers=world.auth("expert_lso")).status_code == 403
    assert client.get("/api/v1/audit").status_code == 401

    # Filters.
    assert [e["entity"] for e in _entries(client, world, "admin", entity="target")] == ["target"]
    assert len(_entries(client, world, "admin", entity_id=str(world.activity_ken.id))) == 1
    by_name = _entries(client, world, "admin", actor=world.users["officer_ken"].username)
    by_id = _entries(client, world, "admin", actor=str(world.users["officer_ken"].id))
    assert by_name == by_id and len(by_name) == 1
    today = utcnow().date()
    assert (
        len(
            _entries(
                client,
                world,
                "admin",
                **{"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))},
            )
        )
        == 3
    )
    assert _entries(client, world, "admin", to=str(today - timedelta(days=2))) == []
    page = client.get("/api/v1/audit", params={"limit": 1}, headers=world.auth("admin")).json()
    assert page["total"] == 3 and len(page["items"]) == 1


def test_an_unknown_entity_is_refused_not_answered_with_an_empty_trail(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    refused = client.get("/api/v1/audit", params={"entity": "zzz"}, headers=world.auth("admin"))
    assert refused.status_code == 400, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["detail"]] == [
        ("entity", "unknown_code")
    ]
    both = client.get(
        "/api/v1/audit", params={"entity": "zzz", "from": "x"}, headers=world.auth("admin")
    )
    assert both.status_code == 400
    assert {e["field"] for e in both.json()["detail"]} == {"entity", "from"}
    # every entity the trail names is one it takes
    for entity in ("activity", "user", "project", "observation", "form", "period"):
        answer = client.get("/api/v1/audit", params={"entity": entity}, headers=world.auth("hq"))
        assert answer.status_code == 200, (entity, answer.text)
