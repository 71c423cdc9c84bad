"""Offline bundles: export on the tablet, `pilotmon import-bundle` on the server, exactly once."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import time
import tracemalloc
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.devices import enrol
from server.accounts.models import Device, User
from server.activities.models import Activity, Attachment
from server.cli import main
from server.columns import utcnow
from server.config import Settings, get_settings
from server.db import dispose_engines
from server.jobs.cleanup import cleanup_partial_uploads
from server.records.models import AuditEntry
from server.sync.attachments import AttachmentFiles
from server.sync.bundle import BundleError, import_bundle
from sync.bundle import (
    BUNDLE_KEY_ID_META,
    BUNDLE_KEY_META,
    SIGNATURE,
    canonical,
    export_bundle,
    signature_file,
)
from sync.store import DeviceStore
from tests.factories import activity_versions, make_user
from tests.photos import JPEG_HEAD
from tests.server.sync.conftest import Field
from tests.server.test_cli import assert_one_line_error, run_cli
from tests.sync.conftest import Tablet

Result = subprocess.CompletedProcess[str]


def _env(db_url: str, settings: Settings) -> dict[str, str]:
    return {
        "PILOTMON_DATABASE_URL": db_url,
        "PILOTMON_DATA_DIR": str(settings.data_dir),
        # Bundle keys are derived from the server's secret: the CLI must run with the same one.
        "PILOTMON_SECRET_KEY": settings.secret_key,
    }


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
    """The tablet took its bundle key at a sync, then went offline and worked."""
    store, engine_, _ = tablet
    engine_.fetch_bundle_key()
    records = [field.activity(title=f"Offline day {i}") for i in range(3)]
    for record in records:
        store.save("activity", record)
    source = tmp_path / "photo.jpg"
    source.write_bytes(JPEG_HEAD + os.urandom(50_000))
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
    # The summary says whose tablet it was, and who imported it.
    assert str(field.device.id) in result.stdout and field.expert.username in result.stdout
    assert "[LSO]" in result.stdout and "imported by the server operator" in result.stdout
    with Session(engine) as session:
        (entry,) = session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "import-bundle")
        ).all()
        assert entry.entity_id == str(field.device.id) and entry.actor_id is None
        assert entry.after is not None and entry.after["results"] == {"applied": 4}
    assert not list((settings.attachments_dir / "bundle-staging").rglob("*.*"))
    assert _count(engine, Activity) == 3
    with Session(engine) as session:
        photo = session.get(Attachment, uuid.UUID(photo_id))
        assert photo is not None and photo.complete
        device = session.get(Device, field.device.id)
        assert device is not None and device.last_seq == 4
        # Version 1 of each is kept in its row, written through the bundle by the tablet.
        for activity_id in ids:
            (first,) = activity_versions(session, uuid.UUID(activity_id))
            assert (first.source, first.author_id, first.device_id) == (
                "bundle",
                field.expert.id,
                field.device.id,
            )

    again = pilotmon("import-bundle", str(summary.path))
    assert again.returncode == 0, again.stderr
    assert "4 duplicate" in again.stdout and "1 already there" in again.stdout

    report = engine_.sync_once()
    assert report.pushed == {"duplicate": 4}
    assert store.pending_count() == 0
    assert store.uploads(state="waiting") == []
    assert _count(engine, Activity) == 3
    assert {store.state("activity", i) for i in ids} == {"synced"}


# --- rewriting bundles, as someone holding the file (and perhaps a key) would -----------------


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as bundle:
        return {info.filename: bundle.read(info) for info in bundle.infolist()}


def _write(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return path


def _resign(entries: dict[str, bytes], store: DeviceStore, *, device_id: str) -> None:
    """Sign ``entries`` again with ``store``'s key, in the name of ``device_id``."""
    key, key_id = store.meta(BUNDLE_KEY_META), store.meta(BUNDLE_KEY_ID_META)
    assert key and key_id
    listed = [
        {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in entries.items()
        if name != SIGNATURE
    ]
    signed = signature_file(device_id=device_id, key_id=key_id, key_hex=key, entries=listed)
    entries[SIGNATURE] = canonical(signed)


def _manifest(entries: dict[str, bytes]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(entries["bundle.json"])
    return manifest


def _nothing_applied(engine: Engine, field: Field, settings: Settings) -> None:
    assert _count(engine, Activity) == 0
    with Session(engine) as session:
        device = session.get(Device, field.device.id)
        assert device is not None and device.last_seq == 0
    # No photo bytes anywhere, not even in the staging area.
    assert [p for p in settings.attachments_dir.rglob("*") if p.is_file()] == []


def test_a_bundle_after_a_missing_one_is_refused_in_one_line(
    tablet: Tablet, field: Field, pilotmon: Callable[..., Result], tmp_path: Path
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    entries = _entries(export_bundle(store, tmp_path / "first.zip").path)
    manifest = _manifest(entries)
    manifest["mutations"] = manifest["mutations"][2:]  # as if seqs 1-2 went in a lost bundle
    manifest["photos"] = []
    entries = {"bundle.json": json.dumps(manifest).encode()}
    _resign(entries, store, device_id=store.device_id)
    later = _write(tmp_path / "later.zip", entries)
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
    no_manifest = _write(tmp_path / "empty.zip", {"signature.json": b"{}"})
    assert_one_line_error(pilotmon("import-bundle", str(no_manifest)), "bundle.json is missing")


# --- hostile and damaged files ------------------------------------------------------------------

MEMORY_CEILING = 200 * 1024 * 1024


def _zip_by_hand(path: Path, entries: list[tuple[str, bytes, int, int]]) -> None:
    """A zip whose headers say what we like: (name, raw deflate bytes, declared size, crc)."""
    local, central = bytearray(), bytearray()
    for name, data, declared, crc in entries:
        encoded = name.encode()
        offset = len(local)
        sizes = (crc, len(data), declared, len(encoded))
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, *sizes, 0)
        local += encoded + data
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, 0, offset
        )
        central += encoded
    count = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _zeros_deflated(megabytes: int) -> bytes:
    """Raw deflate of ``megabytes`` MiB of zeros, without ever holding them: a fully flushed
    block starts afresh, so one compressed MiB repeated is the compressed whole."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    return block * megabytes + packer.flush()


def _peak_while(run: Callable[[], Any]) -> tuple[Any, int]:
    """What ``run`` returned (or raised) and the most memory Python held meanwhile."""
    tracemalloc.start()
    try:
        try:
            outcome: Any = run()
        except BundleError as exc:  # the outcome is asserted by the caller
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_manifest_bomb_is_refused_without_inflating_it(
    field: Field, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # 32 MB of small JSON objects in a 30 KB file: parsed, it would take gigabytes.
    head = json.dumps(
        {
            "format": "pilotmon-bundle",
            "version": 2,
            "protocol": 1,
            "device_id": str(field.device.id),
        }
    )[:-1]
    manifest = (head + ', "mutations": [' + '{"a": [0, 0]}, ' * 2_300_000 + "{}]}").encode()
    assert len(manifest) > 32_000_000
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        bundle.writestr("bundle.json", manifest)
        bundle.writestr("signature.json", b"{}")
    del manifest
    assert path.stat().st_size < 200_000

    outcome, peak = _peak_while(lambda: import_bundle(engine, path=path, settings=settings))
    assert peak < MEMORY_CEILING, f"peak {peak / 1e6:.0f} MB"
    assert isinstance(outcome, BundleError), outcome
    assert "bundle.json holds" in outcome.message and "the most is" in outcome.message
    _nothing_applied(engine, field, settings)


@pytest.mark.parametrize("liar", ["photo", "bundle.json"])
def test_an_entry_lying_about_its_size_is_never_inflated(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    liar: str,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    entries = _entries(export_bundle(store, tmp_path / "outbox.zip").path)
    (photo_name,) = [n for n in entries if n.startswith("photos/")]
    name = photo_name if liar == "photo" else "bundle.json"
    # The entry declares its true size, as signed (50 KB for the photo); its deflate stream
    # holds 300 MB of zeros. The signature is the tablet's own: only the zip lies.
    lying = tmp_path / "lying.zip"
    _zip_by_hand(
        lying,
        [
            (n, _zeros_deflated(300), len(data), 0)
            if n == name
            else (n, _deflate(data), len(data), zlib.crc32(data))
            for n, data in entries.items()
        ],
    )
    assert lying.stat().st_size < 1_000_000

    outcome, peak = _peak_while(lambda: import_bundle(engine, path=lying, settings=settings))
    assert peak < MEMORY_CEILING, f"peak {peak / 1e6:.0f} MB"
    assert isinstance(outcome, BundleError), outcome
    assert name in outcome.message
    _nothing_applied(engine, field, settings)


def _corrupt_photo(bundle_path: Path) -> str:
    """Flip one byte inside the (stored, uncompressed) photo, as a bad USB stick would."""
    with zipfile.ZipFile(bundle_path) as bundle:
        info = next(i for i in bundle.infolist() if i.filename.startswith("photos/"))
    raw = bytearray(bundle_path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 1000] ^= 0xFF
    bundle_path.write_bytes(bytes(raw))
    return info.filename


def test_a_damaged_photo_applies_nothing_and_says_which_in_one_line(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    settings: Settings,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path
    entry = _corrupt_photo(path)

    assert_one_line_error(pilotmon("import-bundle", str(path)), entry, "damaged")
    _nothing_applied(engine, field, settings)


def test_a_photo_that_is_not_what_its_details_say_applies_nothing(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    settings: Settings,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    # Signed by the tablet itself, but the bytes are not the photo its records describe.
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    entries = _entries(export_bundle(store, tmp_path / "outbox.zip").path)
    (name,) = [n for n in entries if n.startswith("photos/")]
    entries[name] = entries[name][:-1] + bytes([entries[name][-1] ^ 1])
    _resign(entries, store, device_id=store.device_id)
    path = _write(tmp_path / "other-bytes.zip", entries)

    assert_one_line_error(pilotmon("import-bundle", str(path)), name, "sha256")
    _nothing_applied(engine, field, settings)


def test_a_bundle_naming_another_tablet_is_refused(
    make_tablet: Callable[..., Tablet],
    field: Field,
    engine: Engine,
    settings: Settings,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    # A teammate sees the expert's tablet id in revisions and writes a bundle in its name,
    # signed with the teammate's own key (the only one it has).
    teammate = make_tablet(str(field.teammate_device.id), field.teammate_token, name="teammate")
    store, engine_, _ = teammate
    engine_.fetch_bundle_key()
    store.save("activity", field.activity(title="Not really from the expert"))
    entries = _entries(export_bundle(store, tmp_path / "teammate.zip").path)
    manifest = _manifest(entries)
    manifest["device_id"] = str(field.device.id)
    entries["bundle.json"] = json.dumps(manifest).encode()
    _resign(entries, store, device_id=str(field.device.id))
    forged = _write(tmp_path / "forged.zip", entries)
    assert_one_line_error(pilotmon("import-bundle", str(forged)), str(field.device.id), "key")

    # Without a signature at all.
    del entries[SIGNATURE]
    unsigned = _write(tmp_path / "unsigned.zip", entries)
    assert_one_line_error(pilotmon("import-bundle", str(unsigned)), "not signed")
    _nothing_applied(engine, field, settings)


def test_a_bundle_changed_after_it_was_signed_is_refused(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    settings: Settings,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    entries = _entries(export_bundle(store, tmp_path / "outbox.zip").path)
    manifest = _manifest(entries)
    manifest["mutations"][0]["data"]["title"] = "Edited on the way to the office"
    entries["bundle.json"] = json.dumps(manifest).encode()
    changed = _write(tmp_path / "changed.zip", entries)
    assert_one_line_error(pilotmon("import-bundle", str(changed)), "bundle.json", "signed")

    # Changing the signed list to match does not help: the signature no longer does.
    signature = json.loads(entries[SIGNATURE])
    signature["entries"][0]["sha256"] = hashlib.sha256(entries["bundle.json"]).hexdigest()
    signature["entries"][0]["size"] = len(entries["bundle.json"])
    entries[SIGNATURE] = json.dumps(signature).encode()
    relisted = _write(tmp_path / "relisted.zip", entries)
    assert_one_line_error(pilotmon("import-bundle", str(relisted)), "signature does not match")
    _nothing_applied(engine, field, settings)


def test_a_server_with_another_secret_key_says_so(
    tablet: Tablet, field: Field, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # A restore onto a new machine with a new PILOTMON_SECRET_KEY: the operator was told the
    # bundle had been changed or written by another tablet.
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path
    other = settings.model_copy(update={"secret_key": "another-secret-that-is-long-enough-0123"})
    with pytest.raises(BundleError, match="PILOTMON_SECRET_KEY"):
        import_bundle(engine, path=path, settings=other)
    _nothing_applied(engine, field, settings)


def test_a_bundle_written_before_the_tablet_enrolled_again_is_refused(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path
    with Session(engine) as session:
        expert = session.get(User, field.expert.id)
        assert expert is not None
        enrol(
            session,
            device_id=field.device.id,
            label="Tablet",
            app_version="1.0.0",
            caller=Caller(user=expert),
        )
        session.commit()
    assert_one_line_error(pilotmon("import-bundle", str(path)), "enrolled again")
    assert _count(engine, Activity) == 0


@pytest.mark.parametrize(
    "name",
    [
        "../../outside.jpg",
        "/etc/cron.d/evil",
        "photos/../../outside",
        "photos/not-a-uuid",
        "photos/0b7c1a3e-1c4e-4d8b-9a55-3f0e0f8f0a11/",
        "PHOTOS/0B7C1A3E-1C4E-4D8B-9A55-3F0E0F8F0A11",
        "readme.txt",
    ],
)
def test_an_entry_no_tablet_writes_is_refused(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    settings: Settings,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
    name: str,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    entries = _entries(export_bundle(store, tmp_path / "outbox.zip").path)
    entries[name] = b"\xff\xd8\xff\xe0 not a photo"
    _resign(entries, store, device_id=store.device_id)
    path = _write(tmp_path / "odd.zip", entries)
    assert_one_line_error(pilotmon("import-bundle", str(path)), "no tablet writes")
    _nothing_applied(engine, field, settings)
    assert not (tmp_path / "outside.jpg").exists()


def test_a_bundle_holding_a_name_twice_is_refused(
    tablet: Tablet, field: Field, pilotmon: Callable[..., Result], tmp_path: Path
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path
    with zipfile.ZipFile(path, "a") as bundle, pytest.warns(UserWarning, match="Duplicate"):
        bundle.writestr("bundle.json", b"{}")
    assert_one_line_error(pilotmon("import-bundle", str(path)), "bundle.json twice")


def test_a_zip_claiming_too_many_entries_is_refused_before_it_is_read(
    pilotmon: Callable[..., Result], tmp_path: Path
) -> None:
    # An end record claiming 65 535 entries in a 20 MB directory: refused from the end record.
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 65535, 65535, 20_000_000, 0, 0)
    path = tmp_path / "many.zip"
    path.write_bytes(end)
    assert_one_line_error(pilotmon("import-bundle", str(path)), "65535 files")


# --- who imports -------------------------------------------------------------------------------


def test_the_importer_must_have_the_tablets_person_in_scope(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    session: Session,
    pilotmon: Callable[..., Result],
    tmp_path: Path,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path
    kenya = make_user(session, role="country_officer", countries=["KEN"])
    session.commit()
    kenya_name, officer, expert = kenya.username, field.officer.username, field.expert.username

    assert_one_line_error(pilotmon("import-bundle", "--as", kenya_name, str(path)), "LSO")
    assert_one_line_error(
        pilotmon("import-bundle", "--as", field.teammate.username, str(path)), "field_expert"
    )
    assert_one_line_error(pilotmon("import-bundle", "--as", "nobody", str(path)), "nobody")
    assert _count(engine, Activity) == 0

    done = pilotmon("import-bundle", "--as", officer, str(path))
    assert done.returncode == 0, done.stderr
    assert f"of {expert}" in done.stdout and f"imported by {officer}" in done.stdout
    with Session(engine) as check:
        entry = check.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "import-bundle")
        ).one()
        assert entry.actor_id == field.officer.id


def test_a_killed_imports_staging_folder_is_swept_by_the_cleanup_job(
    engine: Engine, settings: Settings
) -> None:
    files = AttachmentFiles(settings.attachments_dir)
    killed = files.staging / "killed-import"
    running = files.staging / "running-import"
    for folder in (killed, running):
        folder.mkdir(parents=True)
        (folder / str(uuid.uuid4())).write_bytes(b"x" * 100)
    # Both folders' times from the clock the job reads, not the file system's (they differ
    # under a faked clock: make test-days).
    now = time.time()
    week_ago = now - 8 * 86400
    os.utime(killed, (week_ago, week_ago))
    os.utime(running, (now, now))

    result = cleanup_partial_uploads(engine=engine, files=files, days=7)
    assert result["staging"] == ["killed-import"] and result["bytes_freed"] == 100
    assert not killed.exists() and running.exists()


def test_a_commit_that_fails_takes_the_moved_photos_back_out(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, _, _ = tablet
    _offline_work(tablet, field, tmp_path)
    path = export_bundle(store, tmp_path / "outbox.zip").path

    def commit_fails(self: Session) -> None:
        raise OSError("the database disk is full")

    with monkeypatch.context() as patched:
        patched.setattr(Session, "commit", commit_fails)
        with pytest.raises(OSError, match="disk is full"):
            import_bundle(engine, path=path, settings=settings)
    _nothing_applied(engine, field, settings)

    # The same file imports cleanly afterwards.
    report = import_bundle(engine, path=path, settings=settings)
    assert (report.results["applied"], report.photos_stored) == (4, 1)
