"""The activity kernel: the one write path of an activity, whoever writes it.

``write_activities`` (``write_activity`` for one, ``tombstone_activity`` for a delete) is called
by every writer — sync push (and so bundle imports), conflict resolution, review, the
management API, the demo loader — and owns every duty of a write, in the caller's transaction:

- the write permission (``refusal``: the caller's projects, a field expert's own records);
- the rows: the activity, its attendance rows, its roster links (new activities in a few
  multi-row inserts, edits through the session);
- the version bump and the revisions (the bases later merges use, the history): a new
  activity's version 1 stays in its own rows (``created_via`` names its writer's source); the
  first later version writes version 1's revision from the row as it stood, then its own
  (docs/architecture.md#revisions);
- the change-log entry tablets pull (docs/protocol.md#pull);
- the quality flags and the late mark, whenever the content changes (``flags.FlagFacts``);
- the roll-up delta (``server.records.rollups``, applied before the transaction commits).

The caller validates first (``shared.validation``) and commits after. A hook that must follow
every applied write (a custody receipt, say) belongs in ``_written``, which every path ends in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.activities.flags import FlagFacts, project_facts
from server.activities.models import (
    Activity,
    ActivityParticipant,
    ActivityRevision,
    AttendanceRow,
)
from server.activities.shape import (
    ACTIVITY_COLUMNS,
    ATTENDANCE_COLUMNS,
    ATTENDANCE_KEYS,
    EDITABLE_FIELDS,
    WIRE_FIELDS,
    activity_wire,
    apply_fields,
    as_uuid,
    attendance_wire,
    new_activity,
)
from server.columns import utcnow
from server.db import among
from server.errors import Forbidden
from server.projects.models import Project
from server.records.bulk import binder, insert_rows
from server.records.changes import ChangeRecord, record_changes
from server.records.revisions import first_in_row
from server.records.rollups import Written, rollups
from shared.catalogue import ActivityStatus, Role
from shared.errors import ErrorCode, Issue

__all__ = [
    "ATTENDANCE_KEYS",
    "EDITABLE_FIELDS",
    "WIRE_FIELDS",
    "ActivityWrite",
    "Writer",
    "activity_wire",
    "attendance_by_activity",
    "attendance_wire",
    "first_revision",
    "load_wire",
    "project_facts",
    "refusal",
    "tombstone_activity",
    "write_activities",
    "write_activity",
    "write_new_activities",
]


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes, from where: checked against the project, kept in the revision."""

    source: str  # push | api | review | bundle | resolve | demo
    caller: Caller | None = None  # None: the server itself (the demo loader, a script)
    author_id: uuid.UUID | None = None  # the caller's user when there is one
    device_id: uuid.UUID | None = None

    @classmethod
    def of(cls, caller: Caller, *, source: str, device_id: uuid.UUID | None = None) -> Writer:
        return cls(source=source, caller=caller, author_id=caller.user.id, device_id=device_id)


@dataclass(slots=True)
class ActivityWrite:
    """One write of one activity.

    ``data``: validated wire data — every field of a new activity, or the fields an edit
    changes (empty for a status change alone). ``warnings``: the validation's warnings, kept
    with the quality flags. ``record``: the full new state as validated wire data, for the
    flags of an edit (defaults to the stored state with ``data`` applied).
    """

    data: Mapping[str, Any] = field(default_factory=dict)
    existing: Activity | None = None
    status: str | None = None
    delete: bool = False
    restore: bool = False  # an edit that brings a deleted activity back
    warnings: Sequence[Issue] = ()
    record: Mapping[str, Any] | None = None


_NOT_YOURS = "only the expert who recorded this activity may change it"
_NOT_YOUR_PROJECT = (
    "not one of your projects: the tablet may only record for the projects its user works on"
)


def may_write(caller: Caller, project: Project) -> bool:
    """Field experts write in their projects, country officers in their countries, admins
    anywhere."""
    if caller.role == Role.FIELD_EXPERT:
        return project.id in caller.project_ids
    if caller.role == Role.COUNTRY_OFFICER:
        return project.country in caller.countries
    return caller.role == Role.ADMIN


