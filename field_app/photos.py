"""Photos: downscaled on the tablet before they are stored and sent (docs/protocol.md#attachments).

Decision: the downscale uses the SDL2 and SDL2_image libraries Kivy already ships (on Android
too), called through ``ctypes`` — SDL2_image decodes, SDL scales with linear filtering
(``SDL_SoftStretchLinear``), SDL2_image writes the JPEG — so an Android build needs no Pillow
recipe, and no GL context: :func:`downscale` runs on a worker thread. ``ctypes`` lets go of the
GIL during each call, so the UI thread keeps drawing while a 12-megapixel photo is decoded and
scaled (a few hundred milliseconds). The camera's EXIF orientation is applied after scaling
(quarter turns and mirroring of the pixels, in slices), since the re-encoded JPEG carries no EXIF.

The pure parts (target size, EXIF orientation, hashing, turning pixels) import nothing from Kivy.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import importlib.util
import shutil
import struct
import threading
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    (entries,) = struct.unpack(order + "H", tiff[first_ifd : first_ifd + 2])
    for n in range(entries):
        at = first_ifd + 2 + 12 * n
        tag, _type, _count = struct.unpack(order + "HHI", tiff[at : at + 8])
        if tag == 0x0112:
            (value,) = struct.unpack(order + "H", tiff[at + 8 : at + 10])
            return value if 1 <= value <= 8 else 1
    return 1


@dataclass(frozen=True, slots=True)
class Turn:
    """How to draw an EXIF-oriented image upright: rotate (degrees clockwise), then mirror."""

    degrees: int
    mirror: bool


ORIENTATION_TURNS: dict[int, Turn] = {
    1: Turn(0, False),
    2: Turn(0, True),
    3: Turn(180, False),
    4: Turn(180, True),
    5: Turn(90, True),
    6: Turn(90, False),
    7: Turn(270, True),
    8: Turn(270, False),
}


JPEG_QUALITY = 90
_ARGB8888 = 0x16362004  # SDL_PIXELFORMAT_ARGB8888: one 32-bit word per pixel


def turn_pixels(
    pixels: array[int], width: int, height: int, turn: Turn
) -> tuple[array[int], int, int]:
    """``pixels`` (one word per pixel, rows top to bottom) turned ``turn.degrees`` clockwise,
    then mirrored left to right if ``turn.mirror``; with the new width and height."""
    out = array(pixels.typecode)
    if turn.degrees == 90:  # a new row is an old column, read bottom to top
        for x in range(width):
            out.extend(
                pixels[x + (height - 1) * width :: -width] if height > 1 else pixels[x : x + 1]
            )
        width, height = height, width
    elif turn.degrees == 270:  # a new row is an old column, right to left, read top down
        for x in range(width - 1, -1, -1):
            out.extend(pixels[x::width])
        width, height = height, width
    elif turn.degrees == 180:
        out = pixels[::-1]
    else:
        out = array(pixels.typecode, pixels)
    if turn.mirror:
        for row in range(height):
            start = row * width
            out[start : start + width] = out[start : start + width][::-1]
    return out, width, height


class _Surface(ctypes.Structure):
    # The head of SDL2's SDL_Surface (stable ABI): what the downscale reads.
    _fields_ = [
        ("flags", ctypes.c_uint32),
        ("format", ctypes.c_void_p),
        ("w", ctypes.c_int),
        ("h", ctypes.c_int),
        ("pitch", ctypes.c_int),
        ("pixels", ctypes.c_void_p),
    ]


_SurfacePointer = ctypes.POINTER(_Surface)


class _SDL:
    """The few SDL2 and SDL2_image calls the downscale needs."""

    def __init__(self) -> None:
        self.sdl = _open_library("SDL2")
        self.image = _open_library("SDL2_image")
        sdl, image = self.sdl, self.image
        image.IMG_Load.argtypes = [ctypes.c_char_p]
        image.IMG_Load.restype = _SurfacePointer
        image.IMG_SaveJPG.argtypes = [_SurfacePointer, ctypes.c_char_p, ctypes.c_int]
        image.IMG_SaveJPG.restype = ctypes.c_int
        image.IMG_SavePNG.argtypes = [_SurfacePointer, ctypes.c_char_p]
        image.IMG_SavePNG.restype = ctypes.c_int
        sdl.SDL_ConvertSurfaceFormat.argtypes = [_SurfacePointer, ctypes.c_uint32, ctypes.c_uint32]
        sdl.SDL_ConvertSurfaceFormat.restype = _SurfacePointer
        sdl.SDL_CreateRGBSurfaceWithFormat.argtypes = [
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        sdl.SDL_CreateRGBSurfaceWithFormat.restype = _SurfacePointer
        sdl.SDL_SoftStretchLinear.argtypes = [
            _SurfacePointer,
            ctypes.c_void_p,
            _SurfacePointer,
            ctypes.c_void_p,
        ]
        sdl.SDL_SoftStretchLinear.restype = ctypes.c_int
        sdl.SDL_FreeSurface.argtypes = [_SurfacePointer]
        sdl.SDL_FreeSurface.restype = None
        sdl.SDL_GetError.argtypes = []
        sdl.SDL_GetError.restype = ctypes.c_char_p

    def error(self) -> str:
        return (self.sdl.SDL_GetError() or b"").decode("utf-8", "replace")

    def surface(self, width: int, height: int) -> Any:
        made = self.sdl.SDL_CreateRGBSurfaceWithFormat(0, width, height, 32, _ARGB8888)
        if not made:
            raise MemoryError(f"SDL could not make a {width}×{height} image: {self.error()}")
        return made


def _open_library(name: str) -> ctypes.CDLL:
    """SDL's libraries as Kivy ships them: beside Kivy in a wheel (``Kivy.libs``), in the APK
    on Android (``lib<name>.so``), or the system's."""
    candidates: list[str] = []
    kivy = importlib.util.find_spec("kivy")  # found, not imported: no Kivy start-up here
    if kivy is not None and kivy.origin:
        shipped = Path(kivy.origin).resolve().parent.parent / "Kivy.libs"
        candidates += [str(p) for p in sorted(shipped.glob(f"lib{name}-*.so*"))]
    candidates.append(f"lib{name}.so")
    found = ctypes.util.find_library(name)
    if found:
        candidates.append(found)
    errors = []
    for candidate in candidates:
        try:
            return ctypes.CDLL(candidate)
        except OSError as exc:
            errors.append(str(exc))
    raise PhotoError(
        _("This tablet cannot prepare photos: {reason}").format(
            reason=errors[-1] if errors else name
        )
    )


