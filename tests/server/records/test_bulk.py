"""The bulk writer stores exactly what SQLAlchemy would: its shortcuts give what the bind
processors give, and rows built ready for the driver (``binder``, ``bound=True``) store the same
bytes as rows it converts itself and as SQLAlchemy's own INSERT."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlmodel import Session

from server.columns import JSONDoc, UtcTime
from server.db import json_text, write_engine
from server.records.bulk import _quicker, binder, insert_rows

_DIALECTS = {
    "sqlite": sqlite.dialect(json_serializer=json_text),
    "postgresql": psycopg.dialect(json_serializer=json_text),
}
_TYPES: dict[str, Any] = {
    "flag": sa.Boolean(),
    "day": sa.Date(),
    "moment": UtcTime(),
    "naive_moment": sa.DateTime(),
}
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_offsets_of = [timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45)), UTC]
_VALUES: dict[str, Any] = {
    "flag": st.booleans() | st.none() | st.sampled_from([0, 1]),
    "day": st.dates() | st.none() | st.datetimes(),
    "moment": st.datetimes() | st.datetimes(timezones=_offsets) | st.none() | st.dates(),
    "naive_moment": st.datetimes() | st.none(),
}


@pytest.mark.parametrize("backend", sorted(_DIALECTS))
@pytest.mark.parametrize("kind", sorted(_TYPES))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_each_shortcut_gives_what_the_bind_processor_gives(
    backend: str, kind: str, data: st.DataObject
) -> None:
    dialect = _DIALECTS[backend]
    impl = _TYPES[kind].dialect_impl(dialect)
    processor = impl.bind_processor(dialect)
    if processor is None:
        return
    value = data.draw(_VALUES[kind])
    quick = _quicker(dialect, impl, processor)(value)
    expected = processor(value)
    assert quick == expected
    assert type(quick) is type(expected)


@pytest.fixture
def table(engine: Engine) -> Iterator[sa.Table]:
    """A scratch table of the test's database with a column of each kind the bulk writer
    converts, dropped after the test."""
    table = sa.Table(
        f"scratch_bulk_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ref", sa.Uuid, nullable=True),
        sa.Column("day", sa.Date, nullable=True),
        sa.Column("moment", UtcTime, nullable=True),
        sa.Column("flag", sa.Boolean, nullable=True),
        sa.Column("doc", JSONDoc, nullable=True),
        sa.Column("label", sa.String(40), nullable=True),
    )
    table.create(engine)
    yield table
    table.drop(engine)


def _raw(engine: Engine, table: sa.Table, first: int) -> list[tuple[Any, ...]]:
    """The rows as the database holds them, read by the driver alone (no type conversion)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT n, ref, day, moment, flag, doc, label FROM {table.name}"  # noqa: S608 (a test's own table)
        ).fetchall()
    return [tuple(r[1:]) for r in sorted(rows, key=lambda r: r[0]) if first <= r[0] < first + 1000]


def test_rows_built_for_the_driver_store_what_sqlalchemy_stores(
    engine: Engine, table: sa.Table
) -> None:
    shared = uuid.uuid4()
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    values: list[dict[str, Any]] = [
        {
            "ref": shared if i % 2 else uuid.uuid4(),
            "day": date(2025, 1, 1) + timedelta(days=i),
            # an offset too: the instant is stored (UtcTime), as SQLAlchemy stores it
            "moment": now.astimezone(_offsets_of[i % 3])
            if i % 4 == 1
            else now
            if i % 3
            else now + timedelta(microseconds=i),
            "flag": bool(i % 2),
            # a str is a JSON string to SQLAlchemy (PostgreSQL's binary COPY picks the
            # column's dumper by its type: it must not take the text for the document)
            "doc": {"i": i, "tags": ["a", "é"], "none": None} if i % 4 else "text" if i else None,
            "label": f"row {i}",
        }
        for i in range(12)
    ]
    # A value whose binary form would not say what its text does on PostgreSQL (it goes by
    # text there): a number for a text column.
    values[5]["label"] = 7
    values.append({name: None for name in values[0]})
    names = tuple(values[0])
    with engine.begin() as conn:  # SQLAlchemy's own INSERT: the reference
        conn.execute(table.insert(), [{"n": i, **v} for i, v in enumerate(values)])
    with Session(write_engine(engine)) as session:
        columns = ("n", *names)
        rows = [(1000 + i, *(v[k] for k in names)) for i, v in enumerate(values)]
        insert_rows(session, table, columns, rows)
        binders = [binder(session, table.c[name]) for name in columns]
        ready = [
            tuple(bind(value) for bind, value in zip(binders, row, strict=True)) for row in rows
        ]
        ready = [(2000 + n, *row[1:]) for n, row in enumerate(ready)]
        insert_rows(session, table, columns, ready, bound=True)
        session.commit()
    reference = _raw(engine, table, 0)
    assert reference and _raw(engine, table, 1000) == reference
    assert _raw(engine, table, 2000) == reference


