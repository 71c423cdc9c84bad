"""The change log: every committed change to a synced record gets the next ``seq``.

Pull cursors are ``seq`` values, so commit order must equal ``seq`` order or a pull running
while others commit could skip a change (PostgreSQL sequences hand out numbers in call order,
not commit order). Writers therefore append their change rows as the last step of their
transaction while holding a transaction-scoped lock:

- PostgreSQL: ``pg_advisory_xact_lock`` — released at COMMIT/ROLLBACK, so the next writer
  draws its numbers only after this one is visible.
- SQLite: one writer at a time already (``BEGIN IMMEDIATE``), so nothing more is needed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, text
from sqlmodel import Session

from server.columns import utcnow
from server.sync.models import Change

CHANGE_LOG_LOCK = 7301002


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    entity: str
    entity_id: uuid.UUID
    op: str
    version: int
    project_id: uuid.UUID | None


def lock_change_log(session: Session) -> None:
    """Serialise change-log appends until this transaction ends (no-op on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOG_LOCK})


def record_changes(session: Session, changes: Iterable[ChangeRecord]) -> None:
    """Append changes to the log. Call last in the transaction, after every other write."""
    rows = [
        {
            "entity": c.entity,
            "entity_id": c.entity_id,
            "op": c.op,
            "version": c.version,
            "project_id": c.project_id,
            "created_at": utcnow(),
        }
        for c in changes
    ]
    if not rows:
        return
    lock_change_log(session)
    session.execute(insert(Change), rows)


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
