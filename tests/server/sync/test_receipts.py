"""Custody receipts, server side (docs/protocol.md#custody-receipts): issued when a record is
complete, to the device that pushed it only, signed by a published key that survives rotation,
backup and restore, and checked again by ``pilotmon receipts verify``."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select
from sqlmodel import Session, col

from server.config import Settings
from server.errors import ConfigError
from server.ops.backup import create_backup
from server.ops.restore import restore_backup
from server.projects.models import Site
from server.receipts.cli import verify_summary
from server.receipts.verify import FORMAT, verify_receipts
from server.records.models import Change, Receipt
from server.records.receipts import (
    Signer,
    current_signer,
    published_keys,
    rotate_key,
    signed,
)
from shared.receipts import ReceiptError, load_public_keys, verify
from tests.photos import JPEG_HEAD
from tests.server.ops.test_backup_restore import (  # noqa: F401 - fixtures
    fresh_postgresql,
    fresh_sqlite,
)
from tests.server.sync.conftest import Field, mutation, pull_all, push, upload_chunk
from tests.server.sync.test_site_writes import _officer
from tests.server.test_cli import run_cli


def _jpeg(size: int = 3000) -> bytes:
    return JPEG_HEAD + os.urandom(size)


def _photo(activity_id: str, data: bytes) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "activity_id": activity_id,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "caption": "",
    }


def _upload(client: TestClient, field: Field, photo_id: str, data: bytes) -> None:
    response = upload_chunk(client, field, photo_id, 0, data)
    assert response.status_code == 200, response.text
    assert response.json()["complete"] is True


def _receipts(client: TestClient, field: Field, *, token: str | None = None) -> dict[str, Any]:
    changes, _ = pull_all(client, field, token=token)
    return {c["id"]: c["data"] for c in changes if c["entity"] == "receipt"}


def _keys(client: TestClient) -> list[dict[str, str]]:
    keys: list[dict[str, str]] = client.get("/api/v1/sync/info").json()["receipt_keys"]
    return keys


def _verifies(client: TestClient, receipt: dict[str, Any]) -> bool:
    try:
        verify(receipt, load_public_keys(_keys(client)))
    except ReceiptError:
        return False
    return True


def test_a_record_with_three_photos_gets_its_receipt_when_the_third_photos_bytes_are_verified(
    client: TestClient, field: Field
) -> None:
    record = field.activity()
    photos = [_jpeg() for _ in range(3)]
    metadata = [_photo(record["id"], data) for data in photos]
    answer = push(
        client,
        field,
        [mutation(1, record)]
        + [mutation(2 + i, m, entity="attachment") for i, m in enumerate(metadata)],
    )
    assert {r["status"] for r in answer.json()["results"]} == {"applied"}
    assert record["id"] not in _receipts(client, field)

    _upload(client, field, metadata[0]["id"], photos[0])
    _upload(client, field, metadata[1]["id"], photos[1])
    assert record["id"] not in _receipts(client, field)

    _upload(client, field, metadata[2]["id"], photos[2])
    receipt = _receipts(client, field)[record["id"]]
    assert receipt["entity"] == "activity" and receipt["version"] == 1
    assert receipt["device_id"] == str(field.device.id)
    assert sorted(receipt["attachments"], key=lambda a: a["id"]) == sorted(
        ({"id": m["id"], "sha256": m["sha256"], "size": m["size"]} for m in metadata),
        key=lambda a: a["id"],
    )
    assert _verifies(client, receipt)
    tampered = {**receipt, "version": 2}
    assert not _verifies(client, tampered)


def test_a_record_without_photos_gets_its_receipt_in_the_push_and_an_edit_replaces_it(
    client: TestClient, field: Field, engine: Engine, settings: Settings
) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    first = _receipts(client, field)[record["id"]]
    assert first["version"] == 1 and first["attachments"] == []
    assert _verifies(client, first)

    push(client, field, [mutation(2, {"title": "Renamed"}, id=record["id"], base_version=1)])
    second = _receipts(client, field)[record["id"]]
    assert second["version"] == 2 and _verifies(client, second)
    with Session(engine) as session:
        [current] = session.execute(
            select(Receipt).where(col(Receipt.entity_id) == uuid.UUID(record["id"]))
        ).scalars()
    assert current.version == 2 and current.issued_at is not None
    # Signed when handed out: the same bytes at every delivery under the same key.
    assert signed(current, current_signer(settings)) == second


def _site(field: Field) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": str(field.project.id),
        "name": "Demo plot",
        "admin_area": "Berea",
        "lat": -29.2,
        "lon": 27.9,
    }


def _logged(engine: Engine, record_id: str) -> list[tuple[str, int]]:
    with Session(engine) as session:
        return [
            (entity, version)
            for entity, version in session.execute(
                select(col(Change.entity), col(Change.version))
                .where(col(Change.entity_id) == uuid.UUID(record_id))
                .order_by(col(Change.seq))
            )
        ]


def test_a_receipt_issued_with_its_records_change_travels_with_it(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """The push logs each record's change once; the pushing tablet's pull hands it the receipt
    right after the record, and a teammate's pull hands out the record alone."""
    records = [field.activity() for _ in range(3)]
    site = _site(field)
    mutations = [mutation(n + 1, record) for n, record in enumerate(records)]
    push(client, field, [*mutations, mutation(4, site, entity="site")])
    for record in records:
        assert _logged(engine, record["id"]) == [("activity", 1)]
    assert _logged(engine, site["id"]) == [("site", 1)]

    changes, _ = pull_all(client, field)
    kinds = {**{r["id"]: "activity" for r in records}, site["id"]: "site"}
    pushed = [(c["entity"], c["id"]) for c in changes if c["id"] in kinds]
    receipts = [n for n, (entity, _) in enumerate(pushed) if entity == "receipt"]
    assert sorted(pushed[n][1] for n in receipts) == sorted(kinds)
    # each right after its record (a first pull also brings the site up front, in its frame)
    assert all(pushed[n - 1] == (kinds[pushed[n][1]], pushed[n][1]) for n in receipts)
    assert all(_verifies(client, c["data"]) for c in changes if c["entity"] == "receipt")
    theirs, _ = pull_all(client, field, token=field.teammate_token)
    assert [c for c in theirs if c["entity"] == "receipt"] == []


