"""Writing the audit trail: one entry per change to users, projects, targets, reviews, devices."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from server.records.models import AuditEntry

# Every kind of record the trail names (``GET /audit?entity=``): another is a bug of its writer.
ENTITIES: tuple[str, ...] = (
    "activity",
    "conflict",
    "demo",
    "device",
    "enrolment_code",
    "form",
    "observation",
    "period",
    "project",
    "site",
    "target",
    "user",
)


def record(
    session: Session,
    *,
    action: str,
    entity: str,
    entity_id: uuid.UUID | str,
    actor_id: uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
    country: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the session's transaction (committed with the change itself)."""
    if entity not in ENTITIES:
        raise ValueError(f"an audit entry names an entity the trail does not list: {entity}")
    entry = AuditEntry(
        actor_id=actor_id,
        device_id=device_id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        country=country,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry
