"""Reading activities for people: the filtered, scoped, paginated list, one activity in full,
and its history version by version with what changed.

Every query adds ``activity_scope(caller)``; an activity outside it is NotFound. Filters take
the names of docs/indicators.md (``country, region, project, thematic_area, solution, topic,
modality,
activity_type, status, from, to``) plus ``site``, ``q`` (text in title or notes) and ``late``.
Code filters accept a comma list. ``check_filters`` answers a 400 naming every bad filter at
once (an unknown code, dates out of order, a country or project outside the scope), as the
indicator values do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from server.accounts.auth import Caller
from server.accounts.models import User
from server.activities.models import (
    Activity,
    ActivityBase,
    ActivityRevision,
    Attachment,
    AttendanceRow,
    Review,
)
from server.activities.service import WIRE_FIELDS, first_revision, load_wire
from server.api import UtcDateTime, like_contains
from server.errors import NotFound, ValidationFailed
from server.projects.models import Project
from server.scope import activity_scope, country_scope_issue, find_projects
from shared.catalogue import (
    SOLUTIONS,
    THEMATIC_AREAS,
    TOPICS,
    ActivityStatus,
    ActivityType,
    Modality,
    codes,
)
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES, REGIONS

# --- API shapes --------------------------------------------------------------------------------


class AttendanceRowPublic(BaseModel):
    sex: str
    age_band: str
    category: str
    disability: bool
    count: int


class LocationPublic(BaseModel):
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None


class FlagPublic(BaseModel):
    code: str
    field: str = ""
    message: str = ""
    # the values the message was written with, by name, as text (docs/errors.md)
    params: dict[str, str] = {}


class ActivitySummary(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    country: str
    site_id: uuid.UUID | None
    type: str
    title: str
    start_date: date
    end_date: date
    topic: str | None
    modality: str | None
    level: str | None
    delivery: str
    status: str
    version: int
    late: bool
    participants: int
    flags: int
    created_by_id: uuid.UUID | None
    submitted_at: UtcDateTime | None
    updated_at: UtcDateTime


class AttachmentPublic(BaseModel):
    id: uuid.UUID
    sha256: str
    size: int
    content_type: str
    caption: str
    complete: bool
    url: str


class ReviewPublic(BaseModel):
    id: uuid.UUID
    action: str
    comment: str
    author_id: uuid.UUID
    author: str
    created_at: UtcDateTime


class ActivityDetail(ActivityBase):
    """The activity's shape (every field of ``ActivityBase``, so a new field shows here
    without touching this class), with its attendance and what the server keeps beside it."""

    project_code: str
    country: str
    location: LocationPublic | None = None  # type: ignore[assignment]
    attendance: list[AttendanceRowPublic]
    captured_at: UtcDateTime | None = None
    version: int
    late: bool
    deleted: bool
    flags: list[FlagPublic]
    created_by_id: uuid.UUID | None
    created_by: str | None
    device_id: uuid.UUID | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    submitted_at: UtcDateTime | None
    attachments: list[AttachmentPublic]
    reviews: list[ReviewPublic]


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class RevisionPublic(BaseModel):
    version: int
    source: str
    author_id: uuid.UUID | None
    author: str | None
    device_id: uuid.UUID | None
    created_at: UtcDateTime
    changes: list[FieldChange]
    data: dict[str, Any]


# --- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityFilters:
    """Filters as they arrive (strings, comma lists allowed); ``conditions`` checks them."""

    country: str | None = None
    region: str | None = None
    project: str | None = None
    site: uuid.UUID | None = None
    thematic_area: str | None = None
    solution: str | None = None
    topic: str | None = None
    modality: str | None = None
    activity_type: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    late: bool | None = None
    include_deleted: bool = False


# A filter's problem goes to ``issues`` when the caller collects them (``filter_issues``: every
# problem at once), else it is raised alone; either way the answer is a 400, as for every bad
# query parameter (docs/errors.md#statuses).
Issues = list[Issue] | None


def _problem(issues: Issues, issue: Issue) -> None:
    if issues is None:
        raise ValidationFailed([issue], status_code=400)
    issues.append(issue)


def _listed(
    field: str,
    value: str | None,
    allowed: Iterable[str] | None = None,
    case: Callable[[str], str] | None = None,
    issues: Issues = None,
) -> list[str]:
    """A comma list; ``case`` writes each code as the catalogue does (``str.upper`` for
    ``rbj``), so codes may be written in any case, as in the indicator values. A list with an
    unknown code is a problem and filters nothing."""
    if value is None:
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    if case is not None:
        items = [case(v) for v in items]
    if allowed is not None:
        known = set(allowed)
        unknown = [v for v in items if v not in known]
        if unknown:
            message = f"unknown {field} " + ", ".join(repr(u) for u in unknown)
            _problem(issues, Issue(field, ErrorCode.UNKNOWN_CODE, message))
            return []
    return items


def place_conditions(
    country: str | None, region: str | None, project: str | None, issues: Issues = None
) -> list[ColumnElement[bool]]:
    """The ``country``, ``region`` and ``project`` filters (comma lists; a project by id or code)
    over Project, which an activity's and an observation's list take alike."""
    found: list[ColumnElement[bool]] = []
    if countries := _listed("country", country, case=str.upper):
        unknown = [c for c in countries if c not in COUNTRIES]
        if unknown:
            message = "unknown country " + ", ".join(unknown) + "; use ISO 3166-1 alpha-3"
            _problem(issues, Issue("country", ErrorCode.UNKNOWN_CODE, message))
        else:
            found.append(col(Project.country).in_(countries))
    if regions := _listed("region", region, REGIONS, str.upper, issues):
        found.append(col(Project.country).in_([c for r in regions for c in REGIONS[r].countries]))
    if projects := _listed("project", project):
        ids = [_uuid_or_none(p) for p in projects]
        found.append(
            or_(
                col(Project.code).in_(projects),
                col(Project.id).in_([i for i in ids if i is not None]),
            )
        )
    return found


def scope_issues(
    session: Session, *, caller: Caller, country: str | None, project: str | None
) -> list[Issue]:
    """A country or project filter the caller cannot see is refused (``out_of_scope``), as the
    indicator values refuse it (docs/indicators.md): an empty list would read as "nothing
    happened there"."""
    countries = _listed("country", country, case=str.upper)
    found = (
        country_scope_issue(session, caller=caller, countries=countries),
        find_projects(session, caller=caller, values=_listed("project", project))[1],
    )
    return [issue for issue in found if issue is not None]


