"""The quarterly report (docs/results.md#quarterly-report): one quarter of one scope as a PDF.

    parse_quarter(text)                  "2026Q3" -> (first day, last day), or a 400 on ``quarter``
    report_scope(caller, country=...)    the scope asked for, checked against the caller's
    build_report(session, caller=...)    the figures, read through the same functions as the pages
    render_html(report, t) / render_pdf(report, t)

Every figure comes from the services the dashboard's pages use: the headline indicators through
``service.indicator_rows`` (the overview's, itself the values API's), achievement through
``TARGET_ACHIEVEMENT``, result indicators through the indicator listing and their values, the
activities through ``queries.list_activities``; charts are ``server.dashboard.charts``' SVGs.
The caller's scope applies to all of them.

The PDF is laid out by WeasyPrint from ``templates/report/quarterly.html`` with the DejaVu fonts
of the system and nothing fetched: every chart is inline SVG and any URL is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from markupsafe import Markup
from sqlmodel import Session

from server.accounts.auth import Caller
from server.activities import queries
from server.dashboard import charts, service
from server.dashboard.i18n import N_, Translator, decimal_text
from server.dashboard.web import TEMPLATES
from server.errors import ConfigError, Forbidden, ValidationFailed, invalid
from server.indicators import service as indicators
from server.projects import service as projects_service
from server.projects.models import Project, Target
from server.scope import sees_everything
from shared.catalogue import THEMATIC_AREAS, Role
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES, REGIONS, region_of
from shared.indicators import PeriodRefused, period_bounds, request_period

# Who may download a report: the officers of their countries, HQ and admins for any scope.
REPORT_ROLES = frozenset({Role.ADMIN, Role.HQ_ANALYST, Role.COUNTRY_OFFICER})
# The activities table stops here and says how many more there are.
MAX_ACTIVITY_ROWS = 200
# The achievement chart shows at most this many bars (the table has every target).
MAX_CHART_TARGETS = 20
# Result charts show this many quarters, the report's last.
RESULT_QUARTERS = 8
RESULT_KIND = "result"
YOUTH_SHARE = "YOUTH_SHARE"  # derived here: youth participants / participants, like WOMEN_SHARE

PDF_UNAVAILABLE = (
    "PDF reports need Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
)

# The headline figures, in the order of the table; shares compare in percentage points.
HEADLINES: tuple[str, ...] = (
    "ACTIVITIES",
    "TRAININGS",
    "DEMONSTRATIONS",
    "EXPERT_DAYS",
    "PARTICIPANTS",
    "UNIQUE_PARTICIPANTS",
    "WOMEN_PARTICIPANTS",
    "WOMEN_SHARE",
    "YOUTH_PARTICIPANTS",
    YOUTH_SHARE,
    "COUNTRIES_REACHED",
)
SHARES = frozenset({"WOMEN_SHARE", YOUTH_SHARE})
HEADLINE_NAMES = {YOUTH_SHARE: N_("Youth share")}

RESULT_COLOR = charts.PALETTE[0]
# Only these two series are drawn dashed and without points (SVG_STYLE): their own colours.
TARGET_LINE = "#1f2d3b"
BASELINE_LINE = "#8a97a5"


def parse_quarter(text: str) -> tuple[str, date, date]:
    """``2026Q3`` (any case, spaces trimmed) -> (label, first day, last day); a 400 on
    ``quarter`` otherwise: ``bad_period`` for what is not a quarter, ``date_implausible`` for a
    year outside 2000–2100 (``shared.indicators.request_period``)."""
    label = (text or "").strip().upper()
    try:
        first, last = request_period(label, "quarter", grains=("quarter",))
    except PeriodRefused as exc:
        raise ValidationFailed([exc.issue], status_code=400) from None
    return label, first, last


def report_quarter(text: str, *, today: date) -> str:
    """The quarter a report is asked for, begun by ``today``: a quarter to come has nothing to
    report yet, and a report of zeros would read as "nothing happened" (as the API's summary
    refuses a period to come)."""
    label, first, _ = parse_quarter(text)
    if first > today:
        raise invalid(
            "quarter",
            ErrorCode.IN_FUTURE,
            f"{label} has not begun: it starts on {first.isoformat()}",
            status_code=400,
        )
    return label


def quarter_of(day: date) -> str:
    return service.quarter_label(day)


def quarter_days(label: str) -> tuple[date, date]:
    """First and last day of a quarter counted from one already checked (the previous one, a
    year before): it may fall before 2000, where a request's may not."""
    return period_bounds(label)


