"""A stand-in for the server's side of custody receipts (docs/protocol.md#custody-receipts):
a signing key, its published form, and receipts for what a tablet holds, signed as the server
signs them (``shared.receipts.sign``), delivered as pull changes of entity ``receipt``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import receipts
from sync.protocol import Change, Op
from sync.store import DeviceStore


class Issuer:
    """One server key that signs receipts."""

    def __init__(self) -> None:
        self.private_key = Ed25519PrivateKey.generate()
        self.public_key = receipts.public_key_text(self.private_key)
        self.key_id = receipts.key_id_for(self.public_key)

    @property
    def published(self) -> dict[str, str]:
        return {"key_id": self.key_id, "public_key": self.public_key}

    def receipt(
        self,
        *,
        record_id: str,
        version: int,
        device_id: str,
        entity: str = "activity",
        attachments: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        body = {
            "entity": entity,
            "id": record_id,
            "version": version,
            "attachments": [dict(a) for a in attachments],
            "device_id": device_id,
            "issued_at": datetime.now(UTC).isoformat(),
        }
        return receipts.sign(body, self.private_key, self.key_id)

    def covering(
        self,
        store: DeviceStore,
        record_id: str,
        *,
        version: int,
        entity: str = "activity",
        photos: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The receipt the server would issue for this tablet's record at ``version``, listing
        the photos this tablet holds of it (or only those in ``photos``)."""
        held = [
            {"id": u.id, "sha256": u.sha256, "size": u.size}
            for state in ("waiting", "done")
            for u in store.uploads(state=state)
            if _owner(store.get("attachment", u.id) or {}) == record_id
            and (photos is None or u.id in photos)
        ]
        return self.receipt(
            record_id=record_id,
            version=version,
            device_id=store.device_id,
            entity=entity,
            attachments=sorted(held, key=lambda a: a["id"]),
        )


def _owner(photo: dict[str, Any]) -> Any:
    """The record a photo belongs to: its activity, else its observation."""
    return photo.get("activity_id") or photo.get("observation_id")


def change(receipt: dict[str, Any], *, record_id: str | None = None) -> Change:
    """The pull change that carries ``receipt``."""
    return Change(
        entity="receipt",
        id=record_id or str(receipt["id"]),
        op=Op.UPSERT,
        version=int(receipt["version"]) if isinstance(receipt.get("version"), int) else 0,
        data=receipt,
    )
