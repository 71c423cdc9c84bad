"""A small field world for the sync tests: a project with a site, an expert with a tablet."""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.models import Device, User
from server.projects.models import Project, Site
from tests.factories import activity_data, make_device, make_project, make_site, make_user


@dataclass
class Field:
    project: Project
    other_project: Project
    site: Site
    expert: User
    teammate: User
    officer: User
    device: Device
    token: str
    teammate_device: Device
    teammate_token: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def activity(self, **overrides: Any) -> dict[str, Any]:
        values = activity_data(self.project, **overrides)
        values.pop("status", None)
        return values


@pytest.fixture
def field(session: Session) -> Field:
    project = make_project(session)
    other = make_project(
        session,
        code=f"KEN-{uuid.uuid4().hex[:6]}",
        country="KEN",
        thematic_area="TA2",
        solutions=["S4", "S5"],
    )
    site = make_site(session, project)
    expert = make_user(session, projects=[project])
    teammate = make_user(session, projects=[project])
    officer = make_user(session, role="country_officer", countries=["LSO"])
    device, token = make_device(session, expert)
    teammate_device, teammate_token = make_device(session, teammate)
    # The objects stay readable after commit without the test session opening a transaction
    # (on SQLite that would hold the write lock the server needs).
    session.expire_on_commit = False
    session.commit()
    session.expunge_all()
    return Field(
        project,
        other,
        site,
        expert,
        teammate,
        officer,
        device,
        token,
        teammate_device,
        teammate_token,
    )


def mutation(
    seq: int,
    data: dict[str, Any] | None,
    *,
    entity: str = "activity",
    op: str = "upsert",
    base_version: int = 0,
    id: str | None = None,
) -> dict[str, Any]:
    record_id = id or (data or {}).get("id") or str(uuid.uuid4())
    found: dict[str, Any] = {
        "seq": seq,
        "entity": entity,
        "op": op,
        "id": record_id,
        "base_version": base_version,
    }
    if data is not None:
        found["data"] = data
    return found


def push(
    client: TestClient,
    field: Field,
    mutations: list[dict[str, Any]],
    *,
    device: Device | None = None,
    token: str | None = None,
    gzipped: bool = False,
) -> Any:
    device = device or field.device
    body = json.dumps({"protocol": 1, "device_id": str(device.id), "mutations": mutations})
    headers = field.headers(token)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return client.post(
            "/api/v1/sync/push", content=gzip.compress(body.encode()), headers=headers
        )
    return client.post("/api/v1/sync/push", content=body, headers=headers)


def upload_chunk(
    client: TestClient,
    field: Field,
    photo_id: str,
    offset: int,
    chunk: bytes,
    *,
    headers: dict[str, str] | None = None,
) -> Any:
    """PATCH one chunk of a photo's bytes at ``offset`` from ``field``'s tablet."""
    return client.patch(
        f"/api/v1/attachments/{photo_id}",
        content=chunk,
        headers={
            **field.headers(),
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **(headers or {}),
        },
    )


def pull_all(
    client: TestClient,
    field: Field,
    *,
    token: str | None = None,
    cursor: str | None = None,
    limit: int = 500,
) -> tuple[list[dict[str, Any]], str]:
    changes: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/v1/sync/pull", params=params, headers=field.headers(token))
        assert response.status_code == 200, response.text
        body = response.json()
        changes += body["changes"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return changes, cursor
