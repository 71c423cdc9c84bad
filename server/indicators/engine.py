"""Reading the roll-ups: pick the smallest table that answers a question, and run the SQL.

Plain functions over a session that return raw groups — project ids, yyyymm months, codes with
'' for unknown — keyed in the order the caller asked for. ``server.indicators.service`` turns
them into indicator values and presentable rows.

Where the numbers come from:
- activity counters and single attendance keys: a cube (or the fact table when the question
  needs the site or a date that is not a month boundary), attendance keys through the pivot
  columns (``sex_female`` ...);
- two or more attendance keys: the attendance rows joined to the fact table;
- distinct roster participants: a roster cube (per participant and base cell, by month or
  over all time) when the question needs nothing finer, else the roster links joined to the
  fact table; the participant's own record (sex, deleted, ...) is always read live.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.elements import ColumnElement

from server.accounts.auth import Caller
from server.activities.models import AttendanceRow
from server.indicators.models import (
    CUBES,
    GRAINS,
    ROSTER_DIMS,
    activity_fact,
    cube_dims,
    roster_all,
    roster_fact,
    roster_month,
)
from server.projects.models import Participant
from server.scope import in_visible_project
from shared.catalogue import AGE_BAND_YEARS, AgeBand

# group_by / filter key -> the fact and cube column holding it
KEY_COLUMNS: dict[str, str] = {
    "region": "region",
    "country": "country",
    "project": "project_id",
    "site": "site_id",
    "thematic_area": "thematic_area",
    "solution": "solution",
    "topic": "topic",
    "modality": "modality",
    "level": "level",
    "activity_type": "activity_type",
    "delivery": "delivery",
}
PERIOD_GRAINS: dict[str, str] = {
    "period:month": "month",
    "period:quarter": "quarter",
    "period:year": "year",
}

_attendance = AttendanceRow.__table__  # type: ignore[attr-defined]
_participant = Participant.__table__  # type: ignore[attr-defined]

Key = tuple[Any, ...]


def yyyymm(day: date) -> int:
    return day.year * 100 + day.month


@dataclass(frozen=True)
class Where:
    """Which activities count: statuses, code filters, start-date range and the caller's scope."""

    statuses: tuple[str, ...]
    # key (a FILTER_KEYS entry) -> allowed values; "project" holds project ids
    filters: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None
    caller: Caller | None = None  # None: everything (jobs and internal use)

    @property
    def exact_dates(self) -> bool:
        """Whether the date range cuts through a month (then only the fact table can answer)."""
        if self.date_from is not None and self.date_from.day != 1:
            return True
        if self.date_to is not None:
            last = calendar.monthrange(self.date_to.year, self.date_to.month)[1]
            if self.date_to.day != last:
                return True
        return False


def label_of(key: str) -> str:
    return "period" if key in PERIOD_GRAINS else key


def choose_table(keys: Sequence[str], where: Where) -> sa.Table:
    """The smallest roll-up that has every column the grouping and the filters need."""
    needed = {KEY_COLUMNS[k] for k in (*keys, *where.filters) if k in KEY_COLUMNS}
    if where.exact_dates or "site_id" in needed:
        return activity_fact
    best: str | None = None
    for grain in GRAINS:
        if needed <= set(cube_dims(grain)) and (
            best is None or len(GRAINS[grain]) < len(GRAINS[best])
        ):
            best = grain
    return CUBES[best] if best is not None else activity_fact


def _period(month: Any, grain: str) -> ColumnElement[Any]:
    if grain == "month":
        return month
    year = month // 100
    if grain == "year":
        return year
    # 20253 for 2025Q3
    return year * 10 + (month % 100 + 2) // 3


def _activity_key(table: sa.Table, key: str) -> ColumnElement[Any]:
    if key in PERIOD_GRAINS:
        return _period(table.c.month, PERIOD_GRAINS[key]).label("period")
    return table.c[KEY_COLUMNS[key]].label(key)


def _age_band(birth_year: Any, month: Any) -> ColumnElement[str]:
    age = month // 100 - birth_year
    whens: list[tuple[Any, str]] = [(birth_year.is_(None), AgeBand.UNSPECIFIED.value)]
    for band, years in AGE_BAND_YEARS.items():
        if years is not None:
            whens.append((age.between(years[0], years[1]), band.value))
    return sa.case(*whens, else_=AgeBand.UNSPECIFIED.value)


def conditions(table: sa.Table, where: Where) -> list[ColumnElement[bool]]:
    """WHERE clauses over a fact or cube table."""
    found: list[ColumnElement[bool]] = [table.c.status.in_(where.statuses)]
    for key, values in where.filters.items():
        found.append(table.c[KEY_COLUMNS[key]].in_(values))
    exact = table is activity_fact
    # Whole months bound every table (and let the fact table use its month index); the fact
    # table then cuts to the day.
    if where.date_from is not None:
        found.append(table.c.month >= yyyymm(where.date_from))
        if exact:
            found.append(table.c.start_date >= where.date_from)
    if where.date_to is not None:
        found.append(table.c.month <= yyyymm(where.date_to))
        if exact:
            found.append(table.c.start_date <= where.date_to)
    if where.caller is not None:
        found.append(in_visible_project(table.c.project_id, where.caller))
    return found


