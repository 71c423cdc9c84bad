"""The flags' look-ups of a push read indexes, not whole tables: the likely-duplicate count of
a batch of new activities (one grouped query over the project's activities of the batch's days,
which on a busy project are thousands; migration 0017_activity_day_cover), and the usual
attendance (each recent activity's total through the attendance index)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, Select, update
from sqlmodel import Session, col

import server.activities.flags as flags
from server.activities.flags import recent_attendance_totals, same_day_counts
from server.activities.models import Activity, AttendanceRow
from server.records.bulk import insert_rows
from tests.factories import make_project


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_same_day_count_reads_the_index_alone(engine: Engine) -> None:
    statement = same_day_counts({uuid.uuid4()}, {date(2026, 3, 2), date(2026, 3, 3)})
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        plan = " ".join(
            str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "USING COVERING INDEX ix_activity_project_start" in plan, plan


def _activities(
    session: Session, project_id: uuid.UUID, totals: list[int | None], *, first: date
) -> list[uuid.UUID]:
    """One activity a day from ``first`` on per total (None: no attendance rows), written as
    the push's bulk path writes them (rows, not ORM objects)."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in totals]
    rows = []
    for n, activity_id in enumerate(ids):
        day = first + timedelta(days=n)
        values = {
            "id": activity_id,
            "project_id": project_id,
            "type": "training",
            "title": f"Training {n}",
            "start_date": day,
            "end_date": day,
            "delivery": "in_person",
            "facilitators": [],
            "experts_count": 1,
            "notes": "",
            "status": "submitted",
            "version": 1,
            "deleted": False,
            "late": False,
            "flags": [],
            "created_at": now,
            "updated_at": now,
        }
        rows.append(tuple(values.values()))
    insert_rows(session, Activity.__table__, list(values), rows)  # type: ignore[attr-defined]
    # eight rows per activity, as a tablet sends them: the total spread over sex, age band
    # and category
    keys = list(itertools.product(("female", "male"), ("youth", "adult"), ("farmer", "other")))
    attendance = [
        (activity_id, *key, False, total // 8 + (n < total % 8))
        for activity_id, total in zip(ids, totals, strict=True)
        if total is not None
        for n, key in enumerate(keys)
    ]
    insert_rows(
        session,
        AttendanceRow.__table__,  # type: ignore[attr-defined]
        ("activity_id", "sex", "age_band", "category", "disability", "count"),
        attendance,
    )
    return ids


def _totals(session: Session, statement: Select[tuple[int | None]]) -> list[int | None]:
    return sorted(session.execute(statement).scalars(), key=lambda t: (t is None, t or 0))


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_the_usual_attendance_sample_is_the_most_recent_live_activities(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(session)
    other = make_project(session)
    monkeypatch.setattr(flags, "USUAL_ATTENDANCE_SAMPLE", 3)
    _activities(session, project.id, [500, 600], first=date(2025, 1, 1))  # older than the sample
    recent = _activities(session, project.id, [10, None, 30, 40], first=date(2025, 2, 1))
    _activities(session, other.id, [900], first=date(2025, 3, 1))  # another project's
    session.execute(update(Activity).where(col(Activity.id) == recent[3]).values(deleted=True))
    session.commit()
    # the three most recent live ones: 30, the one without attendance, 10
    assert _totals(session, recent_attendance_totals(project.id)) == [10, 30, None]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_the_usual_attendance_reads_each_total_through_the_index(
    session: Session, engine: Engine
) -> None:
    """Asked as ``activity_id IN (recent)``, PostgreSQL read the whole attendance table (a
    hash of the recent ids, then a sequential scan): every push paid for every attendance row
    the server holds. Each total is now read through ``ix_attendance_activity_id``."""
    project = make_project(session)
    _activities(session, project.id, [8] * 600, first=date(2024, 1, 1))
    session.commit()
    statement = recent_attendance_totals(project.id)
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE activity")
            conn.exec_driver_sql("ANALYZE attendance")
            plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "Seq Scan on attendance" not in plan, plan
            assert "ix_attendance_activity_id" in plan, plan
        else:
            plan = "\n".join(
                str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
            assert "SEARCH attendance USING INDEX ix_attendance_activity_id" in plan, plan
