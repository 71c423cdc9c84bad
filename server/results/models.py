"""Tables of the results domain (docs/results.md): forms and observations.

A form row is one version of a form: publishing a draft freezes it, and editing a published
form makes the draft of version n+1 under the same ``code``. An observation keeps the form
version it was made with, so its values are always read against the fields they answered.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.columns import json_doc, json_list, optional_time, stamp, uuid_pk


class Form(SQLModel, table=True):
    """One version of a form: ``code`` + ``version`` is unique; ``project_id`` is None for a
    global form. ``fields`` and ``indicators`` are the definition, checked by
    ``shared.forms`` before they are stored."""

    __tablename__ = "form"
    __table_args__ = (sa.UniqueConstraint("code", "version", name="uq_form_code_version"),)

    id: uuid.UUID = uuid_pk()
    code: str = Field(max_length=64, index=True)
    version: int = Field(default=1)
    title: dict[str, Any] = json_doc(nullable=False)
    project_id: uuid.UUID | None = Field(default=None, foreign_key="project.id", index=True)
    # draft | published | retired
    status: str = Field(default="draft", max_length=16, index=True)
    fields: list[dict[str, Any]] = json_list()
    indicators: list[dict[str, Any]] = json_list()
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = stamp()
    updated_at: datetime = stamp()
    published_at: datetime | None = optional_time()
    retired_at: datetime | None = optional_time()


class Observation(SQLModel, table=True):
    """One filled form: a field record, synced, reviewed and versioned like an activity.
    ``values`` maps the form version's field names to their values (an unasked field is
    absent); its full state at each version is a ``record_revision`` of entity
    ``observation``, but version 1's, kept in this row until a later version supersedes it
    (docs/architecture.md#revisions)."""

    __tablename__ = "observation"
    __table_args__ = (
        sa.Index("ix_observation_project_observed", "project_id", "observed_on"),
        sa.Index("ix_observation_form", "form_id"),
    )

    id: uuid.UUID = uuid_pk()
    project_id: uuid.UUID = Field(foreign_key="project.id")
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    activity_id: uuid.UUID | None = Field(default=None, foreign_key="activity.id", index=True)
    form_id: uuid.UUID = Field(foreign_key="form.id")
    form_version: int
    observed_on: date
    values: dict[str, Any] = json_doc(nullable=False)
    location: dict[str, Any] | None = json_doc()
    notes: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default="submitted", max_length=16, index=True)
    version: int = Field(default=1)
    captured_at: datetime | None = optional_time()
    deleted: bool = Field(default=False)
    # Data-quality warnings (never rejections), as on activities.
    flags: list[dict[str, Any]] = json_list()
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="device.id")
    # The writer's source of version 1 (push, bundle, demo…): with ``created_by_id``,
    # ``device_id`` and ``created_at``, what its revision holds until a later version
    # supersedes it; None: written before that rule (as ``Activity.created_via``).
    created_via: str | None = Field(default=None, max_length=16)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()
    deleted_at: datetime | None = optional_time()


class ObservationReview(SQLModel, table=True):
    """An office's review of an observation: approve, return (with a comment) or reopen."""

    __tablename__ = "observation_review"

    id: uuid.UUID = uuid_pk()
    observation_id: uuid.UUID = Field(foreign_key="observation.id", index=True, ondelete="CASCADE")
    action: str = Field(max_length=16)
    comment: str = Field(default="", sa_type=sa.Text)
    author_id: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = stamp()
