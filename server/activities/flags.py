"""What the activity kernel looks up to flag an activity (never a rejection): its project's
sites, its usual attendance, same-day duplicates, photos reused elsewhere, closed periods.

``FlagFacts`` caches these per write (a push keeps one for its whole batch), and computes the
flags of many new activities with one query per kind of fact instead of one per activity.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from server.activities.models import Activity, Attachment, AttendanceRow, ClosedPeriod
from server.projects.models import Project, Site
from shared.errors import Issue
from shared.validation import ProjectFacts, SiteFacts, quality_flags

# Projects whose usual attendance is the median of at most this many recent activities.
USUAL_ATTENDANCE_SAMPLE = 200

_Key = tuple[str, str | None, str, str]  # project, site, type, start date (ISO)


def quarter_of(day: date) -> str:
    """``2025-03-14`` -> ``2025Q1``."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def closed_period_for(session: Session, country: str, day: date) -> ClosedPeriod | None:
    """The closed quarter of ``country`` that contains ``day``, if that quarter is closed."""
    return session.execute(
        select(ClosedPeriod).where(
            col(ClosedPeriod.country) == country, col(ClosedPeriod.period) == quarter_of(day)
        )
    ).scalar_one_or_none()


def project_facts(project: Project) -> ProjectFacts:
    return ProjectFacts(
        str(project.id),
        project.country,
        tuple(project.solutions or ()),
        project.start_date,
        project.end_date,
        code=project.code,
    )


def as_flags(issues: Sequence[Issue]) -> list[dict[str, Any]]:
    """Stored flags: ``params`` are the values the message was written with, by name (the
    dashboard words a flag from its code and these, docs/product.md, Flags)."""
    return [
        {"code": i.code, "field": i.field, "message": i.message, "params": dict(i.params)}
        for i in issues
    ]


def photo_reused(session: Session, *, activity_id: uuid.UUID) -> bool:
    """Whether a photo of this activity (same sha256) is also on another activity."""
    mine = select(col(Attachment.sha256)).where(
        col(Attachment.activity_id) == activity_id,
        col(Attachment.deleted) == False,  # noqa: E712
    )
    found = session.execute(
        select(col(Attachment.id))
        .where(
            col(Attachment.sha256).in_(mine),
            col(Attachment.activity_id) != activity_id,
            col(Attachment.deleted) == False,  # noqa: E712
        )
        .limit(1)
    ).first()
    return found is not None


def same_day_counts(
    project_ids: Collection[uuid.UUID], days: Collection[date]
) -> Select[uuid.UUID, uuid.UUID | None, str, date, int]:
    """The live activities of these projects on these days, counted by project, site, type and
    day: the likely-duplicate count of a batch of new ones. It reads the index
    ``ix_activity_project_start`` alone (tests/server/activities/test_flags_plan.py)."""
    return (
        select(
            col(Activity.project_id),
            col(Activity.site_id),
            col(Activity.type),
            col(Activity.start_date),
            func.count(),
        )
        .where(
            col(Activity.project_id).in_(project_ids),
            col(Activity.start_date).in_(days),
            col(Activity.deleted) == False,  # noqa: E712
        )
        .group_by(
            col(Activity.project_id),
            col(Activity.site_id),
            col(Activity.type),
            col(Activity.start_date),
        )
    )


def recent_attendance_totals(project_id: uuid.UUID) -> Select[tuple[int | None]]:
    """The attendance total of each of the project's most recent live activities (by date, at
    most ``USUAL_ATTENDANCE_SAMPLE``; None for one without attendance rows): what its usual
    attendance is the median of. Each total is summed through ``ix_attendance_activity_id``,
    one activity at a time, so the query reads a few hundred rows however large the table;
    asked as ``activity_id IN (recent)``, PostgreSQL hashed the recent ids and read the whole
    attendance table on every push (tests/server/activities/test_flags_plan.py)."""
    recent = (
        select(col(Activity.id).label("id"))
        .where(col(Activity.project_id) == project_id, col(Activity.deleted) == False)  # noqa: E712
        .order_by(col(Activity.start_date).desc())
        .limit(USUAL_ATTENDANCE_SAMPLE)
        .subquery("recent")
    )
    total = (
        select(func.sum(AttendanceRow.count))
        .where(col(AttendanceRow.activity_id) == recent.c.id)
        .scalar_subquery()
    )
    return select(total).select_from(recent)


