"""Every timestamp column keeps the instant: a time with an offset reads back as the same
moment in UTC on both backends, whichever way it was written or compared (SQLite's DATETIME
alone keeps the wall time and drops the offset)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import server.models  # noqa: F401 (every table in the metadata)
from server.columns import UtcTime
from server.db import write_engine
from server.records.bulk import insert_rows

NEW_YORK_WINTER = timezone(timedelta(hours=-5))
KATHMANDU = timezone(timedelta(hours=5, minutes=45))
# 23:30 on 1 March at -05:00 is 04:30 UTC on 2 March.
EVENING = datetime(2026, 3, 1, 23, 30, tzinfo=NEW_YORK_WINTER)
INSTANT = datetime(2026, 3, 2, 4, 30, tzinfo=UTC)


def test_every_timestamp_column_of_the_models_keeps_the_instant() -> None:
    plain = [
        f"{table.name}.{column.name}"
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, sa.DateTime)
    ]
    assert plain == [], "use server.columns.UtcTime (stamp, optional_time) for these"


@pytest.fixture
def table(engine: Engine) -> Iterator[sa.Table]:
    table = sa.Table(
        f"scratch_time_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("moment", UtcTime, nullable=True),
    )
    table.create(engine)
    yield table
    table.drop(engine)


def _stored(engine: Engine, table: sa.Table) -> dict[int, datetime | None]:
    with engine.connect() as conn:
        return {n: moment for n, moment in conn.execute(sa.select(table.c.n, table.c.moment))}


def test_a_time_with_an_offset_reads_back_as_the_same_instant_in_utc(
    engine: Engine, table: sa.Table
) -> None:
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"n": 1, "moment": EVENING},
                {"n": 2, "moment": INSTANT.astimezone(KATHMANDU)},
                {"n": 3, "moment": INSTANT.replace(tzinfo=None)},  # naive: UTC by convention
                {"n": 4, "moment": None},
            ],
        )
    with Session(write_engine(engine)) as session:  # the bulk writer of pushes
        insert_rows(session, table, ("n", "moment"), [(5, EVENING), (6, INSTANT)])
        session.commit()
    stored = _stored(engine, table)
    assert stored == {1: INSTANT, 2: INSTANT, 3: INSTANT, 4: None, 5: INSTANT, 6: INSTANT}
    assert {moment.tzinfo for moment in stored.values() if moment} == {UTC}


def test_a_comparison_with_a_time_of_another_offset_compares_instants(
    engine: Engine, table: sa.Table
) -> None:
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"n": 1, "moment": EVENING}])

    def found(where: sa.ColumnElement[bool]) -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(table.c.n).where(where)).scalars())

    # 06:00+02:00 is 04:00 UTC, before the instant; the wall times say the opposite.
    assert found(table.c.moment >= datetime(2026, 3, 2, 6, 0, tzinfo=timezone(timedelta(hours=2))))
    assert not found(table.c.moment > INSTANT.astimezone(KATHMANDU))
    assert found(table.c.moment == INSTANT.astimezone(NEW_YORK_WINTER))
