"""One sync round on the tablet: push the outbox, upload photos, pull the server's changes.

A round first reports the tablet's status (``report_status``: what it holds, a few hundred
bytes) and reports it again at its end when it sent anything. The steps then run in this order
(``STAGES``), each a small operation that leaves the store consistent if the app is killed in
the middle:

1. ``push``   — the outbox in batches capped by gzip bytes (about 256 KB, smaller on slow
                links: a batch that takes longer than ``slow_seconds`` halves the cap, a quick
                full one doubles it back), each answer stored in one local transaction;
2. ``upload`` — photo bytes whose metadata the server has answered (``sync.attachments``), in
                chunks sized to the link by the engine's one ``Uploader``;
3. ``pull``   — pages of changes, each page stored with its cursor in one local transaction.

No step reads the tablet's clock for a decision: durations use ``time.monotonic``, and "last
successful sync" is the server's own time.

For the app's status line: ``SyncEngine.report`` is the round in progress (or the last one,
also when it failed) — records answered, photos finished, bytes sent — and
``SyncEngine.on_progress(attachment_id, sent, total)`` follows the photo being sent.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sync import errors
from sync.attachments import ProgressCallback, Uploader, UploadTally
from sync.bundle import BUNDLE_KEY_ID_META, BUNDLE_KEY_META
from sync.client import SyncClient
from sync.custody import KeyLearner
from sync.protocol import DEFAULT_PULL_LIMIT, PROTOCOL_VERSION
from sync.report import tablet_status
from sync.store import DeviceStore

log = logging.getLogger("pilotmon.sync")

STAGES = ("push", "upload", "pull")

MAX_BATCH_BYTES = 256 * 1024
# Batches are small: the best compression costs little time and saves bytes on 2G links.
COMPRESS_LEVEL = 9
MIN_BATCH_BYTES = 4 * 1024


@dataclass
class SyncReport:
    """What one ``sync_once`` did (so far, while it runs; ``SyncEngine.report`` keeps a failed
    round's, with why it stopped)."""

    pushed: dict[str, int] = field(default_factory=dict)  # answers by status
    batches: int = 0
    pulled: int = 0
    uploaded: int = 0  # photos finished
    server_time: str | None = None
    photos: UploadTally = field(default_factory=UploadTally)  # chunks, failures, photo bytes
    # Bytes on the wire during the round, both ways (``SyncClient``'s counts).
    bytes_sent: int = 0
    bytes_received: int = 0
    # Pulled custody receipts refused (bad signature, unknown key, another record or tablet).
    receipts_refused: int = 0
    # Why the round stopped (``sync.errors`` cause and message); None when it went through.
    error_cause: str | None = None
    error: str | None = None

    def count(self, status: str) -> None:
        self.pushed[status] = self.pushed.get(status, 0) + 1

    @property
    def records(self) -> int:
        """Mutations the server answered this round."""
        return sum(self.pushed.values())


class SyncEngine:
    def __init__(
        self,
        store: DeviceStore,
        client: SyncClient,
        *,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        min_batch_bytes: int = MIN_BATCH_BYTES,
        max_batch_mutations: int = 2000,
        slow_seconds: float = 15.0,
        fast_seconds: float = 3.0,
        pull_limit: int = DEFAULT_PULL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        on_progress: ProgressCallback | None = None,
        language: Callable[[], str | None] | None = None,
    ) -> None:
        self.store = store
        # The app's language, reported in the tablet's status.
        self.language = language
        self.client = client
        self.uploader = Uploader(store, client, on_progress=on_progress)
        self.report = SyncReport()
        self.max_batch_bytes = max_batch_bytes
        self.min_batch_bytes = min(min_batch_bytes, max_batch_bytes)
        self.batch_bytes = max_batch_bytes
        self.max_batch_mutations = max_batch_mutations
        # The server's own limit on a batch's inflated size, learnt from /sync/info or a 413.
        self.server_max_bytes: int | None = None
        self.slow_seconds = slow_seconds
        self.fast_seconds = fast_seconds
        self.pull_limit = pull_limit
        self.clock = clock
        self._ratio = 0.25  # gzip size / JSON size, learnt from each batch

    # --- one round ---------------------------------------------------------------------------

    @property
    def on_progress(self) -> ProgressCallback | None:
        """Called as photo bytes go out: ``(attachment_id, sent, total)``."""
        return self.uploader.on_progress

    @on_progress.setter
    def on_progress(self, callback: ProgressCallback | None) -> None:
        self.uploader.on_progress = callback

    def stop_waiting(self) -> None:
        """The tablet is stopping: the round in progress, if any, waits no more between
        attempts and sends no further request (``SyncClient.stop_waiting``)."""
        self.client.stop_waiting()

    def sync_once(self) -> SyncReport:
        """Push, upload, pull. Raises a ``sync.errors`` error after recording it (message and
        cause) for the app; ``report`` keeps what the round did before it failed."""
        report = self.report = SyncReport()
        sent, received = self.client.bytes_sent, self.client.bytes_received
        try:
            self.report_status()
            self.push(report)
            report.uploaded = self.uploader.upload_all(report.photos)
            self.pull(report)
            self.fetch_bundle_key()
            if report.records or report.uploaded:
                self.report_status(went_through=True)  # what still waits after this round
        except errors.SyncClientError as exc:
            report.error_cause, report.error = exc.cause, exc.message
            self.store.set_meta(last_error=exc.message, last_error_cause=exc.cause)
            raise
        finally:
            report.bytes_sent = self.client.bytes_sent - sent
            report.bytes_received = self.client.bytes_received - received
        self.store.set_meta(last_error=None, last_error_cause=None, last_success=report.server_time)
        return report

    def report_status(self, *, went_through: bool = False) -> None:
        """Tell the server what this tablet holds (docs/protocol.md#tablet-status). Best effort:
        only a busy server (429/503) stops the round here, so that its Retry-After is kept;
        a server without the route (404), a refused status, a lost link or a refused tablet
        does not (the push meets the last two again, and reports them)."""
        status = tablet_status(
            self.store,
            app_version=self.client.app_version,
            language=self.language() if self.language else None,
        )
        if went_through:  # the error stored is the last round's, which this one got past
            status = status.model_copy(update={"last_error": None})
        try:
            self.client.post_status(status)
        except errors.ServerBusy:
            raise
        except errors.SyncClientError as exc:
            log.warning("the server did not take this tablet's status: %s", exc.message)

    def fetch_bundle_key(self) -> None:
        """A tablet enrolled before offline bundles were signed asks once for its key, so that
        it can write a bundle when it later goes offline for long (docs/protocol.md#enrolment)."""
        if self.store.meta(BUNDLE_KEY_META) and self.store.meta(BUNDLE_KEY_ID_META):
            return
        key, key_id = self.client.bundle_key()
        self.store.set_meta(**{BUNDLE_KEY_META: key, BUNDLE_KEY_ID_META: key_id})

    def learn_limits(self) -> None:
        """Ask the server for its limits (optional: a 413 teaches them too)."""
        info = self.client.info()
        self.max_batch_mutations = min(self.max_batch_mutations, info.max_batch_mutations)
        self.server_max_bytes = info.max_batch_bytes

    # --- push ----------------------------------------------------------------------------------

    def push(self, report: SyncReport | None = None) -> SyncReport:
        """Push the outbox, batch after batch; a batch is sent only once the one before it is
        answered (the server expects the seqs in order).

        The tablet's own work overlaps the server's: while a batch is in flight, a helper
        thread stores the answer to the batch before and reads and compresses the next one —
        the mutations after those in flight, which stay in the outbox until their answer is
        stored, so a kill at any point loses nothing (a batch sent but not yet acknowledged
        is sent again and answered ``duplicate``). Answers are stored in order, one at a time,
        and every one is stored before ``push`` returns or raises.
        """
        report = report or SyncReport()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-push") as helper:
            storing: Future[None] | None = None
            try:
                after = 0  # the last seq of the batch answered before
                batch = self._next_batch()
                while batch is not None:
                    seqs, _, packed = batch
                    ahead = helper.submit(self._next_batch, after=seqs[-1])
                    started = self.clock()
                    try:
                        answer = self.client.push_packed(packed)
                    except errors.TooLarge as exc:
                        ahead.result()  # read ahead under the old limits: not used
                        self._shrink(exc.limit)
                        batch = self._next_batch(after=after)
                        continue
                    except errors.SeqMismatch as exc:
                        raise self._gap(exc, seqs[0]) from exc
                    except errors.NetworkError:
                        self.batch_bytes = max(self.min_batch_bytes, self.batch_bytes // 2)
                        raise
                    self._adapt(self.clock() - started, len(packed))
                    if storing is not None:
                        storing.result()  # the answer before: stored (or its error raised)
                    storing = helper.submit(self.store.acknowledge, answer.results)
                    report.batches += 1
                    report.server_time = answer.server_time.isoformat()
                    for result in answer.results:
                        report.count(result.status)
                    answered = {r.seq for r in answer.results}
                    if any(seq not in answered for seq in seqs):
                        raise errors.ServerError(
                            "the server did not answer every mutation of a batch"
                        )
                    after = seqs[-1]
                    batch = ahead.result()
                    if batch is not None and len(batch[0]) > 1 and len(batch[2]) > self.batch_bytes:
                        # The link turned slow: read the next batch again under the new cap.
                        batch = self._next_batch(after=after)
            finally:
                if storing is not None:
                    storing.result()
        return report

    def _next_batch(self, *, after: int = 0) -> tuple[list[int], bytes, bytes] | None:
        """The next batch (the pending mutations after seq ``after``): its seqs, its JSON
        envelope and that envelope gzipped."""
        pending = self.store.pending_encoded(limit=self.max_batch_mutations, after=after)
        if not pending:
            return None
        device_id = self.store.device_id
        # Pick by JSON size with the learnt compression ratio, then check the real gzip size.
        budget = self.batch_bytes / max(self._ratio, 0.02)
        if self.server_max_bytes:
            budget = min(budget, self.server_max_bytes * 0.9)
        encoded: list[str] = []
        size = 0
        for _, text in pending:
            if encoded and size + len(text) > budget:
                break
            encoded.append(text)
            size += len(text)
        while True:
            envelope = _envelope(device_id, encoded)
            packed = gzip.compress(envelope, compresslevel=COMPRESS_LEVEL)
            self._ratio = max(len(packed) / max(len(envelope), 1), 0.02)
            if len(packed) <= self.batch_bytes or len(encoded) == 1:
                return [seq for seq, _ in pending[: len(encoded)]], envelope, packed
            encoded = encoded[: max(1, len(encoded) // 2)]

    def _adapt(self, seconds: float, sent: int) -> None:
        if seconds > self.slow_seconds:
            self.batch_bytes = max(self.min_batch_bytes, self.batch_bytes // 2)
        elif seconds < self.fast_seconds and sent >= self.batch_bytes // 2:
            self.batch_bytes = min(self.max_batch_bytes, self.batch_bytes * 2)

    def _shrink(self, limit: int | None) -> None:
        if limit and limit > 1024:
            self.server_max_bytes = limit
            self.max_batch_mutations = min(self.max_batch_mutations, limit)
        if self.batch_bytes <= self.min_batch_bytes and self.max_batch_mutations <= 1:
            raise errors.TooLarge("a single record is larger than the server accepts", limit=limit)
        self.batch_bytes = max(self.min_batch_bytes, self.batch_bytes // 2)
        self.max_batch_mutations = max(1, self.max_batch_mutations // 2)

    @staticmethod
    def _gap(exc: errors.SeqMismatch, first: int) -> errors.OutboxGap:
        # What the server already holds comes back as duplicates, so a 409 means the tablet
        # lacks mutations the server never received (its store was restored from a copy).
        return errors.OutboxGap(
            f"the server expects change #{exc.expected_seq} but this tablet's outbox starts at "
            f"#{first}: export an offline bundle and contact the country office",
            status=409,
        )

    # --- pull --------------------------------------------------------------------------------

    def pull(self, report: SyncReport | None = None) -> SyncReport:
        report = report or SyncReport()
        keys = KeyLearner(self.store, self.client)  # custody receipts: keys before verifying
        while True:
            page = self.client.pull(self.store.cursor, limit=self.pull_limit)
            keys.learn_for(page.changes)
            report.receipts_refused += self.store.apply_pull(
                page.changes, page.cursor, projects=page.projects
            )
            report.pulled += len(page.changes)
            report.server_time = page.server_time.isoformat()
            if not page.has_more:
                return report


def _envelope(device_id: str, encoded: list[str]) -> bytes:
    items = ",".join(encoded)
    head = json.dumps({"protocol": PROTOCOL_VERSION, "device_id": device_id})[:-1]
    return f'{head},"mutations":[{items}]}}'.encode()
