"""The review workflow: approve, return, reopen; locked activities; closed reporting periods.

Other writers ask here before they change an activity: ``is_locked(activity)`` (an approved
activity refuses field edits until reopened). A submission dated inside a closed quarter is kept
and marked late by the activity kernel (``server.activities.flags``) when it first reached the
server after the closure.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.activities.flags import closed_period_for as closed_period_for
from server.activities.flags import quarter_of as quarter_of
from server.activities.models import Activity, ClosedPeriod, Review
from server.activities.service import write_activity
from server.api import UNKNOWN_KEYS_REFUSED, Text, UtcDateTime
from server.columns import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.projects.models import Project
from server.records import audit
from server.scope import (
    can_manage_country,
    can_read_project,
    can_review,
    country_scope_issue,
    project_scope,
    sees_everything,
)
from shared.catalogue import ActivityStatus, ReviewAction, codes
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES
from shared.indicators import PeriodRefused, request_period


class ReviewRequest(BaseModel):
    model_config = UNKNOWN_KEYS_REFUSED
    action: ReviewAction = Field(description="approve | return | reopen")
    comment: Text = Field(
        default="",
        max_length=2000,
        description="Required to return: what the field expert should fix",
    )


class ClosedPeriodCreate(BaseModel):
    model_config = UNKNOWN_KEYS_REFUSED
    country: Text = Field(max_length=3, description="ISO 3166-1 alpha-3")
    period: Text = Field(max_length=8, description="A quarter, e.g. 2025Q1")


class ClosedPeriodPublic(BaseModel):
    id: uuid.UUID
    country: str
    period: str
    closed_by_id: uuid.UUID
    closed_at: UtcDateTime


MAX_COMMENT = 2000

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    ReviewAction.APPROVE: (
        frozenset({ActivityStatus.SUBMITTED, ActivityStatus.RETURNED}),
        ActivityStatus.APPROVED,
    ),
    ReviewAction.RETURN: (frozenset({ActivityStatus.SUBMITTED}), ActivityStatus.RETURNED),
    ReviewAction.REOPEN: (frozenset({ActivityStatus.APPROVED}), ActivityStatus.SUBMITTED),
}


def checked_review(
    *, noun: str, status: str, deleted: bool, action: str, comment: str
) -> tuple[str, str]:
    """The checks of a review of an activity or an observation (``noun``) that is ``status``:
    the trimmed comment and the status the action leads to; ValidationFailed for an unknown
    action, a return without a comment or a comment too long, Conflict for a deleted record
    or an action its status does not allow."""
    comment = (comment or "").strip()
    errors: list[Issue] = []
    if action not in TRANSITIONS:
        errors.append(
            Issue(
                "action",
                ErrorCode.UNKNOWN_CODE,
                f"unknown action {action!r}; use " + ", ".join(codes(ReviewAction)),
            )
        )
    elif action == ReviewAction.RETURN and not comment:
        errors.append(
            Issue(
                "comment",
                ErrorCode.REQUIRED,
                f"say what to fix: a returned {noun} needs a comment",
            )
        )
    if len(comment) > MAX_COMMENT:
        errors.append(
            Issue(
                "comment",
                ErrorCode.TOO_LONG,
                f"at most {MAX_COMMENT} characters",
                {"high": str(MAX_COMMENT)},
            )
        )
    if errors:
        raise ValidationFailed(errors)
    if deleted:
        raise Conflict(
            f"this {noun} was deleted; there is nothing to review",
            code=ErrorCode.DELETED_ON_SERVER,
        )
    allowed_from, new_status = TRANSITIONS[action]
    if status not in allowed_from:
        raise Conflict(
            f"cannot {action} an {noun} that is {status}; "
            f"{action} applies to " + " or ".join(sorted(allowed_from))
        )
    return comment, new_status


def is_locked(activity: Activity) -> bool:
    """An approved activity takes no field edits until a country officer reopens it."""
    return activity.status == ActivityStatus.APPROVED


def parse_quarter(period: str) -> tuple[int, int]:
    """``"2025Q1"`` -> (2025, 1); ValidationFailed naming ``period`` otherwise: ``bad_period``
    for what is not a quarter, ``date_implausible`` for a year outside 2000–2100 (as a target's
    period: a quarter closed by a typo could never be reopened)."""
    try:
        request_period(period or "", "period", grains=("quarter",))
    except PeriodRefused as exc:
        raise ValidationFailed([exc.issue]) from None
    return int(period[:4]), int(period[-1])


# --- reviewing ------------------------------------------------------------------------------


def review_activity(
    session: Session,
    *,
    caller: Caller,
    activity_id: uuid.UUID,
    action: str,
    comment: str = "",
) -> tuple[Activity, Review]:
    """Approve, return (comment required) or reopen an activity, in the caller's transaction.

    The status change goes through ``write_activity`` (new version, revision, change-log entry)
    so tablets pull the new status and the comment; the review and an audit entry go with it.
    """
    activity, project = _activity_in_scope(session, caller=caller, activity_id=activity_id)
    if not can_review(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may review activities"
        )
    comment, new_status = checked_review(
        noun="activity",
        status=activity.status,
        deleted=activity.deleted,
        action=action,
        comment=comment,
    )
    before_status = activity.status
    write_activity(
        session,
        data={},
        existing=activity,
        source="review",
        author_id=caller.user.id,
        status=new_status,
        caller=caller,
    )
    review = Review(
        activity_id=activity.id, action=action, comment=comment, author_id=caller.user.id
    )
    session.add(review)
    session.flush()
    audit.record(
        session,
        action=action,
        entity="activity",
        entity_id=activity.id,
        actor_id=caller.user.id,
        country=project.country,
        before={"status": before_status},
        after={"status": new_status, "comment": comment, "version": activity.version},
    )
    return activity, review


def _activity_in_scope(
    session: Session, *, caller: Caller, activity_id: uuid.UUID
) -> tuple[Activity, Project]:
    row = session.exec(
        select(Activity, Project)
        .join(Project, col(Project.id) == Activity.project_id)
        .where(Activity.id == activity_id)
    ).one_or_none()
    if row is None or not can_read_project(caller, row[1]):
        raise NotFound("no such activity")
    return row[0], row[1]


# --- closing periods ------------------------------------------------------------------------


def _period_problems(*, country: str, period: str) -> list[Issue]:
    errors: list[Issue] = []
    if country not in COUNTRIES:
        errors.append(
            Issue(
                "country",
                ErrorCode.UNKNOWN_CODE,
                f"unknown country {country!r}; use ISO 3166-1 alpha-3",
            )
        )
    try:
        _, last = request_period(period, "period", grains=("quarter",))
    except PeriodRefused as exc:
        errors.append(exc.issue)
    else:
        # Only an ended quarter: activities dated in it may still arrive on time until its
        # last day (in UTC, the dashboard's days), and a closed quarter stays closed.
        if last >= utcnow().date():
            errors.append(
                Issue(
                    "period",
                    ErrorCode.IN_FUTURE,
                    f"{period} has not ended yet: a quarter is closed once it is over",
                )
            )
    return errors


def close_period_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /periods/close``'s rule checks (server.deps.rules): those of ``close_period``."""
    return _period_problems(
        country=str(data.get("country") or "").strip().upper(), period=str(data.get("period") or "")
    )


