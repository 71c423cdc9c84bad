"""Many-row inserts at driver speed, for the bulk write paths (a push of new activities, the
roll-up refresh).

``session.execute(insert(table), rows)`` spends most of its time in SQLAlchemy's per-row
parameter machinery, not in the database. ``insert_rows`` compiles the INSERT once, converts the
values column by column with the very bind processors SQLAlchemy would apply (so what is stored
is identical: UUID as 32 hex digits and JSON as text on SQLite, JSONB casts on PostgreSQL …) and
hands the rows to the driver's ``executemany`` on the session's connection, inside the session's
transaction (and savepoint). On PostgreSQL the rows go by ``COPY FROM STDIN`` instead, which
takes them in one stream rather than one statement each. No ORM object is made, so nothing is
flushed or tracked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

_NOTHING = object()


def insert_rows(
    session: Session, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert ``rows`` (one value per name in ``columns``, in that order) into ``table``;
    returns how many. Columns not named get their server default (or NULL)."""
    values: list[Any] = rows if isinstance(rows, list) else list(rows)
    if not values:
        return 0
    session.flush()  # rows this insert may refer to, still pending in the session, go first
    connection = session.connection()
    values = _bound(connection.dialect, table, columns, values)
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, values)
        return len(values)
    return _executemany(connection, sa.insert(table), columns, values)


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


def _bound(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], values: list[Any]
) -> list[Any]:
    """The rows with each value as the column's bind processor makes it (what SQLAlchemy
    would send the driver)."""
    convert = [
        (n, processor)
        for n, name in enumerate(columns)
        if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    if not convert:
        return values
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
    return converted


def _executemany(
    connection: sa.Connection, statement: sa.Insert, columns: Sequence[str], values: list[Any]
) -> int:
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(columns))
    if compiled.positional:
        order = [list(columns).index(name) for name in compiled.positiontup or ()]
        if order != list(range(len(columns))):
            values = [[row[n] for n in order] for row in values]
        params: list[Any] = [tuple(row) for row in values]
    else:
        params = [dict(zip(columns, row, strict=True)) for row in values]
    connection.exec_driver_sql(compiled.string, params)
    return len(params)


def _copy(
    connection: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[Any]
) -> None:
    """PostgreSQL: ``COPY … FROM STDIN`` on the transaction's own connection (what the bench's
    floor uses). Values are already what the bind processors make (JSON as text, which a jsonb
    column parses on input)."""
    quote = connection.dialect.identifier_preparer
    names = ", ".join(quote.quote(name) for name in columns)
    statement = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
