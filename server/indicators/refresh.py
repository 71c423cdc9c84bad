"""Keeping the roll-ups current: every write path refreshes the activities it touched.

``refresh_activity`` (called by ``write_activity``/``tombstone_activity``) and
``refresh_project`` note ids in the session; the noted activities are refreshed in one batch
right before the transaction commits (a commit duty the first note arms on the writer's session,
see ``server.db.arm_commit_duty``; and before any indicator read in that transaction), so a
500-activity push costs one batch, not 500. A writer that changes a project's country or
thematic area calls ``refresh_project`` (``server.projects.service.update_project`` does).
``refresh_activities`` refreshes at once (bulk writers such as the demo loader), and
``rebuild_all`` recomputes everything (the nightly safety net).

A refresh is a delta: the activity's old fact row (and its old roster links) come out of every
cube and the new ones go in, with ``INSERT … ON CONFLICT DO UPDATE SET m = m + excluded.m``, so
its cost depends on the number of activities written, never on the size of the database.

Concurrency (PostgreSQL): refreshes take a shared transaction lock and a rebuild an exclusive
one, so a rebuild never interleaves with a delta. Cube cells are upserted in key order, so two
refreshing transactions lock shared cells in the same order and cannot deadlock. SQLite has one
writer at a time.
"""

from __future__ import annotations

import uuid
import zlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from server.activities.models import Activity, ActivityParticipant, AttendanceRow
from server.db import CommitDuty, arm_commit_duty, current_transaction, within
from server.indicators.models import (
    CUBES,
    FACT_DIMS,
    MEASURES,
    PIVOTS,
    ROSTER_CUBES,
    activity_fact,
    cube_dims,
    roster_fact,
)
from server.projects.models import Project
from server.records.bulk import insert_rows
from server.records.rollups import Written
from shared.catalogue import SOLUTIONS, TOPICS, ActivityType
from shared.geography import region_of

ROLLUP_LOCK = 7301051
PROJECT_LOCK_SPACE = 7302  # pg_advisory_xact_lock(7302, <project key>)
_PENDING = "pilotmon.indicator_pending"
_PENDING_PROJECTS = "pilotmon.indicator_pending_projects"
# Fact rows (and roster links) a bulk writer computed from the rows it wrote, by activity id,
# each with the (sub)transaction that wrote it: the refresh uses them instead of reading the
# rows back. Dropped with a rolled-back savepoint, and for an activity written again.
_KNOWN = "pilotmon.indicator_known_facts"
_BATCH = 2000

_activity = Activity.__table__  # type: ignore[attr-defined]
_attendance = AttendanceRow.__table__  # type: ignore[attr-defined]
_project = Project.__table__  # type: ignore[attr-defined]
_links = ActivityParticipant.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RefreshStats:
    activities: int  # activities looked at
    changed: int  # whose fact row changed
    cells: int  # cube cells touched


# --- noting and applying -------------------------------------------------------------------


def refresh_activity(session: Session, activity_id: uuid.UUID) -> None:
    """Note that an activity changed; its roll-ups are refreshed before this transaction ends."""
    pending: set[uuid.UUID] = session.info.setdefault(_PENDING, set())
    pending.add(activity_id)
    arm_commit_duty(session, _REFRESH_AT_COMMIT)
    known: dict[uuid.UUID, Any] | None = session.info.get(_KNOWN)
    if known:
        known.pop(activity_id, None)  # written again: its facts are read from the database


