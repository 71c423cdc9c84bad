"""A target's indicator is one that applies to its project: a catalogue indicator, a global
form's result indicator, or one of that project's own forms'
(docs/results.md#targets-of-result-indicators). Another project's form's indicator is an
unknown indicator for it (422 ``unknown_code``), even for an admin, who may read every form; a
target made so before this rule counts in no achievement."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from server.projects.models import Target
from tests.factories import World


def _form(client: TestClient, world: World, code: str, who: str, project: str | None) -> None:
    body: dict[str, Any] = {
        "code": code,
        "title": {"en": code},
        "fields": [{"name": "n", "type": "integer", "label": {"en": "N"}}],
        "indicators": [
            {"code": f"{code}_SUM", "name": {"en": "Sum"}, "aggregate": "sum", "field": "n"}
        ],
        **({"project": project} if project else {}),
    }
    made = client.post("/api/v1/forms", json=body, headers=world.auth(who))
    assert made.status_code == 201, made.text
    published = client.post(f"/api/v1/forms/{made.json()['id']}/publish", headers=world.auth(who))
    assert published.status_code == 200, published.text


def _target(client: TestClient, world: World, indicator: str, who: str = "admin") -> Any:
    body = {
        "project_id": str(world.project_lso.id),
        "indicator": indicator,
        "period": "2026",
        "value": 100,
    }
    return client.post("/api/v1/targets", json=body, headers=world.auth(who))


def test_another_projects_form_indicator_is_unknown_for_a_target_even_to_an_admin(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    _form(client, world, "KEN_ONLY", "officer_ken", world.project_ken.code)
    _form(client, world, "LSO_OWN", "officer_lso", world.project_lso.code)
    _form(client, world, "EVERYONE", "admin", None)
    foreign = _target(client, world, "KEN_ONLY_SUM")
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["code"] == "unknown_code"
    assert foreign.json()["detail"][0]["field"] == "indicator"
    assert foreign.json()["detail"][0]["message"].count("KEN_ONLY_SUM") == 1  # not offered
    for own in ("LSO_OWN_SUM", "EVERYONE_SUM"):
        made = _target(client, world, own)
        assert made.status_code == 201, made.text
    lso = client.get("/api/v1/targets", headers=world.auth("officer_lso")).json()["items"]
    assert "KEN_ONLY_SUM" not in {t["indicator"] for t in lso}


def test_a_target_of_another_projects_indicator_made_before_counts_in_nothing(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    _form(client, world, "KEN_ONLY", "officer_ken", world.project_ken.code)
    session.add(
        Target(project_id=world.project_lso.id, indicator="KEN_ONLY_SUM", period="2026", value=9)
    )
    session.commit()
    for who in ("officer_lso", "hq", "admin"):
        values = client.get("/api/v1/indicators/TARGET_ACHIEVEMENT/values", headers=world.auth(who))
        assert values.status_code == 200, values.text
        assert "KEN_ONLY_SUM" not in {r["indicator"] for r in values.json()["rows"]}
