"""The sync bar's words: how much waits to be sent, when the last sync worked, what went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from field_app.i18n import _, ngettext


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the device store says about sync (DESIGN §4.5), as plain values."""

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
        headline = ngettext("{n} record waiting to be sent", "{n} records waiting to be sent",
                            status.pending).format(n=f"{status.pending:,}")
    else:
        headline = _("Everything is sent")
    if status.attention:
        headline += " · " + ngettext("{n} needs your attention", "{n} need your attention",
                                     status.attention).format(n=status.attention)
    detail = _("Last successful sync: {when}").format(when=ago(status.last_success, now))
    error = ""
    if status.last_error:
        error = _("Last sync failed: {reason}").format(reason=status.last_error)
    tone = "error" if error else ("pending" if status.pending or status.attention else "ok")
    return SyncBarText(headline=headline, detail=detail, error=error, tone=tone)
