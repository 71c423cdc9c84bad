"""Routes for projects, sites and targets (docs/protocol.md#management-api), scoped by role
(docs/roles.md).

Sites found in the field arrive ``pending``; a country officer approves or rejects one with
``PATCH /api/v1/sites/{id}`` ``{"status": "approved" | "rejected"}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.deps import CurrentCaller, require_roles
from server.api import Page, Text, error_responses
from server.deps import ApiRoute, SessionDep, rules
from server.errors import ValidationFailed
from server.projects import service
from server.projects.models import (
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
    SiteCreate,
    SitePublic,
    SiteStatus,
    SiteUpdate,
    TargetCreate,
    TargetPublic,
    TargetUpdate,
)
from server.results.indicators import result_indicators
from shared.catalogue import Role
from shared.errors import Issue

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
_ERRORS = error_responses(401, 403, 404, 422)
# A role that may not use a write route is refused (403) before its body is judged
# (docs/errors.md#body-shapes); the service still checks the record's country and project.
_MANAGERS = Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER))
_SITE_FINDERS = Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER, Role.FIELD_EXPERT))

projects_router = APIRouter(
    prefix="/projects", tags=["projects"], responses=_ERRORS, route_class=ApiRoute
)
sites_router = APIRouter(prefix="/sites", tags=["sites"], responses=_ERRORS, route_class=ApiRoute)
targets_router = APIRouter(
    prefix="/targets", tags=["targets"], responses=_ERRORS, route_class=ApiRoute
)


@projects_router.get("", response_model=Page[ProjectPublic])
@rules(service.project_list_rules)
def list_projects(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    country: Annotated[Text | None, Query(max_length=3)] = None,
    region: Annotated[Text | None, Query(max_length=3)] = None,
    kind: Annotated[Text | None, Query(max_length=8)] = None,
    thematic_area: Annotated[Text | None, Query(max_length=8)] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Part of code or name")] = None,
) -> Page[ProjectPublic]:
    """Projects in your scope."""
    projects, total = service.list_projects(
        session,
        caller=caller,
        country=country,
        region=region,
        kind=kind,
        thematic_area=thematic_area,
        q=q,
        limit=limit,
        offset=offset,
    )
    return Page(items=[service.project_public(p) for p in projects], total=total)


@projects_router.post(
    "",
    response_model=ProjectPublic,
    status_code=201,
    responses=error_responses(409),
    dependencies=[_MANAGERS],
)
@rules(service.new_project_rules)
def create_project(
    body: ProjectCreate, caller: CurrentCaller, session: SessionDep
) -> ProjectPublic:
    project = service.create_project(session, caller=caller, data=body.model_dump())
    session.commit()
    return service.project_public(project)


@projects_router.get("/{project_id}", response_model=ProjectPublic)
def get_project(project_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> ProjectPublic:
    return service.project_public(
        service.get_project(session, caller=caller, project_id=project_id)
    )


@projects_router.patch(
    "/{project_id}",
    response_model=ProjectPublic,
    responses=error_responses(409),
    dependencies=[_MANAGERS],
)
@rules(service.project_change_rules)
def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, caller: CurrentCaller, session: SessionDep
) -> ProjectPublic:
    project = service.update_project(
        session, caller=caller, project_id=project_id, changes=body.model_dump(exclude_unset=True)
    )
    session.commit()
    return service.project_public(project)


@sites_router.get("", response_model=Page[SitePublic])
def list_sites(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    project_id: uuid.UUID | None = None,
    status: SiteStatus | None = None,
) -> Page[SitePublic]:
    """Sites of the projects in your scope; ``status=pending`` lists those awaiting approval."""
    sites, total = service.list_sites(
        session, caller=caller, project_id=project_id, status=status, limit=limit, offset=offset
    )
    return Page(
        items=[SitePublic.model_validate(s, from_attributes=True) for s in sites], total=total
    )


@sites_router.post(
    "",
    response_model=SitePublic,
    status_code=201,
    dependencies=[_SITE_FINDERS],
    responses=error_responses(409),
)
@rules(service.new_site_rules)
def create_site(body: SiteCreate, caller: CurrentCaller, session: SessionDep) -> SitePublic:
    """A country officer's site is approved at once; a field expert's waits for approval. A
    name the project's live sites already have (but for case and spaces) is refused: 409
    ``already_exists`` on ``name``."""
    site = service.create_site(session, caller=caller, data=body.model_dump())
    session.commit()
    return SitePublic.model_validate(site, from_attributes=True)


@sites_router.get("/{site_id}", response_model=SitePublic)
def get_site(site_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> SitePublic:
    return SitePublic.model_validate(
        service.get_site(session, caller=caller, site_id=site_id), from_attributes=True
    )


@sites_router.patch(
    "/{site_id}",
    response_model=SitePublic,
    dependencies=[_MANAGERS],
    responses=error_responses(409),
)
@rules(service.site_change_rules)
def update_site(
    site_id: uuid.UUID, body: SiteUpdate, caller: CurrentCaller, session: SessionDep
) -> SitePublic:
    """Edit a site, or approve / reject a pending one with ``status``."""
    site = service.update_site(
        session, caller=caller, site_id=site_id, changes=body.model_dump(exclude_unset=True)
    )
    session.commit()
    return SitePublic.model_validate(site, from_attributes=True)


def _new_target_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /targets``'s rule checks (server.deps.rules), with the published result codes."""
    return service.new_target_rules(
        session, caller=caller, data=data, results=result_indicators(session, caller)
    )


