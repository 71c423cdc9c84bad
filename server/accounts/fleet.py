"""The tablet fleet: each tablet's latest status, what needs a call, and what is still waiting
on the tablets (docs/protocol.md#tablet-status).

A tablet posts its status at the start of each sync round (``POST /sync/status``); the server
keeps the latest per tablet with its own receive time. Nothing here decides on the tablet's
clock: ``oldest_pending_captured_at`` is shown to people and only checked for plausibility.

Scope (docs/roles.md#tablets): the figures of a caller are those of the tablets it may list
(``server.scope.device_scope``): everything for HQ and admins, the tablets of the people who
share one of its countries for a country officer, its own tablets for a field expert. Revoked
tablets are left out: they can no longer sync, and the office revoked them on purpose.

"Needs a call" (``attention``), in this order of weight:

    pending_old    it has held data not yet on the server since more than
                   ``PILOTMON_PENDING_TABLET_DAYS`` days (server clock: ``pending_since``)
    silent         not heard from for more than ``SILENT_AFTER``
    low_storage    less than ``LOW_STORAGE_BYTES`` free
    error          its last round ended with an error
    clock          its date was more than ``CLOCK_TOLERANCE`` off the server's when it last
                   posted (``tablet_time``, an optional key): its new records carry wrong dates
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.models import Device, DevicePublic, DeviceStatus, DeviceStatusPublic, User
from server.columns import utcnow
from server.errors import ValidationFailed
from server.scope import JsonListOverlaps, device_scope
from shared.errors import ErrorCode, Issue
from sync.protocol import TabletStatus

SILENT_AFTER = timedelta(days=7)
LOW_STORAGE_BYTES = 500 * 1000 * 1000
# A tablet's clock may run ahead of the server's; more than this is a wrong date, not skew.
FUTURE_TOLERANCE = timedelta(days=1)
# A tablet whose clock is further off than this is told so, and so is the office (``clock``).
CLOCK_TOLERANCE = timedelta(days=1)
EARLIEST_CAPTURE = datetime(2000, 1, 1, tzinfo=UTC)

ATTENTION_REASONS: tuple[str, ...] = ("pending_old", "silent", "low_storage", "error", "clock")


# --- receiving ---------------------------------------------------------------------------------


def check_plausible(status: TabletStatus, *, now: datetime) -> None:
    """422 for what the schema cannot judge alone (``plausibility_issues``), all at once."""
    issues = plausibility_issues(
        oldest=status.oldest_pending_captured_at,
        pending_uploads=status.pending_uploads,
        pending_upload_bytes=status.pending_upload_bytes,
        tablet_time=status.tablet_time,
        now=now,
    )
    if issues:
        raise ValidationFailed(issues)


def plausibility_issues(
    *,
    oldest: datetime | None,
    pending_uploads: int | None,
    pending_upload_bytes: int | None,
    tablet_time: datetime | None = None,
    now: datetime,
) -> list[Issue]:
    """What the schema cannot judge alone: dates in the future or before 2000, and photo bytes
    waiting with no photo waiting (None: a value the schema refused, not judged again).

    A tablet that sends its own clock (``tablet_time``) has its captured date judged against
    that clock: a tablet a year ahead holds records dated a year ahead, and the office must see
    its status (``clock``) rather than lose it; a tablet whose clock is before 2000 may hold
    records dated before 2000. A record dated after the tablet's own present is still nonsense.
    """
    issues: list[Issue] = []
    present = tablet_time if tablet_time is not None else now
    if oldest is not None and oldest > present + FUTURE_TOLERANCE:
        issues.append(
            Issue(
                "oldest_pending_captured_at",
                ErrorCode.IN_FUTURE,
                "is in the future: check the tablet's date and time",
            )
        )
    if oldest is not None and oldest < EARLIEST_CAPTURE and present >= EARLIEST_CAPTURE:
        issues.append(
            Issue(
                "oldest_pending_captured_at",
                ErrorCode.DATE_IMPLAUSIBLE,
                "is before 2000: check the tablet's date and time",
            )
        )
    if pending_uploads == 0 and pending_upload_bytes is not None and pending_upload_bytes > 0:
        issues.append(
            Issue("pending_upload_bytes", ErrorCode.INVALID, "must be 0 when pending_uploads is 0")
        )
    return issues


def has_pending(row: DeviceStatus | TabletStatus) -> bool:
    return row.pending_mutations > 0 or row.pending_uploads > 0


def record_status(
    session: Session, *, device_id: uuid.UUID, status: TabletStatus, now: datetime | None = None
) -> DeviceStatus:
    """Keep ``status`` as the tablet's latest, received now (server clock)."""
    now = now or utcnow()
    check_plausible(status, now=now)
    row = session.get(DeviceStatus, device_id, with_for_update=True)
    if row is None:
        row = DeviceStatus(device_id=device_id)
    pending = has_pending(status)
    if not pending:
        row.pending_since = None
        row.flagged_at = None
    elif row.pending_since is None:
        row.pending_since = now
    row.received_at = now
    for name in TabletStatus.model_fields:
        setattr(row, name, getattr(status, name))
    # Stored in UTC: SQLite keeps no offset, so 08:15+02:00 must arrive as 06:15.
    if status.oldest_pending_captured_at is not None:
        row.oldest_pending_captured_at = status.oldest_pending_captured_at.astimezone(UTC)
    if status.tablet_time is not None:
        row.tablet_time = status.tablet_time.astimezone(UTC)
    session.add(row)
    session.flush()
    return row


