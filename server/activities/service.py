"""Writing and reading activities: every write path (push, API, review, bundle, demo) goes here.

One write keeps five things together in the caller's transaction: the activity row, its
attendance rows, its roster links, a revision with the full new state, and a change-log entry
for pull. The caller validates first (``shared.validation``) and commits after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from server.activities.models import (
    Activity,
    ActivityParticipant,
    ActivityRevision,
    AttendanceRow,
)
from server.columns import as_utc, utcnow
from server.indicators.refresh import (
    attendance_sums,
    fact_row,
    refresh_activity,
    refresh_written,
)
from server.projects.models import Project
from server.records.bulk import insert_rows
from server.records.changes import ChangeRecord, record_change, record_changes

# The activity's fields on the wire, in docs/product.md#domain order.
WIRE_FIELDS: tuple[str, ...] = (
    "id",
    "project_id",
    "site_id",
    "type",
    "title",
    "start_date",
    "end_date",
    "topic",
    "modality",
    "level",
    "delivery",
    "value_chain_stage",
    "facilitators",
    "experts_count",
    "location",
    "notes",
    "attendance",
    "participant_ids",
    "status",
    "captured_at",
)
# Fields a client may set; id/project are fixed at birth, status moves through review.
EDITABLE_FIELDS: tuple[str, ...] = tuple(
    f for f in WIRE_FIELDS if f not in ("id", "project_id", "status")
)
ATTENDANCE_KEYS: tuple[str, ...] = ("sex", "age_band", "category", "disability", "count")


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # type: ignore[union-attr]
    return value.isoformat()


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    # SQLite keeps no offset: store the instant in UTC so that it reads back as the same instant.
    return moment.astimezone(UTC) if moment.tzinfo else moment


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def attendance_wire(rows: Iterable[AttendanceRow]) -> list[dict[str, Any]]:
    return [
        {
            "sex": r.sex,
            "age_band": r.age_band,
            "category": r.category,
            "disability": r.disability,
            "count": r.count,
        }
        for r in rows
    ]


def activity_wire(activity: Activity, attendance: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The activity as it travels (docs/product.md#domain names, JSON types)."""
    return {
        "id": str(activity.id),
        "project_id": str(activity.project_id),
        "site_id": str(activity.site_id) if activity.site_id else None,
        "type": activity.type,
        "title": activity.title,
        "start_date": _iso(activity.start_date),
        "end_date": _iso(activity.end_date),
        "topic": activity.topic,
        "modality": activity.modality,
        "level": activity.level,
        "delivery": activity.delivery,
        "value_chain_stage": activity.value_chain_stage,
        "facilitators": list(activity.facilitators or []),
        "experts_count": activity.experts_count,
        "location": activity.location,
        "notes": activity.notes,
        "attendance": [dict(row) for row in attendance],
        "participant_ids": list(activity.participant_ids)
        if activity.participant_ids is not None
        else None,
        "status": activity.status,
        "captured_at": _iso(activity.captured_at),
    }


