"""Custody receipts (docs/protocol.md#custody-receipts): the server's signed statement that it
holds one version of a record completely, with every photo's bytes verified.

The server signs (``sign``), the tablet and ``pilotmon receipts verify`` check (``verify``);
both use this module so that what is signed is what is checked. The signature is Ed25519
(``cryptography``) over the canonical JSON of every field but ``signature``: keys sorted, no
spaces, UTF-8. Public keys travel as base64 of their 32 raw bytes, under a ``key_id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RECEIPT_FIELDS = (
    "entity",
    "id",
    "version",
    "attachments",
    "device_id",
    "issued_at",
    "key_id",
    "signature",
)
ENTITIES = ("activity", "observation", "participant", "site")


class ReceiptError(ValueError):
    """A receipt that must not be trusted: its ``reason`` says why (stable, for tests and
    messages): ``malformed``, ``unknown_key``, ``bad_signature``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def canonical_bytes(receipt: Mapping[str, Any]) -> bytes:
    """The bytes a receipt's signature covers: every field but ``signature``, as JSON with
    sorted keys, no spaces, UTF-8."""
    body = {key: value for key, value in receipt.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    """The base64 of the raw 32-byte public key, as published in ``receipt_keys``."""
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id_for(public_key: str) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def sign(body: Mapping[str, Any], private_key: Ed25519PrivateKey, key_id: str) -> dict[str, Any]:
    """The receipt for ``body`` (every field but ``key_id`` and ``signature``), signed."""
    receipt = {**body, "key_id": key_id}
    receipt.pop("signature", None)
    signature = private_key.sign(canonical_bytes(receipt))
    receipt["signature"] = base64.b64encode(signature).decode("ascii")
    return receipt


def load_public_keys(published: Sequence[Mapping[str, Any]]) -> dict[str, Ed25519PublicKey]:
    """``receipt_keys`` as published (``[{"key_id", "public_key"}]``) → keys by id. A key
    whose id does not match its bytes is left out: it could not have signed anything."""
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in published:
        try:
            text = str(entry["public_key"])
            raw = base64.b64decode(text, validate=True)
            if len(raw) != 32 or key_id_for(text) != entry["key_id"]:
                continue
            keys[str(entry["key_id"])] = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError, binascii.Error):
            continue
    return keys


def verify(receipt: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise ``ReceiptError`` unless ``receipt`` is well formed and signed by one of ``keys``."""
    if not isinstance(receipt, Mapping) or set(receipt) != set(RECEIPT_FIELDS):
        raise ReceiptError("malformed", "a receipt has exactly the fields of the protocol")
    if receipt["entity"] not in ENTITIES:
        raise ReceiptError("malformed", f"unknown entity {receipt['entity']!r}")
    if not isinstance(receipt["version"], int) or isinstance(receipt["version"], bool):
        raise ReceiptError("malformed", "version must be an integer")
    attachments = receipt["attachments"]
    if not isinstance(attachments, list) or not all(
        isinstance(a, Mapping) and set(a) == {"id", "sha256", "size"} for a in attachments
    ):
        raise ReceiptError("malformed", "attachments must be a list of {id, sha256, size}")
    key = keys.get(str(receipt["key_id"]))
    if key is None:
        raise ReceiptError("unknown_key", f"no published key {receipt['key_id']!r}")
    try:
        signature = base64.b64decode(str(receipt["signature"]), validate=True)
        key.verify(signature, canonical_bytes(receipt))
    except (InvalidSignature, ValueError, binascii.Error) as error:
        raise ReceiptError("bad_signature", "the signature does not match") from error