def test_a_receipt_a_photos_upload_completes_is_logged_for_the_tablet_alone(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    data = _jpeg()
    photo = _photo(record["id"], data)
    push(client, field, [mutation(1, record), mutation(2, photo, entity="attachment")])
    _, cursor = pull_all(client, field)
    _upload(client, field, photo["id"], data)
    assert _logged(engine, record["id"]) == [("activity", 1), ("receipt", 1)]
    changes, _ = pull_all(client, field, cursor=cursor)
    assert [(c["entity"], c["id"]) for c in changes] == [
        ("attachment", photo["id"]),  # its bytes are in
        ("receipt", record["id"]),
    ]
    # From scratch, the page holds the record's entry and the receipt's own: one receipt,
    # right after its record.
    changes, _ = pull_all(client, field)
    mine = [(c["entity"], c["id"]) for c in changes if c["id"] == record["id"]]
    assert mine == [("activity", record["id"]), ("receipt", record["id"])]


def test_a_photo_added_later_makes_the_receipt_wait_for_its_bytes(
    client: TestClient, field: Field, engine: Engine
) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    changes, cursor = pull_all(client, field)
    [first] = [c["data"] for c in changes if c["entity"] == "receipt"]
    assert first["attachments"] == []

    data = _jpeg()
    photo = _photo(record["id"], data)
    push(client, field, [mutation(2, photo, entity="attachment")])
    with Session(engine) as session:
        waiting = session.get(Receipt, (uuid.UUID(record["id"]), "activity"))
        assert waiting is not None and waiting.issued_at is None  # no receipt until the bytes
    changes, _ = pull_all(client, field, cursor=cursor)
    assert [c for c in changes if c["entity"] == "receipt"] == []  # nothing new handed out

    _upload(client, field, photo["id"], data)
    second = _receipts(client, field)[record["id"]]
    assert second["version"] == 1 and _verifies(client, second)
    assert second["attachments"] == [
        {"id": photo["id"], "sha256": photo["sha256"], "size": photo["size"]}
    ]


def test_a_deleted_record_gets_no_new_receipt(client: TestClient, field: Field) -> None:
    record = field.activity()
    push(client, field, [mutation(1, record)])
    _, cursor = pull_all(client, field)
    push(client, field, [mutation(2, None, op="delete", id=record["id"], base_version=1)])
    changes, _ = pull_all(client, field, cursor=cursor)
    assert [(c["entity"], c["op"]) for c in changes] == [("activity", "delete")]


def test_receipts_of_other_devices_are_never_served(client: TestClient, field: Field) -> None:
    record = field.activity()
    site = _site(field)
    push(client, field, [mutation(1, record), mutation(2, site, entity="site")])
    assert set(_receipts(client, field)) == {record["id"], site["id"]}

    # The teammate's tablet, in the same project, pulls the records but none of the receipts.
    changes, _ = pull_all(client, field, token=field.teammate_token)
    assert {record["id"], site["id"]} <= {c["id"] for c in changes}
    assert [c for c in changes if c["entity"] == "receipt"] == []


def test_an_office_edit_issues_no_receipt(client: TestClient, field: Field, engine: Engine) -> None:
    site = _site(field)
    push(client, field, [mutation(1, site, entity="site")])
    changes, cursor = pull_all(client, field)
    [pushed] = [c["data"] for c in changes if c["entity"] == "receipt"]
    edited = client.patch(
        f"/api/v1/sites/{site['id']}", json={"name": "Office name"}, headers=_officer(engine, field)
    )
    assert edited.status_code == 200, edited.text
    changes, _ = pull_all(client, field, cursor=cursor)
    # The office's version alone: nothing new was issued, and the receipt of the tablet's own
    # version came once, with the change it was issued with.
    assert [(c["entity"], c["version"]) for c in changes] == [("site", 2)]
    assert pushed["version"] == 1


def test_the_receipt_reaches_the_tablet_when_the_office_changed_the_record_before_its_pull(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """The receipt travels with the change it was issued with, even when the record the page
    hands out is already the office's later version: the tablet's push is still covered."""
    site = _site(field)
    push(client, field, [mutation(1, site, entity="site")])
    edited = client.patch(
        f"/api/v1/sites/{site['id']}", json={"name": "Office name"}, headers=_officer(engine, field)
    )
    assert edited.status_code == 200, edited.text
    changes, _ = pull_all(client, field)
    assert [
        (c["version"], c["data"]["name"])
        for c in changes
        if c["entity"] == "site" and c["id"] == site["id"]
    ] == [(2, "Office name")]
    [receipt] = [c["data"] for c in changes if c["entity"] == "receipt"]
    assert (receipt["id"], receipt["version"]) == (site["id"], 1) and _verifies(client, receipt)


def test_rotation_keeps_old_receipts_verifiable_and_signs_new_ones_with_the_new_key(
    client: TestClient, field: Field, engine: Engine, settings: Settings
) -> None:
    old_record, new_record = field.activity(), field.activity()
    push(client, field, [mutation(1, old_record)])
    old = _receipts(client, field)[old_record["id"]]
    with Session(engine) as session:
        before, after = rotate_key(session, settings)
        session.commit()
    assert before.key_id == old["key_id"] != after.key_id

    push(client, field, [mutation(2, new_record)])
    receipts = _receipts(client, field)
    assert receipts[new_record["id"]]["key_id"] == after.key_id
    assert _verifies(client, old)  # as the tablet received it, before the rotation
    assert _verifies(client, receipts[new_record["id"]])
    # Handed out again (a tablet pulling from scratch), a receipt comes signed by the new key.
    assert receipts[old_record["id"]]["key_id"] == after.key_id
    assert [k["key_id"] for k in _keys(client)] == [before.key_id, after.key_id]


def test_sync_info_publishes_the_signing_key(
    client: TestClient, field: Field, settings: Settings, engine: Engine
) -> None:
    keys = _keys(client)
    assert len(keys) == 1 and load_public_keys(keys)
    with Session(engine) as session:
        assert published_keys(session, settings) == keys


def test_backup_then_restore_keeps_the_receipts_verifiable(
    client: TestClient,
    field: Field,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    record, other = field.activity(), field.activity()
    data = _jpeg()
    photo = _photo(record["id"], data)
    push(client, field, [mutation(1, record), mutation(2, photo, entity="attachment")])
    _upload(client, field, photo["id"], data)
    before = _receipts(client, field)  # received before the rotation: signed by the old key
    with Session(engine) as session:
        rotate_key(session, settings)
        session.commit()
    push(client, field, [mutation(3, other)])
    receipts = [before[record["id"]], _receipts(client, field)[other["id"]]]
    assert len({r["key_id"] for r in receipts}) == 2

    archive = tmp_path / "backup.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive)
    backend = engine.dialect.name
    target_settings, target_engine = request.getfixturevalue(
        "fresh_sqlite" if backend == "sqlite" else "fresh_postgresql"
    )
    restore_backup(settings=target_settings, engine=target_engine, archive=archive)
    # The restored server has a data directory of its own, so a signing key of its own; the
    # keys that signed before are in the database the backup carried.
    with Session(target_engine) as session:
        keys = published_keys(session, target_settings)
        verdict = verify_receipts(
            session,
            receipts=receipts,
            published=keys,
            attachments_dir=target_settings.attachments_dir,
            device_id=str(field.device.id),
        )
    assert verdict.problems == [] and verdict.held == 2 and verdict.ok
    assert len(keys) == 3


# --- pilotmon receipts verify ------------------------------------------------------------------


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        "PILOTMON_DATABASE_URL": settings.resolved_database_url,
        "PILOTMON_DATA_DIR": str(settings.data_dir),
    }


def _saved(path: Path, client: TestClient, field: Field, receipts: list[Any]) -> Path:
    path.write_text(
        json.dumps(
            {
                "format": FORMAT,
                "device_id": str(field.device.id),
                "server": "http://testserver",
                "keys": _keys(client),
                "receipts": receipts,
            }
        )
    )
    return path


def test_receipts_verify_on_a_good_a_tampered_and_a_missing_record(
    client: TestClient, field: Field, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    record = field.activity()
    data = _jpeg()
    photo = _photo(record["id"], data)
    site = _site(field)
    push(
        client,
        field,
        [
            mutation(1, record),
            mutation(2, photo, entity="attachment"),
            mutation(3, site, entity="site"),
        ],
    )
    _upload(client, field, photo["id"], data)
    receipts = _receipts(client, field)
    good = _saved(tmp_path / "good.json", client, field, list(receipts.values()))
    result = run_cli("receipts", "verify", str(good), env=_cli_env(settings))
    assert result.returncode == 0, result.stderr
    assert "2 receipts checked: 2 held by the server, 0 problems" in result.stdout

    forged = dict(receipts[record["id"]])
    forged["attachments"] = [{**forged["attachments"][0], "size": 1}]
    tampered = _saved(tmp_path / "tampered.json", client, field, [forged, receipts[site["id"]]])
    result = run_cli("receipts", "verify", str(tampered), env=_cli_env(settings))
    assert result.returncode == 1
    [problem] = result.stdout.strip().splitlines()
    assert record["id"] in problem and "signature does not match" in problem
    assert result.stderr.strip() == "pilotmon: 2 receipts checked: 1 held by the server, 1 problem"

    with Session(engine) as session:  # hard-deleted behind the server's back
        session.execute(delete(Site).where(col(Site.id) == uuid.UUID(site["id"])))
        session.commit()
    result = run_cli("receipts", "verify", str(good), env=_cli_env(settings))
    assert result.returncode == 1
    [problem] = result.stdout.strip().splitlines()
    assert site["id"] in problem and "missing" in problem


def test_receipts_verify_counts_in_the_singular_and_the_plural() -> None:
    assert verify_summary(checked=1, held=1, deleted_since=0, problems=0) == (
        "1 receipt checked: 1 held by the server, 0 problems"
    )
    assert verify_summary(checked=3, held=1, deleted_since=1, problems=1) == (
        "3 receipts checked: 1 held by the server (1 deleted since, by a later change), 1 problem"
    )


def test_receipts_verify_refuses_a_file_that_is_not_a_receipts_file(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "notes.json"
    path.write_text('{"hello": 1}')
    result = run_cli("receipts", "verify", str(path), env=_cli_env(settings))
    assert result.returncode == 1
    assert result.stderr.startswith("pilotmon: ") and "not a receipts file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the signing key: init-db, PILOTMON_RECEIPT_KEY, rotate-key ---------------------------------


def test_init_db_makes_the_key_once_readable_by_the_server_only(tmp_path: Path) -> None:
    env = {"PILOTMON_DATA_DIR": str(tmp_path / "data")}
    first = run_cli("init-db", env=env)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "data" / "receipt_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    signer = current_signer(Settings(data_dir=tmp_path / "data"))
    assert f"receipts are signed by key {signer.key_id}" in first.stdout
    again = run_cli("init-db", env=env)
    assert f"receipts are signed by key {signer.key_id}" in again.stdout

    rotated = run_cli("receipts", "rotate-key", env=env)
    assert rotated.returncode == 0, rotated.stderr
    new = current_signer(Settings(data_dir=tmp_path / "data"))
    assert new.key_id != signer.key_id
    assert f"key {signer.key_id} is retired" in rotated.stdout
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_a_key_from_the_environment_is_used_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    key = Signer.generate()
    text = base64.b64encode(
        key.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ).decode()
    env = {"PILOTMON_DATA_DIR": str(tmp_path / "data"), "PILOTMON_RECEIPT_KEY": text}
    result = run_cli("init-db", env=env)
    assert result.returncode == 0, result.stderr
    assert f"receipts are signed by key {key.key_id} (PILOTMON_RECEIPT_KEY)" in result.stdout
    assert not (tmp_path / "data" / "receipt_key").exists()
    refused = run_cli("receipts", "rotate-key", env=env)
    assert refused.returncode != 0 and "PILOTMON_RECEIPT_KEY" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    bad = run_cli("init-db", env={**env, "PILOTMON_RECEIPT_KEY": "not-a-key"})
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "PILOTMON_RECEIPT_KEY" in bad.stderr


def test_a_rotation_the_data_directory_refuses_is_one_line_and_keeps_the_old_key(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = current_signer(settings)

    def read_only(path: Path, *, replace: bool) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    # `pilotmon receipts rotate-key` on a read-only data directory printed a traceback.
    monkeypatch.setattr("server.records.receipts._write_new_key", read_only)
    with Session(engine) as session, pytest.raises(ConfigError, match="Read-only file system"):
        rotate_key(session, settings)
    assert current_signer(settings).key_id == old.key_id
