"""Settings: the sync log in words, and where an offline bundle is written."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from field_app.controllers.status import LogEntry, ago, cause_words, size_text
from field_app.i18n import _, ngettext
from sync.bundle import NoBundleKey


def _what_went(entry: LogEntry) -> str:
    went = _(
        "changes sent {sent}, photos sent {photos}, changes received {received}; "
        "{up} up, {down} down"
    ).format(
        sent=entry.sent,
        photos=entry.photos,
        received=entry.received,
        up=size_text(entry.bytes_sent),
        down=size_text(entry.bytes_received),
    )
    # Sent is not accepted: what the server refused or found in conflict is said too.
    answered = []
    if entry.refused:
        answered.append(
            ngettext(
                "{n} refused by the server", "{n} refused by the server", entry.refused
            ).format(n=entry.refused)
        )
    if entry.conflicts:
        answered.append(
            ngettext("{n} in conflict", "{n} in conflict", entry.conflicts).format(
                n=entry.conflicts
            )
        )
    if answered:
        went += ". " + _("Of them, {which}: see “Needs attention”.").format(
            which=", ".join(answered)
        )
    return went


def log_line(entry: LogEntry, now: datetime) -> tuple[str, str, bool]:
    """(when, what, ok) of one sync round, in words: what it sent and received, bytes on the
    wire included, or why it failed (and what went before it did)."""
    when = ago(entry.at, now)
    if entry.ok:
        return when, _("Done: {what}").format(what=_what_went(entry)), True
    what = _("Failed: {reason}").format(reason=cause_words(entry.cause or None, entry.error))
    if entry.sent or entry.photos or entry.received or entry.bytes_sent:
        what += " " + _("Before that: {what}").format(what=_what_went(entry))
    return when, what, False


class NothingToExport(Exception):
    """Nothing waits to be sent: an offline bundle would be empty, so none is written."""


def bundle_error(error: BaseException) -> str:
    """Why no bundle was written, in words the field expert can act on."""
    if isinstance(error, NothingToExport):
        return _("Nothing to export: everything is already on the server.")
    if isinstance(error, NoBundleKey):
        return _(
            "This tablet has no key to sign bundles yet: connect to the server once "
            "(or enrol again), then write the bundle."
        )
    return _("Could not write the bundle: {reason}").format(reason=error)


def bundle_directory(data_dir: Path, name: str = "bundles") -> Path:
    """Where offline bundles (and saved receipts, ``name`` "receipts") go: a folder the user
    can reach with a cable or a file manager (Android's shared Documents folder when it is
    writable), else the folder ``name`` in the app's data folder."""
    shared = os.environ.get("EXTERNAL_STORAGE")
    if shared:
        candidate = Path(shared) / "Documents" / "PilotMonitor"
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            return candidate
        except OSError:
            pass
    return data_dir / name
