"""Reading observations for people: the filtered, scoped, paginated list, one observation in
full, and its history version by version (docs/results.md#observations).

Every query adds the caller's scope (``server.scope.in_visible_project``) in SQL; an observation
outside it is NotFound. Filters: ``country region project thematic_area from to`` of
docs/indicators.md#filters (``from``/``to`` on ``observed_on``; the thematic area is the
project's), plus ``form`` (form codes), ``status`` and ``site``. A code filter takes a comma
list; an unknown code is a 422 naming the filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.models import User
from server.activities.models import Attachment
from server.activities.queries import (
    AttachmentPublic,
    FieldChange,
    FlagPublic,
    LocationPublic,
    ReviewPublic,
    RevisionPublic,
    _flag,
    _listed,
    _usernames,
    _uuid_or_none,
    attachment_public,
    review_public,
    revisions_public,
)
from server.api import UtcDateTime
from server.errors import NotFound, invalid
from server.projects.models import Project
from server.records.models import RecordRevision
from server.results.models import Form, Observation, ObservationReview
from server.results.observations import ENTITY, observation_wire
from server.scope import in_visible_project
from shared.catalogue import THEMATIC_AREAS, ActivityStatus, codes
from shared.errors import ErrorCode
from shared.geography import COUNTRIES, REGIONS


class ObservationSummary(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    country: str
    site_id: uuid.UUID | None
    activity_id: uuid.UUID | None
    form_id: uuid.UUID
    form_code: str
    form_version: int
    observed_on: date
    values: dict[str, Any]
    status: str
    version: int
    flags: int
    created_by_id: uuid.UUID | None
    updated_at: UtcDateTime


class ObservationDetail(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    country: str
    site_id: uuid.UUID | None
    activity_id: uuid.UUID | None
    form_id: uuid.UUID
    form_code: str
    form_version: int
    observed_on: date
    values: dict[str, Any]
    location: LocationPublic | None
    notes: str
    status: str
    captured_at: UtcDateTime | None
    version: int
    deleted: bool
    flags: list[FlagPublic]
    created_by_id: uuid.UUID | None
    created_by: str | None
    device_id: uuid.UUID | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    attachments: list[AttachmentPublic]
    reviews: list[ReviewPublic]


@dataclass(frozen=True, slots=True)
class ObservationFilters:
    country: str | None = None
    region: str | None = None
    project: str | None = None
    thematic_area: str | None = None
    form: str | None = None
    status: str | None = None
    site: uuid.UUID | None = None
    date_from: date | None = None
    date_to: date | None = None


def filter_conditions(filters: ObservationFilters) -> list[ColumnElement[bool]]:
    """WHERE clauses over Observation joined with Project and Form (scope not included)."""
    f = filters
    found: list[ColumnElement[bool]] = [col(Observation.deleted).is_(False)]
    if countries := [c.upper() for c in _listed("country", f.country)]:
        unknown = [c for c in countries if c not in COUNTRIES]
        if unknown:
            raise invalid(
                "country",
                ErrorCode.UNKNOWN_CODE,
                "unknown country " + ", ".join(unknown) + "; use ISO 3166-1 alpha-3",
            )
        found.append(col(Project.country).in_(countries))
    if regions := _listed("region", f.region, REGIONS):
        found.append(col(Project.country).in_([c for r in regions for c in REGIONS[r].countries]))
    if projects := _listed("project", f.project):
        ids = [_uuid_or_none(p) for p in projects]
        found.append(
            or_(
                col(Project.code).in_(projects),
                col(Project.id).in_([i for i in ids if i is not None]),
            )
        )
    if areas := _listed("thematic_area", f.thematic_area, THEMATIC_AREAS):
        found.append(col(Project.thematic_area).in_(areas))
    if forms := [c.upper() for c in _listed("form", f.form)]:
        found.append(col(Form.code).in_(forms))
    if statuses := _listed("status", f.status, codes(ActivityStatus)):
        found.append(col(Observation.status).in_(statuses))
    if f.site is not None:
        found.append(col(Observation.site_id) == f.site)
    if f.date_from is not None and f.date_to is not None and f.date_from > f.date_to:
        raise invalid("to", ErrorCode.END_BEFORE_START, "must not be before 'from'")
    if f.date_from is not None:
        found.append(col(Observation.observed_on) >= f.date_from)
    if f.date_to is not None:
        found.append(col(Observation.observed_on) <= f.date_to)
    return found


def list_observations(
    session: Session,
    *,
    caller: Caller,
    filters: ObservationFilters,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ObservationSummary], int]:
    """One page of the observations in the caller's scope, newest first, and the total."""
    where = [in_visible_project(Observation.project_id, caller), *filter_conditions(filters)]
    total = session.exec(
        select(func.count())
        .select_from(Observation)
        .join(Project, col(Project.id) == Observation.project_id)
        .join(Form, col(Form.id) == Observation.form_id)
        .where(*where)
    ).one()
    rows = session.exec(
        select(Observation, Project.code, Project.country, Form.code)
        .join(Project, col(Project.id) == Observation.project_id)
        .join(Form, col(Form.id) == Observation.form_id)
        .where(*where)
        .order_by(col(Observation.observed_on).desc(), col(Observation.id))
        .limit(limit)
        .offset(offset)
    )
    items = [
        ObservationSummary(
            id=o.id,
            project_id=o.project_id,
            project_code=project_code,
            country=country,
            site_id=o.site_id,
            activity_id=o.activity_id,
            form_id=o.form_id,
            form_code=form_code,
            form_version=o.form_version,
            observed_on=o.observed_on,
            values=dict(o.values or {}),
            status=o.status,
            version=o.version,
            flags=len(o.flags or []),
            created_by_id=o.created_by_id,
            updated_at=o.updated_at,
        )
        for o, project_code, country, form_code in rows
    ]
    return items, int(total)


