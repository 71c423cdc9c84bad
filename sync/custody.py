"""Custody receipts on the tablet (docs/protocol.md#custody-receipts): learning the server's
keys during a sync round, and the receipts file the field expert can save.

The store verifies each pulled receipt against the keys it has pinned (``DeviceStore.
apply_pull``). Keys are pinned from the enrolment answer and from ``GET /sync/info``; that call is
made only when a pulled receipt names a key this tablet has not pinned (a tablet enrolled before
receipts, or a rotated key), at most once a round, so an idle round costs no extra request.
Pinned keys are never dropped: a receipt signed before a rotation stays verifiable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.client import SyncClient
from sync.protocol import Change
from sync.store import DeviceStore

RECEIPTS_FORMAT = "pilotmon-receipts/1"


class KeyLearner:
    """Pins the server's published keys when a pull page holds a receipt signed by a key this
    tablet does not know; asks ``GET /sync/info`` at most once per round."""

    def __init__(self, store: DeviceStore, client: SyncClient) -> None:
        self.store = store
        self.client = client
        self.asked = False

    def learn_for(self, changes: Sequence[Change]) -> None:
        if self.asked or not self.store.unknown_receipt_keys(changes):
            return
        self.asked = True
        self.store.pin_receipt_keys(self.client.receipt_keys(), source="sync_info")


def receipts_document(store: DeviceStore, *, server: str) -> dict[str, Any]:
    """The receipts file's content: ``{"format": "pilotmon-receipts/1", "device_id", "server",
    "keys": [{"key_id", "public_key"}], "receipts": [… exactly as signed …]}``."""
    return {
        "format": RECEIPTS_FORMAT,
        "device_id": store.device_id,
        "server": server,
        "keys": store.receipt_keys(),
        "receipts": store.receipts(),
    }


def save_receipts(store: DeviceStore, directory: Path, *, server: str) -> Path:
    """Write every stored receipt to ``directory/pilotmon-receipts-<time>.json`` (written
    whole, then renamed into place, so a cut never leaves half a file). Returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = directory / f"pilotmon-receipts-{stamp}.json"
    temporary = path.with_suffix(".tmp")
    document = receipts_document(store, server=server)
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path
