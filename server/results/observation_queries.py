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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from pydantic import BaseModel
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.activities.models import Attachment
from server.activities.queries import (
    AttachmentPublic,
    FieldChange,
    FlagPublic,
    Issues,
    Joined,
    LocationPublic,
    ReviewPublic,
    RevisionPublic,
    _listed,
    date_conditions,
    fields_changed,
    param_day,
    param_text,
    place_conditions,
    record_public,
    refuse_issues,
    revisions_public,
    with_scope_issues,
)
from server.api import UtcDateTime
from server.projects.models import Project
from server.records.models import RecordRevision
from server.records.revisions import first_revision
from server.results.forms import form_scope
from server.results.models import Form, Observation, ObservationReview
from server.results.observations import ENTITY, observation_wire
from server.scope import in_visible_project
from shared.catalogue import THEMATIC_AREAS, ActivityStatus, codes
from shared.errors import ErrorCode, Issue


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


_WITH_PROJECT_AND_FORM = Joined(
    Observation,
    (
        (Project, col(Project.id) == Observation.project_id),
        (Form, col(Form.id) == Observation.form_id),
    ),
)


def filter_conditions(
    filters: ObservationFilters, issues: Issues = None
) -> list[ColumnElement[bool]]:
    """WHERE clauses over Observation joined with Project and Form (scope not included). A bad
    filter is raised, or added to ``issues`` when they are collected."""
    f = filters
    found: list[ColumnElement[bool]] = [
        col(Observation.deleted).is_(False),
        *place_conditions(f.country, f.region, f.project, issues),
    ]
    if areas := _listed("thematic_area", f.thematic_area, THEMATIC_AREAS, str.upper, issues):
        found.append(col(Project.thematic_area).in_(areas))
    if forms := [c.upper() for c in _listed("form", f.form)]:
        found.append(col(Form.code).in_(forms))
    if statuses := _listed("status", f.status, codes(ActivityStatus), str.lower, issues):
        found.append(col(Observation.status).in_(statuses))
    if f.site is not None:
        found.append(col(Observation.site_id) == f.site)
    found.extend(date_conditions(col(Observation.observed_on), f.date_from, f.date_to, issues))
    return found


def filter_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """The filters' rule checks on the query parameters within their limits, for one answer
    with those FastAPI refused (``server.deps.rules``; as the activity list's)."""
    if caller is None:
        return []
    text = partial(param_text, data)
    filters = ObservationFilters(
        country=text("country"),
        region=text("region"),
        project=text("project"),
        thematic_area=text("thematic_area"),
        form=text("form"),
        status=text("status"),
        date_from=param_day(data, "from"),
        date_to=param_day(data, "to"),
    )
    return filter_issues(session, caller=caller, filters=filters)


def check_filters(session: Session, *, caller: Caller, filters: ObservationFilters) -> None:
    """One 400 naming every bad filter (as the activity list's)."""
    refuse_issues(filter_issues(session, caller=caller, filters=filters))


def filter_issues(session: Session, *, caller: Caller, filters: ObservationFilters) -> list[Issue]:
    """Every problem of the filters: unknown codes, dates out of order, a country or project
    outside the caller's scope."""
    issues: list[Issue] = []
    filter_conditions(filters, issues)
    issues.extend(_unknown_forms(session, caller, filters.form))
    return with_scope_issues(
        session, caller=caller, issues=issues, country=filters.country, project=filters.project
    )


def _unknown_forms(session: Session, caller: Caller, form: str | None) -> list[Issue]:
    """Form codes no form the caller may read has (another country's project form among
    them): an empty list would read as "nothing observed with it", as the export refuses it."""
    wanted = sorted({c.upper() for c in _listed("form", form)})
    if not wanted:
        return []
    known = set(
        session.execute(
            select(col(Form.code)).where(col(Form.code).in_(wanted), form_scope(caller))
        ).scalars()
    )
    unknown = [c for c in wanted if c not in known]
    if not unknown:
        return []
    message = "unknown form " + ", ".join(repr(c) for c in unknown)
    return [Issue("form", ErrorCode.UNKNOWN_CODE, message)]


def list_observations(
    session: Session,
    *,
    caller: Caller,
    filters: ObservationFilters,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ObservationSummary], int]:
    """One page of the observations in the caller's scope, newest first, and the total."""
    rows, total = _WITH_PROJECT_AND_FORM.page(
        session,
        (Observation, Project.code, Project.country, Form.code),
        [in_visible_project(Observation.project_id, caller), *filter_conditions(filters)],
        (col(Observation.observed_on).desc(), col(Observation.id)),
        limit=limit,
        offset=offset,
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
    return items, total


def get_observation(
    session: Session, *, caller: Caller, observation_id: uuid.UUID
) -> tuple[Observation, Project, Form]:
    row = _WITH_PROJECT_AND_FORM.one(
        session,
        (Observation, Project, Form),
        (col(Observation.id) == observation_id, in_visible_project(Observation.project_id, caller)),
        missing="no such observation",
    )
    return row[0], row[1], row[2]


def observation_detail(
    session: Session, *, caller: Caller, observation_id: uuid.UUID
) -> ObservationDetail:
    """The observation with its attachments, flags and reviews."""
    observation, project, form = get_observation(
        session, caller=caller, observation_id=observation_id
    )
    return ObservationDetail.model_validate(
        {
            **observation_wire(observation),
            **record_public(
                session,
                observation,
                project,
                photos=col(Attachment.observation_id),
                reviews=col(ObservationReview.observation_id),
            ),
            "form_code": form.code,
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
    changes = fields_changed(DIFF_FIELDS, before, after)
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
    """Every version of the observation, oldest first, each with what changed (version 1
    from the observation's row while no later version has superseded it)."""
    observation, _, _ = get_observation(session, caller=caller, observation_id=observation_id)
    return revisions_public(
        session,
        RecordRevision,
        (col(RecordRevision.entity) == ENTITY, col(RecordRevision.entity_id) == observation_id),
        field_changes,
        first=first_revision(observation, entity=ENTITY, wire=observation_wire),
    )
