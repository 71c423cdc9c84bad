"""Fact rows a bulk writer hands to the refresh (``refresh_written``) instead of the refresh
reading them back: the roll-ups must be what a full rebuild makes, also when the savepoint
that wrote some of them rolls back, or when a noted activity is written again."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col

from server.activities.models import Activity, ActivityParticipant
from server.activities.service import write_activity, write_new_activities
from server.indicators.models import CUBES, PIVOTS, ROSTER_CUBES, activity_fact, roster_fact
from server.indicators.refresh import (
    _KNOWN,
    FACT_COLUMNS,
    attendance_sums,
    fact_rows,
    rebuild_all,
    refresh_activities,
)
from tests.factories import activity_data, make_project, make_user
from tests.server.indicators.test_refresh import wipe
from tests.server.indicators.world import build, worlds

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


def _sums_by_pivot(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """What ``attendance_sums`` must make, pivot by pivot: every count adds to participants
    and to the column each of its values has (a value with none adds to no column)."""
    sums = {"participants": 0, **{c: 0 for columns in PIVOTS.values() for c in columns.values()}}
    for *values, count in rows:
        sums["participants"] += count
        for columns, value in zip(PIVOTS.values(), values, strict=True):
            if value in columns:
                sums[columns[value]] += count
    return sums


def _pivot_values(key: str) -> st.SearchStrategy[Any]:
    return st.sampled_from([*PIVOTS[key], "unknown", None])


@given(
    rows=st.lists(
        st.tuples(
            _pivot_values("sex"),
            _pivot_values("age_band"),
            _pivot_values("category"),
            _pivot_values("disability"),
            st.integers(0, 1000),
        ),
        max_size=12,
    )
)
def test_attendance_sums_add_each_count_to_its_columns(rows: list[tuple[Any, ...]]) -> None:
    assert attendance_sums(rows) == _sums_by_pivot(rows)
    assert list(attendance_sums(rows)) == list(_sums_by_pivot(rows))  # in the fact row's order


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
def test_the_facts_a_writer_notes_are_the_rows_read_back(
    session: Session, world: dict[str, Any]
) -> None:
    """A new activity's fact row and roster links, as the refresh takes them from the values
    its writer just wrote (never read back), are what the database holds for it: the row read
    back (its attendance summed in SQL, its project's country and thematic area) and links."""
    wipe(session)
    build(session, world)  # each activity written new, some deleted (their notes dropped)
    session.flush()
    noted = {i: (row, links) for i, (_, row, links, _) in session.info[_KNOWN].items()}
    assume(noted)
    read_back = {row["activity_id"]: row for row in fact_rows(session, list(noted))}
    links: dict[uuid.UUID, set[uuid.UUID]] = {i: set() for i in noted}
    for link in session.execute(
        sa.select(ActivityParticipant).where(col(ActivityParticipant.activity_id).in_(list(noted)))
    ).scalars():
        links[link.activity_id].add(link.participant_id)
    assert {i: dict(zip(FACT_COLUMNS, row, strict=True)) for i, (row, _) in noted.items()} == (
        read_back
    )
    assert {i: set(written) for i, (_, written) in noted.items()} == links
    session.rollback()