# --- reading -----------------------------------------------------------------------------------


def status_public(row: DeviceStatus) -> DeviceStatusPublic:
    return DeviceStatusPublic(
        received_at=row.received_at,
        pending_mutations=row.pending_mutations,
        pending_uploads=row.pending_uploads,
        pending_upload_bytes=row.pending_upload_bytes,
        oldest_pending_captured_at=row.oldest_pending_captured_at,
        records=row.records,
        photos=row.photos,
        free_storage_bytes=row.free_storage_bytes,
        app_version=row.app_version,
        language=row.language,
        last_error=row.last_error,
        pending_since=row.pending_since,
        flagged_at=row.flagged_at,
        tablet_time=row.tablet_time,
        clock_offset_seconds=clock_offset(row),
    )


def clock_offset(row: DeviceStatus) -> int | None:
    """The tablet's clock minus the server's when the status arrived, in whole seconds (None:
    the tablet did not say its time)."""
    tablet, received = row.tablet_time, row.received_at
    if tablet is None or received is None:
        return None
    return round((tablet - received).total_seconds())


def statuses_of(session: Session, device_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DeviceStatus]:
    ids = list(device_ids)
    if not ids:
        return {}
    rows = session.exec(select(DeviceStatus).where(col(DeviceStatus.device_id).in_(ids)))
    return {row.device_id: row for row in rows}


def attention(
    device: DevicePublic, status: DeviceStatusPublic | None, *, now: datetime, pending_days: int
) -> list[str]:
    """Why this tablet needs a call (``ATTENTION_REASONS``, in that order); [] when it is fine
    or revoked."""
    if device.revoked:
        return []
    reasons = []
    if (
        status is not None
        and status.pending_since is not None
        and status.pending_since < now - timedelta(days=pending_days)
    ):
        reasons.append("pending_old")
    seen = device.last_seen_at or device.enrolled_at
    if seen < now - SILENT_AFTER:
        reasons.append("silent")
    if (
        status is not None
        and status.free_storage_bytes is not None
        and status.free_storage_bytes < LOW_STORAGE_BYTES
    ):
        reasons.append("low_storage")
    if status is not None and status.last_error:
        reasons.append("error")
    if (
        status is not None
        and status.clock_offset_seconds is not None
        and abs(status.clock_offset_seconds) > CLOCK_TOLERANCE.total_seconds()
    ):
        reasons.append("clock")
    return reasons


def with_status(
    session: Session, devices: Sequence[DevicePublic], *, now: datetime, pending_days: int
) -> list[DevicePublic]:
    """The devices with their latest status and their reasons for a call filled in."""
    found = statuses_of(session, (d.id for d in devices))
    out = []
    for device in devices:
        row = found.get(device.id)
        status = status_public(row) if row is not None else None
        out.append(
            device.model_copy(
                update={
                    "status": status,
                    "attention": attention(device, status, now=now, pending_days=pending_days),
                }
            )
        )
    return out


def call_order(device: DevicePublic) -> tuple[Any, ...]:
    """Sort key: tablets that need a call and hold data first, then those that need a call,
    then those holding data, then the rest; revoked last. Within each, the longest waiting
    (or silent) first."""
    status = device.status
    pending = status is not None and has_pending_public(status)
    if device.revoked:
        rank = 4
    elif device.attention and pending:
        rank = 0
    elif device.attention:
        rank = 1
    elif pending:
        rank = 2
    else:
        rank = 3
    since = (status.pending_since if status is not None and pending else None) or (
        device.last_seen_at or device.enrolled_at
    )
    return (rank, since, device.label, str(device.id))


def has_pending_public(status: DeviceStatusPublic) -> bool:
    return status.pending_mutations > 0 or status.pending_uploads > 0


