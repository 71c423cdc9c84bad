"""The change log: appended at commit, in commit order, so a pull never skips a change."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy import Engine, event, func, select
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import User
from server.activities.service import write_activity
from server.db import is_postgresql, write_engine
from server.records import changes as change_log
from server.records.models import Change
from server.records.receipts import Signer
from server.sync.pull import pull
from tests.server.sync.conftest import Field

SIGNER = Signer.generate()


def _changes(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(Change)).scalar_one())


def _note(session: Session) -> None:
    change_log.record_change(
        session, entity="activity", entity_id=uuid.uuid4(), op="upsert", version=1, project_id=None
    )


def test_changes_are_appended_at_commit_not_before(engine: Engine) -> None:
    with Session(write_engine(engine)) as session:
        _note(session)
        session.flush()
        assert _changes(engine) == 0
        session.commit()
    assert _changes(engine) == 1


def test_a_rolled_back_savepoint_takes_its_changes_with_it(engine: Engine) -> None:
    with Session(write_engine(engine)) as session:
        _note(session)
        savepoint = session.begin_nested()
        _note(session)
        savepoint.rollback()
        with session.begin_nested():
            _note(session)
        session.commit()
    assert _changes(engine) == 2


def test_a_rolled_back_transaction_appends_nothing(engine: Engine) -> None:
    with Session(write_engine(engine)) as session:
        _note(session)
        session.rollback()
        session.commit()
    with Session(write_engine(engine)) as session:
        _note(session)  # closed without commit
    assert _changes(engine) == 0


def test_flush_changes_appends_now_for_a_caller_that_reads_them_back(engine: Engine) -> None:
    with Session(write_engine(engine)) as session:
        _note(session)
        assert change_log.flush_changes(session) == 1
        count = session.execute(select(func.count()).select_from(Change)).scalar_one()
        assert count == 1
        session.commit()
    assert _changes(engine) == 1


def _puller(engine: Engine, field: Field) -> Callable[[str | None], tuple[set[str], str]]:
    with Session(engine, expire_on_commit=False) as session:
        user = session.get(User, field.expert.id)
    assert user is not None
    caller = Caller(user=user, project_ids=frozenset({field.project.id}), device=field.device)

    def pull_from(cursor: str | None) -> tuple[set[str], str]:
        seen: set[str] = set()
        while True:
            with Session(engine) as session:
                page = pull(session, caller=caller, cursor=cursor, limit=50, signer=SIGNER)
            seen |= {c.id for c in page.changes if c.entity == "activity"}
            cursor = page.cursor
            if not page.has_more:
                return seen, cursor

    return pull_from


def _write(
    engine: Engine,
    field: Field,
    *,
    after_append: Callable[[], object] | None = None,
    **overrides: object,
) -> str:
    """Write an activity; ``after_append`` runs once its change has a seq, before COMMIT."""
    with Session(write_engine(engine)) as session:
        data = field.activity(**overrides)
        write_activity(session, data=data, existing=None, source="api", author_id=None)
        if after_append is not None:
            # The write armed the session's commit duties (the change-log append among them);
            # a listener added after them runs after them.
            event.listen(session, "before_commit", lambda _session: after_append())
        session.commit()
        return str(data["id"])


def _out_of_order_commits(engine: Engine, field: Field) -> tuple[set[str], set[str]]:
    """Writer A draws its seq first but commits after writer B; a pull runs in between."""
    pull_from = _puller(engine, field)
    _, cursor = pull_from(None)
    a_drew, a_may_commit = threading.Event(), threading.Event()
    written: dict[str, str] = {}

    def hold_commit() -> None:
        a_drew.set()
        a_may_commit.wait(30)

    def writer_a() -> None:
        written["a"] = _write(engine, field, after_append=hold_commit)

    def writer_b() -> None:
        # Another month, so that no roll-up row serialises the two writers either.
        written["b"] = _write(engine, field, start_date="2025-04-10", end_date="2025-04-10")

    first = threading.Thread(target=writer_a)
    first.start()
    assert a_drew.wait(30)
    second = threading.Thread(target=writer_b)
    second.start()
    second.join(2)  # without the lock B commits now; with it, B waits for A
    seen, cursor = pull_from(cursor)
    a_may_commit.set()
    first.join(30)
    second.join(30)
    later, _ = pull_from(cursor)
    return seen | later, set(written.values())


@pytest.mark.postgres
def test_a_writer_committing_after_a_later_seq_is_not_skipped(engine: Engine, field: Field) -> None:
    if not is_postgresql(engine):
        pytest.skip("SQLite has one writer at a time; out-of-order commits need PostgreSQL")
    pulled, written = _out_of_order_commits(engine, field)
    assert pulled == written


@pytest.mark.postgres
def test_without_the_lock_the_same_schedule_skips_a_change(
    engine: Engine, field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above can fail: remove the lock and the puller misses writer A."""
    if not is_postgresql(engine):
        pytest.skip("SQLite has one writer at a time; out-of-order commits need PostgreSQL")
    monkeypatch.setattr(change_log, "lock_change_log", lambda session: None)
    pulled, written = _out_of_order_commits(engine, field)
    assert len(written - pulled) == 1


@pytest.mark.real_clock
@pytest.mark.slow
def test_concurrent_writers_and_a_puller_miss_nothing(engine: Engine, field: Field) -> None:
    pull_from = _puller(engine, field)
    rng = random.Random(7)
    written: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer(plan: list[tuple[float, int]]) -> None:
        for delay, month in plan:
            day = f"2024-{month:02d}-10"  # months apart: roll-up rows do not serialise writers
            record = _write(
                engine,
                field,
                after_append=partial(threading.Event().wait, delay),
                start_date=day,
                end_date=day,
            )
            with lock:
                written.append(record)

    seen: set[str] = set()
    cursor: str | None = None

    def puller() -> None:
        nonlocal cursor
        while not done.is_set():
            found, cursor = pull_from(cursor)
            seen.update(found)
            done.wait(0.002)  # let writers in: on SQLite a pull in a tight loop starves them

    writers = [
        threading.Thread(
            target=writer, args=([(rng.uniform(0, 0.02), rng.randint(1, 12)) for _ in range(15)],)
        )
        for _ in range(4)
    ]
    # A daemon, stopped in ``finally``: a failure above must fail the test, not leave the
    # puller looping and the test run waiting for it at exit.
    reading = threading.Thread(target=puller, daemon=True)
    reading.start()
    try:
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(120)
    finally:
        done.set()
        reading.join(60)
    found, _ = pull_from(cursor)
    seen |= found
    assert len(written) == 60
    assert seen == set(written)
