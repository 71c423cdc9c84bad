"""Keeping result indicators live (docs/results.md#result-indicators).

``result_fact`` holds one row per observation and result indicator: the observation's project,
site, status and period (``observed_on`` and its ``yyyymm`` month), the indicator's numeric
input from that observation (``value``; ``den`` for a ratio's denominator) and the values of
the observation's ``select_one`` fields (``choices``), which are the ``compare`` and
``choice:<field>`` group keys. Region, country and thematic area are the project's, joined
when read (a project that moves country needs no refresh).

What ``value`` holds, per aggregate:

- ``sum mean median min max``: the numeric field (NULL when not answered);
- ``count``: 1;
- ``share``: 1 when the field is true or holds ``choice``, 0 when answered otherwise, NULL when
  not answered;
- ``ratio``: the numerator, with the denominator in ``den`` (both NULL unless both answered).

``result_cell`` sums those rows per indicator and cell. Cells come in **grains**, each a
partition of an indicator's facts by project, status, month and some more keys, so that a
question reads the coarsest grain its keys allow: grain ``""`` (nothing more: region, country,
project, thematic area and period questions), one grain ``choice:<field>`` per ``select_one``
field of the form's latest version (that field's value or none: a question with that one
``choice:`` key, or that ``compare``) and grain ``*`` (site and every choice, see ``cell_key``:
anything else). A cell keeps the row count, the count answered, Σ value, Σ den, the minimum and
the maximum, and for a ``median`` indicator its answered values packed as float64 in sorted
runs (``vals``), so ``sum mean count share ratio min max median`` (and ``compare``/``uplift``) read
a few cells per group instead of a row per observation. Only the months a date range cuts
through read the fact rows (``server.results.indicators``).

``refresh_observations`` is the delta: called in the writer's transaction with the ids of the
observations it wrote (new, edited, reviewed, deleted), it replaces their fact rows, adds the
sums of a new observation's rows to their cells (one per grain, in SQL: ``ON CONFLICT`` adds to
the cell there and appends the values as one more sorted run), and recomputes from the facts
every cell, of every grain, of the (indicator, status, project, month) slices an earlier state
of a written observation lay in, and of the year such a slice lies in for a median (a minimum
or a maximum cannot be taken back out; a value moved to another cell must leave the old one).
Its cost is the number written and the size of a project-month (a project-year for a median),
never the size of the database.
``refresh_form`` recomputes the rows of one form code and the cells of its old and new
indicators (a newly published version may define other indicators or select fields), and
``rebuild_results`` recomputes everything: the nightly ``rollup-rebuild`` job calls it as a
safety net and reports drift (``fingerprint`` covers the cells).
"""

from __future__ import annotations

import json
import sys
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel

from server.columns import JSONDoc
from server.records.bulk import execute_rows, insert_rows
from server.results.models import Form, Observation