def measure_groups(
    session: OrmSession, *, where: Where, keys: Sequence[str], measures: Sequence[str]
) -> list[tuple[Key, dict[str, int]]]:
    """Sums of measure columns per group of counted activities (activity and period keys)."""
    table = choose_table(keys, where)
    key_columns = [_activity_key(table, k) for k in keys]
    wanted = list(dict.fromkeys(("activities", *measures)))
    sums = [sa.func.sum(table.c[m]).label(m) for m in wanted]
    statement = (
        sa.select(*key_columns, *sums)
        .where(*conditions(table, where))
        .group_by(*key_columns)
        .having(sa.func.sum(table.c.activities) > 0)
    )
    width = len(keys)
    return [
        (tuple(row[:width]), {m: int(v or 0) for m, v in zip(wanted, row[width:], strict=True)})
        for row in session.execute(statement)
    ]


def attendance_groups(
    session: OrmSession, *, where: Where, keys: Sequence[str], numerator: tuple[str, Any] | None
) -> list[tuple[Key, int, int]]:
    """(group, participants, numerator) from attendance rows: any mix of attendance keys.

    A group appears when its participants add up to more than zero.
    """
    fact = activity_fact
    key_columns: list[ColumnElement[Any]] = [
        _attendance.c[k].label(k)
        if k in ("sex", "age_band", "category", "disability")
        else _activity_key(fact, k)
        for k in keys
    ]
    count = _attendance.c["count"]
    part = sa.func.sum(count)
    if numerator is None:
        top: ColumnElement[Any] = part
    else:
        top = sa.func.sum(sa.case((_attendance.c[numerator[0]] == numerator[1], count), else_=0))
    statement = (
        sa.select(*key_columns, part.label("participants"), top.label("numerator"))
        .select_from(_attendance.join(fact, fact.c.activity_id == _attendance.c.activity_id))
        .where(*conditions(fact, where))
        .group_by(*key_columns)
        .having(part > 0)
    )
    width = len(keys)
    return [
        (tuple(row[:width]), int(row[width] or 0), int(row[width + 1] or 0))
        for row in session.execute(statement)
    ]


def country_counts(
    session: OrmSession, *, where: Where, keys: Sequence[str]
) -> list[tuple[Key, int]]:
    """Distinct countries with at least one counted activity, per group."""
    table = choose_table(keys, where)
    key_columns = [_activity_key(table, k) for k in keys]
    countries = sa.func.count(sa.distinct(table.c.country))
    statement = (
        sa.select(*key_columns, countries)
        .where(*conditions(table, where), table.c.activities > 0)
        .group_by(*key_columns)
        .having(countries > 0)  # without keys, an empty set would still give one row
    )
    width = len(keys)
    return [(tuple(row[:width]), int(row[width])) for row in session.execute(statement)]


def _roster_table(keys: Sequence[str], where: Where) -> sa.Table | None:
    """The roster cube that can answer, or None when only the links joined to facts can."""
    needed = {KEY_COLUMNS[k] for k in (*keys, *where.filters) if k in KEY_COLUMNS}
    if where.exact_dates or not needed <= set(ROSTER_DIMS):
        return None
    by_month = (
        where.date_from is not None
        or where.date_to is not None
        or "age_band" in keys
        or any(k in PERIOD_GRAINS for k in keys)
    )
    return roster_month if by_month else roster_all


def unique_participants(
    session: OrmSession, *, where: Where, keys: Sequence[str]
) -> list[tuple[Key, int]]:
    """Distinct roster participants (not deleted) at counted activities, per group.

    Attendance keys come from the participant's record; the age band from the birth year at
    the activity's start.
    """
    p = _participant
    table = _roster_table(keys, where)
    # The participant's record is joined only for its attributes; "not deleted" alone is an
    # anti-join against the (few) deleted ones.
    personal = any(k in ("sex", "age_band", "category", "disability") for k in keys)
    if table is None:
        table = activity_fact
        source: Any = roster_fact.join(table, table.c.activity_id == roster_fact.c.activity_id)
        person = roster_fact.c.participant_id
        live: list[ColumnElement[bool]] = []
    else:
        source = table
        person = table.c.participant_id
        live = [table.c.links > 0]
    if personal:
        source = source.join(p, p.c.id == person)
        live.append(p.c.deleted == sa.false())
    else:
        live.append(person.not_in(sa.select(p.c.id).where(p.c.deleted == sa.true())))
    key_columns: list[ColumnElement[Any]] = []
    for k in keys:
        if k == "age_band":
            key_columns.append(_age_band(p.c.birth_year, table.c.month).label(k))
        elif k in ("sex", "category", "disability"):
            key_columns.append(p.c[k].label(k))
        else:
            key_columns.append(_activity_key(table, k))
    people = sa.func.count(sa.distinct(person))
    statement = (
        sa.select(*key_columns, people)
        .select_from(source)
        .where(*conditions(table, where), *live)
        .group_by(*key_columns)
        .having(people > 0)
    )
    width = len(keys)
    return [(tuple(row[:width]), int(row[width])) for row in session.execute(statement)]
