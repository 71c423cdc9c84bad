"""The audit log table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from server.columns import BigId, json_doc, stamp


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    at: datetime = stamp()
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    device_id: uuid.UUID | None = Field(default=None)
    action: str = Field(max_length=32)
    entity: str = Field(max_length=32, index=True)
    entity_id: str = Field(max_length=64, index=True)
    # Scope of the change, so a country officer sees only their country's trail.
    country: str | None = Field(default=None, max_length=3, index=True)
    before: dict[str, Any] | None = json_doc()
    after: dict[str, Any] | None = json_doc()