def with_scope_issues(
    session: Session,
    *,
    caller: Caller,
    issues: list[Issue],
    country: str | None,
    project: str | None,
) -> list[Issue]:
    """A list's filter problems (``issues``) and, after them, its country or project outside
    the caller's scope, unless that filter was refused already (an unknown code)."""
    refused = {issue.field for issue in issues}
    found = scope_issues(session, caller=caller, country=country, project=project)
    return issues + [issue for issue in found if issue.field not in refused]


def refuse_issues(issues: list[Issue]) -> None:
    """One 400 naming every bad filter, before a list or a streamed file starts."""
    if issues:
        raise ValidationFailed(issues, status_code=400)


def filter_issues(session: Session, *, caller: Caller, filters: ActivityFilters) -> list[Issue]:
    """Every problem of the filters: unknown codes, dates out of order, and a country or project
    outside the caller's scope."""
    issues: list[Issue] = []
    filter_conditions(filters, issues)
    return with_scope_issues(
        session, caller=caller, issues=issues, country=filters.country, project=filters.project
    )


def param_text(data: Mapping[str, Any], key: str) -> str | None:
    """A query parameter as a rule check has it (``server.deps.rules``): text, or None when
    absent, empty or refused by its limits."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def param_day(data: Mapping[str, Any], key: str) -> date | None:
    """A date parameter that passed its limits (``server.api.IsoDate``), or None."""
    value = param_text(data, key)
    return date.fromisoformat(value) if value else None


def filter_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """The filters' rule checks on the query parameters within their limits, for one answer
    with the parameters FastAPI refused (``server.deps.rules``): a bad date beside an unknown
    status. ``data`` holds the parameters as text, None for a refused one."""
    if caller is None:
        return []
    text = partial(param_text, data)
    filters = ActivityFilters(
        country=text("country"),
        region=text("region"),
        project=text("project"),
        thematic_area=text("thematic_area"),
        solution=text("solution"),
        topic=text("topic"),
        modality=text("modality"),
        activity_type=text("activity_type"),
        status=text("status"),
        date_from=param_day(data, "from"),
        date_to=param_day(data, "to"),
    )
    return filter_issues(session, caller=caller, filters=filters)


def check_filters(session: Session, *, caller: Caller, filters: ActivityFilters) -> None:
    """Raise one 400 naming every bad filter, before a list or a streamed file starts."""
    refuse_issues(filter_issues(session, caller=caller, filters=filters))


def date_conditions(
    column: Any, date_from: date | None, date_to: date | None, issues: Issues = None
) -> list[ColumnElement[bool]]:
    """The ``from`` and ``to`` filters over a record's date ``column`` (both included); ``to``
    before ``from`` is a problem."""
    if date_from is not None and date_to is not None and date_from > date_to:
        _problem(issues, Issue("to", ErrorCode.END_BEFORE_START, "must not be before 'from'"))
        return []
    found: list[ColumnElement[bool]] = []
    if date_from is not None:
        found.append(column >= date_from)
    if date_to is not None:
        found.append(column <= date_to)
    return found


def filter_conditions(filters: ActivityFilters, issues: Issues = None) -> list[ColumnElement[bool]]:
    """WHERE clauses over Activity joined with Project (scope not included). A bad filter is
    raised, or added to ``issues`` when they are collected."""
    f = filters
    found: list[ColumnElement[bool]] = []
    if not f.include_deleted:
        found.append(col(Activity.deleted).is_(False))
    found.extend(place_conditions(f.country, f.region, f.project, issues))
    if f.site is not None:
        found.append(col(Activity.site_id) == f.site)
    if areas := _listed("thematic_area", f.thematic_area, THEMATIC_AREAS, str.upper, issues):
        # As in the indicators (docs/indicators.md): an activity's thematic area is its topic's, and
        # its project's only when it has no topic.
        area_topics = [
            t.code for t in TOPICS.values() if SOLUTIONS[t.solution].thematic_area in areas
        ]
        found.append(
            or_(
                col(Activity.topic).in_(area_topics),
                (col(Activity.topic).is_(None)) & col(Project.thematic_area).in_(areas),
            )
        )
    if solutions := _listed("solution", f.solution, SOLUTIONS, str.upper, issues):
        found.append(or_(*(col(Activity.topic).like(f"{s}.%") for s in solutions)))
    if topics := _listed("topic", f.topic, TOPICS, str.upper, issues):
        found.append(col(Activity.topic).in_(topics))
    if modalities := _listed("modality", f.modality, codes(Modality), str.upper, issues):
        found.append(col(Activity.modality).in_(modalities))
    if types := _listed("activity_type", f.activity_type, codes(ActivityType), str.lower, issues):
        found.append(col(Activity.type).in_(types))
    if statuses := _listed("status", f.status, codes(ActivityStatus), str.lower, issues):
        found.append(col(Activity.status).in_(statuses))
    found.extend(date_conditions(col(Activity.start_date), f.date_from, f.date_to, issues))
    if f.q:
        pattern = like_contains(f.q.lower())
        found.append(
            or_(
                func.lower(Activity.title).like(pattern, escape="\\"),
                func.lower(Activity.notes).like(pattern, escape="\\"),
            )
        )
    if f.late is not None:
        found.append(col(Activity.late).is_(f.late))
    return found


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# --- reads of a record joined to its project ----------------------------------------------------

Q = TypeVar("Q", bound=Select[Any] | SelectOfScalar[Any])


@dataclass(frozen=True, slots=True)
class Joined:
    """A record's table joined to the tables its reads show beside it (an activity's project;
    an observation's project and form): one page of a list with its total, or one record."""

    table: Any
    joins: tuple[tuple[Any, ColumnElement[bool]], ...]

    def _joined(self, query: Q) -> Q:
        joined: Any = query
        for other, on in self.joins:
            joined = joined.join(other, on)
        return cast(Q, joined)

    def page(
        self,
        session: Session,
        columns: tuple[Any, ...],
        where: Sequence[ColumnElement[bool]],
        order_by: Sequence[Any],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[Any], int]:
        """The rows of ``columns`` under ``where`` in ``order_by`` order, from ``offset``, at
        most ``limit`` of them, and how many there are in all."""
        total = session.exec(
            self._joined(select(func.count()).select_from(self.table)).where(*where)
        ).one()
        rows = session.exec(
            self._joined(select(*columns))
            .where(*where)
            .order_by(*order_by)
            .limit(limit)
            .offset(offset)
        ).all()
        return list(rows), int(total)

    def one(
        self,
        session: Session,
        columns: tuple[Any, ...],
        where: Sequence[ColumnElement[bool]],
        *,
        missing: str,
    ) -> Any:
        """The one row of ``columns`` under ``where``; none is NotFound (``missing``)."""
        row = session.exec(self._joined(select(*columns)).where(*where)).one_or_none()
        if row is None:
            raise NotFound(missing)
        return row