def refresh_written(
    session: OrmSession,
    facts: Sequence[dict[str, Any]],
    links: Mapping[uuid.UUID, set[uuid.UUID]] | None = None,
    *,
    new: bool = False,
) -> None:
    """Note activities just written in this transaction together with their fact rows, as
    ``fact_row`` makes them from the values written (and their roster links): the refresh
    before commit then uses these instead of reading the rows back. A savepoint that rolls
    back drops its notes; ``refresh_activity`` on one of them later drops its note. ``new``: the
    activities were created in this transaction, so they have no roll-up rows to read or
    replace yet."""
    pending: set[uuid.UUID] = session.info.setdefault(_PENDING, set())
    known: dict[uuid.UUID, Any] = session.info.setdefault(_KNOWN, {})
    arm_commit_duty(session, _REFRESH_AT_COMMIT)
    transaction = current_transaction(session)
    for row in facts:
        activity_id = row["activity_id"]
        pending.add(activity_id)
        known[activity_id] = (transaction, row, set((links or {}).get(activity_id, ())), new)


def refresh_project(session: OrmSession, project_id: uuid.UUID) -> None:
    """A project's country or thematic area changed: refresh all of its activities."""
    pending: set[uuid.UUID] = session.info.setdefault(_PENDING_PROJECTS, set())
    pending.add(project_id)
    arm_commit_duty(session, _REFRESH_AT_COMMIT)


