"""Settings' "Export an offline bundle": with nothing waiting, no file and words that say so;
with something waiting, the bundle as before."""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from field_app.backend import StoreBackend
from field_app.controllers.settings import NothingToExport, bundle_error
from field_app.i18n import set_language
from sync.bundle import BUNDLE_KEY_ID_META, BUNDLE_KEY_META
from tests.field_app.quiet_tablet import activity


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[StoreBackend]:
    found = StoreBackend(tmp_path / "tablet")
    found.store.set_meta(**{BUNDLE_KEY_META: "ab" * 32, BUNDLE_KEY_ID_META: "k1"})
    yield found
    found.close()


def test_nothing_waiting_writes_no_bundle_and_says_so(
    backend: StoreBackend, tmp_path: Path
) -> None:
    directory = tmp_path / "bundles"
    with pytest.raises(NothingToExport) as raised:
        backend.export_bundle(directory)
    assert not directory.exists() or not any(directory.iterdir())
    set_language("en")
    try:
        assert bundle_error(raised.value) == (
            "Nothing to export: everything is already on the server."
        )
        set_language("fr")
        assert bundle_error(raised.value) == (
            "Rien à exporter\u00a0: tout est déjà sur le serveur."
        )
    finally:
        set_language("en")


def test_a_waiting_change_is_still_written(backend: StoreBackend, tmp_path: Path) -> None:
    record = activity(str(uuid.uuid4()), "Field day")
    backend.store.save("activity", record)
    path = backend.export_bundle(tmp_path / "bundles")
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("bundle.json"))
    assert [m["id"] for m in manifest["mutations"]] == [record["id"]]
