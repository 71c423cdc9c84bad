"""A tablet's last contact is noted on every authenticated request, not only on push."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from server.accounts.models import Device
from server.columns import as_utc, utcnow
from tests.server.sync.conftest import Field


def _seen(engine: Engine, device_id: uuid.UUID) -> datetime | None:
    with Session(engine) as session:
        device = session.get(Device, device_id)
        assert device is not None
        return as_utc(device.last_seen_at)


def _set_seen(engine: Engine, device_id: uuid.UUID, when: datetime | None) -> None:
    with Session(engine) as session:
        session.execute(update(Device).where(col(Device.id) == device_id).values(last_seen_at=when))
        session.commit()


@pytest.mark.parametrize(
    "request_",
    [
        ("GET", "/api/v1/sync/pull"),
        ("GET", "/api/v1/sync/info"),
        ("HEAD", f"/api/v1/attachments/{uuid.UUID(int=7)}"),
        ("GET", f"/api/v1/attachments/{uuid.UUID(int=7)}"),
    ],
)
def test_any_device_request_notes_the_tablet_as_seen(
    client: TestClient, field: Field, engine: Engine, request_: tuple[str, str]
) -> None:
    method, path = request_
    _set_seen(engine, field.device.id, None)
    before = utcnow()
    client.request(method, path, headers=field.headers())
    seen = _seen(engine, field.device.id)
    assert seen is not None and seen >= before - timedelta(seconds=1)
    assert _seen(engine, field.teammate_device.id) is None  # only the caller's tablet


def test_a_tablet_seen_within_the_minute_is_not_written_again(
    client: TestClient, field: Field, engine: Engine
) -> None:
    recently = utcnow() - timedelta(seconds=20)
    _set_seen(engine, field.device.id, recently)
    assert client.get("/api/v1/sync/pull", headers=field.headers()).status_code == 200
    assert _seen(engine, field.device.id) == recently

    long_ago = utcnow() - timedelta(days=3)
    _set_seen(engine, field.device.id, long_ago)
    assert client.get("/api/v1/sync/pull", headers=field.headers()).status_code == 200
    seen = _seen(engine, field.device.id)
    assert seen is not None and seen > long_ago + timedelta(days=2)


def test_a_revoked_or_unknown_token_is_not_noted(
    client: TestClient, field: Field, engine: Engine
) -> None:
    _set_seen(engine, field.device.id, None)
    with Session(engine) as session:
        session.execute(
            update(Device).where(col(Device.id) == field.device.id).values(revoked_at=utcnow())
        )
        session.commit()
    assert client.get("/api/v1/sync/pull", headers=field.headers()).status_code == 403
    # /sync/info stays public: a revoked or unknown token still gets the limits.
    assert client.get("/api/v1/sync/info", headers=field.headers()).status_code == 200
    assert client.get("/api/v1/sync/info", headers=field.headers("not-a-token")).status_code == 200
    assert _seen(engine, field.device.id) is None
