"""Tables of the activities domain.

An activity's attendance is kept as rows (one per sex × age band × category × disability) so
that roll-ups can sum them. Its version 1 is kept in its own rows (``Activity.created_via`` says
by whom); every version a later one superseded, and every later version, has its full state in
``activity_revision`` (docs/architecture.md#revisions).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.columns import BigId, json_doc, json_list, optional_time, stamp, uuid_pk


class ActivityBase(SQLModel):
    """The activity's shape: the one description its wire form, its columns, the fields a client
    may set and the bulk writer's rows are derived from (``server.activities.shape``).

    Every field here travels on the wire, in docs/product.md#domain order (the attendance rows,
    a table of their own, travel after ``notes``). Adding a field to the activity means adding
    it here, to a migration, to its rule in ``shared.validation`` and to the tablet's form.
    """

    id: uuid.UUID = uuid_pk()
    project_id: uuid.UUID = Field(foreign_key="project.id")
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    type: str = Field(max_length=32)
    title: str = Field(max_length=200)
    start_date: date
    end_date: date
    topic: str | None = Field(default=None, max_length=8)
    modality: str | None = Field(default=None, max_length=1)
    level: str | None = Field(default=None, max_length=2)
    delivery: str = Field(default="in_person", max_length=16)
    value_chain_stage: str | None = Field(default=None, max_length=16)
    facilitators: list[str] = json_list()
    experts_count: int = Field(default=0)
    location: dict[str, Any] | None = json_doc()
    notes: str = Field(default="", sa_type=sa.Text)
    participant_ids: list[str] | None = json_doc()
    status: str = Field(default="submitted", max_length=16, index=True)
    captured_at: datetime | None = optional_time()


class Activity(ActivityBase, table=True):
    """An activity: its shape (``ActivityBase``) and what the server keeps beside it."""

    __tablename__ = "activity"
    # The leading columns serve a project's activities by date; type, site and the deleted
    # mark let the flags' same-day count read the index alone (migration 0017).
    __table_args__ = (
        sa.Index(
            "ix_activity_project_start", "project_id", "start_date", "type", "site_id", "deleted"
        ),
    )

    version: int = Field(default=1)
    deleted: bool = Field(default=False)
    # Submitted into a period its country had already closed: shown as late for review.
    late: bool = Field(default=False)
    # Data-quality warnings (never rejections): [{"code": ..., "field": ..., "message": ...}]
    flags: list[dict[str, Any]] = json_list()
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="device.id")
    # The writer's source of version 1 (``Writer.source``: push, api, bundle, resolve, review,
    # demo…), with ``created_by_id``, ``device_id`` and ``created_at`` what its revision would
    # hold until a later version supersedes it; None: written before that rule (its version-1
    # revision, if any, is in ``activity_revision``).
    created_via: str | None = Field(default=None, max_length=16)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()
    submitted_at: datetime | None = optional_time()
    deleted_at: datetime | None = optional_time()


class AttendanceRow(SQLModel, table=True):
    """One line of an activity's attendance: an absolute count, never an increment."""

    __tablename__ = "attendance"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    activity_id: uuid.UUID = Field(foreign_key="activity.id", index=True, ondelete="CASCADE")
    sex: str = Field(max_length=16)
    age_band: str = Field(max_length=16)
    category: str = Field(max_length=16)
    disability: bool = Field(default=False)
    count: int


class ActivityParticipant(SQLModel, table=True):
    """Roster mode: who attended an activity (for unique-participant counts)."""

    __tablename__ = "activity_participant"

    activity_id: uuid.UUID = Field(foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    participant_id: uuid.UUID = Field(foreign_key="participant.id", primary_key=True, index=True)


class Attachment(SQLModel, table=True):
    """A photo's metadata; its bytes arrive separately and resumably
    (docs/protocol.md#attachments)."""

    __tablename__ = "attachment"

    id: uuid.UUID = Field(primary_key=True)
    # A photo belongs to an activity or to an observation (docs/results.md#observations).
    activity_id: uuid.UUID | None = Field(default=None, foreign_key="activity.id", index=True)
    observation_id: uuid.UUID | None = Field(default=None, foreign_key="observation.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(sa_type=sa.BigInteger)
    content_type: str = Field(max_length=100)
    caption: str = Field(default="", max_length=500)
    received: int = Field(default=0, sa_type=sa.BigInteger)
    complete: bool = Field(default=False)
    version: int = Field(default=1)
    deleted: bool = Field(default=False)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()
    completed_at: datetime | None = optional_time()


class ActivityRevision(SQLModel, table=True):
    """The full state of an activity at one version, with who made it, from where and when.

    Version 1 gets its row only when version 2 supersedes it; until then it is the activity's
    own row (``Activity.created_via``)."""

    __tablename__ = "activity_revision"
    __table_args__ = (
        sa.UniqueConstraint("activity_id", "version", name="uq_activity_revision_version"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    activity_id: uuid.UUID = Field(foreign_key="activity.id", index=True, ondelete="CASCADE")
    version: int
    data: dict[str, Any] = json_doc(nullable=False)
    # push | api | review | bundle | resolve
    source: str = Field(max_length=16)
    author_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="device.id")
    created_at: datetime = stamp()


class Review(SQLModel, table=True):
    __tablename__ = "review"

    id: uuid.UUID = uuid_pk()
    activity_id: uuid.UUID = Field(foreign_key="activity.id", index=True, ondelete="CASCADE")
    action: str = Field(max_length=16)
    comment: str = Field(default="", sa_type=sa.Text)
    author_id: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = stamp()


class ClosedPeriod(SQLModel, table=True):
    """A quarter a country office has closed for reporting."""

    __tablename__ = "closed_period"
    __table_args__ = (sa.UniqueConstraint("country", "period", name="uq_closed_period"),)

    id: uuid.UUID = uuid_pk()
    country: str = Field(max_length=3)
    period: str = Field(max_length=8)
    closed_by_id: uuid.UUID = Field(foreign_key="user.id")
    closed_at: datetime = stamp()
