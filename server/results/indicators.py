"""Result indicators (docs/results.md#result-indicators): their definitions and their values.

    result_indicators(session)       code -> ResultIndicator, from the published forms
                                     (given a caller, only the forms it may read)
    result_groups(session, ...)      one indicator's values per group, raw keys

The latest published version of each form code defines its indicators; observations of every
version of that code count, each reading the fields its own version has. Values are read from
the pre-summed cells ``result_cell`` (the coarsest grain a question's keys allow; a median from
the values its cells keep) and, for the months a date range cuts through, from ``result_fact``
(``server.results.rollup``), both of which the observation writers keep current in their own
transaction.
"""

from __future__ import annotations

import calendar
import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.elements import ColumnElement

from server.accounts.auth import Caller
from server.results.forms import form_scope
from server.results.models import Form
from server.results.rollup import (
    COARSE,
    FINE,
    YEAR,
    pack_values,
    result_cell,
    result_fact,
    unpack_values,
)
from server.scope import in_visible_project
from shared.geography import COUNTRIES, REGIONS, region_of

# Group keys of result indicators besides ``choice:<field>``; filters they take.
RESULT_KEYS: tuple[str, ...] = (
    "region",
    "country",
    "project",
    "site",
    "thematic_area",
    "period:month",
    "period:quarter",
    "period:year",
)
RESULT_FILTERS: tuple[str, ...] = ("country", "region", "project", "thematic_area")
CHOICE_PREFIX = "choice:"
ADDITIVE = frozenset({"sum", "count"})
PERCENT_UNITS = frozenset({"%", "percent"})

_form = Form.__table__  # type: ignore[attr-defined]
# The project columns a result reads, named rather than imported: project services look
# result indicator codes up here (targets), so this package must not import theirs.
_project = sa.table(
    "project",
    sa.column("id", sa.Uuid()),
    sa.column("country", sa.String()),
    sa.column("thematic_area", sa.String()),
)

Key = tuple[Any, ...]


@dataclass(frozen=True)
class ResultIndicator:
    code: str
    name: Mapping[str, str]
    unit: str
    aggregate: str
    form: str  # the form's code
    form_version: int
    field: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    factor: float = 1.0
    choice: str | None = None
    compare: str | None = None
    direction: str = "increase"
    # the latest version's select_one fields -> their choice codes, in order
    selects: Mapping[str, tuple[str, ...]] = dataclass_field(default_factory=dict)
    # the form author's translations of ``unit`` (docs/results.md#units)
    unit_label: Mapping[str, str] = dataclass_field(default_factory=dict)
    # the form's project; None for a global form
    project_id: uuid.UUID | None = None

    def applies_to(self, project_id: uuid.UUID) -> bool:
        """Whether a project may have a target of it: a global form's, or its own form's."""
        return self.project_id is None or self.project_id == project_id

    @property
    def additive(self) -> bool:
        return self.aggregate in ADDITIVE

    @property
    def percentage(self) -> bool:
        return self.aggregate == "share" or self.unit.strip() in PERCENT_UNITS

    @property
    def group_by(self) -> tuple[str, ...]:
        return (*RESULT_KEYS, *(CHOICE_PREFIX + name for name in self.selects))

    @property
    def compare_choices(self) -> tuple[str, ...]:
        return self.selects.get(self.compare or "", ())

    def label(self, lang: str = "en") -> str:
        return str(self.name.get(lang) or self.name.get("en") or self.code)


