"""Backup and restore: every record and photo comes back, on each backend and across them."""

from __future__ import annotations

import errno
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from server.config import Settings
from server.db import make_engine
from server.migrate import head_revision, upgrade
from server.ops.archive import BackupError
from server.ops.backup import create_backup
from server.ops.restore import restore_backup, verify_backup
from server.records.receipts import Signer, register_key
from server.results.forms import ensure_shipped_forms
from server.results.shipped import SHIPPED_FORMS
from tests.server.ops.world import every_row, files_under, load_world

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(environment="test", data_dir=data_dir, database_url=url, secret_key=SECRET)


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> Iterator[tuple[Settings, Engine]]:
    """A brand-new SQLite target: no file yet, no schema, no photos."""
    settings = _settings(
        f"sqlite:///{tmp_path / 'target' / 'restored.sqlite3'}", tmp_path / "target"
    )
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    yield settings, engine
    engine.dispose()


@pytest.fixture
def fresh_postgresql(pg_engine: Engine, tmp_path: Path) -> Iterator[tuple[Settings, Engine]]:
    """A brand-new PostgreSQL database beside the test database (no schema at all)."""
    name = f"{pg_engine.url.database}_restore"
    admin = pg_engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.DBAPIError as exc:
        pytest.skip(f"cannot create a second PostgreSQL database for restores: {exc.orig}")
    url = pg_engine.url.set(database=name).render_as_string(hide_password=False)
    settings = _settings(url, tmp_path / "target")
    settings.ensure_data_dir()
    engine = make_engine(url)
    yield settings, engine
    engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_source(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Settings, Engine]]:
    path = tmp_path / "source" / "pilotmon.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    settings = _settings(f"sqlite:///{path}", tmp_path / "source")
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    yield settings, engine
    engine.dispose()


def _round_trip(
    source: tuple[Settings, Engine],
    target: tuple[Settings, Engine],
    method: str,
    archive: Path,
    expect_method: str,
) -> None:
    settings, engine = source
    load_world(engine, settings.attachments_dir)
    before_rows = every_row(engine)
    before_files = files_under(settings.attachments_dir)
    assert before_rows["activity"] and len(before_files) == 3

    result = create_backup(settings=settings, engine=engine, path=archive, method=method)
    assert result.manifest.method == expect_method
    assert result.manifest.tables["activity"] == 3
    assert result.manifest.tables["participant"] == 2
    assert len(result.manifest.attachment_files) == 3

    target_settings, target_engine = target
    restored = restore_backup(settings=target_settings, engine=target_engine, archive=archive)
    assert restored.attachments == 3
    assert every_row(target_engine) == before_rows
    assert files_under(target_settings.attachments_dir) == before_files
    with target_engine.connect() as conn:
        assert (
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            == head_revision()
        )


@pytest.mark.parametrize("method", ["auto", "logical"])
def test_restore_into_an_empty_database_gives_back_every_record_and_photo(
    db_url: str,
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    method: str,
    request: pytest.FixtureRequest,
) -> None:
    settings.ensure_data_dir()
    backend = engine.dialect.name
    target = request.getfixturevalue("fresh_sqlite" if backend == "sqlite" else "fresh_postgresql")
    native = "sqlite" if backend == "sqlite" else "pg_dump"
    _round_trip(
        (settings, engine),
        target,
        method,
        tmp_path / "backup.tar.gz",
        native if method == "auto" else "logical",
    )


@pytest.mark.parametrize("method", ["auto", "logical"])
def test_sqlite_backup_restores_into_postgresql(
    sqlite_source: tuple[Settings, Engine],
    fresh_postgresql: tuple[Settings, Engine],
    tmp_path: Path,
    method: str,
) -> None:
    _round_trip(
        sqlite_source,
        fresh_postgresql,
        method,
        tmp_path / "moving.tar.gz",
        "sqlite" if method == "auto" else "logical",
    )


