"""Routes for people reading and reviewing observations (docs/results.md#observations).

Tablets write observations through sync (``/api/v1/sync/push``); here everyone in scope reads
them, and a country officer (of the observation's country) or an admin approves, returns or
reopens them, which tablets then pull.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from server.accounts.deps import REVIEWERS, CurrentCaller
from server.activities.queries import RevisionPublic
from server.api import IsoDate, Page, Text, error_responses
from server.deps import ApiRoute, CodeList, Limit, Offset, ProjectList, SessionDep, rules
from server.results import observation_queries as queries
from server.results.observation_queries import (
    ObservationDetail,
    ObservationFilters,
    ObservationSummary,
)
from server.results.observations import ReviewRequest, review_observation

router = APIRouter(
    prefix="/observations",
    tags=["observations"],
    responses=error_responses(401, 403, 404, 422),
    route_class=ApiRoute,
)


@router.get("", response_model=Page[ObservationSummary])
@rules(queries.filter_rules)
def list_observations(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    country: CodeList = None,
    region: CodeList = None,
    project: ProjectList = None,
    thematic_area: CodeList = None,
    form: Annotated[
        Text | None, Query(max_length=500, description="Form codes, comma list")
    ] = None,
    status: CodeList = None,
    site: uuid.UUID | None = None,
    date_from: Annotated[IsoDate | None, Query(alias="from", description="Observed on ≥")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to", description="Observed on ≤")] = None,
) -> Page[ObservationSummary]:
    """Observations in your scope, newest first (the review queue: ``status=submitted``)."""
    filters = ObservationFilters(
        country=country,
        region=region,
        project=project,
        thematic_area=thematic_area,
        form=form,
        status=status,
        site=site,
        date_from=date_from,
        date_to=date_to,
    )
    queries.check_filters(session, caller=caller, filters=filters)
    items, total = queries.list_observations(
        session, caller=caller, filters=filters, limit=limit, offset=offset
    )
    return Page(items=items, total=total)


@router.get("/{observation_id}", response_model=ObservationDetail)
def get_observation(
    observation_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> ObservationDetail:
    """One observation with its values, attachments, data-quality flags and reviews."""
    return queries.observation_detail(session, caller=caller, observation_id=observation_id)


@router.get("/{observation_id}/revisions", response_model=list[RevisionPublic])
def list_revisions(
    observation_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> list[RevisionPublic]:
    """Every version, oldest first, with author, device, time and the fields that changed
    (each answer as ``values.<name>``)."""
    return queries.revisions(session, caller=caller, observation_id=observation_id)


@router.post(
    "/{observation_id}/review",
    response_model=ObservationDetail,
    responses=error_responses(409),
    dependencies=[REVIEWERS],
)
def review(
    observation_id: uuid.UUID, body: ReviewRequest, caller: CurrentCaller, session: SessionDep
) -> ObservationDetail:
    """Approve, return (a comment is required) or reopen (approved → submitted)."""
    review_observation(
        session,
        caller=caller,
        observation_id=observation_id,
        action=body.action,
        comment=body.comment,
    )
    session.commit()
    return queries.observation_detail(session, caller=caller, observation_id=observation_id)