@dataclass
class FlagFacts:
    """The facts behind an activity's flags, looked up once per project (or country)."""

    session: Session
    today: date
    _projects: dict[uuid.UUID, Project | None] = field(default_factory=dict)
    _by_text: dict[str, Project | None] = field(default_factory=dict)
    _sites: dict[uuid.UUID, dict[str, SiteFacts]] = field(default_factory=dict)
    _usual: dict[uuid.UUID, float | None] = field(default_factory=dict)
    _closed: dict[str, dict[str, datetime]] = field(default_factory=dict)  # period -> closed at
    _validation: dict[uuid.UUID, ProjectFacts] = field(default_factory=dict)
    # The last project validate_activity was given facts for, with them (a batch names the
    # same project again and again); forget_sites drops it.
    _last: tuple[Project, ProjectFacts, dict[str, SiteFacts]] | None = None

    def project(self, project_id: Any) -> Project | None:
        if type(project_id) is str and project_id in self._by_text:  # a batch names it again
            return self._by_text[project_id]
        try:
            key = project_id if isinstance(project_id, uuid.UUID) else uuid.UUID(str(project_id))
        except (TypeError, ValueError):
            return None
        if key not in self._projects:
            self._projects[key] = self.session.get(Project, key)
        if type(project_id) is str:
            self._by_text[project_id] = self._projects[key]
        return self._projects[key]

    def project_facts(self, project: Project) -> ProjectFacts:
        """What validation needs of ``project`` (made once per project, like the rest)."""
        found = self._validation.get(project.id)
        if found is None:
            found = self._validation[project.id] = project_facts(project)
        return found

    def sites(self, project: Project) -> dict[str, SiteFacts]:
        if project.id not in self._sites:
            rows = self.session.execute(
                select(col(Site.id), col(Site.lat), col(Site.lon)).where(
                    col(Site.project_id) == project.id, col(Site.status) != "rejected"
                )
            ).all()
            self._sites[project.id] = {
                str(r.id): SiteFacts(str(r.id), str(project.id), r.lat, r.lon) for r in rows
            }
        return self._sites[project.id]

    def forget_sites(self, project_id: uuid.UUID) -> None:
        self._sites.pop(project_id, None)
        self._last = None

    def for_validation(self, project: Project) -> tuple[ProjectFacts, dict[str, SiteFacts]]:
        """``project_facts`` and ``sites`` of ``project`` together."""
        last = self._last
        if last is not None and last[0] is project:
            return last[1], last[2]
        found = self.project_facts(project), self.sites(project)
        self._last = (project, *found)
        return found

    def usual_attendance(self, project: Project) -> float | None:
        if project.id not in self._usual:
            totals = [
                total
                for total in self.session.execute(recent_attendance_totals(project.id)).scalars()
                if total is not None  # an activity without attendance rows has no total
            ]
            self._usual[project.id] = float(statistics.median(totals)) if len(totals) >= 5 else None
        return self._usual[project.id]

    def closed(self, country: str, day: date, *, arrived: datetime | None = None) -> bool:
        """Whether ``day`` falls in a quarter ``country`` has closed: closed before the
        activity first reached the server at ``arrived`` (None: it arrives now, after any
        closure). The ``late`` mark, docs/product.md: an activity that arrived while its
        quarter was open is not late when it is corrected after the closure."""
        if country not in self._closed:
            self._closed[country] = {
                period: closed_at
                for period, closed_at in self.session.execute(
                    select(col(ClosedPeriod.period), col(ClosedPeriod.closed_at)).where(
                        col(ClosedPeriod.country) == country
                    )
                ).all()
            }
        closed_at = self._closed[country].get(quarter_of(day))
        if closed_at is None:
            return False
        first = arrived
        closed = closed_at
        return first is None or closed is None or first >= closed

    # --- the flags -----------------------------------------------------------------------

    def of_new(
        self, batch: Sequence[tuple[Project, Mapping[str, Any], Sequence[Issue]]]
    ) -> tuple[list[list[dict[str, Any]]], list[bool]]:
        """Flags and late marks of new activities (validated wire data, in write order), with
        one duplicate count for the whole batch: each sees the ones written before it. What
        each project and each day contribute is looked up once per batch."""
        ids: dict[int, str] = {}  # id(project) -> its id as text
        keys: list[_Key] = []
        for project, clean, _ in batch:
            text = ids.get(id(project))
            if text is None:
                text = ids[id(project)] = str(project.id)
            keys.append((text, clean.get("site_id"), clean["type"], clean["start_date"]))
        projects = {id(p): p for p, _, _ in batch}.values()
        already: dict[_Key, int] = {}
        rows = self.session.execute(
            same_day_counts(
                {p.id for p in projects}, {date.fromisoformat(d) for d in {k[3] for k in keys}}
            )
        ).all()
        for project_id, site_id, kind, start, count in rows:
            key = (str(project_id), str(site_id) if site_id else None, kind, start.isoformat())
            already[key] = already.get(key, 0) + int(count)
        per_project: dict[int, tuple[float | None, str]] = {}  # usual attendance, country
        site_maps: dict[int, dict[str, SiteFacts]] = {}
        closed: dict[tuple[str, str], bool] = {}  # (country, start date) -> late
        flags: list[list[dict[str, Any]]] = []
        late: list[bool] = []
        for (project, clean, warnings), key in zip(batch, keys, strict=True):
            known = per_project.get(id(project))
            if known is None:
                known = per_project[id(project)] = (
                    self.usual_attendance(project),
                    project.country,
                )
            site_id, site = key[1], None
            if site_id:
                sites = site_maps.get(id(project))
                if sites is None:
                    sites = site_maps[id(project)] = self.sites(project)
                site = sites.get(site_id)
            count = already.get(key, 0)
            found = quality_flags(
                clean,
                site=site,
                same_day_duplicates=count,
                usual_attendance=known[0],
                reused_photo=False,
                received_on=self.today,
            )
            already[key] = count + 1
            flags.append(as_flags([*warnings, *found]) if warnings or found else [])
            day = (known[1], key[3])
            if day not in closed:
                closed[day] = self.closed(day[0], date.fromisoformat(day[1]))
            late.append(closed[day])
        return flags, late

    def of_edit(
        self,
        activity: Activity,
        project: Project,
        record: Mapping[str, Any],
        warnings: Sequence[Issue],
    ) -> tuple[list[dict[str, Any]], bool]:
        """Flags and late mark of an activity whose content just changed (``record``: its full
        new state as validated wire data)."""
        duplicates = self.session.execute(
            select(func.count())
            .select_from(Activity)
            .where(
                col(Activity.project_id) == activity.project_id,
                col(Activity.site_id) == activity.site_id
                if activity.site_id
                else col(Activity.site_id).is_(None),
                col(Activity.type) == activity.type,
                col(Activity.start_date) == activity.start_date,
                col(Activity.deleted) == False,  # noqa: E712
                col(Activity.id) != activity.id,
            )
        ).scalar_one()
        site = self.sites(project).get(str(activity.site_id)) if activity.site_id else None
        # The lag runs to when the activity first reached the server, not to this change (a
        # correction asked for by the office, a resolved conflict): docs/product.md, Flags.
        first = activity.created_at
        arrived = first.date() if first is not None else self.today
        found = quality_flags(
            record,
            site=site,
            same_day_duplicates=int(duplicates),
            usual_attendance=self.usual_attendance(project),
            reused_photo=photo_reused(self.session, activity_id=activity.id),
            received_on=min(arrived, self.today),
        )
        late = self.closed(project.country, activity.start_date, arrived=first)
        return as_flags([*warnings, *found]), late
