"""The flags of a batch of new activities are looked up first and then made without the
database: on PostgreSQL they are made while the database takes the rows before them
(``server.activities.service._write_new``, ``stream_rows``), where a statement is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from server.activities.flags import FlagFacts, quarter_of
from server.activities.models import ClosedPeriod
from shared.errors import ErrorCode
from shared.validation import validate_activity
from tests.factories import activity_data, make_project, make_site, make_user
from tests.server.activities.test_flags_plan import _activities


def test_new_activities_are_flagged_without_the_database_once_looked_up(
    engine: Engine, session: Session
) -> None:
    project = make_project(session)
    site = make_site(session, project)
    officer = make_user(session, role="country_officer")
    closed = date(2025, 3, 14)
    session.add(ClosedPeriod(country="LSO", period=quarter_of(closed), closed_by_id=officer.id))
    today = datetime.now(UTC).date()
    # what the project's usual attendance is the median of: 20 a time
    _activities(session, project.id, [20] * 6, first=today - timedelta(days=40))
    session.commit()
    open_day = (today - timedelta(days=2)).isoformat()
    crowd = [
        {
            "sex": "female",
            "age_band": "adult",
            "category": "farmer",
            "disability": False,
            "count": 900,
        }
    ]
    specs: list[dict[str, Any]] = [
        {"site_id": str(site.id), "start_date": open_day, "end_date": open_day},
        {"site_id": str(site.id), "start_date": open_day, "end_date": open_day},  # its twin
        {"start_date": closed.isoformat(), "end_date": closed.isoformat()},  # a closed quarter
        *({"start_date": open_day, "end_date": open_day, "type": "field_day"} for _ in range(5)),
        {"start_date": open_day, "end_date": open_day, "attendance": crowd},
        {  # far from its site
            "location": {"lat": 10.0, "lon": 10.0},
            "site_id": str(site.id),
            "start_date": open_day,
            "end_date": open_day,
        },
    ]
    facts = FlagFacts(session, today)
    batch = []
    for spec in specs:
        data = {**activity_data(project), "captured_at": None, **spec}
        sites = facts.sites(project)
        checked = validate_activity(
            data, project=facts.project_facts(project), sites=sites, today=today
        )
        assert not checked.errors, checked.errors
        batch.append((project, checked.clean, checked.warnings))
    flags, late = FlagFacts(session, today).of_new(batch)  # the database at hand throughout

    flag = facts.flagger([(p, clean) for p, clean, _ in batch])
    statements: list[str] = []

    def refuse(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)
        raise AssertionError(f"the database, while flagging: {statement}")

    bind = session.get_bind()
    assert isinstance(bind, Engine)
    event.listen(bind, "before_cursor_execute", refuse)
    try:
        found = [flag(p, clean, warnings) for p, clean, warnings in batch]
    finally:
        event.remove(bind, "before_cursor_execute", refuse)
    assert statements == []
    assert found == list(zip(flags, late, strict=True))
    # what the flagger was made to find, it finds (the look-ups were made and used)
    codes = [{f["code"] for f in found_flags} for found_flags in flags]
    assert ErrorCode.LIKELY_DUPLICATE in codes[1] and ErrorCode.LIKELY_DUPLICATE not in codes[0]
    assert ErrorCode.LIKELY_DUPLICATE in codes[4] and ErrorCode.LIKELY_DUPLICATE not in codes[3]
    assert late == [False, False, True, *[False] * 7]
    assert codes[8] >= {ErrorCode.ATTENDANCE_UNUSUAL}
    assert ErrorCode.GPS_FAR_FROM_SITE in codes[9]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_new_activities_need_no_look_up(engine: Engine, session: Session) -> None:
    statements: list[str] = []
    bind = session.get_bind()
    assert isinstance(bind, Engine)

    def note(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", note)
    try:
        assert FlagFacts(session, date(2026, 3, 2)).of_new([]) == ([], [])
    finally:
        event.remove(bind, "before_cursor_execute", note)
    assert statements == []
