"""Photo bytes, sent resumably after their metadata (docs/protocol.md#attachments).

For each waiting photo whose metadata the server has answered, ask the server how many bytes it
holds (``HEAD``) and send the rest in chunks (``PATCH`` with ``Upload-Offset``). The server keeps
the bytes of a chunk that was cut, so after ANY failure the uploader asks ``HEAD`` again and
resends only what did not arrive: a cut costs at most the bytes in flight, never more than one
chunk. A wrong offset answer (409) carries the right one.

Chunks follow the link (``ChunkSizer``): the first is small, the next ones carry about
``TARGET_SECONDS`` of the throughput measured so far (at most 1 MiB), and a failure halves them.
The uploader lives as long as its sync engine, so what it learnt of the link carries over to the
next round.

When the server refuses the finished bytes (sha256 or type mismatch) the photo starts over, up
to ``MAX_ATTEMPTS`` times, then is marked refused with the server's reason.

Progress: ``on_progress(attachment_id, sent, total)`` is called as bytes go out (``sent`` counts
the bytes the server holds plus those of the chunk in flight), for the tablet's status line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sync import errors
from sync.client import SyncClient
from sync.protocol import MAX_CHUNK_BYTES
from sync.store import DeviceStore, Upload

# The first chunk on a link of unknown speed: about 3 s at 2G rates (10 KB/s).
FIRST_CHUNK_BYTES = 32 * 1024
MIN_CHUNK_BYTES = 16 * 1024
# A chunk should take about this long at the measured rate: long enough that the round trip
# per chunk costs little, short enough that a cut costs little.
TARGET_SECONDS = 12.0
# Kept for callers that set a fixed chunk size.
CHUNK_BYTES = 256 * 1024
MAX_ATTEMPTS = 3
# Failed chunks in a row (each followed by HEAD) before the round gives up on the link.
MAX_FAILURES = 4

ProgressCallback = Callable[[str, int, int], None]


class ChunkSizer:
    """The next chunk's size, from the throughput of the chunks before it."""

    def __init__(
        self,
        *,
        first: int = FIRST_CHUNK_BYTES,
        smallest: int = MIN_CHUNK_BYTES,
        largest: int = MAX_CHUNK_BYTES,
        target_seconds: float = TARGET_SECONDS,
    ) -> None:
        self.smallest = min(smallest, largest)
        self.largest = largest
        self.target_seconds = target_seconds
        self.size = max(self.smallest, min(first, largest))
        self.rate: float | None = None  # bytes per second, smoothed

    def sent(self, size: int, seconds: float) -> None:
        """A chunk of ``size`` bytes went through in ``seconds`` (request to answer).

        A piece much smaller than the current size (a photo's last bytes) measures the round
        trip more than the link, and is not learnt from.
        """
        if seconds <= 0 or size <= 0 or size < self.size // 2:
            return
        measured = size / seconds
        self.rate = measured if self.rate is None else 0.5 * self.rate + 0.5 * measured
        wanted = int(self.rate * self.target_seconds)
        # Grow at most twofold a step (a short chunk measures the round trip more than the
        # link); shrink at once when the link slowed down.
        self.size = max(self.smallest, min(self.largest, wanted, 2 * self.size))

    def failed(self) -> None:
        self.size = max(self.smallest, self.size // 2)

    def limit(self, largest: int) -> None:
        """The server takes chunks of at most ``largest`` bytes."""
        self.largest = max(1, largest)
        self.smallest = min(self.smallest, self.largest)
        self.size = min(self.size, self.largest)


@dataclass
class UploadTally:
    """What the uploader sent in one round."""

    photos: int = 0  # photos finished
    chunks: int = 0  # chunks the server took
    failures: int = 0  # chunks that failed (cut, silent, server error)
    bytes: int = 0  # photo bytes put on the wire, including those of failed chunks


class Uploader:
    """Sends the waiting photos of ``store`` through ``client``."""

    def __init__(
        self,
        store: DeviceStore,
        client: SyncClient,
        *,
        sizer: ChunkSizer | None = None,
        on_progress: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.client = client
        self.sizer = sizer or ChunkSizer()
        self.on_progress = on_progress
        self.clock = clock

    def upload_all(self, tally: UploadTally | None = None) -> int:
        """Send every photo that may go now; returns how many finished."""
        tally = tally if tally is not None else UploadTally()
        before = tally.photos
        for upload in self.store.uploads(state="waiting"):
            if self.store.details_refused(upload.id):
                self.store.finish_upload(
                    upload.id, state="refused", error="the server refused this photo's details"
                )
                continue
            if not self.store.upload_ready(upload.id):
                continue
            if not upload.path.exists():
                self.store.finish_upload(
                    upload.id, state="refused", error="the photo file is missing from the tablet"
                )
                continue
            if self.upload_one(upload, tally):
                tally.photos += 1
        return tally.photos - before

    def upload_one(self, upload: Upload, tally: UploadTally | None = None) -> bool:
        """Send the bytes the server lacks; True once the server holds the whole photo."""
        tally = tally if tally is not None else UploadTally()
        offset = self.client.upload_offset(upload.id)
        self._progress(upload, offset)
        failures = 0
        with open(upload.path, "rb") as handle:
            while offset < upload.size:
                handle.seek(offset)
                chunk = handle.read(self.sizer.size)
                if not chunk:
                    raise errors.UploadRefused(
                        f"the photo file {upload.path.name} is shorter than its recorded size"
                    )
                start = offset
                started = self.clock()
                out = [0]  # bytes of this chunk gone out so far

                def went_out(sent: int, start: int = start, out: list[int] = out) -> None:
                    out[0] = sent
                    self._progress(upload, start + sent)

                try:
                    offset = self.client.upload_chunk(
                        upload.id, offset=start, chunk=chunk, on_sent=went_out
                    )
                except errors.OffsetMismatch as exc:
                    offset = exc.offset
                except errors.UploadRefused as exc:
                    attempts = self.store.count_upload_attempt(upload.id, exc.message)
                    if attempts >= MAX_ATTEMPTS:
                        self.store.finish_upload(upload.id, state="refused", error=exc.message)
                    return False
                except errors.TooLarge as exc:
                    if exc.limit is None or exc.limit >= len(chunk):
                        raise
                    self.sizer.limit(exc.limit)
                except (errors.NetworkError, errors.ServerError) as exc:
                    if isinstance(exc, errors.ServerBusy):
                        raise  # the schedule waits as long as the server asked
                    tally.failures += 1
                    failures += 1
                    self.sizer.failed()
                    if failures >= MAX_FAILURES:
                        raise
                    # The server kept what arrived: ask where to go on (a failing HEAD ends
                    # the round; the next one starts with HEAD too).
                    offset = self.client.upload_offset(upload.id)
                else:
                    tally.chunks += 1
                    failures = 0
                    self.sizer.sent(len(chunk), self.clock() - started)
                finally:
                    tally.bytes += out[0]
                self._progress(upload, offset)
        self.store.finish_upload(upload.id, state="done")
        return True

    def _progress(self, upload: Upload, sent: int) -> None:
        if self.on_progress is not None:
            self.on_progress(upload.id, min(sent, upload.size), upload.size)


def upload_photos(store: DeviceStore, client: SyncClient, *, chunk_bytes: int | None = None) -> int:
    """Send every photo that may go now; returns how many finished.

    ``chunk_bytes`` fixes the chunk size; by default it follows the link (``ChunkSizer``).
    """
    return _uploader(store, client, chunk_bytes).upload_all()


def upload_one(
    store: DeviceStore, client: SyncClient, upload: Upload, *, chunk_bytes: int | None = None
) -> bool:
    """Send the bytes the server lacks; True once the server holds the whole photo."""
    return _uploader(store, client, chunk_bytes).upload_one(upload)


def _uploader(store: DeviceStore, client: SyncClient, chunk_bytes: int | None) -> Uploader:
    sizer = None
    if chunk_bytes is not None:
        sizer = ChunkSizer(first=chunk_bytes, smallest=chunk_bytes, largest=chunk_bytes)
    return Uploader(store, client, sizer=sizer)