def _text(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        return {"en": value}
    return {}


def result_indicators(
    session: OrmSession, caller: Caller | None = None
) -> dict[str, ResultIndicator]:
    """Every result indicator of the published forms, by code (sorted). Given ``caller``,
    only those of the forms it may read (``form_scope``: the global forms and those of its
    projects, docs/roles.md), chosen in the query: another country's project form and its
    indicators are unknown to it. Without a caller, every form's (the server's own uses)."""
    statement = (
        sa.select(
            _form.c.code,
            _form.c.version,
            _form.c.project_id,
            _form.c.fields,
            _form.c.indicators,
        )
        .where(_form.c.status.in_(("published", "retired")))
        .order_by(_form.c.code, _form.c.version)
    )
    if caller is not None:
        statement = statement.where(form_scope(caller))
    latest: dict[str, Any] = {}
    for row in session.execute(statement):
        latest[row.code] = row
    found: dict[str, ResultIndicator] = {}
    for form in latest.values():
        selects = {
            str(f["name"]): tuple(
                str(c["code"]) for c in f.get("choices") or [] if isinstance(c, Mapping)
            )
            for f in form.fields or []
            if isinstance(f, Mapping) and f.get("type") == "select_one"
        }
        for i in form.indicators or []:
            if not isinstance(i, Mapping) or not i.get("code"):
                continue
            factor = i.get("factor")
            found[str(i["code"])] = ResultIndicator(
                code=str(i["code"]),
                name=_text(i.get("name")),
                unit=str(i.get("unit") or ""),
                aggregate=str(i.get("aggregate") or ""),
                form=form.code,
                form_version=form.version,
                field=i.get("field"),
                numerator=i.get("numerator"),
                denominator=i.get("denominator"),
                factor=float(factor) if isinstance(factor, int | float) else 1.0,
                choice=i.get("choice"),
                compare=i.get("compare"),
                direction=str(i.get("direction") or "increase"),
                selects=selects,
                unit_label=_text(i.get("unit_label")) if i.get("unit_label") else {},
                project_id=form.project_id,
            )
    return dict(sorted(found.items()))


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultWhere:
    """Which observations count: statuses, filters (``project`` holds ids), ``observed_on``
    range and the caller's scope (None: everything)."""

    statuses: tuple[str, ...]
    filters: Mapping[str, tuple[Any, ...]] = dataclass_field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None
    caller: Caller | None = None


def _region_column() -> ColumnElement[Any]:
    whens = {code: region_of(code) for code in COUNTRIES if region_of(code)}
    return sa.case(whens, value=_project.c.country, else_=sa.null())


def _period(grain: str, table: sa.Table = result_fact) -> ColumnElement[Any]:
    month = table.c.month
    if grain == "period:month":
        return month
    year = month // 100
    if grain == "period:year":
        return year
    return year * 10 + (month % 100 + 2) // 3


def key_column(key: str, table: sa.Table = result_fact) -> ColumnElement[Any]:
    """A group key's column; ``choice:`` keys only on ``result_fact`` (a cell keeps its
    choices as one text, read in ``_cell_sums``)."""
    if key.startswith(CHOICE_PREFIX):
        return result_fact.c.choices[key[len(CHOICE_PREFIX) :]].as_string()
    if key.startswith("period:"):
        return _period(key, table)
    if key == "region":
        return _region_column()
    return {
        "project": table.c.project_id,
        "site": table.c.site_id,
        "country": _project.c.country,
        "thematic_area": _project.c.thematic_area,
    }[key]


def _conditions(
    code: str, where: ResultWhere, table: sa.Table = result_fact
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [
        table.c.indicator == code,
        table.c.status.in_(where.statuses),
    ]
    filters = where.filters
    if "project" in filters:
        found.append(table.c.project_id.in_(filters["project"]))
    if "country" in filters:
        found.append(_project.c.country.in_(filters["country"]))
    if "region" in filters:
        countries = [c for r in filters["region"] for c in REGIONS[r].countries]
        found.append(_project.c.country.in_(countries))
    if "thematic_area" in filters:
        found.append(_project.c.thematic_area.in_(filters["thematic_area"]))
    if table is result_fact:
        if where.date_from is not None:
            found.append(table.c.month >= _month(where.date_from))
            found.append(table.c.observed_on >= where.date_from)
        if where.date_to is not None:
            found.append(table.c.month <= _month(where.date_to))
            found.append(table.c.observed_on <= where.date_to)
    if where.caller is not None:
        found.append(in_visible_project(table.c.project_id, where.caller))
    return found


def _month(day: date) -> int:
    return day.year * 100 + day.month


def month_split(where: ResultWhere) -> tuple[tuple[int | None, int | None] | None, list[int]]:
    """(months the cells answer whole: first, last, None for open, or None for none; the
    months only partly in the ``observed_on`` range, answered from the facts)."""
    partial: list[int] = []
    first = last = None
    if where.date_from is not None:
        first = _month(where.date_from)
        if where.date_from.day != 1:
            partial.append(first)
            first = _shift(first, 1)
    if where.date_to is not None:
        last = _month(where.date_to)
        end = calendar.monthrange(where.date_to.year, where.date_to.month)[1]
        if where.date_to.day != end:
            if last not in partial:
                partial.append(last)
            last = _shift(last, -1)
    if first is not None and last is not None and first > last:
        return None, partial
    return (first, last), partial


def _shift(month: int, step: int) -> int:
    index = (month // 100) * 12 + month % 100 - 1 + step
    return (index // 12) * 100 + index % 12 + 1


def _source(keys: Sequence[str], where: ResultWhere, table: sa.Table = result_fact) -> Any:
    needs_project = any(k in ("country", "region", "thematic_area") for k in keys) or any(
        k in where.filters for k in ("country", "region", "thematic_area")
    )
    if needs_project:
        return table.join(_project, _project.c.id == table.c.project_id)
    return table


def _round(value: float | None, places: int = 2) -> float | int | None:
    if value is None:
        return None
    rounded = round(value, places)
    return int(rounded) if float(rounded).is_integer() else rounded


@dataclass(frozen=True, slots=True)
class Sums:
    """What a group's value is made of."""

    n: int  # observations
    answered: int  # observations with a value
    total: float | None  # sum of value
    low: float | None
    high: float | None
    den: float | None  # sum of den
    median: float | None = None
    # median indicators: the group's answered values as packed float64, in no order
    values: bytes = b""


def raw_value_of(indicator: ResultIndicator, s: Sums) -> float | int | None:
    """A group's value unrounded (what an uplift is computed from); None (null) when nothing
    in it answers the indicator."""
    aggregate = indicator.aggregate
    if aggregate == "count":
        return s.n
    if not s.answered:
        return None
    if aggregate == "sum":
        return s.total
    if aggregate == "mean":
        return (s.total or 0.0) / s.answered
    if aggregate == "min":
        return s.low
    if aggregate == "max":
        return s.high
    if aggregate == "median":
        return s.median
    if aggregate == "share":
        return 100 * (s.total or 0.0) / s.answered
    if aggregate == "ratio":
        if not s.den:
            return None
        return indicator.factor * (s.total or 0.0) / s.den
    return None


# Sums, minima and maxima keep 4 decimals (kilograms to the gram); the others 2.
_PLACES = {"sum": 4, "min": 4, "max": 4}


def value_of(indicator: ResultIndicator, s: Sums) -> float | int | None:
    """A group's value as shown: ``raw_value_of`` rounded; None (null) when nothing in it
    answers the indicator."""
    raw = raw_value_of(indicator, s)
    if indicator.aggregate == "count" or raw is None:
        return raw
    return _round(raw, _PLACES.get(indicator.aggregate, 2))


def _merge(a: Sums, b: Sums) -> Sums:
    def plus(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else x + y

    lows = [v for v in (a.low, b.low) if v is not None]
    highs = [v for v in (a.high, b.high) if v is not None]
    return Sums(
        a.n + b.n,
        a.answered + b.answered,
        plus(a.total, b.total),
        min(lows) if lows else None,
        max(highs) if highs else None,
        plus(a.den, b.den),
        values=a.values + b.values,
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _sums_of(row: Sequence[Any], width: int, values: bool = False) -> Sums:
    return Sums(
        n=int(row[width]),
        answered=int(row[width + 1]),
        total=_float(row[width + 2]),
        low=_float(row[width + 3]),
        high=_float(row[width + 4]),
        den=_float(row[width + 5]),
        values=(row[width + 6] or b"") if values else b"",
    )


def median_of(data: bytes) -> float | None:
    """The exact median of packed float64 values (the mean of the middle two of an even
    count); None for none."""
    if not data:
        return None
    ordered = sorted(unpack_values(data))
    count = len(ordered)
    return (ordered[(count - 1) // 2] + ordered[count // 2]) / 2


def cell_grain(keys: Sequence[str]) -> str:
    """The coarsest grain of ``result_cell`` whose cells a question with these keys can be
    summed from: project, status and month (``""``); and one select field's value
    (``choice:<field>``); and site and every choice (``*``)."""
    choices = [k for k in keys if k.startswith(CHOICE_PREFIX)]
    if "site" in keys or len(choices) > 1:
        return FINE
    return choices[0] if choices else COARSE


def _yearly(keys: Sequence[str], first: int | None, last: int | None) -> bool:
    """Whether the yearly cells answer: no month or quarter key, whole years."""
    return (
        "period:month" not in keys
        and "period:quarter" not in keys
        and (first is None or first % 100 == 1)
        and (last is None or last % 100 == 12)
    )


def _concat(column: Any, dialect: str) -> ColumnElement[Any]:
    """Aggregate: the packed values of a group's cells, end to end (in no particular order)."""
    if dialect == "postgresql":
        return sa.func.string_agg(column, sa.literal(b"", sa.LargeBinary()))
    # SQLite's group_concat appends each blob's bytes as they are (NULs included); the cast
    # hands them back as a blob.
    return sa.cast(sa.func.group_concat(column, ""), sa.LargeBinary())


def _cell_sums(
    session: OrmSession,
    indicator: ResultIndicator,
    keys: Sequence[str],
    where: ResultWhere,
    months: tuple[int | None, int | None],
) -> dict[Key, Sums]:
    """The groups' sums over whole months, from the pre-summed cells of the coarsest grain
    the keys allow (``cell_grain``): one ``GROUP BY`` over one contiguous range of cells;
    ``choice:`` keys are read from each distinct choices text (grouped in SQL, folded here);
    a median's values come concatenated, one blob per group."""
    c = result_cell.c
    choice_keys = [k for k in keys if k.startswith(CHOICE_PREFIX)]
    plain = [k for k in keys if not k.startswith(CHOICE_PREFIX)]
    columns = [key_column(k, result_cell) for k in plain]
    if choice_keys:
        columns.append(c.choices)
    grain = cell_grain(keys)
    first, last = months
    ordered = indicator.aggregate == "median"
    if ordered and _yearly(keys, first, last):
        # a median's values in a year's cells: fewer and longer sorted runs to merge
        grain = YEAR + grain
        first = None if first is None else first // 100 * 100
        last = None if last is None else last // 100 * 100
    conditions = [c.grain == grain, *_conditions(indicator.code, where, result_cell)]
    if first is not None:
        conditions.append(c.month >= first)
    if last is not None:
        conditions.append(c.month <= last)
    aggregates: list[ColumnElement[Any]] = [
        sa.func.sum(c.n),
        sa.func.sum(c.answered),
        sa.func.sum(c.total),
        sa.func.min(c.low),
        sa.func.max(c.high),
        sa.func.sum(c.den),
    ]
    if ordered:
        aggregates.append(_concat(c.vals, session.get_bind().dialect.name))
    statement = (
        sa.select(*columns, *aggregates)
        .select_from(_source(keys, where, result_cell))
        .where(*conditions)
        .group_by(*columns)
    )
    width = len(columns)
    if not choice_keys:
        return {
            tuple(row[:width]): _sums_of(row, width, ordered)
            for row in session.execute(statement)
            if row[width]
        }
    parsed: dict[str | None, dict[str, Any]] = {}
    found: dict[Key, Sums] = {}
    for row in session.execute(statement):
        if not row[width]:
            continue
        text = row[width - 1]
        choices = parsed.get(text)
        if choices is None:
            choices = parsed[text] = json.loads(text) if text else {}
        by_name = dict(zip(plain, row[: width - 1], strict=True))
        key = tuple(
            choices.get(k[len(CHOICE_PREFIX) :]) if k.startswith(CHOICE_PREFIX) else by_name[k]
            for k in keys
        )
        sums = _sums_of(row, width, ordered)
        found[key] = _merge(found[key], sums) if key in found else sums
    return found


def _fact_sums(
    session: OrmSession,
    indicator: ResultIndicator,
    keys: Sequence[str],
    where: ResultWhere,
    months: Sequence[int],
) -> dict[Key, Sums]:
    """The groups' sums over the months only partly in the range, from the facts (and a
    median's values, read row by row: a month or two of one indicator)."""
    columns = [key_column(k) for k in keys]
    value, den = result_fact.c.value, result_fact.c.den
    source = _source(keys, where)
    conditions = [*_conditions(indicator.code, where), result_fact.c.month.in_(months)]
    statement = (
        sa.select(
            *columns,
            sa.func.count(),
            sa.func.count(value),
            sa.func.sum(value),
            sa.func.min(value),
            sa.func.max(value),
            sa.func.sum(den),
        )
        .select_from(source)
        .where(*conditions)
        .group_by(*columns)
        .having(sa.func.count() > 0)
    )
    width = len(keys)
    found = {tuple(row[:width]): _sums_of(row, width) for row in session.execute(statement)}
    if indicator.aggregate == "median":
        values: dict[Key, list[float]] = defaultdict(list)
        for row in session.execute(
            sa.select(*columns, value).select_from(source).where(*conditions, value.is_not(None))
        ):
            values[tuple(row[:width])].append(float(row[width]))
        for key, listed in values.items():
            found[key] = replace(found[key], values=pack_values(listed) or b"")
    return found


def _raw_sums(
    session: OrmSession, indicator: ResultIndicator, keys: Sequence[str], where: ResultWhere
) -> dict[Key, Sums]:
    """The groups' sums, a median's values still packed (``_finished`` takes the medians)."""
    whole, partial = month_split(where)
    found = {} if whole is None else _cell_sums(session, indicator, keys, where, whole)
    if partial:
        for key, sums in _fact_sums(session, indicator, keys, where, partial).items():
            found[key] = _merge(found[key], sums) if key in found else sums
    return found


def _finished(indicator: ResultIndicator, sums: dict[Key, Sums]) -> dict[Key, Sums]:
    if indicator.aggregate != "median":
        return sums
    return {k: replace(s, median=median_of(s.values), values=b"") for k, s in sums.items()}


def _sums(
    session: OrmSession, indicator: ResultIndicator, keys: Sequence[str], where: ResultWhere
) -> dict[Key, Sums]:
    return _finished(indicator, _raw_sums(session, indicator, keys, where))


def uplift(first: float | int | None, second: float | int | None) -> float | int | None:
    """100 × (first − second) / second; null when either is null or second is 0."""
    if first is None or second is None or not second:
        return None
    return _round(100 * (first - second) / second)


@dataclass(frozen=True)
class ResultGroup:
    key: Key
    value: float | int | None
    compare: dict[str, float | int | None] | None = None
    uplift: float | int | None = None


def result_groups(
    session: OrmSession,
    *,
    indicator: ResultIndicator,
    keys: Sequence[str],
    where: ResultWhere,
) -> list[ResultGroup]:
    """The indicator's value per group of counted observations (raw keys: project and site
    ids, yyyymm/yyyyq/yyyy periods, choice codes). With ``compare``, each group also carries
    the value per compare choice, in the choices' order, and the uplift of the first over the
    second."""
    choices = indicator.compare_choices
    side_key = CHOICE_PREFIX + (indicator.compare or "")
    if indicator.compare is None or len(choices) < 2:
        sums = _sums(session, indicator, keys, where)
        return [ResultGroup(k, value_of(indicator, s)) for k, s in sums.items()]
    if side_key in keys:
        sums = _sums(session, indicator, keys, where)
        split = _sums(session, indicator, (*keys, side_key), where)
    else:
        # One question: the groups split by the compare choice (a group's observations without
        # one in a part of their own), the groups' own sums folded from their parts.
        raw = _raw_sums(session, indicator, (*keys, side_key), where)
        folded: dict[Key, Sums] = {}
        for k, s in raw.items():
            folded[k[:-1]] = _merge(folded[k[:-1]], s) if k[:-1] in folded else s
        sums = _finished(indicator, folded)
        split = _finished(indicator, raw)
    groups = [ResultGroup(k, value_of(indicator, s)) for k, s in sums.items()]
    by_group: dict[Key, dict[str, Sums]] = defaultdict(dict)
    for k, s in split.items():
        by_group[k[:-1]][str(k[-1])] = s
    done = []
    for g in groups:
        side = by_group.get(g.key, {})
        compare = {c: value_of(indicator, side[c]) if c in side else None for c in choices}
        # the uplift from the unrounded values: 0.014 over 0.006 is 133.33, not 0.01 over 0.01
        first, second = (
            raw_value_of(indicator, side[c]) if c in side else None for c in choices[:2]
        )
        done.append(ResultGroup(g.key, g.value, compare, uplift(first, second)))
    return done


def project_actual(
    session: OrmSession,
    *,
    indicator: ResultIndicator,
    project_ids: Sequence[uuid.UUID],
    first: date,
    last: date,
    statuses: tuple[str, ...],
) -> dict[uuid.UUID, float | int | None]:
    """Each project's value over one period (the actual of a target)."""
    where = ResultWhere(
        statuses=statuses, filters={"project": tuple(project_ids)}, date_from=first, date_to=last
    )
    return {
        g.key[0]: g.value
        for g in result_groups(session, indicator=indicator, keys=("project",), where=where)
    }