def attendance_by_activity(
    session: Session, activity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Attendance rows of many activities in one query, in insertion order."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {a: [] for a in activity_ids}
    if not activity_ids:
        return found
    rows = session.execute(
        select(AttendanceRow)
        .where(AttendanceRow.activity_id.in_(activity_ids))  # type: ignore[attr-defined]
        .order_by(AttendanceRow.id)  # type: ignore[arg-type]
    ).scalars()
    for row in rows:
        found[row.activity_id].append(attendance_wire([row])[0])
    return found


def load_wire(session: Session, activity: Activity) -> dict[str, Any]:
    return activity_wire(activity, attendance_by_activity(session, [activity.id])[activity.id])


def _apply_fields(activity: Activity, data: Mapping[str, Any]) -> None:
    for name in EDITABLE_FIELDS:
        if name not in data or name == "attendance":
            continue
        value = data[name]
        if name in ("start_date", "end_date"):
            value = _as_date(value)
        elif name == "captured_at":
            value = _as_datetime(value)
        elif name == "site_id":
            value = _as_uuid(value)
        elif name == "notes" and value is None:
            value = ""
        elif name == "facilitators" and value is None:
            value = []
        setattr(activity, name, value)


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


def write_activity(
    session: Session,
    *,
    data: Mapping[str, Any],
    existing: Activity | None,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    status: str | None = None,
) -> Activity:
    """Create or update an activity from validated wire data, with revision and change log.

    ``data`` may hold only some fields for an update (the rest stay); ``status`` moves the
    review state. The new version is ``existing.version + 1`` (1 for a new activity).
    """
    now = utcnow()
    if existing is None:
        activity = Activity(
            id=_as_uuid(data["id"]) or uuid.uuid4(),
            project_id=_as_uuid(data["project_id"]),  # type: ignore[arg-type]
            type=data["type"],
            title=data["title"],
            start_date=_as_date(data["start_date"]),
            end_date=_as_date(data["end_date"]),
            version=1,
            created_by_id=author_id,
            device_id=device_id,
            created_at=now,
        )
    else:
        activity = existing
        activity.version += 1
    _apply_fields(activity, data)
    if status is not None:
        if status == "submitted" and (existing is None or activity.status != "submitted"):
            activity.submitted_at = now
        activity.status = status
    elif existing is None:
        activity.submitted_at = now
    activity.updated_at = now
    session.add(activity)
    session.flush()
    if "attendance" in data:
        _replace_attendance(session, activity.id, data["attendance"] or [])
    if "participant_ids" in data:
        _replace_participants(session, activity.id, data["participant_ids"])
    _add_revision(session, activity, source=source, author_id=author_id, device_id=device_id)
    refresh_activity(session, activity.id)  # indicator roll-ups, before this transaction commits
    return activity


def _table(model: Any) -> Any:
    return model.__table__


# Column order of the rows ``write_new_activities`` builds.
_ACTIVITY_COLUMNS: tuple[str, ...] = (
    "id",
    "project_id",
    "site_id",
    "type",
    "title",
    "start_date",
    "end_date",
    "topic",
    "modality",
    "level",
    "delivery",
    "value_chain_stage",
    "facilitators",
    "experts_count",
    "location",
    "notes",
    "participant_ids",
    "status",
    "version",
    "captured_at",
    "deleted",
    "late",
    "flags",
    "created_by_id",
    "device_id",
    "created_at",
    "updated_at",
    "submitted_at",
    "deleted_at",
)
_ATTENDANCE_COLUMNS = ("activity_id", "sex", "age_band", "category", "disability", "count")
_REVISION_COLUMNS = (
    "activity_id",
    "version",
    "data",
    "source",
    "author_id",
    "device_id",
    "created_at",
)


def write_new_activities(
    session: Session,
    *,
    records: Sequence[Mapping[str, Any]],
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    status: str = "submitted",
    flags: Sequence[list[dict[str, Any]]] | None = None,
    late: Sequence[bool] | None = None,
) -> list[uuid.UUID]:
    """Create many new activities at once: the rows ``write_activity`` would write one by one
    (activity, attendance, roster links, revision 1, change-log entry, roll-up refresh), in a
    few multi-row inserts. ``records`` are validated wire data of activities that do not exist
    yet; ``flags`` and ``late`` (one entry per record) are stored with them.
    """
    now = utcnow()
    activities: list[list[Any]] = []
    attendance: list[tuple[Any, ...]] = []
    links: list[tuple[uuid.UUID, uuid.UUID]] = []
    revisions: list[tuple[Any, ...]] = []
    changes: list[ChangeRecord] = []
    ids: list[uuid.UUID] = []
    # The roll-ups' fact rows, made from the values written (not read back), and roster links.
    facts: list[dict[str, Any]] = []
    roster: dict[uuid.UUID, set[uuid.UUID]] = {}
    projects: dict[Any, Project | None] = {}
    submitted_at = now if status == "submitted" else None
    for n, data in enumerate(records):
        activity_id = _as_uuid(data["id"]) or uuid.uuid4()
        values: dict[str, Any] = {
            "id": activity_id,
            "project_id": _as_uuid(data["project_id"]),
            "site_id": _as_uuid(data.get("site_id")),
            "type": data["type"],
            "title": data["title"],
            "start_date": _as_date(data["start_date"]),
            "end_date": _as_date(data["end_date"]),
            "topic": data.get("topic"),
            "modality": data.get("modality"),
            "level": data.get("level"),
            "delivery": data.get("delivery") or "in_person",
            "value_chain_stage": data.get("value_chain_stage"),
            "facilitators": list(data.get("facilitators") or []),
            "experts_count": data.get("experts_count") or 0,
            "location": data.get("location"),
            "notes": data.get("notes") or "",
            "participant_ids": data.get("participant_ids"),
            "status": status,
            "version": 1,
            "captured_at": _as_datetime(data.get("captured_at")),
            "deleted": False,
            "late": bool(late[n]) if late else False,
            "flags": list(flags[n]) if flags else [],
            "created_by_id": author_id,
            "device_id": device_id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": submitted_at,
            "deleted_at": None,
        }
        activities.append([values[c] for c in _ACTIVITY_COLUMNS])
        ids.append(activity_id)
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
        rows = [dict(zip(ATTENDANCE_KEYS, r, strict=True)) for r in counted]
        attendance += [(activity_id, *r) for r in counted]
        mine = [
            (activity_id, uuid.UUID(str(p)))
            for p in dict.fromkeys(data.get("participant_ids") or [])
        ]
        if mine:
            links += mine
            roster[activity_id] = {p for _, p in mine}
        written = SimpleNamespace(**values)
        project_id = values["project_id"]
        if project_id not in projects:
            projects[project_id] = session.get(Project, project_id)
        project = projects[project_id]
        if project is not None:  # (a missing project fails the insert below)
            facts.append(
                fact_row(
                    written,
                    country=project.country,
                    project_thematic_area=project.thematic_area,
                    attendance=attendance_sums(counted),
                )
            )
        # The revision holds what ``load_wire`` would read back (attendance_wire's keys).
        wire = activity_wire(written, rows)  # type: ignore[arg-type]
        wire["deleted"] = False
        revisions.append((activity_id, 1, wire, source, author_id, device_id, now))
        changes.append(ChangeRecord("activity", activity_id, "upsert", 1, values["project_id"]))
    if not activities:
        return []
    # Driver-level inserts (the tables, not the mapped classes): no unit-of-work bookkeeping
    # and no per-row parameter machinery.
    insert_rows(session, _table(Activity), _ACTIVITY_COLUMNS, activities)
    insert_rows(session, _table(AttendanceRow), _ATTENDANCE_COLUMNS, attendance)
    insert_rows(session, _table(ActivityParticipant), ("activity_id", "participant_id"), links)
    insert_rows(session, _table(ActivityRevision), _REVISION_COLUMNS, revisions)
    record_changes(session, changes)
    for activity_id in ids:
        refresh_activity(session, activity_id)
    refresh_written(session, facts, roster)
    return ids


def tombstone_activity(
    session: Session,
    *,
    activity: Activity,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
) -> Activity:
    """Delete by tombstone: the row stays, marked deleted, and pulls hand out a delete."""
    activity.deleted = True
    activity.deleted_at = utcnow()
    activity.updated_at = activity.deleted_at
    activity.version += 1
    session.add(activity)
    session.flush()
    _add_revision(session, activity, source=source, author_id=author_id, device_id=device_id)
    refresh_activity(session, activity.id)  # indicator roll-ups, before this transaction commits
    return activity


def _add_revision(
    session: Session,
    activity: Activity,
    *,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
) -> None:
    wire = load_wire(session, activity)
    wire["deleted"] = activity.deleted
    session.add(
        ActivityRevision(
            activity_id=activity.id,
            version=activity.version,
            data=wire,
            source=source,
            author_id=author_id,
            device_id=device_id,
        )
    )
    record_change(
        session,
        entity="activity",
        entity_id=activity.id,
        op="delete" if activity.deleted else "upsert",
        version=activity.version,
        project_id=activity.project_id,
    )
