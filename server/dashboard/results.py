"""The dashboard's results pages (docs/results.md#dashboard-results): a project's result indicators
over quarters with their baselines and targets, the overview's "Results across pilots", and
the observations (list, one observation, its review).

Every figure comes from ``GET /api/v1/indicators/{code}/values`` (``indicators.indicator_values``)
and every target or baseline from ``/api/v1/targets`` (``projects_service.list_targets``), in the
caller's scope: the page shows what the API answers the same person. Forms and their result
indicators are those the caller may read (``form_scope``: global ones and its projects').
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.activities.queries import RevisionPublic
from server.dashboard import charts, service
from server.dashboard.i18n import Translator, decimal_text
from server.dashboard.report import (
    holding_target,
    parse_quarter,
    period_length,
    result_formatter,
    shift_quarter,
    to_date_value,
)
from server.indicators import service as indicators
from server.projects import service as projects_service
from server.projects.models import Project, Site, Target
from server.results import observation_queries as obs_queries
from server.results.forms import form_scope
from server.results.indicators import ResultIndicator, result_indicators
from server.results.models import Form
from server.results.observations import review_observation
from server.scope import project_scope
from shared.indicators import period_bounds

# At most this many quarters on a project's result chart (the latest ones).
MAX_QUARTERS = 12
RESULT_COLOR = charts.PALETTE[0]
TARGET_LINE = "#1f2d3b"
BASELINE_LINE = "#8a97a5"
TO_DATE_COLOR = charts.PALETTE[1]
# The compared groups' colours (demo first, then control, …).
GROUP_COLORS: tuple[str, ...] = ("#2f7d4f", "#c28a2b", "#3f6fb0", "#9b5b8f", "#6b7785")


def _text(value: Any, language: str) -> str:
    """A label that may be translated ({"en": ..., "fr": ...}), in the reader's language."""
    if isinstance(value, Mapping):
        return str(value.get(language) or value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def show_value(t: Translator, value: float | None) -> str:
    return "–" if value is None else result_formatter(t)(value)


def result_rows(
    session: Session,
    *,
    caller: Caller,
    code: str,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[dict[str, Any]]:
    """Rows of one result indicator, exactly as ``GET /api/v1/indicators/{code}/values``."""
    query = indicators.parse_values_query(
        code=code,
        group_by=",".join(group_by),
        filters=dict(filters or {}),
        date_from=None if date_from is None else date_from.isoformat(),
        date_to=None if date_to is None else date_to.isoformat(),
        session=session,
        caller=caller,
    )
    return indicators.indicator_values(session, caller=caller, query=query).rows


def _latest_form(session: Session, caller: Caller, code: str) -> Form | None:
    return session.exec(
        select(Form)
        .where(
            Form.code == code,
            col(Form.status).in_(("published", "retired")),
            form_scope(caller),
        )
        .order_by(col(Form.version).desc())
        .limit(1)
    ).first()


def choice_labels(form: Form | None, field_name: str, language: str) -> dict[str, str]:
    """A select field's choice codes -> their labels in the reader's language (fallback en)."""
    if form is None:
        return {}
    for f in form.fields or []:
        if f.get("name") == field_name:
            return {
                str(c.get("code")): _text(c.get("label"), language) or str(c.get("code"))
                for c in f.get("choices") or []
            }
    return {}


# --- a project's results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    """One side of a compared indicator (its choice's label) and its value, with its unit."""

    label: str
    value: float | None
    unit: str


def groups_of(
    t: Translator, indicator: ResultIndicator, names: Mapping[str, str], row: Mapping[str, Any]
) -> tuple[Group, ...]:
    """A compared indicator's groups in one row of values, in the choices' order: shown beside
    the row's ``value``, which blends them all, so that nobody reads the blend as one side."""
    compare = row.get("compare") or {}
    out = []
    for choice in indicator.compare_choices:
        found = compare.get(choice)
        value = None if found is None else float(found)
        out.append(
            Group(
                names.get(choice, choice),
                value,
                t.unit(indicator.unit, indicator.unit_label, value),
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ResultPanel:
    code: str
    name: str
    unit: str  # in the reader's language, as a heading says it ("agriculteurs")
    latest_unit: str  # as the latest value says it ("1 agriculteur")
    target_unit: str  # as the target says it, and the year to date set against it
    baseline_unit: str
    form: str
    direction: str  # increase | decrease
    chart: charts.Chart
    compare_chart: charts.Chart | None
    latest_period: str
    latest_in_progress: bool  # the latest quarter has not ended: its value is "so far"
    latest: float | None
    target: float | None
    baseline: float | None
    uplift: float | None
    observations_url: str
    # Against a target of a longer period (its year): that period and the value over it from
    # its start to the end of the latest quarter, the figure the target is judged by
    # (``period_figure``); ``to_date_kind`` says how to word it.
    to_date_period: str | None = None
    to_date: float | None = None
    to_date_kind: str = "to-date"  # to-date (a sum or count) | so-far | whole (a period ended)
    # A compared indicator: the latest quarter's value of each group, in the choices' order,
    # beside ``latest``, which is over all of them (the API's ``value``).
    groups: tuple[Group, ...] = ()


def _quarters(found: Sequence[str]) -> list[tuple[str, date, date]]:
    """Every quarter from the first to the last found (at most MAX_QUARTERS, the latest)."""
    ordered = sorted(found)
    last = ordered[-1]
    first = max(ordered[0], shift_quarter(last, -(MAX_QUARTERS - 1)))
    out = []
    label = first
    while label <= last:
        _, start, end = parse_quarter(label)
        out.append((label, start, end))
        label = shift_quarter(label, 1)
    return out


def target_for(targets: Sequence[Target], first: date, last: date) -> float | None:
    """The target of the shortest period holding the quarter (a quarter's before its year's)."""
    best = holding_target(targets, first, last)
    return None if best is None else float(best.value)


@dataclass(frozen=True, slots=True)
class Judgement:
    """How a quarter's figure is set against its target (``judge``)."""

    tone: str  # on-track | behind | so-far | none
    period: str | None  # the target's period when longer than the quarter, else None
    figure: float | None  # the value over that period so far (None without one)
    kind: str  # to-date (a sum or count) | so-far (a period not ended) | whole (ended)


def judge(
    *,
    additive: bool,
    direction: str,
    quarter: str,
    quarter_value: float | None,
    target: Target | None,
    period_value: float | None,
    today: date,
) -> Judgement:
    """A quarter's figure against the target of the shortest period holding it, judged by the
    value over the target's own period from its start to the quarter's end (``period_value``,
    what ``TARGET_ACHIEVEMENT`` counts) — the quarter's own value when the target is the
    quarter's. The verdict waits until it is final: a sum or count only grows until the target's
    period ends (``tone_of``'s ``running``), any other aggregate (a mean, a ratio, a share, …)
    can move either way until then (``moving``)."""
    if target is None:
        return Judgement("none", None, None, "to-date")
    longer = period_length(target.period) > period_length(quarter)
    figure = period_value if longer else quarter_value
    pending = today <= period_bounds(target.period)[1]
    tone = tone_of(
        direction,
        figure,
        float(target.value),
        running=pending and additive,
        moving=pending and not additive,
    )
    if not longer:
        return Judgement(tone, None, None, "to-date")
    kind = "to-date" if additive else ("so-far" if pending else "whole")
    return Judgement(tone, target.period, figure, kind)


def to_date_of(
    additive: bool,
    targets: Sequence[Target],
    quarter: str,
    values: Mapping[str, float | None],
) -> tuple[str | None, float | None]:
    """A point of a sum's or count's year-to-date line when its target is of a longer period (a
    year's): that period and its value from its start to the quarter's end (``values`` by
    quarter), the sum of its quarters. (None, None) for a quarter's own target and for the other
    aggregates (a mean, a ratio, a share, …), whose value over a period is not the sum of its
    quarters' (``period_values`` asks for it where the target is judged)."""
    _, first, last = parse_quarter(quarter)
    best = holding_target(targets, first, last)
    if not additive or best is None or period_length(best.period) <= period_length(quarter):
        return None, None
    return best.period, to_date_value(values, best.period, quarter)


def period_values(
    session: Session,
    *,
    caller: Caller,
    indicator: ResultIndicator,
    wanted: Mapping[str, tuple[Target, str]],
    quarterly: Mapping[str, Mapping[str, float | None]],
) -> dict[str, float | None]:
    """Per project code, the value over its target's period (``wanted``: the target and the
    quarter shown) from the period's start to the quarter's end: what ``TARGET_ACHIEVEMENT``
    counts for it. A sum or count adds its quarters (``quarterly``: values by project code and
    quarter); any other aggregate is asked of the values endpoint over those dates, one question
    for the projects that share them."""
    out: dict[str, float | None] = {}
    windows: dict[tuple[date, date], list[str]] = {}
    for code, (target, quarter) in wanted.items():
        if indicator.additive:
            out[code] = to_date_value(quarterly.get(code, {}), target.period, quarter)
        else:
            window = (period_bounds(target.period)[0], period_bounds(quarter)[1])
            windows.setdefault(window, []).append(code)
    for (start, end), codes in windows.items():
        rows = result_rows(
            session,
            caller=caller,
            code=indicator.code,
            group_by=("project",),
            filters={"project": ",".join(sorted(codes))},
            date_from=start,
            date_to=end,
        )
        found = {str(r["project"]): r.get("value") for r in rows}
        for code in codes:
            value = found.get(code)
            out[code] = None if value is None else float(value)
    return out


def judge_latest(
    session: Session,
    *,
    caller: Caller,
    indicator: ResultIndicator,
    project_code: str,
    quarter: str,
    quarter_value: float | None,
    goals: Sequence[Target],
    quarterly: Mapping[str, float | None],
    today: date,
) -> Judgement:
    """One project's quarter against its target (``judge``), the project page's latest quarter;
    the overview judges its projects at once the same way."""
    _, first, last = parse_quarter(quarter)
    goal = holding_target(goals, first, last)
    over = (
        {}
        if goal is None
        else period_values(
            session,
            caller=caller,
            indicator=indicator,
            wanted={project_code: (goal, quarter)},
            quarterly={project_code: quarterly},
        )
    )
    return judge(
        additive=indicator.additive,
        direction=indicator.direction,
        quarter=quarter,
        quarter_value=quarter_value,
        target=goal,
        period_value=over.get(project_code),
        today=today,
    )


def baseline_for(baselines: Sequence[Target], last: date) -> float | None:
    """The latest baseline that does not start after ``last`` (else the earliest)."""
    if not baselines:
        return None
    ordered = sorted(baselines, key=lambda b: period_bounds(b.period)[0])
    before = [b for b in ordered if period_bounds(b.period)[0] <= last]
    return float((before[-1] if before else ordered[0]).value)


def _project_targets(
    session: Session, caller: Caller, project: Project, code: str
) -> tuple[list[Target], list[Target]]:
    rows, _ = projects_service.list_targets(
        session, caller=caller, project_id=project.id, indicator=code, limit=1000
    )
    rows = [r for r in rows if r.sex is None]
    baselines = [r for r in rows if getattr(r, "kind", "target") == "baseline"]
    goals = [r for r in rows if getattr(r, "kind", "target") != "baseline"]
    return goals, baselines


def _panel(
    session: Session,
    caller: Caller,
    t: Translator,
    project: Project,
    indicator: ResultIndicator,
    today: date,
) -> ResultPanel | None:
    code = indicator.code
    rows = result_rows(
        session,
        caller=caller,
        code=code,
        group_by=("period:quarter",),
        filters={"project": str(project.id)},
    )
    rows = [r for r in rows if r.get("period")]
    if not rows:
        return None
    by_quarter = {str(r["period"]): r for r in rows}
    quarters = _quarters(list(by_quarter))
    labels = [q for q, _, _ in quarters]
    values = tuple(
        None if by_quarter.get(q, {}).get("value") is None else float(by_quarter[q]["value"])
        for q in labels
    )
    goals, baselines = _project_targets(session, caller, project, code)
    target_line = tuple(target_for(goals, first, last) for _, first, last in quarters)
    baseline_line = tuple(baseline_for(baselines, last) for _, _, last in quarters)
    name = indicator.label(t.language)
    unit = t.unit(indicator.unit, indicator.unit_label)
    fmt, texts = result_formatter(t), service._texts(t)
    series = [charts.Series(name, values, RESULT_COLOR)]
    # A sum or count against a year's target is judged by the year to date: that line meets
    # the target line where the verdict is read (a quarter alone never reaches a year's target).
    known = {
        q: None if r.get("value") is None else float(r["value"]) for q, r in by_quarter.items()
    }
    to_date_line = tuple(to_date_of(indicator.additive, goals, q, known)[1] for q in labels)
    if any(v is not None for v in to_date_line):
        series.append(charts.Series(t.gettext("Year to date"), to_date_line, TO_DATE_COLOR))
    if any(v is not None for v in target_line):
        series.append(charts.Series(t.gettext("Target"), target_line, TARGET_LINE))
    if any(v is not None for v in baseline_line):
        series.append(charts.Series(t.gettext("Baseline"), baseline_line, BASELINE_LINE))
    direction_word = t.gettext("lower is better") if indicator.direction == "decrease" else ""
    chart = charts.line_chart(
        key=f"result-{code.lower()}",
        title=t.gettext("%(indicator)s by quarter", indicator=name)
        + (f" ({direction_word})" if direction_word else ""),
        categories=labels,
        series=series,
        x_label=t.gettext("Quarter"),
        y_label=unit or name,
        fmt=fmt,
        texts=texts,
    )
    compare_chart = None
    uplift = None
    groups: tuple[Group, ...] = ()
    if indicator.compare and len(indicator.compare_choices) >= 2:
        names = choice_labels(
            _latest_form(session, caller, indicator.form), indicator.compare, t.language
        )
        groups = groups_of(t, indicator, names, by_quarter[labels[-1]])
        choices = indicator.compare_choices
        group_series = [
            charts.Series(
                names.get(c, c),
                tuple(
                    None
                    if (by_quarter.get(q, {}).get("compare") or {}).get(c) is None
                    else float(by_quarter[q]["compare"][c])
                    for q in labels
                ),
                GROUP_COLORS[i % len(GROUP_COLORS)],
            )
            for i, c in enumerate(choices)
        ]
        uplifts = [by_quarter.get(q, {}).get("uplift") for q in labels]
        compare_chart = charts.grouped_bar_chart(
            key=f"result-{code.lower()}-compare",
            title=t.gettext(
                "%(indicator)s: %(first)s against %(second)s",
                indicator=name,
                first=names.get(choices[0], choices[0]),
                second=names.get(choices[1], choices[1]),
            ),
            categories=labels,
            series=group_series,
            x_label=t.gettext("Quarter"),
            y_label=unit or name,
            fmt=fmt,
            height=230,
            texts=texts,
        )
        if not compare_chart.empty:
            header = [
                t.gettext("Quarter"),
                *(s.name for s in group_series),
                t.gettext("Uplift"),
            ]
            table_rows = [
                [
                    q,
                    *("–" if s.values[i] is None else fmt(s.values[i] or 0) for s in group_series),
                    t.change(None if uplifts[i] is None else float(str(uplifts[i])), 1),
                ]
                for i, q in enumerate(labels)
            ]
            compare_chart = replace(
                compare_chart, table=charts.data_table(header, table_rows, compare_chart.title)
            )
        last_uplift = uplifts[-1]
        uplift = None if last_uplift is None else float(last_uplift)
    judgement = judge_latest(
        session,
        caller=caller,
        indicator=indicator,
        project_code=project.code,
        quarter=labels[-1],
        quarter_value=values[-1],
        goals=goals,
        quarterly=known,
        today=today,
    )
    return ResultPanel(
        code=code,
        name=name,
        unit=unit,
        latest_unit=t.unit(indicator.unit, indicator.unit_label, values[-1]),
        target_unit=t.unit(indicator.unit, indicator.unit_label, target_line[-1]),
        baseline_unit=t.unit(indicator.unit, indicator.unit_label, baseline_line[-1]),
        form=indicator.form,
        direction=indicator.direction,
        chart=chart,
        compare_chart=compare_chart,
        latest_period=labels[-1],
        latest_in_progress=_holds(labels[-1], today),
        latest=values[-1],
        target=target_line[-1],
        baseline=baseline_line[-1],
        uplift=uplift,
        observations_url=f"/observations?project={project.id}&form={indicator.form}",
        to_date_period=judgement.period,
        to_date=judgement.figure,
        to_date_kind=judgement.kind,
        groups=groups,
    )


def _holds(quarter: str, day: date) -> bool:
    first, last = period_bounds(quarter)
    return first <= day <= last


def project_results(
    session: Session, *, caller: Caller, t: Translator, project: Project, today: date
) -> list[ResultPanel]:
    """Every result indicator with observations counted in the project, by code."""
    found = []
    for indicator in result_indicators(session, caller).values():
        panel = _panel(session, caller, t, project, indicator, today)
        if panel is not None:
            found.append(panel)
    return found


# --- the overview: results across pilots -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultCell:
    code: str
    name: str
    unit: str
    direction: str
    value: float | None
    target: float | None
    baseline: float | None
    tone: str  # on-track | behind | so-far | none
    period: str  # the quarter, e.g. 2026Q4
    in_progress: bool  # the quarter has not ended
    # Against a target of a longer period: that period (its year) and the value over it up
    # to the quarter's end, which the tone judges (``judge``); ``to_date_kind`` as a panel's.
    to_date_period: str | None = None
    to_date: float | None = None
    to_date_kind: str = "to-date"
    # A compared indicator: each group's value beside ``value`` (over all of them), the uplift.
    groups: tuple[Group, ...] = ()
    uplift: float | None = None


@dataclass(frozen=True, slots=True)
class ResultRow:
    project_id: uuid.UUID
    project: str
    country: str
    cells: list[ResultCell]


def tone_of(
    direction: str,
    value: float | None,
    target: float | None,
    *,
    growing: bool = False,
    running: bool = False,
    moving: bool = False,
) -> str:
    """ "on-track" when the value has reached the target in the indicator's direction.

    ``growing``: a sum or count of a quarter still in progress, which only grows until the
    quarter ends: it is judged only once the verdict cannot change (an increase that has reached
    its target, a decrease already past it), else "so-far".

    ``running``: a sum or count to date against the target of a longer period (its year) that
    has not ended, which grows the same way until that period ends: judged by the same rule
    (✓ once an increase has reached it, ✗ once a decrease is past it), else "so-far"
    (progress, not a verdict).

    ``moving``: any other aggregate (a mean, a ratio, a share, a median, a minimum or maximum)
    over a period that has not ended, which can still move either way: "so-far" whatever it
    reads now."""
    if value is None or target is None:
        return "none"
    if moving:
        return "so-far"
    reached = value <= target if direction == "decrease" else value >= target
    if (growing or running) and reached == (direction == "decrease"):
        return "so-far"
    return "on-track" if reached else "behind"


def results_across_pilots(
    session: Session, *, caller: Caller, t: Translator, today: date
) -> list[ResultRow]:
    """Per visible project, the latest quarter's value of each result indicator it has, with the
    target and the baseline in force then; the target is judged as the project page's
    achievement judges it, by the value over its own period so far, and not before the verdict
    is final (``judge``). A compared indicator carries its groups' values beside the blend."""
    projects = {p.id: p for p in session.exec(select(Project).where(project_scope(caller))).all()}
    cells: dict[uuid.UUID, list[ResultCell]] = {}
    for indicator in result_indicators(session, caller).values():
        rows = result_rows(
            session, caller=caller, code=indicator.code, group_by=("project", "period:quarter")
        )
        latest: dict[str, dict[str, Any]] = {}
        quarterly: dict[str, dict[str, float | None]] = {}
        for r in rows:
            if r.get("period") and r.get("value") is not None:
                key = str(r["project"])
                quarterly.setdefault(key, {})[str(r["period"])] = float(r["value"])
                if key not in latest or str(r["period"]) > str(latest[key]["period"]):
                    latest[key] = r
        codes = {p.code: p for p in projects.values()}
        # every target and baseline of the indicator in scope, at once, by project
        rows_of: dict[uuid.UUID, list[Target]] = {}
        listed, _ = projects_service.list_targets(
            session, caller=caller, indicator=indicator.code, limit=100_000
        )
        for x in listed:
            if x.sex is None:
                rows_of.setdefault(x.project_id, []).append(x)
        compared = len(indicator.compare_choices) >= 2
        names = (
            choice_labels(
                _latest_form(session, caller, indicator.form), indicator.compare, t.language
            )
            if indicator.compare and compared
            else {}
        )
        wanted: dict[str, tuple[Target, str]] = {}  # project code -> its target, the quarter
        for project_code, row in latest.items():
            project = codes.get(project_code)
            if project is None:
                continue
            goals = [x for x in rows_of.get(project.id, []) if x.kind != "baseline"]
            _, first, last = parse_quarter(str(row["period"]))
            goal = holding_target(goals, first, last)
            if goal is not None:
                wanted[project_code] = (goal, str(row["period"]))
        over = period_values(
            session, caller=caller, indicator=indicator, wanted=wanted, quarterly=quarterly
        )
        for project_code, row in latest.items():
            project = codes.get(project_code)
            if project is None:
                continue
            quarter = str(row["period"])
            _, first, last = parse_quarter(quarter)
            baselines = [x for x in rows_of.get(project.id, []) if x.kind == "baseline"]
            value = float(row["value"])
            goal = wanted.get(project_code, (None, quarter))[0]
            judgement = judge(
                additive=indicator.additive,
                direction=indicator.direction,
                quarter=quarter,
                quarter_value=value,
                target=goal,
                period_value=over.get(project_code),
                today=today,
            )
            uplift = row.get("uplift")
            cells.setdefault(project.id, []).append(
                ResultCell(
                    code=indicator.code,
                    name=indicator.label(t.language),
                    unit=t.unit(indicator.unit, indicator.unit_label),
                    direction=indicator.direction,
                    value=value,
                    target=None if goal is None else float(goal.value),
                    baseline=baseline_for(baselines, last),
                    tone=judgement.tone,
                    period=quarter,
                    in_progress=first <= today <= last,
                    to_date_period=judgement.period,
                    to_date=judgement.figure,
                    to_date_kind=judgement.kind,
                    groups=groups_of(t, indicator, names, row) if compared else (),
                    uplift=None if uplift is None else float(uplift),
                )
            )
    return [
        ResultRow(p.id, p.code, p.country, cells[p.id])
        for p in sorted(projects.values(), key=lambda p: p.code)
        if p.id in cells
    ]


# --- observations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationList:
    items: list[obs_queries.ObservationSummary]
    total: int
    projects: list[tuple[str, str]]  # (id, code) the caller sees
    forms: list[tuple[str, str]]  # (code, title)


def observation_list(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    project: str,
    form: str,
    status: str,
    limit: int,
    offset: int,
) -> ObservationList:
    items, total = obs_queries.list_observations(
        session,
        caller=caller,
        filters=obs_queries.ObservationFilters(
            project=project or None, form=form or None, status=status or None
        ),
        limit=limit,
        offset=offset,
    )
    projects = sorted(
        (
            (str(p.id), p.code)
            for p in session.exec(select(Project).where(project_scope(caller))).all()
        ),
        key=lambda p: p[1],
    )
    titles: dict[str, str] = {}  # the forms the caller may read (another country's: unknown)
    for f in session.exec(
        select(Form)
        .where(col(Form.status).in_(("published", "retired")), form_scope(caller))
        .order_by(col(Form.code), col(Form.version))
    ).all():
        titles[f.code] = _text(f.title, t.language) or f.code
    return ObservationList(items, total, projects, sorted(titles.items()))


@dataclass(frozen=True, slots=True)
class Answer:
    name: str
    label: str
    value: str
    unit: str


@dataclass(frozen=True, slots=True)
class ObservationPage:
    detail: obs_queries.ObservationDetail
    project: Project
    site: Site | None
    form: Form
    form_title: str
    answers: list[Answer]
    revisions: list[RevisionPublic]
    labels: Mapping[str, str]  # values.<name> -> the field's label
    actions: tuple[str, ...]


# Answers as given, to the last decimal (a measurement of 420.5 kg is not 420 kg).
EXACT_NUMBER = "#,##0.######"


def show_answer(t: Translator, field: Mapping[str, Any] | None, value: Any) -> str:
    """An answer as the reader reads it: choices by their labels, numbers (never rounded) and
    dates formatted."""
    if value is None or value == "" or value == []:
        return "–"
    choices = {
        str(c.get("code")): _text(c.get("label"), t.language)
        for c in ((field or {}).get("choices") or [])
    }
    if isinstance(value, bool):
        return t.gettext("Yes") if value else t.gettext("No")
    if isinstance(value, list):
        return ", ".join(choices.get(str(v), str(v)) for v in value)
    if isinstance(value, (int, float)):
        return decimal_text(value, EXACT_NUMBER, t.language)
    if (field or {}).get("type") == "date" and isinstance(value, str):
        try:
            return t.date(date.fromisoformat(value))
        except ValueError:
            return value
    return choices.get(str(value), str(value))


def observation_page(
    session: Session, *, caller: Caller, t: Translator, observation_id: uuid.UUID
) -> ObservationPage:
    detail = obs_queries.observation_detail(session, caller=caller, observation_id=observation_id)
    project = projects_service.get_project(session, caller=caller, project_id=detail.project_id)
    form = session.get(Form, detail.form_id)
    assert form is not None  # an observation's form is never deleted
    fields = {str(f.get("name")): f for f in form.fields or []}
    answers = [
        Answer(
            name=name,
            label=_text(f.get("label"), t.language) or name,
            value=show_answer(t, f, detail.values.get(name)),
            unit=t.unit(
                f.get("unit") if isinstance(f.get("unit"), str) else None,
                f.get("unit_label") if isinstance(f.get("unit_label"), Mapping) else None,
                detail.values.get(name),
            ),
        )
        for name, f in fields.items()
        if name in detail.values
    ]
    answers += [
        Answer(name=name, label=name, value=show_answer(t, None, value), unit="")
        for name, value in detail.values.items()
        if name not in fields
    ]
    labels = {
        f"values.{name}": _text(f.get("label"), t.language) or name for name, f in fields.items()
    }
    history = obs_queries.revisions(session, caller=caller, observation_id=observation_id)
    site = session.get(Site, detail.site_id) if detail.site_id else None
    return ObservationPage(
        detail=detail,
        project=project,
        site=site,
        form=form,
        form_title=_text(form.title, t.language) or form.code,
        answers=answers,
        revisions=list(reversed(history)),
        labels=labels,
        actions=service.review_actions(caller, project, detail.status, detail.deleted),
    )


def review(
    session: Session, *, caller: Caller, observation_id: uuid.UUID, action: str, comment: str
) -> None:
    review_observation(
        session, caller=caller, observation_id=observation_id, action=action, comment=comment
    )


@dataclass(frozen=True, slots=True)
class WaitingObservations:
    items: list[obs_queries.ObservationSummary]
    total: int
    titles: Mapping[str, str]  # form code -> its title in the reader's language


def waiting_observations(
    session: Session, *, caller: Caller, t: Translator, project: str = "", limit: int = 20
) -> WaitingObservations:
    """The submitted observations of the review queue (the first ``limit``), newest first."""
    found = observation_list(
        session,
        caller=caller,
        t=t,
        project=project,
        form="",
        status="submitted",
        limit=limit,
        offset=0,
    )
    return WaitingObservations(found.items, found.total, dict(found.forms))
