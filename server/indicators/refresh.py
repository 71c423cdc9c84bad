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
Activities created in the transaction whose fact rows their writer handed over
(``refresh_written``) have nothing to read back, compare or take out: they go in all at once.

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
from operator import attrgetter, itemgetter
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
    PIVOT_COLUMNS,
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
    facts: Sequence[tuple[Any, ...]],
    links: Mapping[uuid.UUID, Collection[uuid.UUID]] | None = None,
    *,
    new: bool = False,
) -> None:
    """Note activities just written in this transaction together with their fact rows, as
    ``fact_values`` makes them from the values written (and their roster links): the refresh
    before commit then uses these instead of reading the rows back. A savepoint that rolls
    back drops its notes; ``refresh_activity`` on one of them later drops its note. ``new``: the
    activities were created in this transaction, so they have no roll-up rows to read or
    replace yet."""
    pending: set[uuid.UUID] = session.info.setdefault(_PENDING, set())
    known: dict[uuid.UUID, Any] = session.info.setdefault(_KNOWN, {})
    arm_commit_duty(session, _REFRESH_AT_COMMIT)
    transaction = current_transaction(session)
    links = links or {}
    for row in facts:
        activity_id = row[0]
        pending.add(activity_id)
        known[activity_id] = (transaction, row, frozenset(links.get(activity_id, ())), new)


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
    inside: dict[int, bool] = {}  # by transaction: the notes of a batch share one
    known: dict[uuid.UUID, tuple[tuple[Any, ...], Collection[uuid.UUID]]] = {}
    new: set[uuid.UUID] = set()
    for i, (transaction, row, links, created) in noted.items():
        mine = inside.get(id(transaction))
        if mine is None:
            mine = inside[id(transaction)] = within(transaction, root)
        if mine and i in pending:
            known[i] = (row, links)
            if created:
                new.add(i)
    return _refresh(session, sorted(pending, key=_ID_ORDER), known, new)


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


# A fact row's columns in the table's order: the activity, its dimensions, its measures. The
# refresh handles fact rows as tuples in this order (``fact_values``); ``fact_rows`` names them.
FACT_COLUMNS: tuple[str, ...] = ("activity_id", *FACT_DIMS, *MEASURES)
assert tuple(activity_fact.c.keys()) == FACT_COLUMNS, tuple(activity_fact.c.keys())
_FIRST_MEASURE = len(FACT_COLUMNS) - len(MEASURES)
_PROJECT = FACT_COLUMNS.index("project_id")
# The attendance measures, last in a fact row in this order (what ``_attendance_select`` sums).
_ATTENDANCE_MEASURES: tuple[str, ...] = ("participants", *PIVOT_COLUMNS)
assert MEASURES[-len(_ATTENDANCE_MEASURES) :] == _ATTENDANCE_MEASURES
_NO_ATTENDANCE = (0,) * len(_ATTENDANCE_MEASURES)
# An activity id's place in the refresh's order: its text's (``str``), which is its number's.
_ID_ORDER = attrgetter("int")