_sdl: _SDL | None = None
_sdl_lock = threading.Lock()


def _library() -> _SDL:
    global _sdl
    with _sdl_lock:
        if _sdl is None:
            _sdl = _SDL()
        return _sdl


def downscale(source: Path, photos_dir: Path, *, max_side: int = MAX_SIDE) -> Photo:
    """Store a downscaled JPEG copy of ``source`` under ``photos_dir``; its metadata.

    Needs no window: call it on a worker thread. Small images that need no turn are copied as
    they are.
    """
    if source.suffix.lower() not in ACCEPTED_SUFFIXES:
        raise PhotoError(_("Choose a JPEG or PNG photo"))
    if not source.is_file():
        raise PhotoError(_("The photo file is gone: {name}").format(name=source.name))
    sdl = _library()
    loaded = sdl.image.IMG_Load(str(source).encode())
    if not loaded:
        raise PhotoError(_("This file is not a photo the tablet can read"))
    surfaces = [loaded]
    try:
        width, height = loaded.contents.w, loaded.contents.h
        turn = ORIENTATION_TURNS[exif_orientation(source)]
        sideways = turn.degrees in (90, 270)
        out_w, out_h = target_size(*((height, width) if sideways else (width, height)), max_side)
        photo_id = str(uuid.uuid4())
        photos_dir.mkdir(parents=True, exist_ok=True)
        is_png = source.suffix.lower() == ".png"
        target = photos_dir / f"{photo_id}{'.png' if is_png else '.jpg'}"
        if (out_w, out_h) == (
            (height, width) if sideways else (width, height)
        ) and turn == ORIENTATION_TURNS[1]:
            shutil.copyfile(source, target)
        else:
            pixels = sdl.sdl.SDL_ConvertSurfaceFormat(loaded, _ARGB8888, 0)
            if not pixels:
                raise PhotoError(_("This file is not a photo the tablet can read"))
            surfaces.append(pixels)
            # Scale first (fewer pixels to turn), upright size before the turn.
            scaled_w, scaled_h = (out_h, out_w) if sideways else (out_w, out_h)
            scaled = sdl.surface(scaled_w, scaled_h)
            surfaces.append(scaled)
            if sdl.sdl.SDL_SoftStretchLinear(pixels, None, scaled, None) != 0:
                raise PhotoError(sdl.error())
            result = scaled
            if turn != ORIENTATION_TURNS[1]:
                result = _turned(sdl, scaled.contents, turn)
                surfaces.append(result)
            saved = (
                sdl.image.IMG_SavePNG(result, str(target).encode())
                if is_png
                else sdl.image.IMG_SaveJPG(result, str(target).encode(), JPEG_QUALITY)
            )
            if saved != 0:
                target.unlink(missing_ok=True)
                raise PhotoError(
                    _("The photo could not be saved: {reason}").format(reason=sdl.error())
                )
    finally:
        for surface in reversed(surfaces):
            sdl.sdl.SDL_FreeSurface(surface)
    digest, size = sha256_of(target)
    return Photo(
        id=photo_id,
        path=str(target),
        sha256=digest,
        size=size,
        content_type="image/png" if is_png else "image/jpeg",
    )


def _turned(sdl: _SDL, surface: _Surface, turn: Turn) -> Any:
    width, height, pitch = surface.w, surface.h, surface.pitch
    raw = ctypes.string_at(surface.pixels, pitch * height)
    if pitch != width * 4:
        raw = b"".join(raw[r * pitch : r * pitch + width * 4] for r in range(height))
    pixels = array("I")
    pixels.frombytes(raw)
    turned, new_w, new_h = turn_pixels(pixels, width, height, turn)
    result = sdl.surface(new_w, new_h)
    out = result.contents
    data = turned.tobytes()
    if out.pitch == new_w * 4:
        ctypes.memmove(out.pixels, data, len(data))
    else:
        for r in range(new_h):
            ctypes.memmove(
                out.pixels + r * out.pitch, data[r * new_w * 4 : (r + 1) * new_w * 4], new_w * 4
            )
    return result
