"""What each dashboard page shows, assembled from the domain services (no FastAPI here).

Reads go through the same scoped functions as the API (``server.projects.service``,
``server.activities.queries``, ``server.accounts.devices``, ``server.indicators``, ...), so a
page never shows what the API would refuse the same person. Functions are keyword-only and
return plain dataclasses that the templates lay out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Engine, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from server.accounts import devices as devices_service
from server.accounts import fleet
from server.accounts.auth import Caller, issue_access_token
from server.accounts.models import Device, DevicePublic, User, UserCreate, UserPublic, UserUpdate
from server.accounts.service import (
    OFFICER_MAY_CREATE,
    authenticate,
    create_user_as,
    get_user,
    list_users,
    may_manage_user,
    new_user_issues,
    reach_of,
    update_user,
    user_publics,
)
from server.accounts.service import scope_field as role_scope_field
from server.activities import queries
from server.activities.models import Activity
from server.activities.review import close_period, list_periods, review_activity
from server.audit import queries as audit_queries
from server.columns import utcnow
from server.config import Settings
from server.dashboard import charts
from server.dashboard.i18n import LABELS, N_, Translator
from server.errors import (
    Forbidden,
    NotFound,
    PilotMonitorError,
    ValidationFailed,
    invalid,
    pydantic_issues,
)
from server.exports import activities as activity_export
from server.exports import dhis2, iati, tabular
from server.exports.observations import LEADING, TRAILING, observation_table
from server.exports.values import site_names, value_columns, value_rows
from server.indicators import service as indicators
from server.projects import service as projects_service
from server.projects.models import Project, Site, SiteStatus, Target
from server.results.indicators import result_indicators
from server.results.models import Observation
from server.scope import (
    activity_scope,
    can_manage_country,
    can_review,
    can_write_project,
    country_scope_issue,
    device_scope,
    in_visible_project,
    project_scope,
    site_scope,
)
from server.sync.models import SyncConflict
from shared.catalogue import ActivityStatus, AgeBand, ParticipantCategory, Role, Sex, codes
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES
from shared.indicators import DEFAULT_STATUSES, INDICATORS, period_bounds, period_grain

SILENT_AFTER = fleet.SILENT_AFTER
PAGE_SIZE = 50


# --- shared ---------------------------------------------------------------------------------


def may_review_anything(caller: Caller) -> bool:
    return caller.role == Role.ADMIN or (
        caller.role == Role.COUNTRY_OFFICER and bool(caller.countries)
    )


def review_count(session: Session, *, caller: Caller) -> int:
    """What waits on the Review page in the caller's scope (the badge in the menu): submitted
    activities and observations, sites found in the field waiting for approval, and the open
    sync conflicts a reviewer settles there (``conflicts.open_conflicts``'s)."""
    waiting = [
        select(func.count())
        .select_from(Activity)
        .where(
            activity_scope(caller),
            col(Activity.status) == ActivityStatus.SUBMITTED,
            col(Activity.deleted).is_(False),
        ),
        select(func.count())
        .select_from(Observation)
        .where(
            in_visible_project(Observation.project_id, caller),
            col(Observation.status) == ActivityStatus.SUBMITTED,
            col(Observation.deleted).is_(False),
        ),
        select(func.count())
        .select_from(Site)
        .where(site_scope(caller), col(Site.status) == SiteStatus.PENDING),
    ]
    if may_review_anything(caller):
        waiting.append(
            select(func.count())
            .select_from(SyncConflict)
            .where(
                col(SyncConflict.status) == "open",
                in_visible_project(SyncConflict.project_id, caller),
            )
        )
    # One round trip on every page: the counts as one row.
    row = session.execute(sa_select(*(query.scalar_subquery() for query in waiting))).one()
    return sum(row)


def usernames(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.exec(select(User.id, User.username).where(col(User.id).in_(wanted))).all())


def start_session(
    session: Session, *, username: str, password: str, minutes: int, source: str
) -> tuple[str, int]:
    """Check a password (with the API's throttling, per username and client address) and
    issue the session's access token; raises LoginFailed or TooManyAttempts, whose failure
    count the caller commits."""
    user = authenticate(session, username=username, password=password[:1024], source=source)
    return issue_access_token(session, user=user, minutes=minutes)


# --- attendance -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttendanceSummary:
    """Attendance as a sex × age-band table with totals, and the usual shares."""

    sexes: tuple[str, ...]
    age_bands: tuple[str, ...]
    cells: Mapping[tuple[str, str], int]
    by_sex: Mapping[str, int]
    by_age: Mapping[str, int]
    by_category: Mapping[str, int]
    with_disability: int
    total: int

    @property
    def women(self) -> int:
        return self.by_sex.get(Sex.FEMALE, 0)

    @property
    def women_share(self) -> float | None:
        return 100.0 * self.women / self.total if self.total else None


def summarise_attendance(rows: Sequence[Mapping[str, Any]]) -> AttendanceSummary:
    cells: dict[tuple[str, str], int] = {}
    by_sex: dict[str, int] = {}
    by_age: dict[str, int] = {}
    by_category: dict[str, int] = {}
    disabled = total = 0
    for row in rows:
        count = int(row.get("count") or 0)
        sex, age = str(row.get("sex")), str(row.get("age_band"))
        cells[(sex, age)] = cells.get((sex, age), 0) + count
        by_sex[sex] = by_sex.get(sex, 0) + count
        by_age[age] = by_age.get(age, 0) + count
        category = str(row.get("category"))
        by_category[category] = by_category.get(category, 0) + count
        disabled += count if row.get("disability") else 0
        total += count
    # Show the usual rows and columns always, the "unspecified" ones only when used.
    sexes = tuple(s for s in codes(Sex) if s != Sex.UNSPECIFIED or by_sex.get(s))
    ages = tuple(a for a in codes(AgeBand) if a != AgeBand.UNSPECIFIED or by_age.get(a))
    categories = {c: by_category[c] for c in codes(ParticipantCategory) if by_category.get(c)}
    return AttendanceSummary(
        sexes=sexes,
        age_bands=ages,
        cells=cells,
        by_sex=by_sex,
        by_age=by_age,
        by_category=categories,
        with_disability=disabled,
        total=total,
    )


# --- projects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectRow:
    project: Project
    activities: int
    participants: int
    waiting: int


def project_rows(
    session: Session, *, caller: Caller, limit: int = PAGE_SIZE, offset: int = 0
) -> tuple[list[ProjectRow], int]:
    projects, total = projects_service.list_projects(
        session, caller=caller, limit=limit, offset=offset
    )
    counts = _project_counts(session, caller, projects)
    return [ProjectRow(p, *counts.get(p.id, (0, 0, 0))) for p in projects], total


def _project_counts(
    session: Session, caller: Caller, projects: Sequence[Project]
) -> dict[uuid.UUID, tuple[int, int, int]]:
    """Activities and participants as the indicators count them (the same statuses as the
    project page, the overview, the exports and the API), and submissions waiting for review."""
    if not projects:
        return {}
    only = {"project": ",".join(p.code for p in projects)}
    counted = {
        code: {
            r["project"]: r["value"]
            for r in indicator_rows(
                session, caller=caller, code=code, group_by=("project",), filters=only
            )
        }
        for code in ("ACTIVITIES", "PARTICIPANTS")
    }
    waiting = dict(
        session.exec(
            select(Activity.project_id, func.count())
            .where(
                col(Activity.deleted).is_(False),
                col(Activity.project_id).in_([p.id for p in projects]),
                col(Activity.status) == ActivityStatus.SUBMITTED,
            )
            .group_by(col(Activity.project_id))
        ).all()
    )
    return {
        p.id: (
            int(counted["ACTIVITIES"].get(p.code) or 0),
            int(counted["PARTICIPANTS"].get(p.code) or 0),
            int(waiting.get(p.id, 0)),
        )
        for p in projects
    }


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    value: str
    foot: str = ""


@dataclass(frozen=True, slots=True)
class ProjectPage:
    project: Project
    sites: list[Site]
    targets: list[Target]
    activities: list[queries.ActivitySummary]
    activities_total: int
    site_names: Mapping[uuid.UUID, str]
    may_manage: bool
    kpis: list[Figure]
    progress: list[TargetProgress]
    progress_chart: charts.Chart | None
    indicator_charts: list[charts.Chart]
    site_map: charts.Chart | None
    # The names of the result indicators among the targets, in the reader's language.
    indicator_names: Mapping[str, str] = field(default_factory=dict)
    # Whether the caller may approve or reject the project's pending sites (may_decide_sites).
    may_decide_sites: bool = False

    @property
    def pending_sites(self) -> int:
        return sum(1 for s in self.sites if s.status == SiteStatus.PENDING)


def project_page(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    today: date,
    project_id: uuid.UUID,
    status: str | None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> ProjectPage:
    project = projects_service.get_project(session, caller=caller, project_id=project_id)
    sites, _ = projects_service.list_sites(session, caller=caller, project_id=project.id, limit=500)
    targets, _ = projects_service.list_targets(
        session, caller=caller, project_id=project.id, limit=1000
    )
    items, total = queries.list_activities(
        session,
        caller=caller,
        filters=queries.ActivityFilters(project=str(project.id), status=status or None),
        limit=limit,
        offset=offset,
    )
    texts, fmt = _texts(t), _formatter(t)
    only = {"project": str(project.id)}
    totals = {
        code: (
            indicator_rows(session, caller=caller, code=code, filters=only) or [{"value": None}]
        )[0]["value"]
        for code in ("ACTIVITIES", "PARTICIPANTS", "WOMEN_SHARE")
    }
    waiting = session.exec(
        select(func.count())
        .select_from(Activity)
        .where(
            col(Activity.project_id) == project.id,
            col(Activity.deleted).is_(False),
            col(Activity.status) == ActivityStatus.SUBMITTED,
        )
    ).one()
    kpis = [
        Figure(
            t.gettext("Activities"),
            t.number(totals["ACTIVITIES"] or 0),
            t.gettext("submitted and approved, since the start"),
        ),
        Figure(
            t.gettext("Participants"),
            t.number(totals["PARTICIPANTS"] or 0),
            t.gettext("participations, not distinct people"),
        ),
        Figure(
            t.gettext("Women's share"),
            t.percent(totals["WOMEN_SHARE"], 1),
            t.gettext("of all participants"),
        ),
        Figure(
            t.gettext("Waiting for review"), t.number(waiting), t.gettext("submitted activities")
        ),
    ]
    progress = target_progress(
        indicator_rows(session, caller=caller, code="TARGET_ACHIEVEMENT", filters=only)
    )
    names = result_names(session, t, progress)
    progress_chart = None
    if progress:
        chosen = current_targets(progress, today)
        progress_chart = charts.progress_chart(
            key="project-achievement",
            title=t.gettext("Achievement of the current targets"),
            items=[
                charts.Progress(
                    _progress_label(t, i, with_project=False, names=names),
                    i.actual,
                    i.target,
                    i.achievement,
                    detail=i.period,
                )
                for i in chosen
            ],
            x_label=t.gettext("Share of the target reached"),
            fmt=fmt,
            percent=lambda v: t.percent(v),
            texts=texts,
        )
    places = [
        charts.Place(s.name, s.lat, s.lon) for s in sites if s.lat is not None and s.lon is not None
    ]
    country = COUNTRIES.get(project.country)
    site_map = (
        charts.site_map(
            key="sites",
            title=t.gettext("Where the sites are"),
            places=places,
            bbox=country.bbox if country else None,
            x_label=t.gettext("Longitude"),
            y_label=t.gettext("Latitude"),
            texts=texts,
        )
        if places
        else None
    )
    return ProjectPage(
        project=project,
        sites=sites,
        targets=targets,
        activities=items,
        activities_total=total,
        site_names={s.id: s.name for s in sites},
        may_manage=can_manage_country(caller, project.country),
        kpis=kpis,
        progress=progress,
        progress_chart=progress_chart,
        indicator_charts=_target_charts(t, progress, texts, fmt, names),
        site_map=site_map,
        indicator_names=names,
        may_decide_sites=may_decide_sites(caller, project),
    )


def result_names(
    session: Session, t: Translator, progress: Sequence[TargetProgress]
) -> dict[str, str]:
    """The result indicators' names (a form's, not the catalogue's) among ``progress``."""
    if all(i.indicator in LABELS["indicator"] for i in progress):
        return {}
    return {code: r.label(t.language) for code, r in result_indicators(session).items()}


GRAIN_WORDS = {"year": N_("yearly"), "quarter": N_("quarterly"), "month": N_("monthly")}


def _target_charts(
    t: Translator,
    progress: Sequence[TargetProgress],
    texts: charts.Texts,
    fmt: charts.Formatter,
    names: Mapping[str, str],
) -> list[charts.Chart]:
    """One chart per indicator, sex and kind of period: target against actual per period."""
    groups: dict[tuple[str, str | None, str], list[TargetProgress]] = {}
    for item in progress:
        grain = period_grain(item.period) or "year"
        groups.setdefault((item.indicator, item.sex, grain), []).append(item)
    made = []
    for (indicator, sex, grain), items in groups.items():
        items = sorted(items, key=lambda i: period_bounds(i.period))
        name = _progress_label(t, items[0], with_project=False, names=names)
        several = sum(1 for key in groups if key[:2] == (indicator, sex)) > 1
        title = (
            t.gettext(
                "%(indicator)s: target and actual, %(grain)s",
                indicator=name,
                grain=t.gettext(GRAIN_WORDS[grain]),
            )
            if several
            else t.gettext("%(indicator)s: target and actual by period", indicator=name)
        )
        unit = (
            t.gettext("Share of women (%)")
            if indicator == "WOMEN_SHARE"
            else names.get(indicator) or t.label("indicator", indicator)
        )
        made.append(
            charts.grouped_bar_chart(
                key=f"target-{indicator.lower()}-{sex or 'all'}-{grain}",
                title=title,
                categories=[i.period for i in items],
                series=[
                    charts.Series(
                        t.gettext("Target"), tuple(i.target for i in items), TARGET_COLOR
                    ),
                    charts.Series(
                        t.gettext("Actual"), tuple(i.actual for i in items), charts.PALETTE[0]
                    ),
                ],
                x_label=t.gettext("Period"),
                y_label=unit,
                fmt=fmt,
                height=230,
                y_max=100 if indicator == "WOMEN_SHARE" else None,
                texts=texts,
            )
        )
    return made


# --- the review queue -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilters:
    country: str = ""
    project: str = ""
    activity_type: str = ""
    date_from: date | None = None
    date_to: date | None = None
    late_only: bool = False
    q: str = ""

    def activity_filters(self) -> queries.ActivityFilters:
        return queries.ActivityFilters(
            country=self.country or None,
            project=self.project or None,
            activity_type=self.activity_type or None,
            status=ActivityStatus.SUBMITTED,
            date_from=self.date_from,
            date_to=self.date_to,
            late=True if self.late_only else None,
            q=self.q or None,
        )


@dataclass(frozen=True, slots=True)
class QueueItem:
    activity: queries.ActivitySummary
    author: str
    may_review: bool
    flags: tuple[str, ...] = ()  # the codes of its data-quality flags, to name them in the row


@dataclass(frozen=True, slots=True)
class ReviewQueue:
    items: list[QueueItem]
    total: int
    late: int
    projects: list[Project]
    countries: list[str]


def review_queue(
    session: Session,
    *,
    caller: Caller,
    filters: QueueFilters,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> ReviewQueue:
    """The submitted activities the filters match. A filter it cannot apply (an unknown
    project or country, one outside the caller's scope) raises ValidationFailed (400), as
    ``GET /api/v1/activities`` does: "0 match" would tell a reviewer that nothing waits."""
    queries.check_filters(session, caller=caller, filters=filters.activity_filters())
    items, total = queries.list_activities(
        session, caller=caller, filters=filters.activity_filters(), limit=limit, offset=offset
    )
    _, late = queries.list_activities(
        session,
        caller=caller,
        limit=1,
        filters=queries.ActivityFilters(status=ActivityStatus.SUBMITTED, late=True),
    )
    projects, _ = projects_service.list_projects(session, caller=caller, limit=500)
    names = usernames(session, (i.created_by_id for i in items))
    reviewable = {p.id for p in projects if can_review(caller, p)}
    flags = _flag_codes(session, [i.id for i in items if i.flags])
    return ReviewQueue(
        items=[
            QueueItem(
                i,
                names.get(i.created_by_id, "") if i.created_by_id else "",
                i.project_id in reviewable,
                flags.get(i.id, ()),
            )
            for i in items
        ],
        total=total,
        late=late,
        projects=projects,
        countries=sorted({p.country for p in projects}),
    )


def _flag_codes(
    session: Session, activity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, ...]]:
    """Each listed activity's flag codes (one query for the page, already in scope)."""
    if not activity_ids:
        return {}
    rows = session.exec(
        select(Activity.id, Activity.flags).where(col(Activity.id).in_(activity_ids))
    ).all()
    return {
        activity_id: tuple(dict.fromkeys(str(f.get("code", "")) for f in found or ()))
        for activity_id, found in rows
    }


@dataclass(frozen=True, slots=True)
class BulkResult:
    approved: list[str] = field(default_factory=list)
    # (title or id, error code, its status now: "" when the caller may not see it)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def bulk_approve(
    session: Session, *, caller: Caller, activity_ids: Sequence[uuid.UUID]
) -> BulkResult:
    """Approve each activity that can be; the others are reported, not half-done."""
    result = BulkResult()
    for activity_id in dict.fromkeys(activity_ids):
        try:
            with session.begin_nested():
                activity, _ = review_activity(
                    session, caller=caller, activity_id=activity_id, action="approve"
                )
            result.approved.append(activity.title)
        except PilotMonitorError as exc:
            # Name what the caller may see; an activity out of scope stays an id.
            known = None if isinstance(exc, NotFound) else session.get(Activity, activity_id)
            result.skipped.append(
                (
                    known.title if known else str(activity_id),
                    str(exc.code),
                    str(known.status) if known else "",
                )
            )
    return result


# --- sites found in the field (docs/product.md: Site) -------------------------------------------

# The dashboard's two decisions on a pending site, as the API's PATCH /sites/{id} takes them.
SITE_DECISIONS: dict[str, SiteStatus] = {
    "approve": SiteStatus.APPROVED,
    "reject": SiteStatus.REJECTED,
}


def may_decide_sites(caller: Caller, project: Project) -> bool:
    """Whether the caller may approve or reject the project's new sites: whoever may change
    them through the API (``server.projects.service.update_site`` asks the same function)."""
    return can_write_project(caller, project)


@dataclass(frozen=True, slots=True)
class PendingSite:
    site: Site
    project: Project
    author: str  # the username of whoever added it ("" when unknown)
    may_decide: bool
    # Another live site of the project with its name but for case and spaces (the API refuses
    # such a name; a tablet, offline, could not know): perhaps the same place twice.
    same_name: Site | None = None


@dataclass(frozen=True, slots=True)
class PendingSites:
    items: list[PendingSite]
    total: int


def pending_sites(
    session: Session,
    *,
    caller: Caller,
    country: str = "",
    project: str = "",
    limit: int = PAGE_SIZE,
) -> PendingSites:
    """The sites waiting for approval in the caller's scope (narrowed to some countries' or
    projects', each a comma list of codes), those waiting longest first."""
    conditions = [site_scope(caller), col(Site.status) == SiteStatus.PENDING]
    if country:
        conditions.append(col(Project.country).in_(country.split(",")))
    if project:
        conditions.append(col(Project.code).in_(project.split(",")))
    joined = col(Project.id) == col(Site.project_id)
    rows = session.exec(
        select(Site, Project)
        .join(Project, joined)
        .where(*conditions)
        .order_by(col(Site.created_at), col(Site.id))
        .limit(limit)
    ).all()
    total = session.exec(
        select(func.count()).select_from(Site).join(Project, joined).where(*conditions)
    ).one()
    names = usernames(session, (site.created_by_id for site, _ in rows))
    twins = _same_named(session, [site for site, _ in rows])
    return PendingSites(
        items=[
            PendingSite(
                site,
                site_project,
                names.get(site.created_by_id, "") if site.created_by_id else "",
                may_decide_sites(caller, site_project),
                twins.get(site.id),
            )
            for site, site_project in rows
        ],
        total=total,
    )


def _same_named(session: Session, sites: Sequence[Site]) -> dict[uuid.UUID, Site]:
    """For each of ``sites``, the first other live site of its project named alike
    (``projects_service.site_name_key``, the API's rule), in one query."""
    if not sites:
        return {}
    live = session.exec(
        select(Site)
        .where(
            col(Site.project_id).in_({s.project_id for s in sites}),
            col(Site.status) != SiteStatus.REJECTED,
        )
        .order_by(col(Site.created_at), col(Site.id))
    ).all()
    named: dict[tuple[uuid.UUID, str], list[Site]] = {}
    for other in live:
        named.setdefault((other.project_id, projects_service.site_name_key(other.name)), []).append(
            other
        )
    found = {}
    for site in sites:
        alike = named.get((site.project_id, projects_service.site_name_key(site.name)), [])
        twin = next((other for other in alike if other.id != site.id), None)
        if twin is not None:
            found[site.id] = twin
    return found


@dataclass(frozen=True, slots=True)
class SiteDecision:
    name: str
    project_id: uuid.UUID
    status: str  # the site's status now
    changed: bool  # False: it was no longer pending, and nothing was written


def decide_site(
    session: Session, *, caller: Caller, site_id: uuid.UUID, action: str
) -> SiteDecision:
    """Approve or reject a pending site through the API's write path
    (``server.projects.service.update_site``: a new version tablets pull, its history and audit
    entry). Outside the caller's scope: NotFound; a caller who may not decide: Forbidden; a
    site no longer pending is left as it is (``changed`` False)."""
    site = projects_service.get_site(session, caller=caller, site_id=site_id)
    project = projects_service.get_project(session, caller=caller, project_id=site.project_id)
    if not may_decide_sites(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may approve or "
            "reject its sites"
        )
    status = SITE_DECISIONS.get(action)
    if status is None:
        raise invalid("action", ErrorCode.UNKNOWN_CODE, "action: approve or reject")
    # Two officers deciding at once: the second sees the first one's decision.
    locked = session.get(Site, site.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    if locked.status != SiteStatus.PENDING:
        return SiteDecision(locked.name, project.id, locked.status, changed=False)
    decided = projects_service.update_site(
        session, caller=caller, site_id=locked.id, changes={"status": status.value}
    )
    return SiteDecision(decided.name, project.id, decided.status, changed=True)


# --- one activity ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityPage:
    detail: queries.ActivityDetail
    project: Project
    site: Site | None
    attendance: AttendanceSummary
    revisions: list[queries.RevisionPublic]
    actions: tuple[str, ...]  # review actions the caller may take now
    names: Mapping[str, str]  # ids shown in the history -> project codes and site names


def review_actions(caller: Caller, project: Project, status: str, deleted: bool) -> tuple[str, ...]:
    if deleted or not can_review(caller, project):
        return ()
    if status == ActivityStatus.SUBMITTED:
        return ("approve", "return")
    if status == ActivityStatus.RETURNED:
        return ("approve",)
    if status == ActivityStatus.APPROVED:
        return ("reopen",)
    return ()


def activity_page(session: Session, *, caller: Caller, activity_id: uuid.UUID) -> ActivityPage:
    detail = queries.activity_detail(session, caller=caller, activity_id=activity_id)
    project = projects_service.get_project(session, caller=caller, project_id=detail.project_id)
    site = session.get(Site, detail.site_id) if detail.site_id else None
    history = queries.revisions(session, caller=caller, activity_id=activity_id)
    site_ids = {_uuid_of(c.before) for r in history for c in r.changes if c.field == "site_id"}
    site_ids |= {_uuid_of(c.after) for r in history for c in r.changes if c.field == "site_id"}
    names = {str(project.id): project.code}
    names.update(
        {
            str(i): n
            for i, n in session.exec(
                select(Site.id, Site.name).where(col(Site.id).in_([i for i in site_ids if i]))
            ).all()
        }
    )
    return ActivityPage(
        detail=detail,
        project=project,
        site=site,
        attendance=summarise_attendance([a.model_dump() for a in detail.attendance]),
        revisions=list(reversed(history)),
        actions=review_actions(caller, project, detail.status, detail.deleted),
        names=names,
    )


def _uuid_of(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def review(
    session: Session, *, caller: Caller, activity_id: uuid.UUID, action: str, comment: str
) -> Activity:
    activity, _ = review_activity(
        session, caller=caller, activity_id=activity_id, action=action, comment=comment
    )
    return activity


# --- closed reporting quarters (docs/product.md: Closed period) ---------------------------------


@dataclass(frozen=True, slots=True)
class ClosedQuarter:
    country: str
    period: str
    closed_by: str
    closed_at: datetime | None


def closed_quarters(session: Session, *, caller: Caller) -> list[ClosedQuarter]:
    """The closed quarters the caller sees (its countries'; all for HQ and admins), newest
    first within each country."""
    rows, _ = list_periods(session, caller=caller, limit=500)
    names = usernames(session, (r.closed_by_id for r in rows))
    return [
        ClosedQuarter(r.country, r.period, names.get(r.closed_by_id, ""), r.closed_at) for r in rows
    ]


def closable_countries(caller: Caller, countries: Sequence[str]) -> list[str]:
    """Of ``countries``, those whose quarters the caller may close."""
    return [c for c in countries if can_manage_country(caller, c)]


def close_quarter(session: Session, *, caller: Caller, country: str, quarter: str) -> None:
    close_period(session, caller=caller, country=country, period=quarter)


# --- tablets --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TabletRow:
    device: DevicePublic
    silent_days: int | None  # days since last sync when more than SILENT_AFTER, else None
    may_revoke: bool = False

    @property
    def silent(self) -> bool:
        return self.silent_days is not None and not self.device.revoked

    @property
    def needs_call(self) -> bool:
        return bool(self.device.attention)

    @property
    def pending(self) -> bool:
        status = self.device.status
        return status is not None and fleet.has_pending_public(status) and not self.device.revoked

    @property
    def clock_days(self) -> int:
        """How many whole days the tablet's date is off the server's (ahead > 0, behind < 0)
        when that needs a call (``clock``), else 0."""
        status = self.device.status
        if "clock" not in self.device.attention or status is None:
            return 0
        return round((status.clock_offset_seconds or 0) / 86400)


@dataclass(frozen=True, slots=True)
class TabletsPage:
    tablets: list[TabletRow]
    total: int
    silent: int
    may_manage: bool
    field_experts: list[User]
    needs_call: int = 0
    pending: fleet.PendingOnTablets = fleet.NOTHING_PENDING
    chart: charts.Chart | None = None


# Days since a tablet's last report, in the fleet chart's buckets: (upper bound, label).
REPORT_AGE_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (1, N_("today or yesterday")),
    (7, N_("2–7 days")),
    (30, N_("8–30 days")),
    (None, N_("more than 30 days")),
)


def report_age_bucket(received_at: datetime, now: datetime) -> int:
    """The place in ``REPORT_AGE_BUCKETS`` of a report received at ``received_at``: its age in
    whole days rounded as the list below the chart says it ("2 days ago" is 36 to 60 hours,
    ``Translator.ago``), so that the chart and the list agree on every tablet."""
    days = round((now - received_at).total_seconds() / 86400)
    return next(
        i for i, (upper, _) in enumerate(REPORT_AGE_BUCKETS) if upper is None or days <= upper
    )


def _fleet_chart(t: Translator, rows: Sequence[TabletRow], now: datetime) -> charts.Chart:
    """Tablets by the age of their last report, holding data or not: a fleet at a glance."""
    holding = [0] * (len(REPORT_AGE_BUCKETS) + 1)
    clear = [0] * (len(REPORT_AGE_BUCKETS) + 1)
    for row in rows:
        if row.device.revoked:
            continue
        status = row.device.status
        if status is None:
            index = len(REPORT_AGE_BUCKETS)
        else:
            index = report_age_bucket(status.received_at, now)
        (holding if row.pending else clear)[index] += 1
    categories = [t.gettext(label) for _, label in REPORT_AGE_BUCKETS] + [t.gettext("never")]
    return charts.stacked_bar_chart(
        key="fleet-reports",
        title=t.gettext("Tablets by their last report"),
        categories=categories,
        series=[
            charts.Series(t.gettext("Holding unsynced data"), tuple(holding), charts.PALETTE[4]),
            charts.Series(t.gettext("Nothing waiting"), tuple(clear), charts.PALETTE[2]),
        ],
        x_label=t.gettext("Last report"),
        y_label=t.gettext("Tablets"),
        fmt=_formatter(t),
        texts=_texts(t),
    )


def tablets_page(
    session: Session,
    *,
    caller: Caller,
    t: Translator | None = None,
    pending_days: int = 7,
    now: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> TabletsPage:
    now = now or utcnow()
    found, total = devices_service.list_devices(session, caller=caller, limit=limit, offset=offset)
    # The fleet view: each tablet's latest status, the ones that need a call first.
    found = sorted(
        fleet.with_status(session, found, now=now, pending_days=pending_days),
        key=fleet.call_order,
    )
    may_manage = caller.role in (Role.ADMIN, Role.COUNTRY_OFFICER)
    # Revoking and enrolling follow the rule for changing the person: all their countries.
    holders = {d.user_id for d in found}
    people = list(session.exec(select(User).where(col(User.id).in_(holders)))) if holders else []
    listed: list[User] = []
    if may_manage:
        listed, _ = list_users(session, caller=caller, role=Role.FIELD_EXPERT, limit=500)
    people += listed
    reach = reach_of(session, people)
    manageable = {
        u.id for u in people if may_manage and may_manage_user(caller, u, reach=reach[u.id])
    }
    experts = [u for u in listed if u.is_active and u.id in manageable]
    rows = []
    for device in found:
        seen = device.last_seen_at or device.enrolled_at
        quiet = now - seen if seen is not None else None
        rows.append(
            TabletRow(
                device,
                quiet.days if quiet is not None and quiet > SILENT_AFTER else None,
                may_revoke=device.user_id in manageable,
            )
        )
    return TabletsPage(
        tablets=rows,
        total=total,
        silent=sum(r.silent for r in rows),
        may_manage=may_manage,
        field_experts=experts,
        needs_call=sum(r.needs_call for r in rows),
        pending=fleet.pending_on_tablets(session, caller=caller),
        chart=_fleet_chart(t, rows, now) if t is not None and rows else None,
    )


@dataclass(frozen=True, slots=True)
class Enrolment:
    username: str
    code: str
    expires_at: datetime
    qr_svg: str
    qr_payload: str


def enrol_tablet(
    session: Session, *, caller: Caller, username: str, server_url: str, hours: int
) -> Enrolment:
    if not username:
        raise invalid("username", ErrorCode.REQUIRED, "choose who will use it")
    row, code, user = devices_service.issue_enrolment_code_as(
        session, caller=caller, username=username, hours=hours
    )
    payload = devices_service.qr_payload(code, server_url)
    return Enrolment(
        username=user.username,
        code=code,
        expires_at=row.expires_at,
        qr_svg=devices_service.qr_svg(payload),
        qr_payload=payload,
    )


@dataclass(frozen=True, slots=True)
class Revoked:
    name: str
    # What its latest status said was not yet on the server: it stays on the tablet.
    records: int = 0
    photos: int = 0


def revoke_tablet(session: Session, *, caller: Caller, device_id: uuid.UUID) -> Revoked:
    device, user = devices_service.revoke_device(session, device_id=device_id, caller=caller)
    status = fleet.statuses_of(session, [device.id]).get(device.id)
    if status is None or not fleet.has_pending(status):
        return Revoked(device.label or user.username)
    return Revoked(device.label or user.username, status.pending_mutations, status.pending_uploads)


# --- indicators -------------------------------------------------------------------------------


def indicator_rows(
    session: Session,
    *,
    caller: Caller,
    code: str,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    status: str | None = None,
    count_to: date | None = None,
) -> list[dict[str, Any]]:
    """Rows of one indicator for the caller, exactly as the API's values endpoint computes them
    (``count_to``: targets' actuals so far at that day, ``indicators.indicator_values``)."""
    query = indicators.parse_values_query(
        code=code,
        group_by=",".join(group_by),
        filters=dict(filters or {}),
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
        status=status,
        session=session,  # result indicators are found through the published forms
        caller=caller,
    )
    return indicators.indicator_values(session, caller=caller, query=query, count_to=count_to).rows


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


# No quarter before this is offered: a quarter can be closed only from 2000 on
# (docs/roles.md), and a start date typed as 1900 must not list four hundred years.
FIRST_QUARTER = date(2000, 1, 1)


def report_quarters(session: Session, *, caller: Caller, today: date) -> list[str]:
    """Every quarter the Reports page offers, newest first: from the one of the earliest
    project start or activity in the caller's scope (not before 2000) to today's; today's
    and the last one that ended at least, with nothing in scope."""
    earliest = session.execute(
        sa_select(
            select(func.min(Project.start_date)).where(project_scope(caller)).scalar_subquery(),
            select(func.min(Activity.start_date))
            .where(activity_scope(caller), col(Activity.deleted).is_(False))
            .scalar_subquery(),
        )
    ).one()
    this = quarter_start(today)
    first = min((d for d in earliest if d is not None), default=this)
    first = quarter_start(max(first, FIRST_QUARTER))
    count = max(2, (this.year - first.year) * 4 + (this.month - first.month) // 3 + 1)
    return [quarter_label(add_months(this, -3 * i)) for i in range(count)]


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_label(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True, slots=True)
class Headline:
    code: str
    value: float | None
    previous: float | None
    percent: bool = False  # a share: its change is in percentage points

    @property
    def change(self) -> float | None:
        """Relative change in % (counts) or the difference in points (shares): of the two
        shares as they are written (one decimal), so that "49.6 % … vs 45.0 %" reads
        "4.6 pts", the difference a reader works out, not 4.5 from unrounded values."""
        if self.value is None or self.previous is None:
            return None
        if self.percent:
            return _as_written(self.value) - _as_written(self.previous)
        if not self.previous:
            return None
        return 100.0 * (self.value - self.previous) / self.previous


def _as_written(share: float) -> float:
    """A share rounded as ``Translator.percent(share, 1)`` writes it (Babel: half to even on
    the number's decimal form)."""
    return float(Decimal(str(share)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


HEADLINES: tuple[str, ...] = ("ACTIVITIES", "PARTICIPANTS", "WOMEN_SHARE", "TRAININGS")
THEMATIC_COLORS = {
    "TA1": charts.PALETTE[0],
    "TA2": charts.PALETTE[1],
    "TA3": charts.PALETTE[2],
    "TA4": charts.PALETTE[3],
}
SEX_COLORS = {"female": "#9b5b8f", "male": "#3f9aa6", "unspecified": "#a3adba"}
TARGET_COLOR = "#b9c6d3"


@dataclass(frozen=True, slots=True)
class Overview:
    quarter: str
    previous_quarter: str
    headlines: list[Headline]
    charts: list[charts.Chart]
    waiting: list[queries.ActivitySummary]
    waiting_total: int
    countries: list[str]
    country: str
    window_from: date
    window_to: date
    quarter_day: int  # today is this day of the quarter...
    quarter_days: int  # ...out of this many
    previous_until: date  # the headlines compare with the last quarter up to this day
    targeted: list[str]  # indicators with current targets (the achievement chart's choices)
    target_indicator: str  # the one the achievement chart shows
    # What the caller's tablets last said they still hold, and those flagged by the
    # pending-tablets job (held unsynced data for more than pending_days days).
    pending: fleet.PendingOnTablets = fleet.NOTHING_PENDING
    flagged: list[fleet.FlaggedTablet] = field(default_factory=list)
    flagged_total: int = 0


def _texts(t: Translator) -> charts.Texts:
    return charts.Texts(
        data_table=t.gettext("Show the numbers"),
        no_data=t.gettext("No data yet for this selection."),
        total=t.gettext("Total"),
        actual=t.gettext("Actual"),
        target=t.gettext("Target"),
        achieved=t.gettext("Achieved"),
        highest=t.gettext("%(series)s: %(value)s at most (%(category)s)"),
    )


def _formatter(t: Translator) -> charts.Formatter:
    return lambda v: t.number(v, 0 if float(v).is_integer() else 1)


def overview(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    today: date,
    country: str = "",
    target_indicator: str = "",
) -> Overview:
    """Headlines of this quarter against the last, and the four charts of the overview."""
    projects, _ = projects_service.list_projects(session, caller=caller, limit=1000)
    countries = sorted({p.country for p in projects})
    if country and country not in countries:
        # An unknown or another office's country is refused, never quietly shown as all of
        # them; one in scope without a project yet is shown, empty.
        problem = (
            Issue("country", ErrorCode.UNKNOWN_CODE, f"unknown country {country}")
            if country not in COUNTRIES
            else country_scope_issue(session, caller=caller, countries=[country])
        )
        if problem is not None:
            raise ValidationFailed([problem], status_code=400)
        countries = sorted({*countries, country})
    filters = {"country": country} if country else {}
    this_q = quarter_start(today)
    last_q = add_months(this_q, -3)
    q_end = add_months(this_q, 3) - timedelta(days=1)
    # Like with like: the quarter so far against the same number of days of the last one
    # (day 66 against day 66), never against the whole of it.
    day = (today - this_q).days + 1
    last_until = min(last_q + timedelta(days=day - 1), this_q - timedelta(days=1))
    headlines = []
    for code in HEADLINES:
        percent = code == "WOMEN_SHARE"
        empty = None if percent else 0
        value, previous = (
            (
                indicator_rows(
                    session,
                    caller=caller,
                    code=code,
                    filters=filters,
                    date_from=first,
                    date_to=last,
                )
                or [{"value": empty}]
            )[0]["value"]
            for first, last in ((this_q, today), (last_q, last_until))
        )
        headlines.append(Headline(code, value, previous, percent))
    window_from = add_months(today.replace(day=1), -11)
    texts, fmt = _texts(t), _formatter(t)
    achievement, targeted, shown = _achievement_by_project(
        session, caller, t, filters, today, texts, fmt, target_indicator
    )
    made = [
        *activity_charts(
            session,
            caller,
            t,
            filters,
            months_from=window_from,
            quarters_from=add_months(this_q, -21),
            last=q_end,
        ),
        achievement,
    ]
    flagged, flagged_total = fleet.flagged_tablets(
        session, caller=caller, country=country or None, limit=5
    )
    waiting, waiting_total = queries.list_activities(
        session,
        caller=caller,
        limit=6,
        filters=queries.ActivityFilters(status=ActivityStatus.SUBMITTED, country=country or None),
    )
    return Overview(
        quarter=quarter_label(this_q),
        previous_quarter=quarter_label(last_q),
        headlines=headlines,
        charts=made,
        waiting=waiting,
        waiting_total=waiting_total,
        countries=countries,
        country=country,
        window_from=window_from,
        window_to=today,
        quarter_day=day,
        quarter_days=(q_end - this_q).days + 1,
        previous_until=last_until,
        targeted=targeted,
        target_indicator=shown,
        pending=fleet.pending_on_tablets(session, caller=caller, country=country or None),
        flagged=flagged,
        flagged_total=flagged_total,
    )


def _months(first: date, count: int) -> list[date]:
    return [add_months(first, i) for i in range(count)]


def activity_charts(
    session: Session,
    caller: Caller,
    t: Translator,
    filters: Mapping[str, str],
    *,
    months_from: date,
    quarters_from: date,
    last: date,
) -> list[charts.Chart]:
    """The charts of activities and participants that the overview and the quarterly report
    both draw, up to ``last``: activities per month by thematic area (twelve months from
    ``months_from``), participants by sex and age band since ``months_from``, and women's share
    per quarter (eight quarters from ``quarters_from``)."""
    texts, fmt = _texts(t), _formatter(t)

    def rows(code: str, group_by: tuple[str, ...], first: date) -> list[dict[str, Any]]:
        return indicator_rows(
            session,
            caller=caller,
            code=code,
            group_by=group_by,
            filters=filters,
            date_from=first,
            date_to=last,
        )

    return [
        _activities_by_month(
            t,
            rows("ACTIVITIES", ("period:month", "thematic_area"), months_from),
            months_from,
            texts,
            fmt,
        ),
        _participants_by_sex_age(
            t, rows("PARTICIPANTS", ("age_band", "sex"), months_from), texts, fmt
        ),
        _women_share(
            t, rows("WOMEN_SHARE", ("period:quarter",), quarters_from), quarters_from, texts
        ),
    ]


def _activities_by_month(
    t: Translator,
    rows: Sequence[Mapping[str, Any]],
    first: date,
    texts: charts.Texts,
    fmt: charts.Formatter,
) -> charts.Chart:
    months = _months(first, 12)
    cells = {(r["period"], r["thematic_area"]): r["value"] for r in rows}
    present = [ta for ta in THEMATIC_COLORS if any(k[1] == ta for k in cells)]
    series = [
        charts.Series(
            t.label("thematic_area_short", ta),
            tuple(float(cells.get((month_label(m), ta), 0)) for m in months),
            THEMATIC_COLORS[ta],
        )
        for ta in present
    ]
    return charts.stacked_bar_chart(
        key="activities-by-month",
        title=t.gettext("Activities per month by thematic area"),
        categories=[t.month(m) for m in months],
        series=series,
        x_label=t.gettext("Month"),
        y_label=t.gettext("Activities"),
        fmt=fmt,
        texts=texts,
    )


def _participants_by_sex_age(
    t: Translator, rows: Sequence[Mapping[str, Any]], texts: charts.Texts, fmt: charts.Formatter
) -> charts.Chart:
    cells = {(r["age_band"], r["sex"]): r["value"] for r in rows}
    ages = [a for a in codes(AgeBand) if a != AgeBand.UNSPECIFIED or any(k[0] == a for k in cells)]
    sexes = [s for s in codes(Sex) if s != Sex.UNSPECIFIED or any(k[1] == s for k in cells)]
    series = [
        charts.Series(
            t.label("sex", s), tuple(float(cells.get((a, s), 0)) for a in ages), SEX_COLORS[s]
        )
        for s in sexes
    ]
    return charts.grouped_bar_chart(
        key="participants-by-sex-age",
        title=t.gettext("Participants by sex and age band, last 12 months"),
        categories=[t.label("age_band", a) for a in ages],
        series=series,
        x_label=t.gettext("Age band"),
        y_label=t.gettext("Participants"),
        fmt=fmt,
        texts=texts,
    )


def _women_share(
    t: Translator, rows: Sequence[Mapping[str, Any]], first: date, texts: charts.Texts
) -> charts.Chart:
    quarters = [quarter_label(add_months(first, 3 * i)) for i in range(8)]
    by_quarter = {r["period"]: r["value"] for r in rows}
    values = tuple(None if by_quarter.get(q) is None else float(by_quarter[q]) for q in quarters)
    return charts.line_chart(
        key="women-share",
        title=t.gettext("Women's share of participants by quarter"),
        categories=quarters,
        series=[charts.Series(t.gettext("Women's share"), values, SEX_COLORS["female"])],
        x_label=t.gettext("Quarter"),
        y_label=t.gettext("Share of women (%)"),
        fmt=lambda v: t.percent(v, 1),  # as the headline figure writes it: 45.4 %, not 45 %
        tick_fmt=lambda v: t.percent(v),
        y_max=100,
        reference=(50.0, t.gettext("parity")),
        texts=texts,
    )


@dataclass(frozen=True, slots=True)
class TargetProgress:
    project: str
    indicator: str
    period: str
    sex: str | None
    target: float
    actual: float | None  # None: nothing answered a result indicator in the period
    achievement: float | None


def target_progress(rows: Sequence[Mapping[str, Any]]) -> list[TargetProgress]:
    return [
        TargetProgress(
            project=str(r.get("project") or ""),
            indicator=str(r["indicator"]),
            period=str(r["period"]),
            sex=r.get("sex"),
            target=float(r["target"] or 0),
            actual=None if r["actual"] is None else float(r["actual"]),
            achievement=r.get("value"),
        )
        for r in rows
    ]


def current_targets(progress: Sequence[TargetProgress], today: date) -> list[TargetProgress]:
    """Per project, indicator and sex, the target to show today: the longest period holding
    today (the annual plan before its quarters), else the latest that ended, else the next."""
    best: dict[tuple[str, str, str | None], tuple[tuple[int, int], TargetProgress]] = {}
    for item in progress:
        first, last = period_bounds(item.period)
        if first <= today <= last:
            rank = (0, -(last - first).days)
        elif last < today:
            rank = (1, -last.toordinal())
        else:
            rank = (2, first.toordinal())
        key = (item.project, item.indicator, item.sex)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, item)
    return sorted(
        (item for _, item in best.values()), key=lambda i: (i.project, i.indicator, i.sex or "")
    )


def _progress_label(
    t: Translator,
    item: TargetProgress,
    *,
    with_project: bool,
    names: Mapping[str, str] | None = None,
) -> str:
    name = (names or {}).get(item.indicator) or t.label("indicator", item.indicator)
    if item.sex:
        name += f" · {t.label('sex', item.sex)}"
    return f"{item.project} · {name}" if with_project else name


def _achievement_by_project(
    session: Session,
    caller: Caller,
    t: Translator,
    filters: Mapping[str, str],
    today: date,
    texts: charts.Texts,
    fmt: charts.Formatter,
    wanted: str,
) -> tuple[charts.Chart, list[str], str]:
    """One bar per project for one targeted indicator (the chart, the indicators that have
    current targets, the one shown)."""
    rows = indicator_rows(
        session, caller=caller, code="TARGET_ACHIEVEMENT", group_by=("project",), filters=filters
    )
    current = current_targets(target_progress(rows), today)
    targeted = [code for code in INDICATORS if any(i.indicator == code for i in current)]
    shown = (
        wanted
        if wanted in targeted
        else ("ACTIVITIES" if "ACTIVITIES" in targeted else (targeted[0] if targeted else ""))
    )
    items = [
        charts.Progress(
            t.label("sex", i.sex) if i.sex else i.period,
            i.actual,
            i.target,
            i.achievement,
            detail=i.period if i.sex else "",  # the period once: "2026", not "2026 (2026)"
            group=i.project,
        )
        for i in current
        if i.indicator == shown
    ]
    title = (
        t.gettext(
            "Achievement against target per project: %(indicator)s",
            indicator=t.label("indicator", shown),
        )
        if shown
        else t.gettext("Achievement against target per project")
    )
    chart = charts.progress_chart(
        key="achievement",
        title=title,
        items=items,
        x_label=t.gettext("Share of the target reached (current period)"),
        fmt=fmt,
        percent=lambda v: t.percent(v),
        texts=texts,
    )
    return chart, targeted, shown


# --- showing stored values ------------------------------------------------------------------

VOCABULARY_OF_FIELD = {
    "type": "activity_type",
    "status": "status",
    "modality": "modality",
    "level": "level",
    "delivery": "delivery",
    "value_chain_stage": "value_chain_stage",
}


def describe(
    t: Translator,
    name: str,
    value: Any,
    names: Mapping[str, str] | None = None,
    *,
    whole: bool = False,
) -> str:
    """A stored field value in words, for revision diffs and conflicts. Long text is cut at 120
    characters in the history; ``whole`` keeps all of it (a conflict's sides, where the reader
    must see what differs to choose)."""
    if value is None or value == "" or value == []:
        return "–"
    if name in ("project_id", "site_id"):
        return (names or {}).get(str(value), str(value)[:8] + "…")
    if name in VOCABULARY_OF_FIELD:
        return t.label(VOCABULARY_OF_FIELD[name], str(value))
    if name == "attendance" and isinstance(value, list):
        summary = summarise_attendance(value)
        return t.gettext(
            "%(total)s participants, %(women)s women",
            total=t.number(summary.total),
            women=t.number(summary.women),
        )
    if name == "location" and isinstance(value, dict):
        return f"{value.get('lat')}, {value.get('lon')}"
    if name == "participant_ids" and isinstance(value, list):
        return t.ngettext("%(num)s person", "%(num)s people", len(value))
    if name in ("start_date", "end_date"):
        try:
            return t.date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if isinstance(value, bool):
        return t.gettext("yes") if value else t.gettext("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    text = str(value)
    return text if whole or len(text) <= 120 else text[:119] + "…"


# --- exports --------------------------------------------------------------------------------

EXPORT_FORMATS: tuple[str, ...] = ("csv", "xlsx", "dhis2", "iati")
ACTIVITY_FORMATS: tuple[str, ...] = ("activities-csv", "activities-xlsx")
EXPORT_FILTERS: tuple[str, ...] = ("country", "project", "thematic_area", "activity_type")
# The form's filters a file cannot apply: refused by name rather than quietly ignored (DHIS2's
# file is every mapped indicator per country; IATI's is per project, by dates).
UNFILTERED: Mapping[str, tuple[str, ...]] = {
    "dhis2": ("project", "thematic_area", "activity_type", "from", "to"),
    "iati": ("thematic_area", "activity_type"),
}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What the export form asks for; each format uses the parts that apply to it."""

    format: str
    indicator: str = "PARTICIPANTS"
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, str] = field(default_factory=dict)
    date_from: str = ""
    date_to: str = ""
    status: str = ""  # "" counts submitted and approved; "approved" only approved
    period: str = ""  # DHIS2: 2025, 2025Q3 or 2025-07


@dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    media_type: str
    chunks: Iterable[bytes]


def export_file(
    session: Session, *, caller: Caller, settings: Settings, request: ExportRequest
) -> ExportFile:
    """The file the export form asked for, made by the same functions as /api/v1/exports."""
    stamp = utcnow().strftime("%Y%m%d")
    given = {**request.filters, "from": request.date_from, "to": request.date_to}
    if ignored := [name for name in UNFILTERED.get(request.format, ()) if given.get(name)]:
        raise ValidationFailed(
            [
                Issue(
                    name,
                    ErrorCode.NOT_APPLICABLE,
                    f"the {request.format} file does not "
                    f"filter by {name}: leave it empty, or download a CSV",
                )
                for name in ignored
            ],
            status_code=400,
        )
    # The form's "Count" choice, said explicitly to every format (IATI included).
    status = request.status or ",".join(DEFAULT_STATUSES)
    if request.format in ("csv", "xlsx"):
        query = indicators.parse_values_query(
            code=request.indicator,
            group_by=",".join(request.group_by),
            filters={k: v for k, v in request.filters.items() if v},
            date_from=request.date_from or None,
            date_to=request.date_to or None,
            status=status,
            session=session,  # result indicators too, as the API's export finds them
            caller=caller,
        )
        values = indicators.indicator_values(session, caller=caller, query=query)
        columns = value_columns(values)
        rows = value_rows(values, site_names(session, values))
        name = f"{values.indicator.lower()}-{stamp}.{request.format}"
        if request.format == "csv":
            return ExportFile(name, tabular.CSV_MEDIA_TYPE, tabular.csv_chunks(columns, rows))
        workbook = tabular.xlsx_file(values.indicator, columns, rows)
        return ExportFile(name, tabular.XLSX_MEDIA_TYPE, tabular.file_chunks(workbook))
    if request.format == "dhis2":
        if not request.period:
            raise invalid(
                "period",
                ErrorCode.REQUIRED,
                "give the period to send, like 2025, 2025Q3 or 2025-07",
                status_code=400,
            )
        found = dhis2.data_value_set(
            session,
            caller=caller,
            mapping=dhis2.load_mapping(settings.dhis2_mapping),
            period=request.period,
            country=request.filters.get("country") or None,
            status=status,
        )
        body = json.dumps(found.as_json(), ensure_ascii=False, indent=1).encode()
        return ExportFile(
            f"dhis2-datavalueset-{request.period}-{stamp}.json", "application/json", [body]
        )
    if request.format == "iati":
        body = iati.iati_activities(
            session,
            caller=caller,
            organisation=iati.Organisation(
                settings.iati_reporting_org_ref, settings.iati_reporting_org_name
            ),
            country=request.filters.get("country") or None,
            project=request.filters.get("project") or None,
            status=status,
            date_from=request.date_from or None,
            date_to=request.date_to or None,
        )
        return ExportFile(f"iati-activities-{stamp}.xml", "application/xml", [body])
    raise invalid(
        "format", ErrorCode.UNKNOWN_CODE, "choose CSV, XLSX, DHIS2 or IATI", status_code=400
    )


def activities_file(engine: Engine, *, caller: Caller, request: ExportRequest) -> ExportFile:
    """The activities matching the form's filters, one per row, as /api/v1/exports/activities.*
    makes them (the form's "count" choice becomes a status filter)."""
    dates: dict[str, date | None] = {}
    for name, text in (("from", request.date_from), ("to", request.date_to)):
        try:
            dates[name] = date.fromisoformat(text) if text else None
        except ValueError:
            raise invalid(
                name, ErrorCode.BAD_DATE, "use a date like 2025-03-14", status_code=400
            ) from None
    f = request.filters
    filters = queries.ActivityFilters(
        country=f.get("country") or None,
        project=f.get("project") or None,
        thematic_area=f.get("thematic_area") or None,
        activity_type=f.get("activity_type") or None,
        status=request.status or ",".join(DEFAULT_STATUSES),
        date_from=dates["from"],
        date_to=dates["to"],
    )
    with Session(engine) as session:  # bad filters are refused before a file starts
        queries.check_filters(session, caller=caller, filters=filters)
    rows = activity_export.activity_rows(engine, caller=caller, filters=filters)
    name = f"activities-{utcnow().strftime('%Y%m%d')}"
    if request.format == "activities-csv":
        return ExportFile(
            f"{name}.csv", tabular.CSV_MEDIA_TYPE, tabular.csv_chunks(activity_export.COLUMNS, rows)
        )
    workbook = tabular.xlsx_file(
        "Activities", activity_export.COLUMNS, rows, widths=activity_export.WIDTHS
    )
    return ExportFile(f"{name}.xlsx", tabular.XLSX_MEDIA_TYPE, tabular.file_chunks(workbook))


# The label row's words for the columns every observation has (the fields bring their own).
OBSERVATION_HEADINGS: dict[str, str] = {
    "id": N_("Observation"),
    "project": N_("Project"),
    "site_id": N_("Site"),
    "observed_on": N_("Date observed"),
    "form_version": N_("Form version"),
    "status": N_("Status"),
    "notes": N_("Notes"),
    "captured_at": N_("Captured on the tablet"),
    "created_at": N_("Received by the server"),
    "updated_at": N_("Last changed"),
}
OBSERVATION_FORMATS: tuple[str, ...] = ("csv", "xlsx")


def observations_file(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    form: str,
    project: str = "",
    status: str = "",
    format: str = "xlsx",
) -> ExportFile:
    """One form's observations as /api/v1/exports/observations.* makes them, the XLSX's label
    row in the reader's language (fields' labels, units' words, the fixed columns' names).
    No status is the export's default (submitted and approved)."""
    if format not in OBSERVATION_FORMATS:
        raise invalid("format", ErrorCode.UNKNOWN_CODE, "choose CSV or XLSX", status_code=400)
    table = observation_table(
        session,
        caller=caller,
        form=form,
        statuses=[status] if status else None,
        project_ids=(
            indicators.resolve_projects(session, caller=caller, values=[project])
            if project
            else None
        ),
        lang=t.language,
        ngettext=t.ngettext,
    )
    name = f"observations-{table.form.lower()}-{utcnow().strftime('%Y%m%d')}.{format}"
    if format == "csv":
        return ExportFile(
            name, tabular.CSV_MEDIA_TYPE, tabular.csv_chunks(table.columns, table.rows)
        )
    fields = table.labels[len(LEADING) : len(table.labels) - len(TRAILING)]
    labels = [
        *(t.gettext(OBSERVATION_HEADINGS[c]) for c in LEADING),
        *fields,
        *(t.gettext(OBSERVATION_HEADINGS[c]) for c in TRAILING),
    ]
    workbook = tabular.xlsx_file(table.form, table.columns, table.rows, labels=labels)
    return ExportFile(name, tabular.XLSX_MEDIA_TYPE, tabular.file_chunks(workbook))


@dataclass(frozen=True, slots=True)
class ExportChoices:
    indicators: list[str]
    group_by: dict[str, list[str]]  # indicator -> the keys that break it down
    projects: list[Project]
    countries: list[str]
    thematic_areas: list[str]
    names: dict[str, str]  # the result indicators' names in the reader's language


def export_choices(session: Session, *, caller: Caller, t: Translator) -> ExportChoices:
    """The catalogue's indicators, then the result indicators of the published forms, as the
    indicator listing and /api/v1/exports/indicators.* offer them (docs/results.md#exports)."""
    projects, _ = projects_service.list_projects(session, caller=caller, limit=1000)
    results = result_indicators(session, caller)
    return ExportChoices(
        indicators=[*INDICATORS, *results],
        group_by={
            **{c: list(i.group_by) for c, i in INDICATORS.items()},
            **{c: list(r.group_by) for c, r in results.items()},
        },
        projects=projects,
        countries=sorted({p.country for p in projects}),
        thematic_areas=sorted({p.thematic_area for p in projects}),
        names={c: r.label(t.language) for c, r in results.items()},
    )


# --- people -----------------------------------------------------------------------------------
# Every read and change goes through server.accounts.service (list_users, get_user,
# create_user_as, update_user), so the page has exactly the API's scope and rules; the forms are
# checked against the API's own request models (UserCreate, UserUpdate) first.

PEOPLE_READERS = frozenset({Role.ADMIN, Role.COUNTRY_OFFICER, Role.HQ_ANALYST})
PEOPLE_MANAGERS = frozenset({Role.ADMIN, Role.COUNTRY_OFFICER})


def may_see_people(caller: Caller) -> bool:
    """Who gets the People page (GET /api/v1/users allows the same roles)."""
    return caller.role in PEOPLE_READERS


def creatable_roles(caller: Caller) -> list[str]:
    """The roles the caller may give a new person, in the catalogue's order."""
    if caller.role == Role.ADMIN:
        return codes(Role)
    if caller.role == Role.COUNTRY_OFFICER:
        return [r for r in codes(Role) if r in OFFICER_MAY_CREATE]
    return []


@dataclass(frozen=True, slots=True)
class PersonRow:
    person: UserPublic
    tablets: int  # enrolled and not revoked
    last_sync: datetime | None  # the latest contact of any of their tablets
    may_manage: bool
    is_self: bool


@dataclass(frozen=True, slots=True)
class PeopleChoices:
    """What the form to add a person offers this caller."""

    roles: list[str]
    countries: list[str]  # ISO3 codes the caller may give (an admin: any)
    projects: list[Project]


@dataclass(frozen=True, slots=True)
class PeoplePage:
    rows: list[PersonRow]
    total: int
    may_create: bool
    choices: PeopleChoices | None


def _refuse_unless_reader(caller: Caller) -> None:
    if not may_see_people(caller):
        raise Forbidden(f"your role ({caller.role}) does not see other people's accounts")


def people_page(
    session: Session,
    *,
    caller: Caller,
    q: str = "",
    role: str = "",
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> PeoplePage:
    _refuse_unless_reader(caller)
    users, total = list_users(
        session, caller=caller, role=role or None, q=q or None, limit=limit, offset=offset
    )
    summary = _tablet_summary(session, caller=caller, user_ids=[u.id for u in users])
    reach = reach_of(session, users)
    rows = [
        PersonRow(
            person=p,
            tablets=summary.get(p.id, (0, None))[0],
            last_sync=summary.get(p.id, (0, None))[1],
            may_manage=may_manage_user(caller, p, reach=reach[p.id]),
            is_self=p.id == caller.user.id,
        )
        for p in user_publics(session, users)
    ]
    may_create = bool(creatable_roles(caller))
    return PeoplePage(
        rows=rows,
        total=total,
        may_create=may_create,
        choices=people_choices(session, caller=caller) if may_create else None,
    )


def people_choices(session: Session, *, caller: Caller) -> PeopleChoices:
    projects, _ = projects_service.list_projects(session, caller=caller, limit=1000)
    if caller.role == Role.ADMIN:
        countries = sorted(COUNTRIES, key=lambda iso3: COUNTRIES[iso3].name)
    else:
        countries = sorted(
            caller.countries, key=lambda c: COUNTRIES[c].name if c in COUNTRIES else c
        )
    return PeopleChoices(
        roles=creatable_roles(caller),
        countries=countries,
        projects=sorted(projects, key=lambda p: p.code),
    )


def _tablet_summary(
    session: Session, *, caller: Caller, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, datetime | None]]:
    """Per person: how many tablets they hold and when one last synced (one query)."""
    if not user_ids:
        return {}
    active = case((col(Device.revoked_at).is_(None), 1))
    rows = session.exec(
        select(col(Device.user_id), func.count(active), func.max(col(Device.last_seen_at)))
        .where(device_scope(caller), col(Device.user_id).in_(list(user_ids)))
        .group_by(col(Device.user_id))
    )
    return {user_id: (int(count or 0), seen) for user_id, count, seen in rows}


@dataclass(frozen=True, slots=True)
class PersonChange:
    """One change of a person's account, from the audit log: when, by whom (None: the
    server's command line), and each field's value before and after."""

    at: datetime
    actor: str | None
    action: str
    fields: list[tuple[str, Any, Any]]


# The person page shows this many of the latest changes; the audit log keeps them all.
PERSON_CHANGES = 10
# Sign-ins are the audit log's too, but no change of the account.
_SIGN_INS = frozenset({"login", "login_failed", "login_locked"})


@dataclass(frozen=True, slots=True)
class PersonPage:
    person: UserPublic
    tablets: list[DevicePublic]
    may_manage: bool
    is_self: bool
    # What the caller may give this person (None: it may not change their scope): the
    # projects of a field expert, the countries of a country officer (``scope_field``).
    choices: PeopleChoices | None = None
    changes: list[PersonChange] = field(default_factory=list)

    @property
    def scope_field(self) -> str | None:
        return scope_field(self.person.role)


def person_page(session: Session, *, caller: Caller, user_id: uuid.UUID) -> PersonPage:
    _refuse_unless_reader(caller)
    user = get_user(session, caller=caller, user_id=user_id)
    devices, _ = devices_service.list_devices(session, caller=caller, user_id=user.id, limit=100)
    may_manage = may_manage_user(caller, user, reach=reach_of(session, [user])[user.id])
    is_self = user.id == caller.user.id
    # nobody changes their own scope (server.accounts.service.update_user), nor anyone's who
    # sees everything by role
    gives = may_manage and not is_self and scope_field(user.role) is not None
    return PersonPage(
        person=user_publics(session, [user])[0],
        tablets=devices,
        may_manage=may_manage,
        is_self=is_self,
        choices=people_choices(session, caller=caller) if gives else None,
        changes=person_changes(session, caller=caller, user_id=user.id),
    )


def person_changes(
    session: Session, *, caller: Caller, user_id: uuid.UUID, limit: int = PERSON_CHANGES
) -> list[PersonChange]:
    """The latest changes of a person's account the caller may read in the audit log (the
    scope of ``GET /api/v1/audit``), newest first, without their sign-ins."""
    entries, _ = audit_queries.list_entries(
        session,
        caller=caller,
        entity="user",
        entity_id=str(user_id),
        without_actions=_SIGN_INS,
        limit=limit,
    )
    changes = []
    for entry in entries:
        before, after = entry.before or {}, entry.after or {}
        names = [n for n in after if n != "username"] if entry.action == "create" else list(after)
        changes.append(
            PersonChange(
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                fields=[(n, before.get(n), after.get(n)) for n in names],
            )
        )
    return changes


def scope_field(role: str) -> str | None:
    """What the person page changes of someone's scope: a field expert's projects (their
    countries follow from them), a country officer's countries; nothing of an HQ analyst's or
    an admin's, who see everything by role."""
    return role_scope_field(role)


def _checked(model: type[UserCreate] | type[UserUpdate], data: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values as the API would accept them, or ValidationFailed per field."""
    try:
        return model.model_validate(data).model_dump(exclude_unset=True)
    except PydanticValidationError as exc:
        raise ValidationFailed(_model_issues(exc)) from exc


def _model_issues(exc: PydanticValidationError) -> list[Issue]:
    # pydantic_issues' codes and limits (a text's "high"), named by the top field
    return [
        replace(found, field=str(e["loc"][0]) if e["loc"] else "form")
        for e, found in zip(exc.errors(), pydantic_issues(exc.errors()), strict=True)
    ]


def person_issues(session: Session, *, caller: Caller, data: Mapping[str, Any]) -> list[Issue]:
    """Every problem of the Add-a-person form at once: the API model's limits, and the account
    rules on the fields within them (a too-long name must not hide a weak password)."""
    try:
        UserCreate.model_validate(data)
        issues: list[Issue] = []
    except PydanticValidationError as exc:
        issues = _model_issues(exc)
    limited = {i.field for i in issues}
    return issues + [
        i for i in new_user_issues(session, caller=caller, data=data) if i.field not in limited
    ]


def create_person(session: Session, *, caller: Caller, data: Mapping[str, Any]) -> User:
    """Add a person from the form (ValidationFailed, Conflict or Forbidden as the API)."""
    return create_user_as(session, caller=caller, data=_checked(UserCreate, data))


def set_person_active(
    session: Session, *, caller: Caller, user_id: uuid.UUID, active: bool
) -> User:
    return update_user(
        session, caller=caller, user_id=user_id, changes=_checked(UserUpdate, {"is_active": active})
    )


def set_person_password(
    session: Session, *, caller: Caller, user_id: uuid.UUID, password: str
) -> User:
    return update_user(
        session,
        caller=caller,
        user_id=user_id,
        changes=_checked(UserUpdate, {"password": password}),
    )


def set_person_scope(
    session: Session, *, caller: Caller, user_id: uuid.UUID, chosen: Mapping[str, Sequence[str]]
) -> tuple[User, bool]:
    """Give a person the projects (a field expert) or countries (anyone else) ``chosen`` on
    their page (the other list is not read), as ``PATCH /users/{id}`` would; the person, and
    whether anything changed."""
    user = get_user(session, caller=caller, user_id=user_id)
    # (an HQ analyst or an admin is given no list: any sent is refused by the rules)
    key = scope_field(user.role) or "countries"
    before = user_publics(session, [user])[0]
    changes = _checked(UserUpdate, {key: list(chosen.get(key, ()))})
    user = update_user(session, caller=caller, user_id=user_id, changes=changes)
    session.flush()
    after = user_publics(session, [user])[0]
    changed = (before.countries, before.projects) != (after.countries, after.projects)
    return user, changed
