"""The status a tablet reports to the server at the start of a sync round
(docs/protocol.md#tablet-status): what it holds and what still waits to be sent."""

from __future__ import annotations

import shutil
from datetime import datetime

from sync.protocol import MAX_LAST_ERROR, TabletStatus
from sync.store import DeviceStore


def tablet_status(store: DeviceStore, *, app_version: str, language: str | None) -> TabletStatus:
    """What this tablet reports at the start of a sync round (docs/protocol.md#tablet-status):
    a few hundred bytes, read from the store and the free space of its folder."""
    waiting = store.waiting()
    records, photos, oldest = store.holdings()
    try:
        free: int | None = shutil.disk_usage(store.path.parent).free
    except OSError:
        free = None
    error = store.meta("last_error")
    if error:
        # The server refuses control characters and more than MAX_LAST_ERROR characters.
        error = "".join(ch if ch >= " " or ch in "\n\t" else " " for ch in error)
        error = error[:MAX_LAST_ERROR]
    return TabletStatus(
        pending_mutations=waiting.mutations,
        pending_uploads=waiting.photos,
        pending_upload_bytes=waiting.photo_bytes if waiting.photos else 0,
        oldest_pending_captured_at=_aware(oldest) if waiting.mutations else None,
        records=records,
        photos=photos,
        free_storage_bytes=free,
        app_version=app_version[:40],
        language=language,
        last_error=error or None,
        # The tablet's own clock, as it stands (with its UTC offset): the office sees a wrong date.
        tablet_time=datetime.now().astimezone(),
    )


def _aware(text: str | None) -> datetime | None:
    """A stored ``captured_at`` as an aware time, or None if it is not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None