def test_postgresql_logical_backup_restores_into_sqlite(
    pg_engine: Engine,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(pg_engine)
    source = _settings(pg_engine.url.render_as_string(hide_password=False), tmp_path / "pgdata")
    source.ensure_data_dir()
    _round_trip((source, pg_engine), fresh_sqlite, "logical", tmp_path / "down.tar.gz", "logical")


def test_restored_postgresql_sequences_continue_above_restored_ids(
    sqlite_source: tuple[Settings, Engine],
    fresh_postgresql: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    settings, engine = sqlite_source
    load_world(engine, settings.attachments_dir)
    archive = tmp_path / "b.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive, method="logical")
    target_settings, target_engine = fresh_postgresql
    restore_backup(settings=target_settings, engine=target_engine, archive=archive)
    with target_engine.begin() as conn:
        top = conn.exec_driver_sql("SELECT max(seq) FROM change").scalar_one()
        new = conn.execute(
            sa.text(
                "INSERT INTO change (entity, entity_id, op, version, created_at) "
                "VALUES ('activity', gen_random_uuid(), 'upsert', 1, now()) RETURNING seq"
            )
        ).scalar_one()
    assert new == top + 1


def test_pg_dump_backup_refuses_sqlite_target_with_a_way_out(
    pg_engine: Engine,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(pg_engine)
    source = _settings(pg_engine.url.render_as_string(hide_password=False), tmp_path / "pg")
    source.ensure_data_dir()
    archive = tmp_path / "pg.tar.gz"
    if create_backup(settings=source, engine=pg_engine, path=archive).manifest.method != "pg_dump":
        pytest.skip("pg_dump is not installed here")
    target_settings, target_engine = fresh_sqlite
    with pytest.raises(BackupError, match="--method logical"):
        restore_backup(settings=target_settings, engine=target_engine, archive=archive)


def test_restore_refuses_a_database_that_holds_data_unless_forced(
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
) -> None:
    settings.ensure_data_dir()
    load_world(engine, settings.attachments_dir)
    archive = tmp_path / "b.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive)
    expected_rows = every_row(engine)
    expected_files = files_under(settings.attachments_dir)

    with pytest.raises(BackupError, match="already holds data"):
        restore_backup(settings=settings, engine=engine, archive=archive)

    # Change things after the backup, then put the backup back over them.
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM review")
    stray = settings.attachments_dir / "zz" / "added-after-backup"
    stray.parent.mkdir()
    stray.write_bytes(b"later")
    result = restore_backup(settings=settings, engine=engine, archive=archive, force=True)
    assert every_row(engine) == expected_rows
    assert files_under(settings.attachments_dir) == expected_files
    assert result.previous_attachments is not None
    assert (result.previous_attachments / "zz" / "added-after-backup").read_bytes() == b"later"


def test_restore_refuses_photos_already_in_place(
    sqlite_source: tuple[Settings, Engine],
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    settings, engine = sqlite_source
    load_world(engine, settings.attachments_dir)
    archive = tmp_path / "b.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive)
    target_settings, target_engine = fresh_sqlite
    (target_settings.attachments_dir / "old.jpg").write_bytes(b"x")
    with pytest.raises(BackupError, match="already holds photos"):
        restore_backup(settings=target_settings, engine=target_engine, archive=archive)


def _rewrite(archive: Path, out: Path, change: dict[str, bytes | None]) -> None:
    """Copy a tar.gz, replacing (bytes) or dropping (None) members by name."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            if member.name in change:
                body = change[member.name]
                if body is None:
                    continue
                member.size = len(body)
                dst.addfile(member, io.BytesIO(body))
            else:
                dst.addfile(member, src.extractfile(member))


def _manifest(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        return json.loads(handle.read())


@pytest.fixture
def made_backup(sqlite_source: tuple[Settings, Engine], tmp_path: Path) -> Path:
    settings, engine = sqlite_source
    load_world(engine, settings.attachments_dir)
    archive = tmp_path / "good.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive, method="logical")
    return archive


def _assert_untouched(target: tuple[Settings, Engine]) -> None:
    settings, engine = target
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    assert files_under(settings.attachments_dir) == {}


def test_a_damaged_photo_is_caught_before_anything_is_touched(
    made_backup: Path,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    photo = next(n for n in _manifest(made_backup)["files"] if n.startswith("attachments/"))
    bad = tmp_path / "bad.tar.gz"
    _rewrite(made_backup, bad, {photo: b"\xff\xd8 not the photo"})
    with pytest.raises(BackupError, match="does not match its manifest"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=bad)
    _assert_untouched(fresh_sqlite)


def test_a_row_count_that_disagrees_with_the_manifest_is_caught(
    made_backup: Path,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    manifest = _manifest(made_backup)
    manifest["tables"]["activity"] += 1
    bad = tmp_path / "bad.tar.gz"
    _rewrite(made_backup, bad, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(BackupError, match="table activity has 3 rows"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=bad)
    _assert_untouched(fresh_sqlite)


def test_a_missing_file_and_a_truncated_archive_are_caught(
    made_backup: Path,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    photo = next(n for n in _manifest(made_backup)["files"] if n.startswith("attachments/"))
    missing = tmp_path / "missing.tar.gz"
    _rewrite(made_backup, missing, {photo: None})
    with pytest.raises(BackupError, match="lacks"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=missing)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(made_backup.read_bytes()[: made_backup.stat().st_size // 2])
    with pytest.raises(BackupError, match=r"damaged|manifest"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=truncated)
    _assert_untouched(fresh_sqlite)


def test_an_archive_from_a_newer_schema_is_refused(
    made_backup: Path,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    manifest = _manifest(made_backup)
    manifest["schema_revision"] = "9999"
    newer = tmp_path / "newer.tar.gz"
    _rewrite(made_backup, newer, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(BackupError, match="newer than this Pilot Monitor"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=newer)
    _assert_untouched(fresh_sqlite)


def test_a_hostile_member_name_is_refused_and_nothing_lands_outside(
    made_backup: Path,
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(made_backup) as src, tarfile.open(evil, "w:gz") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("attachments/../../escaped.txt")
        info.size = 3
        dst.addfile(info, io.BytesIO(b"pwn"))
    with pytest.raises(BackupError, match="unexpected entry"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=evil)
    assert not list(tmp_path.rglob("escaped.txt"))
    _assert_untouched(fresh_sqlite)


def test_a_file_that_is_not_a_backup_is_refused(
    fresh_sqlite: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    junk = tmp_path / "holiday.tar.gz"
    with tarfile.open(junk, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        body = b'{"hello": "world"}'
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    with pytest.raises(BackupError, match="not a Pilot Monitor backup"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=junk)
    not_tar = tmp_path / "photo.jpg"
    not_tar.write_bytes(b"\xff\xd8\xff\xe0 not an archive")
    with pytest.raises(BackupError, match="damaged or not a backup"):
        restore_backup(settings=fresh_sqlite[0], engine=fresh_sqlite[1], archive=not_tar)
    _assert_untouched(fresh_sqlite)


def test_backup_does_not_overwrite_an_existing_file(
    sqlite_source: tuple[Settings, Engine],
    tmp_path: Path,
) -> None:
    settings, engine = sqlite_source
    existing = tmp_path / "keep.tar.gz"
    existing.write_bytes(b"yesterday")
    with pytest.raises(BackupError, match="already exists"):
        create_backup(settings=settings, engine=engine, path=existing)
    assert existing.read_bytes() == b"yesterday"
    create_backup(settings=settings, engine=engine, path=existing, overwrite=True)
    assert _manifest(existing)["method"] == "sqlite"
    assert not list(tmp_path.glob("*.partial"))


def test_an_initialised_but_empty_target_counts_as_empty(
    made_backup: Path,
    fresh_sqlite: tuple[Settings, Engine],
) -> None:
    settings, engine = fresh_sqlite
    upgrade(engine)
    # What `pilotmon init-db` adds on its own (docs/deployment.md sets a server up with it
    # before a restore): the shipped forms, their change-log and audit rows, the receipt key.
    # The restore refused such a database as "already holds data (table audit_entry …)".
    with Session(engine) as session:
        assert ensure_shipped_forms(session, SHIPPED_FORMS)
        register_key(session, Signer.generate())
        session.commit()
    # … but anything a person did is data: a restore needs --force to replace it.
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_entry (at, action, entity, entity_id) "
            "VALUES ('2026-01-01 00:00:00', 'create', 'project', 'x')"
        )
    with pytest.raises(BackupError, match="table audit_entry has rows"):
        restore_backup(settings=settings, engine=engine, archive=made_backup)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_entry WHERE entity = 'project'")
    restore_backup(settings=settings, engine=engine, archive=made_backup)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM activity").scalar_one() == 3


@pytest.mark.parametrize("method", ["auto", "logical"])
def test_a_backup_taken_while_activities_are_written_is_consistent(
    db_url: str,
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    method: str,
    request: pytest.FixtureRequest,
) -> None:
    """Every activity in the snapshot has all of its revisions, attendance and change rows."""
    import threading

    from sqlmodel import Session

    from server.activities.service import write_activity
    from server.db import write_engine
    from tests.factories import activity_data, make_project

    settings.ensure_data_dir()
    with Session(write_engine(engine)) as session:
        project = make_project(session)
        session.commit()
        session.refresh(project)
    writer_engine = make_engine(db_url)
    stop = threading.Event()
    some_written = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def keep_writing() -> None:
        try:
            while not stop.is_set() and len(written) < 400:
                with Session(write_engine(writer_engine)) as session:
                    activity = write_activity(
                        session,
                        data=activity_data(project),
                        existing=None,
                        source="api",
                        author_id=None,
                    )
                    write_activity(
                        session,
                        data={"title": "edited"},
                        existing=activity,
                        source="api",
                        author_id=None,
                    )
                    session.commit()
                written.append(1)
                if len(written) >= 5:
                    some_written.set()
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)
            some_written.set()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        assert some_written.wait(60)
        archive = tmp_path / "live.tar.gz"
        manifest = create_backup(
            settings=settings, engine=engine, path=archive, method=method
        ).manifest
    finally:
        stop.set()
        thread.join(60)
        writer_engine.dispose()
    assert not failures, failures
    backend = engine.dialect.name
    target_settings, target_engine = request.getfixturevalue(
        "fresh_sqlite" if backend == "sqlite" else "fresh_postgresql"
    )
    restore_backup(settings=target_settings, engine=target_engine, archive=archive)
    with target_engine.connect() as conn:
        activities = conn.exec_driver_sql("SELECT count(*) FROM activity").scalar_one()
        assert activities == manifest.tables["activity"] >= 5
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM attendance").scalar_one() == 2 * activities
        )
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM activity_revision").scalar_one()
            == 2 * activities
        )
        assert conn.exec_driver_sql("SELECT count(*) FROM change").scalar_one() == 2 * activities
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM activity WHERE version <> 2").scalar_one()
            == 0
        )


def test_tablets_bundle_keys_survive_a_restore(
    sqlite_source: tuple[Settings, Engine], fresh_sqlite: tuple[Settings, Engine], tmp_path: Path
) -> None:
    """A bundle a tablet wrote before the backup still verifies on the restored server (same
    PILOTMON_SECRET_KEY): the nonce its key is derived from travels with the device row."""
    import uuid

    from sqlmodel import Session

    from server.accounts.auth import Caller
    from server.accounts.devices import bundle_key, enrol
    from server.accounts.models import Device
    from server.db import write_engine
    from tests.factories import make_user

    settings, engine = sqlite_source
    with Session(write_engine(engine)) as session:
        expert = make_user(session)
        device, _, _ = enrol(
            session,
            device_id=uuid.uuid4(),
            label="Tablet",
            app_version="1.0.0",
            caller=Caller(user=expert),
        )
        device_id = device.id
        before = bundle_key(secret_key=settings.secret_key, device=device)
        session.commit()
    assert before is not None

    archive = tmp_path / "keys.tar.gz"
    create_backup(settings=settings, engine=engine, path=archive, method="logical")
    target_settings, target_engine = fresh_sqlite
    restore_backup(settings=target_settings, engine=target_engine, archive=archive)
    with Session(target_engine) as session:
        restored = session.get(Device, device_id)
        assert restored is not None
        assert bundle_key(secret_key=target_settings.secret_key, device=restored) == before
        # The key depends on the secret: a server restored with another one refuses them.
        assert bundle_key(secret_key="another-secret-" * 3, device=restored) != before


def test_damage_anywhere_in_the_archive_is_reported_as_damage(
    made_backup: Path, tmp_path: Path
) -> None:
    # A flipped block inside a compressed member ended in zlib's traceback; one in a header
    # made tarfile stop early, reported as "no manifest: not a complete backup".
    good = made_backup.read_bytes()
    for n in range(1, 32):
        offset = len(good) * n // 32
        bad = tmp_path / f"bad-{n}.tar.gz"
        bad.write_bytes(good[:offset] + b"\x13\x37\x00\x42" + good[offset + 4 :])
        workdir = tmp_path / f"check-{n}"
        with pytest.raises(BackupError, match="damaged"):
            verify_backup(archive=bad, workdir=workdir)


def test_a_backup_the_file_system_refuses_is_one_clear_error(
    sqlite_source: tuple[Settings, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = sqlite_source

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".pilotmon-backup-x"))

    # A folder the backup cannot write (read-only mount, another owner): was a traceback.
    monkeypatch.setattr("server.ops.backup.tempfile.TemporaryDirectory", refused)
    with pytest.raises(BackupError, match="Read-only file system") as caught:
        create_backup(settings=settings, engine=engine, path=tmp_path / "b.tar.gz")
    assert str(tmp_path) in caught.value.message
    monkeypatch.undo()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # A disk that fills while the logical export writes its rows: was a traceback.
    monkeypatch.setattr("server.ops.backup._logical_snapshot", full)
    with pytest.raises(BackupError, match=r"No space left on device.*free space") as caught:
        create_backup(
            settings=settings, engine=engine, path=tmp_path / "b.tar.gz", method="logical"
        )
    assert not (tmp_path / "b.tar.gz").exists()
    assert not list(tmp_path.glob(".pilotmon-backup-*"))


def test_a_backup_inside_the_photo_folder_is_refused(
    sqlite_source: tuple[Settings, Engine],
) -> None:
    # It archived its own temporary copy of the database as a photo, and the next night's
    # backup archived this one: each restore then put them back among the photos.
    settings, engine = sqlite_source
    inside = settings.attachments_dir / "ab" / "nightly.tar.gz"
    inside.parent.mkdir(parents=True)
    with pytest.raises(BackupError, match="inside the photo folder"):
        create_backup(settings=settings, engine=engine, path=inside)
    assert files_under(settings.attachments_dir) == {}