_WITH_PROJECT = Joined(Activity, ((Project, col(Project.id) == Activity.project_id),))


# --- the list ----------------------------------------------------------------------------------


def listed_activities(caller: Caller, filters: ActivityFilters) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the activity list: the caller's scope and the filters, over
    Activity joined with Project (the OData feed lists through the same clauses)."""
    return [activity_scope(caller), *filter_conditions(filters)]


def participants_column() -> Any:
    """An activity's participants (the sum of its attendance counts), as a correlated column."""
    return (
        select(func.coalesce(func.sum(AttendanceRow.count), 0))
        .where(col(AttendanceRow.activity_id) == Activity.id)
        .correlate(Activity)
        .scalar_subquery()
    )


def list_activities(
    session: Session,
    *,
    caller: Caller,
    filters: ActivityFilters,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ActivitySummary], int]:
    """One page of the activities in the caller's scope, newest first, and the total."""
    rows, total = _WITH_PROJECT.page(
        session,
        (Activity, Project.code, Project.country, participants_column()),
        listed_activities(caller, filters),
        (col(Activity.start_date).desc(), col(Activity.id)),
        limit=limit,
        offset=offset,
    )
    items = [
        ActivitySummary(
            id=a.id,
            project_id=a.project_id,
            project_code=code,
            country=country,
            site_id=a.site_id,
            type=a.type,
            title=a.title,
            start_date=a.start_date,
            end_date=a.end_date,
            topic=a.topic,
            modality=a.modality,
            level=a.level,
            delivery=a.delivery,
            status=a.status,
            version=a.version,
            late=a.late,
            participants=int(count or 0),
            flags=len(a.flags or []),
            created_by_id=a.created_by_id,
            submitted_at=a.submitted_at,
            updated_at=a.updated_at,
        )
        for a, code, country, count in rows
    ]
    return items, total


