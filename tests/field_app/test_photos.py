"""Photos without a window (sizes, EXIF orientation, hashing) and a photo's trip to the server
with its activity: metadata as a mutation, bytes uploaded after, the server holding all of it."""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from field_app.controllers.form import Photo
from field_app.photos import ORIENTATION_TURNS, PhotoError, exif_orientation, sha256_of, target_size
from tests.field_app.conftest import LiveServer
from tests.field_app.test_backend import filled_form, make_session

# A 4 × 4 JPEG as SDL2_image writes it on the tablet.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAgEAYABgAAD//gAeQ3JlYXRlZCBieSBUaW55IEpQRUcgRW5jb2Rlcv/bAEMAAQEBAQEBAQEB"
    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAf/bAEMBAQEBAQEB"
    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAf/AABEIAAQA"
    "BAMBEQACEQEDEQH/xAAfAAABBQEBAQEBAQAAAAAAAAAAAQIDBAUGBwgJCgv/xAC1EAACAQMDAgQDBQUEBAAAAX0B"
    "AgMABBEFEiExQQYTUWEHInEUMoGRoQgjQrHBFVLR8CQzYnKCCQoWFxgZGiUmJygpKjQ1Njc4OTpDREVGR0hJSlNU"
    "VVZXWFlaY2RlZmdoaWpzdHV2d3h5eoOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK"
    "0tPU1dbX2Nna4eLj5OXm5+jp6vHy8/T19vf4+fr/xAAfAQADAQEBAQEBAQEBAAAAAAAAAQIDBAUGBwgJCgv/xAC1"
    "EQACAQIEBAMEBwUEBAABAncAAQIDEQQFITEGEkFRB2FxEyIygQgUQpGhscEJIzNS8BVictEKFiQ04SXxFxgZGiYn"
    "KCkqNTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqCg4SFhoeIiYqSk5SVlpeYmZqio6Slpqeo"
    "qaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2dri4+Tl5ufo6ery8/T19vf4+fr/2gAMAwEAAhEDEQA/APyGr+Gj"
    "/qoA/9k="
)


def with_orientation(jpeg: bytes, orientation: int, *, big_endian: bool = True) -> bytes:
    """The JPEG with an EXIF APP1 segment saying how to turn it."""
    order = ">" if big_endian else "<"
    tiff = (
        (b"MM" if big_endian else b"II")
        + struct.pack(order + "HI", 42, 8)
        + struct.pack(order + "H", 1)
        + struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
        + struct.pack(order + "I", 0)
    )
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (1600, 1200)),
        ((3000, 4000), (1200, 1600)),
        ((800, 600), (800, 600)),
        ((1600, 10), (1600, 10)),
        ((16000, 9), (1600, 1)),
    ],
)
def test_target_size_keeps_the_shape_and_never_enlarges(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert target_size(*size) == expected


def test_target_size_refuses_an_empty_image() -> None:
    with pytest.raises(PhotoError, match="empty"):
        target_size(0, 10)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("big_endian", [True, False])
def test_exif_orientation_is_read(tmp_path: Path, orientation: int, big_endian: bool) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(with_orientation(TINY_JPEG, orientation, big_endian=big_endian))
    assert exif_orientation(path) == orientation
    assert orientation in ORIENTATION_TURNS


def test_no_exif_or_not_a_jpeg_means_upright(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(TINY_JPEG)
    other = tmp_path / "other.png"
    other.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert exif_orientation(plain) == 1
    assert exif_orientation(other) == 1
    assert exif_orientation(tmp_path / "missing.jpg") == 1


def test_sha256_of(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(TINY_JPEG)
    assert sha256_of(path) == (hashlib.sha256(TINY_JPEG).hexdigest(), len(TINY_JPEG))


def test_a_photo_reaches_the_server_with_its_activity(
    live_server: LiveServer, tmp_path: Path
) -> None:
    session = make_session(tmp_path)
    session.enrol(server_url=live_server.url, code=live_server.codes[0])
    session.backend.sync_once()
    form = filled_form(session, live_server.project_id)
    downscaled = tmp_path / "tablet" / "photos" / "p.jpg"
    downscaled.parent.mkdir(parents=True, exist_ok=True)
    downscaled.write_bytes(TINY_JPEG)
    digest, size = sha256_of(downscaled)
    photo = Photo(
        id=str(uuid.uuid4()),
        path=str(downscaled),
        sha256=digest,
        size=size,
        content_type="image/jpeg",
        caption="Storage shed",
    )
    form.add_photo(photo)
    session.backend.save_activity(form.save(captured_at=datetime.now(UTC)))
    assert not downscaled.exists()  # the store keeps its own copy
    assert [p.id for p in session.photos_of(form.id)] == [photo.id]

    session.backend.sync_once()

    answer = live_server.api("GET", f"/attachments/{photo.id}")
    assert answer.status_code == 200 and answer.content == TINY_JPEG
    assert session.status().pending == 0
    session.close()
