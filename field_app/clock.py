"""The server's time as the tablet knows it, and whether the tablet's own date is wrong.

Every answer from the server carries its time. The app learns the offset between that and the
tablet's clock, and every date it decides on or shows (today in a form, "synced 5 minutes
ago") is the tablet's clock corrected by it (docs/protocol.md#client-behaviour). A field
expert whose tablet is days off is told so on the sync bar (``clock_warning``): the records'
``captured_at`` are the tablet's clock, and the server refuses a status whose dates are
implausible.

An offset learnt once goes stale the moment someone sets the clock, typically right after
being told to. So the answer's moment is also kept against the time since the tablet booted
(Linux's ``CLOCK_BOOTTIME``, which counts sleep too and no one sets) and the boot's id. While
the tablet has not restarted, the server's time is the answer's time plus the time since: a
clock set since then changes nothing, and no sync is needed to see it right. After a restart,
or where the kernel says neither, the offset learnt at the last answer stands, as before.

No Kivy here: the backend and tests use it directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from field_app.i18n import _, ngettext, number

# Beyond this the tablet's date is wrong, not merely a little off: the server's own tolerance
# for a tablet's dates (server/accounts/fleet.py, FUTURE_TOLERANCE).
WRONG_AFTER = timedelta(days=1)
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True)
class BootTime:
    """Seconds since this boot (sleep included) and the boot's id."""

    boot_id: str
    seconds: float


def _read_boot_id() -> str | None:
    try:
        return BOOT_ID_FILE.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


class KernelBootClock:
    """``BootTime`` from the kernel, or None where it tells neither (not Linux, or the boot id
    is unreadable). The boot id cannot change while the process runs: read once."""

    def __init__(self) -> None:
        self._boot_id = _read_boot_id()

    def __call__(self) -> BootTime | None:
        clock = getattr(time, "CLOCK_BOOTTIME", None)
        if self._boot_id is None or clock is None:
            return None
        try:
            return BootTime(self._boot_id, time.clock_gettime(clock))
        except OSError:
            return None


BootClock = Callable[[], BootTime | None]


@dataclass(frozen=True, slots=True)
class Anchor:
    """The server's time at an answer, and the boot time at that moment."""

    server_time: datetime
    boot_id: str
    boot_seconds: float

    def to_text(self) -> str:
        return json.dumps(
            {
                "server_time": self.server_time.isoformat(),
                "boot_id": self.boot_id,
                "boot_seconds": self.boot_seconds,
            }
        )

    @classmethod
    def from_text(cls, text: str | None) -> Anchor | None:
        if not text:
            return None
        try:
            found = json.loads(text)
            moment = datetime.fromisoformat(found["server_time"])
            return cls(
                moment if moment.tzinfo else moment.replace(tzinfo=UTC),
                str(found["boot_id"]),
                float(found["boot_seconds"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


def anchor_at(server_time: datetime, boot: BootTime | None) -> Anchor | None:
    return None if boot is None else Anchor(server_time, boot.boot_id, boot.seconds)


def offset_now(
    anchor: Anchor | None, learnt: timedelta, boot: BootTime | None, tablet_now: datetime
) -> timedelta:
    """How far the server's clock is ahead of the tablet's now (negative: the tablet is
    ahead). From the anchor while the tablet has not restarted since (its boot id, and its boot
    time not gone back); else the offset ``learnt`` at the last answer."""
    if (
        anchor is not None
        and boot is not None
        and boot.boot_id == anchor.boot_id
        and boot.seconds >= anchor.boot_seconds
    ):
        server_now = anchor.server_time + timedelta(seconds=boot.seconds - anchor.boot_seconds)
        return server_now - tablet_now
    return learnt


def clock_warning(offset: timedelta) -> str:
    """The sync bar's words when the tablet's date is wrong (``offset``: the server's clock
    minus the tablet's), or "" when it is right to within ``WRONG_AFTER``."""
    if abs(offset) <= WRONG_AFTER:
        return ""
    days = round(abs(offset) / timedelta(days=1))
    if offset < timedelta(0):
        off = ngettext("{n} day ahead of the server", "{n} days ahead of the server", days).format(
            n=number(days)
        )
    else:
        off = ngettext("{n} day behind the server", "{n} days behind the server", days).format(
            n=number(days)
        )
    return _(
        "This tablet's date is wrong ({off}): set the date and time in the tablet's settings."
    ).format(off=off)