def get_observation(
    session: Session, *, caller: Caller, observation_id: uuid.UUID
) -> tuple[Observation, Project, Form]:
    row = session.exec(
        select(Observation, Project, Form)
        .join(Project, col(Project.id) == Observation.project_id)
        .join(Form, col(Form.id) == Observation.form_id)
        .where(
            Observation.id == observation_id,
            in_visible_project(Observation.project_id, caller),
        )
    ).one_or_none()
    if row is None:
        raise NotFound("no such observation")
    return row[0], row[1], row[2]


def observation_detail(
    session: Session, *, caller: Caller, observation_id: uuid.UUID
) -> ObservationDetail:
    """The observation with its attachments, flags and reviews."""
    observation, project, form = get_observation(
        session, caller=caller, observation_id=observation_id
    )
    attachments = session.exec(
        select(Attachment)
        .where(Attachment.observation_id == observation.id, col(Attachment.deleted).is_(False))
        .order_by(col(Attachment.created_at), col(Attachment.id))
    )
    reviews = session.exec(
        select(ObservationReview, User.username)
        .join(User, col(User.id) == ObservationReview.author_id)
        .where(ObservationReview.observation_id == observation.id)
        .order_by(col(ObservationReview.created_at), col(ObservationReview.id))
    )
    names = _usernames(session, [observation.created_by_id])
    wire = observation_wire(observation)
    return ObservationDetail.model_validate(
        {
            **wire,
            "project_code": project.code,
            "country": project.country,
            "form_code": form.code,
            "version": observation.version,
            "flags": [_flag(f) for f in observation.flags or []],
            "created_by_id": observation.created_by_id,
            "created_by": names.get(observation.created_by_id)
            if observation.created_by_id
            else None,
            "device_id": observation.device_id,
            "created_at": observation.created_at,
            "updated_at": observation.updated_at,
            "attachments": [attachment_public(a) for a in attachments],
            "reviews": [review_public(r, username) for r, username in reviews],
        }
    )


# Fields shown in a revision's diff, in wire order; each answer is one field (values.<name>).
DIFF_FIELDS: tuple[str, ...] = (
    "site_id",
    "activity_id",
    "form_id",
    "form_version",
    "observed_on",
    "location",
    "notes",
    "status",
    "captured_at",
    "deleted",
)


def field_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldChange]:
    """What differs between two stored versions (all set fields for the first version)."""
    changes = []
    for field in DIFF_FIELDS:
        old = before.get(field) if before is not None else None
        new = after.get(field)
        if before is None and new in (None, "", [], False):
            continue
        if old != new:
            changes.append(FieldChange(field=field, before=old, after=new))
    old_values = (before or {}).get("values") or {}
    new_values = after.get("values") or {}
    for name in dict.fromkeys([*old_values, *new_values]):
        if old_values.get(name) != new_values.get(name):
            changes.append(
                FieldChange(
                    field=f"values.{name}", before=old_values.get(name), after=new_values.get(name)
                )
            )
    return changes


def revisions(
    session: Session, *, caller: Caller, observation_id: uuid.UUID
) -> list[RevisionPublic]:
    """Every version of the observation, oldest first, each with what changed."""
    get_observation(session, caller=caller, observation_id=observation_id)
    rows: Sequence[RecordRevision] = list(
        session.exec(
            select(RecordRevision)
            .where(
                RecordRevision.entity == ENTITY,
                RecordRevision.entity_id == observation_id,
            )
            .order_by(col(RecordRevision.version))
        )
    )
    return revisions_public(session, rows, field_changes)
