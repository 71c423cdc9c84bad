"""A bad request is told every problem at once (docs/errors.md#body-shapes): one 422 names the
body's limit problems (FastAPI's: a too-long name, a wrong type) and the route's rule problems
(a weak password, an unknown country, dates out of order) together, each with its code; a
request with one problem still gets exactly that one; and nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import Device, User
from server.activities.models import ClosedPeriod
from server.activities.review import quarter_of
from server.columns import utcnow
from server.projects import routes as project_routes
from server.projects.models import Project, Site, Target
from server.results.models import Form
from tests.factories import World, rows
from tests.server.accounts.test_users import _user
from tests.server.results.test_forms_api import SURVEY_HEADER, _import, _odk_form, _workbook


def _problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == body["detail"][0]["code"]
    for entry in body["detail"]:
        # (an XLSForm's entries also say where in the workbook and what, for the dashboard's words:
        # sheet, row, column, reason, problem, params)
        workbook = {"sheet", "row", "column", "reason", "problem", "params"}
        assert set(entry) - workbook == {"field", "code", "message"}
        assert entry["message"]
    return {(e["field"], e["code"]) for e in body["detail"]}


# --- people ------------------------------------------------------------------------------------


def test_a_new_person_is_told_every_problem_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("admin")
    # a limit problem (the name) and rule problems in other fields (password, country, project)
    response = client.post(
        "/api/v1/users",
        json=_user(
            full_name="x" * 201,
            password="passwordpassword",
            role="country_officer",
            countries=["XXX"],
        ),
        headers=headers,
    )
    assert _problems(response) == {
        ("full_name", "too_long"),
        ("password", "weak_password"),
        ("countries", "unknown_code"),
    }
    # two rule problems, no limit problem
    response = client.post(
        "/api/v1/users",
        json=_user(username="Bad Name!", projects=["NO-SUCH"]),
        headers=headers,
    )
    assert _problems(response) == {("username", "invalid"), ("projects", "not_found")}
    # a rule that depends on a refused field is skipped: the too-long password is named once
    response = client.post(
        "/api/v1/users", json=_user(password="p" * 257, countries=["XXX"]), headers=headers
    )
    assert _problems(response) == {
        ("password", "too_long"),
        ("countries", "unknown_code"),
        ("projects", "required"),
    }
    # one problem: exactly that one
    response = client.post(
        "/api/v1/users",
        json=_user(full_name="x" * 201, projects=[world.project_lso.code]),
        headers=headers,
    )
    assert _problems(response) == {("full_name", "too_long")}
    assert rows(session, select(User).where(User.username == "palesa")) == []


def test_a_change_of_person_is_told_every_problem_at_once(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    me = world.users["admin"]
    before = (me.full_name, me.password_hash, me.is_active)
    url = f"/api/v1/users/{me.id}"
    headers = world.auth("admin")
    # a limit problem beside a rule problem
    response = client.patch(
        url, json={"email": "e" * 255, "password": "passwordpassword"}, headers=headers
    )
    assert _problems(response) == {("email", "too_long"), ("password", "weak_password")}
    # two rule problems
    response = client.patch(
        url, json={"is_active": False, "password": "passwordpassword"}, headers=headers
    )
    assert _problems(response) == {("is_active", "forbidden"), ("password", "weak_password")}
    response = client.patch(url, json={"is_active": False}, headers=headers)
    assert _problems(response) == {("is_active", "forbidden")}
    session.expire_all()
    assert (me.full_name, me.password_hash, me.is_active) == before
    # statuses before the body's problems are unchanged
    assert client.patch(url, json={"email": "e" * 255}).status_code == 401


# --- projects, sites, targets ------------------------------------------------------------------


def _project(**overrides: Any) -> dict[str, Any]:
    body = {
        "code": "LSO-DAA-777",
        "name": "Potato storage demonstration",
        "kind": "DAA",
        "country": "LSO",
        "thematic_area": "TA2",
        "solutions": ["S5"],
        "partners": ["MAFSN"],
        "start_date": "2025-01-01",
        "end_date": "2026-12-31",
    }
    body.update(overrides)
    return body


def test_a_project_is_told_every_problem_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("admin")
    # a limit problem (the name) beside rule problems (an unknown kind, dates out of order)
    response = client.post(
        "/api/v1/projects",
        json=_project(name="n" * 201, kind="XYZ", end_date="2024-01-01"),
        headers=headers,
    )
    assert _problems(response) == {
        ("name", "too_long"),
        ("kind", "unknown_code"),
        ("end_date", "end_before_start"),
    }
    # a bad date is the limit's problem: the date order that needs it is not checked
    response = client.post(
        "/api/v1/projects", json=_project(start_date="soon", kind="XYZ"), headers=headers
    )
    assert _problems(response) == {("start_date", "bad_date"), ("kind", "unknown_code")}
    response = client.post("/api/v1/projects", json=_project(kind="XYZ"), headers=headers)
    assert _problems(response) == {("kind", "unknown_code")}
    assert rows(session, select(Project).where(Project.code == "LSO-DAA-777")) == []

    url = f"/api/v1/projects/{world.project_lso.id}"
    name = world.project_lso.name
    response = client.patch(
        url, json={"name": "n" * 201, "country": "XXX", "thematic_area": "TA9"}, headers=headers
    )
    assert _problems(response) == {
        ("name", "too_long"),
        ("country", "unknown_code"),
        ("thematic_area", "unknown_code"),
    }
    session.expire_all()
    assert world.project_lso.name == name
    # the scope's 404 comes before the body's problems for a record the caller cannot see
    response = client.patch(
        f"/api/v1/projects/{world.project_ken.id}",
        json={"name": "n" * 201, "country": "XXX"},
        headers=world.auth("officer_lso"),
    )
    assert _problems(response) == {("name", "too_long")}


def test_a_site_is_told_every_problem_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("officer_lso")
    body = {"project_id": str(world.project_lso.id), "name": "Plot", "lat": -29.3, "lon": 27.5}
    # a limit problem (a number that is not one) beside a rule problem (latitude out of range)
    response = client.post(
        "/api/v1/sites",
        json={**body, "lon": "east", "lat": 95, "admin_area": "a" * 201},
        headers=headers,
    )
    assert _problems(response) == {
        ("lon", "not_number"),
        ("lat", "lat_range"),
        ("admin_area", "too_long"),
    }
    # two rule problems: an unknown project and a latitude without its longitude
    response = client.post(
        "/api/v1/sites",
        json={**body, "project_id": str(world.project_ken.id), "lon": None},
        headers=headers,
    )
    assert {f for f, _ in _problems(response)} == {"project_id", "lon"}
    assert ("project_id", "not_found") in _problems(response)
    response = client.post("/api/v1/sites", json={**body, "lat": 95}, headers=headers)
    assert _problems(response) == {("lat", "lat_range")}
    # the rules judge the values as the model reads them: numbers sent as text are numbers
    response = client.post(
        "/api/v1/sites",
        json={**body, "lat": "-29.3", "lon": "27.5", "name": "n" * 201},
        headers=headers,
    )
    assert _problems(response) == {("name", "too_long")}
    assert rows(session, select(Site).where(Site.name == "Plot")) == []

    site = world.site_lso
    before = (site.name, site.lat, site.lon)
    response = client.patch(
        f"/api/v1/sites/{site.id}",
        json={"name": "n" * 201, "lat": 95, "status": "maybe"},
        headers=headers,
    )
    assert _problems(response) == {
        ("name", "too_long"),
        ("status", "unknown_code"),
        ("lat", "lat_range"),
    }
    session.expire_all()
    assert (site.name, site.lat, site.lon) == before


def test_a_target_is_told_every_problem_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("officer_lso")
    body = {
        "project_id": str(world.project_lso.id),
        "indicator": "PARTICIPANTS",
        "period": "2026",
        "value": 10,
    }
    response = client.post(
        "/api/v1/targets",
        json={**body, "value": -1, "period": "someday", "indicator": "NO_SUCH"},
        headers=headers,
    )
    assert _problems(response) == {
        ("value", "value_range"),
        ("period", "bad_period"),
        ("indicator", "unknown_code"),
    }
    # two rule problems: a baseline of a catalogue indicator, a bad period
    response = client.post(
        "/api/v1/targets", json={**body, "kind": "baseline", "period": "someday"}, headers=headers
    )
    assert _problems(response) == {("kind", "not_applicable"), ("period", "bad_period")}
    response = client.post("/api/v1/targets", json={**body, "kind": "baseline"}, headers=headers)
    assert _problems(response) == {("kind", "not_applicable")}
    assert rows(session, select(Target).where(Target.period == "2026")) == []


# --- closing a period --------------------------------------------------------------------------


def test_closing_a_period_is_told_every_problem_at_once(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    headers = world.auth("admin")
    url = "/api/v1/periods/close"
    # a limit problem (a country of four letters) beside a rule problem (not a quarter)
    response = client.post(url, json={"country": "LSOX", "period": "2025"}, headers=headers)
    assert _problems(response) == {("country", "too_long"), ("period", "bad_period")}
    # two rule problems
    response = client.post(url, json={"country": "XXX", "period": "2025Q5"}, headers=headers)
    assert _problems(response) == {("country", "unknown_code"), ("period", "bad_period")}
    response = client.post(url, json={"country": "LSO", "period": "2025Q5"}, headers=headers)
    assert _problems(response) == {("period", "bad_period")}
    # a quarter that has not ended, beside an unknown country
    this_quarter = quarter_of(utcnow().date())
    response = client.post(url, json={"country": "XXX", "period": this_quarter}, headers=headers)
    assert _problems(response) == {("country", "unknown_code"), ("period", "in_future")}
    assert rows(session, select(ClosedPeriod)) == []
    # the role's and the scope's answers are unchanged
    response = client.post(
        url, json={"country": "KEN", "period": "2025Q1"}, headers=world.auth("officer_lso")
    )
    assert response.status_code == 403
    assert client.post(url, json={"country": "LSO", "period": "2025Q1"}).status_code == 401


# --- forms -------------------------------------------------------------------------------------


def _form(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "PLOT_CHECK",
        "title": {"en": "Plot check"},
        "fields": [{"name": "harvest_kg", "type": "decimal", "label": {"en": "Harvest"}}],
        "indicators": [],
    }
    body.update(overrides)
    return body


def test_a_form_is_told_every_problem_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("officer_lso")
    mine = world.project_lso.code
    # a limit problem (a key forms do not have) beside a rule problem of the definition
    response = client.post(
        "/api/v1/forms", json=_form(colour="red", code="plot check", project=mine), headers=headers
    )
    assert _problems(response) == {("colour", "unknown_field"), ("code", "not_upper_snake")}
    # two rule problems: a project out of scope, a bad code
    response = client.post(
        "/api/v1/forms",
        json=_form(code="plot check", project=world.project_ken.code),
        headers=headers,
    )
    assert _problems(response) == {("project", "not_found"), ("code", "not_upper_snake")}
    response = client.post(
        "/api/v1/forms", json=_form(code="plot check", project=mine), headers=headers
    )
    assert _problems(response) == {("code", "not_upper_snake")}
    assert rows(session, select(Form)) == []

    created = client.post("/api/v1/forms", json=_form(project=mine), headers=headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/forms/{created.json()['id']}"
    fields = created.json()["fields"]
    response = client.patch(
        url,
        json={"colour": "red", "fields": [{"name": "Bad Name", "type": "decimal"}]},
        headers=headers,
    )
    problems = _problems(response)
    assert ("colour", "unknown_field") in problems
    assert {f for f, _ in problems} - {"colour"} and all(
        f.startswith("fields") for f, _ in problems - {("colour", "unknown_field")}
    )
    assert client.get(url, headers=headers).json()["fields"] == fields


def test_an_imported_xlsform_is_told_its_project_and_workbook_problems_at_once(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    refused = _workbook(
        survey=[SURVEY_HEADER, ["begin_group", "g", "G", None, None, None, None, None]],
        settings=[["form_id", "form_title"], ["refused", "Refused"]],
    )

    def send(data: bytes, project: str) -> Any:
        return _import(client, world, data, who="officer_lso", project=project)

    outside = world.project_ken.code
    response = send(refused, outside)
    problems = _problems(response)
    assert ("project", "not_found") in problems
    assert ("survey[2].type", "xlsform_unsupported") in problems
    assert response.json()["code"] == "not_found"
    # a workbook that reads well: the project beside nothing else
    assert _problems(send(_odk_form(), outside)) == {("project", "not_found")}
    assert _problems(send(refused, world.project_lso.code)) == {
        ("survey[2].type", "xlsform_unsupported")
    }
    assert rows(session, select(Form)) == []


# --- enrolling a tablet ------------------------------------------------------------------------


def enrolment_code(client: TestClient, world: World) -> str:
    """A code the Lesotho officer issues for the Lesotho expert's tablet."""
    issued = client.post(
        "/api/v1/devices/enrol-codes",
        json={"username": world.users["expert_lso"].username},
        headers=world.auth("officer_lso"),
    )
    assert issued.status_code == 201, issued.text
    code: str = issued.json()["code"]
    return code


