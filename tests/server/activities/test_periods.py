"""Closing a reporting period: later submissions dated inside it are kept and shown as late."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.activities.models import Activity, ClosedPeriod
from server.activities.review import closed_period_for, parse_quarter, quarter_of
from server.columns import utcnow
from server.errors import ValidationFailed
from server.records.models import AuditEntry
from shared.indicators import period_bounds
from tests.factories import World, activity_data, fresh, make_device, rows


@pytest.mark.parametrize(
    ("day", "quarter"),
    [
        (date(2025, 1, 1), "2025Q1"),
        (date(2025, 3, 31), "2025Q1"),
        (date(2025, 4, 1), "2025Q2"),
        (date(2025, 9, 30), "2025Q3"),
        (date(2025, 12, 31), "2025Q4"),
    ],
)
def test_quarter_of(day: date, quarter: str) -> None:
    assert quarter_of(day) == quarter


@pytest.mark.parametrize("bad", ["2025", "2025Q5", "2025-03", "25Q1", "", "2025q1"])
def test_parse_quarter_refuses_what_is_not_a_quarter(bad: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_quarter(bad)
    assert caught.value.errors[0]["field"] == "period"


def test_a_quarter_is_closed_only_once_it_has_ended(client: TestClient, session: Session) -> None:
    """Activities of the running quarter still arrive on time until its last day: closing it
    (or a later one) would mark them late, and a closed quarter stays closed."""
    world = World(session)
    today = utcnow().date()
    this_quarter = quarter_of(today)
    next_quarter = quarter_of(period_bounds(this_quarter)[1] + timedelta(days=1))
    last_quarter = quarter_of(period_bounds(this_quarter)[0] - timedelta(days=1))
    for period in (this_quarter, next_quarter, "2100Q4"):  # 2999Q4: date_implausible
        response = client.post(
            "/api/v1/periods/close",
            json={"country": "LSO", "period": period},
            headers=world.auth("officer_lso"),
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert (error["field"], error["code"]) == ("period", "in_future")
        assert period in error["message"]
    assert rows(session, select(ClosedPeriod)) == []
    response = client.post(
        "/api/v1/periods/close",
        json={"country": "LSO", "period": last_quarter},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 201, response.text
    assert [p.period for p in rows(session, select(ClosedPeriod))] == [last_quarter]


def _push(
    client: TestClient,
    token: str,
    device_id: uuid.UUID,
    seq: int,
    data: dict[str, Any],
    base_version: int = 0,
) -> None:
    """A tablet's push of one activity, applied."""
    pushed = client.post(
        "/api/v1/sync/push",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "protocol": 1,
            "device_id": str(device_id),
            "mutations": [
                {
                    "seq": seq,
                    "entity": "activity",
                    "op": "upsert",
                    "id": data["id"],
                    "base_version": base_version,
                    "data": data,
                }
            ],
        },
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] == "applied", pushed.text


def test_close_a_period_then_a_late_submission_is_kept_and_flagged(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = client.post(
        "/api/v1/periods/close",
        json={"country": "lso", "period": "2025Q1"},
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["country"] == "LSO" and response.json()["period"] == "2025Q1"
    assert closed_period_for(session, "LSO", date(2025, 2, 10)) is not None
    assert closed_period_for(session, "LSO", date(2025, 4, 1)) is None
    assert closed_period_for(session, "KEN", date(2025, 2, 10)) is None
    session.rollback()

    # Closing twice is a conflict; listing shows it to the country and HQ, not to Kenya.
    again = client.post(
        "/api/v1/periods/close",
        json={"country": "LSO", "period": "2025Q1"},
        headers=world.auth("admin"),
    )
    assert again.status_code == 409
    assert client.get("/api/v1/periods", headers=world.auth("hq")).json()["total"] == 1
    assert client.get("/api/v1/periods", headers=world.auth("expert_lso")).json()["total"] == 1
    assert client.get("/api/v1/periods", headers=world.auth("officer_ken")).json()["total"] == 0

    # A tablet now pushes an activity dated inside the closed quarter.
    device, token = make_device(session, world.users["expert_lso"])
    session.commit()
    device_id = device.id
    session.rollback()
    data = activity_data(world.project_lso, start_date="2025-03-20", end_date="2025-03-20")
    _push(client, token, device_id, 1, data)
    assert fresh(session, Activity, uuid.UUID(data["id"])).late is True

    late = client.get(
        "/api/v1/activities",
        params={"late": "true", "status": "submitted"},
        headers=world.auth("officer_lso"),
    ).json()
    assert [a["id"] for a in late["items"]] == [data["id"]]
    assert late["items"][0]["late"] is True
    on_time = client.get(
        "/api/v1/activities", params={"late": "false"}, headers=world.auth("officer_lso")
    ).json()
    assert data["id"] not in {a["id"] for a in on_time["items"]}

    [entry] = rows(session, select(AuditEntry).where(AuditEntry.entity == "period"))
    assert entry.action == "close" and entry.country == "LSO"
    assert entry.actor_id == world.users["officer_lso"].id


def test_a_correction_after_the_closure_keeps_the_first_arrivals_late_mark(
    client: TestClient, session: Session
) -> None:
    """Lateness is judged by when the activity first reached the server (docs/product.md): one
    that arrived while its quarter was open, returned and corrected after the quarter closed,
    is not late; one that first arrived after the closure stays late when corrected."""
    world = World(session)
    device, token = make_device(session, world.users["expert_lso"])
    session.commit()
    device_id = device.id
    session.rollback()
    officer = world.auth("officer_lso")
    on_time = activity_data(world.project_lso, start_date="2025-03-20", end_date="2025-03-20")
    _push(client, token, device_id, 1, on_time)
    close = client.post(
        "/api/v1/periods/close", json={"country": "LSO", "period": "2025Q1"}, headers=officer
    )
    assert close.status_code == 201, close.text
    late = activity_data(
        world.project_lso, start_date="2025-03-21", end_date="2025-03-21", type="workshop"
    )
    _push(client, token, device_id, 2, late)
    seq = 3
    for data, expected in ((on_time, False), (late, True)):
        returned = client.post(
            f"/api/v1/activities/{data['id']}/review",
            json={"action": "return", "comment": "Split the farmers by age band"},
            headers=officer,
        )
        assert returned.status_code == 200, returned.text
        corrected = {**data, "notes": "Farmers split by age band, as asked."}
        _push(client, token, device_id, seq, corrected, base_version=returned.json()["version"])
        seq += 1
        stored = fresh(session, Activity, uuid.UUID(data["id"]))
        assert stored.notes == corrected["notes"] and stored.version > returned.json()["version"]
        assert stored.late is expected, data["title"]
        shown = client.get(f"/api/v1/activities/{data['id']}", headers=officer).json()
        assert shown["late"] is expected


def test_only_officers_of_the_country_and_admins_close_periods(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    body = {"country": "LSO", "period": "2025Q2"}
    for who in ("officer_ken", "hq", "expert_lso"):
        response = client.post("/api/v1/periods/close", json=body, headers=world.auth(who))
        assert response.status_code == 403, who
    assert rows(session, select(ClosedPeriod)) == []
    assert (
        client.post("/api/v1/periods/close", json=body, headers=world.auth("admin")).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "XXX", "period": "2025Q1"}, "country"),
        ({"country": "LSO", "period": "2025-03"}, "period"),
        ({"country": "LSO"}, "period"),
    ],
)
def test_bad_period_bodies_name_the_field(
    client: TestClient, session: Session, body, field: str
) -> None:
    world = World(session)
    response = client.post("/api/v1/periods/close", json=body, headers=world.auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field
