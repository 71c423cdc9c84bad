"""A pull page is read in one snapshot: a writer committing while a pull runs never tears it.

Each test commits a review (the officer returns the activity: version 2, change-log seq after
the creation's) at a chosen point *inside* a pull, between two of its reads, and checks that
the page describes one moment of the database: the records it carries are at the versions of
the change rows its cursor covers, and each record is whole (status, version and review
comments of the same revision). The next pull from the page's cursor brings the review.

On PostgreSQL under READ COMMITTED every statement has its own snapshot, so without a
REPEATABLE READ pull the first test sees version 2 behind a cursor that stops before it and the
second sees the "return" comment on a record still at version 1 and "submitted".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import User
from server.activities.review import review_activity
from server.db import write_engine
from server.records.models import Change as ChangeRow
from server.records.receipts import Signer
from server.sync import pull as pull_module
from server.sync.pull import decode_cursor, pull
from sync.protocol import PullResponse
from tests.server.sync.conftest import Field

SIGNER = Signer.generate()


def _caller(engine: Engine, field: Field) -> Caller:
    with Session(engine, expire_on_commit=False) as session:
        user = session.get(User, field.expert.id)
    assert user is not None
    return Caller(user=user, project_ids=frozenset({field.project.id}), device=field.device)


def _create(engine: Engine, field: Field) -> uuid.UUID:
    from server.activities.service import write_activity

    with Session(write_engine(engine)) as session:
        data = field.activity()
        write_activity(
            session,
            data=data,
            existing=None,
            source="api",
            author_id=field.expert.id,
            status="submitted",
        )
        session.commit()
    return uuid.UUID(data["id"])


def _return(engine: Engine, field: Field, activity_id: uuid.UUID) -> None:
    with Session(write_engine(engine)) as session:
        officer = session.get(User, field.officer.id)
        assert officer is not None
        review_activity(
            session,
            caller=Caller(user=officer),
            activity_id=activity_id,
            action="return",
            comment="Add the women's attendance",
        )
        session.commit()


def _pull(engine: Engine, caller: Caller, cursor: str | None) -> PullResponse:
    with Session(engine) as session:
        return pull(session, caller=caller, cursor=cursor, limit=500, signer=SIGNER)


def _versions_up_to(engine: Engine, seq: int) -> dict[str, int]:
    """The version of each activity as of change-log position ``seq``."""
    with Session(engine) as session:
        rows = session.execute(
            select(col(ChangeRow.entity_id), col(ChangeRow.version))
            .where(col(ChangeRow.entity) == "activity", col(ChangeRow.seq) <= seq)
            .order_by(col(ChangeRow.seq))
        ).all()
    return {str(entity_id): version for entity_id, version in rows}


def _once(action: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def _assert_one_moment(engine: Engine, page: PullResponse) -> None:
    cursor = decode_cursor(page.cursor)
    assert cursor is not None
    versions = _versions_up_to(engine, cursor.seq)
    for change in page.changes:
        if change.entity != "activity":
            continue
        assert change.version == versions[change.id], (
            f"page carries version {change.version} of {change.id} but its cursor "
            f"(seq {cursor.seq}) covers version {versions[change.id]}"
        )
        data: dict[str, Any] = change.data or {}
        returned = [r for r in data.get("reviews", []) if r["action"] == "return"]
        if data.get("status") == "returned":
            assert returned and change.version >= 2
        else:
            assert not returned, "a review comment travelled with a record from before it"


def _check_review_arrives_next(
    engine: Engine, caller: Caller, page: PullResponse, activity_id: uuid.UUID
) -> None:
    later = _pull(engine, caller, page.cursor)
    [change] = [c for c in later.changes if c.id == str(activity_id)]
    assert change.version == 2 and (change.data or {})["status"] == "returned"


def test_a_review_committed_between_the_log_read_and_the_record_read(
    engine: Engine, field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = _caller(engine, field)
    activity_id = _create(engine, field)
    original = pull_module._current_state
    review = _once(lambda: _return(engine, field, activity_id))

    def current_state_after_a_commit(session: Session, rows: Any, **kwargs: Any) -> Any:
        review()  # the change rows are read; the officer's commit lands now
        return original(session, rows, **kwargs)

    monkeypatch.setattr(pull_module, "_current_state", current_state_after_a_commit)
    page = _pull(engine, caller, None)
    assert any(c.id == str(activity_id) for c in page.changes)
    _assert_one_moment(engine, page)
    monkeypatch.setattr(pull_module, "_current_state", original)
    _check_review_arrives_next(engine, caller, page, activity_id)


def test_a_review_committed_between_the_activity_read_and_its_reviews(
    engine: Engine, field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = _caller(engine, field)
    activity_id = _create(engine, field)
    original = pull_module.attendance_by_activity
    review = _once(lambda: _return(engine, field, activity_id))

    def attendance_after_a_commit(session: Session, ids: Any) -> Any:
        review()  # the activity row is read; its reviews and attendance are not yet
        return original(session, ids)

    monkeypatch.setattr(pull_module, "attendance_by_activity", attendance_after_a_commit)
    page = _pull(engine, caller, None)
    _assert_one_moment(engine, page)
    monkeypatch.setattr(pull_module, "attendance_by_activity", original)
    _check_review_arrives_next(engine, caller, page, activity_id)


def test_a_review_committed_before_the_log_read_is_in_the_page(
    engine: Engine, field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the boundary: a commit before the page's first read is all in it."""
    caller = _caller(engine, field)
    activity_id = _create(engine, field)
    original = pull_module.pull_scope
    review = _once(lambda: _return(engine, field, activity_id))

    def scope_after_a_commit(session: Session, **kwargs: Any) -> Any:
        review()
        return original(session, **kwargs)

    monkeypatch.setattr(pull_module, "pull_scope", scope_after_a_commit)
    page = _pull(engine, caller, None)
    _assert_one_moment(engine, page)
    [change] = [c for c in page.changes if c.id == str(activity_id)]
    assert change.version == 2 and (change.data or {})["status"] == "returned"
