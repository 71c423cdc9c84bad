"""Importing an offline bundle from a tablet (``pilotmon import-bundle FILE``,
docs/protocol.md#client-behaviour, docs/cli.md).

A bundle is a file from outside, often carried on a USB stick: it is read as hostile.

1. Its shape, before anything is inflated: the zip's central directory is bounded (so opening it
   cannot exhaust memory), every entry is ``bundle.json``, ``signature.json`` or
   ``photos/<uuid>`` (no paths, no duplicates, no encryption, stored or deflated), and each
   entry's declared size, and all of them together, stay under the limits below.
2. Its signature: ``signature.json`` lists every other entry with its sha256 and size, signed
   with HMAC-SHA256 under the key only the named tablet and this server know
   (``server.accounts.devices.bundle_key``). An unsigned bundle, one signed by another key, or
   one from a revoked tablet is refused, and so is an importer without that tablet's scope.
3. Its entries are read in blocks from the zip, never past their limit whatever the headers
   say, each hashed while it streams and compared with the signed sha256. Photos stream into a
   staging folder.
4. Everything is applied in one transaction: the mutations through the same push service as a
   normal sync (exactly once: what the server holds is answered ``duplicate``, a bundle that
   starts past the next expected seq is refused), then the photos. The staged photos move into
   the attachment store just before the commit and are removed again if it fails; any bad
   entry means nothing of the bundle is applied and the error names the entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import struct
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.devices import bundle_key
from server.accounts.models import Device, User
from server.accounts.service import audit_country, get_by_username, project_ids_of
from server.activities.models import Attachment
from server.config import Settings
from server.db import write_engine
from server.errors import PilotMonitorError
from server.records import audit
from server.records.receipts import Signer, current_signer
from server.scope import user_scope
from server.sync.attachments import (
    AttachmentFiles,
    attachment_project_id,
    mark_complete,
    sniff_content_type,
    unreadable_reason,
)
from server.sync.errors import SeqGap
from server.sync.service import push
from shared.catalogue import Role
from shared.validation import MAX_ATTACHMENT_BYTES
from sync.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MANIFEST,
    PHOTO_ENTRY,
    PHOTO_PREFIX,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    SIGNATURE_FORMAT,
    canonical,
)
from sync.protocol import SUPPORTED_PROTOCOLS, PushRequest

# Limits (the two that a big, honest bundle may reach are settings: max_bundle_manifest_bytes
# and max_bundle_bytes). A tablet writes one entry per photo still to send.
MAX_ENTRIES = 20_000
# Each central-directory record is 46 bytes plus its name and extra fields; a bound on the
# directory's size bounds what opening the zip costs, whatever it claims to hold.
MAX_CENTRAL_DIRECTORY_BYTES = MAX_ENTRIES * 512
MAX_SIGNATURE_BYTES = 4 * 1024 * 1024
MAX_PHOTO_BYTES = MAX_ATTACHMENT_BYTES
READ_BLOCK = 64 * 1024

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ENCRYPTED = 0x1


class BundleError(PilotMonitorError):
    """The bundle cannot be applied; the message says why and what to do."""


@dataclass
class ImportReport:
    device_id: str
    device_label: str = ""
    person: str = ""
    countries: list[str] = field(default_factory=list)
    importer: str = "the server operator"
    results: Counter[str] = field(default_factory=Counter)
    photos_stored: int = 0
    photos_skipped: int = 0
    photos_refused: list[str] = field(default_factory=list)
    last_seq: int = 0

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.results.get(s, 0)} {s}"
            for s in ("applied", "merged", "duplicate", "conflict", "rejected")
        )
        label = f" ({self.device_label})" if self.device_label else ""
        countries = ", ".join(self.countries) or "no country"
        text = (
            f"tablet {self.device_id}{label} of {self.person} [{countries}], imported by "
            f"{self.importer}: {counts}; photos: {self.photos_stored} stored, "
            f"{self.photos_skipped} already there"
        )
        if self.photos_refused:
            text += f", {len(self.photos_refused)} refused ({'; '.join(self.photos_refused)})"
        return text + f"; the tablet's last seq is now {self.last_seq}"


# --- 1. the shape of the file ------------------------------------------------------------------


def _check_directory(path: Path) -> None:
    """Refuse a zip whose central directory is too big to read, before zipfile reads it."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            tail_size = min(size, _EOCD.size + 0xFFFF)
            handle.seek(size - tail_size)
            tail = handle.read(tail_size)
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or len(tail) - at < _EOCD.size:
                return  # not a zip: zipfile says so in its own words
            _, _, _, _, entries, directory_size, _, _ = _EOCD.unpack_from(tail, at)
            locator_at = size - tail_size + at - _ZIP64_LOCATOR.size
            if locator_at >= 0:
                handle.seek(locator_at)
                locator = _ZIP64_LOCATOR.unpack(handle.read(_ZIP64_LOCATOR.size))
                if locator[0] == b"PK\x06\x07" and locator[2] + _ZIP64_EOCD.size <= size:
                    handle.seek(locator[2])
                    record = _ZIP64_EOCD.unpack(handle.read(_ZIP64_EOCD.size))
                    if record[0] == b"PK\x06\x06":
                        entries, directory_size = record[7], record[8]
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if entries > MAX_ENTRIES or directory_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise BundleError(
            f"the bundle lists {entries} files in {directory_size} bytes; a bundle holds at "
            f"most {MAX_ENTRIES}: this is not a bundle a tablet wrote"
        )