def _project_activities(session: OrmSession, project_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    ids = sorted(project_ids, key=str)
    return set(
        session.execute(
            sa.select(_activity.c.id)
            .where(_activity.c.project_id.in_(ids))
            .union(
                sa.select(activity_fact.c.activity_id).where(activity_fact.c.project_id.in_(ids))
            )
        ).scalars()
    )


def apply_pending(session: OrmSession) -> RefreshStats | None:
    """Refresh the noted activities now (readers call this before reading roll-ups)."""
    session.flush()
    projects: set[uuid.UUID] | None = session.info.pop(_PENDING_PROJECTS, None)
    pending: set[uuid.UUID] = session.info.pop(_PENDING, None) or set()
    noted: dict[uuid.UUID, Any] = session.info.pop(_KNOWN, None) or {}
    if projects:
        pending |= _project_activities(session, projects)
        noted = {}  # a project moved: its activities' facts changed since they were noted
    if not pending:
        return None
    root = session.get_transaction()
    mine = {i: note for i, note in noted.items() if i in pending and within(note[0], root)}
    known = {i: (row, links) for i, (_, row, links, _) in mine.items()}
    new = {i for i, (_, _, _, created) in mine.items() if created}
    return refresh_activities(session, sorted(pending, key=str), known=known, new=new)


def _after_rollback(session: OrmSession, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction is gone, and its notes with it
        session.info.pop(_PENDING, None)
        session.info.pop(_PENDING_PROJECTS, None)
        session.info.pop(_KNOWN, None)
        return
    known: dict[uuid.UUID, Any] | None = session.info.get(_KNOWN)
    if known:  # a savepoint: the rows it wrote are gone (their ids stay pending, harmlessly)
        for activity_id in [i for i, note in known.items() if within(note[0], previous)]:
            del known[activity_id]


# Before the change-log append (order 10), which takes a lock every writer waits for: the
# refresh should not run while holding it.
_REFRESH_AT_COMMIT = CommitDuty(
    name="rollups", order=0, before_commit=apply_pending, after_rollback=_after_rollback
)


# --- fact rows -----------------------------------------------------------------------------


def _attendance_select(ids: Sequence[uuid.UUID]) -> sa.Select[Any]:
    count = _attendance.c.count
    pivots: list[Any] = []
    for key, columns in PIVOTS.items():
        for value, name in columns.items():
            condition = _attendance.c[key] == value
            pivots.append(sa.func.sum(sa.case((condition, count), else_=0)).label(name))
    return (
        sa.select(_attendance.c.activity_id, sa.func.sum(count).label("participants"), *pivots)
        .where(_attendance.c.activity_id.in_(ids))
        .group_by(_attendance.c.activity_id)
    )


def _dimension_select(ids: Sequence[uuid.UUID]) -> sa.Select[Any]:
    a, p = _activity, _project
    return (
        sa.select(
            a.c.id,
            a.c.project_id,
            a.c.site_id,
            a.c.type,
            a.c.topic,
            a.c.modality,
            a.c.level,
            a.c.delivery,
            a.c.status,
            a.c.start_date,
            a.c.end_date,
            a.c.experts_count,
            p.c.country,
            p.c.thematic_area,
        )
        .join(p, p.c.id == a.c.project_id)
        .where(a.c.id.in_(ids), a.c.deleted == sa.false())
    )


def _zero_attendance() -> dict[str, int]:
    return {"participants": 0, **{c: 0 for cols in PIVOTS.values() for c in cols.values()}}


def fact_rows(session: OrmSession, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The fact rows the given activities should have now (deleted ones have none)."""
    if not ids:
        return []
    attendance = {
        row.activity_id: {k: int(v or 0) for k, v in row._mapping.items() if k != "activity_id"}
        for row in session.execute(_attendance_select(ids))
    }
    return [
        fact_row(
            a,
            country=a.country,
            project_thematic_area=a.thematic_area,
            attendance=attendance.get(a.id) or _zero_attendance(),
        )
        for a in session.execute(_dimension_select(ids))
    ]


def fact_row(
    a: Any, *, country: str, project_thematic_area: str | None, attendance: Mapping[str, int]
) -> dict[str, Any]:
    """One activity's fact row. ``a`` has the activity's columns as attributes (id,
    project_id, site_id, type, topic, modality, level, delivery, status, start_date, end_date,
    experts_count) — a row read back by ``fact_rows`` or the values a bulk writer just wrote;
    ``attendance`` its sums (``attendance_sums``)."""
    topic = TOPICS.get(a.topic or "")
    solution = topic.solution if topic else ""
    thematic_area = SOLUTIONS[solution].thematic_area if topic else project_thematic_area
    start: date = a.start_date
    end: date = a.end_date
    row: dict[str, Any] = {
        "activity_id": a.id,
        "month": start.year * 100 + start.month,
        "status": str(a.status),
        "project_id": a.project_id,
        "country": country,
        "region": region_of(country) or "",
        "thematic_area": thematic_area or "",
        "solution": solution,
        "topic": a.topic or "",
        "modality": a.modality or "",
        "level": a.level or "",
        "activity_type": a.type,
        "delivery": a.delivery or "",
        "site_id": a.site_id,
        "start_date": start,
        "activities": 1,
        "demonstrations": int(a.type == ActivityType.DEMONSTRATION),
        "trainings": int(a.type == ActivityType.FARMER_TRAINING),
        "expert_days": a.experts_count * ((end - start).days + 1)
        if a.type == ActivityType.EXPERT_DEPLOYMENT
        else 0,
    }
    row.update(attendance)
    return row


# The pivots, one by one (``attendance_sums`` names each: a new pivot must be added there).
assert tuple(PIVOTS) == ("sex", "age_band", "category", "disability"), tuple(PIVOTS)
_SEX, _AGE_BAND, _CATEGORY, _DISABILITY = PIVOTS.values()


def attendance_sums(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """The attendance measures of one activity from its attendance rows as written, each
    (sex, age_band, category, disability, count) — what ``_attendance_select`` sums in SQL."""
    sums = _zero_attendance()
    total = 0
    for sex, age_band, category, disability, count in rows:
        total += count
        if (name := _SEX.get(sex)) is not None:
            sums[name] += count
        if (name := _AGE_BAND.get(age_band)) is not None:
            sums[name] += count
        if (name := _CATEGORY.get(category)) is not None:
            sums[name] += count
        if (name := _DISABILITY.get(disability)) is not None:
            sums[name] += count
    sums["participants"] = total
    return sums


def _stored_fact_rows(session: OrmSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict]:
    found = session.execute(sa.select(activity_fact).where(activity_fact.c.activity_id.in_(ids)))
    return {row.activity_id: dict(row._mapping) for row in found}


# --- applying deltas -------------------------------------------------------------------------


def _lock(session: OrmSession, *, exclusive: bool) -> None:
    """The whole roll-up: shared by every refresh, exclusive for ``rebuild_all``."""
    if session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        session.execute(sa.text(f"SELECT {function}(:key)"), {"key": ROLLUP_LOCK})


def _project_key(project_id: uuid.UUID) -> int:
    value = zlib.crc32(project_id.bytes)
    return value - 2**32 if value >= 2**31 else value


def _lock_projects(
    session: OrmSession, project_ids: Iterable[uuid.UUID], *, exclusive: bool
) -> None:
    """One project's roll-up rows: shared by refreshes, exclusive for ``rebuild_project``.

    Taken after the whole-roll-up lock and in key order, so no two transactions can wait
    for each other in a circle.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    for key in sorted({_project_key(p) for p in project_ids}):
        session.execute(
            sa.text(f"SELECT {function}(:space, :key)"), {"space": PROJECT_LOCK_SPACE, "key": key}
        )


def _upsert(
    session: OrmSession,
    table: sa.Table,
    dims: tuple[str, ...],
    measures: Sequence[str],
    rows: list[dict[str, Any]],
) -> None:
    dialect = session.get_bind().dialect.name
    key = (dialect, table.name, dims, tuple(measures))
    statement = _UPSERTS.get(key)
    if statement is None:  # built once: building it cost more than running it
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c[d] for d in dims],
            set_={m: table.c[m] + insert.excluded[m] for m in measures},
        )
        _UPSERTS[key] = statement
    session.execute(statement, rows)


_UPSERTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def _delete_empty(
    session: OrmSession,
    table: sa.Table,
    dims: tuple[str, ...],
    counter: str,
    keys: list[tuple[Any, ...]],
) -> None:
    statement = _DELETES.get((table.name, dims, counter))
    if statement is None:
        statement = sa.delete(table).where(
            *(table.c[d] == sa.bindparam(f"k_{d}") for d in dims), table.c[counter] <= 0
        )
        _DELETES[(table.name, dims, counter)] = statement
    session.execute(
        statement, [{f"k_{d}": v for d, v in zip(dims, key, strict=True)} for key in keys]
    )


_DELETES: dict[tuple[str, tuple[str, ...], str], Any] = {}


def _cube_deltas(
    old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]], dims: tuple[str, ...]
) -> dict[tuple[Any, ...], list[int]]:
    """The measures' change per cell of ``dims``: ``new`` rows added, ``old`` ones taken away.
    Rows are grouped by cell first and each measure summed over a group at once."""
    key_of = itemgetter(*dims) if len(dims) > 1 else (lambda row: (row[dims[0]],))
    measures_of = itemgetter(*MEASURES)
    groups: dict[tuple[Any, ...], list[tuple[int, ...]]] = {}
    for sign, rows in ((-1, old), (1, new)):
        for row in rows:
            values = measures_of(row)
            if sign < 0:
                values = tuple([-v for v in values])
            key = key_of(row)
            group = groups.get(key)
            if group is None:
                groups[key] = [values]
            else:
                group.append(values)
    deltas: dict[tuple[Any, ...], list[int]] = {}
    for key, group in groups.items():
        vector = list(group[0]) if len(group) == 1 else [sum(c) for c in zip(*group, strict=True)]
        if any(vector):
            deltas[key] = vector
    return deltas


