"""Writing a new version of a synced record: the one place a participant, site or photo's
version moves.

``write_version`` bumps the version (or starts it at 1), stamps ``updated_at``, stores the
revision that holds the record's full state at that version, and notes the change-log entry
tablets pull (docs/protocol.md#pull). Every writer of such a record calls it: the management
API, sync push, conflict resolution. The revision is the base a later pushed mutation is merged
against, so a version without one would leave that merge without its base.

Observations (and activities, through their own kernel) keep version 1 in their own row
instead (``write_version(..., first_in_row=True)``, the record's ``created_via`` naming the
writer's source): ``keep_first_version`` writes its revision from the row as it stands before a
later version supersedes it, and ``first_revision`` builds it for the readers meanwhile
(docs/architecture.md#revisions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from sqlmodel import Session, col, select

from server.columns import utcnow
from server.records.changes import record_change
from server.records.models import RecordRevision


class Versioned(Protocol):
    id: uuid.UUID
    version: int
    updated_at: Any


class FirstInRow(Versioned, Protocol):
    """A record whose version 1 lives in its own row: who wrote it, from where, when, how."""

    created_via: str | None
    created_by_id: uuid.UUID | None
    device_id: uuid.UUID | None
    created_at: Any


def first_in_row(record: FirstInRow) -> str | None:
    """The writer's source of ``record``'s version 1 when that version may live in its own
    row: it is at version 1 and was written under that rule (``created_via`` set); None
    otherwise. Its revision row may still exist (one written before the rule, which the
    migration that brought it kept)."""
    return record.created_via if record.version == 1 else None


def first_revision(
    record: FirstInRow, *, entity: str, wire: Callable[[Any], dict[str, Any]]
) -> RecordRevision | None:
    """Version 1 as its revision holds it, built from ``record``'s row while it lives there
    (``first_in_row``); None otherwise. Not added to the session: readers show it,
    ``keep_first_version`` stores it."""
    source = first_in_row(record)
    if source is None:
        return None
    return RecordRevision(
        entity=entity,
        entity_id=record.id,
        version=1,
        data=wire(record),
        source=source,
        author_id=record.created_by_id,
        device_id=record.device_id,
        created_at=record.created_at,
    )


def keep_first_version(
    session: Session, record: FirstInRow, *, entity: str, wire: Callable[[Any], dict[str, Any]]
) -> None:
    """Before a later version supersedes a version 1 kept in ``record``'s row, store that
    version's revision from the row as it stands: call it before changing the record. A record
    that already has it, or was written before the rule, is left as it is. One query, on a
    record's first change only."""
    if first_in_row(record) is None:
        return
    kept = session.execute(
        select(col(RecordRevision.id)).where(
            col(RecordRevision.entity) == entity,
            col(RecordRevision.entity_id) == record.id,
            col(RecordRevision.version) == 1,
        )
    ).first()
    if kept is None:
        session.add(first_revision(record, entity=entity, wire=wire))


def write_version(
    session: Session,
    record: Versioned,
    *,
    entity: str,
    wire: Callable[[Any], dict[str, Any]],
    project_id: uuid.UUID,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    new: bool = False,
    first_in_row: bool = False,
) -> None:
    """Store ``record`` (already changed by the caller, and checked) as its next version —
    version 1 when ``new`` — with its revision (``source``: push, api, bundle or resolve) and
    its change-log entry (in the scope of ``project_id``, whose tablets pull it). A record
    carrying ``deleted = True`` goes out as a tombstone (op ``delete``). ``first_in_row``: a
    new record keeps version 1 in its row (``created_via`` set to ``source``) and gets no
    revision yet; its writer calls ``keep_first_version`` before changing it later."""
    record.version = 1 if new else record.version + 1
    now = utcnow()
    record.updated_at = now
    keep_in_row = new and first_in_row
    if keep_in_row:
        record.created_via = source  # type: ignore[attr-defined]
    session.add(record)
    session.flush()
    if not keep_in_row:
        session.add(
            RecordRevision(
                entity=entity,
                entity_id=record.id,
                version=record.version,
                data=wire(record),
                source=source,
                author_id=author_id,
                device_id=device_id,
            )
        )
    record_change(
        session,
        entity=entity,
        entity_id=record.id,
        op="delete" if getattr(record, "deleted", False) else "upsert",
        version=record.version,
        project_id=project_id,
    )
