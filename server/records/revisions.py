"""Writing a new version of a synced record: the one place a participant, site or photo's
version moves.

``write_version`` bumps the version (or starts it at 1), stamps ``updated_at``, stores the
revision that holds the record's full state at that version, and notes the change-log entry
tablets pull (docs/protocol.md#pull). Every writer of such a record calls it: the management
API, sync push, conflict resolution. The revision is the base a later pushed mutation is merged
against, so a version without one would leave that merge without its base.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from sqlmodel import Session

from server.columns import utcnow
from server.records.changes import record_change
from server.records.models import RecordRevision


class Versioned(Protocol):
    id: uuid.UUID
    version: int
    updated_at: Any


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
) -> None:
    """Store ``record`` (already changed by the caller, and checked) as its next version —
    version 1 when ``new`` — with its revision (``source``: push, api, bundle or resolve) and
    its change-log entry (in the scope of ``project_id``, whose tablets pull it). A record
    carrying ``deleted = True`` goes out as a tombstone (op ``delete``)."""
    record.version = 1 if new else record.version + 1
    now = utcnow()
    record.updated_at = now
    session.add(record)
    session.flush()
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
