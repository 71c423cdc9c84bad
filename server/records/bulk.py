"""Many-row inserts at driver speed, for the bulk write paths (a push of new activities, the
roll-up refresh).

``session.execute(insert(table), rows)`` spends most of its time in SQLAlchemy's per-row
parameter machinery, not in the database. ``insert_rows`` compiles the INSERT once (per table
and list of columns), converts the values column by column with the very bind processors
SQLAlchemy would apply (so what is stored is identical: UUID as 32 hex digits and JSON as text
on SQLite, JSONB casts on PostgreSQL …) and hands the rows to the driver's ``executemany`` on
the session's connection, inside the session's transaction (and savepoint). On PostgreSQL the
rows go by ``COPY FROM STDIN`` instead, which takes them in one stream rather than one
statement each (in the binary format: no text for the server to parse). No ORM object is
made, so nothing is flushed or tracked.

The processors of the usual types (booleans, and dates and times on SQLite) take a shortcut
that gives the same result for the usual value. A writer may also build its rows ready for the
driver, each value through ``binder`` (a value many rows share is then converted once), and
pass ``bound=True``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import psycopg
import sqlalchemy as sa
from psycopg import postgres
from psycopg.types.json import Json, Jsonb
from sqlalchemy.orm import Session

from server.columns import UtcTime
from server.db import COPY_OPEN, refuse_while_copying


def insert_rows(
    session: Session,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    bound: bool = False,
    meanwhile: Callable[[], None] | None = None,
) -> int:
    """Insert ``rows`` (one value per name in ``columns``, in that order) into ``table``;
    returns how many. Columns not named get their server default (or NULL). ``bound``: the
    rows are tuples of what the driver takes already (each value through ``binder``).

    ``meanwhile``: work of the caller's that needs no database, run once the rows are sent
    and before the insert is known to have succeeded (an error of the insert is raised after
    it). On PostgreSQL the server takes a ``COPY``'s rows at its own pace after the last one
    left: the caller's work then runs while the database works instead of after it. It must
    not use the session: the connection is busy, and a statement there is refused
    (``server.db.refuse_while_copying``; it would otherwise wait for psycopg's lock for ever)."""
    values: list[Any] = rows if isinstance(rows, list) else list(rows)
    if not values:
        if meanwhile is not None:
            meanwhile()
        return 0
    session.flush()  # rows this insert may refer to, still pending in the session, go first
    connection = session.connection()
    if not bound:
        values = _bound(connection.dialect, table, columns, values)
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, values, meanwhile)
        return len(values)
    key = (connection.dialect, table, tuple(columns))
    prepared = _INSERTS.get(key)
    if prepared is None:
        prepared = _INSERTS[key] = _prepared(connection.dialect, sa.insert(table), columns)
    count = _run(connection, prepared, columns, values)
    if meanwhile is not None:
        meanwhile()
    return count


def execute_rows(
    session: Session,
    statement: sa.Insert,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """Run ``statement`` (an INSERT into one table, ``ON CONFLICT …`` say) once per row at
    driver speed, as ``insert_rows`` does: compiled once, the values converted by the columns'
    own bind processors, one ``executemany`` (on both backends: ``COPY`` has no conflict
    clause). Returns how many rows."""
    values: list[Any] = rows if isinstance(rows, list) else list(rows)
    if not values:
        return 0
    session.flush()
    connection = session.connection()
    table = statement.table
    assert isinstance(table, sa.Table)
    values = _bound(connection.dialect, table, columns, values)
    return _executemany(connection, statement, columns, values)


def binder(session: Session, column: sa.Column[Any]) -> Callable[[Any], Any]:
    """What ``insert_rows`` makes of a value of ``column`` (its type's bind processor, with
    its shortcuts), for a writer that builds its rows ready for the driver (``bound=True``):
    a value shared by many rows is then converted once."""
    table = column.table
    assert isinstance(table, sa.Table)
    for _, processor in _processors(session.get_bind().dialect, table, (column.name,)):
        return processor
    return _same


def _same(value: Any) -> Any:
    return value


def _bound(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], values: list[Any]
) -> list[Any]:
    """The rows, as tuples, with each value as the column's bind processor makes it (what
    SQLAlchemy would send the driver)."""
    convert = _processors(dialect, table, tuple(columns))
    if not convert:
        return list(map(tuple, values))
    # Column by column; a value repeated from the row before (an activity's id on each of
    # its attendance rows, one timestamp for the whole batch) is converted once.
    columns_out = []
    for n, processor in convert:
        last: Any = _NOTHING
        done: Any = None
        column = []
        for row in values:
            value = row[n]
            if value is not last:
                last, done = value, processor(value)
            column.append(done)
        columns_out.append((n, column))
    converted = [list(row) for row in values]
    for n, column in columns_out:
        for out, value in zip(converted, column, strict=True):
            out[n] = value
    return list(map(tuple, converted))


