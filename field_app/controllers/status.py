"""The sync bar's words: what waits to be sent (records, photos, megabytes) and how far the
current upload is, when the last sync worked, what went wrong by its real cause; and the sync
log's lines (docs/protocol.md#client-behaviour).

"Everything is sent" only when the outbox and the upload queue are both empty: a record the
server holds whose photos are still on the tablet is not sent. A record the server refused is
not sent either: the bar counts it apart ("Refused by the server: 1 record"), as the custody
line counts it not yet safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from field_app.clock import clock_warning
from field_app.i18n import N_, _, decimal, ngettext, number, percent


@dataclass(frozen=True, slots=True)
class UploadNow:
    """The photo being sent now: how many of its bytes have gone out (the server holds them,
    or they are in the chunk in flight)."""

    attachment_id: str
    sent: int
    size: int

    @property
    def percent(self) -> int:
        return 100 if self.size <= 0 else min(100, int(100 * self.sent / self.size))


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the device store says about sync (docs/protocol.md#client-behaviour), as plain
    values."""

    pending: int  # records (not photos) with a change waiting to be sent
    last_success: datetime | None
    last_error: str | None  # the client's words (English), the detail behind ``error_cause``
    attention: int = 0  # records returned, in conflict or rejected
    refused: int = 0  # records whose last change the server refused (among ``attention``)
    running: bool = False
    photos: int = 0  # photos whose bytes have not all reached the server
    photo_bytes: int = 0  # their sizes
    error_cause: str | None = None  # sync.errors.CAUSES
    upload: UploadNow | None = None  # the photo going now, while a round sends photos
    changes: int = 0  # every outbox row (photo details and conflict decisions included)
    # The server's clock minus the tablet's (field_app.clock): days of it mean a wrong date.
    clock_offset: timedelta = timedelta(0)

    @property
    def everything_sent(self) -> bool:
        return self.pending == 0 and self.changes == 0 and self.photos == 0


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One sync round: what went and came, or why it failed (its cause and the detail)."""

    at: datetime
    ok: bool
    error: str = ""
    sent: int = 0  # changes the server answered
    received: int = 0  # changes pulled
    photos: int = 0  # photos whose last byte went in this round
    bytes_sent: int = 0  # on the wire, both ways
    bytes_received: int = 0
    cause: str = ""
    refused: int = 0  # of the changes answered, those the server refused
    conflicts: int = 0  # and those it answered as conflicts


# The words for each cause of a failed round (sync.errors.CAUSES); the client's English detail
# is the fallback for a cause this app does not know.
CAUSE_WORDS: dict[str, str] = {
    "no_network": N_("no network. Check mobile data or Wi-Fi; the tablet tries again by itself."),
    "unreachable": N_(
        "the server cannot be reached (it may be down). The tablet tries again by itself."
    ),
    "timeout": N_(
        "the link is too slow: the server's answer did not come in time. "
        "The tablet tries again by itself."
    ),
    "connection_lost": N_(
        "the connection broke during the transfer. The tablet tries again and goes on "
        "where it stopped."
    ),
    "not_the_server": N_(
        "the network answered with a web page, not the server. Sign in to the Wi-Fi or the "
        "mobile data page in a browser, or check the server address; the tablet tries again "
        "by itself."
    ),
    "certificate_date": N_(
        "the server's certificate is not valid at this tablet's date: check the tablet's date "
        "and time. The tablet tries again by itself."
    ),
    "certificate": N_(
        "the server's identity could not be checked: a Wi-Fi or mobile data sign-in page may "
        "stand in between. Sign in to it in a browser, or check the server address; the tablet "
        "tries again by itself."
    ),
    "stopped": N_(
        "the app was closed during the sync. It goes on where it stopped when the app opens."
    ),
    "busy": N_("the server is busy. The tablet tries again later."),
    "server_error": N_("the server had a problem. The tablet tries again later."),
    "not_enrolled": N_("the server does not know this tablet: enrol it again."),
    "revoked": N_(
        "this tablet may no longer sync. Its records stay on it; contact your country office."
    ),
    "password_changed": N_(
        "your password was changed, so this tablet was signed out. Its records stay on it: in "
        "Settings, choose “Enrol with another server or account” and log in with your new "
        "password."
    ),
    "outbox_gap": N_(
        "the server misses changes this tablet no longer holds. Export an offline bundle "
        "and contact your country office."
    ),
    "too_large": N_("a record is larger than the server accepts."),
    "too_old": N_("this app is too old for the server: update it."),
    "upload_refused": N_("the server refused a photo."),
    "refused": N_("the server refused a request ({detail})."),
    "unexpected": N_("an unexpected error ({detail})."),
}


def cause_words(cause: str | None, detail: str | None) -> str:
    """Why a round failed, in the user's language."""
    template = CAUSE_WORDS.get(cause or "")
    if template is None:
        return detail or _("unknown error")
    return _(template).format(detail=detail or "")


