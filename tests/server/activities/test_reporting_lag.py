"""The `reporting_lag` flag measures when an activity first reached the server
(docs/product.md, Flags): a correction sent months later, after the office returned it, does
not make an activity that arrived on time "reported late"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from server.activities.models import Activity
from server.activities.service import write_activity
from server.columns import utcnow
from tests.factories import World, fresh


def _arrived(session: Session, activity: Activity, *, days_after_end: int) -> None:
    """Make the activity one that ended 90 days ago and first reached the server
    ``days_after_end`` days after it ended."""
    stored = fresh(session, Activity, activity.id)
    end = utcnow().date() - timedelta(days=90)
    stored.start_date = stored.end_date = end
    arrival = datetime.combine(end + timedelta(days=days_after_end), datetime.min.time(), UTC)
    stored.created_at = stored.submitted_at = arrival
    stored.flags = []
    session.add(stored)
    session.commit()


def _edit(session: Session, world: World, activity: Activity) -> list[str]:
    stored = fresh(session, Activity, activity.id)
    write_activity(
        session,
        data={"notes": "Counts checked against the sign-in sheet."},
        existing=stored,
        source="push",
        author_id=world.users["expert_lso"].id,
    )
    session.commit()
    return [f["code"] for f in fresh(session, Activity, activity.id).flags]


def test_a_correction_months_later_does_not_flag_an_on_time_activity(session: Session) -> None:
    world = World(session)
    _arrived(session, world.activity_lso, days_after_end=1)
    assert "reporting_lag" not in _edit(session, world, world.activity_lso)


def test_an_activity_that_arrived_late_stays_flagged_after_an_edit(session: Session) -> None:
    world = World(session)
    _arrived(session, world.activity_lso, days_after_end=45)
    assert "reporting_lag" in _edit(session, world, world.activity_lso)
    # The flag keeps the figures its message was written with, for the dashboard's words.
    stored = fresh(session, Activity, world.activity_lso.id)
    [lag] = [f for f in stored.flags if f["code"] == "reporting_lag"]
    assert lag["params"] == {"lag": "45", "value": stored.end_date.isoformat(), "limit": "30"}
