"""Tablets wired to an in-process server, for the client-side tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sync.engine import SyncEngine
from sync.store import DeviceStore
from tests.server.sync.conftest import Field, field  # noqa: F401
from tests.sync.transport import FaultyAdapter, client_for

Tablet = tuple[DeviceStore, SyncEngine, FaultyAdapter]


@pytest.fixture
def make_tablet(client: TestClient, tmp_path: Path) -> Iterator[Callable[..., Tablet]]:
    stores: list[DeviceStore] = []

    def make(device_id: str, token: str, *, name: str = "tablet") -> Tablet:
        store = DeviceStore(tmp_path / f"{name}.sqlite3", device_id=device_id)
        stores.append(store)
        sync_client, faults = client_for(client, token, faulty=True)
        assert faults is not None
        return store, SyncEngine(store, sync_client), faults

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def tablet(make_tablet: Callable[..., Tablet], field: Field) -> Tablet:  # noqa: F811
    return make_tablet(str(field.device.id), field.token)