def close_period(session: Session, *, caller: Caller, country: str, period: str) -> ClosedPeriod:
    """Close a quarter of a country: later submissions dated inside it are marked late."""
    country = (country or "").strip().upper()
    errors = _period_problems(country=country, period=period)
    if errors:  # every problem at once
        raise ValidationFailed(errors)
    if not can_manage_country(caller, country):
        raise Forbidden(
            f"only a country officer of {country} or an admin may close its periods",
            code=ErrorCode.OUT_OF_SCOPE,
        )
    existing = session.exec(
        select(ClosedPeriod).where(ClosedPeriod.country == country, ClosedPeriod.period == period)
    ).one_or_none()
    if existing is not None:
        raise Conflict(f"{period} is already closed for {country}", code=ErrorCode.ALREADY_EXISTS)
    closed = ClosedPeriod(country=country, period=period, closed_by_id=caller.user.id)
    session.add(closed)
    session.flush()
    audit.record(
        session,
        action="close",
        entity="period",
        entity_id=closed.id,
        actor_id=caller.user.id,
        country=country,
        after={"country": country, "period": period},
    )
    return closed


def period_list_issues(
    session: Session, *, caller: Caller | None, country: str | None
) -> list[Issue]:
    """The closed quarters' filter: a country the catalogue does not know, or one outside the
    caller's scope, is a bad query (docs/errors.md), not an empty list."""
    if not country:
        return []
    code = country.strip().upper()
    if code not in COUNTRIES:
        return [Issue("country", ErrorCode.UNKNOWN_CODE, f"unknown country {country!r}")]
    outside = country_scope_issue(session, caller=caller, countries=[code])
    return [outside] if outside is not None else []


def period_list_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``GET /periods``'s filter check, beside FastAPI's limits (``server.deps.rules``)."""
    country = data.get("country")
    return period_list_issues(
        session, caller=caller, country=country if isinstance(country, str) else None
    )


def list_periods(
    session: Session,
    *,
    caller: Caller,
    country: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ClosedPeriod], int]:
    """Closed quarters: all for HQ and admins, those of the caller's countries for others."""
    if problems := period_list_issues(session, caller=caller, country=country):
        raise ValidationFailed(problems, status_code=400)  # a bad query, as every list's
    conditions: list[ColumnElement[bool]] = []
    if not sees_everything(caller):
        # A country officer's countries; a field expert's, those of its projects.
        theirs = select(col(Project.country)).where(project_scope(caller))
        conditions.append(
            or_(
                col(ClosedPeriod.country).in_(sorted(caller.countries)),
                col(ClosedPeriod.country).in_(theirs),
            )
        )
    if country:
        conditions.append(col(ClosedPeriod.country) == country.strip().upper())
    total = session.exec(select(func.count()).select_from(ClosedPeriod).where(*conditions)).one()
    rows = session.exec(
        select(ClosedPeriod)
        .where(*conditions)
        .order_by(col(ClosedPeriod.country), col(ClosedPeriod.period).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def last_reviews(session: Session, *, activity_ids: list[uuid.UUID]) -> dict[uuid.UUID, Review]:
    """The latest review of each activity that has one (e.g. for pull: status and comment)."""
    found: dict[uuid.UUID, Review] = {}
    if not activity_ids:
        return found
    for review in session.exec(
        select(Review)
        .where(col(Review.activity_id).in_(activity_ids))
        .order_by(col(Review.created_at), col(Review.id))
    ):
        found[review.activity_id] = review
    return found
