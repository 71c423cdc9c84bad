"""Tables of the projects domain: projects, sites, targets, roster participants."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.columns import stamp, json_list, optional_time, uuid_pk


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: uuid.UUID = uuid_pk()
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=8)
    country: str = Field(max_length=3, index=True)
    thematic_area: str = Field(max_length=8)
    solutions: list[str] = json_list()
    partners: list[str] = json_list()
    priority_product: str | None = Field(default=None, max_length=120)
    start_date: date
    end_date: date
    # Roster mode: participants registered by code, for unique counts.
    roster: bool = Field(default=False)
    version: int = Field(default=1)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()


class Site(SQLModel, table=True):
    __tablename__ = "site"

    id: uuid.UUID = uuid_pk()
    project_id: uuid.UUID = Field(foreign_key="project.id", index=True)
    name: str = Field(max_length=200)
    admin_area: str = Field(default="", max_length=200)
    lat: float | None = None
    lon: float | None = None
    # Sites found in the field arrive "pending" until a country officer approves them.
    status: str = Field(default="approved", max_length=16)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    version: int = Field(default=1)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()


class Target(SQLModel, table=True):
    __tablename__ = "target"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "indicator", "period", "sex", name="uq_target_key"),
    )

    id: uuid.UUID = uuid_pk()
    project_id: uuid.UUID = Field(foreign_key="project.id", index=True)
    indicator: str = Field(max_length=32)
    # "2025", "2025Q3" or "2025-07"
    period: str = Field(max_length=8)
    value: float
    sex: str | None = Field(default=None, max_length=16)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()


class Participant(SQLModel, table=True):
    """A roster participant. No name is required; a name, if kept, never leaves the country."""

    __tablename__ = "participant"
    __table_args__ = (sa.UniqueConstraint("project_id", "code", name="uq_participant_code"),)

    id: uuid.UUID = uuid_pk()
    project_id: uuid.UUID = Field(foreign_key="project.id", index=True)
    code: str = Field(max_length=64)
    sex: str = Field(default="unspecified", max_length=16)
    birth_year: int | None = None
    category: str = Field(default="farmer", max_length=16)
    disability: bool = Field(default=False)
    name: str | None = Field(default=None, max_length=200)
    version: int = Field(default=1)
    deleted: bool = Field(default=False)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()
    deleted_at: datetime | None = optional_time()
