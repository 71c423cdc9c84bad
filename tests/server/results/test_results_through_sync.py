"""Result indicators are live through the real write path: observations of the shipped
DEMO_PLOT_HARVEST form pushed by a tablet, edited, reviewed and deleted, answer YIELD_KG_HA
at once, demonstration against control (docs/results.md#result-indicators)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.results.forms import ensure_shipped_forms
from server.results.models import Form
from server.results.shipped import SHIPPED_FORMS
from tests.factories import make_access_token
from tests.server.sync.conftest import Field, mutation, push
from tests.server.sync.conftest import field as field


@pytest.fixture
def harvest(engine: Engine) -> Form:
    with Session(engine, expire_on_commit=False) as session:
        ensure_shipped_forms(session, SHIPPED_FORMS)
        session.commit()
        form = session.exec(
            select(Form).where(col(Form.code) == "DEMO_PLOT_HARVEST", col(Form.version) == 1)
        ).one()
        session.expunge(form)
        return form


def _plot(field: Field, form: Form, plot: str, harvest_kg: float, area: float) -> dict[str, Any]:
    values: dict[str, Any] = {
        "crop": "potato",
        "plot": plot,
        "plot_area_m2": area,
        "harvest_kg": harvest_kg,
        "harvest_date": "2025-03-10",
    }
    if plot == "demo":  # the practice is asked of demonstration plots only
        values["practice"] = "improved_seed"
    return {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "site_id": str(field.site.id),
        "form_id": str(form.id),
        "form_version": form.version,
        "observed_on": "2025-03-14",
        "values": values,
        "notes": "",
    }


def _yield(client: TestClient, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    answer = client.get(
        "/api/v1/indicators/YIELD_KG_HA/values",
        params={"group_by": "project", "from": "2025-01-01", "to": "2025-12-31", **query},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def test_pushed_observations_answer_the_yield_at_once_and_follow_edits_reviews_and_deletes(
    client: TestClient, field: Field, harvest: Form, engine: Engine
) -> None:
    with Session(engine) as session:
        officer = {"Authorization": f"Bearer {make_access_token(session, field.officer)}"}
        session.commit()
    demo = _plot(field, harvest, "demo", 1800.0, 1000.0)  # 18 000 kg/ha
    control = _plot(field, harvest, "control", 1000.0, 1000.0)  # 10 000 kg/ha
    answer = push(
        client,
        field,
        [mutation(1, demo, entity="observation"), mutation(2, control, entity="observation")],
    )
    assert [r["status"] for r in answer.json()["results"]] == ["applied", "applied"]

    [row] = _yield(client, officer)
    assert row["value"] == pytest.approx(14000.0)  # 10 000 × 2 800 kg / 2 000 m²
    assert row["compare"] == {"demo": pytest.approx(18000.0), "control": pytest.approx(10000.0)}
    assert row["uplift"] == pytest.approx(80.0)

    # The tablet corrects the control plot's harvest: the answer follows before anyone rebuilds.
    edit = mutation(
        3,
        {"values": {**control["values"], "harvest_kg": 1200.0}},
        entity="observation",
        base_version=1,
        id=control["id"],
    )
    assert push(client, field, [edit]).json()["results"][0]["status"] == "applied"
    [row] = _yield(client, officer)
    assert row["compare"]["control"] == pytest.approx(12000.0)
    assert row["uplift"] == pytest.approx(50.0)

    # Approved observations only: none yet; the officer approves the demonstration plot.
    assert _yield(client, officer, status="approved") == []
    review = client.post(
        f"/api/v1/observations/{demo['id']}/review", json={"action": "approve"}, headers=officer
    )
    assert review.status_code == 200, review.text
    [row] = _yield(client, officer, status="approved")
    assert row["compare"] == {"demo": pytest.approx(18000.0), "control": None}
    assert row["uplift"] is None

    # Deleting the control plot leaves the demonstration alone in its group.
    tombstone = mutation(
        4, None, entity="observation", op="delete", base_version=2, id=control["id"]
    )
    assert push(client, field, [tombstone]).json()["results"][0]["status"] == "applied"
    [row] = _yield(client, officer)
    assert row["value"] == pytest.approx(18000.0)
    assert row["compare"]["control"] is None