def shift_quarter(label: str, quarters: int) -> str:
    first, _ = quarter_days(label)
    return service.quarter_label(service.add_months(first, 3 * quarters))


@dataclass(frozen=True, slots=True)
class ReportScope:
    """At most one of country, region and thematic area; none is everything the caller sees."""

    country: str = ""
    region: str = ""
    thematic_area: str = ""

    def filters(self) -> dict[str, str]:
        found = {
            "country": self.country,
            "region": self.region,
            "thematic_area": self.thematic_area,
        }
        return {k: v for k, v in found.items() if v}

    def holds(self, project: Project) -> bool:
        if self.country and project.country != self.country:
            return False
        if self.region and region_of(project.country) != self.region:
            return False
        return not (self.thematic_area and project.thematic_area != self.thematic_area)

    def slug(self) -> str:
        return self.country or self.region or self.thematic_area or "all"


def report_scope(
    caller: Caller, *, country: str = "", region: str = "", thematic_area: str = ""
) -> ReportScope:
    """The scope asked for, checked: known codes, one of them at most, and a country officer
    only for their own countries, one or all (nothing else is theirs to report on: a region's
    or a thematic area's report is HQ's and the admins', 403 ``forbidden``)."""
    if caller.role not in REPORT_ROLES:
        raise Forbidden("quarterly reports are for country officers, HQ analysts and admins")
    country, region, area = (
        (country or "").strip().upper(),
        (region or "").strip().upper(),
        (thematic_area or "").strip().upper(),
    )
    if caller.role == Role.COUNTRY_OFFICER and (region or area):
        # Not theirs to choose, known or not (their form offers neither): read in their scope
        # it would print their countries' figures, or zeros, under the region's or the area's
        # name, a report that says it is what it is not.
        raise Forbidden(
            "a region's or a thematic area's report is for HQ analysts and admins; "
            "report on one of your countries or all of them"
        )
    issues = []
    if country and country not in COUNTRIES:
        issues.append(Issue("country", ErrorCode.UNKNOWN_CODE, f"unknown country {country}"))
    if region and region not in REGIONS:
        issues.append(Issue("region", ErrorCode.UNKNOWN_CODE, f"unknown region {region}"))
    if area and area not in THEMATIC_AREAS:
        issues.append(Issue("thematic_area", ErrorCode.UNKNOWN_CODE, f"unknown area {area}"))
    if issues:
        raise ValidationFailed(issues, status_code=400)
    if sum(bool(v) for v in (country, region, area)) > 1:
        chosen = [name for name, v in (("country", country), ("region", region)) if v]
        raise ValidationFailed(
            [
                Issue(
                    chosen[0],
                    ErrorCode.INVALID,
                    "choose one of country, region and thematic area, not two",
                    params={"rule": "one_scope"},
                )
            ],
            status_code=400,
        )
    if caller.role == Role.COUNTRY_OFFICER and country and country not in caller.countries:
        raise Forbidden(f"{country} is not one of your countries", code=ErrorCode.OUT_OF_SCOPE)
    return ReportScope(country, region, area)


# --- what the report holds -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadlineRow:
    code: str
    value: float | None
    previous: float | None
    last_year: float | None

    @property
    def share(self) -> bool:
        return self.code in SHARES

    def change(self, before: float | None) -> float | None:
        """Relative change in % (counts) or the difference in points (shares); None when either
        side is unknown or a count had nothing before."""
        if self.value is None or before is None:
            return None
        if self.share:
            return self.value - before
        if not before:
            return None
        return 100.0 * (self.value - before) / before


@dataclass(frozen=True, slots=True)
class TargetRow:
    project: str
    indicator: str
    period: str
    sex: str | None
    target: float | None
    actual: float | None
    achievement: float | None


