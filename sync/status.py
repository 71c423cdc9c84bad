"""What the app shows about syncing: pending count, last success, last error, record states."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.schedule import SyncSchedule
from sync.store import DeviceStore


@dataclass(frozen=True, slots=True)
class SyncStatus:
    pending: int
    photos_waiting: int
    # The server's time of the last round that went through (None: never).
    last_success: str | None
    # The last failure in plain words (None after a success).
    last_error: str | None
    syncing: bool = False
    next_attempt_in: float | None = None
    # Live records by state: pending | synced | returned | conflict | rejected | draft.
    records: dict[str, int] = field(default_factory=dict)
    open_conflicts: int = 0

    @property
    def summary(self) -> str:
        """One line for the status bar."""
        if self.syncing:
            return "Syncing…"
        if self.last_error:
            return f"Not synced: {self.last_error}"
        if self.pending:
            return f"{self.pending} change(s) waiting to be sent"
        if self.last_success:
            return "All records sent"
        return "Not synced yet"


def read_status(store: DeviceStore, schedule: SyncSchedule | None = None) -> SyncStatus:
    return SyncStatus(
        pending=store.pending_count(),
        photos_waiting=len(store.uploads(state="waiting")),
        last_success=store.meta("last_success"),
        last_error=store.meta("last_error"),
        syncing=bool(schedule and schedule.syncing),
        next_attempt_in=schedule.seconds_to_next() if schedule else None,
        records=store.states(),
        open_conflicts=len(store.conflicts(status="open")),
    )