# --- one activity ------------------------------------------------------------------------------


def get_activity(
    session: Session, *, caller: Caller, activity_id: uuid.UUID
) -> tuple[Activity, Project]:
    row = _WITH_PROJECT.one(
        session,
        (Activity, Project),
        (col(Activity.id) == activity_id, activity_scope(caller)),
        missing="no such activity",
    )
    return row[0], row[1]


def activity_detail(session: Session, *, caller: Caller, activity_id: uuid.UUID) -> ActivityDetail:
    """The activity with its attendance, attachments, flags and reviews."""
    activity, project = get_activity(session, caller=caller, activity_id=activity_id)
    return ActivityDetail.model_validate(
        {
            **load_wire(session, activity),
            **record_public(
                session,
                activity,
                project,
                photos=col(Attachment.activity_id),
                reviews=col(Review.activity_id),
            ),
            "late": activity.late,
            "deleted": activity.deleted,
            "submitted_at": activity.submitted_at,
        }
    )


def record_public(
    session: Session, record: Any, project: Project, *, photos: Any, reviews: Any
) -> dict[str, Any]:
    """What an activity's and an observation's detail show alike, beside the record's own
    fields: its project, version, flags, author, device, times, photos (``photos``: the
    attachment's column naming the record) and reviews (``reviews``: the review table's column
    naming it, oldest first)."""
    attachments = session.exec(
        select(Attachment)
        .where(photos == record.id, col(Attachment.deleted).is_(False))
        .order_by(col(Attachment.created_at), col(Attachment.id))
    )
    review = reviews.class_
    reviewed = session.exec(
        select(review, User.username)
        .join(User, col(User.id) == review.author_id)
        .where(reviews == record.id)
        .order_by(col(review.created_at), col(review.id))
    )
    names = _usernames(session, [record.created_by_id])
    return {
        "project_code": project.code,
        "country": project.country,
        "version": record.version,
        "flags": [_flag(f) for f in record.flags or []],
        "created_by_id": record.created_by_id,
        "created_by": names.get(record.created_by_id) if record.created_by_id else None,
        "device_id": record.device_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "attachments": [attachment_public(a) for a in attachments],
        "reviews": [review_public(r, username) for r, username in reviewed],
    }


