"""The database's tables as backups see them, at whatever schema revision the database is.

Tables are reflected from the database (a backup taken before ``init-db`` must still work), in
foreign-key order, and typed with the models' column types wherever the models know the column,
so that UUIDs, times and JSON survive the trip between SQLite and PostgreSQL unchanged.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import SQLModel

import server.models  # noqa: F401
from server.columns import as_utc

# Alembic's bookkeeping travels as the manifest's schema revision, not as rows.
NOT_DATA = frozenset({"alembic_version"})


def data_tables(conn: Connection) -> list[sa.Table]:
    """Every data table in the database, parents before children, with the models' types."""
    reflected = sa.MetaData()
    reflected.reflect(bind=conn)
    models = SQLModel.metadata.tables
    typed = sa.MetaData()
    tables: list[sa.Table] = []
    for table in reflected.sorted_tables:
        if table.name in NOT_DATA:
            continue
        model = models.get(table.name)
        columns = [
            sa.Column(
                column.name,
                model.c[column.name].type
                if model is not None and column.name in model.c
                else column.type,
                primary_key=column.primary_key,
            )
            for column in table.columns
        ]
        tables.append(sa.Table(table.name, typed, *columns))
    return tables


def table_names(conn: Connection) -> list[str]:
    return [name for name in sa.inspect(conn).get_table_names() if name not in NOT_DATA]


def count_rows(conn: Connection, tables: Iterable[sa.Table]) -> dict[str, int]:
    return {
        table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        for table in tables
    }


def first_table_with_rows(conn: Connection, besides: Iterable[str] = ()) -> str | None:
    """The name of a data table (not one of ``besides``) that holds rows, or None."""
    skip = set(besides)
    for name in table_names(conn):
        if name in skip:
            continue
        table = sa.table(name)
        if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
            return name
    return None


def schema_revision(conn: Connection) -> str | None:
    if "alembic_version" not in sa.inspect(conn).get_table_names():
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def encode(value: Any) -> Any:
    """A column value as JSON (the logical export's format)."""
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # type: ignore[union-attr]
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def decoder(column_type: sa.types.TypeEngine[Any]) -> Callable[[Any], Any]:
    """The inverse of ``encode`` for one column type."""
    if isinstance(column_type, sa.TypeDecorator):  # server.columns.UtcTime: a DateTime
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.JSON):
        return _same
    if isinstance(column_type, sa.Uuid):
        return _optional(lambda v: uuid.UUID(str(v)))
    if isinstance(column_type, sa.DateTime):
        return _optional(lambda v: as_utc(datetime.fromisoformat(v)))
    if isinstance(column_type, sa.Date):
        return _optional(date.fromisoformat)
    if isinstance(column_type, sa.Time):
        return _optional(time.fromisoformat)
    if isinstance(column_type, sa.Float):
        return _same
    if isinstance(column_type, sa.Numeric):
        return _optional(lambda v: Decimal(str(v)))
    if isinstance(column_type, sa.LargeBinary):
        return _optional(base64.b64decode)
    return _same


def _same(value: Any) -> Any:
    return value


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def decoders(table: sa.Table, names: Iterable[str]) -> dict[str, Callable[[Any], Any]]:
    return {name: decoder(table.c[name].type) for name in names}