# Every dimension some cube has: the deltas are summed at this grain once, then each cube's
# cells are summed from those (far fewer) than from the fact rows again.
_CUBE_DIMS: tuple[str, ...] = tuple(dict.fromkeys(d for g in CUBES for d in cube_dims(g)))


def _project_deltas(
    fine: dict[tuple[Any, ...], list[int]], dims: tuple[str, ...]
) -> dict[tuple[Any, ...], list[int]]:
    """Deltas at ``_CUBE_DIMS`` summed to the coarser grain ``dims``."""
    positions = [_CUBE_DIMS.index(d) for d in dims]
    deltas: dict[tuple[Any, ...], list[int]] = {}
    for key, values in fine.items():
        cell = tuple([key[n] for n in positions])
        vector = deltas.get(cell)
        if vector is None:
            deltas[cell] = list(values)
        else:
            for i, v in enumerate(values):
                vector[i] += v
    return {k: v for k, v in deltas.items() if any(v)}


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in key)


def _same(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    if old is None or new is None:
        return old is new
    return all(old[c] == new[c] for c in FACT_DIMS + MEASURES)


def _projects_of(session: OrmSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    # An activity never changes project, so its row names the project of its facts too.
    if not ids:
        return set()
    return set(
        session.execute(
            sa.select(_activity.c.project_id).distinct().where(_activity.c.id.in_(ids))
        ).scalars()
    )


def _links_of(
    session: OrmSession, table: sa.Table, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if ids:
        for activity_id, participant_id in session.execute(
            sa.select(table.c.activity_id, table.c.participant_id).where(
                table.c.activity_id.in_(ids)
            )
        ):
            found[activity_id].add(participant_id)
    return found


def _apply_cube_deltas(
    session: OrmSession, old_rows: list[dict[str, Any]], new_rows: list[dict[str, Any]]
) -> int:
    cells = 0
    fine = _cube_deltas(old_rows, new_rows, _CUBE_DIMS)
    for grain, table in CUBES.items():
        dims = cube_dims(grain)
        deltas = _project_deltas(fine, dims)
        if not deltas:
            continue
        cells += len(deltas)
        ordered = sorted(deltas, key=_sort_key)
        _upsert(
            session,
            table,
            dims,
            MEASURES,
            [
                {
                    **dict(zip(dims, key, strict=True)),
                    **dict(zip(MEASURES, deltas[key], strict=True)),
                }
                for key in ordered
            ],
        )
        emptied = [k for k in ordered if deltas[k][0] < 0]
        if emptied:
            _delete_empty(session, table, dims, "activities", emptied)
    return cells


def _apply_roster_deltas(
    session: OrmSession,
    moved: list[uuid.UUID],
    stored: dict[uuid.UUID, dict[str, Any]],
    fresh: dict[uuid.UUID, dict[str, Any]],
    old_links: dict[uuid.UUID, set[uuid.UUID]],
    new_links: dict[uuid.UUID, set[uuid.UUID]],
) -> int:
    cells = 0
    for table, dims in ROSTER_CUBES.items():
        deltas: dict[tuple[Any, ...], int] = defaultdict(int)
        for activity_id in moved:
            for sign, rows, links in ((-1, stored, old_links), (1, fresh, new_links)):
                row = rows.get(activity_id)
                if row is None:
                    continue
                for participant_id in links.get(activity_id, ()):
                    cell = {**row, "participant_id": participant_id}
                    deltas[tuple(cell[d] for d in dims)] += sign
        changed = {k: v for k, v in deltas.items() if v}
        if not changed:
            continue
        cells += len(changed)
        ordered = sorted(changed, key=_sort_key)
        _upsert(
            session,
            table,
            dims,
            ("links",),
            [{**dict(zip(dims, key, strict=True)), "links": changed[key]} for key in ordered],
        )
        emptied = [k for k in ordered if changed[k] < 0]
        if emptied:
            _delete_empty(session, table, dims, "links", emptied)
    return cells


def refresh_activities(
    session: OrmSession,
    ids: Iterable[uuid.UUID],
    *,
    known: Mapping[uuid.UUID, tuple[dict[str, Any], set[uuid.UUID]]] | None = None,
    new: Collection[uuid.UUID] = (),
) -> RefreshStats:
    """Bring the roll-ups of these activities up to date now, in the caller's transaction.

    ``known``: the current fact row and roster links of some of them, as their writer made
    them in this transaction (``refresh_written``); the others are read from the database.
    ``new``: known ones created in this transaction, which have no roll-up rows yet (nothing
    to read back or delete for them).
    """
    unique = sorted(set(ids), key=str)
    if not unique:
        return RefreshStats(0, 0, 0)
    known = known or {}
    session.flush()
    _lock(session, exclusive=False)
    changed = cells = 0
    for start in range(0, len(unique), _BATCH):
        chunk = unique[start : start + _BATCH]
        unknown = [i for i in chunk if i not in known]
        _lock_projects(
            session,
            _projects_of(session, unknown)
            | {known[i][0]["project_id"] for i in chunk if i in known},
            exclusive=False,
        )
        before = [i for i in chunk if i not in new or i not in known]
        stored = _stored_fact_rows(session, before) if before else {}
        fresh = {row["activity_id"]: row for row in fact_rows(session, unknown)}
        new_links = _links_of(session, _links, list(fresh))
        for i in chunk:
            if i in known:
                fresh[i], written_links = known[i]
                if written_links:
                    new_links[i] = set(written_links)
        old_links = _links_of(session, roster_fact, before)
        moved = [
            i
            for i in chunk
            if not _same(stored.get(i), fresh.get(i))
            or old_links.get(i, set()) != new_links.get(i, set())
        ]
        if not moved:
            continue
        changed += len(moved)
        old_rows = [stored[i] for i in moved if i in stored]
        new_rows = [fresh[i] for i in moved if i in fresh]
        cells += _apply_cube_deltas(session, old_rows, new_rows)
        cells += _apply_roster_deltas(session, moved, stored, fresh, old_links, new_links)
        replaced = [i for i in moved if i not in new or i not in known]
        if replaced:
            session.execute(sa.delete(roster_fact).where(roster_fact.c.activity_id.in_(replaced)))
            session.execute(
                sa.delete(activity_fact).where(activity_fact.c.activity_id.in_(replaced))
            )
        if new_rows:
            columns = list(new_rows[0])
            insert_rows(
                session, activity_fact, columns, [[r[c] for c in columns] for r in new_rows]
            )
        links = [
            {"activity_id": a, "participant_id": p}
            for a in moved
            if a in fresh
            for p in sorted(new_links.get(a, ()), key=str)
        ]
        if links:
            session.execute(sa.insert(roster_fact), links)
    return RefreshStats(len(unique), changed, cells)


def _activity_ids(session: OrmSession, project_id: uuid.UUID | None) -> Iterator[list[uuid.UUID]]:
    statement = sa.select(_activity.c.id).where(_activity.c.deleted == sa.false())
    if project_id is not None:
        statement = statement.where(_activity.c.project_id == project_id)
    ids = list(session.execute(statement.order_by(_activity.c.id)).scalars())
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


def _rebuild(session: OrmSession, project_id: uuid.UUID | None) -> RefreshStats:
    """Delete and recompute the roll-up rows of one project (or of all, for None)."""
    fact = activity_fact

    def mine(table: sa.Table) -> Any:
        return sa.true() if project_id is None else table.c.project_id == project_id

    if project_id is None:
        session.execute(sa.delete(roster_fact))
    else:
        session.execute(
            sa.delete(roster_fact).where(
                roster_fact.c.activity_id.in_(sa.select(fact.c.activity_id).where(mine(fact)))
            )
        )
    for table in (*CUBES.values(), *ROSTER_CUBES, activity_fact):
        session.execute(sa.delete(table).where(mine(table)))
    total = 0
    for chunk in _activity_ids(session, project_id):
        rows = fact_rows(session, chunk)
        total += len(rows)
        if rows:
            session.execute(sa.insert(activity_fact), rows)
    cells = 0
    for grain, table in CUBES.items():
        dims = cube_dims(grain)
        sums = [sa.func.sum(fact.c[m]).label(m) for m in MEASURES]
        source = (
            sa.select(*(fact.c[d] for d in dims), *sums)
            .where(mine(fact))
            .group_by(*(fact.c[d] for d in dims))
        )
        session.execute(sa.insert(table).from_select([*dims, *MEASURES], source))
        cells += session.execute(
            sa.select(sa.func.count()).select_from(table).where(mine(table))
        ).scalar_one()
    session.execute(
        sa.insert(roster_fact).from_select(
            ["activity_id", "participant_id"],
            sa.select(_links.c.activity_id, _links.c.participant_id)
            .join(fact, fact.c.activity_id == _links.c.activity_id)
            .where(mine(fact)),
        )
    )
    for table, dims in ROSTER_CUBES.items():
        columns = [
            fact.c[d] if d != "participant_id" else roster_fact.c.participant_id for d in dims
        ]
        source = (
            sa.select(*columns, sa.func.count())
            .select_from(roster_fact.join(fact, fact.c.activity_id == roster_fact.c.activity_id))
            .where(mine(fact))
            .group_by(*columns)
        )
        session.execute(sa.insert(table).from_select([*dims, "links"], source))
        cells += session.execute(
            sa.select(sa.func.count()).select_from(table).where(mine(table))
        ).scalar_one()
    return RefreshStats(total, total, cells)


def rebuild_project(session: OrmSession, project_id: uuid.UUID) -> RefreshStats:
    """Recompute one project's roll-ups from its activity records (caller's transaction).

    Writers of other projects are not held up: the nightly rebuild goes project by project,
    committing after each, so a push waits at most for its own project's recomputation.
    """
    session.flush()
    _lock(session, exclusive=False)
    _lock_projects(session, [project_id], exclusive=True)
    _forget_pending(session, project_id)
    return _rebuild(session, project_id)


def rebuild_all(session: OrmSession) -> RefreshStats:
    """Recompute every fact and cube from the activity records (caller's transaction).

    One transaction that holds every writer's refresh until it commits: for bulk loads and
    tests; the scheduled job uses ``rebuild_project`` per project instead.
    """
    session.flush()
    _lock(session, exclusive=True)
    session.info.pop(_PENDING, None)  # everything is recomputed below
    session.info.pop(_PENDING_PROJECTS, None)
    session.info.pop(_KNOWN, None)
    return _rebuild(session, None)


def _forget_pending(session: OrmSession, project_id: uuid.UUID) -> None:
    pending: set[uuid.UUID] | None = session.info.get(_PENDING)
    if pending:
        mine = set(
            session.execute(
                sa.select(_activity.c.id).where(
                    _activity.c.project_id == project_id,
                    _activity.c.id.in_(sorted(pending, key=str)),
                )
            ).scalars()
        )
        pending -= mine


# --- the roll-up delta the record layer calls (installed by server.wiring) -------------------


class LiveRollups:
    """``server.records.rollups.Rollups``: what activity and project writers note, kept current
    by the refresh above before their transaction commits."""

    def activities_changed(self, session: OrmSession, activity_ids: Iterable[uuid.UUID]) -> None:
        for activity_id in activity_ids:
            refresh_activity(session, activity_id)  # type: ignore[arg-type]

    def activities_written(self, session: OrmSession, written: Sequence[Written]) -> None:
        facts = [
            fact_row(
                w.row,
                country=w.country,
                project_thematic_area=w.thematic_area,
                attendance=attendance_sums(w.attendance),
            )
            for w in written
        ]
        roster = {w.row.id: set(w.participants) for w in written if w.participants}
        for w in written:
            refresh_activity(session, w.row.id)  # type: ignore[arg-type]
        refresh_written(session, facts, roster, new=True)

    def project_changed(self, session: OrmSession, project_id: uuid.UUID) -> None:
        refresh_project(session, project_id)


LIVE_ROLLUPS = LiveRollups()