def attachment_public(a: Attachment) -> AttachmentPublic:
    """A photo's metadata as the API shows it on its record (activity or observation)."""
    return AttachmentPublic(
        id=a.id,
        sha256=a.sha256,
        size=a.size,
        content_type=a.content_type,
        caption=a.caption,
        complete=a.complete,
        url=f"/api/v1/attachments/{a.id}",
    )


def review_public(r: Any, username: str) -> ReviewPublic:
    """One review (of an activity or an observation) with its author's username."""
    return ReviewPublic(
        id=r.id,
        action=r.action,
        comment=r.comment,
        author_id=r.author_id,
        author=username,
        created_at=r.created_at,
    )


def _flag(flag: Any) -> dict[str, Any]:
    if isinstance(flag, dict):
        params = flag.get("params")
        return {
            "code": str(flag.get("code", "")),
            "field": str(flag.get("field") or ""),
            "message": str(flag.get("message") or ""),
            "params": {str(k): str(v) for k, v in params.items()}
            if isinstance(params, dict)
            else {},
        }
    return {"code": str(flag), "field": "", "message": "", "params": {}}


def _usernames(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {
        uid: name
        for uid, name in session.exec(
            select(User.id, User.username).where(col(User.id).in_(wanted))
        )
    }


# --- history -----------------------------------------------------------------------------------

# Fields shown in a revision's diff, in wire order, then the tombstone.
DIFF_FIELDS: tuple[str, ...] = (*(f for f in WIRE_FIELDS if f != "id"), "deleted")


def _canonical(field: str, value: Any) -> Any:
    # Attendance is one field (docs/protocol.md#push); its row order carries no meaning.
    if field == "attendance" and isinstance(value, list):
        return sorted(value, key=lambda row: sorted((k, str(v)) for k, v in row.items()))
    return value


def field_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldChange]:
    """What differs between two stored versions (all set fields for the first version)."""
    return fields_changed(DIFF_FIELDS, before, after)


def fields_changed(
    fields: Sequence[str], before: dict[str, Any] | None, after: dict[str, Any]
) -> list[FieldChange]:
    """Which of ``fields`` differ between two stored versions of a record (activity or
    observation), in that order; for the first version, every field that is set."""
    changes = []
    for field in fields:
        old = before.get(field) if before is not None else None
        new = after.get(field)
        if before is None and new in (None, "", [], False):
            continue
        if _canonical(field, old) != _canonical(field, new):
            changes.append(FieldChange(field=field, before=old, after=new))
    return changes


def revisions(session: Session, *, caller: Caller, activity_id: uuid.UUID) -> list[RevisionPublic]:
    """Every version of the activity, oldest first, each with what changed from the previous
    (version 1 from the activity's rows while no later version has superseded it)."""
    activity, _ = get_activity(session, caller=caller, activity_id=activity_id)
    return revisions_public(
        session,
        ActivityRevision,
        (col(ActivityRevision.activity_id) == activity_id,),
        field_changes,
        first=first_revision(session, activity),
    )


def revisions_public(
    session: Session,
    table: Any,
    where: Sequence[ColumnElement[bool]],
    changes: Callable[[dict[str, Any] | None, dict[str, Any]], list[FieldChange]],
    *,
    first: Any = None,
) -> list[RevisionPublic]:
    """A record's revisions (the rows of the revision ``table`` under ``where``: an activity's
    or another record's), oldest first, each with its author's name and what changed from the
    one before (``changes``: the record's own diff). ``first``: version 1 built from the
    record's own rows, shown when the table has no row for it."""
    rows: list[Any] = list(
        session.exec(select(table).where(*where).order_by(col(table.version))).all()
    )
    if first is not None and not (rows and rows[0].version == 1):
        rows.insert(0, first)
    names = _usernames(session, [r.author_id for r in rows])
    found = []
    previous: dict[str, Any] | None = None
    for row in rows:
        found.append(
            RevisionPublic(
                version=row.version,
                source=row.source,
                author_id=row.author_id,
                author=names.get(row.author_id) if row.author_id else None,
                device_id=row.device_id,
                created_at=row.created_at,
                changes=changes(previous, row.data),
                data=row.data,
            )
        )
        previous = row.data
    return found
