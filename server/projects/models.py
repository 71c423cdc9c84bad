"""Tables of the projects domain: projects, sites, targets, roster participants."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AllowInfNan
from sqlmodel import Field, SQLModel

from server.api import UNKNOWN_KEYS_REFUSED, Text, UtcDateTime
from server.columns import json_list, optional_time, stamp, uuid_pk


class SiteStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: uuid.UUID = uuid_pk()
    code: str = Field(max_length=50, unique=True, index=True)
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
    # Sites found in the field arrive "pending" until a country officer approves (or rejects)
    # them: see SiteStatus.
    status: str = Field(default="approved", max_length=16)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    version: int = Field(default=1)
    created_at: datetime = stamp()
    updated_at: datetime = stamp()


class Target(SQLModel, table=True):
    __tablename__ = "target"
    __table_args__ = (
        sa.UniqueConstraint(
            "project_id", "indicator", "period", "sex", "kind", name="uq_target_key"
        ),
    )

    id: uuid.UUID = uuid_pk()
    project_id: uuid.UUID = Field(foreign_key="project.id", index=True)
    indicator: str = Field(max_length=64)
    # "target", or "baseline": the value before the project (result indicators, whose
    # achievement with direction "decrease" is measured from it; docs/results.md)
    kind: str = Field(
        default="target", max_length=16, sa_column_kwargs={"server_default": "target"}
    )
    # "2025", "2025Q3" or "2025-07"
    period: str = Field(max_length=8)
    value: float
    sex: str | None = Field(default=None, max_length=16)
    version: int = Field(default=1)
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


# --- API shapes --------------------------------------------------------------------------------
# Codes (kind, country, thematic area, solutions, indicator, sex) are plain strings here and are
# checked by shared.validation, so the API and the tablet give the same field-level messages.


class ProjectCreate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    code: Text = Field(min_length=1, max_length=50, description="e.g. LSO-CPP-001")
    name: Text = Field(min_length=1, max_length=200)
    kind: Text = Field(max_length=8, description="CPP | DAA")
    country: Text = Field(max_length=3, description="ISO 3166-1 alpha-3")
    thematic_area: Text = Field(max_length=8, description="TA1 … TA4")
    solutions: list[Text] = Field(max_length=50, description="S1 … S9")
    partners: list[Text] = Field(default_factory=list, max_length=50)
    priority_product: Text | None = Field(default=None, max_length=120)
    start_date: date
    end_date: date
    roster: bool = Field(default=False, description="Participants registered by code")


class ProjectUpdate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    code: Text | None = Field(default=None, min_length=1, max_length=50)
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    kind: Text | None = Field(default=None, max_length=8)
    country: Text | None = Field(default=None, max_length=3)
    thematic_area: Text | None = Field(default=None, max_length=8)
    solutions: list[Text] | None = Field(default=None, max_length=50)
    partners: list[Text] | None = Field(default=None, max_length=50)
    priority_product: Text | None = Field(default=None, max_length=120)
    start_date: date | None = None
    end_date: date | None = None
    roster: bool | None = None


class ProjectPublic(SQLModel):
    id: uuid.UUID
    code: str
    name: str
    kind: str
    country: str
    region: str | None
    thematic_area: str
    solutions: list[str]
    partners: list[str]
    priority_product: str | None
    start_date: date
    end_date: date
    roster: bool
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SiteCreate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    project_id: uuid.UUID
    name: Text = Field(min_length=1, max_length=200)
    admin_area: Text = Field(default="", max_length=200)
    lat: float | None = Field(default=None, description="Decimal degrees, WGS 84")
    lon: float | None = Field(default=None, description="Decimal degrees, WGS 84")


class SiteUpdate(SQLModel):
    """Edit a site; ``status`` approves or rejects a site found in the field."""

    model_config = UNKNOWN_KEYS_REFUSED

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    admin_area: Text | None = Field(default=None, max_length=200)
    lat: float | None = None
    lon: float | None = None
    status: Literal["approved", "rejected"] | None = None


class SitePublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    admin_area: str
    lat: float | None
    lon: float | None
    status: str
    created_by_id: uuid.UUID | None
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


# The largest target or baseline accepted: far above anything a pilot counts or sells, far
# below what the dashboard's number formatting and charts can no longer write.
MAX_TARGET_VALUE = 1e12
# "NaN" and "Infinity" are floats to Python but no number to a target: not_number, not a range.
TargetNumber = Annotated[float, AllowInfNan(False)]


class TargetCreate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    project_id: uuid.UUID
    indicator: Text = Field(
        max_length=64,
        description="An indicator code, e.g. PARTICIPANTS, or a result indicator's (YIELD_KG_HA)",
    )
    period: Text = Field(max_length=8, description="2025, 2025Q3 or 2025-07")
    value: TargetNumber = Field(ge=0, le=MAX_TARGET_VALUE)
    sex: Text | None = Field(
        default=None,
        max_length=16,
        description="female | male | unspecified, for participant counts",
    )
    kind: Text | None = Field(
        default=None,
        max_length=16,
        description="target (the default) | baseline: the value before the project",
    )


class TargetUpdate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    value: TargetNumber = Field(ge=0, le=MAX_TARGET_VALUE)


class TargetPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    indicator: str
    period: str
    value: float
    sex: str | None
    kind: str = "target"
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


# A site's state as tablets see it (docs/protocol.md#pull) and as its revisions keep it.
def site_wire(site: Site) -> dict[str, Any]:
    return {
        "id": str(site.id),
        "project_id": str(site.project_id),
        "name": site.name,
        "admin_area": site.admin_area,
        "lat": site.lat,
        "lon": site.lon,
        "status": site.status,
    }
