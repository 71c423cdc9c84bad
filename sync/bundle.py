"""Offline bundles: the outbox and its photos in one signed zip, for a tablet that cannot reach
the server (docs/protocol.md#client-behaviour).

The file holds ``bundle.json`` (the pending mutations exactly as a push would send them, with
their seqs, plus the list of photos), the photo files under ``photos/<id>`` and, last,
``signature.json``: the sha256 and size of every other entry, signed with HMAC-SHA256 under the
tablet's *bundle key*. Only this tablet and the server know that key (the server hands it out
at enrolment, or to the tablet's own token at its next sync), so a bundle cannot be written in
another tablet's name, nor changed after it was written. The country office applies it with
``pilotmon import-bundle FILE``, under the same exactly-once rules as a push: when the tablet
later syncs normally, the server answers ``duplicate`` for what the bundle carried and nothing
is recorded twice. Exporting changes nothing on the tablet.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.protocol import PROTOCOL_VERSION
from sync.store import DeviceStore

BUNDLE_FORMAT = "pilotmon-bundle"
# 2: signed (version 1 bundles carried no signature and are refused).
BUNDLE_VERSION = 2
MANIFEST = "bundle.json"
SIGNATURE = "signature.json"
SIGNATURE_FORMAT = "pilotmon-bundle-signature"
SIGNATURE_ALGORITHM = "HMAC-SHA256"
PHOTO_PREFIX = "photos/"
# The only names a bundle holds besides the two above: photos/<attachment id, lowercase UUID>.
PHOTO_ENTRY = re.compile(r"photos/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Where the tablet keeps its bundle key and the key's id (the store's meta table).
BUNDLE_KEY_META = "bundle_key"
BUNDLE_KEY_ID_META = "bundle_key_id"
_COPY_BLOCK = 1 << 20


class NoBundleKey(Exception):
    """The tablet holds no bundle key yet (enrolled before bundles were signed)."""

    def __init__(self) -> None:
        self.message = (
            "this tablet has no key to sign bundles yet: connect to the server once (or "
            "enrol again), then write the bundle"
        )
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class BundleSummary:
    path: Path
    mutations: int
    photos: int
    first_seq: int | None
    last_seq: int | None


def canonical(value: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key_hex: str, unsigned: Mapping[str, Any]) -> str:
    """HMAC-SHA256 (hex) of the canonical JSON of ``signature.json`` without its signature."""
    return hmac.new(bytes.fromhex(key_hex), canonical(unsigned), hashlib.sha256).hexdigest()


def signature_file(
    *, device_id: str, key_id: str, key_hex: str, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """``signature.json``: ``entries`` are ``{"name", "sha256", "size"}`` of every other entry."""
    unsigned = {
        "format": SIGNATURE_FORMAT,
        "version": BUNDLE_VERSION,
        "algorithm": SIGNATURE_ALGORITHM,
        "device_id": device_id,
        "key_id": key_id,
        "entries": entries,
    }
    return {**unsigned, "signature": sign(key_hex, unsigned)}


def _photo_entry(attachment_id: str) -> str:
    return f"{PHOTO_PREFIX}{uuid.UUID(attachment_id)}"


def export_bundle(store: DeviceStore, path: str | Path) -> BundleSummary:
    """Write the outbox and the photos still to send to ``path`` (atomically), signed."""
    path = Path(path)
    key_hex, key_id = store.meta(BUNDLE_KEY_META), store.meta(BUNDLE_KEY_ID_META)
    if not key_hex or not key_id:
        raise NoBundleKey()
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
                "file": _photo_entry(u.id),
            }
            for u in photos
        ],
    }
    encoded = json.dumps(manifest, ensure_ascii=False).encode()
    entries = [
        {"name": MANIFEST, "sha256": hashlib.sha256(encoded).hexdigest(), "size": len(encoded)}
    ]
    temporary = path.with_name(path.name + ".part")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(MANIFEST, encoded)
        for upload in photos:
            # What is signed is what was written, hashed while it is copied.
            name = _photo_entry(upload.id)
            digest, size = hashlib.sha256(), 0
            info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED  # JPEGs do not shrink
            with open(upload.path, "rb") as source, bundle.open(info, "w") as target:
                for block in iter(lambda: source.read(_COPY_BLOCK), b""):
                    digest.update(block)
                    size += len(block)
                    target.write(block)
            entries.append({"name": name, "sha256": digest.hexdigest(), "size": size})
        signed = signature_file(
            device_id=store.device_id, key_id=key_id, key_hex=key_hex, entries=entries
        )
        bundle.writestr(SIGNATURE, canonical(signed))
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
