"""Photo bytes, sent resumably after their metadata (docs/protocol.md#attachments).

For each waiting photo whose metadata the server has answered, ask the server how many bytes it
holds (``HEAD``) and send the rest in chunks (``PATCH`` with ``Upload-Offset``). A kill or a
dropped connection loses at most the chunk in flight: the next round starts from the server's
offset, so it resends at most one chunk. A wrong offset answer (409) carries the right one.
When the server refuses the finished bytes (sha256 or type mismatch) the photo starts over, up
to ``MAX_ATTEMPTS`` times, then is marked refused with the server's reason.

``on_progress(attachment_id, bytes_held, size)`` hears how far the current photo has gone (after
the offset is known and after every chunk), for the app's "sending photo 2 of 5" line.
"""

from __future__ import annotations

from collections.abc import Callable

from sync import errors
from sync.client import SyncClient
from sync.store import REJECTED, DeviceStore, Upload

CHUNK_BYTES = 256 * 1024
MAX_ATTEMPTS = 3

# (attachment id, bytes the server holds, the photo's size)
UploadProgress = Callable[[str, int, int], None]


def _quiet(_attachment_id: str, _held: int, _size: int) -> None:
    pass


def upload_photos(
    store: DeviceStore,
    client: SyncClient,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    on_progress: UploadProgress = _quiet,
) -> int:
    """Send every photo that may go now; returns how many finished."""
    finished = 0
    for upload in store.uploads(state="waiting"):
        if store.state("attachment", upload.id) == REJECTED:
            store.finish_upload(
                upload.id, state="refused", error="the server refused this photo's details"
            )
            continue
        if not store.upload_ready(upload.id):
            continue
        if not upload.path.exists():
            store.finish_upload(
                upload.id, state="refused", error="the photo file is missing from the tablet"
            )
            continue
        if upload_one(store, client, upload, chunk_bytes=chunk_bytes, on_progress=on_progress):
            finished += 1
    return finished


def upload_one(
    store: DeviceStore,
    client: SyncClient,
    upload: Upload,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    on_progress: UploadProgress = _quiet,
) -> bool:
    """Send the bytes the server lacks; True once the server holds the whole photo."""
    offset = client.upload_offset(upload.id)
    on_progress(upload.id, offset, upload.size)
    with open(upload.path, "rb") as handle:
        while offset < upload.size:
            handle.seek(offset)
            chunk = handle.read(chunk_bytes)
            if not chunk:
                raise errors.UploadRefused(
                    f"the photo file {upload.path.name} is shorter than its recorded size"
                )
            try:
                offset = client.upload_chunk(upload.id, offset=offset, chunk=chunk)
            except errors.OffsetMismatch as exc:
                offset = exc.offset
            except errors.UploadRefused as exc:
                attempts = store.count_upload_attempt(upload.id, exc.message)
                if attempts >= MAX_ATTEMPTS:
                    store.finish_upload(upload.id, state="refused", error=exc.message)
                return False
            on_progress(upload.id, offset, upload.size)
    store.finish_upload(upload.id, state="done")
    return True
