"""Importing an offline bundle from a tablet (``pilotmon import-bundle FILE``,
docs/protocol.md#client-behaviour).

The bundle's mutations go through the same push service as a normal sync, in batches, each
committed with the tablet's ``last_seq``: what the server already holds is answered
``duplicate``, a bundle that starts past the next expected seq is refused (an earlier bundle is
missing), and a later normal sync of the same tablet duplicates nothing. Photos are then stored
whole, with the same sha256 and content-type checks as an upload.

The zip is read defensively: only ``bundle.json`` and the photo files it names are opened, each
with a size bound, so a hostile file cannot exhaust memory or write outside the data directory.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import Device, User
from server.accounts.service import project_ids_of
from server.activities.models import Activity, Attachment
from server.config import Settings
from server.db import session_scope
from server.errors import PilotMonitorError
from server.sync.attachments import AttachmentFiles, store_complete
from server.sync.errors import SeqGap
from server.sync.service import push
from shared.validation import MAX_ATTACHMENT_BYTES
from sync.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, MANIFEST
from sync.protocol import SUPPORTED_PROTOCOLS, PushRequest

MAX_MANIFEST_BYTES = 256 * 1024 * 1024


class BundleError(PilotMonitorError):
    """The bundle cannot be applied; the message says why and what to do."""


@dataclass
class ImportReport:
    device_id: str
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
        text = (
            f"tablet {self.device_id}: {counts}; photos: {self.photos_stored} stored, "
            f"{self.photos_skipped} already there"
        )
        if self.photos_refused:
            text += f", {len(self.photos_refused)} refused ({'; '.join(self.photos_refused)})"
        return text + f"; the tablet's last seq is now {self.last_seq}"


def _read_manifest(bundle: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = bundle.getinfo(MANIFEST)
    except KeyError as exc:
        raise BundleError(f"not a Pilot Monitor bundle: {MANIFEST} is missing") from exc
    if info.file_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(bundle.read(info))
    except (ValueError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{MANIFEST} is not valid JSON ({exc})") from exc
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
    return manifest


def _caller(session: Session, device_id: uuid.UUID, *, allow_revoked: bool) -> Caller:
    device = session.get(Device, device_id)
    if device is None:
        raise BundleError(
            f"tablet {device_id} is not enrolled on this server; enrol it (or "
            "import on the server it belongs to)"
        )
    if device.revoked_at is not None and not allow_revoked:
        raise BundleError(
            f"tablet {device_id} was revoked; to keep its records anyway, run "
            "again with --allow-revoked"
        )
    user = session.get(User, device.user_id)
    assert user is not None
    return Caller(
        user=user, project_ids=frozenset(project_ids_of(session, user_id=user.id)), device=device
    )


def import_bundle(
    engine: Engine, *, path: Path, settings: Settings, allow_revoked: bool = False
) -> ImportReport:
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    with bundle:
        manifest = _read_manifest(bundle)
        try:
            device_id = uuid.UUID(str(manifest.get("device_id")))
        except ValueError as exc:
            raise BundleError("the bundle names no valid tablet id") from exc
        report = ImportReport(device_id=str(device_id))
        mutations = manifest.get("mutations") or []
        if not isinstance(mutations, list):
            raise BundleError("the bundle's mutations are not a list")
        _apply_mutations(
            engine, device_id, mutations, report, settings=settings, allow_revoked=allow_revoked
        )
        _store_photos(
            engine,
            bundle,
            manifest.get("photos") or [],
            report,
            files=AttachmentFiles(settings.attachments_dir),
        )
    return report


def _apply_mutations(
    engine: Engine,
    device_id: uuid.UUID,
    mutations: list[Any],
    report: ImportReport,
    *,
    settings: Settings,
    allow_revoked: bool,
) -> None:
    size = settings.max_push_mutations
    if not mutations:
        with session_scope(engine) as session:
            device = _caller(session, device_id, allow_revoked=allow_revoked).device
            report.last_seq = device.last_seq if device else 0
        return
    for start in range(0, len(mutations), size):
        try:
            request = PushRequest.model_validate(
                {
                    "protocol": SUPPORTED_PROTOCOLS[-1],
                    "device_id": str(device_id),
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
        with session_scope(engine) as session:
            caller = _caller(session, device_id, allow_revoked=allow_revoked)
            try:
                answer = push(
                    session, caller=caller, request=request, max_mutations=size, source="bundle"
                )
            except SeqGap as exc:
                raise BundleError(
                    f"the bundle starts at seq {request.mutations[0].seq} but the server "
                    f"expects {exc.expected_seq} from this tablet: an earlier bundle (or sync) "
                    "is missing; import that first"
                ) from exc
        report.results.update(str(r.status) for r in answer.results)
        report.last_seq = answer.last_seq


def _store_photos(
    engine: Engine,
    bundle: zipfile.ZipFile,
    photos: list[Any],
    report: ImportReport,
    *,
    files: AttachmentFiles,
) -> None:
    names = set(bundle.namelist())
    for entry in photos:
        try:
            attachment_id = uuid.UUID(str(entry.get("id")))
        except (AttributeError, ValueError):
            report.photos_refused.append("an entry without a valid id")
            continue
        member = f"photos/{attachment_id}"
        if member not in names:
            report.photos_refused.append(f"{attachment_id}: file missing from the bundle")
            continue
        with session_scope(engine) as session:
            attachment = session.get(Attachment, attachment_id)
            if attachment is None or attachment.deleted:
                report.photos_refused.append(f"{attachment_id}: its details were not accepted")
                continue
            if attachment.complete:
                report.photos_skipped += 1
                continue
            info = bundle.getinfo(member)
            if info.file_size != attachment.size or info.file_size > MAX_ATTACHMENT_BYTES:
                report.photos_refused.append(
                    f"{attachment_id}: {info.file_size} bytes, expected {attachment.size}"
                )
                continue
            activity = session.get(Activity, attachment.activity_id)
            refused = store_complete(
                session,
                files=files,
                attachment=attachment,
                data=bundle.read(info),
                project_id=activity.project_id if activity else None,
            )
        if refused:
            report.photos_refused.append(
                f"{attachment_id}: " + "; ".join(r["message"] for r in refused)
            )
        else:
            report.photos_stored += 1