def fact_rows(session: OrmSession, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The fact rows the given activities should have now (deleted ones have none)."""
    return [dict(zip(FACT_COLUMNS, row, strict=True)) for row in _fact_values_of(session, ids)]


def _fact_values_of(session: OrmSession, ids: Sequence[uuid.UUID]) -> list[tuple[Any, ...]]:
    """``fact_rows`` as ``fact_values`` tuples."""
    if not ids:
        return []
    attendance = {
        row[0]: [int(v or 0) for v in row[1:]] for row in session.execute(_attendance_select(ids))
    }
    return [
        fact_values(
            a,
            country=a.country,
            project_thematic_area=a.thematic_area,
            attendance=attendance.get(a.id) or _NO_ATTENDANCE,
        )
        for a in session.execute(_dimension_select(ids))
    ]


def fact_values(
    a: Any, *, country: str, project_thematic_area: str | None, attendance: Sequence[int]
) -> tuple[Any, ...]:
    """One activity's fact row, its values in ``FACT_COLUMNS`` order. ``a`` has the activity's
    columns as attributes (id, project_id, site_id, type, topic, modality, level, delivery,
    status, start_date, end_date, experts_count) — a row read back by ``fact_rows`` or the
    values a bulk writer just wrote; ``attendance`` its attendance measures in their order
    (``attendance_measures``)."""
    topic = TOPICS.get(a.topic or "")
    solution = topic.solution if topic else ""
    thematic_area = SOLUTIONS[solution].thematic_area if topic else project_thematic_area
    start: date = a.start_date
    kind = a.type
    return (
        a.id,
        start.year * 100 + start.month,
        str(a.status),
        a.project_id,
        country,
        region_of(country) or "",
        thematic_area or "",
        solution,
        a.topic or "",
        a.modality or "",
        a.level or "",
        kind,
        a.delivery or "",
        a.site_id,
        start,
        1,
        int(kind == ActivityType.DEMONSTRATION),
        int(kind == ActivityType.FARMER_TRAINING),
        a.experts_count * ((a.end_date - start).days + 1)
        if kind == ActivityType.EXPERT_DEPLOYMENT
        else 0,
        *attendance,
    )


# Where each pivot's values add up in ``attendance_measures`` (``attendance_sums`` names each
# pivot: a new pivot must be added there); a value no pivot knows adds to a spare last place.
assert tuple(PIVOTS) == ("sex", "age_band", "category", "disability"), tuple(PIVOTS)
_SPARE = len(_ATTENDANCE_MEASURES)
_SEX, _AGE_BAND, _CATEGORY, _DISABILITY = (
    {value: _ATTENDANCE_MEASURES.index(name) for value, name in columns.items()}
    for columns in PIVOTS.values()
)


def attendance_measures(rows: Iterable[Sequence[Any]]) -> list[int]:
    """The attendance measures of one activity, in their order in a fact row, from its
    attendance rows as written, each (sex, age_band, category, disability, count) — what
    ``_attendance_select`` sums in SQL."""
    sums = [0] * (_SPARE + 1)
    total = 0
    spare = _SPARE
    sex_at, age_band_at, category_at, disability_at = _SEX, _AGE_BAND, _CATEGORY, _DISABILITY
    for sex, age_band, category, disability, count in rows:
        total += count
        sums[sex_at.get(sex, spare)] += count
        sums[age_band_at.get(age_band, spare)] += count
        sums[category_at.get(category, spare)] += count
        sums[disability_at.get(disability, spare)] += count
    sums[0] = total
    del sums[spare]
    return sums


def attendance_sums(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """``attendance_measures`` by name."""
    return dict(zip(_ATTENDANCE_MEASURES, attendance_measures(rows), strict=True))


def _stored_fact_rows(
    session: OrmSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[Any, ...]]:
    found = session.execute(sa.select(activity_fact).where(activity_fact.c.activity_id.in_(ids)))
    return {row[0]: tuple(row) for row in found}


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
    rows: list[tuple[Any, ...]],
) -> None:
    """Add each row's measures to its cell (``rows``: the dimensions, then the measures)."""
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
    columns = (*dims, *measures)
    session.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])


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
    old: Iterable[tuple[Any, ...]], new: Iterable[tuple[Any, ...]]
) -> dict[tuple[Any, ...], list[int]]:
    """The measures' change per cell of ``_CUBE_DIMS``: ``new`` fact rows added, ``old`` ones
    taken away. Rows are grouped by cell first and each measure summed over a group at once."""
    key_of = _CUBE_KEY
    first = _FIRST_MEASURE
    groups: dict[tuple[Any, ...], list[tuple[int, ...]]] = {}
    for sign, rows in ((-1, old), (1, new)):
        for row in rows:
            values = row[first:]
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
_CUBE_KEY = itemgetter(*(FACT_COLUMNS.index(d) for d in _CUBE_DIMS))


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
    session: OrmSession, old_rows: list[tuple[Any, ...]], new_rows: list[tuple[Any, ...]]
) -> int:
    cells = 0
    fine = _cube_deltas(old_rows, new_rows)
    for grain, table in CUBES.items():
        dims = cube_dims(grain)
        deltas = _project_deltas(fine, dims)
        if not deltas:
            continue
        cells += len(deltas)
        ordered = sorted(deltas, key=_sort_key)
        _upsert(session, table, dims, MEASURES, [(*key, *deltas[key]) for key in ordered])
        emptied = [k for k in ordered if deltas[k][0] < 0]
        if emptied:
            _delete_empty(session, table, dims, "activities", emptied)
    return cells


# Each roster cube's cell of a fact row, but for the participant (its last dimension).
assert all(dims[-1] == "participant_id" for dims in ROSTER_CUBES.values())
_ROSTER_KEYS = {
    table: itemgetter(*(FACT_COLUMNS.index(d) for d in dims[:-1]))
    for table, dims in ROSTER_CUBES.items()
}


def _apply_roster_deltas(
    session: OrmSession, changes: Sequence[tuple[int, tuple[Any, ...], Collection[uuid.UUID]]]
) -> int:
    """``changes``: (+1 or -1, a fact row, its roster links) — links added or taken away."""
    changes = [change for change in changes if change[2]]
    if not changes:
        return 0
    cells = 0
    for table, dims in ROSTER_CUBES.items():
        key_of = _ROSTER_KEYS[table]
        deltas: dict[tuple[Any, ...], int] = defaultdict(int)
        for sign, row, links in changes:
            cell = key_of(row)
            for participant_id in links:
                deltas[(*cell, participant_id)] += sign
        changed = {k: v for k, v in deltas.items() if v}
        if not changed:
            continue
        cells += len(changed)
        ordered = sorted(changed, key=_sort_key)
        _upsert(session, table, dims, ("links",), [(*key, changed[key]) for key in ordered])
        emptied = [k for k in ordered if changed[k] < 0]
        if emptied:
            _delete_empty(session, table, dims, "links", emptied)
    return cells


