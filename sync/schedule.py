"""Background sync on the tablet: a timer thread that keeps trying with no user action.

Chosen over APScheduler (and over Kivy's Clock) because:

- the next attempt depends on the last result (back-off after failures, sooner while the outbox
  still holds work, soon after a save): one loop computing its own delay says that directly,
  where an APScheduler job would be rescheduled by hand after every run;
- the delay is measured on ``time.monotonic``: APScheduler's triggers run on the wall clock,
  and tablet clocks jump (a year either way in the field), which would stall or burst them;
- sync must run off the UI thread anyway (Kivy's Clock runs callbacks on it); the app calls
  ``sync_soon()`` after a save and reads ``status()`` from its own Clock to refresh the screen;
- it is the standard library only, which python-for-android packages for free, and tests drive
  it deterministically through ``run_once`` with an injected clock and random source.

Back-off: after the n-th failure in a row, wait ``first_retry × 2^(n-1)`` seconds, capped at
``max_delay``, with "equal jitter" (half fixed, half random) so that tablets that lost the
server together do not all come back in the same second. A save wakes the loop (after
``save_delay``, never sooner than ``min_gap`` after the last attempt).

A busy server (``errors.ServerBusy``: 429 or 503 still after the client's own short retries)
sets a floor: no round starts before its ``Retry-After`` has passed (capped at
``MAX_RETRY_AFTER``) — neither the back-off, nor a save, nor "Sync now" brings it sooner.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sync import errors
from sync.engine import SyncReport
from sync.store import DeviceStore

log = logging.getLogger("pilotmon.sync")

# A Retry-After longer than this is taken as this (a misconfigured server cannot park tablets
# for weeks).
MAX_RETRY_AFTER = 6 * 3600.0


class Syncs(Protocol):
    """What the schedule drives: ``sync.engine.SyncEngine`` (or a stand-in in tests)."""

    store: DeviceStore

    def sync_once(self) -> SyncReport: ...

    def stop_waiting(self) -> None: ...


class SyncSchedule:
    def __init__(
        self,
        engine: Syncs,
        *,
        interval: float = 300.0,
        first_retry: float = 10.0,
        max_delay: float = 1800.0,
        save_delay: float = 2.0,
        min_gap: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.first_retry = first_retry
        self.max_delay = max_delay
        self.save_delay = save_delay
        self.min_gap = min_gap
        self.clock = clock
        self.rng = rng
        self.on_change = on_change
        self.failures = 0
        self.syncing = False
        self.last_attempt: float | None = None
        self.last_report: SyncReport | None = None
        self.next_at = clock()
        # No round before this (a busy server's Retry-After), on ``clock``.
        self.not_before: float | None = None
        # Set by a save; survives a round that was running when the save came in.
        self._soon: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- control -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pilotmon-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """No more rounds; a round in progress has its request on the wire cut, stops waiting
        between attempts and sends no further request, and this waits up to ``timeout`` for it
        to end (what it writes to the store after an answer is quick)."""
        self._stop.set()
        self._wake.set()
        self.engine.stop_waiting()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sync_soon(self) -> None:
        """Call after a save: the record leaves soon, whatever the back-off said."""
        with self._lock:
            earliest = self.clock() + self.save_delay
            if self.last_attempt is not None:
                earliest = max(earliest, self.last_attempt + self.min_gap)
            earliest = self._not_before(earliest)
            self._soon = earliest if self._soon is None else min(self._soon, earliest)
            self.next_at = min(self.next_at, earliest)
        self._wake.set()

    def sync_now(self) -> None:
        """The user asked ("Sync now"): a round as soon as the thread is free."""
        with self._lock:
            self.next_at = self._not_before(self.clock())
            self._soon = self.next_at
        self._wake.set()

    def _not_before(self, moment: float) -> float:
        return moment if self.not_before is None else max(moment, self.not_before)

    def seconds_to_next(self) -> float:
        return max(0.0, self.next_at - self.clock())

    # --- one attempt -----------------------------------------------------------------------------

    def run_once(self) -> bool:
        """One sync round now; plans the next one. True when the round succeeded."""
        self.syncing = True
        self._changed()
        with self._lock:
            self.last_attempt = self.clock()
            self._soon = None  # this round takes every save made so far
        ok = False
        busy_for: float | None = None
        try:
            self.last_report = self.engine.sync_once()
            ok = True
        except errors.ServerBusy as exc:
            log.info("sync failed: %s", exc.message)
            busy_for = exc.retry_after
        except errors.SyncClientError as exc:
            log.info("sync failed: %s", exc.message)
        except Exception as exc:
            log.exception("sync failed unexpectedly")
            self.engine.store.set_meta(
                last_error=f"unexpected error: {exc}", last_error_cause="unexpected"
            )
        finally:
            self.syncing = False
        with self._lock:
            now = self.clock()
            self.not_before = (
                now + min(busy_for, MAX_RETRY_AFTER)
                if busy_for
                else None
                if ok
                else self.not_before
            )
            planned = now + self.next_delay(ok)
            if self._soon is not None:  # a save during the round: honour it
                planned = min(planned, max(self._soon, self.last_attempt + self.min_gap))
                self._soon = None
            self.next_at = self._not_before(planned)
        self._changed()
        return ok

    def next_delay(self, ok: bool) -> float:
        if ok:
            self.failures = 0
            return 1.0 if self.engine.store.pending_count() else self.interval
        self.failures += 1
        ceiling = min(self.max_delay, self.first_retry * 2 ** (self.failures - 1))
        return ceiling / 2 + self.rng() * ceiling / 2

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.seconds_to_next()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue  # woken early or time is up: recompute
            self.run_once()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("sync status callback failed")