def _entries(bundle: zipfile.ZipFile, *, settings: Settings) -> dict[str, zipfile.ZipInfo]:
    infos = bundle.infolist()
    if len(infos) > MAX_ENTRIES:
        raise BundleError(f"the bundle holds {len(infos)} files; the most is {MAX_ENTRIES}")
    entries: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name != info.orig_filename or (
            name not in (MANIFEST, SIGNATURE) and not PHOTO_ENTRY.fullmatch(name)
        ):
            raise BundleError(
                f"the bundle holds {info.orig_filename!r}, which no tablet writes: refused"
            )
        if name in entries:
            raise BundleError(f"the bundle holds {name} twice: refused")
        if info.flag_bits & _ENCRYPTED or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise BundleError(f"{name} is encrypted or compressed in a way no tablet writes")
        limit = _limit(name, settings)
        if info.file_size > limit:
            raise BundleError(f"{name} holds {info.file_size} bytes; the most is {limit}")
        total += info.file_size
        entries[name] = info
    if total > settings.max_bundle_bytes:
        raise BundleError(
            f"the bundle holds {total} bytes; the most is {settings.max_bundle_bytes} "
            "(PILOTMON_MAX_BUNDLE_BYTES)"
        )
    if MANIFEST not in entries:
        raise BundleError(f"not a Pilot Monitor bundle: {MANIFEST} is missing")
    if SIGNATURE not in entries:
        raise BundleError(
            "the bundle is not signed (an app from before signed bundles wrote it): update "
            "the app, let the tablet sync once or enrol again, and write the bundle again"
        )
    return entries


def _limit(name: str, settings: Settings) -> int:
    if name == MANIFEST:
        return settings.max_bundle_manifest_bytes
    if name == SIGNATURE:
        return MAX_SIGNATURE_BYTES
    return MAX_PHOTO_BYTES


