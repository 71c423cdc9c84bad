"""``GET /api/v1/observations[/{id}[/revisions]]``: filters, paging, scope in the query
(docs/results.md#observations)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.results.models import Form
from tests.factories import (
    make_access_token,
    make_observation,
    make_observation_form,
    make_user,
)
from tests.server.sync.conftest import Field, mutation, push


@pytest.fixture
def world(engine: Engine, field: Field) -> dict[str, Any]:
    with Session(engine, expire_on_commit=False) as session:
        harvest = make_observation_form(session, code="DEMO_PLOT_HARVEST")
        storage = make_observation_form(session, code="STORAGE_LOSS_CHECK")
        lso = [
            make_observation(
                session, field.project, harvest, author=field.expert, observed_on="2025-01-10"
            ),
            make_observation(
                session,
                field.project,
                harvest,
                author=field.expert,
                observed_on="2025-05-02",
                site_id=str(field.site.id),
                status="approved",
            ),
            make_observation(
                session, field.project, storage, author=field.expert, observed_on="2025-03-01"
            ),
        ]
        ken = make_observation(session, field.other_project, harvest, observed_on="2025-02-02")
        gone = make_observation(session, field.project, harvest, observed_on="2025-02-03")
        gone.deleted = True
        session.add(gone)
        officer_token = make_access_token(session, field.officer)
        hq = make_user(session, role="hq_analyst", countries=[])
        hq_token = make_access_token(session, hq)
        expert_token = make_access_token(session, field.expert)
        session.commit()
        return {
            "harvest": harvest,
            "lso": [str(o.id) for o in lso],
            "ken": str(ken.id),
            "gone": str(gone.id),
            "officer": {"Authorization": f"Bearer {officer_token}"},
            "hq": {"Authorization": f"Bearer {hq_token}"},
            "expert": {"Authorization": f"Bearer {expert_token}"},
        }


def _ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get("/api/v1/observations", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] >= len(body["items"])
    return [item["id"] for item in body["items"]]


def test_the_list_is_scoped_filtered_and_paged(
    client: TestClient, field: Field, world: dict[str, Any]
) -> None:
    lso, ken = world["lso"], world["ken"]
    newest_first = [lso[1], lso[2], lso[0]]
    assert _ids(client, world["officer"]) == newest_first  # no Kenya, no tombstone
    assert _ids(client, world["expert"]) == newest_first
    assert set(_ids(client, world["hq"])) == {*lso, ken}
    assert _ids(client, world["officer"], form="demo_plot_harvest") == [lso[1], lso[0]]
    assert _ids(client, world["officer"], status="approved") == [lso[1]]
    assert _ids(client, world["officer"], site=str(field.site.id)) == [lso[1]]
    assert _ids(client, world["officer"], **{"from": "2025-02-01", "to": "2025-04-30"}) == [lso[2]]
    assert _ids(client, world["hq"], country="KEN") == [ken]
    assert _ids(client, world["hq"], project=field.project.code, limit=2) == newest_first[:2]
    page = client.get(
        "/api/v1/observations", params={"limit": 1, "offset": 1}, headers=world["officer"]
    ).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [lso[2]]
    item = client.get("/api/v1/observations", headers=world["officer"]).json()["items"][0]
    assert item["form_code"] == "DEMO_PLOT_HARVEST" and item["values"]["plot"] == "demo"
    # An officer asking for another country's observations is refused, as on the activity list:
    # an empty list would read as "nothing observed there".
    response = client.get(
        "/api/v1/observations", params={"country": "KEN"}, headers=world["officer"]
    )
    assert response.status_code == 400, response.text
    assert [(d["field"], d["code"]) for d in response.json()["detail"]] == [
        ("country", "out_of_scope")
    ]


@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"status": "lost"}, "status"),
        ({"country": "XXX"}, "country"),
        ({"region": "nowhere"}, "region"),
        ({"thematic_area": "TA9"}, "thematic_area"),
        ({"from": "2025-05-01", "to": "2025-01-01"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"site": "a-site"}, "site"),
    ],
)
def test_bad_filters_are_refused_with_their_name(
    client: TestClient, world: dict[str, Any], params: dict[str, str], field_name: str
) -> None:
    response = client.get("/api/v1/observations", params=params, headers=world["officer"])
    assert response.status_code == 400, response.text
    assert field_name in {d["field"] for d in response.json()["detail"]}


def test_every_bad_filter_is_named_at_once(client: TestClient, world: dict[str, Any]) -> None:
    params = {"status": "lost", "from": "yesterday", "country": "KEN", "region": "nowhere"}
    response = client.get("/api/v1/observations", params=params, headers=world["officer"])
    assert response.status_code == 400, response.text
    assert {(d["field"], d["code"]) for d in response.json()["detail"]} == {
        ("from", "bad_date"),
        ("status", "unknown_code"),
        ("country", "out_of_scope"),
        ("region", "unknown_code"),
    }


def test_one_observation_with_its_revisions(
    client: TestClient, field: Field, engine: Engine, world: dict[str, Any]
) -> None:
    form: Form = world["harvest"]
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "form_id": str(form.id),
        "form_version": 1,
        "observed_on": "2025-03-14",
        "values": {"plot": "control", "harvest_kg": 300},
    }
    edit = {"values": {"plot": "control", "harvest_kg": 310}, "notes": "second weighing"}
    push(
        client,
        field,
        [
            mutation(1, data, entity="observation"),
            mutation(2, edit, entity="observation", id=data["id"], base_version=1),
        ],
    )
    detail = client.get(f"/api/v1/observations/{data['id']}", headers=world["officer"])
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["version"] == 2 and body["values"] == {"plot": "control", "harvest_kg": 310}
    assert body["created_by"] == field.expert.username and body["device_id"] == str(field.device.id)
    revisions = client.get(
        f"/api/v1/observations/{data['id']}/revisions", headers=world["officer"]
    ).json()
    assert [r["version"] for r in revisions] == [1, 2]
    assert {(c["field"], c["before"], c["after"]) for c in revisions[1]["changes"]} == {
        ("values.harvest_kg", 300, 310),
        ("notes", "", "second weighing"),
    }
    assert revisions[1]["device_id"] == str(field.device.id)
    # Out of scope is a 404, like a record that does not exist.
    for path in (world["ken"], f"{world['ken']}/revisions", str(uuid.uuid4())):
        assert (
            client.get(f"/api/v1/observations/{path}", headers=world["officer"]).status_code == 404
        )
    review = client.post(
        f"/api/v1/observations/{world['ken']}/review",
        json={"action": "approve"},
        headers=world["officer"],
    )
    assert review.status_code == 404
    refused = client.post(
        f"/api/v1/observations/{data['id']}/review",
        json={"action": "approve"},
        headers=world["expert"],
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