def _target_list_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``GET /targets``'s filter checks (server.deps.rules), with the result indicators the
    caller may name."""
    return service.target_list_rules(
        session, caller=caller, data=data, path=path, results=result_indicators(session, caller)
    )


@targets_router.get("", response_model=Page[TargetPublic])
@rules(_target_list_rules)
def list_targets(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    project_id: uuid.UUID | None = None,
    indicator: Annotated[Text | None, Query(max_length=64)] = None,
    period: Annotated[Text | None, Query(max_length=8)] = None,
) -> Page[TargetPublic]:
    results = result_indicators(session, caller)
    held = service.held_indicator_codes(session, caller, indicator)
    if problems := service.target_list_issues(period, indicator, results, held):
        raise ValidationFailed(problems, status_code=400)  # a bad query, as every list's
    targets, total = service.list_targets(
        session,
        caller=caller,
        project_id=project_id,
        indicator=indicator,
        period=period,
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[TargetPublic.model_validate(t, from_attributes=True) for t in targets], total=total
    )


@targets_router.post(
    "",
    response_model=TargetPublic,
    status_code=201,
    responses=error_responses(409),
    dependencies=[_MANAGERS],
)
@rules(_new_target_rules)
def create_target(body: TargetCreate, caller: CurrentCaller, session: SessionDep) -> TargetPublic:
    target = service.create_target(
        session, caller=caller, data=body.model_dump(), results=result_indicators(session, caller)
    )
    session.commit()
    return TargetPublic.model_validate(target, from_attributes=True)


@targets_router.get("/{target_id}", response_model=TargetPublic)
def get_target(target_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> TargetPublic:
    return TargetPublic.model_validate(
        service.get_target(session, caller=caller, target_id=target_id), from_attributes=True
    )


@targets_router.patch("/{target_id}", response_model=TargetPublic, dependencies=[_MANAGERS])
def update_target(
    target_id: uuid.UUID, body: TargetUpdate, caller: CurrentCaller, session: SessionDep
) -> TargetPublic:
    target = service.update_target(
        session,
        caller=caller,
        target_id=target_id,
        value=body.value,
        results=result_indicators(session, caller),
    )
    session.commit()
    return TargetPublic.model_validate(target, from_attributes=True)


@targets_router.delete("/{target_id}", status_code=204, dependencies=[_MANAGERS])
def delete_target(target_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> None:
    """Remove a target or baseline (a mistyped one): its key is free again; tablets receive
    its removal at their next pull."""
    service.delete_target(session, caller=caller, target_id=target_id)
    session.commit()


router = APIRouter()
for _sub in (projects_router, sites_router, targets_router):
    router.include_router(_sub)
