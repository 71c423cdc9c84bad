"""Offline bundles: the outbox and its photos in one zip, for a tablet that cannot reach the server.

The file holds ``bundle.json`` (the pending mutations exactly as a push would send them, with
their seqs, plus the list of photos) and the photo files under ``photos/``. The country office
applies it with ``pilotmon import-bundle FILE``, under the same exactly-once rules as a push:
when the tablet later syncs normally, the server answers ``duplicate`` for what the bundle
carried and nothing is recorded twice. Exporting changes nothing on the tablet.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sync.protocol import PROTOCOL_VERSION
from sync.store import DeviceStore

BUNDLE_FORMAT = "pilotmon-bundle"
BUNDLE_VERSION = 1
MANIFEST = "bundle.json"


@dataclass(frozen=True, slots=True)
class BundleSummary:
    path: Path
    mutations: int
    photos: int
    first_seq: int | None
    last_seq: int | None


def export_bundle(store: DeviceStore, path: str | Path) -> BundleSummary:
    """Write the outbox and the photos still to send to ``path`` (atomically)."""
    path = Path(path)
    mutations = store.pending()
    photos = [u for u in store.uploads(state="waiting") if u.path.exists()]
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "protocol": PROTOCOL_VERSION,
        "device_id": store.device_id,
        # The tablet's clock, for people reading the file; the server decides nothing by it.
        "exported_at": datetime.now(UTC).isoformat(),
        "mutations": [m.model_dump(mode="json", exclude_none=True) for m in mutations],
        "photos": [
            {
                "id": u.id,
                "sha256": u.sha256,
                "size": u.size,
                "content_type": u.content_type,
                "file": f"photos/{u.id}",
            }
            for u in photos
        ],
    }
    temporary = path.with_name(path.name + ".part")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False))
        for upload in photos:
            bundle.write(upload.path, f"photos/{upload.id}", compress_type=zipfile.ZIP_STORED)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(path)
    return BundleSummary(
        path,
        len(mutations),
        len(photos),
        mutations[0].seq if mutations else None,
        mutations[-1].seq if mutations else None,
    )