def test_each_list_of_columns_gets_its_own_insert(engine: Engine, table: sa.Table) -> None:
    # insert_rows keeps the SQL it compiled for a table and its columns: the same table
    # written with its columns in another order, or only some of them, must not reuse it.
    with Session(write_engine(engine)) as session:
        insert_rows(session, table, ("n", "label", "flag"), [(1, "first", True)])
        insert_rows(session, table, ("flag", "label", "n"), [(False, "second", 2)])
        insert_rows(session, table, ("n", "label"), [(3, "third")])
        insert_rows(session, table, ("n", "label", "flag"), [(4, "fourth", True)])
        session.commit()
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(table.c.n, table.c.label, table.c.flag).order_by(table.c.n)
        ).all()
    assert [tuple(row) for row in stored] == [
        (1, "first", True),
        (2, "second", False),
        (3, "third", None),
        (4, "fourth", True),
    ]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_column_of_a_type_of_its_own_goes_by_text(engine: Engine) -> None:
    # A type PostgreSQL does not have built in (a domain here; an enum would be the same) has
    # another oid in every database: its table is copied in the text format, which names no
    # type, rather than failing.
    name = f"scratch_domain_{uuid.uuid4().hex[:8]}"

    class Domain(sa.types.UserDefinedType[str]):
        cache_ok = True

        def get_col_spec(self, **_: Any) -> str:
            return name

    table = sa.Table(
        f"scratch_bulk_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("code", Domain()),
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DOMAIN {name} AS varchar(8) CHECK (VALUE <> '')")
    table.create(engine)
    try:
        with Session(write_engine(engine)) as session:
            insert_rows(session, table, ("n", "code"), [(1, "LSO"), (2, "MOZ")])
            session.commit()
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(f"SELECT n, code FROM {table.name} ORDER BY n").all()  # noqa: S608 (a test's own table)
        assert [tuple(row) for row in stored] == [(1, "LSO"), (2, "MOZ")]
    finally:
        table.drop(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DOMAIN {name}")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_integer_out_of_its_column_s_range_is_refused_never_wrapped(
    engine: Engine, table: sa.Table
) -> None:
    # In COPY's binary format psycopg writes an int4 modulo 2**32: 2**31 would be stored as
    # -2**31 without a word. Such a row goes by text, where PostgreSQL refuses it (a DataError,
    # which a push keeps for review) and nothing of the insert stays.
    with Session(write_engine(engine)) as session:
        with pytest.raises(sa.exc.DataError, match="out of range"):  # as from a statement
            insert_rows(session, table, ("n",), [(1,), (2**31,)])
        session.rollback()
        insert_rows(session, table, ("n",), [(2**31 - 1,), (-(2**31),)])
        session.commit()
    with engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.n).order_by(table.c.n)).scalars().all()
    assert stored == [-(2**31), 2**31 - 1]


def test_a_row_the_database_refuses_raises_what_a_statement_would(
    engine: Engine, table: sa.Table
) -> None:
    # The bulk writers catch SQLAlchemy's IntegrityError and DataError to take a batch one
    # record at a time; PostgreSQL's COPY goes through the driver, whose own errors they would
    # not catch (a 500 instead of the retry).
    with Session(write_engine(engine)) as session:
        with pytest.raises(sa.exc.IntegrityError):
            insert_rows(session, table, ("n", "label"), [(1, "a"), (1, "b")])
        session.rollback()


def test_work_meanwhile_runs_once_after_the_rows_left_and_before_their_error(
    engine: Engine, table: sa.Table
) -> None:
    # ``meanwhile`` is the writer's work that needs no database, done while the database takes
    # the rows: it runs once, also for no rows; a refused insert still raises, after it ran (on
    # PostgreSQL: the refusal comes back at the COPY's end), so its notes must belong to the
    # savepoint that the writer rolls back.
    ran: list[str] = []
    with Session(write_engine(engine)) as session:
        assert (
            insert_rows(session, table, ("n",), [(1,), (2,)], meanwhile=lambda: ran.append("two"))
            == 2
        )
        assert insert_rows(session, table, ("n",), [], meanwhile=lambda: ran.append("none")) == 0
        with pytest.raises(sa.exc.IntegrityError):
            insert_rows(
                session,
                table,
                ("n", "label"),
                [(3, "a"), (3, "b")],
                meanwhile=lambda: ran.append("refused"),
            )
        session.rollback()
    expected = ["two", "none"] + (["refused"] if engine.dialect.name == "postgresql" else [])
    assert ran == expected


def test_work_meanwhile_that_fails_leaves_the_connection_usable(
    engine: Engine, table: sa.Table
) -> None:
    # Its error comes out (on PostgreSQL psycopg ends the open COPY with it), and the
    # transaction rolls back and goes on as after any failed statement: nothing of the rows
    # stays.
    with Session(write_engine(engine)) as session:

        def fails() -> None:
            raise ValueError("meanwhile failed")

        with pytest.raises(ValueError, match="meanwhile failed"):
            insert_rows(session, table, ("n",), [(1,)], meanwhile=fails)
        session.rollback()
        assert insert_rows(session, table, ("n",), [(2,)]) == 1
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.n)).scalars().all() == [2]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_work_meanwhile_cannot_use_the_busy_connection(engine: Engine, table: sa.Table) -> None:
    # While a COPY is open the driver's lock is held: a statement there would wait for it
    # forever. Work that uses the session there is refused at once instead.
    with Session(write_engine(engine)) as session:

        def query() -> None:
            session.execute(sa.text("SELECT 1"))

        def another_copy() -> None:
            insert_rows(session, table, ("n",), [(2,)])

        for work in (query, another_copy):
            with pytest.raises(RuntimeError, match="COPY is still open"):
                insert_rows(session, table, ("n",), [(1,)], meanwhile=work)
            session.rollback()