_Processor = Callable[[Any], Any]
_PROCESSORS: dict[tuple[sa.Dialect, sa.Table, tuple[str, ...]], list[tuple[int, _Processor]]] = {}


def _processors(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]
) -> list[tuple[int, _Processor]]:
    """(position, bind processor) of each column whose type has one, found once per dialect,
    table and column list."""
    key = (dialect, table, columns)
    found = _PROCESSORS.get(key)
    if found is None:
        found = []
        for n, name in enumerate(columns):
            impl = table.c[name].type.dialect_impl(dialect)
            processor = impl.bind_processor(dialect)
            if processor is not None:
                found.append((n, _quicker(dialect, impl, processor)))
        _PROCESSORS[key] = found
    return found


def _quicker(dialect: sa.Dialect, impl: Any, processor: _Processor) -> _Processor:
    """``processor``, with a shortcut for the usual value of the bulk paths' column types:
    the same result without the processor's checks and formatting
    (tests/server/records/test_bulk.py holds each shortcut to its processor)."""
    if isinstance(impl, sa.Boolean):
        if dialect.name == "sqlite":
            # The int, as the processor gives it: sqlite3 binds a bool too, but by way of its
            # adapters, about 0.4 µs a value (60 ms of a push's 160 000 attendance rows).
            as_int = {True: 1, False: 0}

            def sqlite_boolean(value: Any) -> Any:
                return as_int[value] if value.__class__ is bool else processor(value)

            return sqlite_boolean

        def boolean(value: Any) -> Any:
            return value if value.__class__ is bool else processor(value)

        return boolean
    if isinstance(impl, UtcTime):
        return _utc_time(dialect, impl, processor)
    if dialect.name != "sqlite":
        return processor
    if isinstance(impl, sa.Date) and impl._storage_format == _SQLITE_DATE:  # type: ignore[attr-defined]

        def sqlite_date(value: Any) -> Any:
            return value.isoformat() if value.__class__ is date else processor(value)

        return sqlite_date
    return processor


def _utc_time(dialect: sa.Dialect, impl: UtcTime, processor: _Processor) -> _Processor:
    """``UtcTime``'s processor, quicker for a time in UTC or naive (UTC by convention)."""
    if dialect.name != "sqlite":

        def utc_time(value: Any) -> Any:
            if value.__class__ is datetime and (value.tzinfo is None or value.tzinfo is UTC):
                return value
            return processor(value)

        return utc_time
    if impl.impl._storage_format != _SQLITE_DATETIME:  # type: ignore[attr-defined]
        return processor

    def sqlite_utc_time(value: Any) -> Any:
        if value.__class__ is datetime:
            if value.tzinfo is not None and value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            # SQLite's DATETIME keeps the wall time as written, without its offset.
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return processor(value)

    return sqlite_utc_time


_NOTHING = object()
_SQLITE_DATE = "%(year)04d-%(month)02d-%(day)02d"
_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _executemany(
    connection: sa.Connection, statement: sa.Insert, columns: Sequence[str], values: list[Any]
) -> int:
    return _run(connection, _prepared(connection.dialect, statement, columns), columns, values)


# The SQL of a plain INSERT into a table's columns, compiled once per dialect (insert_rows;
# tests/server/records/test_bulk.py: each list of columns gets its own).
_INSERTS: dict[tuple[sa.Dialect, sa.Table, tuple[str, ...]], _Prepared] = {}


class _Prepared(NamedTuple):
    sql: str
    positional: bool
    order: list[int] | None  # where the driver's parameters are not in the columns' order


def _prepared(dialect: sa.Dialect, statement: sa.Insert, columns: Sequence[str]) -> _Prepared:
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    if not compiled.positional:
        return _Prepared(compiled.string, False, None)
    order = [list(columns).index(name) for name in compiled.positiontup or ()]
    return _Prepared(compiled.string, True, None if order == list(range(len(columns))) else order)


def _run(
    connection: sa.Connection, prepared: _Prepared, columns: Sequence[str], values: list[Any]
) -> int:
    if prepared.positional:
        if prepared.order is not None:
            values = [tuple([row[n] for n in prepared.order]) for row in values]
        params: list[Any] = values  # tuples (``_bound``)
    else:
        params = [dict(zip(columns, row, strict=True)) for row in values]
    connection.exec_driver_sql(prepared.sql, params)
    return len(params)


