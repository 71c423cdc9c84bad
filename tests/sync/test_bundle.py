"""Offline bundles: export on the tablet, `pilotmon import-bundle` on the server, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from server.accounts.models import Device
from server.activities.models import Activity, Attachment
from server.cli import main
from server.columns import utcnow
from server.config import Settings, get_settings
from server.db import dispose_engines
from sync.bundle import export_bundle
from tests.server.sync.conftest import Field
from tests.server.test_cli import assert_one_line_error, run_cli
from tests.sync.conftest import Tablet

Result = subprocess.CompletedProcess[str]


def _env(db_url: str, settings: Settings) -> dict[str, str]:
    return {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(settings.data_dir)}


@pytest.fixture
def pilotmon(
    db_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., Result]]:
    """`pilotmon` run in this process (quicker than a subprocess), against the test database."""
    for key, value in _env(db_url, settings).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()

    def run(*args: str) -> Result:
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    yield run
    get_settings.cache_clear()
    dispose_engines()


def _offline_work(tablet: Tablet, field: Field, tmp_path: Path) -> tuple[list[str], str]:
    store, _, _ = tablet
    records = [field.activity(title=f"Offline day {i}") for i in range(3)]
    for record in records:
        store.save("activity", record)
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(50_000))
    photo_id = str(uuid.uuid4())
    store.add_photo(
        attachment_id=photo_id,
        activity_id=records[0]["id"],
        source=source,
        content_type="image/jpeg",
    )
    return [r["id"] for r in records], photo_id


def _count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_bundle_applies_once_and_a_later_sync_duplicates_nothing(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    db_url: str,
    settings: Settings,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    store, engine_, _ = tablet
    ids, photo_id = _offline_work(tablet, field, tmp_path)
    summary = export_bundle(store, tmp_path / "outbox.zip")
    assert (summary.mutations, summary.photos, summary.first_seq, summary.last_seq) == (4, 1, 1, 4)
    assert store.pending_count() == 4  # exporting changes nothing on the tablet

    result = run_cli("import-bundle", str(summary.path), env=_env(db_url, settings))  # the real CLI
    assert result.returncode == 0, result.stderr
    assert "4 applied" in result.stdout and "1 stored" in result.stdout
    assert _count(engine, Activity) == 3
    with Session(engine) as session:
        photo = session.get(Attachment, uuid.UUID(photo_id))
        assert photo is not None and photo.complete
        device = session.get(Device, field.device.id)
        assert device is not None and device.last_seq == 4

    again = pilotmon("import-bundle", str(summary.path))
    assert again.returncode == 0, again.stderr
    assert "4 duplicate" in again.stdout and "1 already there" in again.stdout

    report = engine_.sync_once()
    assert report.pushed == {"duplicate": 4}
    assert store.pending_count() == 0
    assert store.uploads(state="waiting") == []
    assert _count(engine, Activity) == 3
    assert {store.state("activity", i) for i in ids} == {"synced"}


def test_a_bundle_after_a_missing_one_is_refused_in_one_line(
    tablet: Tablet, field: Field, pilotmon: Callable[..., Result], tmp_path: Path
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    first = export_bundle(store, tmp_path / "first.zip")
    with zipfile.ZipFile(first.path) as bundle:
        manifest = json.loads(bundle.read("bundle.json"))
    manifest["mutations"] = manifest["mutations"][2:]  # as if seqs 1-2 went in a lost bundle
    later = tmp_path / "later.zip"
    with zipfile.ZipFile(later, "w") as bundle:
        bundle.writestr("bundle.json", json.dumps(manifest))
    assert_one_line_error(pilotmon("import-bundle", str(later)), "expects 1")


def test_a_revoked_tablets_bundle_needs_an_explicit_flag(
    tablet: Tablet, field: Field, engine: Engine, pilotmon: Callable[..., Result], tmp_path: Path
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None
        device.revoked_at = utcnow()
        session.commit()
    refused = pilotmon("import-bundle", str(path))
    assert_one_line_error(refused, "revoked", "--allow-revoked")
    assert _count(engine, Activity) == 0
    allowed = pilotmon("import-bundle", "--allow-revoked", str(path))
    assert allowed.returncode == 0, allowed.stderr
    assert _count(engine, Activity) == 3


def test_a_file_that_is_not_a_bundle_is_one_line(
    pilotmon: Callable[..., Result], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert_one_line_error(pilotmon("import-bundle", str(junk)), "cannot read")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as bundle:
        bundle.writestr("other.txt", "hello")
    assert_one_line_error(pilotmon("import-bundle", str(empty)), "bundle.json is missing")
