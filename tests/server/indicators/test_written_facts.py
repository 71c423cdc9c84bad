"""Fact rows a bulk writer hands to the refresh (``refresh_written``) instead of the refresh
reading them back: the roll-ups must be what a full rebuild makes, also when the savepoint
that wrote some of them rolls back, or when a noted activity is written again."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Activity
from server.activities.service import write_activity, write_new_activities
from server.indicators.models import CUBES, ROSTER_CUBES, activity_fact, roster_fact
from server.indicators.refresh import (
    attendance_sums,
    fact_rows,
    rebuild_all,
    refresh_activities,
)
from tests.factories import activity_data, make_project, make_user

_ATTENDANCE = [
    {"sex": "female", "age_band": "youth", "category": "farmer", "disability": True, "count": 7},
    {"sex": "male", "age_band": "adult", "category": "technician", "disability": False, "count": 5},
    {"sex": "female", "age_band": "adult", "category": "farmer", "disability": False, "count": 11},
]


def _rollups(engine: Engine) -> dict[str, list[str]]:
    with Session(engine) as session:
        return {
            table.name: sorted(
                repr(sorted(dict(r._mapping).items(), key=str))
                for r in session.execute(sa.select(table))
            )
            for table in (activity_fact, roster_fact, *CUBES.values(), *ROSTER_CUBES)
        }


def _records(project: Any, count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        {**activity_data(project, attendance=_ATTENDANCE, **overrides), "id": str(uuid.uuid4())}
        for _ in range(count)
    ]


def _equal_to_rebuild(engine: Engine) -> dict[str, list[str]]:
    incremental = _rollups(engine)
    with Session(engine) as session:
        rebuild_all(session)
        session.commit()
    assert _rollups(engine) == incremental
    return incremental


def test_attendance_sums_match_the_sql_sums(engine: Engine) -> None:
    with Session(engine) as session:
        project = make_project(session)
        records = _records(project, 1, topic=None, type="expert_deployment")
        ids = write_new_activities(session, records=records, source="test", author_id=None)
        computed = attendance_sums(
            (r["sex"], r["age_band"], r["category"], r["disability"], r["count"])
            for r in _ATTENDANCE
        )
        [read_back] = fact_rows(session, ids)
        assert {k: read_back[k] for k in computed} == computed
        assert computed["participants"] == 23 and computed["disability_yes"] == 7
        session.commit()
    _equal_to_rebuild(engine)


def test_noted_facts_of_a_rolled_back_savepoint_are_not_used(engine: Engine) -> None:
    with Session(engine) as session:
        project = make_project(session)
        kept = write_new_activities(
            session, records=_records(project, 3), source="test", author_id=None
        )
        with session.begin_nested() as savepoint:
            gone = write_new_activities(
                session, records=_records(project, 4), source="test", author_id=None
            )
            savepoint.rollback()
        session.commit()
    rollups = _equal_to_rebuild(engine)
    facts = " ".join(rollups[activity_fact.name])
    assert all(repr(i) in facts for i in kept)
    assert not any(repr(i) in facts for i in gone)


def test_an_activity_written_again_after_its_note_is_read_back(engine: Engine) -> None:
    with Session(engine) as session:
        project = make_project(session)
        user = make_user(session, projects=[project])
        [first, _] = write_new_activities(
            session, records=_records(project, 2), source="test", author_id=None
        )
        activity = session.get(Activity, first)
        assert activity is not None
        write_activity(
            session,
            existing=activity,
            data={"type": "field_day", "attendance": _ATTENDANCE[:1]},
            source="test",
            author_id=user.id,
        )
        session.commit()
    rollups = _equal_to_rebuild(engine)
    assert any("field_day" in row for row in rollups[activity_fact.name])


def test_refresh_uses_the_known_row_it_is_given(engine: Engine) -> None:
    """The known rows are used as given (so they must be right): a deliberately different
    one shows up in the facts, which proves the database is not read back for it."""
    with Session(engine) as session:
        project = make_project(session)
        ids = write_new_activities(
            session, records=_records(project, 1), source="test", author_id=None
        )
        session.commit()
    with Session(engine) as session:
        [row] = fact_rows(session, ids)
        session.execute(sa.delete(activity_fact))
        for table in CUBES.values():
            session.execute(sa.delete(table))
        refresh_activities(session, ids, known={ids[0]: ({**row, "participants": 999}, set())})
        stored = session.execute(sa.select(activity_fact.c.participants)).scalar_one()
        assert stored == 999
        session.rollback()
