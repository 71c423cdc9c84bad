"""An officer's "return" reaches the tablet even when a pull lands while a form is open.

The field app's form holds a copy of the record (with the server's ``status`` and ``version``
as they were when it opened) and hands the whole of it to ``DeviceStore.save``. When the
background schedule pulls the officer's return in the meantime, the save must not lay the
form's stale copies of the server's keys over the record the pull brought: the tablet would
show version 1 and "submitted" behind a cursor that already covers version 2 and "returned".
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import User
from server.activities.review import review_activity
from tests.server.sync.conftest import Field
from tests.sync.conftest import Tablet


def _return(engine: Engine, field: Field, activity_id: str) -> None:
    with Session(engine) as session:
        officer = session.get(User, field.officer.id)
        assert officer is not None
        review_activity(
            session,
            caller=Caller(user=officer),
            activity_id=uuid.UUID(activity_id),
            action="return",
            comment="Add the women's attendance",
        )
        session.commit()


def test_a_save_from_a_form_opened_before_a_pull_keeps_the_pulled_review(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, engine_, _ = tablet
    record = field.activity(title="Farmer field day")
    store.save("activity", record)
    engine_.sync_once()
    form = store.get("activity", record["id"])  # the expert opens the form: version 1
    assert form is not None and form["version"] == 1 and form["status"] == "submitted"

    _return(engine, field, record["id"])
    engine_.pull()  # the schedule's round lands while the form is open
    assert store.get("activity", record["id"])["status"] == "returned"  # type: ignore[index]

    # The form saves everything it holds, its stale status and version included.
    store.save("activity", {**form, "notes": "Rain in the morning", "status": "submitted"})
    shown = store.get("activity", record["id"])
    assert shown is not None
    assert shown["version"] == 2 and shown["status"] == "returned"
    assert shown["reviews"][0]["comment"] == "Add the women's attendance"
    assert shown["notes"] == "Rain in the morning"
    [queued] = store.pending()
    assert queued.base_version == 2
    assert set(queued.data or {}) == {"notes"}  # only what the expert changed travels


def test_a_returned_record_saved_again_goes_back_as_submitted(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    """The intended flow: the tablet shows the return, the expert fixes it and resubmits."""
    store, engine_, _ = tablet
    record = field.activity(title="Farmer field day")
    store.save("activity", record)
    engine_.sync_once()
    _return(engine, field, record["id"])
    engine_.sync_once()
    assert store.state("activity", record["id"]) == "returned"
    shown = store.get("activity", record["id"])
    assert shown is not None
    store.save("activity", {**shown, "notes": "Women counted separately"})
    engine_.sync_once()
    assert store.state("activity", record["id"]) == "synced"
    final = store.get("activity", record["id"])
    assert final is not None and final["status"] == "submitted" and final["version"] == 3


def test_an_edit_made_before_the_tablet_saw_the_return_keeps_it_returned(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    """Offline, the expert edits the record while the office returns it: the edit merges, but
    the record stays returned, so the comment still reaches the expert."""
    store, engine_, _ = tablet
    record = field.activity(title="Farmer field day")
    store.save("activity", record)
    engine_.sync_once()
    shown = store.get("activity", record["id"])
    assert shown is not None
    store.save("activity", {**shown, "notes": "Rain in the morning"})  # base version 1
    _return(engine, field, record["id"])  # version 2, returned

    report = engine_.sync_once()
    assert report.pushed == {"merged": 1}
    final = store.get("activity", record["id"])
    assert final is not None
    assert final["status"] == "returned" and final["notes"] == "Rain in the morning"
    assert final["reviews"][0]["comment"] == "Add the women's attendance"
    assert store.state("activity", record["id"]) == "returned"
