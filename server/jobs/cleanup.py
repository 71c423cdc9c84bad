"""Cleanup of abandoned partial uploads (docs/protocol.md#attachments).

A photo whose bytes stopped arriving N days ago (``PILOTMON_ABANDONED_UPLOAD_DAYS``) loses its
partial file and starts again from offset 0 if its tablet ever comes back: the metadata row
stays (it was synced), only the half-written bytes go. Partial files without an attachment
still waiting for them go too, and so do the staging folders of offline-bundle imports that
were killed before they ended. Complete photos are never touched.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from server.activities.models import Attachment
from server.columns import utcnow
from server.db import session_scope
from server.sync.attachments import AttachmentFiles

log = logging.getLogger("pilotmon.jobs")


def _abandoned(engine: Engine, cutoff: datetime) -> list[uuid.UUID]:
    with session_scope(engine, write=False) as session:
        return list(
            session.exec(
                select(Attachment.id).where(
                    col(Attachment.complete).is_(False),
                    col(Attachment.received) > 0,
                    col(Attachment.updated_at) < cutoff,
                )
            )
        )


def cleanup_partial_uploads(
    *, engine: Engine, files: AttachmentFiles, days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Reset abandoned uploads and delete their partial files; returns what was removed."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    reset: list[str] = []
    freed = 0
    for attachment_id in _abandoned(engine, cutoff):
        with session_scope(engine) as session:
            # Re-read under the write lock: a chunk may have arrived since the listing.
            attachment = session.exec(
                select(Attachment).where(Attachment.id == attachment_id).with_for_update()
            ).one_or_none()
            if (
                attachment is None
                or attachment.complete
                or attachment.received == 0
                or attachment.updated_at >= cutoff
            ):
                continue
            attachment.received = 0
            attachment.updated_at = now
            session.add(attachment)
        # Only after the offset 0 is committed: a crash in between leaves a file that the next
        # chunk (at offset 0) truncates anyway.
        path = files.partial(attachment_id)
        if path.exists():
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
        reset.append(str(attachment_id))
    orphans = _orphan_partials(engine, files, cutoff)
    for path in orphans:
        freed += path.stat().st_size
        path.unlink(missing_ok=True)
    staging = _stale_staging(files, cutoff)
    for folder in staging:
        freed += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
    if reset or orphans or staging:
        log.info(
            "cleanup: reset %d abandoned uploads, removed %d orphan partial files and %d "
            "staging folders of killed bundle imports, freed %d bytes",
            len(reset),
            len(orphans),
            len(staging),
            freed,
        )
    return {
        "reset": reset,
        "orphans": [p.name for p in orphans],
        "staging": [p.name for p in staging],
        "bytes_freed": freed,
        "days": days,
    }


def _stale_staging(files: AttachmentFiles, cutoff: datetime) -> list[Path]:
    """Staging folders untouched since ``cutoff``: an import takes minutes, not days, so such a
    folder belongs to an import that was killed (a normal end removes its folder)."""
    if not files.staging.is_dir():
        return []
    return sorted(
        path
        for path in files.staging.iterdir()
        if path.is_dir() and path.stat().st_mtime < cutoff.timestamp()
    )


def _orphan_partials(engine: Engine, files: AttachmentFiles, cutoff: datetime) -> list[Any]:
    folder = files.root / "partial"
    if not folder.is_dir():
        return []
    old = {}
    for path in folder.iterdir():
        try:
            key = uuid.UUID(path.name)
        except ValueError:
            continue  # not ours
        if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
            old[key] = path
    if not old:
        return []
    with session_scope(engine, write=False) as session:
        waiting = set(
            session.exec(
                select(Attachment.id).where(
                    col(Attachment.id).in_(list(old)),
                    col(Attachment.complete).is_(False),
                    col(Attachment.received) > 0,
                )
            )
        )
    return [
        path for key, path in sorted(old.items(), key=lambda kv: str(kv[0])) if key not in waiting
    ]
