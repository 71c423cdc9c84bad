"""Custody in words (docs/protocol.md#custody-receipts): "Safe to wipe" when the server has
signed for everything this tablet holds, or exactly what is not yet safe (records, photos, and
the day the oldest change of them was saved on this tablet, never a record's own date); and
what "Save receipts" tells the field expert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from field_app.controllers import dates
from field_app.i18n import _, ngettext, number
from sync.store import Custody


@dataclass(frozen=True, slots=True)
class CustodyText:
    headline: str
    detail: str
    tone: str  # ok | pending


def custody_text(custody: Custody) -> CustodyText:
    """'Safe to wipe', or 'Not yet safe to wipe: 2 records, 3 photos' with the oldest."""
    if custody.safe_to_wipe:
        return CustodyText(
            headline=_("Safe to wipe"),
            detail=_("The server has signed a receipt for every record and photo on this tablet."),
            tone="ok",
        )
    parts = []
    if custody.records:
        parts.append(
            ngettext("{n} record", "{n} records", custody.records).format(n=number(custody.records))
        )
    if custody.photos:
        parts.append(
            ngettext("{n} photo", "{n} photos", custody.photos).format(n=number(custody.photos))
        )
    what = ", ".join(parts) or _("changes waiting to be sent")
    detail = _("Do not wipe or hand over this tablet yet.")
    oldest = _local_day(custody.oldest)
    if oldest is not None:
        # The day of the change, not of the record: an old record edited today is dated today.
        saved = _("The oldest change was saved on {date}.").format(date=dates.in_words(oldest))
        detail = saved + " " + detail
    return CustodyText(
        headline=_("Not yet safe to wipe: {what}").format(what=what), detail=detail, tone="pending"
    )


def _local_day(moment: str | None) -> str | None:
    """The tablet's day (ISO) of the oldest change not yet safe: the store dates it in UTC
    (``Custody.oldest``), a file from before dating kept a capture time or a plain date."""
    if not moment:
        return None
    try:
        when = datetime.fromisoformat(moment)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.date().isoformat()


def receipts_saved(path: Path, count: int) -> str:
    return ngettext("{n} receipt saved to {path}.", "{n} receipts saved to {path}.", count).format(
        n=number(count), path=path
    )


def receipts_error(error: BaseException) -> str:
    return _("Could not save the receipts: {reason}").format(reason=error)
