"""Projects, sites and targets over the API: validated, scoped, audited, pulled by tablets."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.projects.models import Project, Site, Target
from server.records.models import AuditEntry, Change
from tests.factories import World, fresh, rows
from tests.server.results.helpers import indicator, make_form


def _project(**overrides: Any) -> dict[str, Any]:
    body = {
        "code": "LSO-DAA-777",
        "name": "Potato storage demonstration",
        "kind": "DAA",
        "country": "LSO",
        "thematic_area": "TA2",
        "solutions": ["S5"],
        "partners": ["MAFSN", "NAFRA"],
        "priority_product": "potato",
        "start_date": "2025-01-01",
        "end_date": "2026-12-31",
    }
    body.update(overrides)
    return body


def test_create_and_update_a_project(client: TestClient, session: Session) -> None:
    world = World(session)
    response = client.post("/api/v1/projects", json=_project(), headers=world.auth("officer_lso"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["region"] == "RBJ" and created["version"] == 1

    patched = client.patch(
        f"/api/v1/projects/{created['id']}",
        json={"name": "Potato storage, phase 2", "end_date": "2027-06-30"},
        headers=world.auth("officer_lso"),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Potato storage, phase 2"
    assert patched.json()["version"] == 2

    [change_v1, change_v2] = rows(
        session,
        select(Change).where(Change.entity == "project").order_by(Change.seq),  # type: ignore[arg-type]
    )
    assert (change_v1.version, change_v2.version) == (1, 2)
    audit = rows(session, select(AuditEntry).where(AuditEntry.entity == "project"))
    assert [a.action for a in audit] == ["create", "update"]
    assert audit[1].before == {"name": "Potato storage demonstration", "end_date": "2026-12-31"}
    assert audit[1].after == {"name": "Potato storage, phase 2", "end_date": "2027-06-30"}
    assert all(a.country == "LSO" for a in audit)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"solutions": ["S42"]}, "solutions"),
        ({"thematic_area": "TA9"}, "thematic_area"),
        ({"kind": "XYZ"}, "kind"),
        ({"country": "ATL"}, "country"),
        ({"start_date": "2027-01-01", "end_date": "2026-01-01"}, "end_date"),
        ({"end_date": "2099-01-01"}, "end_date"),
        ({"start_date": "1999-12-31"}, "start_date"),
        ({"code": ""}, "code"),
        ({"name": "bad\x00name"}, "name"),
    ],
)
def test_bad_projects_get_422_naming_the_field(
    client: TestClient, session: Session, overrides: dict[str, Any], field: str
) -> None:
    world = World(session)
    response = client.post(
        "/api/v1/projects", json=_project(**overrides), headers=world.auth("admin")
    )
    assert response.status_code == 422, response.text
    assert field in {e["field"].split("[")[0].split(".")[0] for e in response.json()["detail"]}
    assert rows(session, select(Project).where(Project.code == "LSO-DAA-777")) == []


def test_project_writes_follow_the_roles(client: TestClient, session: Session) -> None:
    world = World(session)
    assert (
        client.post(
            "/api/v1/projects", json=_project(country="KEN"), headers=world.auth("officer_lso")
        ).status_code
        == 403
    )
    for who in ("hq", "expert_lso"):
        assert (
            client.post("/api/v1/projects", json=_project(), headers=world.auth(who)).status_code
            == 403
        )
    url = f"/api/v1/projects/{world.project_lso.id}"
    assert (
        client.patch(url, json={"name": "x"}, headers=world.auth("expert_lso")).status_code == 403
    )
    assert (
        client.patch(url, json={"name": "x"}, headers=world.auth("officer_ken")).status_code == 404
    )
    # An officer cannot move a project out of their countries.
    assert (
        client.patch(url, json={"country": "KEN"}, headers=world.auth("officer_lso")).status_code
        == 403
    )
    # Duplicate codes are a conflict.
    response = client.post(
        "/api/v1/projects", json=_project(code=world.project_ken.code), headers=world.auth("admin")
    )
    assert response.status_code == 409
    assert fresh(session, Project, world.project_lso.id).name == world.project_lso.name


def test_a_field_site_waits_for_approval(client: TestClient, session: Session) -> None:
    world = World(session)
    body = {
        "project_id": str(world.project_lso.id),
        "name": "Roma valley plot",
        "admin_area": "Maseru",
        "lat": -29.45,
        "lon": 27.72,
    }
    response = client.post("/api/v1/sites", json=body, headers=world.auth("expert_lso"))
    assert response.status_code == 201, response.text
    site = response.json()
    assert site["status"] == "pending"

    pending = client.get(
        "/api/v1/sites", params={"status": "pending"}, headers=world.auth("officer_lso")
    ).json()
    assert [s["id"] for s in pending["items"]] == [site["id"]]
    assert (
        client.patch(
            f"/api/v1/sites/{site['id']}",
            json={"status": "approved"},
            headers=world.auth("expert_lso"),
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/v1/sites/{site['id']}",
            json={"status": "approved"},
            headers=world.auth("officer_ken"),
        ).status_code
        == 404
    )
    approved = client.patch(
        f"/api/v1/sites/{site['id']}",
        json={"status": "approved"},
        headers=world.auth("officer_lso"),
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["version"] == 2
    actions = rows(session, select(AuditEntry.action).where(AuditEntry.entity == "site"))
    assert actions == ["create", "approve"]

    # An officer's own site is approved at once; HQ may not add sites.
    body["name"] = "Officer plot"
    assert (
        client.post("/api/v1/sites", json=body, headers=world.auth("officer_lso")).json()["status"]
        == "approved"
    )
    assert client.post("/api/v1/sites", json=body, headers=world.auth("hq")).status_code == 403


def test_a_site_outside_its_projects_country_is_refused(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    body = {
        "project_id": str(world.project_lso.id),
        "name": "Nairobi by mistake",
        "lat": -1.29,
        "lon": 36.82,
    }
    response = client.post("/api/v1/sites", json=body, headers=world.auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "lat"
    assert response.json()["detail"][0]["code"] == "outside_country"
    # Another country's project is not even named.
    body = {"project_id": str(world.project_ken.id), "name": "x"}
    response = client.post("/api/v1/sites", json=body, headers=world.auth("officer_lso"))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "project_id", "code": "not_found", "message": "no such project"}
    ]
    assert len(rows(session, select(Site))) == 2


def test_targets_are_validated_unique_and_updatable(client: TestClient, session: Session) -> None:
    world = World(session)
    body = {
        "project_id": str(world.project_lso.id),
        "indicator": "WOMEN_PARTICIPANTS",
        "period": "2025Q3",
        "value": 120,
    }
    response = client.post("/api/v1/targets", json=body, headers=world.auth("officer_lso"))
    assert response.status_code == 201, response.text
    target = response.json()
    assert (
        client.post("/api/v1/targets", json=body, headers=world.auth("officer_lso")).status_code
        == 409
    )
    for bad, field in (
        ({"indicator": "HAPPINESS"}, "indicator"),
        ({"period": "Q3-2025"}, "period"),
        ({"indicator": "WOMEN_SHARE", "value": 140}, "value"),
        ({"indicator": "ACTIVITIES", "sex": "female"}, "sex"),
    ):
        response = client.post("/api/v1/targets", json={**body, **bad}, headers=world.auth("admin"))
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["field"] == field
    assert client.post("/api/v1/targets", json=body, headers=world.auth("hq")).status_code == 403

    updated = client.patch(
        f"/api/v1/targets/{target['id']}", json={"value": 150}, headers=world.auth("officer_lso")
    )
    assert updated.status_code == 200
    assert updated.json()["value"] == 150 and updated.json()["version"] == 2
    assert (
        client.patch(
            f"/api/v1/targets/{target['id']}", json={"value": 1}, headers=world.auth("officer_ken")
        ).status_code
        == 404
    )
    assert fresh(session, Target, world.target_lso.id).value == 500


def test_a_target_meets_its_project_and_a_mistyped_one_can_be_removed(
    client: TestClient, session: Session
) -> None:
    world = World(session)  # projects from 2024 to two years on
    project = world.project_lso
    body = {"project_id": str(project.id), "indicator": "PARTICIPANTS", "value": 120}
    after = str(project.end_date.year + 1)
    for period, kind in ((after, "target"), ("2023Q4", "target"), (after, "baseline")):
        response = client.post(
            "/api/v1/targets",
            json={**body, "period": period, "kind": kind},
            headers=world.auth("officer_lso"),
        )
        assert response.status_code == 422, (period, kind)
        assert ("period", "outside_project_dates") in {
            (d["field"], d["code"]) for d in response.json()["detail"]
        }
    # a year that starts before the project still meets it
    made = client.post(
        "/api/v1/targets", json={**body, "period": "2024"}, headers=world.auth("officer_lso")
    )
    assert made.status_code == 201, made.text
    target_id = made.json()["id"]
    url = f"/api/v1/targets/{target_id}"

    assert client.delete(url, headers=world.auth("hq")).status_code == 403
    assert client.delete(url, headers=world.auth("expert_lso")).status_code == 403
    assert client.delete(url, headers=world.auth("officer_ken")).status_code == 404
    assert client.delete(url, headers=world.auth("officer_lso")).status_code == 204
    assert client.get(url, headers=world.auth("officer_lso")).status_code == 404
    assert client.delete(url, headers=world.auth("officer_lso")).status_code == 404
    [entry] = rows(
        session,
        select(AuditEntry).where(AuditEntry.entity_id == target_id, AuditEntry.action == "delete"),
    )
    assert entry.country == "LSO" and entry.before is not None
    assert (entry.before["period"], entry.before["value"]) == ("2024", 120)
    # the key is free again: the corrected target can be set
    again = client.post(
        "/api/v1/targets", json={**body, "period": "2024"}, headers=world.auth("officer_lso")
    )
    assert again.status_code == 201, again.text


def test_only_officers_and_admins_create_projects(client: TestClient, session: Session) -> None:
    # A field expert or an HQ analyst was told "you may create projects only in no country"
    # (out_of_scope): their role may not, wherever the project is.
    world = World(session)
    for who in ("expert_lso", "hq"):
        refused = client.post("/api/v1/projects", json=_project(), headers=world.auth(who))
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json()["code"] == "forbidden", who
    outside = client.post(
        "/api/v1/projects", json=_project(country="KEN"), headers=world.auth("officer_lso")
    )
    assert outside.status_code == 403 and outside.json()["code"] == "out_of_scope"
    assert rows(session, select(Project).where(Project.code == "LSO-DAA-777")) == []


def test_lists_are_paginated_and_scoped(client: TestClient, session: Session) -> None:
    world = World(session)
    for who, expected in (("admin", 2), ("hq", 2), ("officer_lso", 1), ("expert_ken", 1)):
        body = client.get("/api/v1/projects", headers=world.auth(who)).json()
        assert body["total"] == expected, who
    page = client.get(
        "/api/v1/projects", params={"limit": 1, "offset": 1}, headers=world.auth("admin")
    ).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    # Another country is refused, as the activities' list refuses it: an empty list would
    # read as "no projects there".
    outside = client.get(
        "/api/v1/projects", params={"country": "KEN"}, headers=world.auth("officer_lso")
    )
    assert outside.status_code == 400
    assert [(e["field"], e["code"]) for e in outside.json()["detail"]] == [
        ("country", "out_of_scope")
    ]
    # Codes in any case, as the other lists take them; unknown ones named, all at once.
    for params, total in (
        ({"country": "ken"}, 1),
        ({"kind": "cpp"}, 2),
        ({"kind": "CPP", "region": "rbj"}, 1),
        ({"thematic_area": "ta1"}, 1),
    ):
        body = client.get("/api/v1/projects", params=params, headers=world.auth("admin"))
        assert body.status_code == 200 and body.json()["total"] == total, (params, body.text)
    unknown = client.get(
        "/api/v1/projects",
        params={"kind": "pilot", "thematic_area": "TA9", "region": "XYZ", "country": "ZZZ"},
        headers=world.auth("admin"),
    )
    assert unknown.status_code == 400
    assert {(e["field"], e["code"]) for e in unknown.json()["detail"]} == {
        ("kind", "unknown_code"),
        ("thematic_area", "unknown_code"),
        ("region", "unknown_code"),
        ("country", "unknown_code"),
    }
    assert (
        client.get(
            "/api/v1/projects", params={"limit": 501}, headers=world.auth("admin")
        ).status_code
        == 400
    )


def test_patching_null_clears_optional_fields_and_refuses_required_ones(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    url = f"/api/v1/projects/{world.project_lso.id}"
    response = client.patch(url, json={"priority_product": None}, headers=world.auth("admin"))
    assert response.status_code == 200 and response.json()["priority_product"] is None
    response = client.patch(url, json={"name": None}, headers=world.auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "name"


def test_a_target_with_too_many_zeros_is_refused(client: TestClient, session: Session) -> None:
    # 1e308 was stored as a target of activities; nothing a pilot counts comes near 10^12.
    world = World(session)
    body = {"project_id": str(world.project_lso.id), "indicator": "PARTICIPANTS", "period": "2026"}
    for value in (1e13, 1e308):
        response = client.post(
            "/api/v1/targets", json={**body, "value": value}, headers=world.auth("officer_lso")
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["field"] == "value"
        assert response.json()["code"] == "value_range"
        response = client.patch(
            f"/api/v1/targets/{world.target_lso.id}",
            json={"value": value},
            headers=world.auth("officer_lso"),
        )
        assert response.status_code == 422 and response.json()["code"] == "value_range"
    ok = client.post("/api/v1/targets", json={**body, "value": 1e12}, headers=world.auth("admin"))
    assert ok.status_code == 201, ok.text
    assert fresh(session, Target, world.target_lso.id).value == 500


def test_a_target_of_a_count_is_a_whole_number(client: TestClient, session: Session) -> None:
    """People, participations, activities and countries come whole: 1234.5 participants is
    refused (422 not_integer at value), on creation and on change; a count of observations too;
    expert days and a ratio may be fractions."""
    world = World(session)
    make_form(
        session,
        code="T_STORE",
        fields=[{"name": "kg", "type": "decimal", "label": {"en": "Kg"}, "unit": "kg"}],
        indicators=[
            indicator("T_VISITS", "count", unit="checks"),
            indicator("T_KG", "mean", field="kg", unit="kg"),
        ],
    )
    session.commit()
    officer = world.auth("officer_lso")
    body = {"project_id": str(world.project_lso.id), "period": "2026"}
    for code in ("PARTICIPANTS", "UNIQUE_PARTICIPANTS", "ACTIVITIES", "T_VISITS"):
        response = client.post(
            "/api/v1/targets", json={**body, "indicator": code, "value": 1234.5}, headers=officer
        )
        assert response.status_code == 422, (code, response.text)
        [problem] = response.json()["detail"]
        assert (problem["field"], problem["code"]) == ("value", "not_integer"), code
        assert "whole number" in problem["message"]
    response = client.patch(
        f"/api/v1/targets/{world.target_lso.id}", json={"value": 500.5}, headers=officer
    )
    assert response.status_code == 422 and response.json()["code"] == "not_integer"
    assert fresh(session, Target, world.target_lso.id).value == 500
    for code in ("EXPERT_DAYS", "WOMEN_SHARE", "T_KG"):
        response = client.post(
            "/api/v1/targets", json={**body, "indicator": code, "value": 12.5}, headers=officer
        )
        assert response.status_code == 201, (code, response.text)
    whole = client.post(
        "/api/v1/targets", json={**body, "indicator": "ACTIVITIES", "value": 12.0}, headers=officer
    )
    assert whole.status_code == 201, whole.text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_target_that_is_not_a_number_is_said_so(
    client: TestClient, session: Session, value: str
) -> None:
    """ "NaN" and "Infinity" parse as floats but are no number: not_number, not a range."""
    world = World(session)
    body = {"project_id": str(world.project_lso.id), "indicator": "PARTICIPANTS", "period": "2026"}
    officer = world.auth("officer_lso")
    for response in (
        client.post("/api/v1/targets", json={**body, "value": value}, headers=officer),
        client.patch(
            f"/api/v1/targets/{world.target_lso.id}", json={"value": value}, headers=officer
        ),
    ):
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert (problem["field"], problem["code"]) == ("value", "not_number")
        assert "number" in problem["message"] and "less than" not in problem["message"]
