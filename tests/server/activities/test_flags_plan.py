"""The flags' likely-duplicate count of a push's new activities reads an index, not the table:
one grouped query per batch over the project's activities of the batch's days, which on a busy
project are thousands (migration 0017_activity_day_cover)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Engine

from server.activities.flags import same_day_counts


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_same_day_count_reads_the_index_alone(engine: Engine) -> None:
    statement = same_day_counts({uuid.uuid4()}, {date(2026, 3, 2), date(2026, 3, 3)})
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        plan = " ".join(
            str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "USING COVERING INDEX ix_activity_project_start" in plan, plan
