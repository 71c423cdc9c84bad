"""Photos: downscaled on the tablet before they are stored and sent (DESIGN §4.4).

Decision: the downscale uses Kivy itself — SDL2_image decodes, the GPU scales (a framebuffer
with linear filtering) and SDL2_image writes the JPEG — so an Android build needs no Pillow
recipe. It needs the GL context, so it runs on the UI thread; a 12-megapixel photo takes a few
hundred milliseconds, once, when the user adds it. The camera's EXIF orientation is applied while
scaling, since the re-encoded JPEG carries no EXIF.

The pure parts (target size, EXIF orientation, hashing) import nothing from Kivy.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from field_app.controllers.form import Photo
from field_app.i18n import _

MAX_SIDE = 1600  # pixels on the long side: sharp on a report page, ~300 KB as JPEG
ACCEPTED_SUFFIXES = (".jpg", ".jpeg", ".png")


class PhotoError(ValueError):
    """The file cannot be used as a photo; the message says why."""


def target_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The size a photo is scaled to: the long side at most ``max_side``, never enlarged."""
    if width <= 0 or height <= 0:
        raise PhotoError(_("This image is empty"))
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def exif_orientation(path: Path) -> int:
    """The EXIF orientation (1…8) of a JPEG, or 1 when it has none or is not a JPEG."""
    try:
        with path.open("rb") as stream:
            head = stream.read(2)
            if head != b"\xff\xd8":
                return 1
            while True:
                marker = stream.read(2)
                if len(marker) < 2 or marker[0] != 0xFF:
                    return 1
                if marker[1] in (0xD9, 0xDA):  # end of image, start of scan: no EXIF before
                    return 1
                (length,) = struct.unpack(">H", stream.read(2))
                segment = stream.read(length - 2)
                if marker[1] == 0xE1 and segment.startswith(b"Exif\x00\x00"):
                    return _orientation_in_tiff(segment[6:])
    except (OSError, struct.error):
        return 1


def _orientation_in_tiff(tiff: bytes) -> int:
    if tiff[:2] == b"II":
        order = "<"
    elif tiff[:2] == b"MM":
        order = ">"
    else:
        return 1
    (first_ifd,) = struct.unpack(order + "I", tiff[4:8])
    (entries,) = struct.unpack(order + "H", tiff[first_ifd:first_ifd + 2])
    for n in range(entries):
        at = first_ifd + 2 + 12 * n
        tag, _type, _count = struct.unpack(order + "HHI", tiff[at:at + 8])
        if tag == 0x0112:
            (value,) = struct.unpack(order + "H", tiff[at + 8:at + 10])
            return value if 1 <= value <= 8 else 1
    return 1


@dataclass(frozen=True, slots=True)
class Turn:
    """How to draw an EXIF-oriented image upright: rotate (degrees clockwise), then mirror."""

    degrees: int
    mirror: bool


ORIENTATION_TURNS: dict[int, Turn] = {
    1: Turn(0, False), 2: Turn(0, True), 3: Turn(180, False), 4: Turn(180, True),
    5: Turn(90, True), 6: Turn(90, False), 7: Turn(270, True), 8: Turn(270, False),
}


def downscale(source: Path, photos_dir: Path, *, max_side: int = MAX_SIDE) -> Photo:
    """Store a downscaled JPEG copy of ``source`` under ``photos_dir``; its metadata.

    Needs Kivy's window (GL). Small images that need no turn are copied as they are.
    """
    if source.suffix.lower() not in ACCEPTED_SUFFIXES:
        raise PhotoError(_("Choose a JPEG or PNG photo"))
    if not source.is_file():
        raise PhotoError(_("The photo file is gone: {name}").format(name=source.name))
    from kivy.core.image import Image as CoreImage
    from kivy.graphics import (
        ClearBuffers,
        ClearColor,
        Fbo,
        PopMatrix,
        PushMatrix,
        Rectangle,
        Rotate,
        Scale,
    )

    try:
        image = CoreImage(str(source), nocache=True)
    except Exception as exc:  # SDL2 reports unreadable files with bare Exceptions
        raise PhotoError(_("This file is not a photo the tablet can read")) from exc
    width, height = image.size
    turn = ORIENTATION_TURNS[exif_orientation(source)]
    if turn.degrees in (90, 270):
        width, height = height, width
    out_w, out_h = target_size(width, height, max_side)
    photo_id = str(uuid.uuid4())
    photos_dir.mkdir(parents=True, exist_ok=True)
    is_png = source.suffix.lower() == ".png"
    target = photos_dir / f"{photo_id}{'.png' if is_png else '.jpg'}"
    if (out_w, out_h) == (width, height) and turn == ORIENTATION_TURNS[1]:
        shutil.copyfile(source, target)
    else:
        fbo = Fbo(size=(out_w, out_h))
        with fbo:
            ClearColor(1, 1, 1, 1)
            ClearBuffers()
            PushMatrix()
            # Turn about the centre of the output, then draw the source upright into it.
            Rotate(angle=-turn.degrees, origin=(out_w / 2, out_h / 2))
            if turn.mirror:
                Scale(-1, 1, 1, origin=(out_w / 2, out_h / 2))
            draw_w, draw_h = (out_h, out_w) if turn.degrees in (90, 270) else (out_w, out_h)
            Rectangle(texture=image.texture,
                      pos=((out_w - draw_w) / 2, (out_h - draw_h) / 2), size=(draw_w, draw_h))
            PopMatrix()
        fbo.draw()
        CoreImage(fbo.texture).save(str(target), flipped=True)
    digest, size = sha256_of(target)
    return Photo(id=photo_id, path=str(target), sha256=digest, size=size,
                 content_type="image/png" if is_png else "image/jpeg")