@dataclass(frozen=True, slots=True)
class ResultSection:
    code: str
    name: str
    unit: str
    form: str
    value: float | None  # this quarter
    previous: float | None
    baseline: float | None
    # each project's target of the shortest period holding the quarter, combined over projects
    target: float | None
    uplift: float | None  # the first compared choice against the second
    chart: charts.Chart
    compared: tuple[str, str] | None = None  # the two compared choices, by their labels
    # A sum or count against targets of a longer period (the year): that period and its value
    # from its start to the quarter's end, the figure the target is set against; summed over the
    # projects holding a target, each over its own target's period.
    to_date_period: str | None = None
    to_date: float | None = None
    # The projects' targets are of different periods (a year's and a quarter's): then
    # ``to_date_period`` lists them, longest first ("2026, 2026Q3").
    to_date_mixed: bool = False


@dataclass(frozen=True, slots=True)
class QuarterlyReport:
    quarter: str
    first: date
    last: date
    previous_quarter: str
    last_year_quarter: str
    scope: ReportScope
    countries: list[str]  # the countries whose projects the report covers
    headlines: list[HeadlineRow]
    targets: list[TargetRow]
    target_chart: charts.Chart
    charts: list[charts.Chart]
    results: list[ResultSection]
    activities: list[queries.ActivitySummary]
    activities_total: int
    generated_at: datetime
    generated_by: str
    # The reader sees every country (HQ, admins); otherwise "all" means all of theirs.
    every_country: bool = True

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def day(self) -> int | None:
        """The day of the quarter it was made on, while the quarter runs (None after it)."""
        today = self.generated_at.date()
        return (today - self.first).days + 1 if self.first <= today <= self.last else None

    @property
    def activities_more(self) -> int:
        return max(0, self.activities_total - len(self.activities))

    @property
    def empty(self) -> bool:
        return not self.activities_total and not any(h.value for h in self.headlines)


def _value(
    session: Session, caller: Caller, code: str, filters: Mapping[str, str], first: date, last: date
) -> float | None:
    rows = service.indicator_rows(
        session, caller=caller, code=code, filters=filters, date_from=first, date_to=last
    )
    if rows:
        return rows[0]["value"]
    return None if code in SHARES else 0


def _headline_values(
    session: Session, caller: Caller, filters: Mapping[str, str], first: date, last: date
) -> dict[str, float | None]:
    found = {
        code: _value(session, caller, code, filters, first, last)
        for code in HEADLINES
        if code != YOUTH_SHARE
    }
    participants, youth = found["PARTICIPANTS"], found["YOUTH_PARTICIPANTS"]
    found[YOUTH_SHARE] = indicators.share(int(youth or 0), int(participants or 0))
    return found


def _targets(
    session: Session, caller: Caller, filters: Mapping[str, str], first: date, last: date
) -> list[TargetRow]:
    """TARGET_ACHIEVEMENT per project for the targets of the quarter, its months and its year,
    each counted up to the quarter's last day at most: a year's target against the year so far
    at the quarter's end, not at the day the report is made (activities dated after the quarter
    do not count, so an old quarter's report gives the same figures whenever it is made)."""
    year = date(first.year, 1, 1)
    rows = service.indicator_rows(
        session,
        caller=caller,
        code="TARGET_ACHIEVEMENT",
        group_by=("project",),
        filters=filters,
        date_from=year,
        date_to=date(first.year, 12, 31),
        count_to=last,
    )
    found = []
    for r in rows:
        start, end = period_bounds(str(r["period"]))
        if end < first or start > last:
            continue
        found.append(
            TargetRow(
                project=str(r.get("project") or ""),
                indicator=str(r["indicator"]),
                period=str(r["period"]),
                sex=r.get("sex"),
                target=r.get("target"),
                actual=r.get("actual"),
                achievement=r.get("value"),
            )
        )
    return found