# Keyed by observation first: an observation's rows are found (refreshed, deleted by the
# cascade) through the key, and no second index on ``observation_id`` is written with each row.
result_fact = sa.Table(
    "result_fact",
    SQLModel.metadata,
    sa.Column("indicator", sa.String(64), nullable=False),
    sa.Column(
        "observation_id",
        sa.Uuid(),
        sa.ForeignKey("observation.id", ondelete="CASCADE", name="fk_result_fact_observation"),
        nullable=False,
    ),
    sa.Column("project_id", sa.Uuid(), nullable=False),
    sa.Column("site_id", sa.Uuid(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("observed_on", sa.Date(), nullable=False),
    sa.Column("month", sa.Integer(), nullable=False),
    sa.Column("value", sa.Float(), nullable=True),
    sa.Column("den", sa.Float(), nullable=True),
    sa.Column("choices", JSONDoc, nullable=True),
    sa.PrimaryKeyConstraint("observation_id", "indicator"),
    sa.Index("ix_result_fact_indicator_project_month", "indicator", "project_id", "month"),
)

# Pre-summed cells: one row per indicator, grain and cell of that grain (project, status,
# month and the grain's keys), summing the cell's fact rows. The primary key leads with what
# every question fixes (indicator, grain, status) so a question reads one contiguous range; on
# SQLite the table is clustered on it (WITHOUT ROWID), so that range is read in order.
result_cell = sa.Table(
    "result_cell",
    SQLModel.metadata,
    sa.Column("indicator", sa.String(64), primary_key=True),
    sa.Column("grain", sa.String(96), primary_key=True),  # "", "choice:<field>" or "*"
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("project_id", sa.Uuid(), primary_key=True),
    sa.Column("month", sa.Integer(), primary_key=True),
    # the rest of the cell's key as one text ("" in grain ""; the choices text in a
    # ``choice:`` grain; site and choices in grain "*", see ``cell_key``)
    sa.Column("cell", sa.Text(), primary_key=True),
    sa.Column("site_id", sa.Uuid(), nullable=True),  # grain "*" only
    sa.Column("choices", sa.Text(), nullable=True),  # canonical JSON (sorted keys) or NULL
    sa.Column("n", sa.Integer(), nullable=False),  # fact rows (observations)
    sa.Column("answered", sa.Integer(), nullable=False),  # rows whose value is not NULL
    sa.Column("total", sa.Float(), nullable=True),  # sum of value (NULL: none answered)
    sa.Column("den", sa.Float(), nullable=True),  # sum of den
    sa.Column("low", sa.Float(), nullable=True),  # min of value
    sa.Column("high", sa.Float(), nullable=True),  # max of value
    # median indicators: the answered values as little-endian float64, in sorted runs (one when
    # made from the facts, ``pack_values``; the delta appends one per write)
    sa.Column("vals", sa.LargeBinary(), nullable=True),
    # No other index: the delta finds a slice's cells through this key too (``_slice_cells``),
    # and a second index led SQLite's planner away from it for the questions.
    sqlite_with_rowid=False,
)

COARSE = ""  # grain: project, status, month
FINE = "*"  # grain: and site and every choice
CHOICE_GRAIN = "choice:"  # + field name: and that field's value
# + a grain: the same cells over a whole year (``month`` is yyyy00), kept for median
# indicators only, whose values then come in long sorted runs
YEAR = "year:"

CELL_COLUMNS: tuple[str, ...] = (
    "indicator",
    "grain",
    "status",
    "project_id",
    "month",
    "cell",
    "site_id",
    "choices",
    "n",
    "answered",
    "total",
    "den",
    "low",
    "high",
    "vals",
)
CELL_KEY: tuple[str, ...] = CELL_COLUMNS[:6]

FACT_COLUMNS: tuple[str, ...] = (
    "indicator",
    "observation_id",
    "project_id",
    "site_id",
    "status",
    "observed_on",
    "month",
    "value",
    "den",
    "choices",
)

_form = Form.__table__  # type: ignore[attr-defined]
_observation = Observation.__table__  # type: ignore[attr-defined]
_BATCH = 500  # observation ids per delete/select of a refresh
_INSERT_BATCH = 5000  # fact rows per insert

AGGREGATES: tuple[str, ...] = ("sum", "mean", "median", "min", "max", "count", "share", "ratio")


@dataclass(frozen=True, slots=True)
class Definition:
    """What a result indicator reads from an observation (see ``fact_value``)."""

    code: str
    aggregate: str
    field: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    choice: str | None = None


def published_definitions(session: OrmSession) -> dict[str, list[Definition]]:
    """Form code -> the indicators its latest published (or retired) version defines."""
    rows = session.execute(
        sa.select(_form.c.code, _form.c.version, _form.c.indicators)
        .where(_form.c.status.in_(("published", "retired")))
        .order_by(_form.c.code, _form.c.version)
    )
    latest: dict[str, list[Any]] = {}
    for code, _version, indicators in rows:
        latest[code] = list(indicators or [])
    return {
        code: [
            Definition(
                code=str(i["code"]),
                aggregate=str(i.get("aggregate", "")),
                field=i.get("field"),
                numerator=i.get("numerator"),
                denominator=i.get("denominator"),
                choice=i.get("choice"),
            )
            for i in indicators
            if isinstance(i, Mapping) and i.get("code") and i.get("aggregate") in AGGREGATES
        ]
        for code, indicators in latest.items()
    }


@dataclass(frozen=True, slots=True)
class CellLayout:
    """Which cells an indicator keeps: a ``choice:`` grain per select field of its form's
    latest version, and whether cells keep their values (``median``)."""

    selects: tuple[str, ...] = ()
    ordered: bool = False


PLAIN = CellLayout()


def cell_layout(session: OrmSession) -> dict[str, CellLayout]:
    """Indicator code -> its cells' layout, from the latest published (or retired) versions."""
    rows = session.execute(
        sa.select(_form.c.code, _form.c.version, _form.c.fields, _form.c.indicators)
        .where(_form.c.status.in_(("published", "retired")))
        .order_by(_form.c.code, _form.c.version)
    )
    latest: dict[str, Any] = {}
    for row in rows:
        latest[row.code] = row
    found: dict[str, CellLayout] = {}
    for row in latest.values():
        selects = select_fields(row.fields or [])
        for i in row.indicators or []:
            if isinstance(i, Mapping) and i.get("code"):
                found[str(i["code"])] = CellLayout(selects, i.get("aggregate") == "median")
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def fact_value(
    definition: Definition, values: Mapping[str, Any]
) -> tuple[float | None, float | None]:
    """(value, den) of one observation for one indicator (see the module's docstring)."""
    aggregate = definition.aggregate
    if aggregate == "count":
        return 1.0, None
    if aggregate == "ratio":
        top = _number(values.get(definition.numerator or ""))
        bottom = _number(values.get(definition.denominator or ""))
        if top is None or bottom is None:
            return None, None
        return top, bottom
    answer = values.get(definition.field or "")
    if aggregate == "share":
        if answer is None or answer == "" or answer == []:
            return None, None
        if isinstance(answer, bool):
            return (1.0 if answer else 0.0), None
        if isinstance(answer, list):
            return (1.0 if definition.choice in answer else 0.0), None
        return (1.0 if answer == definition.choice else 0.0), None
    return _number(answer), None


def select_fields(fields: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(
        str(f["name"]) for f in fields if isinstance(f, Mapping) and f.get("type") == "select_one"
    )


def fact_rows(
    observation: Any,
    *,
    definitions: Sequence[Definition],
    selects: Sequence[str],
) -> list[tuple[Any, ...]]:
    """The fact rows of one (not deleted) observation, in ``FACT_COLUMNS`` order. Its rows
    share one ``choices`` object (``add_facts`` and ``insert_rows`` then handle it once)."""
    values: Mapping[str, Any] = observation["values"] or {}
    day: date = observation["observed_on"]
    choices = {
        name: str(values[name])
        for name in selects
        if isinstance(values.get(name), str | int | bool)
    } or None
    head = (observation["id"], observation["project_id"], observation["site_id"])
    status, month = observation["status"], day.year * 100 + day.month
    return [
        (definition.code, *head, status, day, month, *fact_value(definition, values), choices)
        for definition in definitions
    ]


@dataclass(frozen=True, slots=True)
class ResultRefresh:
    observations: int  # observations looked at
    rows: int  # fact rows written


# --- cells -------------------------------------------------------------------------------------

CellKey = tuple[str, str, str, uuid.UUID, int, str]  # CELL_KEY: indicator … cell
# site_id, choices, n, answered, total, den, low, high, values (a list, or None: not kept)
Cells = dict[CellKey, list[Any]]


def choices_text(choices: Mapping[str, Any] | None) -> str | None:
    """A fact's choices as the canonical JSON text a cell keeps (None when it has none)."""
    if not choices:
        return None
    return json.dumps(dict(choices), sort_keys=True, separators=(",", ":"))


def cell_key(site_id: uuid.UUID | None, choices: str | None) -> str:
    """The ``cell`` of a grain ``*`` cell."""
    return f"{site_id.hex if site_id else '-'}|{choices or ''}"


# ``vals`` is little-endian whatever the machine, so that a backup restored on another
# architecture reads the same values.
_BIG_ENDIAN = sys.byteorder == "big"


def pack_values(values: Iterable[float]) -> bytes | None:
    """Values as ``vals`` keeps them: one sorted run of little-endian float64; None when
    empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    packed = array("d", ordered)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def unpack_values(data: bytes | None) -> array[float]:
    found = array("d")
    if data:
        found.frombytes(data)
        if _BIG_ENDIAN:
            found.byteswap()
    return found


def add_facts(
    cells: Cells, rows: Iterable[Sequence[Any]], layout: Mapping[str, CellLayout]
) -> None:
    """Sum fact rows (``FACT_COLUMNS`` order) into their cells, one per grain (and for a
    median indicator one per yearly grain too).

    In two steps: the rows are summed into their cells of grain ``*`` first (site and every
    choice: one cell update per row), then each of those is added to the cells of the other
    grains that contain it (one update per fine cell and grain, not per row and grain)."""
    texts: dict[Any, str | None] = {}  # choices -> their text, each made once

    def text_of(choices: Mapping[str, Any] | None) -> str | None:
        if not choices:
            return None
        key = tuple(choices.items())
        if key not in texts:
            texts[key] = choices_text(choices)
        return texts[key]

    # (code, status, project, month, site, choices text) -> [n, answered, total, den, low,
    # high, values or None, choices]; the rows of one observation (``fact_rows``) share their
    # choices object, so its text is made once for them.
    fine: dict[tuple[Any, ...], list[Any]] = {}
    last: Any = None
    full: str | None = None
    for code, _obs, project, site, status, _day, month, value, den, choices in rows:
        if choices is not last:
            last, full = choices, text_of(choices)
        key = (code, status, project, month, site, full)
        sums = fine.get(key)
        if sums is None:
            ordered = layout.get(code, PLAIN).ordered
            sums = fine[key] = [0, 0, None, None, None, None, [] if ordered else None, choices]
        sums[0] += 1
        if value is not None:
            value = value + 0.0  # -0.0 sorts and packs as 0.0
            sums[1] += 1
            if sums[2] is None:
                sums[2] = sums[4] = sums[5] = value
            else:
                sums[2] += value
                if value < sums[4]:
                    sums[4] = value
                if value > sums[5]:
                    sums[5] = value
            if sums[6] is not None:
                sums[6].append(value)
        if den is not None:
            sums[3] = den if sums[3] is None else sums[3] + den
    for (code, status, project, month, site, full), sums in fine.items():
        n, answered, total, den, low, high, values, choices = sums
        shape = layout.get(code, PLAIN)
        targets: list[tuple[str, str, Any, str | None]] = [(COARSE, "", None, None)]
        for name in shape.selects:
            answer = choices.get(name) if choices else None
            text = None if answer is None else text_of({name: answer})
            targets.append((CHOICE_GRAIN + name, text or "", None, text))
        targets.append((FINE, cell_key(site, full), site, full))
        months = (month, month // 100 * 100) if shape.ordered else (month,)
        for when in months:
            for grain, text, cell_site, cell_choices in targets:
                key = (code, grain if when == month else YEAR + grain, status, project, when, text)
                cell = cells.get(key)
                if cell is None:
                    cell = cells[key] = [cell_site, cell_choices, 0, 0, None, None, None, None]
                    cell.append([] if shape.ordered else None)
                cell[2] += n
                if answered:
                    cell[3] += answered
                    cell[4] = total if cell[4] is None else cell[4] + total
                    cell[6] = low if cell[6] is None else min(cell[6], low)
                    cell[7] = high if cell[7] is None else max(cell[7], high)
                    if cell[8] is not None:
                        cell[8].extend(values)
                if den is not None:
                    cell[5] = den if cell[5] is None else cell[5] + den


def _insert_cells(session: OrmSession, cells: Cells) -> int:
    rows = [
        (*key, *cell[:8], None if cell[8] is None else pack_values(cell[8]))
        for key, cell in cells.items()
    ]
    done = 0
    for start in range(0, len(rows), _INSERT_BATCH):
        done += insert_rows(session, result_cell, CELL_COLUMNS, rows[start : start + _INSERT_BATCH])
    return done


def _fact_select() -> sa.Select[Any]:
    return sa.select(*(result_fact.c[name] for name in FACT_COLUMNS))


# A slice: the cells of every grain of one indicator, status, project and month (an edit
# changes only the slices its observation's old and new states lie in).
SLICE: tuple[str, ...] = ("indicator", "status", "project_id", "month")
Slice = tuple[str, str, uuid.UUID, int]


def grains(layout: CellLayout) -> tuple[str, ...]:
    monthly = (COARSE, *(CHOICE_GRAIN + name for name in layout.selects), FINE)
    return (*monthly, *(YEAR + g for g in monthly)) if layout.ordered else monthly


def _with_years(slices: Iterable[Slice], layout: Mapping[str, CellLayout]) -> set[Slice]:
    """These slices and, for median indicators, the yearly slices (month yyyy00) they lie in."""
    found = set(slices)
    for code, status, project, month in list(found):
        if layout.get(code, PLAIN).ordered:
            found.add((code, status, project, month // 100 * 100))
    return found


def _facts_of(keys: Sequence[Slice]) -> list[Slice]:
    """The monthly slices whose facts make these slices' cells (a yearly one: its 12)."""
    found: set[Slice] = set()
    for code, status, project, month in keys:
        if month % 100:
            found.add((code, status, project, month))
        else:
            found.update((code, status, project, month + m) for m in range(1, 13))
    return sorted(found, key=str)


def _slice_cells(keys: Sequence[Slice], layout: Mapping[str, CellLayout]) -> Any:
    """The cells of these slices, through the primary key: the indicators' grains listed."""
    wanted = {g for code in {k[0] for k in keys} for g in grains(layout.get(code, PLAIN))}
    return sa.and_(result_cell.c.grain.in_(sorted(wanted)), _slice_condition(result_cell, keys))


def _slice_condition(
    table: sa.Table, keys: Sequence[tuple[Any, ...]], names: Sequence[str] = SLICE
) -> Any:
    """Rows of these keys (values of the columns ``names``): plain ``IN`` lists on each column
    lead, so both backends walk an index, then the row value ``IN`` keeps exactly the keys."""
    return sa.and_(
        *(table.c[name].in_(sorted({k[n] for k in keys}, key=str)) for n, name in enumerate(names)),
        sa.tuple_(*(table.c[name] for name in names)).in_(keys),
    )


def _recompute_slices(
    session: OrmSession, slices: Iterable[Slice], layout: Mapping[str, CellLayout]
) -> None:
    """Recompute every cell of these (indicator, status, project, month) slices from their
    facts: what an edit or a deletion touched (a minimum or a maximum cannot be taken back
    out)."""
    wanted = sorted(_with_years(slices, layout), key=str)
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start : start + _BATCH]
        session.execute(sa.delete(result_cell).where(_slice_cells(chunk, layout)))
        cells: Cells = {}
        sources = _facts_of(chunk)
        for first in range(0, len(sources), _BATCH):
            part = sources[first : first + _BATCH]
            add_facts(
                cells,
                session.execute(_fact_select().where(_slice_condition(result_fact, part))),
                layout,
            )
        chosen = set(chunk)  # a year's facts also make cells of months not recomputed
        _insert_cells(session, {k: v for k, v in cells.items() if (k[0], *k[2:5]) in chosen})


def _merge_statement(dialect: str) -> Any:
    """INSERT a cell, or add it to the one already there (``ON CONFLICT`` on its key): counts
    and sums add up, the minimum and maximum are compared, the values are appended (a sorted
    run more; ``pack_values`` and the rebuild make one run again)."""
    insert = (
        postgresql_insert(result_cell) if dialect == "postgresql" else sqlite_insert(result_cell)
    )
    old, new = result_cell.c, insert.excluded
    appended = (
        old.vals.concat(new.vals)
        if dialect == "postgresql"
        else sa.cast(old.vals.op("||")(new.vals), sa.LargeBinary())  # a blob, NULs kept
    )
    return insert.on_conflict_do_update(
        index_elements=list(CELL_KEY),
        set_={
            "n": old.n + new.n,
            "answered": old.answered + new.answered,
            "total": sa.func.coalesce(old.total + new.total, old.total, new.total),
            "den": sa.func.coalesce(old.den + new.den, old.den, new.den),
            "low": sa.case((sa.or_(old.low.is_(None), new.low < old.low), new.low), else_=old.low),
            "high": sa.case(
                (sa.or_(old.high.is_(None), new.high > old.high), new.high), else_=old.high
            ),
            "vals": sa.func.coalesce(appended, old.vals, new.vals),
        },
    )


def _add_cells(session: OrmSession, cells: Cells) -> None:
    """The insert delta: add new facts' sums (and values) to their cells, creating the cells
    they lack, in SQL: nothing is read back."""
    if not cells:
        return
    statement = _merge_statement(session.get_bind().dialect.name)
    rows = [
        (*key, *cell[:8], None if cell[8] is None else pack_values(cell[8]))
        for key, cell in cells.items()
    ]
    for start in range(0, len(rows), _INSERT_BATCH):
        execute_rows(session, statement, CELL_COLUMNS, rows[start : start + _INSERT_BATCH])


def _rebuild_cells(
    session: OrmSession, layout: Mapping[str, CellLayout], indicators: Iterable[str] | None = None
) -> int:
    """Recompute the cells of these indicators (None: all) from their facts."""
    condition: Any = sa.true()
    if indicators is not None:
        wanted = sorted(set(indicators))
        if not wanted:
            return 0
        condition = result_fact.c.indicator.in_(wanted)
        session.execute(sa.delete(result_cell).where(result_cell.c.indicator.in_(wanted)))
    else:
        session.execute(sa.delete(result_cell))
    cells: Cells = {}
    add_facts(cells, session.execute(_fact_select().where(condition)), layout)
    return _insert_cells(session, cells)


# --- facts -------------------------------------------------------------------------------------


def _write(
    session: OrmSession,
    condition: Any,
    observations: sa.Select[Any] | None = None,
    cells: Cells | None = None,
    layout: Mapping[str, CellLayout] | None = None,
) -> ResultRefresh:
    """Replace the fact rows matching ``condition`` by those of the observations selected;
    the new rows are also summed into ``cells`` (laid out by ``layout``) when given."""
    session.execute(sa.delete(result_fact).where(condition))
    if observations is None:
        return ResultRefresh(0, 0)
    definitions = published_definitions(session)
    form_selects: dict[uuid.UUID, tuple[str, tuple[str, ...]]] = {
        row.id: (row.code, select_fields(row.fields or []))
        for row in session.execute(sa.select(_form.c.id, _form.c.code, _form.c.fields))
    }
    seen = written = 0
    batch: list[tuple[Any, ...]] = []

    def flush() -> int:
        if cells is not None:
            add_facts(cells, batch, layout or {})
        return insert_rows(session, result_fact, FACT_COLUMNS, batch)

    for observation in session.execute(observations).mappings():
        seen += 1
        code, selects = form_selects.get(observation["form_id"], ("", ()))
        wanted = definitions.get(code)
        if not wanted:
            continue
        batch.extend(fact_rows(observation, definitions=wanted, selects=selects))
        if len(batch) >= _INSERT_BATCH:
            written += flush()
            batch = []
    written += flush()
    return ResultRefresh(seen, written)


def _observations(*conditions: Any) -> sa.Select[Any]:
    o = _observation
    return sa.select(
        o.c.id,
        o.c.project_id,
        o.c.site_id,
        o.c.form_id,
        o.c.status,
        o.c.observed_on,
        o.c["values"],
    ).where(o.c.deleted == sa.false(), *conditions)


def refresh_observations(session: OrmSession, ids: Iterable[uuid.UUID]) -> ResultRefresh:
    """The delta: replace the fact rows of these observations (written, reviewed or deleted in
    this transaction) by rows computed from their current state, and bring their cells along:
    a new observation's sums are added to its cells; the slices (indicator, status, project,
    month) an earlier state of an observation lay in are recomputed from their facts. Call it in the
    writer's transaction, after the writes are flushed."""
    wanted = sorted(set(ids), key=str)
    if not wanted:
        return ResultRefresh(0, 0)
    session.flush()
    layout = cell_layout(session)
    total = ResultRefresh(0, 0)
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start : start + _BATCH]
        f = result_fact.c
        old: set[Slice] = {
            (row[0], row[1], row[2], row[3])
            for row in session.execute(
                sa.select(f.indicator, f.status, f.project_id, f.month)
                .where(f.observation_id.in_(chunk))
                .distinct()
            )
        }
        cells: Cells = {}
        done = _write(
            session,
            result_fact.c.observation_id.in_(chunk),
            _observations(_observation.c.id.in_(chunk)),
            cells,
            layout,
        )
        old = _with_years(old, layout)
        _add_cells(session, {k: v for k, v in cells.items() if (k[0], *k[2:5]) not in old})
        _recompute_slices(session, old, layout)
        total = ResultRefresh(total.observations + done.observations, total.rows + done.rows)
    return total


def after_observation_write(session: OrmSession, observation: Any) -> None:
    """The after-write callable for the observation writer's registry: one observation (an
    ``Observation`` or its id)."""
    refresh_observations(session, [getattr(observation, "id", observation)])


def observations_changed(
    session: OrmSession, before_rows: Sequence[Any], after_rows: Sequence[Mapping[str, Any]]
) -> None:
    """The hook ``server.results.observations.write_observation`` (and
    ``write_new_observations``, once per batch) calls after every write (registered by
    ``server.wiring.install``): the written observations' rows are replaced, in the writer's
    transaction. A batch of new observations only (``before_rows`` all None) takes
    ``observations_created``."""
    if (
        after_rows
        and len(before_rows) == len(after_rows)
        and all(before is None for before in before_rows)
    ):
        observations_created(session, after_rows)
        return
    refresh_observations(session, [uuid.UUID(str(row["id"])) for row in after_rows])


def _uuid(value: Any, seen: dict[Any, uuid.UUID | None] | None = None) -> uuid.UUID | None:
    """``value`` (wire text or a UUID) as a UUID; ``seen`` keeps those a batch repeats."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    if seen is None:
        return uuid.UUID(str(value))
    found = seen.get(value)
    if found is None:
        found = seen[value] = uuid.UUID(str(value))
    return found


def observations_created(session: OrmSession, rows: Sequence[Mapping[str, Any]]) -> ResultRefresh:
    """The insert delta of observations created in this transaction, from their states as
    written (``observation_row``: wire fields, not read back): their fact rows, and their sums
    and values added to their cells of every grain, the whole batch at once — what
    ``refresh_observations`` does for new observations (they have no earlier fact rows, so no
    slice needs recomputing)."""
    if not rows:
        return ResultRefresh(0, 0)
    session.flush()
    definitions = published_definitions(session)
    layout = cell_layout(session)
    seen: dict[Any, uuid.UUID | None] = {}  # a batch's project, form and site ids, converted once
    form_ids = {_uuid(row["form_id"], seen) for row in rows}
    form_selects: dict[uuid.UUID | None, tuple[str, tuple[str, ...]]] = {
        row.id: (row.code, select_fields(row.fields or []))
        for row in session.execute(
            sa.select(_form.c.id, _form.c.code, _form.c.fields).where(
                _form.c.id.in_(sorted(form_ids, key=str))
            )
        )
    }
    cells: Cells = {}
    facts: list[tuple[Any, ...]] = []
    for row in rows:
        if row.get("deleted"):
            continue
        code, selects = form_selects.get(_uuid(row["form_id"], seen), ("", ()))
        wanted = definitions.get(code)
        if not wanted:
            continue
        observed = row["observed_on"]
        observation = {
            "id": _uuid(row["id"]),
            "project_id": _uuid(row["project_id"], seen),
            "site_id": _uuid(row.get("site_id"), seen),
            "status": row["status"],
            "observed_on": observed if isinstance(observed, date) else date.fromisoformat(observed),
            "values": row.get("values") or {},
        }
        facts.extend(fact_rows(observation, definitions=wanted, selects=selects))
    written = 0
    for start in range(0, len(facts), _INSERT_BATCH):
        chunk = facts[start : start + _INSERT_BATCH]
        add_facts(cells, chunk, layout)
        written += insert_rows(session, result_fact, FACT_COLUMNS, chunk)
    _add_cells(session, cells)
    return ResultRefresh(len(rows), written)


def refresh_form(session: OrmSession, code: str) -> ResultRefresh:
    """Recompute the rows of every observation of a form code, and the cells of its old and
    new indicators: call it when a version of the form is published or retired (its latest
    version defines the indicators)."""
    session.flush()
    form_ids = sa.select(_form.c.id).where(_form.c.code == code).scalar_subquery()
    mine = sa.select(_observation.c.id).where(_observation.c.form_id.in_(form_ids))
    stale = result_fact.c.observation_id.in_(mine)
    indicators = set(
        session.scalars(sa.select(result_fact.c.indicator).where(stale).distinct())
    ) | {d.code for d in published_definitions(session).get(code, [])}
    done = _write(session, stale, _observations(_observation.c.form_id.in_(form_ids)))
    _rebuild_cells(session, cell_layout(session), indicators)
    return done


def rebuild_results(session: OrmSession) -> ResultRefresh:
    """Recompute every fact row from the observations, and every cell from them (the safety
    net)."""
    session.flush()
    cells: Cells = {}
    done = _write(session, sa.true(), _observations(), cells, cell_layout(session))
    session.execute(sa.delete(result_cell))
    _insert_cells(session, cells)
    return done


def _rounded(value: Any) -> Any:
    # Sums kept by deltas and sums recomputed differ in the last bits of a float.
    return float(f"{value:.10g}") if isinstance(value, float) else value


def fingerprint(session: OrmSession) -> list[tuple[Any, ...]]:
    """Every fact row, then every cell, in order, for drift detection (JSON compared as sorted
    text; a cell's sums to ten significant digits, its values exactly, in order)."""
    columns = [c for c in result_fact.columns if c.name != "choices"]
    found = []
    for row in session.execute(
        sa.select(*columns, result_fact.c.choices).order_by(
            result_fact.c.indicator, result_fact.c.observation_id
        )
    ):
        *plain, choices = row
        found.append((*plain, tuple(sorted((choices or {}).items()))))
    for row in session.execute(
        sa.select(*(result_cell.c[name] for name in CELL_COLUMNS)).order_by(
            *(result_cell.c[name] for name in CELL_KEY)
        )
    ):
        *sums, vals = row
        # values compared as a sorted whole: the delta appends a sorted run per write
        found.append(("cell", *(_rounded(v) for v in sums), pack_values(unpack_values(vals))))
    return found