def _insert_facts(
    session: OrmSession,
    rows: list[tuple[Any, ...]],
    links: Mapping[uuid.UUID, Collection[uuid.UUID]],
) -> None:
    """Insert these fact rows and their roster links (in the rows' order)."""
    insert_rows(session, activity_fact, FACT_COLUMNS, rows)
    insert_rows(
        session,
        roster_fact,
        ("activity_id", "participant_id"),
        [(row[0], p) for row in rows for p in sorted(links.get(row[0], ()), key=str)],
    )


def refresh_activities(
    session: OrmSession,
    ids: Iterable[uuid.UUID],
    *,
    known: Mapping[uuid.UUID, tuple[Mapping[str, Any], Collection[uuid.UUID]]] | None = None,
    new: Collection[uuid.UUID] = (),
) -> RefreshStats:
    """Bring the roll-ups of these activities up to date now, in the caller's transaction.

    ``known``: the current fact row (by column, as ``fact_rows`` gives it) and roster links of
    some of them, as their writer made them in this transaction; the others are read from the
    database. ``new``: known ones created in this transaction, which have no roll-up rows yet
    (nothing to read back or delete for them).
    """
    given = {
        i: (tuple(row[c] for c in FACT_COLUMNS), links) for i, (row, links) in (known or {}).items()
    }
    return _refresh(session, sorted(set(ids), key=_ID_ORDER), given, new)


def _refresh(
    session: OrmSession,
    unique: list[uuid.UUID],
    known: Mapping[uuid.UUID, tuple[tuple[Any, ...], Collection[uuid.UUID]]],
    new: Collection[uuid.UUID],
) -> RefreshStats:
    """``refresh_activities`` of ``unique`` (distinct, in ``_ID_ORDER``), ``known`` fact rows
    as ``fact_values`` tuples."""
    if not unique:
        return RefreshStats(0, 0, 0)
    session.flush()
    _lock(session, exclusive=False)
    changed = cells = 0
    # Created in this transaction with their facts in hand: nothing to read back, compare or
    # replace, so all of them at once, however many.
    created = [i for i in unique if i in new and i in known]
    if created:
        rows = [known[i][0] for i in created]
        links = {i: known[i][1] for i in created if known[i][1]}
        _lock_projects(session, {row[_PROJECT] for row in rows}, exclusive=False)
        cells += _apply_cube_deltas(session, [], rows)
        cells += _apply_roster_deltas(
            session, [(1, row, links[row[0]]) for row in rows if row[0] in links]
        )
        _insert_facts(session, rows, links)
        changed += len(created)
    rest = [i for i in unique if i not in new or i not in known] if created else unique
    for start in range(0, len(rest), _BATCH):
        chunk = rest[start : start + _BATCH]
        unknown = [i for i in chunk if i not in known]
        _lock_projects(
            session,
            _projects_of(session, unknown) | {known[i][0][_PROJECT] for i in chunk if i in known},
            exclusive=False,
        )
        stored = _stored_fact_rows(session, chunk)
        fresh = {row[0]: row for row in _fact_values_of(session, unknown)}
        new_links = _links_of(session, _links, list(fresh))
        for i in chunk:
            if i in known:
                fresh[i], written_links = known[i]
                if written_links:
                    new_links[i] = set(written_links)
        old_links = _links_of(session, roster_fact, chunk)
        moved = [
            i
            for i in chunk
            if stored.get(i) != fresh.get(i) or old_links.get(i, set()) != new_links.get(i, set())
        ]
        if not moved:
            continue
        changed += len(moved)
        old_rows = [stored[i] for i in moved if i in stored]
        new_rows = [fresh[i] for i in moved if i in fresh]
        cells += _apply_cube_deltas(session, old_rows, new_rows)
        cells += _apply_roster_deltas(
            session,
            [(-1, row, old_links.get(row[0], ())) for row in old_rows]
            + [(1, row, new_links.get(row[0], ())) for row in new_rows],
        )
        session.execute(sa.delete(roster_fact).where(roster_fact.c.activity_id.in_(moved)))
        session.execute(sa.delete(activity_fact).where(activity_fact.c.activity_id.in_(moved)))
        _insert_facts(session, new_rows, new_links)
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
            fact_values(
                w.row,
                country=w.country,
                project_thematic_area=w.thematic_area,
                attendance=attendance_measures(w.attendance),
            )
            for w in written
        ]
        roster = {w.row.id: w.participants for w in written if w.participants}
        refresh_written(session, facts, roster, new=True)

    def project_changed(self, session: OrmSession, project_id: uuid.UUID) -> None:
        refresh_project(session, project_id)


LIVE_ROLLUPS = LiveRollups()