def _target_chart(
    t: Translator, quarter: str, rows: Sequence[TargetRow], names: Mapping[str, str]
) -> charts.Chart:
    """The quarter's own targets as bullet bars (the table lists the months' and year's too);
    without any, the first of the others. At most MAX_CHART_TARGETS bars."""
    own = [r for r in rows if r.period == quarter and r.target is not None]
    chosen = own or [r for r in rows if r.target is not None]
    items = [
        charts.Progress(
            names.get(r.indicator) or t.label("indicator", r.indicator),
            r.actual,
            float(r.target or 0),
            r.achievement,
            detail=r.period,
            group=r.project,
        )
        for r in chosen[:MAX_CHART_TARGETS]
    ]
    title = (
        t.gettext("Achievement against the quarter's targets")
        if own
        else t.gettext("Achievement against target")
    )
    return charts.progress_chart(
        key="report-achievement",
        title=title,
        items=items,
        x_label=t.gettext("Share of the target reached"),
        fmt=service._formatter(t),
        percent=lambda v: t.percent(v),
        texts=service._texts(t),
    )


# --- results --------------------------------------------------------------------------------


def result_definitions(session: Session, caller: Caller) -> list[dict[str, Any]]:
    """The result indicators of the listing ``GET /api/v1/indicators`` serves ``caller``: those
    of the forms it may read (another country's project form is unknown to it)."""
    return [
        d for d in indicators.indicator_definitions(session, caller) if d.get("kind") == RESULT_KIND
    ]


