"""Photo bytes for tests. The server decodes every finished upload as its declared type
(docs/protocol.md#attachments), so a test photo starts with a real, tiny image; what follows it
(noise of any size, so that each photo differs and gzip cannot shrink it) the decoder ignores,
as it does bytes after a real image's end."""

from __future__ import annotations

import io

from PIL import Image


def _tiny(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 140, 60)).save(out, format=kind)
    return out.getvalue()


JPEG_HEAD = _tiny("JPEG")  # about 630 bytes
PNG_HEAD = _tiny("PNG")  # under 100 bytes
# The smallest file a PDF reader accepts the shape of: a header, and the trailer at its end.
PDF_TAIL = b"\ntrailer\n<< >>\nstartxref\n9\n%%EOF\n"


def jpeg_of(size: int, padding: bytes) -> bytes:
    """A JPEG of exactly ``size`` bytes, ``padding`` (cut or repeated) after the image."""
    room = size - len(JPEG_HEAD)
    assert room >= 0, f"a test JPEG holds at least {len(JPEG_HEAD)} bytes"
    return JPEG_HEAD + (padding * (room // max(1, len(padding)) + 1))[:room]
