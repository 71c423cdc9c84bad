"""Photos: downscaled on the tablet before they are stored and sent (docs/protocol.md#attachments).

Decision: Pillow (libjpeg) decodes, turns the picture upright by its EXIF orientation, scales
it with a Lanczos filter to at most ``MAX_SIDE`` pixels on the long side and encodes a JPEG at
``JPEG_QUALITY`` — about 300 KB for a 1 600 px field photo. Pillow has a python-for-android
recipe (``field_app/buildozer.spec``). The earlier downscale wrote its JPEG with SDL2_image,
whose encoder ignores the quality asked for: 1.5–2.1 MB per photo, 4–7 times the bytes to send
over a 2G link (``bench/field_bench.py --photos`` measures both).

A JPEG is decoded at a reduced scale straight away (libjpeg's DCT scaling, ``Image.draft``), so
a 12-megapixel photo never sits whole in memory. Pillow releases the GIL while it decodes,
scales and encodes: :func:`downscale` runs on a worker thread and the UI keeps drawing. No Kivy
here, and no window needed.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from field_app.controllers.form import Photo
from field_app.i18n import Worded, _

MAX_SIDE = 1600  # pixels on the long side: sharp on a report page
JPEG_QUALITY = 80  # ~300 KB at 1 600 px; the eye sees no difference from 90 on a report page
# What the server takes (docs/protocol.md#attachments), all stored as a JPEG here. WebP is how
# messaging apps and many phone galleries save photos.
ACCEPTED_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Refuse a "photo" that would need more memory than a tablet has (a decompression bomb).
MAX_PIXELS = 120_000_000


class PhotoError(Worded, ValueError):
    """The file cannot be used as a photo; the message says why (in the language of the
    moment it is shown)."""


def target_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The size a photo is scaled to: the long side at most ``max_side``, never enlarged."""
    if width <= 0 or height <= 0:
        raise PhotoError(lambda: _("This image is empty"))
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


def downscale(
    source: Path, photos_dir: Path, *, max_side: int = MAX_SIDE, quality: int = JPEG_QUALITY
) -> Photo:
    """Store an upright, downscaled JPEG copy of ``source`` under ``photos_dir``; its metadata.

    Every photo becomes a JPEG (a PNG screenshot or a WebP too, on white where it was
    transparent): one content type for the server and the reports. Needs no window: call it
    on a worker thread.
    """
    if source.suffix.lower() not in ACCEPTED_SUFFIXES:
        raise PhotoError(lambda: _("Choose a JPEG, PNG or WebP photo"))
    if not source.is_file():
        raise PhotoError(lambda: _("The photo file is gone: {name}").format(name=source.name))
    photo_id = str(uuid.uuid4())
    photos_dir.mkdir(parents=True, exist_ok=True)
    target = photos_dir / f"{photo_id}.jpg"
    try:
        with Image.open(source) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PhotoError(lambda: _("This file is not a photo the tablet can read"))
            # The long side is the same before and after the turn: decode at the smallest
            # scale that still covers the target (JPEG only; a no-op for PNG).
            image.draft("RGB", target_size(image.width, image.height, max_side))
            upright = ImageOps.exif_transpose(image)
            scaled = _rgb(upright)
            scaled.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            scaled.save(target, "JPEG", quality=quality, optimize=True)
    except PhotoError:
        target.unlink(missing_ok=True)
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        target.unlink(missing_ok=True)
        raise PhotoError(lambda: _("This file is not a photo the tablet can read")) from exc
    digest, size = sha256_of(target)
    return Photo(id=photo_id, path=str(target), sha256=digest, size=size, content_type="image/jpeg")


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "P") and (
        "transparency" in image.info or image.mode in ("RGBA", "LA")
    ):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")
