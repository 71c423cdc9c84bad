"""Tablets wired to an in-process server, for the client-side tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sync.engine import SyncEngine
from sync.store import DeviceStore
from tests.server.sync.conftest import Field, field  # noqa: F401
from tests.sync.receipts import Issuer
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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeviceStore]:
    """A tablet's store of its own, closed after the test (a module may define its own)."""
    found = DeviceStore(tmp_path / "tablet.sqlite3")
    yield found
    found.close()


@pytest.fixture
def issuer(store: DeviceStore) -> Issuer:
    """A server key the store pinned at enrolment."""
    key = Issuer()
    store.pin_receipt_keys([key.published], source="enrolment")
    return key
