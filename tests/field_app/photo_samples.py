"""Photo-like pictures for tests and the bench: a sky, textured ground with grain, plants; they
compress like a field photo (about 2.4 MB as a 4000 × 3000 camera JPEG, about 250 KB at 1 600 px
and quality 80), unlike flat test colours that compress to nothing."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

# EXIF orientation -> how the camera stored an upright picture (the inverse of the turn a
# viewer applies; orientations 2, 3, 4, 5 and 7 are their own inverse).
STORED_AS: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # shown turned 90° clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
MARK = (220, 20, 20)  # a red square in the upright picture's top-left corner


def field_photo(width: int, height: int, *, seed: int = 0) -> Image.Image:
    """An upright photo-like picture: sky on top, a red mark in the top-left corner."""
    rng = random.Random(seed)

    def blobs(scale: int, sigma: float) -> Image.Image:
        small = Image.effect_noise((max(1, width // scale), max(1, height // scale)), sigma)
        return small.resize((width, height), Image.Resampling.BICUBIC)

    grain = Image.effect_noise((width, height), 10)
    bands = []
    for base in (90, 120, 60):
        channel = Image.blend(Image.blend(blobs(64, 60), blobs(8, 40), 0.5), grain, 0.35)
        bands.append(channel.point(lambda v, b=base: min(255, max(0, v - 88 + b))))
    image = Image.merge("RGB", bands)
    sky = Image.linear_gradient("L").resize((width, height // 3))
    image.paste(
        Image.merge(
            "RGB",
            (
                sky.point(lambda v: 150 + v // 4),
                sky.point(lambda v: 180 + v // 5),
                Image.new("L", sky.size, 235),
            ),
        ),
        (0, 0),
    )
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height // 3, height)
        r = rng.randrange(max(2, width // 80), max(3, width // 20))
        green = (30, 90 + rng.randrange(80), 30)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=green, width=max(2, r // 10))
    side = max(4, min(width, height) // 10)
    draw.rectangle((0, 0, side, side), fill=MARK)
    return image


def camera_jpeg(
    path: Path, upright: Image.Image, *, orientation: int = 1, quality: int = 92
) -> Path:
    """``upright`` as a camera stores it: pixels as the sensor saw them, EXIF orientation."""
    turn = STORED_AS[orientation]
    stored = upright if turn is None else upright.transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, "JPEG", quality=quality, exif=exif.tobytes())
    return path