def size_text(size: int) -> str:
    """'310 KB', '4.2 MB' (decimal units, as phones show data use)."""
    if size < 1_000_000:
        return _("{n} KB").format(n=max(1, round(size / 1000)) if size else 0)
    return _("{n} MB").format(n=decimal(size / 1_000_000))


@dataclass(frozen=True, slots=True)
class SyncBarText:
    headline: str
    detail: str
    error: str
    tone: str  # ok | pending | error
    progress: float = -1.0  # the current upload, 0…1; -1 when none


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


def waiting_text(status: SyncStatus) -> str:
    """'Waiting to be sent: 2 records, 3 photos (4.1 MB)', or 'Everything is sent'."""
    if status.everything_sent:
        return _("Everything is sent")
    parts = []
    if status.pending:
        parts.append(
            ngettext("{n} record", "{n} records", status.pending).format(n=number(status.pending))
        )
    if status.photos:
        sent = status.upload.sent if status.upload else 0
        size = size_text(max(0, status.photo_bytes - sent))
        if sent:  # part of a photo went: what is left, not a 14 KB photo of 243 KB
            photos = ngettext("{n} photo ({size} left)", "{n} photos ({size} left)", status.photos)
        else:
            photos = ngettext("{n} photo ({size})", "{n} photos ({size})", status.photos)
        parts.append(photos.format(n=number(status.photos), size=size))
    if not parts:  # only photo details or conflict decisions wait
        parts.append(
            ngettext("{n} change", "{n} changes", status.changes).format(n=number(status.changes))
        )
    return _("Waiting to be sent: {what}").format(what=", ".join(parts))


def upload_text(upload: UploadNow) -> str:
    return _("Sending a photo: {sent} of {size} ({percent})").format(
        sent=size_text(upload.sent), size=size_text(upload.size), percent=percent(upload.percent)
    )


def sync_bar(status: SyncStatus, now: datetime) -> SyncBarText:
    headline = waiting_text(status)
    if status.refused:
        # Not "Everything is sent" above a custody line that says a record is not yet safe.
        refused = ngettext(
            "Refused by the server: {n} record",
            "Refused by the server: {n} records",
            status.refused,
        ).format(n=number(status.refused))
        headline = refused if status.everything_sent else f"{headline} · {refused}"
    if status.attention:
        headline += " · " + ngettext(
            "{n} needs your attention", "{n} need your attention", status.attention
        ).format(n=status.attention)
    last = _("Last successful sync: {when}").format(when=ago(status.last_success, now))
    detail = f"{upload_text(status.upload)} · {last}" if status.upload else last
    failed = ""
    if status.last_error or status.error_cause:
        failed = _("Last sync failed: {reason}").format(
            reason=cause_words(status.error_cause, status.last_error)
        )
    # A wrong date first: it is what the expert can mend now, and it may be why a sync failed.
    error = "\n".join(line for line in (clock_warning(status.clock_offset), failed) if line)
    waiting = not status.everything_sent or status.attention
    tone = "error" if error else ("pending" if waiting else "ok")
    progress = status.upload.percent / 100 if status.upload else -1.0
    return SyncBarText(headline=headline, detail=detail, error=error, tone=tone, progress=progress)


class UploadTracker:
    """Hears the sync thread's upload progress (``sync.attachments.ProgressCallback``: the
    attachment, the bytes gone out, its size) and keeps the latest for the sync bar.

    Every report calls ``on_change`` (the app's coalescer turns a burst into one redraw);
    ``clear`` when a round ends, so no stale "Sending a photo" stays on screen.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: UploadNow | None = None
        self.on_change: Callable[[], None] | None = None

    def __call__(self, attachment_id: str, sent: int, size: int) -> None:
        with self._lock:
            self._now = None if sent >= size else UploadNow(attachment_id, sent, size)
        if self.on_change is not None:
            self.on_change()

    def current(self) -> UploadNow | None:
        with self._lock:
            return self._now

    def clear(self) -> None:
        with self._lock:
            self._now = None


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
