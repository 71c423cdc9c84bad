"""The results features' leftovers from the M&E officer's review (docs/results.md): what a
person reads when the server refuses a record or a form, through the real API and push."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.projects.models import Site
from tests.factories import make_observation_form, make_site, observation_data
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
