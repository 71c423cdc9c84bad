"""Receipts are verified exactly: a changed byte, another key or a missing field is refused."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.receipts import (
    ReceiptError,
    canonical_bytes,
    key_id_for,
    load_public_keys,
    public_key_text,
    sign,
    verify,
)

BODY = {
    "entity": "activity",
    "id": "0b6c1f8e-3b8f-4a51-9a59-6c0f3f1f2a10",
    "version": 3,
    "attachments": [{"id": "7d0f", "sha256": "ab" * 32, "size": 1234}],
    "device_id": "5a1e",
    "issued_at": "2026-12-05T04:00:00Z",
}


def _key() -> tuple[Ed25519PrivateKey, str, dict]:
    private = Ed25519PrivateKey.generate()
    public = public_key_text(private)
    key_id = key_id_for(public)
    return private, key_id, load_public_keys([{"key_id": key_id, "public_key": public}])


def test_a_signed_receipt_verifies_and_canonical_json_is_sorted_without_spaces() -> None:
    private, key_id, keys = _key()
    receipt = sign(BODY, private, key_id)
    verify(receipt, keys)
    assert canonical_bytes(receipt).startswith(b'{"attachments":[{"id":"7d0f"')
    assert b" " not in canonical_bytes(receipt)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.update(version=4), "bad_signature"),
        (lambda r: r["attachments"][0].update(size=1235), "bad_signature"),
        (lambda r: r.update(signature=r["signature"][:-4] + "AAA="), "bad_signature"),
        (lambda r: r.update(signature="not base64!"), "bad_signature"),
        (lambda r: r.pop("issued_at"), "malformed"),
        (lambda r: r.update(extra=1), "malformed"),
        (lambda r: r.update(entity="user"), "malformed"),
        (lambda r: r.update(key_id="0" * 16), "unknown_key"),
    ],
)
def test_a_changed_or_truncated_receipt_is_refused(change, reason) -> None:
    private, key_id, keys = _key()
    receipt = copy.deepcopy(sign(BODY, private, key_id))
    change(receipt)
    with pytest.raises(ReceiptError) as refused:
        verify(receipt, keys)
    assert refused.value.reason == reason


def test_a_receipt_signed_by_another_key_under_a_published_id_is_refused() -> None:
    _, key_id, keys = _key()
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ReceiptError) as refused:
        verify(sign(BODY, other, key_id), keys)
    assert refused.value.reason == "bad_signature"


def test_a_published_key_whose_id_does_not_match_its_bytes_is_ignored() -> None:
    private = Ed25519PrivateKey.generate()
    assert load_public_keys([{"key_id": "f" * 16, "public_key": public_key_text(private)}]) == {}
    assert load_public_keys([{"key_id": "x", "public_key": "%%"}, {"nothing": 1}]) == {}
