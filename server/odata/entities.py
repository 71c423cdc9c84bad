"""The entity sets of the feed: their properties (name, Edm type, SQL column) and where their
rows come from, always with the caller's scope in the query (server/scope.py).

SQL sets (Projects, Sites, Activities, Attendance) are a FROM clause and WHERE clauses that the
paging in ``server.odata.query`` completes with ``$filter``, the seek on the key and the limit.
IndicatorValues is computed by the indicator service (``indicator_values``) and paged in memory:
it has one row per indicator, project and month, so it stays small, and it is computed one
indicator at a time, so that a page in the key's order computes only the indicators it shows.
Its indicators are the catalogue's and the result indicators of the published forms, read for
each request.

To add a set: describe its properties and give a ``from_where`` in the caller's scope, then list
it in ENTITY_SETS; the routes, ``$metadata`` and paging follow from the description. The forms'
observations are sets described the same way, but made for each request from the forms in the
caller's scope (``server.odata.observations``), since forms are published at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col

from server.accounts.auth import Caller
from server.activities.models import Activity, AttendanceRow
from server.activities.queries import ActivityFilters, listed_activities, participants_column
from server.indicators.service import ValuesQuery, indicator_values, parse_values_query
from server.odata.filters import Condition, values_of
from server.projects.models import Project, Site
from server.results.indicators import result_indicators
from server.scope import project_scope, site_scope
from shared.indicators import INDICATORS

NAMESPACE = "PilotMonitor"
PROJECT_TABLE = SQLModel.metadata.tables["project"]
SITE_TABLE = SQLModel.metadata.tables["site"]


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    edm: str
    column: Any = None  # a SQL expression (SQL sets only)
    nullable: bool = True


FromWhere = tuple[Any, list[Any]]


@dataclass(frozen=True)
class EntitySet:
    name: str
    type_name: str
    key: tuple[str, ...]
    properties: tuple[Property, ...]
    # SQL sets: the FROM clause and the WHERE clauses for a caller (scope included).
    from_where: Callable[[Caller], FromWhere] | None = None
    # Computed sets: the rows for a caller, as {property: value}, given the $filter (which
    # the page applies; a set may use it to leave out rows it could never keep), in groups of
    # one value of the key's first property, ascending, from the value given (None: all). A
    # page in key order stops computing once it is full, and the next starts at its token.
    rows: (
        Callable[[Session, Caller, Condition | None, Any], Iterator[list[dict[str, Any]]]] | None
    ) = None
    by_name: dict[str, Property] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})

    @property
    def types(self) -> dict[str, str]:
        return {p.name: p.edm for p in self.properties}


def _p(name: str, edm: str, column: Any = None, *, nullable: bool = True) -> Property:
    return Property(name, edm, column, nullable)


# --- Projects and Sites --------------------------------------------------------------------------

PROJECTS = EntitySet(
    "Projects",
    "Project",
    ("Id",),
    (
        _p("Id", "Edm.Guid", col(Project.id), nullable=False),
        _p("Code", "Edm.String", col(Project.code), nullable=False),
        _p("Name", "Edm.String", col(Project.name), nullable=False),
        _p("Kind", "Edm.String", col(Project.kind), nullable=False),
        _p("Country", "Edm.String", col(Project.country), nullable=False),
        _p("ThematicArea", "Edm.String", col(Project.thematic_area), nullable=False),
        _p("PriorityProduct", "Edm.String", col(Project.priority_product)),
        _p("StartDate", "Edm.Date", col(Project.start_date), nullable=False),
        _p("EndDate", "Edm.Date", col(Project.end_date), nullable=False),
        _p("Roster", "Edm.Boolean", col(Project.roster), nullable=False),
        _p("UpdatedAt", "Edm.DateTimeOffset", col(Project.updated_at), nullable=False),
    ),
    from_where=lambda caller: (PROJECT_TABLE, [project_scope(caller)]),
)

SITES = EntitySet(
    "Sites",
    "Site",
    ("Id",),
    (
        _p("Id", "Edm.Guid", col(Site.id), nullable=False),
        _p("ProjectId", "Edm.Guid", col(Site.project_id), nullable=False),
        _p("Name", "Edm.String", col(Site.name), nullable=False),
        _p("AdminArea", "Edm.String", col(Site.admin_area), nullable=False),
        _p("Lat", "Edm.Double", col(Site.lat)),
        _p("Lon", "Edm.Double", col(Site.lon)),
        _p("Status", "Edm.String", col(Site.status), nullable=False),
        _p("UpdatedAt", "Edm.DateTimeOffset", col(Site.updated_at), nullable=False),
    ),
    from_where=lambda caller: (SITE_TABLE, [site_scope(caller)]),
)

# --- Activities and their attendance --------------------------------------------------------------


def _activities_from_where(caller: Caller) -> FromWhere:
    # The activity list's own clauses: scope, and deleted activities left out.
    joined = sa.join(Activity, Project, col(Activity.project_id) == col(Project.id))
    return joined, listed_activities(caller, ActivityFilters())


ACTIVITIES = EntitySet(
    "Activities",
    "Activity",
    ("Id",),
    (
        _p("Id", "Edm.Guid", col(Activity.id), nullable=False),
        _p("ProjectId", "Edm.Guid", col(Activity.project_id), nullable=False),
        _p("ProjectCode", "Edm.String", col(Project.code), nullable=False),
        _p("Country", "Edm.String", col(Project.country), nullable=False),
        _p("SiteId", "Edm.Guid", col(Activity.site_id)),
        _p("Type", "Edm.String", col(Activity.type), nullable=False),
        _p("Title", "Edm.String", col(Activity.title), nullable=False),
        _p("StartDate", "Edm.Date", col(Activity.start_date), nullable=False),
        _p("EndDate", "Edm.Date", col(Activity.end_date), nullable=False),
        _p("Topic", "Edm.String", col(Activity.topic)),
        _p("Modality", "Edm.String", col(Activity.modality)),
        _p("Level", "Edm.String", col(Activity.level)),
        _p("Delivery", "Edm.String", col(Activity.delivery), nullable=False),
        _p("Status", "Edm.String", col(Activity.status), nullable=False),
        _p("Version", "Edm.Int32", col(Activity.version), nullable=False),
        _p("Late", "Edm.Boolean", col(Activity.late), nullable=False),
        _p("Participants", "Edm.Int64", participants_column(), nullable=False),
        _p("SubmittedAt", "Edm.DateTimeOffset", col(Activity.submitted_at)),
        _p("UpdatedAt", "Edm.DateTimeOffset", col(Activity.updated_at), nullable=False),
    ),
    from_where=_activities_from_where,
)


def _attendance_from_where(caller: Caller) -> FromWhere:
    joined = sa.join(
        AttendanceRow, Activity, col(AttendanceRow.activity_id) == col(Activity.id)
    ).join(Project, col(Activity.project_id) == col(Project.id))
    return joined, listed_activities(caller, ActivityFilters())


ATTENDANCE = EntitySet(
    "Attendance",
    "AttendanceRow",
    ("Id",),
    (
        _p("Id", "Edm.Int64", col(AttendanceRow.id), nullable=False),
        _p("ActivityId", "Edm.Guid", col(AttendanceRow.activity_id), nullable=False),
        _p("ProjectId", "Edm.Guid", col(Activity.project_id), nullable=False),
        _p("ProjectCode", "Edm.String", col(Project.code), nullable=False),
        _p("Country", "Edm.String", col(Project.country), nullable=False),
        _p("SiteId", "Edm.Guid", col(Activity.site_id)),
        _p("ActivityType", "Edm.String", col(Activity.type), nullable=False),
        _p("ActivityStatus", "Edm.String", col(Activity.status), nullable=False),
        _p("StartDate", "Edm.Date", col(Activity.start_date), nullable=False),
        _p("Topic", "Edm.String", col(Activity.topic)),
        _p("Sex", "Edm.String", col(AttendanceRow.sex), nullable=False),
        _p("AgeBand", "Edm.String", col(AttendanceRow.age_band), nullable=False),
        _p("Category", "Edm.String", col(AttendanceRow.category), nullable=False),
        _p("Disability", "Edm.Boolean", col(AttendanceRow.disability), nullable=False),
        _p("Count", "Edm.Int32", col(AttendanceRow.count), nullable=False),
    ),
    from_where=_attendance_from_where,
)

# --- IndicatorValues: one set, the indicator a key column -----------------------------------------

# The catalogue's indicators that break down by project and month (all but TARGET_ACHIEVEMENT,
# whose rows are per target period). The result indicators of the published forms all do, and
# are defined at run time: read for each request.
MONTHLY_INDICATORS: tuple[str, ...] = tuple(
    code
    for code, i in INDICATORS.items()
    if "project" in i.group_by and "period:month" in i.group_by
)
INDICATOR_GROUP_BY = "project,country,period:month"


def _monthly_queries(
    session: Session, wanted: frozenset[Any] | None
) -> list[tuple[ValuesQuery, str, bool]]:
    """The query by project, country and month of each indicator (of those ``wanted``, if
    given), with its unit and whether it adds up (a result indicator's sum or count does; its
    mean, median, min, max, share or ratio does not)."""
    queries = [
        (parse_values_query(code=code, group_by=INDICATOR_GROUP_BY), i.unit, i.additive)
        for code, i in INDICATORS.items()
        if code in MONTHLY_INDICATORS and (wanted is None or code in wanted)
    ]
    if wanted is None or not wanted <= set(MONTHLY_INDICATORS):
        for code, result in result_indicators(session).items():
            if wanted is None or code in wanted:
                query = parse_values_query(code=code, group_by=INDICATOR_GROUP_BY, session=session)
                queries.append((query, result.unit, result.additive))
    return queries


def _indicator_rows(
    session: Session, caller: Caller, condition: Condition | None, start: Any
) -> Iterator[list[dict[str, Any]]]:
    """Each indicator's rows, one indicator at a time in the order of their codes, from
    ``start``: only those the $filter names are computed (a read by key names one), and only
    as far as the page needs."""
    queries = _monthly_queries(session, values_of(condition, "Indicator"))
    for query, unit, additive in sorted(queries, key=lambda q: q[0].indicator.code):
        code = query.indicator.code
        if start is not None and code < start:
            continue
        values = indicator_values(session, caller=caller, query=query)
        found = []
        for row in values.rows:
            month = str(row["period"])  # "2025-03"
            found.append(
                {
                    "Indicator": code,
                    "ProjectCode": row["project"],
                    "Country": row["country"],
                    "Month": date(int(month[:4]), int(month[5:7]), 1),
                    "Value": None if row["value"] is None else float(row["value"]),
                    "Unit": unit,
                    "Additive": additive,
                }
            )
        yield found


INDICATOR_VALUES = EntitySet(
    "IndicatorValues",
    "IndicatorValue",
    ("Indicator", "ProjectCode", "Month"),
    (
        _p("Indicator", "Edm.String", nullable=False),
        _p("ProjectCode", "Edm.String", nullable=False),
        _p("Country", "Edm.String", nullable=False),
        _p("Month", "Edm.Date", nullable=False),
        _p("Value", "Edm.Double"),
        _p("Unit", "Edm.String", nullable=False),
        _p("Additive", "Edm.Boolean", nullable=False),
    ),
    rows=_indicator_rows,
)

ENTITY_SETS: Sequence[EntitySet] = (ACTIVITIES, ATTENDANCE, PROJECTS, SITES, INDICATOR_VALUES)
BY_NAME: dict[str, EntitySet] = {s.name: s for s in ENTITY_SETS}
