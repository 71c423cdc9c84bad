"""Routes for people reading and reviewing activities, and closing reporting periods.

Tablets write activities through sync (``/api/v1/sync/push``); here a country officer (of the
activity's country) or an admin approves, returns or reopens them, which tablets then pull.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from server.accounts.deps import REVIEWERS, CurrentCaller
from server.activities import queries, review
from server.activities.queries import (
    ActivityDetail,
    ActivityFilters,
    ActivitySummary,
    RevisionPublic,
)
from server.activities.review import ClosedPeriodCreate, ClosedPeriodPublic, ReviewRequest
from server.api import IsoDate, Page, Text, error_responses
from server.deps import ApiRoute, CodeList, Limit, Offset, ProjectList, SessionDep, rules

activities_router = APIRouter(
    prefix="/activities",
    tags=["activities"],
    responses=error_responses(401, 403, 404, 422),
    route_class=ApiRoute,
)
periods_router = APIRouter(
    prefix="/periods",
    tags=["periods"],
    responses=error_responses(401, 403, 422),
    route_class=ApiRoute,
)


@activities_router.get("", response_model=Page[ActivitySummary])
@rules(queries.filter_rules)
def list_activities(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    country: CodeList = None,
    region: CodeList = None,
    project: ProjectList = None,
    site: uuid.UUID | None = None,
    thematic_area: CodeList = None,
    solution: CodeList = None,
    topic: CodeList = None,
    modality: CodeList = None,
    activity_type: CodeList = None,
    status: CodeList = None,
    date_from: Annotated[IsoDate | None, Query(alias="from", description="Start date ≥")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to", description="Start date ≤")] = None,
    q: Annotated[Text | None, Query(max_length=200, description="Text in title or notes")] = None,
    late: Annotated[bool | None, Query(description="Submitted into a closed period")] = None,
) -> Page[ActivitySummary]:
    """Activities in your scope, newest first (the review queue: ``status=submitted``)."""
    filters = ActivityFilters(
        country=country,
        region=region,
        project=project,
        site=site,
        thematic_area=thematic_area,
        solution=solution,
        topic=topic,
        modality=modality,
        activity_type=activity_type,
        status=status,
        date_from=date_from,
        date_to=date_to,
        q=q,
        late=late,
    )
    queries.check_filters(session, caller=caller, filters=filters)
    items, total = queries.list_activities(
        session, caller=caller, filters=filters, limit=limit, offset=offset
    )
    return Page(items=items, total=total)


@activities_router.get("/{activity_id}", response_model=ActivityDetail)
def get_activity(
    activity_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> ActivityDetail:
    """One activity with its attendance, attachments, data-quality flags and reviews."""
    return queries.activity_detail(session, caller=caller, activity_id=activity_id)


@activities_router.get("/{activity_id}/revisions", response_model=list[RevisionPublic])
def list_revisions(
    activity_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> list[RevisionPublic]:
    """Every version, oldest first, with author, device, time and the fields that changed."""
    return queries.revisions(session, caller=caller, activity_id=activity_id)


@activities_router.post(
    "/{activity_id}/review",
    response_model=ActivityDetail,
    responses=error_responses(409),
    dependencies=[REVIEWERS],
)
def review_activity(
    activity_id: uuid.UUID, body: ReviewRequest, caller: CurrentCaller, session: SessionDep
) -> ActivityDetail:
    """Approve, return (a comment is required) or reopen (approved → submitted)."""
    review.review_activity(
        session, caller=caller, activity_id=activity_id, action=body.action, comment=body.comment
    )
    session.commit()
    return queries.activity_detail(session, caller=caller, activity_id=activity_id)


@periods_router.get("", response_model=Page[ClosedPeriodPublic])
@rules(review.period_list_rules)
def list_periods(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
    country: Annotated[Text | None, Query(max_length=3)] = None,
) -> Page[ClosedPeriodPublic]:
    """Closed quarters of your countries (all for HQ and admins)."""
    rows, total = review.list_periods(
        session, caller=caller, country=country, limit=limit, offset=offset
    )
    return Page(
        items=[ClosedPeriodPublic.model_validate(r, from_attributes=True) for r in rows],
        total=total,
    )


@periods_router.post(
    "/close",
    response_model=ClosedPeriodPublic,
    status_code=201,
    responses=error_responses(409),
    dependencies=[REVIEWERS],
)
@rules(review.close_period_rules)
def close_period(
    body: ClosedPeriodCreate, caller: CurrentCaller, session: SessionDep
) -> ClosedPeriodPublic:
    """Close a quarter for a country: later submissions dated inside it are marked late."""
    closed = review.close_period(session, caller=caller, country=body.country, period=body.period)
    session.commit()
    return ClosedPeriodPublic.model_validate(closed, from_attributes=True)


router = APIRouter()
for _sub in (activities_router, periods_router):
    router.include_router(_sub)
