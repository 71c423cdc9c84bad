"""What the app shows about syncing: what waits (records, photos, bytes), the last success, the
last error with its cause, record states."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.schedule import SyncSchedule
from sync.store import DeviceStore, Waiting


@dataclass(frozen=True, slots=True)
class SyncStatus:
    pending: int  # outbox mutations
    photos_waiting: int
    # The server's time of the last round that went through (None: never).
    last_success: str | None
    # The last failure in plain words (None after a success) and its cause
    # (``sync.errors.CAUSES``), which the app words in the user's language.
    last_error: str | None
    syncing: bool = False
    next_attempt_in: float | None = None
    # Live records by state: pending | synced | photos_pending | returned | conflict | …
    records: dict[str, int] = field(default_factory=dict)
    open_conflicts: int = 0
    last_error_cause: str | None = None
    waiting: Waiting = field(default_factory=lambda: Waiting(0, 0, 0, 0))

    @property
    def summary(self) -> str:
        """One line for the status bar (English; the app words its own)."""
        if self.syncing:
            return "Syncing…"
        if self.last_error:
            return f"Not synced: {self.last_error}"
        if not self.waiting.nothing:
            return (
                f"{self.waiting.records} record(s) and {self.waiting.photos} photo(s) "
                "waiting to be sent"
            )
        if self.last_success:
            return "Everything is sent"
        return "Not synced yet"


def read_status(store: DeviceStore, schedule: SyncSchedule | None = None) -> SyncStatus:
    waiting = store.waiting()
    return SyncStatus(
        pending=waiting.mutations,
        photos_waiting=waiting.photos,
        last_success=store.meta("last_success"),
        last_error=store.meta("last_error"),
        last_error_cause=store.meta("last_error_cause"),
        syncing=bool(schedule and schedule.syncing),
        next_attempt_in=schedule.seconds_to_next() if schedule else None,
        records=store.states(),
        open_conflicts=len(store.conflicts(status="open")),
        waiting=waiting,
    )