def _stream(
    bundle: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int, sink: Callable[[bytes], Any]
) -> tuple[str, int]:
    """Read one entry in blocks into ``sink``, stopping past ``limit`` bytes whatever the zip
    headers say; returns its sha256 and size."""
    digest, size = hashlib.sha256(), 0
    try:
        with bundle.open(info) as stream:
            while block := stream.read(READ_BLOCK):
                size += len(block)
                if size > limit:
                    raise BundleError(f"{info.filename} holds more than {limit} bytes")
                digest.update(block)
                sink(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise BundleError(
            f"{info.filename} is damaged ({exc}): write the bundle again on the tablet"
        ) from exc
    except OSError as exc:
        raise BundleError(f"cannot read {info.filename}: {exc.strerror or exc}") from exc
    return digest.hexdigest(), size


def _read_small(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int) -> bytes:
    blocks: list[bytes] = []
    _stream(bundle, info, limit=limit, sink=blocks.append)
    return b"".join(blocks)


# --- 2. the signature --------------------------------------------------------------------------


class _SignedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class _Signature(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["pilotmon-bundle-signature"]
    version: int
    algorithm: Literal["HMAC-SHA256"]
    device_id: uuid.UUID
    key_id: str = Field(max_length=64)
    entries: list[_SignedEntry] = Field(max_length=MAX_ENTRIES)
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class _Signed:
    claims: _Signature
    unsigned: bytes  # the canonical bytes the signature covers
    entries: dict[str, _SignedEntry]


def _read_signature(bundle: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> _Signed:
    raw = _read_small(bundle, entries[SIGNATURE], limit=MAX_SIGNATURE_BYTES)
    try:
        document = json.loads(raw)
        claims = _Signature.model_validate(document)
    except ValueError as exc:  # JSONDecodeError and ValidationError are ValueErrors
        raise BundleError(f"{SIGNATURE} is not a bundle signature: refused") from exc
    if claims.version != BUNDLE_VERSION:
        raise BundleError(
            f"bundle version {claims.version} is not supported; this server reads version "
            f"{BUNDLE_VERSION}"
        )
    assert claims.format == SIGNATURE_FORMAT and claims.algorithm == SIGNATURE_ALGORITHM
    signed = {e.name: e for e in claims.entries}
    if len(signed) != len(claims.entries) or set(signed) != set(entries) - {SIGNATURE}:
        raise BundleError(
            "the files in the bundle are not those its signature lists: it was changed after "
            "the tablet wrote it"
        )
    for name, entry in signed.items():
        if entries[name].file_size != entry.size:
            raise BundleError(
                f"{name} is not the size the tablet signed: it was changed after the tablet "
                "wrote the bundle; nothing was applied"
            )
    del document["signature"]
    return _Signed(claims, canonical(document), signed)


def _authenticate(
    session: Session, signed: _Signed, *, secret_key: str, allow_revoked: bool
) -> tuple[Device, User]:
    device_id = signed.claims.device_id
    device = session.get(Device, device_id)
    if device is None:
        raise BundleError(
            f"tablet {device_id} is not enrolled on this server; enrol it (or import on the "
            "server it belongs to)"
        )
    if device.revoked_at is not None and not allow_revoked:
        raise BundleError(
            f"tablet {device_id} was revoked; to keep its records anyway, run again with "
            "--allow-revoked"
        )
    key = bundle_key(secret_key=secret_key, device=device)
    if key is None:
        raise BundleError(
            f"tablet {device_id} has never received a key to sign bundles, so this bundle "
            "cannot be from it: let the tablet sync once (or enrol again), then write it again"
        )
    expected = hmac.new(bytes.fromhex(key), signed.unsigned, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signed.claims.signature):
        if signed.claims.key_id != device.bundle_key_nonce:
            raise BundleError(
                f"the bundle is not signed with the key of tablet {device_id}: either the "
                "tablet was enrolled again after writing it (write the bundle again on the "
                "tablet) or another tablet wrote it in this one's name; nothing was applied"
            )
        raise BundleError(
            f"the bundle's signature does not match tablet {device_id}: it was changed after "
            "the tablet wrote it, another tablet wrote it, or this server's "
            "PILOTMON_SECRET_KEY is not the one it had when the tablet got its key (a restore "
            "with a new secret: the tablet must enrol again); nothing was applied"
        )
    person = session.get(User, device.user_id)
    assert person is not None
    return device, person


def _importer(session: Session, username: str | None, person: User) -> User | None:
    """The person importing (``--as``), who must have the tablet's person in scope; None is
    the server operator, who holds the database itself."""
    if username is None:
        return None
    importer = get_by_username(session, username=username.strip().lower())
    if importer is None or not importer.is_active:
        raise BundleError(f"no active user {username!r} to import as")
    if importer.role not in (Role.ADMIN, Role.COUNTRY_OFFICER):
        raise BundleError(
            f"{importer.username} is a {importer.role}: only an admin or a country officer "
            "imports bundles"
        )
    in_scope = session.exec(
        select(User.id).where(col(User.id) == person.id, user_scope(Caller(user=importer)))
    ).first()
    if in_scope is None:
        raise BundleError(
            f"{importer.username} may not import bundles of {person.username}, who works in "
            f"{', '.join(person.countries) or 'no country'}: ask an officer of that country"
        )
    return importer


# --- 3. the manifest and the photos ------------------------------------------------------------


def _read_verified(
    bundle: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    signed: _Signed,
    *,
    limit: int,
    sink: Callable[[bytes], Any],
) -> None:
    digest, size = _stream(bundle, info, limit=limit, sink=sink)
    expected = signed.entries[info.filename]
    if digest != expected.sha256 or size != expected.size:
        raise BundleError(
            f"{info.filename} is not what the tablet signed: it was damaged or changed after "
            "the tablet wrote the bundle; nothing was applied"
        )


def _read_manifest(
    bundle: zipfile.ZipFile,
    entries: dict[str, zipfile.ZipInfo],
    signed: _Signed,
    *,
    settings: Settings,
) -> dict[str, Any]:
    blocks: list[bytes] = []
    _read_verified(
        bundle,
        entries[MANIFEST],
        signed,
        limit=settings.max_bundle_manifest_bytes,
        sink=blocks.append,
    )
    try:
        manifest = json.loads(b"".join(blocks))
    except ValueError as exc:
        raise BundleError(f"{MANIFEST} is not valid JSON ({exc})") from exc
    del blocks
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError("not a Pilot Monitor bundle (unknown format)")
    if manifest.get("version") != BUNDLE_VERSION:
        raise BundleError(
            f"bundle version {manifest.get('version')!r} is not supported; "
            f"this server reads version {BUNDLE_VERSION}"
        )
    if manifest.get("protocol") not in SUPPORTED_PROTOCOLS:
        raise BundleError(
            f"the bundle uses sync protocol {manifest.get('protocol')!r}; this "
            "server speaks " + ", ".join(map(str, SUPPORTED_PROTOCOLS))
        )
    if str(manifest.get("device_id")) != str(signed.claims.device_id):
        raise BundleError(f"{MANIFEST} names another tablet than its signature: refused")
    if not isinstance(manifest.get("mutations", []), list):
        raise BundleError("the bundle's mutations are not a list")
    return manifest


@dataclass(frozen=True)
class _Photo:
    attachment_id: uuid.UUID
    entry: str
    path: Path
    sha256: str
    size: int
    content_type: str | None  # sniffed from the first bytes


def _photos_listed(manifest: dict[str, Any], entries: dict[str, zipfile.ZipInfo]) -> list[str]:
    photos = manifest.get("photos") or []
    if not isinstance(photos, list):
        raise BundleError("the bundle's photos are not a list")
    names: list[str] = []
    for index, photo in enumerate(photos):
        try:
            name = f"{PHOTO_PREFIX}{uuid.UUID(str(photo['id']))}"
        except (TypeError, KeyError, ValueError) as exc:
            raise BundleError(f"{MANIFEST}: photo {index} has no valid id") from exc
        if photo.get("file") != name or name not in entries or name in names:
            raise BundleError(f"{MANIFEST}: photo {index} does not name its file {name}")
        names.append(name)
    unlisted = sorted(n for n in entries if n.startswith(PHOTO_PREFIX) and n not in names)
    if unlisted:
        raise BundleError(f"{unlisted[0]} is in the bundle but not in its list of photos")
    return names


def _stage_photos(
    bundle: zipfile.ZipFile,
    entries: dict[str, zipfile.ZipInfo],
    signed: _Signed,
    names: list[str],
    staging: Path,
) -> list[_Photo]:
    staged: list[_Photo] = []
    for name in names:
        attachment_id = uuid.UUID(name.removeprefix(PHOTO_PREFIX))
        path = staging / str(attachment_id)
        head = _stage_one(bundle, entries[name], signed, path)
        expected = signed.entries[name]
        staged.append(
            _Photo(
                attachment_id, name, path, expected.sha256, expected.size, sniff_content_type(head)
            )
        )
    return staged


def _stage_one(
    bundle: zipfile.ZipFile, info: zipfile.ZipInfo, signed: _Signed, path: Path
) -> bytes:
    """Stream one photo into ``path``; returns its first bytes (to sniff its type)."""
    head = bytearray()
    with open(path, "wb") as handle:

        def write(block: bytes) -> None:
            if len(head) < 64:
                head.extend(block[: 64 - len(head)])
            handle.write(block)

        _read_verified(bundle, info, signed, limit=MAX_PHOTO_BYTES, sink=write)
        handle.flush()
        os.fsync(handle.fileno())
    return bytes(head)


@contextmanager
def _staging_area(files: AttachmentFiles) -> Iterator[Path]:
    """A private folder next to the attachment store (same file system: moves are renames),
    removed with whatever is left in it."""
    path = files.staging / uuid.uuid4().hex
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- 4. applying -------------------------------------------------------------------------------


def import_bundle(
    engine: Engine,
    *,
    path: Path,
    settings: Settings,
    importer: str | None = None,
    allow_revoked: bool = False,
) -> ImportReport:
    """Check ``path`` completely, then apply it in one transaction (or not at all)."""
    _check_directory(path)
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    files = AttachmentFiles(settings.attachments_dir)
    with bundle:
        entries = _entries(bundle, settings=settings)
        signed = _read_signature(bundle, entries)
        with Session(engine) as session:
            _, person = _authenticate(
                session, signed, secret_key=settings.secret_key, allow_revoked=allow_revoked
            )
            _importer(session, importer, person)
        manifest = _read_manifest(bundle, entries, signed, settings=settings)
        names = _photos_listed(manifest, entries)
        with _staging_area(files) as staging:
            photos = _stage_photos(bundle, entries, signed, names, staging)
            return _apply(
                engine,
                signed=signed,
                mutations=manifest.get("mutations") or [],
                photos=photos,
                files=files,
                settings=settings,
                importer=importer,
                allow_revoked=allow_revoked,
            )


def _apply(
    engine: Engine,
    *,
    signed: _Signed,
    mutations: list[Any],
    photos: list[_Photo],
    files: AttachmentFiles,
    settings: Settings,
    importer: str | None,
    allow_revoked: bool,
) -> ImportReport:
    with Session(write_engine(engine)) as session:
        # Checked again in the writing transaction: the tablet may have been revoked or
        # enrolled again while the photos were read.
        device, person = _authenticate(
            session, signed, secret_key=settings.secret_key, allow_revoked=allow_revoked
        )
        actor = _importer(session, importer, person)
        report = ImportReport(
            device_id=str(device.id),
            device_label=device.label,
            person=f"{person.full_name} ({person.username})"
            if person.full_name
            else person.username,
            countries=list(person.countries or []),
            importer=actor.username if actor else "the server operator",
            last_seq=device.last_seq,
        )
        caller = Caller(
            user=person,
            project_ids=frozenset(project_ids_of(session, user_id=person.id)),
            device=device,
        )
        _apply_mutations(session, caller, mutations, report, settings=settings)
        published = _take_photos(session, photos, report, signer=current_signer(settings))
        audit.record(
            session,
            action="import-bundle",
            entity="device",
            entity_id=device.id,
            actor_id=actor.id if actor else None,
            device_id=device.id,
            country=audit_country(person.countries),
            after={
                "signature": signed.claims.signature,
                "results": dict(report.results),
                "photos_stored": report.photos_stored,
                "last_seq": report.last_seq,
            },
        )
        session.flush()
        moved: list[Path] = []
        try:
            for photo in published:
                final = files.final(photo.attachment_id)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(photo.path, final)
                moved.append(final)
            session.commit()
        except BaseException:
            session.rollback()
            for final in moved:
                final.unlink(missing_ok=True)
            raise
    for photo in published:
        files.discard(photo.attachment_id)  # bytes a resumable upload had started: not needed
    return report


def _apply_mutations(
    session: Session,
    caller: Caller,
    mutations: list[Any],
    report: ImportReport,
    *,
    settings: Settings,
) -> None:
    size = settings.max_push_mutations
    for start in range(0, len(mutations), size):
        try:
            request = PushRequest.model_validate(
                {
                    "protocol": SUPPORTED_PROTOCOLS[-1],
                    "device_id": str(report.device_id),
                    "mutations": mutations[start : start + size],
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BundleError(f"the bundle is damaged at {where}: {first['msg']}") from exc
        if (
            start
            and request.mutations[0].seq != report.last_seq + 1
            and request.mutations[0].seq > report.last_seq
        ):
            raise BundleError("the bundle's seqs are not consecutive")
        try:
            answer = push(
                session,
                caller=caller,
                request=request,
                max_mutations=size,
                signer=current_signer(settings),
                source="bundle",
            )
        except SeqGap as exc:
            raise BundleError(
                f"the bundle starts at seq {request.mutations[0].seq} but the server "
                f"expects {exc.expected_seq} from this tablet: an earlier bundle (or sync) "
                "is missing; import that first"
            ) from exc
        report.results.update(str(r.status) for r in answer.results)
        report.last_seq = answer.last_seq


def _take_photos(
    session: Session, photos: list[_Photo], report: ImportReport, *, signer: Signer
) -> list[_Photo]:
    """Mark the photos complete in the transaction; returns those whose bytes must be moved in.

    A photo whose details (metadata mutation) were not accepted is reported, as a push would
    answer it; bytes that do not match their accepted details refuse the whole bundle."""
    taken: list[_Photo] = []
    for photo in photos:
        row = session.exec(
            select(Attachment)
            .where(col(Attachment.id) == photo.attachment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is None or row.deleted:
            report.photos_refused.append(f"{photo.entry}: its details were not accepted")
            continue
        if row.complete:
            report.photos_skipped += 1
            continue
        problem = None
        if photo.size != row.size:
            problem = f"holds {photo.size} bytes, its details say {row.size}"
        elif photo.sha256 != row.sha256.lower():
            problem = f"has sha256 {photo.sha256}, its details say {row.sha256}"
        elif photo.content_type != row.content_type:
            problem = f"is {photo.content_type or 'of an unknown type'}, not {row.content_type}"
        elif reason := unreadable_reason(photo.path, row.content_type):
            problem = f"is not a readable {row.content_type} ({reason})"
        if problem:
            raise BundleError(f"{photo.entry} {problem}; nothing was applied")
        mark_complete(
            session,
            attachment=row,
            project_id=attachment_project_id(session, row),
            signer=signer,
        )
        session.add(row)
        taken.append(photo)
        report.photos_stored += 1
    return taken
