"""Photos without a window (sizes in pixels and bytes, EXIF orientation, hashing) and a photo's
trip to the server with its activity: metadata as a mutation, bytes uploaded after, the server
holding all of it."""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from field_app.controllers.form import Photo
from field_app.photos import PhotoError, downscale, sha256_of, target_size
from tests.field_app.conftest import LiveServer
from tests.field_app.photo_samples import camera_jpeg, field_photo
from tests.field_app.test_backend import filled_form, make_session

# A 4 × 4 JPEG.
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


@pytest.fixture(scope="module")
def camera_photo(tmp_path_factory: pytest.TempPathFactory) -> Image.Image:
    """A 4000 × 3000 photo-like picture, upright (made once: it takes a few seconds)."""
    return field_photo(4000, 3000)


def test_a_camera_photo_is_stored_at_1600_px_and_a_few_hundred_kb(
    camera_photo: Image.Image, tmp_path: Path
) -> None:
    source = camera_jpeg(tmp_path / "camera.jpg", camera_photo)
    assert source.stat().st_size > 1_500_000  # what the camera wrote
    photo = downscale(source, tmp_path / "photos")
    with Image.open(photo.path) as stored:
        assert stored.format == "JPEG" and stored.size == (1600, 1200)
    # The finding: SDL2_image wrote 1.5-2.1 MB per 1 600 px photo, whatever the quality asked.
    assert 100_000 < photo.size < 500_000
    assert (photo.content_type, photo.size) == ("image/jpeg", Path(photo.path).stat().st_size)
    assert photo.sha256 == hashlib.sha256(Path(photo.path).read_bytes()).hexdigest()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_stored_upright(
    camera_photo: Image.Image, tmp_path: Path, orientation: int
) -> None:
    small = camera_photo.resize((2000, 1500))  # quicker, still downscaled
    source = camera_jpeg(tmp_path / "camera.jpg", small, orientation=orientation)
    photo = downscale(source, tmp_path / "photos")
    with Image.open(photo.path) as stored:
        assert stored.size == (1600, 1200)  # upright: landscape, like the picture taken
        assert stored.getexif().get(0x0112, 1) == 1  # nothing left for a viewer to turn
        mark = stored.getpixel((40, 40))
        far = stored.getpixel((1560, 40))
    assert mark[0] > 180 and mark[1] < 80, mark  # the red mark, top left
    assert not (far[0] > 180 and far[1] < 80), far


def test_a_small_png_becomes_a_jpeg_of_the_same_size(tmp_path: Path) -> None:
    source = tmp_path / "screenshot.png"
    Image.new("RGBA", (300, 200), (0, 120, 0, 0)).save(source)
    photo = downscale(source, tmp_path / "photos")
    with Image.open(photo.path) as stored:
        assert (stored.format, stored.size) == ("JPEG", (300, 200))
        assert stored.getpixel((10, 10)) == (255, 255, 255)  # transparent: on white


def test_a_webp_photo_becomes_a_jpeg(tmp_path: Path) -> None:
    # Photos saved from a messaging app or a phone's gallery are often WebP, which the server
    # takes (docs/protocol.md#attachments): the chooser hid them and the tablet refused them.
    source = tmp_path / "IMG-20261103-WA0007.webp"
    field_photo(400, 300).save(source, "WEBP", quality=80)
    photo = downscale(source, tmp_path / "photos")
    with Image.open(photo.path) as stored:
        assert (stored.format, stored.size) == ("JPEG", (400, 300))
    assert photo.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.jpg", b"\xff\xd8 not really a jpeg", "not a photo"),
        ("broken.webp", b"RIFF\x00\x00\x00\x00WEBP not really", "not a photo"),
        ("notes.txt", b"hello", "JPEG, PNG or WebP"),
    ],
)
def test_a_file_that_is_not_a_photo_says_so(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PhotoError, match=message):
        downscale(path, tmp_path / "photos")
    assert not any((tmp_path / "photos").glob("*")) if (tmp_path / "photos").exists() else True


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
