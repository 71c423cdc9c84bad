"""Tables of the sync domain: kept mutations, revisions, conflicts (the change log behind pull
cursors is ``server.records.models.Change``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.columns import json_doc, json_list, optional_time, stamp, uuid_pk


class KeptMutation(SQLModel, table=True):
    """A pushed mutation that was rejected or conflicted: stored for review, never dropped."""

    __tablename__ = "kept_mutation"
    __table_args__ = (sa.UniqueConstraint("device_id", "seq", name="uq_kept_mutation_seq"),)

    id: uuid.UUID = uuid_pk()
    device_id: uuid.UUID | None = Field(default=None, foreign_key="device.id", index=True)
    seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    entity: str = Field(max_length=32)
    entity_id: uuid.UUID = Field(index=True)
    op: str = Field(max_length=8)
    base_version: int | None = None
    data: dict[str, Any] | None = json_doc()
    status: str = Field(max_length=16)
    errors: list[dict[str, Any]] = json_list()
    author_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    received_at: datetime = stamp()


class SyncConflict(SQLModel, table=True):
    """Both sides changed the same fields: the server kept its values until someone resolves."""

    __tablename__ = "sync_conflict"

    id: uuid.UUID = uuid_pk()
    entity: str = Field(max_length=32)
    entity_id: uuid.UUID = Field(index=True)
    project_id: uuid.UUID | None = Field(default=None, foreign_key="project.id", index=True)
    mutation_id: uuid.UUID | None = Field(default=None, foreign_key="kept_mutation.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="device.id")
    fields: list[str] = json_list()
    # The server's version the tablet's change collided with.
    server_version: int | None = None
    base_values: dict[str, Any] | None = json_doc()
    server_values: dict[str, Any] | None = json_doc()
    device_values: dict[str, Any] | None = json_doc()
    status: str = Field(default="open", max_length=16, index=True)
    resolution: dict[str, Any] | None = json_doc()
    resolved_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = stamp()
    resolved_at: datetime | None = optional_time()