def _copy(
    connection: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: list[Any],
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """PostgreSQL: ``COPY … FROM STDIN`` on the transaction's own connection (what the bench's
    floor uses), in the binary format when every column has a built-in type: the server then
    takes each value in its own binary form instead of parsing its text (a fifth or more of
    the database's time on a push's rows; docs/performance.md) and every value is one whose
    binary form says what its text would (``_binary_takes``). Values are already what the
    bind processors make (JSON in psycopg's wrapper, which its dumper writes with the engine's
    serializer, as in any other statement)."""
    refuse_while_copying(connection)  # a COPY inside another's ``meanwhile``
    quote = connection.dialect.identifier_preparer
    names = ", ".join(quote.quote(name) for name in columns)
    target = quote.format_table(table)
    driver = connection.connection.driver_connection
    assert driver is not None
    oids = _binary_types(connection.dialect, table, tuple(columns))
    if oids is not None and not _binary_takes(oids, rows):
        oids = None
    binary = " (FORMAT BINARY)" if oids is not None else ""
    statement = f"COPY {target} ({names}) FROM STDIN{binary}"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            if oids is not None:
                copy.set_types(oids)
            for row in rows:
                copy.write_row(row)
            if meanwhile is not None:
                # The rows are on their way (all but psycopg's last buffer, 32 KB at most).
                connection.info[COPY_OPEN] = True
                try:
                    meanwhile()
                finally:
                    del connection.info[COPY_OPEN]
    except psycopg.Error as exc:
        # As SQLAlchemy raises a statement's errors (IntegrityError, DataError …): the writers
        # catch those to retry a batch the database refuses one record at a time.
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


# The PostgreSQL types (oids) of a table's columns for a binary COPY, from the table as the
# models declare it (the migrations create the same types: tests/server/test_migrations.py),
# or None when one of them is not a built-in type psycopg knows: the text format then.
_COPY_TYPES: dict[tuple[sa.Table, tuple[str, ...]], list[int] | None] = {}


def _binary_types(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]
) -> list[int] | None:
    key = (table, columns)
    if key not in _COPY_TYPES:
        declared = [table.c[name].type.compile(dialect=dialect) for name in columns]
        found = [postgres.types.get(_TYPE_NAMES.get(d, d.split("(")[0].lower())) for d in declared]
        _COPY_TYPES[key] = None if None in found else [info.oid for info in found]  # type: ignore[union-attr]
    return _COPY_TYPES[key]


# SQLAlchemy's names that are not PostgreSQL's own (FLOAT without a precision is a double).
_TYPE_NAMES = {"FLOAT": "float8"}


def _binary_takes(oids: Sequence[int], rows: list[Any]) -> bool:
    """Whether every value of ``rows`` is one psycopg writes in the binary format as
    PostgreSQL would read its text: the Python types each column's binary dumper takes, and
    integers in their column's range (a binary int2 or int4 wraps around silently where the
    text format fails: 2**31 would be stored as -2**31). Anything else goes by text, where
    PostgreSQL converts or refuses the value itself (a ``DataError`` the push keeps for
    review, as before), so both formats store the same."""
    for n, oid in enumerate(oids):
        takes = _BINARY_TAKES.get(oid)
        if takes is None:
            return False
        kinds = {type(row[n]) for row in rows}
        kinds.discard(type(None))
        if not all(takes(kind) for kind in kinds):
            return False
        limit = _INT_LIMITS.get(oid)
        if limit is not None and kinds:
            values = [row[n] for row in rows if row[n] is not None]
            if min(values) < -limit or max(values) >= limit:
                return False
        if (
            oid == _TIMESTAMPTZ
            and kinds
            and any(row[n] is not None and row[n].tzinfo is None for row in rows)
        ):
            return False
    return True


_TIMESTAMPTZ = 1184
_INT_LIMITS = {21: 1 << 15, 23: 1 << 31, 20: 1 << 63}  # int2, int4, int8
# The Python types whose binary form psycopg writes as PostgreSQL reads the same value's text,
# by column type; a type not named here goes by text.
_BINARY_TAKES: dict[int, Callable[[type], bool]] = {
    16: lambda kind: kind is bool,  # bool
    21: lambda kind: kind is int or kind is bool,  # int2
    23: lambda kind: kind is int or kind is bool,  # int4
    20: lambda kind: kind is int or kind is bool,  # int8
    701: lambda kind: kind is float,  # float8
    25: lambda kind: issubclass(kind, str),  # text
    1043: lambda kind: issubclass(kind, str),  # varchar
    2950: lambda kind: kind is uuid.UUID,  # uuid
    1082: lambda kind: issubclass(kind, date),  # date (a datetime: its own day, as in text)
    _TIMESTAMPTZ: lambda kind: kind is datetime,  # timestamptz (with a time zone: above)
    3802: lambda kind: kind is Jsonb,  # jsonb, as the JSON type's bind processor wraps it
    114: lambda kind: kind is Json,  # json
    17: lambda kind: kind is bytes,  # bytea
}
