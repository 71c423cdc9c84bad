"""The change log: every committed change to a synced record gets the next ``seq``.

Pull cursors are ``seq`` values, so commit order must equal ``seq`` order or a pull running
while others commit could skip a change (PostgreSQL sequences hand out numbers in call order,
not commit order). So the rows are not inserted where a writer records them: ``record_change``
only notes the change in the session, and the notes are appended as the very last step before
COMMIT (a commit duty ``record_changes`` arms on the writer's session, see
``server.db.arm_commit_duty``), under a transaction-scoped lock:

- PostgreSQL: ``pg_advisory_xact_lock`` — taken right before the append and released at
  COMMIT, so the next writer draws its numbers only after this one is visible. Because it is
  taken at the end, a long push holds it for one multi-row insert, not for the whole batch.
- SQLite: one writer at a time already (``BEGIN IMMEDIATE``), so nothing more is needed.

Notes made inside a savepoint that rolls back are dropped with it; a rolled-back transaction
appends nothing. ``flush_changes`` appends the notes now, for a caller that must read them back
inside its own transaction; it takes the lock, so nothing that waits on other writers (the
roll-up refresh of ``server.indicators.refresh``, for one, whose duty runs before this one)
should follow it in that transaction.

Writers of projects and targets call ``record_project_change`` or ``record_target_change`` in
the same transaction as their write, so that tablets pull them (docs/protocol.md#pull);
participants, sites and photos get theirs from ``server.records.revisions.write_version``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from server.columns import utcnow
from server.db import CommitDuty, arm_commit_duty, current_transaction, within
from server.records.bulk import insert_rows
from server.records.models import Change

CHANGE_LOG_LOCK = 7301002
_PENDING = "pilotmon.pending_changes"


class ChangeRecord(NamedTuple):
    """One change to note; its fields are the change-log columns, in their order, but the
    ``created_at`` the append gives every row."""

    entity: str
    entity_id: uuid.UUID
    op: str
    version: int
    project_id: uuid.UUID | None
    # Set for a change only one tablet pulls (a custody receipt).
    device_id: uuid.UUID | None = None


def lock_change_log(session: Session) -> None:
    """Serialise change-log appends until this transaction ends (no-op on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOG_LOCK})


def record_changes(session: Session, changes: Iterable[ChangeRecord]) -> None:
    """Note changes for the log; they are appended when the transaction commits."""
    notes: list[tuple[SessionTransaction, list[ChangeRecord]]]
    notes = session.info.setdefault(_PENDING, [])
    notes.append((current_transaction(session), list(changes)))
    arm_commit_duty(session, _APPEND_AT_COMMIT)


def record_change(
    session: Session,
    *,
    entity: str,
    entity_id: uuid.UUID,
    op: str,
    version: int,
    project_id: uuid.UUID | None,
) -> None:
    record_changes(session, [ChangeRecord(entity, entity_id, op, version, project_id)])


def _standing(
    session: OrmSession, notes: list[tuple[SessionTransaction, list[ChangeRecord]]]
) -> Iterator[ChangeRecord]:
    """The changes of ``notes`` made in the session's current transaction, in note order."""
    root = session.get_transaction()
    for transaction, changes in notes:
        if within(transaction, root):
            yield from changes


def noted_versions(session: Session) -> set[tuple[str, uuid.UUID, int]]:
    """The (entity, id, version) of every change noted in this transaction and not yet
    appended: what the log will hold at its commit."""
    notes = session.info.get(_PENDING, [])
    return {(c.entity, c.entity_id, c.version) for c in _standing(session, notes)}


def flush_changes(session: OrmSession) -> int:
    """Append the noted changes of this transaction now; returns how many were appended."""
    now = (utcnow(),)
    rows = [change + now for change in _standing(session, session.info.pop(_PENDING, []))]
    if not rows:
        return 0
    session.flush()  # every other write first: the lock is then held only for the append
    lock_change_log(session)  # type: ignore[arg-type]
    # In note order, so ``seq`` follows it (PostgreSQL: by COPY, each row drawing the next).
    return insert_rows(session, _CHANGE, _CHANGE_COLUMNS, rows)


_CHANGE: Any = Change.__table__  # type: ignore[attr-defined]
_CHANGE_COLUMNS = ("entity", "entity_id", "op", "version", "project_id", "device_id", "created_at")
assert ChangeRecord._fields == _CHANGE_COLUMNS[:-1], ChangeRecord._fields


def _forget_rolled_back(session: OrmSession, previous_transaction: SessionTransaction) -> None:
    notes = session.info.get(_PENDING)
    if notes:
        session.info[_PENDING] = [
            (transaction, changes)
            for transaction, changes in notes
            if not within(transaction, previous_transaction)
        ]


# After the roll-up refresh (order 0): the append takes the lock every writer waits for.
_APPEND_AT_COMMIT = CommitDuty(
    name="change_log",
    order=10,
    before_commit=flush_changes,
    after_rollback=_forget_rolled_back,
)


# --- helpers for the writers of records tablets pull -------------------------------------


def record_project_change(session: Session, *, project: Any, op: str = "upsert") -> None:
    """A project was created or edited: its members' tablets pull it."""
    record_change(
        session,
        entity="project",
        entity_id=project.id,
        op=op,
        version=int(getattr(project, "version", 1) or 1),
        project_id=project.id,
    )


def record_target_change(session: Session, *, target: Any, op: str = "upsert") -> None:
    record_change(
        session,
        entity="target",
        entity_id=target.id,
        op=op,
        version=int(getattr(target, "version", 1) or 1),
        project_id=target.project_id,
    )


def record_participant_change(session: Session, *, participant: Any, op: str = "upsert") -> None:
    record_change(
        session,
        entity="participant",
        entity_id=participant.id,
        op=op,
        version=int(getattr(participant, "version", 1) or 1),
        project_id=participant.project_id,
    )