def test_enrolling_is_told_the_codes_problem_beside_the_bodys(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    code = enrolment_code(client, world)
    body = {"device_id": str(uuid.uuid4()), "label": "Tablet 1", "app_version": "1.0"}
    url = "/api/v1/devices/enrol"
    response = client.post(url, json={**body, "label": "x" * 121, "enrolment_code": "NOPE-NOPE"})
    assert _problems(response) == {
        ("label", "too_long"),
        ("enrolment_code", "enrolment_code_unknown"),
    }
    # a good code beside a too-long label: only the label, and the code is not used up
    response = client.post(url, json={**body, "label": "x" * 121, "enrolment_code": code})
    assert _problems(response) == {("label", "too_long")}
    assert rows(session, select(Device)) == []
    assert client.post(url, json={**body, "enrolment_code": code}).status_code == 200
    response = client.post(url, json={**body, "enrolment_code": code})
    assert _problems(response) == {("enrolment_code", "enrolment_code_used")}


def test_a_bad_path_or_a_body_that_is_not_an_object_gets_the_limits_alone(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    headers = world.auth("admin")
    response = client.patch(
        "/api/v1/projects/not-an-id", json={"name": "n" * 201, "kind": "XYZ"}, headers=headers
    )
    assert _problems(response) == {("project_id", "bad_uuid"), ("name", "too_long")}
    response = client.post("/api/v1/projects", json=[_project()], headers=headers)
    assert _problems(response) == {("", "not_object")}


def test_a_rule_check_that_fails_leaves_the_limits_answer(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a 500 for the user's mistake: a broken rule check still answers the limits' 422."""

    def broken(session: Session, **_: Any) -> list[Any]:
        raise TypeError("a bug in the rule checks")

    monkeypatch.setattr(project_routes.create_project, "__pilotmon_rules__", broken)
    world = World(session)
    response = client.post(
        "/api/v1/projects", json=_project(name="n" * 201, kind="XYZ"), headers=world.auth("admin")
    )
    assert _problems(response) == {("name", "too_long")}


# --- query parameters --------------------------------------------------------------------------


def _bad_query(response: Any) -> set[tuple[str, str]]:
    """A bad query parameter is a 400 (docs/errors.md#statuses), every one named."""
    assert response.status_code == 400, response.text
    assert response.json()["code"] == response.json()["detail"][0]["code"]
    return {(e["field"], e["code"]) for e in response.json()["detail"]}


def test_bad_query_parameters_are_named_at_once(client: TestClient, session: Session) -> None:
    world = World(session)
    headers = world.auth("hq")
    # an unknown parameter beside the known ones' problems
    response = client.get(
        "/api/v1/indicators/PARTICIPANTS/values",
        params={"colour": "1", "group_by": "nope", "from": "bad"},
        headers=headers,
    )
    assert _bad_query(response) == {
        ("colour", "unknown_field"),
        ("group_by", "unknown_code"),
        ("from", "bad_date"),
    }
    response = client.get(
        "/api/v1/exports/iati.xml",
        params={"period_type": "weekly", "from": "bad", "status": "lost"},
        headers=headers,
    )
    assert _bad_query(response) == {
        ("period_type", "unknown_code"),
        ("from", "bad_date"),
        ("status", "unknown_code"),
    }
    response = client.get(
        "/api/v1/reports/summary",
        params={"period": "someday", "country": "XXX", "status": "lost"},
        headers=headers,
    )
    assert _bad_query(response) == {
        ("period", "bad_period"),
        ("country", "unknown_code"),
        ("status", "unknown_code"),
    }
    # a missing required parameter is a bad query too, as its other problems are
    for url, name in (
        ("/api/v1/reports/summary", "period"),
        ("/api/v1/exports/indicators.csv", "indicator"),
        ("/api/v1/exports/dhis2/dataValueSets.json", "period"),
    ):
        assert _bad_query(client.get(url, headers=headers)) == {(name, "required")}
    # a parameter FastAPI refuses beside the list's own checks
    response = client.get(
        "/api/v1/activities",
        params={"limit": "0", "status": "lost", "region": "nowhere"},
        headers=headers,
    )
    assert _bad_query(response) == {
        ("limit", "value_range"),
        ("status", "unknown_code"),
        ("region", "unknown_code"),
    }
    # the conflicts' list: a 400 as every list's, both problems at once (was a 422 naming
    # the limit alone)
    response = client.get(
        "/api/v1/conflicts", params={"status": "lost", "limit": "0"}, headers=headers
    )
    assert _bad_query(response) == {("limit", "value_range"), ("status", "unknown_code")}
    response = client.get("/api/v1/conflicts", params={"status": "lost"}, headers=headers)
    assert _bad_query(response) == {("status", "unknown_code")}
    # targets by a period that is not one; closed quarters of an unknown country, or (for a
    # Lesotho officer) of another country: a 400, not an empty list
    response = client.get(
        "/api/v1/targets", params={"period": "banana", "limit": "0"}, headers=headers
    )
    assert _bad_query(response) == {("period", "bad_period"), ("limit", "value_range")}
    response = client.get("/api/v1/periods", params={"country": "ZZZ"}, headers=headers)
    assert _bad_query(response) == {("country", "unknown_code")}
    response = client.get(
        "/api/v1/periods", params={"country": "KEN"}, headers=world.auth("officer_lso")
    )
    assert _bad_query(response) == {("country", "out_of_scope")}
    assert client.get("/api/v1/periods", params={"country": "lso"}, headers=headers).is_success
    assert client.get("/api/v1/targets", params={"period": "2025Q3"}, headers=headers).is_success
