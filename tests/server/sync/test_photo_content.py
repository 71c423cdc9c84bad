"""A finished upload must really be a file of its declared type (docs/protocol.md#attachments):
magic bytes followed by anything else are refused with 422 ``unreadable_file`` at
``content_type``, the bytes discarded and the offset back at 0, and nothing is served."""

from __future__ import annotations

import hashlib
import io
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFile
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Attachment
from server.sync.attachments import MAX_PHOTO_PIXELS, unreadable_reason
from tests.server.sync.conftest import Field, mutation, push, upload_chunk


def _image(kind: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (90, 140, 60)).save(out, format=kind)
    return out.getvalue()


def _pdf() -> bytes:
    body = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    return body + b"xref\n0 1\ntrailer\n<< /Root 1 0 R >>\nstartxref\n9\n%%EOF\n"


SCRIPT = b"<html><script>alert(1)</script></html>"
FAKES = {
    "jpeg behind JFIF magic": ("image/jpeg", b"\xff\xd8\xff\xe0" + SCRIPT),
    "png signature and junk": ("image/png", b"\x89PNG\r\n\x1a\n" + SCRIPT * 4),
    "webp header and junk": ("image/webp", b"RIFF\x00\x10\x00\x00WEBPVP8 " + SCRIPT),
    "a jpeg cut short": ("image/jpeg", _image("JPEG", (640, 480))[:1500]),
    "pdf header and html": ("application/pdf", b"%PDF-1.7\n" + SCRIPT),
}


def _with_photo(client: TestClient, field: Field, data: bytes, content_type: str) -> str:
    record = field.activity()
    photo_id = str(uuid.uuid4())
    metadata = {
        "id": photo_id,
        "activity_id": record["id"],
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": content_type,
        "caption": "Demonstration plot",
    }
    answer = push(client, field, [mutation(1, record), mutation(2, metadata, entity="attachment")])
    assert [r["status"] for r in answer.json()["results"]] == ["applied", "applied"], answer.text
    return photo_id


@pytest.mark.parametrize("name", sorted(FAKES))
def test_magic_bytes_before_something_else_are_refused(
    client: TestClient, field: Field, engine: Engine, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a server that has made a quarterly report: importing WeasyPrint lets Pillow decode a
    # truncated image, for the whole process.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    content_type, data = FAKES[name]
    photo_id = _with_photo(client, field, data, content_type)

    refused = upload_chunk(client, field, photo_id, 0, data)

    assert refused.status_code == 422, refused.text
    body: dict[str, Any] = refused.json()
    assert body["code"] == "unreadable_file"
    assert [(e["field"], e["code"]) for e in body["detail"]] == [
        ("content_type", "unreadable_file")
    ]
    assert body["upload_offset"] == 0  # discarded: the tablet sends it again from the start
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and not stored.complete and stored.received == 0
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.status_code == 404


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/jpeg", _image("JPEG")),
        ("image/png", _image("PNG")),
        ("image/webp", _image("WEBP")),
        ("application/pdf", _pdf()),
    ],
)
def test_a_real_file_of_each_type_completes_and_is_served(
    client: TestClient, field: Field, content_type: str, data: bytes
) -> None:
    photo_id = _with_photo(client, field, data, content_type)
    done = upload_chunk(client, field, photo_id, 0, data)
    assert done.status_code == 200, done.text
    assert done.json()["complete"] is True
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.status_code == 200
    assert served.headers["content-type"] == content_type
    assert served.content == data


def test_too_many_pixels_are_refused_before_decoding(tmp_path: Path) -> None:
    """A small file that claims a huge canvas (a decompression bomb) costs no memory."""
    side = int(MAX_PHOTO_PIXELS**0.5) + 100
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # RGB, 8 bits: ~150 MB decoded
    pixels = zlib.compress(b"\x00" * 4096)  # the start of a huge, very compressible picture

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    path = tmp_path / "bomb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    reason = unreadable_reason(path, "image/png")
    assert reason is not None and "pixels" in reason


def test_an_image_of_another_type_than_declared_is_not_decoded_as_one(tmp_path: Path) -> None:
    path = tmp_path / "photo"
    path.write_bytes(_image("PNG"))
    assert unreadable_reason(path, "image/jpeg") is not None
    assert unreadable_reason(path, "image/png") is None
