"""The tables every writer appends to: the change log (``server.records.changes``, read by pull
in ``server.sync.pull``) and the audit trail (``server.records.audit``, read by
``server.audit.queries``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.columns import BigId, json_doc, optional_time, stamp


class Change(SQLModel, table=True):
    """One committed change to a synced record; ``seq`` orders what a pull hands out.

    Writers append here last in their transaction, under a lock that makes commit order
    equal ``seq`` order, so a cursor ``seq > n`` never skips a change (docs/protocol.md#pull).
    """

    __tablename__ = "change"
    __table_args__ = (sa.Index("ix_change_project_seq", "project_id", "seq"),)

    seq: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    entity: str = Field(max_length=32)
    entity_id: uuid.UUID
    op: str = Field(max_length=8)
    version: int
    # Scope: the project the record belongs to (None for catalogue-wide records).
    project_id: uuid.UUID | None = Field(default=None)
    # A change for one tablet only (a custody receipt): no other device pulls it.
    device_id: uuid.UUID | None = Field(default=None)
    created_at: datetime = stamp()


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


class RecordRevision(SQLModel, table=True):
    """The full state of a participant, site or attachment at one version.

    What ``activity_revision`` is for activities: the base a pushed mutation is merged against,
    and a record of who changed what from which tablet.
    """

    __tablename__ = "record_revision"
    __table_args__ = (
        sa.UniqueConstraint("entity", "entity_id", "version", name="uq_record_revision_version"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    entity: str = Field(max_length=32)
    entity_id: uuid.UUID = Field(index=True)
    version: int
    data: dict[str, Any] = json_doc(nullable=False)
    # push | api | bundle | resolve
    source: str = Field(max_length=16)
    author_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="device.id")
    created_at: datetime = stamp()


class Receipt(SQLModel, table=True):
    """The current custody receipt of one record (docs/protocol.md#custody-receipts).

    One row per record: a later version's receipt replaces the earlier one. The row is the
    receipt's content, fixed in the transaction that completes the record; it is signed when it
    is handed out (``server.records.receipts.signed``: Ed25519 is deterministic, so the same
    receipt under the same key is always the same bytes). ``attachments`` and ``issued_at``
    are None while the version the device pushed still waits for some of its photos' bytes.
    """

    __tablename__ = "receipt"

    # Keyed by record id first: the pull knows the ids, not the kinds (migration 0018).
    entity_id: uuid.UUID = Field(primary_key=True)
    entity: str = Field(primary_key=True, max_length=32)
    version: int
    # The tablet that pushed this version: the only one that pulls the receipt (not indexed:
    # the pull finds them by their key).
    device_id: uuid.UUID = Field(foreign_key="device.id")
    project_id: uuid.UUID | None = Field(default=None)
    attachments: list[dict[str, Any]] | None = json_doc()
    issued_at: datetime | None = optional_time()


class ReceiptKey(SQLModel, table=True):
    """Every public key that ever signed receipts: published for verification, kept in the
    database so that backups carry them. The private key is not here (server.records.receipts).
    """

    __tablename__ = "receipt_key"

    key_id: str = Field(primary_key=True, max_length=16)
    public_key: str = Field(max_length=64)
    created_at: datetime = stamp()
    retired_at: datetime | None = optional_time()
