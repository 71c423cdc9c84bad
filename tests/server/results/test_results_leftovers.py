"""The results features' leftovers from the M&E officer's review (docs/results.md): what a
person reads when the server refuses a record or a form, through the real API and push; the
targets list judging its period once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.projects import service as projects_service
from server.projects.models import Site
from tests.factories import World, make_observation_form, make_site, observation_data
from tests.server.sync.conftest import Field, mutation, push
from tests.server.sync.conftest import field as field


def _foreign_site(engine: Engine, field: Field) -> Site:
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session, field.other_project)
        session.commit()
        return site


def test_a_site_of_another_project_is_refused_naming_the_project_by_its_code(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """An activity or a measurement at another project's site is refused on ``site_id``, and
    the message names the record's project as people know it, by its code, never its id."""
    elsewhere = _foreign_site(engine, field)
    with Session(engine, expire_on_commit=False) as session:
        form = make_observation_form(session)
        session.commit()
    at_foreign_site: list[dict[str, Any]] = [
        mutation(1, field.activity(site_id=str(elsewhere.id))),
        mutation(
            2,
            observation_data(field.project, form, site_id=str(elsewhere.id)),
            entity="observation",
        ),
    ]
    answer = push(client, field, at_foreign_site).json()
    for result in answer["results"]:
        assert result["status"] == "rejected", answer
        [error] = result["errors"]
        assert (error["field"], error["code"]) == ("site_id", "site_not_in_project")
        assert f"project {field.project.code};" in error["message"]
        assert str(field.project.id) not in error["message"]
        assert str(uuid.UUID(str(elsewhere.id))) in error["message"]  # the site sent, as sent


def test_the_targets_list_judges_its_period_once_with_the_indicator(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route judged the period with the indicator, then the service judged it again: one
    check now, every problem of the query in one 400."""
    world = World(session)
    session.commit()
    judged: list[str] = []
    real = projects_service.period_issue

    def counted(period: str, *args: Any) -> Any:
        judged.append(period)
        return real(period, *args)

    monkeypatch.setattr(projects_service, "period_issue", counted)
    listed = client.get("/api/v1/targets", params={"period": "2025"}, headers=world.auth("admin"))
    assert listed.status_code == 200, listed.text
    assert {t["period"] for t in listed.json()["items"]} == {"2025"}
    assert judged == ["2025"]
    judged.clear()
    refused = client.get(
        "/api/v1/targets",
        params={"period": "2025Q5", "indicator": "NOPE"},
        headers=world.auth("admin"),
    )
    assert refused.status_code == 400
    assert [(d["field"], d["code"]) for d in refused.json()["detail"]] == [
        ("period", "bad_period"),
        ("indicator", "unknown_code"),
    ]
    assert judged == ["2025Q5"]


def test_a_form_code_another_scope_holds_is_taken_and_the_message_says_why(
    client: TestClient, session: Session
) -> None:
    """Codes are shared by every scope, by design: the 409 says the code is taken and that
    codes are shared, rather than that it "already exists in another scope"."""
    world = World(session)
    session.commit()
    body: dict[str, Any] = {
        "code": "SHARED_CHECK",
        "title": {"en": "Shared check"},
        "fields": [{"name": "kg", "type": "decimal", "label": {"en": "kg"}}],
    }
    assert client.post("/api/v1/forms", json=body, headers=world.auth("admin")).status_code == 201
    elsewhere = client.post(
        "/api/v1/forms",
        json={**body, "project": world.project_lso.code},
        headers=world.auth("officer_lso"),
    )
    assert elsewhere.status_code == 409
    assert elsewhere.json() == {
        "code": "already_exists",
        "detail": "code: the form code 'SHARED_CHECK' is taken; form and indicator codes are "
        "shared by every country and project, so choose another code",
    }