def refusal(caller: Caller | None, project: Project, existing: Activity | None) -> Issue | None:
    """Why ``caller`` may not write this activity of ``project`` (None: they may). Field
    experts change only the activities they recorded."""
    if caller is None:
        return None
    if not may_write(caller, project):
        return Issue("project_id", ErrorCode.OUT_OF_SCOPE, _NOT_YOUR_PROJECT)
    if (
        existing is not None
        and caller.role == Role.FIELD_EXPERT
        and existing.created_by_id != caller.user.id
    ):
        return Issue("id", ErrorCode.NOT_YOUR_RECORD, _NOT_YOURS)
    return None


def attendance_by_activity(
    session: Session, activity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Attendance rows of many activities in one query, in insertion order."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {a: [] for a in activity_ids}
    if not activity_ids:
        return found
    rows = session.execute(
        select(AttendanceRow)
        .where(among(session, AttendanceRow.activity_id, activity_ids))
        .order_by(AttendanceRow.id)  # type: ignore[arg-type]
    ).scalars()
    for row in rows:
        found[row.activity_id].append(attendance_wire([row])[0])
    return found


def load_wire(session: Session, activity: Activity) -> dict[str, Any]:
    return activity_wire(activity, attendance_by_activity(session, [activity.id])[activity.id])


# --- the one write path ------------------------------------------------------------------


def write_activities(
    session: Session,
    writes: Sequence[ActivityWrite],
    *,
    writer: Writer,
    facts: FlagFacts | None = None,
) -> list[uuid.UUID]:
    """Apply ``writes`` in order with every duty of an activity write (module docstring);
    returns the ids written. New activities go in together, in a few multi-row inserts, after
    the edits of the same call. ``facts``: the lookups behind the flags, to share across calls
    (a push keeps one); a ``Forbidden`` means the writer may not write one of them."""
    if not writes:
        return []
    rollups()  # installed at start-up, or nothing is written
    facts = facts or FlagFacts(session, utcnow().date())
    new: list[tuple[Project, ActivityWrite]] = []
    ids: list[uuid.UUID] = []
    for write in writes:
        existing = write.existing
        project_id = existing.project_id if existing is not None else write.data["project_id"]
        project = facts.project(project_id)
        if project is None:
            raise Forbidden(_NOT_YOUR_PROJECT, code=ErrorCode.OUT_OF_SCOPE)
        refused = refusal(writer.caller, project, existing)
        if refused is not None:
            raise Forbidden(refused.message, code=ErrorCode(refused.code))
        if existing is None:
            new.append((project, write))
        else:
            _write_one(session, write, existing, project, writer=writer, facts=facts)
            ids.append(existing.id)
    if new:
        ids += _write_new(session, new, writer=writer, facts=facts)
    return ids


def write_activity(
    session: Session,
    *,
    data: Mapping[str, Any],
    existing: Activity | None,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    status: str | None = None,
    caller: Caller | None = None,
    warnings: Sequence[Issue] = (),
    record: Mapping[str, Any] | None = None,
    facts: FlagFacts | None = None,
) -> Activity:
    """One activity through ``write_activities``: created from validated wire data, or
    updated with the fields in ``data`` (``status`` moves the review state). Returns it."""
    writer = Writer(source=source, caller=caller, author_id=author_id, device_id=device_id)
    write = ActivityWrite(
        data=data, existing=existing, status=status, warnings=warnings, record=record
    )
    (activity_id,) = write_activities(session, [write], writer=writer, facts=facts)
    if existing is not None:
        return existing
    found = session.get(Activity, activity_id)
    assert found is not None
    return found


def tombstone_activity(
    session: Session,
    *,
    activity: Activity,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    caller: Caller | None = None,
) -> Activity:
    """Delete by tombstone: the row stays, marked deleted, and pulls hand out a delete."""
    writer = Writer(source=source, caller=caller, author_id=author_id, device_id=device_id)
    write_activities(session, [ActivityWrite(existing=activity, delete=True)], writer=writer)
    return activity


def write_new_activities(
    session: Session,
    *,
    records: Sequence[Mapping[str, Any]],
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    caller: Caller | None = None,
    warnings: Sequence[Sequence[Issue]] | None = None,
    facts: FlagFacts | None = None,
) -> list[uuid.UUID]:
    """Many new activities (validated wire data) through ``write_activities``."""
    writer = Writer(source=source, caller=caller, author_id=author_id, device_id=device_id)
    writes = [
        ActivityWrite(data=record, warnings=warnings[n] if warnings else ())
        for n, record in enumerate(records)
    ]
    return write_activities(session, writes, writer=writer, facts=facts)


def _write_one(
    session: Session,
    write: ActivityWrite,
    activity: Activity,
    project: Project,
    *,
    writer: Writer,
    facts: FlagFacts,
) -> None:
    """An edit, a status change, a delete or a restore of a stored activity."""
    now = utcnow()
    data = write.data
    _keep_first_version(session, activity)
    activity.version += 1
    if write.delete:
        activity.deleted = True
        activity.deleted_at = now
    elif write.restore:
        activity.deleted = False
        activity.deleted_at = None
    apply_fields(activity, data)
    if write.status is not None:
        if write.status == ActivityStatus.SUBMITTED and activity.status != write.status:
            activity.submitted_at = now
        activity.status = write.status
    activity.updated_at = now
    session.add(activity)
    session.flush()
    if "attendance" in data:
        _replace_attendance(session, activity.id, data["attendance"] or [])
    if "participant_ids" in data:
        _replace_participants(session, activity.id, data["participant_ids"])
    wire = load_wire(session, activity)
    if (data or write.restore) and not activity.deleted:
        # The content changed: its flags and late mark follow it.
        record = write.record if write.record is not None else wire
        activity.flags, activity.late = facts.of_edit(activity, project, record, write.warnings)
        session.add(activity)
    session.add(
        ActivityRevision(
            activity_id=activity.id,
            version=activity.version,
            data={**wire, "deleted": activity.deleted},
            source=writer.source,
            author_id=writer.author_id,
            device_id=writer.device_id,
        )
    )
    _written(
        session,
        [
            ChangeRecord(
                "activity",
                activity.id,
                "delete" if activity.deleted else "upsert",
                activity.version,
                activity.project_id,
            )
        ],
    )
    rollups().activities_changed(session, [activity.id])


def first_revision(session: Session, activity: Activity) -> ActivityRevision | None:
    """Version 1 as its revision holds it, built from the activity's rows while it lives there
    (``server.records.revisions.first_in_row``); None otherwise. Not added to the session:
    readers show it, the kernel stores it when version 2 supersedes it."""
    source = first_in_row(activity)
    if source is None:
        return None
    return ActivityRevision(
        activity_id=activity.id,
        version=1,
        data={**load_wire(session, activity), "deleted": activity.deleted},
        source=source,
        author_id=activity.created_by_id,
        device_id=activity.device_id,
        created_at=activity.created_at,
    )


def _keep_first_version(session: Session, activity: Activity) -> None:
    """Before version 2 supersedes a version 1 kept in the activity's rows, store that
    version's revision from the rows as they stand (an activity that already has it, or was
    written before the rule, is left as it is). One query, on an activity's first edit only."""
    if first_in_row(activity) is None:
        return
    kept = session.execute(
        select(col(ActivityRevision.id)).where(
            col(ActivityRevision.activity_id) == activity.id, col(ActivityRevision.version) == 1
        )
    ).first()
    if kept is None:
        session.add(first_revision(session, activity))


def _write_new(
    session: Session,
    batch: Sequence[tuple[Project, ActivityWrite]],
    *,
    writer: Writer,
    facts: FlagFacts,
) -> list[uuid.UUID]:
    """New activities in a few multi-row inserts: the activity rows (version 1, kept there
    until a later version supersedes it: no revision row), attendance, roster links and the
    change-log entries; flags for the whole batch; roll-ups from the values written (not read
    back)."""
    now = utcnow()
    flags, late = facts.of_new([(project, w.data, w.warnings) for project, w in batch])
    activities: list[list[Any]] = []
    attendance: list[tuple[Any, ...]] = []
    links: list[tuple[uuid.UUID, uuid.UUID]] = []
    changes: list[ChangeRecord] = []
    written: list[Written] = []
    ids: list[uuid.UUID] = []
    status = ActivityStatus.SUBMITTED
    # The attendance rows go ready for the driver: the activity's id converted once for its rows.
    bind_id = binder(session, _table(AttendanceRow).c.activity_id)
    server_set = {
        "version": 1,
        "deleted": False,
        "created_by_id": writer.author_id,
        "device_id": writer.device_id,
        "created_via": writer.source,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    rows: list[dict[str, Any]] = []
    for n, (project, write) in enumerate(batch):
        data = write.data
        activity_id = as_uuid(data.get("id")) or uuid.uuid4()
        state = write.status or status
        values = new_activity(data, {"id": activity_id, "project_id": project.id, "status": state})
        values.update(server_set)
        values["late"] = late[n]
        values["flags"] = flags[n]
        values["submitted_at"] = now if state == ActivityStatus.SUBMITTED else None
        activities.append(list(map(values.__getitem__, ACTIVITY_COLUMNS)))
        rows.append(values)
        ids.append(activity_id)

    def the_rest() -> None:
        """The rows' attendance, roster links, change-log entries and what their roll-ups
        are noted from (``noted`` notes the last two)."""
        for (project, write), values in zip(batch, rows, strict=True):
            data = write.data
            activity_id = values["id"]
            counted = [
                (
                    r["sex"],
                    r["age_band"],
                    r["category"],
                    bool(r.get("disability", False)),
                    int(r["count"]),
                )
                for r in data.get("attendance") or []
            ]
            key = (bind_id(activity_id),)
            attendance.extend([key + r for r in counted])
            mine = frozenset(
                uuid.UUID(str(p)) for p in dict.fromkeys(data.get("participant_ids") or [])
            )
            links.extend([(activity_id, p) for p in mine])
            written.append(
                Written(
                    SimpleNamespace(**values), counted, mine, project.country, project.thematic_area
                )
            )
            changes.append(ChangeRecord("activity", activity_id, "upsert", 1, project.id))

    def noted() -> None:
        _written(session, changes)
        rollups().activities_written(session, written)

    # Driver-level inserts (the tables, not the mapped classes): no unit-of-work bookkeeping
    # and no per-row parameter machinery. What needs no database is done while the database
    # takes each insert's rows (``meanwhile``): on PostgreSQL the two overlap.
    insert_rows(session, _table(Activity), ACTIVITY_COLUMNS, activities, meanwhile=the_rest)
    insert_rows(
        session, _table(AttendanceRow), ATTENDANCE_COLUMNS, attendance, bound=True, meanwhile=noted
    )
    insert_rows(session, _table(ActivityParticipant), ("activity_id", "participant_id"), links)
    return ids


def _written(session: Session, changes: Sequence[ChangeRecord]) -> None:
    """Every applied activity write ends here, once its rows and revisions are in: the place
    for what must follow each one (the change-log entries tablets pull)."""
    record_changes(session, changes)


def _table(model: Any) -> Any:
    return model.__table__


def _replace_attendance(
    session: Session, activity_id: uuid.UUID, attendance: Sequence[Mapping[str, Any]]
) -> None:
    session.execute(delete(AttendanceRow).where(AttendanceRow.activity_id == activity_id))  # type: ignore[arg-type]
    rows = [
        {
            "activity_id": activity_id,
            "sex": r["sex"],
            "age_band": r["age_band"],
            "category": r["category"],
            "disability": bool(r.get("disability", False)),
            "count": int(r["count"]),
        }
        for r in attendance
    ]
    if rows:
        session.execute(insert(AttendanceRow), rows)


def _replace_participants(
    session: Session, activity_id: uuid.UUID, participant_ids: Sequence[str] | None
) -> None:
    session.execute(
        delete(ActivityParticipant).where(ActivityParticipant.activity_id == activity_id)  # type: ignore[arg-type]
    )
    if participant_ids:
        session.execute(
            insert(ActivityParticipant),
            [
                {"activity_id": activity_id, "participant_id": uuid.UUID(str(p))}
                for p in dict.fromkeys(participant_ids)
            ],
        )