def _text_of(value: Any, language: str) -> str:
    """A label that may be translated ({"en": ..., "fr": ...}) in the reader's language."""
    if isinstance(value, Mapping):
        return str(value.get(language) or value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def indicator_name(definition: Mapping[str, Any], language: str) -> str:
    """A listed indicator's name in the reader's language: a result indicator's translations
    are its ``names`` (its ``name`` is the English label), the catalogue's have only ``name``."""
    return _text_of(definition.get("names") or definition.get("name"), language)


def result_formatter(t: Translator) -> charts.Formatter:
    """A result's value as the API rounds it (2 decimals at most), in the reader's locale: the
    report's and the dashboard's results pages (``results``) write them so."""
    return lambda v: decimal_text(v, "#,##0.##", t.language)


def period_length(period: str) -> int:
    first, last = period_bounds(period)
    return (last - first).days


def holding_target(goals: Iterable[Target], first: date, last: date) -> Target | None:
    """Of one project's targets, the one of the shortest period holding ``first``–``last`` (a
    quarter's before its year's), None when none holds it."""
    holding = [g for g in goals if _contains(outer=_days(g.period), inner=(first, last))]
    return min(holding, key=lambda g: period_length(g.period)) if holding else None


def to_date_value(values: Mapping[str, float | None], period: str, quarter: str) -> float | None:
    """A sum's or count's value over ``period`` from its start to the end of ``quarter``: the
    sum of its quarters' values (``values`` by quarter label), None when none has one."""
    start, _ = period_bounds(period)
    _, end = period_bounds(quarter)
    found = [
        v
        for q, v in values.items()
        if v is not None and _contains(outer=(start, end), inner=_days(q))
    ]
    return float(sum(found)) if found else None


def _days(period: str) -> tuple[date, date] | None:
    """A stored period's first and last day; None when the label is not a period."""
    try:
        return period_bounds(period)
    except ValueError:
        return None


def _contains(*, outer: tuple[date, date] | None, inner: tuple[date, date] | None) -> bool:
    """Whether every day from ``inner``'s first to its last is one of ``outer``'s (each a first
    and a last day, both counted): a year contains its quarters and itself. False when either
    is None (a label that is not a period)."""
    if outer is None or inner is None:
        return False
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _combine(values: Sequence[float], additive: bool) -> float | None:
    if not values:
        return None
    total = sum(values)
    return total if additive else total / len(values)


def _to_date(
    session: Session,
    caller: Caller,
    code: str,
    filters: Mapping[str, str],
    projects: Mapping[Any, str],
    quarters: list[tuple[str, date, date]],
    held: Sequence[Target],
) -> tuple[str, float | None, bool]:
    """A sum's or count's figure against its projects' targets for the last quarter, when one
    of them is of a longer period (a year's): each project's value over its own target's period
    from its start to the quarter's end (a quarter's target: the quarter), added up, as the
    overview judges each project. With it the label (the period, or the periods longest first
    when the projects' differ) and whether they differ. ``projects``: codes by id."""
    rows = service.indicator_rows(
        session,
        caller=caller,
        code=code,
        group_by=("project", "period:quarter"),
        filters=filters,
        date_from=quarters[0][1],
        date_to=quarters[-1][2],
    )
    by_project: dict[str, dict[str, float | None]] = {}
    for r in rows:
        value = None if r.get("value") is None else float(r["value"])
        by_project.setdefault(str(r.get("project")), {})[str(r.get("period"))] = value
    quarter = quarters[-1][0]
    found = [
        x
        for g in held
        if (x := to_date_value(by_project.get(projects[g.project_id], {}), g.period, quarter))
        is not None
    ]
    periods = sorted({g.period for g in held}, key=lambda p: (-period_length(p), p))
    return ", ".join(periods), float(sum(found)) if found else None, len(periods) > 1


def _result_section(
    session: Session,
    caller: Caller,
    t: Translator,
    definition: Mapping[str, Any],
    filters: Mapping[str, str],
    projects: Mapping[Any, str],
    quarters: list[tuple[str, date, date]],
) -> ResultSection | None:
    code = str(definition["code"])
    additive = bool(definition.get("additive"))
    rows = service.indicator_rows(
        session,
        caller=caller,
        code=code,
        group_by=("period:quarter",),
        filters=filters,
        date_from=quarters[0][1],
        date_to=quarters[-1][2],
    )
    by_quarter = {str(r.get("period")): r for r in rows}
    values = [
        None if by_quarter.get(q, {}).get("value") is None else float(by_quarter[q]["value"])
        for q, _, _ in quarters
    ]
    targets, _ = projects_service.list_targets(session, caller=caller, indicator=code, limit=10_000)
    ours = [x for x in targets if x.project_id in projects]
    # A baseline is a target row of kind "baseline" (docs/results.md#result-indicators).
    baselines = [x for x in ours if getattr(x, "kind", "target") == "baseline"]
    goals = [x for x in ours if getattr(x, "kind", "target") != "baseline"]
    by_project: dict[Any, list[Any]] = {}
    for g in goals:
        by_project.setdefault(g.project_id, []).append(g)
    # Per project the target of the shortest period holding the quarter, as the project page
    # reads it; combined over projects, never over periods (a quarter's and its year's).
    chosen = [
        [x for x in (holding_target(mine, first, last) for mine in by_project.values()) if x]
        for _, first, last in quarters
    ]
    target_line = [_combine([float(g.value) for g in held], additive) for held in chosen]
    # A sum or count against a longer period's target (a year's) is set against that period to
    # date, per project, even where other projects' targets are the quarter's (docs/results.md).
    to_date_period, to_date, mixed = None, None, False
    quarter_length = period_length(quarters[-1][0])
    if additive and any(period_length(g.period) > quarter_length for g in chosen[-1]):
        to_date_period, to_date, mixed = _to_date(
            session, caller, code, filters, projects, quarters, chosen[-1]
        )
    before_end = [b for b in baselines if period_bounds(b.period)[0] <= quarters[-1][2]]
    latest: dict[Any, Any] = {}
    for b in sorted(before_end, key=lambda b: period_bounds(b.period)[0]):
        latest[b.project_id] = b  # each project's latest baseline up to the quarter
    baseline = _combine([float(b.value) for b in latest.values()], additive)
    if all(v is None for v in values) and baseline is None and all(v is None for v in target_line):
        return None
    name = indicator_name(definition, t.language) or code
    labels = definition.get("unit_label")
    unit = t.unit(
        _text_of(definition.get("unit"), "en"), labels if isinstance(labels, Mapping) else None
    )
    series = [charts.Series(name, tuple(values), RESULT_COLOR)]
    if any(v is not None for v in target_line):
        series.append(charts.Series(t.gettext("Target"), tuple(target_line), TARGET_LINE))
    if baseline is not None:
        series.append(
            charts.Series(t.gettext("Baseline"), tuple(baseline for _ in quarters), BASELINE_LINE)
        )
    chart = charts.line_chart(
        key=f"result-{code.lower()}",
        title=name,
        categories=[q for q, _, _ in quarters],
        series=series,
        x_label=t.gettext("Quarter"),
        y_label=unit or name,
        fmt=result_formatter(t),
        texts=service._texts(t),
    )
    this = by_quarter.get(quarters[-1][0], {})
    uplift = this.get("uplift")
    return ResultSection(
        code=code,
        name=name,
        unit=unit,
        form=str(definition.get("form") or ""),
        value=values[-1],
        previous=values[-2] if len(values) > 1 else None,
        baseline=baseline,
        target=target_line[-1],
        uplift=None if uplift is None else float(uplift),
        chart=chart,
        compared=_compared(session, caller, t, definition) if uplift is not None else None,
        to_date_period=to_date_period,
        to_date=to_date,
        to_date_mixed=mixed,
    )


def _compared(
    session: Session, caller: Caller, t: Translator, definition: Mapping[str, Any]
) -> tuple[str, str] | None:
    """The two choices an uplift compares (the first against the second), by their labels in
    the reader's language, as the project page's chart title names them."""
    from server.dashboard import results as pages  # it reads the quarters from here
    from server.results.indicators import result_indicators

    indicator = result_indicators(session, caller).get(str(definition["code"]))
    if indicator is None or not indicator.compare or len(indicator.compare_choices) < 2:
        return None
    names = pages.choice_labels(
        pages._latest_form(session, caller, indicator.form), indicator.compare, t.language
    )
    first, second = indicator.compare_choices[:2]
    return names.get(first, first), names.get(second, second)


def _results(
    session: Session,
    caller: Caller,
    t: Translator,
    scope: ReportScope,
    projects: Iterable[Project],
    quarter: str,
) -> list[ResultSection]:
    definitions = result_definitions(session, caller)
    if not definitions:
        return []
    quarters = []
    for back in range(RESULT_QUARTERS - 1, -1, -1):
        label = shift_quarter(quarter, -back)
        first, last = quarter_days(label)
        quarters.append((label, first, last))
    codes = {p.id: p.code for p in projects if scope.holds(p)}
    found = []
    for definition in definitions:
        section = _result_section(session, caller, t, definition, scope.filters(), codes, quarters)
        if section is not None:
            found.append(section)
    return found


# --- assembling -------------------------------------------------------------------------------


def build_report(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    quarter: str,
    scope: ReportScope,
    now: datetime,
    progress: Callable[[str], None] | None = None,
) -> QuarterlyReport:
    """Everything the report shows, for ``caller`` (scope enforced in every read)."""
    step = progress or (lambda _: None)
    label, first, last = parse_quarter(quarter)
    previous, last_year = shift_quarter(label, -1), shift_quarter(label, -4)
    filters = scope.filters()
    step("headline figures")
    periods = [quarter_days(q) for q in (label, previous, last_year)]
    now_values, before, year_ago = (
        _headline_values(session, caller, filters, a, b) for a, b in periods
    )
    projects, _ = projects_service.list_projects(session, caller=caller, limit=10_000)
    countries = sorted({p.country for p in projects if scope.holds(p)})
    codes = [c for c in HEADLINES if c != "COUNTRIES_REACHED" or not scope.country]
    headlines = [HeadlineRow(c, now_values[c], before[c], year_ago[c]) for c in codes]
    step("targets")
    definitions = result_definitions(session, caller)
    names = {str(d["code"]): indicator_name(d, t.language) for d in definitions if d.get("name")}
    targets = _targets(session, caller, filters, first, last)
    step("charts")
    made = service.activity_charts(
        session,
        caller,
        t,
        filters,
        months_from=service.add_months(first, -9),
        quarters_from=service.add_months(first, -21),
        last=last,
    )
    step("results")
    results = _results(session, caller, t, scope, projects, label)
    step("activities")
    activities, total = queries.list_activities(
        session,
        caller=caller,
        limit=MAX_ACTIVITY_ROWS,
        filters=queries.ActivityFilters(
            country=scope.country or None,
            region=scope.region or None,
            thematic_area=scope.thematic_area or None,
            status="submitted,approved",
            date_from=first,
            date_to=last,
        ),
    )
    return QuarterlyReport(
        quarter=label,
        first=first,
        last=last,
        previous_quarter=previous,
        last_year_quarter=last_year,
        scope=scope,
        countries=countries,
        headlines=headlines,
        targets=targets,
        target_chart=_target_chart(t, label, targets, names),
        charts=made,
        results=results,
        activities=activities,
        activities_total=total,
        generated_at=now,
        generated_by=caller.user.username,
        every_country=sees_everything(caller),
    )


# --- laying it out ----------------------------------------------------------------------------

# The dashboard styles its SVGs from its stylesheet; a PDF's SVG carries its own.
SVG_STYLE = (
    "<style>"
    "text{fill:#5b6b7b;font-family:'DejaVu Sans',sans-serif}"
    ".axis-label,.label-strong{fill:#1f2d3a;font-weight:bold}"
    ".grid{stroke:#e3e8ed;stroke-width:1}"
    ".baseline{stroke:#8795a3;stroke-width:1}"
    ".track{fill:#eef2f5}"
    ".target{stroke:#1f2d3a;stroke-width:2}"
    ".reference{stroke:#8795a3;stroke-width:1;stroke-dasharray:4 4}"
    ".reference-label{fill:#8795a3;font-size:11px}"
    f'g.line-series[stroke="{TARGET_LINE}"] path{{stroke-dasharray:7 4;stroke-width:2}}'
    f'g.line-series[stroke="{BASELINE_LINE}"] path{{stroke-dasharray:2 3;stroke-width:2}}'
    f'circle[fill="{TARGET_LINE}"],circle[fill="{BASELINE_LINE}"]{{display:none}}'
    "</style>"
)


# WeasyPrint draws an SVG text a glyph at a time and draws no glyph for a space, so a PDF
# reader (pdftotext, a viewer's copy or search, a screen reader) finds the space between a
# number and "%" by the gap alone; after a one-digit number it needs a wider gap than the
# no-break space's, and read the axis as "0%  25 %  50 %". A hair space after the no-break
# space widens the gap by a tenth of an em (DejaVu Sans), hardly seen, enough to read "0 %".
PDF_PERCENT = "\u00a0\u200a%"
# A drawn percent; a <desc> or <title> (read as text, not drawn) is matched to be kept as is.
_DRAWN_PERCENT = re.compile(r"(<(desc|title)\b[^>]*>[^<]*</\2>)|\u00a0%")


def svg_for_pdf(svg: Markup) -> Markup:
    """The chart's SVG with its styles inside (WeasyPrint draws SVG apart from the page's CSS)
    and its percents spaced so that the PDF's text reads "0 %" as it shows (PDF_PERCENT)."""
    text = _DRAWN_PERCENT.sub(lambda m: m.group(1) or PDF_PERCENT, str(svg))
    end = text.find(">")
    if end < 0:
        return svg
    return Markup(text[: end + 1] + SVG_STYLE + text[end + 1 :])  # noqa: S704 - our own SVG


def scope_title(t: Translator, report: QuarterlyReport) -> str:
    scope = report.scope
    if scope.country:
        return t.country(scope.country)
    if scope.region:
        return t.region(scope.region)
    if scope.thematic_area:
        return t.label("thematic_area", scope.thematic_area)
    if not report.every_country and report.countries:
        # a country officer's "all": their countries, by name
        return ", ".join(t.country(c) for c in report.countries)
    return t.gettext("All countries")


def _css_string(text: str) -> str:
    """A CSS string literal; ``<`` is escaped too, so that it cannot close the style element."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    return '"' + escaped.replace("\n", " ") + '"'


def page_counter(t: Translator) -> str:
    """CSS ``content`` for "Page 3 of 12" in the reader's language."""
    text = t.gettext("Page %(page)s of %(pages)s")
    parts = re.split(r"(%\(page\)s|%\(pages\)s)", text)
    out = []
    for part in parts:
        if part == "%(page)s":
            out.append("counter(page)")
        elif part == "%(pages)s":
            out.append("counter(pages)")
        elif part:
            out.append(_css_string(part))
    return " ".join(out)


def render_html(report: QuarterlyReport, t: Translator) -> str:
    def change(row: HeadlineRow, before: float | None) -> str:
        delta = row.change(before)
        return t.change(delta, 1, points=True) if row.share else t.change(delta)

    def figure(code: str, value: float | None) -> str:
        if code in SHARES:
            return t.percent(value, 1)
        return t.number(value, 0 if value is None or float(value).is_integer() else 1)

    def headline_name(code: str) -> str:
        if code in HEADLINE_NAMES:
            return t.gettext(HEADLINE_NAMES[code])
        return t.label("indicator", code)

    names = {s.code: s.name for s in report.results}
    context = {
        "report": report,
        "t": t,
        "_": t.jinja_gettext,
        "gettext": t.jinja_gettext,
        "ngettext": t.jinja_ngettext,
        "scope_title": scope_title(t, report),
        "country_names": {c: t.country(c) for c in report.countries},
        "change": change,
        "figure": figure,
        "achievement": lambda share: charts.achievement_text(share, t.percent),
        "num": result_formatter(t),
        "headline_name": headline_name,
        "indicator_name": lambda code: names.get(code) or t.label("indicator", code),
        "svg": svg_for_pdf,
        # CSS strings of the running header and footer, quoted for CSS (not HTML) above.
        "css": {
            name: Markup(value)  # noqa: S704
            for name, value in {
                "header": _css_string(
                    f"Pilot Monitor · {t.gettext('Quarterly report')} {report.quarter}"
                ),
                "scope": _css_string(scope_title(t, report)),
                "footer": _css_string(
                    t.gettext(
                        "Generated on %(when)s by %(who)s",
                        when=t.datetime(report.generated_at),
                        who=report.generated_by,
                    )
                ),
                "pages": page_counter(t),
            }.items()
        },
        "language": t.language,
    }
    return TEMPLATES.get_template("report/quarterly.html").render(context)


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The report fetches nothing: no font, image or stylesheet from anywhere."""
    raise ValueError(f"the report fetches nothing ({url})")


# WeasyPrint logs ~25 INFO steps per document ("Step 5 - Creating layout") and fontTools its
# subsetting at INFO: noise in the server log and the CLI's output. Their warnings and errors
# (bad CSS, a missing font) still get through. A level the operator set is left alone.
_QUIET_LOGGERS = ("weasyprint", "fontTools")


def _quiet_renderer_logs() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def render_pdf(report: QuarterlyReport, t: Translator) -> bytes:
    # Imported here, not at the top: WeasyPrint loads Pango when imported, and the server must
    # start (and every other page work) on a machine without it; the report then says so.
    try:
        import weasyprint
    except OSError as exc:  # Pango's libraries are missing
        raise ConfigError(PDF_UNAVAILABLE + f" ({exc})") from exc

    _quiet_renderer_logs()
    html = render_html(report, t)
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=_refuse_fetch)
    return document.write_pdf()


def filename(report: QuarterlyReport) -> str:
    """``pilotmon-report-LSO-2026Q3.pdf``: the scope chosen, or the one country a report of
    "everything I see" covers (a country officer's of their only country), else ``all``."""
    slug = report.scope.slug()
    if slug == "all" and len(report.countries) == 1:
        slug = report.countries[0]
    return f"pilotmon-report-{slug}-{report.quarter}.pdf"


def may_report(caller: Caller) -> bool:
    return caller.role in REPORT_ROLES


@dataclass(frozen=True, slots=True)
class ReportChoices:
    quarters: list[str]
    countries: list[str]
    regions: list[str]
    thematic_areas: list[str]


def report_choices(session: Session, *, caller: Caller, today: date) -> ReportChoices:
    """What the Reports page offers: every quarter since the first project or activity the caller
    sees (``service.report_quarters``), and the countries (regions, areas) of the projects the
    caller sees; HQ may also choose a region or a thematic area."""
    projects, _ = projects_service.list_projects(session, caller=caller, limit=10_000)
    countries = sorted({p.country for p in projects})
    wide = caller.role != Role.COUNTRY_OFFICER
    regions = sorted({r for c in countries if (r := region_of(c))}) if wide else []
    areas = sorted({p.thematic_area for p in projects}) if wide else []
    quarters = service.report_quarters(session, caller=caller, today=today)
    return ReportChoices(quarters, countries, regions, areas)


def default_quarter(today: date) -> str:
    """The quarter a report is most often wanted for: the last one that ended."""
    return service.quarter_label(service.add_months(service.quarter_start(today), -3))
