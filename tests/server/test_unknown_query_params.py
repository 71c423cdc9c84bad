"""The management API refuses a query parameter it does not know (docs/errors.md#body-shapes):
a misspelt filter (``?contry=KE``) is a 400 ``unknown_field`` naming it, in the one answer that
also names the other parameters' problems, and the route does not run; it never quietly answers
unfiltered data. The tablet's protocol routes (sync, photos, enrolment) ignore unknown
parameters, so that an older server takes a newer app's requests; the OData feed answers its
own options; the dashboard's pages take whatever a browser's form sends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.config import Settings
from server.projects.models import Project
from tests.factories import rows
from tests.server.routes_walk import api_reads
from tests.server.test_authz_matrix import (  # noqa: F401 (sqlite_matrix: a fixture)
    TABLET,
    MatrixWorld,
    sqlite_matrix,
)
from tests.server.test_errors_all_at_once import _project

UNKNOWN = "zzz_unknown"


@pytest.fixture
def db_url(
    sqlite_matrix: tuple[Path, Path, MatrixWorld],  # noqa: F811
    tmp_path: Path,
) -> str:
    """The authorisation matrix's world (a record of every kind), on SQLite."""
    template, _, _ = sqlite_matrix
    path = tmp_path / "pilotmon.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def world(
    sqlite_matrix: tuple[Path, Path, MatrixWorld],  # noqa: F811
    db_url: str,
    settings: Settings,
) -> MatrixWorld:
    _, files, found = sqlite_matrix
    shutil.copytree(files, settings.attachments_dir, dirs_exist_ok=True)
    return found


def _problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == body["detail"][0]["code"]
    return {(e["field"], e["code"]) for e in body["detail"]}


def test_every_read_of_the_api_refuses_an_unknown_parameter(
    client: TestClient, world: MatrixWorld
) -> None:
    """Every GET of the API's schema (tests/server/routes_walk.py: called by an admin as the
    authorisation matrix calls it, real records in the path, its required parameters) plus one
    unknown parameter."""
    reads = api_reads(client, world)
    failures = []
    for read in reads:
        response = client.get(
            read.url, params=[*read.params, (UNKNOWN, "1")], headers=world.auth("admin")
        )
        if response.status_code != 400 or (UNKNOWN, "unknown_field") not in {
            (e["field"], e["code"]) for e in response.json()["detail"]
        }:
            failures.append(f"GET {read.path}: {response.status_code} {response.text[:200]}")
        elif "content-disposition" in response.headers:
            failures.append(f"GET {read.path}: a file started")
        elif "400" not in read.operation.get("responses", {}):
            failures.append(f"GET {read.path}: its 400 is not in the schema")
    assert len(reads) > 25
    assert not failures, "\n".join(failures)


def test_an_unknown_parameter_is_named_beside_the_others_problems(
    client: TestClient, world: MatrixWorld
) -> None:
    headers = world.auth("officer_lso")
    # FastAPI's limit (limit=0) and the list's own check (the status) in the same answer
    response = client.get(
        "/api/v1/activities",
        params={"contry": "KE", "limit": "0", "status": "nonsense"},
        headers=headers,
    )
    assert _problems(response) == {
        ("contry", "unknown_field"),
        ("limit", "value_range"),
        ("status", "unknown_code"),
    }
    assert response.json()["code"] == "unknown_field"
    # with every limit met, the rule checks still join in: Kenya is not the officer's
    response = client.get(
        "/api/v1/activities", params={"contry": "KE", "country": "KEN"}, headers=headers
    )
    assert _problems(response) == {("contry", "unknown_field"), ("country", "out_of_scope")}
    # alone, too; a declared parameter sent twice is not unknown, nor is an alias (from)
    response = client.get("/api/v1/activities", params={"contry": "KE"}, headers=headers)
    assert _problems(response) == {("contry", "unknown_field")}
    response = client.get(
        "/api/v1/activities?country=LSO&country=LSO&from=2025-01-01", headers=headers
    )
    assert response.status_code == 200, response.text


def test_no_token_comes_before_an_unknown_parameter(client: TestClient, world: MatrixWorld) -> None:
    response = client.get("/api/v1/activities", params={"contry": "KE"})
    assert response.status_code == 401
    expert = world.auth("expert_lso")
    response = client.get("/api/v1/audit", params={"contry": "KE"}, headers=expert)
    assert response.status_code == 403


def test_an_export_with_an_unknown_parameter_starts_no_file(
    client: TestClient, world: MatrixWorld
) -> None:
    headers = world.auth("officer_lso")
    for url in ("/api/v1/exports/activities.csv", "/api/v1/exports/activities.xlsx"):
        response = client.get(url, params={"contry": "KE"}, headers=headers)
        assert _problems(response) == {("contry", "unknown_field")}
        assert response.headers["content-type"] == "application/json"
        assert "content-disposition" not in response.headers
        # beside the filters' own checks, which run before the file would start
        response = client.get(url, params={"contry": "KE", "country": "KEN"}, headers=headers)
        assert _problems(response) == {("contry", "unknown_field"), ("country", "out_of_scope")}
    # the indicator exports' own check says the same
    response = client.get(
        "/api/v1/exports/indicators.csv",
        params={"indicator": "PARTICIPANTS", "contry": "KE"},
        headers=headers,
    )
    assert _problems(response) == {("contry", "unknown_field")}
    assert "content-disposition" not in response.headers


def test_nothing_is_written_for_a_write_with_an_unknown_parameter(
    client: TestClient, session: Session, world: MatrixWorld
) -> None:
    response = client.post(
        "/api/v1/projects",
        params={"dry_run": "1"},
        json=_project(code="LSO-DAA-901"),
        headers=world.auth("admin"),
    )
    assert _problems(response) == {("dry_run", "unknown_field")}
    assert rows(session, select(Project).where(Project.code == "LSO-DAA-901")) == []


def test_the_tablets_routes_ignore_unknown_parameters(
    client: TestClient, world: MatrixWorld
) -> None:
    """Protocol 1: an older server takes a newer app's requests (docs/protocol.md)."""
    assert client.get("/api/v1/sync/info", params={UNKNOWN: "1"}).status_code == 200
    response = client.get("/api/v1/sync/pull", params={UNKNOWN: "1"}, headers=world.auth(TABLET))
    assert response.status_code == 200, response.text
    photo = world.values("LSO")["photo"]
    response = client.get(
        f"/api/v1/attachments/{photo}", params={UNKNOWN: "1"}, headers=world.auth(TABLET)
    )
    assert response.status_code == 200, response.text
    # signing in (OAuth 2's token endpoint ignores what it does not know: RFC 6749, 3.2)
    response = client.post(
        "/api/v1/auth/token",
        params={UNKNOWN: "1"},
        data={"username": "nobody", "password": "wrong-password"},
    )
    assert response.status_code == 401, response.text
    # enrolment answers its body's problems, not the parameter
    response = client.post("/api/v1/devices/enrol", params={UNKNOWN: "1"}, json={})
    assert response.status_code == 422
    assert UNKNOWN not in {e["field"] for e in response.json()["detail"]}


def test_a_dashboard_page_takes_extra_parameters(client: TestClient, world: MatrixWorld) -> None:
    response = client.get("/login", params={UNKNOWN: "1"}, headers={"Accept": "text/html"})
    assert response.status_code == 200
