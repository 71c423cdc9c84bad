"""``FlagFacts.cached_only``: what a push checks while the database takes the rows of the part
before (``server.sync.records.apply_new_activities``) is answered from what it looked up
already, and a look-up not made yet is refused, never sent to the busy connection."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.flags import FlagFacts, NeedsDatabase
from tests.factories import make_project, make_site


def test_within_cached_only_a_look_up_not_made_yet_raises_instead_of_asking(
    engine: Engine, session: Session
) -> None:
    known = make_project(session)
    make_site(session, known)
    other = make_project(session)
    session.commit()
    found_other = session.get(type(other), other.id)
    assert found_other is not None and found_other.id == other.id  # loaded before the count
    facts = FlagFacts(session, date.today())
    found = facts.project(str(known.id))
    assert found is not None
    country = found.country
    project_facts, sites = facts.for_validation(known)
    assert len(sites) == 1
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with facts.cached_only():
            assert facts.project(str(known.id)) is not None
            assert facts.project(known.id) is not None
            assert facts.project("not an id") is None  # no look-up needed to know that
            assert facts.for_validation(known) == (project_facts, sites)
            assert facts.sites(known) == sites
            for look_up in (
                lambda: facts.project(other.id),
                lambda: facts.project(str(other.id)),
                lambda: facts.sites(found_other),
                lambda: facts.usual_attendance(known),
                lambda: facts.closed(country, date.today()),
                facts.database,
            ):
                with pytest.raises(NeedsDatabase):
                    look_up()
        assert statements == []
        # Outside it, the same look-ups are made.
        assert facts.project(other.id) is not None
        assert facts.sites(found_other) == {}
        assert statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
