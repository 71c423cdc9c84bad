"""The sync bar's words: how much waits to be sent, when the last sync worked, what went wrong."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from field_app.i18n import _, ngettext


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the device store says about sync (docs/protocol.md#client-behaviour), as plain
    values."""

    pending: int
    last_success: datetime | None
    last_error: str | None
    attention: int = 0  # records returned, in conflict or rejected
    running: bool = False


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One sync round: what went and came, or why it failed (in words)."""

    at: datetime
    ok: bool
    error: str = ""
    sent: int = 0
    received: int = 0
    photos: int = 0


@dataclass(frozen=True, slots=True)
class SyncBarText:
    headline: str
    detail: str
    error: str
    tone: str  # ok | pending | error


def ago(moment: datetime | None, now: datetime) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago'; 'never' for None."""
    if moment is None:
        return _("never")
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return _("just now")
    minutes = seconds // 60
    if minutes < 60:
        return ngettext("{n} minute ago", "{n} minutes ago", minutes).format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("{n} hour ago", "{n} hours ago", hours).format(n=hours)
    days = hours // 24
    return ngettext("{n} day ago", "{n} days ago", days).format(n=days)


def sync_bar(status: SyncStatus, now: datetime) -> SyncBarText:
    if status.pending:
        headline = ngettext(
            "{n} record waiting to be sent", "{n} records waiting to be sent", status.pending
        ).format(n=f"{status.pending:,}")
    else:
        headline = _("Everything is sent")
    if status.attention:
        headline += " · " + ngettext(
            "{n} needs your attention", "{n} need your attention", status.attention
        ).format(n=status.attention)
    detail = _("Last successful sync: {when}").format(when=ago(status.last_success, now))
    error = ""
    if status.last_error:
        error = _("Last sync failed: {reason}").format(reason=status.last_error)
    tone = "error" if error else ("pending" if status.pending or status.attention else "ok")
    return SyncBarText(headline=headline, detail=detail, error=error, tone=tone)


class Coalescer:
    """Turns a burst of notifications, from any thread, into at most one call of ``run`` per
    ``interval`` seconds (the first at once, the last never lost).

    The sync thread reports every change of state; the UI must not redraw per report. ``later``
    schedules a call on the UI thread after a delay (Kivy's ``Clock.schedule_once`` in the app,
    a list in tests), ``clock`` tells the time.
    """

    def __init__(
        self,
        run: Callable[[], None],
        *,
        interval: float,
        later: Callable[[Callable[[], None], float], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._interval = interval
        self._later = later
        self._clock = clock
        self._lock = threading.Lock()
        self._planned = False
        self._last: float | None = None

    def __call__(self) -> None:
        """A notification (any thread): ``run`` follows, at most once per interval."""
        with self._lock:
            if self._planned:
                return  # the planned call will see this change too
            self._planned = True
            now = self._clock()
            delay = 0.0 if self._last is None else max(0.0, self._last + self._interval - now)
        self._later(self._fire, delay)

    def _fire(self) -> None:
        with self._lock:
            self._planned = False
            self._last = self._clock()
        self._run()
