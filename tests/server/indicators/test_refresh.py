"""Incremental roll-ups: after any sequence of writes they equal a full rebuild and the records."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from server.accounts.auth import Caller
from server.activities.models import Activity, AttendanceRow
from server.activities.service import tombstone_activity, write_activity
from server.columns import utcnow
from server.db import write_engine
from server.indicators.models import CUBES, ROSTER_CUBES, activity_fact, roster_fact
from server.indicators.refresh import (
    rebuild_all,
    rebuild_project,
    refresh_activities,
    refresh_project,
)
from server.indicators.service import indicator_values, parse_values_query
from server.projects.models import Participant
from server.projects.service import update_project
from tests.factories import activity_data, make_project, make_user
from tests.server.indicators import naive
from tests.server.indicators.world import (
    COUNTRIES,
    STATUSES,
    THEMATIC_AREAS,
    Built,
    activity_payload,
    activity_specs,
    attendance_rows,
    build,
    worlds,
)

CHECKED = (
    ("PARTICIPANTS", ("country", "sex")),
    ("WOMEN_SHARE", ("thematic_area", "period:quarter")),
    ("ACTIVITIES", ("region", "solution", "activity_type")),
    ("UNIQUE_PARTICIPANTS", ("project",)),
    ("EXPERT_DAYS", ("country", "period:month")),
)


def snapshot(session: Session) -> dict[str, list[tuple[str, ...]]]:
    """Every roll-up row, as sorted text tuples (comparable across a rebuild)."""
    return {
        table.name: sorted(tuple(str(v) for v in row) for row in session.execute(sa.select(table)))
        for table in (activity_fact, *CUBES.values(), roster_fact, *ROSTER_CUBES)
    }


def wipe(session: Session) -> None:
    for table in reversed(SQLModel.metadata.sorted_tables):
        session.execute(sa.delete(table))
    session.commit()


def assert_consistent(session: Session) -> None:
    """Incremental state == rebuilt state == the naive computation."""
    incremental = snapshot(session)
    records = naive.load(session)
    for code, keys in CHECKED:
        rows = indicator_values(
            session, caller=None, query=parse_values_query(code=code, group_by=",".join(keys))
        ).rows
        assert naive.rows_as_map(rows, keys) == naive.values(records, code, keys), code
    rebuild_all(session)
    assert snapshot(session) == incremental
    session.rollback()


operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 50)),
        st.tuples(
            st.just("edit"),
            st.integers(0, 50),
            st.fixed_dictionaries(
                {},
                optional={
                    "attendance": attendance_rows,
                    "topic": st.sampled_from((None, "S1.T1", "S6.T2", "S9.T1")),
                    "type": st.sampled_from(("demonstration", "expert_deployment", "workshop")),
                    "start_date": st.integers(0, 300).map(
                        lambda d: (date(2024, 12, 1) + timedelta(days=d)).isoformat()
                    ),
                    "modality": st.sampled_from((None, "P", "K")),
                    "experts_count": st.integers(0, 4),
                    "roster": st.lists(st.integers(0, 3), max_size=3, unique=True),
                },
            ),
        ),
        st.tuples(st.just("status"), st.integers(0, 50), st.sampled_from(STATUSES)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(
            st.just("move_project"),
            st.integers(0, 5),
            st.sampled_from(COUNTRIES),
            st.sampled_from(THEMATIC_AREAS),
        ),
        st.tuples(st.just("forget_participant"), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("commit")),
    ),
    min_size=1,
    max_size=20,
)


def apply(session: Session, built: Built, op: tuple[Any, ...], spec: dict[str, Any]) -> None:
    live = [a for a in built.activities if not a.deleted]
    kind = op[0]
    if kind == "create":
        built.activities.append(
            write_activity(
                session,
                data=activity_payload(spec, built),
                existing=None,
                source="push",
                author_id=None,
                status="submitted",
            )
        )
    elif kind == "edit" and live:
        activity = live[op[1] % len(live)]
        changes = dict(op[2])
        if "start_date" in changes:
            changes["end_date"] = changes["start_date"]
        if "roster" in changes:
            people = built.participants[
                built.projects.index(next(p for p in built.projects if p.id == activity.project_id))
            ]
            changes["participant_ids"] = [
                str(people[i].id) for i in changes.pop("roster") if i < len(people)
            ] or None
        write_activity(session, data=changes, existing=activity, source="api", author_id=None)
    elif kind == "status" and live:
        write_activity(
            session,
            data={},
            existing=live[op[1] % len(live)],
            source="review",
            author_id=None,
            status=op[2],
        )
    elif kind == "delete" and live:
        tombstone_activity(session, activity=live[op[1] % len(live)], source="push", author_id=None)
    elif kind == "move_project":
        project = built.projects[op[1] % len(built.projects)]
        project.country, project.thematic_area = op[2], op[3]
        session.add(project)
        session.flush()
        refresh_project(session, project.id)
    elif kind == "forget_participant":
        people = built.participants[op[1] % len(built.participants)]
        if people:
            person = people[op[2] % len(people)]
            person.deleted = not person.deleted
            session.add(person)
            session.flush()
    elif kind == "commit":
        session.commit()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), ops=operations, new=st.lists(activity_specs(3), min_size=20, max_size=20))
def test_random_writes_keep_rollups_equal_to_a_rebuild(
    session: Session, world: dict[str, Any], ops: list[tuple[Any, ...]], new: list[dict[str, Any]]
) -> None:
    wipe(session)
    built = build(session, world)
    session.commit()
    for n, op in enumerate(ops):
        apply(session, built, op, new[n])
    session.commit()  # the commit hook refreshes what is still noted
    assert_consistent(session)


def test_commit_refreshes_for_the_next_reader(engine: Engine, session: Session) -> None:
    project = make_project(session)
    write_activity(
        session,
        data=activity_data(project),
        existing=None,
        source="push",
        author_id=None,
        status="submitted",
    )
    session.commit()
    with Session(engine) as reader:
        rows = indicator_values(
            reader, caller=None, query=parse_values_query(code="PARTICIPANTS", group_by="sex")
        ).rows
    assert {r["sex"]: r["value"] for r in rows} == {"female": 12, "male": 8}


def test_a_rolled_back_write_leaves_no_trace(session: Session) -> None:
    project = make_project(session)
    session.commit()
    write_activity(
        session,
        data=activity_data(project),
        existing=None,
        source="push",
        author_id=None,
        status="submitted",
    )
    session.rollback()
    assert session.execute(sa.select(sa.func.count()).select_from(activity_fact)).scalar() == 0
    assert all(rows == [] for rows in snapshot(session).values())


def test_a_rolled_back_savepoint_is_not_counted(session: Session) -> None:
    project = make_project(session)
    kept = write_activity(
        session,
        data=activity_data(project),
        existing=None,
        source="push",
        author_id=None,
        status="submitted",
    )
    with session.begin_nested() as savepoint:
        write_activity(
            session,
            data=activity_data(
                project,
                attendance=[
                    {
                        "sex": "female",
                        "age_band": "adult",
                        "category": "farmer",
                        "disability": False,
                        "count": 99,
                    }
                ],
            ),
            existing=None,
            source="push",
            author_id=None,
            status="submitted",
        )
        savepoint.rollback()
    session.commit()
    total = indicator_values(
        session, caller=None, query=parse_values_query(code="PARTICIPANTS")
    ).rows
    assert total == [{"value": 20}]
    assert [r[0] for r in session.execute(sa.select(activity_fact.c.activity_id))] == [kept.id]


def test_bulk_insert_then_refresh_activities(session: Session) -> None:
    """Bulk writers (the demo loader) insert with Core, then refresh the ids they wrote."""
    project = make_project(session)
    ids = [uuid.uuid4() for _ in range(30)]
    now = utcnow()
    session.execute(
        sa.insert(Activity.__table__),  # type: ignore[attr-defined]
        [
            {
                "id": i,
                "project_id": project.id,
                "type": "farmer_training",
                "title": "Bulk",
                "start_date": date(2025, 4, 2),
                "end_date": date(2025, 4, 2),
                "delivery": "in_person",
                "status": "approved",
                "version": 1,
                "experts_count": 0,
                "deleted": False,
                "late": False,
                "notes": "",
                "facilitators": [],
                "flags": [],
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ],
    )
    session.execute(
        sa.insert(AttendanceRow.__table__),  # type: ignore[attr-defined]
        [
            {
                "activity_id": i,
                "sex": "female",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 3,
            }
            for i in ids
        ],
    )
    stats = refresh_activities(session, ids)
    assert (stats.activities, stats.changed) == (30, 30)
    # a second refresh finds nothing to change
    assert refresh_activities(session, ids).changed == 0
    rows = indicator_values(
        session, caller=None, query=parse_values_query(code="TRAININGS", group_by="period:quarter")
    ).rows
    assert rows == [{"period": "2025Q2", "value": 30}]
    assert_consistent(session)


def test_rebuild_project_repairs_one_project_and_leaves_the_others(session: Session) -> None:
    broken = make_project(session, country="LSO")
    fine = make_project(session, country="KEN")
    for project in (broken, fine):
        write_activity(
            session,
            data=activity_data(project),
            existing=None,
            source="push",
            author_id=None,
            status="approved",
        )
    session.commit()
    good = snapshot(session)
    base = CUBES["base"]
    session.execute(
        sa.update(base)
        .where(base.c.project_id == broken.id)
        .values(activities=base.c.activities + 3)
    )
    session.execute(
        sa.update(base).where(base.c.project_id == fine.id).values(trainings=base.c.trainings + 1)
    )  # left alone below
    stats = rebuild_project(session, broken.id)
    assert stats.activities == 1
    after = snapshot(session)
    assert after[base.name] != good[base.name]  # the other project's damage stays
    session.execute(
        sa.update(base).where(base.c.project_id == fine.id).values(trainings=base.c.trainings - 1)
    )
    assert snapshot(session) == good


def test_moving_a_project_moves_its_numbers(session: Session) -> None:
    project = make_project(session, country="LSO", thematic_area="TA1")
    write_activity(
        session,
        data=activity_data(project, topic=None),
        existing=None,
        source="push",
        author_id=None,
        status="approved",
    )
    session.commit()
    project.country, project.thematic_area = "KEN", "TA3"
    session.add(project)
    refresh_project(session, project.id)
    session.commit()
    rows = indicator_values(
        session,
        caller=None,
        query=parse_values_query(code="ACTIVITIES", group_by="region,country,thematic_area"),
    ).rows
    assert rows == [{"region": "RBN", "country": "KEN", "thematic_area": "TA3", "value": 1}]
    assert_consistent(session)


def test_moving_a_project_through_the_management_api_refreshes_its_numbers(
    session: Session,
) -> None:
    """The project writer refreshes the roll-ups of a project whose country changes (no hook on
    the session does it behind its back), and a rename alone moves nothing."""
    project = make_project(session, country="LSO")
    write_activity(
        session,
        data=activity_data(project),
        existing=None,
        source="push",
        author_id=None,
        status="approved",
    )
    session.commit()
    admin = make_user(session, role="admin", countries=[])
    update_project(
        session,
        caller=Caller(user=admin),
        project_id=project.id,
        changes={"country": "ETH", "name": "Renamed"},
    )
    session.commit()
    rows = indicator_values(
        session, caller=None, query=parse_values_query(code="PARTICIPANTS", group_by="country")
    ).rows
    assert rows == [{"country": "ETH", "value": 20}]
    assert_consistent(session)
    update_project(
        session, caller=Caller(user=admin), project_id=project.id, changes={"name": "Again"}
    )
    session.commit()
    assert_consistent(session)


def test_concurrent_writers_stay_consistent(engine: Engine, session: Session) -> None:
    """Writers hitting the same cube cells at once, and a rebuild of their project, neither
    deadlock nor lose a delta."""
    # Neither thread may touch the fixture's session: reloading an expired object there would
    # open a write transaction (BEGIN IMMEDIATE on SQLite) that nobody ends.
    project_ref: Any = SimpleNamespace(id=make_project(session).id)
    session.commit()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Session(write_engine(engine)) as own:
                # each transaction touches several cells, in opposite orders across threads
                months = ("2025-01-10", "2025-02-10", "2025-03-10", "2025-04-10")
                for _ in range(4):
                    for day in months if n % 2 else tuple(reversed(months)):
                        write_activity(
                            own,
                            data=activity_data(
                                project_ref,
                                start_date=day,
                                end_date=day,
                                attendance=[
                                    {
                                        "sex": "female",
                                        "age_band": "adult",
                                        "category": "farmer",
                                        "disability": False,
                                        "count": n,
                                    }
                                ],
                            ),
                            existing=None,
                            source="push",
                            author_id=None,
                            status="submitted",
                        )
                    own.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def rebuilder() -> None:  # the nightly job, running into the pushes
        try:
            for _ in range(4):
                with Session(write_engine(engine)) as own:
                    rebuild_project(own, project_ref.id)
                    own.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2, 3, 4)]
    threads.append(threading.Thread(target=rebuilder))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    rows = indicator_values(
        session, caller=None, query=parse_values_query(code="PARTICIPANTS")
    ).rows
    assert rows == [{"value": 16 * (1 + 2 + 3 + 4)}]
    assert_consistent(session)


def test_participant_edits_need_no_refresh(session: Session) -> None:
    project = make_project(session)
    person = Participant(project_id=project.id, code="QR-1", sex="female", birth_year=1990)
    session.add(person)
    session.flush()
    write_activity(
        session,
        data=activity_data(project, participant_ids=[str(person.id)]),
        existing=None,
        source="push",
        author_id=None,
        status="submitted",
    )
    session.commit()
    query = parse_values_query(code="UNIQUE_PARTICIPANTS", group_by="sex")
    assert indicator_values(session, caller=None, query=query).rows == [
        {"sex": "female", "value": 1}
    ]
    person.sex = "male"
    session.add(person)
    session.commit()
    assert indicator_values(session, caller=None, query=query).rows == [{"sex": "male", "value": 1}]
