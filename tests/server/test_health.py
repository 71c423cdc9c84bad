"""The health check: public, reports database reachability and the schema revision."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.db import make_engine
from server.migrate import head_revision


def test_health_reports_database_and_current_schema(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema"]["revision"] == head_revision()
    assert body["schema"]["up_to_date"] is True
    assert body["server_time"]


def test_health_probes_do_not_fill_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A monitoring probe every few seconds logged alembic's "Context impl SQLiteImpl." and
    # "Will assume non-transactional DDL." at INFO, each time.
    caplog.set_level(logging.INFO)
    for _ in range(2):
        assert client.get("/api/v1/health").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []


def test_health_is_503_when_schema_is_missing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    settings = Settings(environment="test", data_dir=tmp_path, database_url=url)
    with TestClient(create_app(settings, make_engine(url))) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert "init-db" in response.json()["detail"]


def test_health_is_503_when_database_unreachable(tmp_path) -> None:
    url = "postgresql://nobody:wrong@127.0.0.1:1/none"
    settings = Settings(environment="test", data_dir=tmp_path, database_url=url)
    with TestClient(create_app(settings, make_engine(url))) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