# --- what is still on the tablets --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingOnTablets:
    records: int  # sum of pending_mutations
    photos: int  # sum of pending_uploads
    tablets: int  # tablets with anything pending
    oldest_report_at: datetime | None  # the oldest of those tablets' latest statuses

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "photos": self.photos,
            "tablets": self.tablets,
            "oldest_report_at": (
                self.oldest_report_at.isoformat() if self.oldest_report_at else None
            ),
        }


NOTHING_PENDING = PendingOnTablets(0, 0, 0, None)


def _in_scope(caller: Caller, country: str | None) -> list[Any]:
    conditions: list[Any] = [device_scope(caller), col(Device.revoked_at).is_(None)]
    if country:
        conditions.append(
            col(Device.user_id).in_(
                select(User.id).where(JsonListOverlaps(User.countries, [country]))
            )
        )
    return conditions


def pending_on_tablets(
    session: Session, *, caller: Caller, country: str | None = None
) -> PendingOnTablets:
    """What the caller's tablets (``device_scope``, not revoked; narrowed to the people of
    ``country`` when given) last said they still hold, summed."""
    pending = (col(DeviceStatus.pending_mutations) > 0) | (col(DeviceStatus.pending_uploads) > 0)
    row = session.exec(
        select(
            func.coalesce(func.sum(DeviceStatus.pending_mutations), 0),
            func.coalesce(func.sum(DeviceStatus.pending_uploads), 0),
            func.count(),
            func.min(DeviceStatus.received_at),
        )
        .select_from(DeviceStatus)
        .join(Device, col(Device.id) == DeviceStatus.device_id)
        .where(pending, *_in_scope(caller, country))
    ).one()
    return PendingOnTablets(int(row[0]), int(row[1]), int(row[2]), row[3])


@dataclass(frozen=True, slots=True)
class FlaggedTablet:
    id: uuid.UUID
    label: str
    username: str
    pending_mutations: int
    pending_uploads: int
    pending_since: datetime
    received_at: datetime


def flagged_tablets(
    session: Session, *, caller: Caller, country: str | None = None, limit: int = 20
) -> tuple[list[FlaggedTablet], int]:
    """The tablets the ``pending-tablets`` job flagged, in the caller's scope, longest first."""
    conditions = [col(DeviceStatus.flagged_at).is_not(None), *_in_scope(caller, country)]
    total = session.exec(
        select(func.count())
        .select_from(DeviceStatus)
        .join(Device, col(Device.id) == DeviceStatus.device_id)
        .where(*conditions)
    ).one()
    rows = session.exec(
        select(DeviceStatus, Device, User.username)
        .join(Device, col(Device.id) == DeviceStatus.device_id)
        .join(User, col(User.id) == Device.user_id)
        .where(*conditions)
        .order_by(col(DeviceStatus.pending_since), col(Device.label), col(Device.id))
        .limit(limit)
    )
    return [
        FlaggedTablet(
            device.id,
            device.label,
            username,
            status.pending_mutations,
            status.pending_uploads,
            status.pending_since,  # type: ignore[arg-type]
            status.received_at,
        )
        for status, device, username in rows
    ], int(total)


# --- the scheduled job -------------------------------------------------------------------------


def flag_pending_tablets(
    session: Session, *, days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Flag the tablets (not revoked) that have held unsynced data for more than ``days`` days
    and unflag those that no longer do. Returns what it found, for the job's record."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    flagged: list[dict[str, Any]] = []
    newly = 0
    rows = session.exec(
        select(DeviceStatus, Device, User.username)
        .join(Device, col(Device.id) == DeviceStatus.device_id)
        .join(User, col(User.id) == Device.user_id)
        .where(
            (col(DeviceStatus.flagged_at).is_not(None)) | (col(DeviceStatus.pending_since) < cutoff)
        )
    )
    for status, device, username in rows:
        since = status.pending_since
        due = device.revoked_at is None and since is not None and since < cutoff
        if not due:
            status.flagged_at = None
            session.add(status)
            continue
        if status.flagged_at is None:
            status.flagged_at = now
            newly += 1
            session.add(status)
        flagged.append(
            {
                "id": str(device.id),
                "label": device.label,
                "user": username,
                "pending_mutations": status.pending_mutations,
                "pending_uploads": status.pending_uploads,
                "pending_since": since.isoformat() if since else None,
                "days": (now - since).days if since else None,
            }
        )
    flagged.sort(key=lambda d: (d["pending_since"] or "", d["label"], d["id"]))
    return {"days": days, "as_of": now.isoformat(), "newly_flagged": newly, "tablets": flagged}
