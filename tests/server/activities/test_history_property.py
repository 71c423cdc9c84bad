"""The history of an activity is the sequence of states written to it, whatever wrote it first
and however it changed after: version 1 from its rows while it lives there, then from the
revision its first change wrote (docs/architecture.md#revisions). Random activities, random
change sequences, on both backends."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.activities.models import Activity, ActivityRevision
from server.activities.queries import revisions
from server.activities.service import ActivityWrite, Writer, write_activities
from server.db import write_engine
from tests.factories import (
    activity_data,
    attendance_lists,
    make_device,
    make_project,
    make_user,
)

_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_attendance = attendance_lists()
# Fields a writer may set, with values the validation accepts (already in their wire form).
_FIELDS: dict[str, Any] = {
    "title": _texts.filter(str.strip).map(str.strip),
    "notes": _texts,
    "experts_count": st.integers(0, 9),
    "facilitators": st.lists(st.text("abcdef ", min_size=1, max_size=6), max_size=2),
    "location": st.none()
    | st.fixed_dictionaries({"lat": st.floats(-29.0, -28.0), "lon": st.floats(27.0, 28.0)}),
    "attendance": _attendance,
    "delivery": st.sampled_from(["in_person", "remote"]),
}
_edits = st.dictionaries(st.sampled_from(sorted(_FIELDS)), st.none(), min_size=1).flatmap(
    lambda keys: st.fixed_dictionaries({k: _FIELDS[k] for k in keys})
)
_steps = st.lists(
    st.one_of(
        _edits.map(lambda e: ("edit", e)),
        st.sampled_from(["approved", "returned", "submitted"]).map(lambda s: ("status", s)),
        st.just(("delete", None)),
        st.just(("restore", None)),
    ),
    max_size=4,
)
_SOURCES = ("push", "api", "bundle", "resolve", "demo")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.fixed_dictionaries(_FIELDS),
    source=st.sampled_from(_SOURCES),
    by_device=st.booleans(),
    steps=_steps,
)
def test_the_history_is_the_sequence_of_states_written(
    engine: Engine,
    first: dict[str, Any],
    source: str,
    by_device: bool,
    steps: list[tuple[str, Any]],
) -> None:
    with Session(write_engine(engine), expire_on_commit=False) as session:
        project = make_project(session)
        author = make_user(session, projects=[project])
        officer = make_user(session, role="country_officer", countries=[project.country])
        admin = make_user(session, role="admin")
        device_id = None
        if by_device:
            device_id = make_device(session, author)[0].id
        record = {**activity_data(project, captured_at="2025-03-14T08:00:00+00:00"), **first}
        record.pop("status")
        writer = Writer(source=source, author_id=author.id, device_id=device_id)
        (activity_id,) = write_activities(session, [ActivityWrite(data=record)], writer=writer)
        session.commit()

        # What each version holds, computed from what was written (not read back).
        state = {**record, "status": "submitted", "deleted": False}
        expected = [(1, source, author.id, device_id, state)]
        office = Writer(source="api", author_id=officer.id)
        for kind, value in steps:
            activity = session.get(Activity, activity_id)
            assert activity is not None
            if kind == "edit":
                write = ActivityWrite(data=value, existing=activity)
                state = {**state, **value}
            elif kind == "status":
                write = ActivityWrite(existing=activity, status=value)
                state = {**state, "status": value}
            elif kind == "delete":
                write = ActivityWrite(existing=activity, delete=True)
                state = {**state, "deleted": True}
            else:
                write = ActivityWrite(existing=activity, restore=True)
                state = {**state, "deleted": False}
            write_activities(session, [write], writer=office)
            session.commit()
            expected.append((len(expected) + 1, "api", officer.id, None, state))

        history = revisions(session, caller=Caller(user=admin), activity_id=activity_id)
        assert [(h.version, h.source, h.author_id, h.device_id, h.data) for h in history] == (
            expected
        )
        assert [h.author for h in history] == [
            author.username,
            *[officer.username] * len(steps),
        ]
        # Version 1 has a revision row only once a later version superseded it.
        stored = session.execute(
            select(col(ActivityRevision.version)).where(
                col(ActivityRevision.activity_id) == activity_id
            )
        ).scalars()
        assert sorted(stored) == (list(range(1, len(expected) + 1)) if steps else [])
