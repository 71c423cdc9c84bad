"""IATI 2.03 activity XML: each project an ``iati-activity`` with its results.

A result per indicator (activities, demonstrations, trainings, participants, unique
participants, expert days), a period per year (or quarter) with the actual — participants also
disaggregated with ``<dimension name="sex" .../>`` — and the project's targets for that period.
Then an outcome result (``type="2"``) per result indicator of the published forms
(docs/results.md#exports): ``measure`` 1 for a unit, 2 for a percentage, ``ascending`` from its
direction, the project's latest baseline, and per period its target and, once the period has
begun and something was observed, its actual.
Elements follow the order the 2.03 schema requires; the tests validate against its XSD.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col, select

from server.accounts.auth import Caller
from server.columns import utcnow
from server.errors import ValidationFailed
from server.exports.iso2 import iso2_of
from server.indicators.engine import Where
from server.indicators.refresh import apply_pending
from server.indicators.service import (
    group_sums,
    resolve_projects,
    value_of,
    values_query_with_issues,
)
from server.projects.models import Project, Target
from server.results.indicators import (
    ResultIndicator,
    ResultWhere,
    result_groups,
    result_indicators,
)
from server.scope import country_scope_issue, project_scope
from shared.catalogue import PROJECT_KIND_NAMES, THEMATIC_AREAS
from shared.errors import ErrorCode, Issue
from shared.indicators import INDICATORS, period_bounds, period_grain

IATI_VERSION = "2.03"
# (indicator, disaggregated by sex)
RESULTS: tuple[tuple[str, bool], ...] = (
    ("ACTIVITIES", False),
    ("DEMONSTRATIONS", False),
    ("TRAININGS", False),
    ("PARTICIPANTS", True),
    ("UNIQUE_PARTICIPANTS", True),
    ("EXPERT_DAYS", False),
)
# OECD DAC CRS purpose codes (vocabulary 1) for our thematic areas.
SECTORS: dict[str, str] = {
    "TA1": "31120",  # Agricultural development
    "TA2": "31192",  # Plant and post-harvest protection and pest control
    "TA3": "43060",  # Disaster risk reduction
    "TA4": "43040",  # Rural development
}
GRAINS: dict[str, str] = {"yearly": "year", "quarterly": "quarter"}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True, slots=True)
class Organisation:
    ref: str
    name: str


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.replace("_", "-"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _narrative(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = _sub(parent, tag, **attrs)
    _sub(element, "narrative", text)
    return element


def _activity_status(project: Project, today: date) -> str:
    if today < project.start_date:
        return "1"  # pipeline/identification
    if today <= project.end_date:
        return "2"  # implementation
    return "3"  # finalisation


def _period_label(grain: str, raw: int) -> str:
    if grain == "quarter":
        return f"{raw // 10:04d}Q{raw % 10}"
    return f"{raw:04d}"


def _number(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(round(value, 2))


def _when(moment: datetime | None) -> str:
    return (moment or utcnow()).replace(microsecond=0).isoformat()


def _actuals(session: OrmSession, *, where: Where, grain: str) -> dict[tuple[Any, ...], Any]:
    """(indicator, project, period label, sex or None) -> actual."""
    found: dict[tuple[Any, ...], Any] = {}
    for code, by_sex in RESULTS:
        keys: tuple[str, ...] = ("project", f"period:{grain}")
        for key, sums in group_sums(session, code=code, where=where, keys=keys).items():
            found[(code, key[0], _period_label(grain, key[1]), None)] = value_of(code, sums)
        if by_sex:
            for key, sums in group_sums(
                session, code=code, where=where, keys=(*keys, "sex")
            ).items():
                found[(code, key[0], _period_label(grain, key[1]), key[2])] = value_of(code, sums)
    return found


def iati_activities(
    session: OrmSession,
    *,
    caller: Caller | None,
    organisation: Organisation,
    country: str | None = None,
    project: str | None = None,
    status: str | None = None,
    period_type: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> bytes:
    """The IATI XML document (UTF-8 bytes) for the projects in scope. Bad parameters are one
    400 naming each, as for the indicator values."""
    issues: list[Issue] = []
    grain = GRAINS.get((period_type or "yearly").strip().lower())
    if grain is None:
        issues.append(Issue("period_type", ErrorCode.UNKNOWN_CODE, "use yearly or quarterly"))
    # Read as the indicator values read them; with some bad, the others still read, so that
    # their own checks below join the one answer.
    query, found = values_query_with_issues(
        code="ACTIVITIES",
        filters={"country": country, "project": project},
        date_from=date_from,
        date_to=date_to,
        status=status,  # None: the statuses every count uses (submitted and approved)
    )
    issues += found
    # A country or project outside the scope is refused, as every other export refuses it:
    # an empty document would read as "nothing happened there".
    countries = query.filters.get("country", ())
    scope = country_scope_issue(session, caller=caller, countries=countries)
    if scope is not None:
        issues.append(scope)
    ids: tuple[uuid.UUID, ...] | None = None
    if "project" in query.filters:
        try:
            ids = resolve_projects(session, caller=caller, values=query.filters["project"])
        except ValidationFailed as exc:
            issues.extend(exc.issues)
    if grain is None or issues:
        raise ValidationFailed(issues, status_code=400)
    apply_pending(session)
    statement = select(Project).order_by(col(Project.code))
    if caller is not None:
        statement = statement.where(project_scope(caller))
    if "country" in query.filters:
        statement = statement.where(col(Project.country).in_(query.filters["country"]))
    if ids is not None:
        statement = statement.where(col(Project.id).in_(ids))
    projects = list(session.execute(statement).scalars())
    where = Where(
        statuses=query.statuses,
        filters={"project": tuple(p.id for p in projects)},
        date_from=query.date_from,
        date_to=query.date_to,
    )
    actuals = _actuals(session, where=where, grain=grain) if projects else {}
    targets = _targets(session, [p.id for p in projects], grain, query.date_from, query.date_to)
    outcomes = (
        _outcomes(session, where=where, grain=grain, projects=[p.id for p in projects])
        if projects
        else _Outcomes({}, {}, {}, {})
    )

    root = ET.Element(
        "iati-activities", {"version": IATI_VERSION, "generated-datetime": _when(None)}
    )
    today = utcnow().date()
    for p in projects:
        _activity(root, p, organisation, today, actuals, targets, outcomes)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _targets(
    session: OrmSession,
    project_ids: Sequence[uuid.UUID],
    grain: str,
    first: date | None,
    last: date | None,
) -> dict[tuple[Any, ...], float]:
    """(indicator, project, period, sex) -> target, for targets of this grain."""
    found: dict[tuple[Any, ...], float] = {}
    if not project_ids:
        return found
    wanted = {code for code, _ in RESULTS}
    for t in session.execute(
        select(Target).where(col(Target.project_id).in_(project_ids))
    ).scalars():
        if t.indicator not in wanted or period_grain(t.period) != grain:
            continue
        start, end = period_bounds(t.period)
        if (first and start < first) or (last and end > last):
            continue
        found[(t.indicator, t.project_id, t.period, t.sex)] = t.value
    return found


@dataclass(frozen=True)
class _Outcomes:
    indicators: dict[str, ResultIndicator]
    actuals: dict[tuple[str, uuid.UUID, str], Any]  # (indicator, project, period label)
    targets: dict[tuple[str, uuid.UUID, str], float]
    baselines: dict[tuple[str, uuid.UUID], tuple[date, float]]  # the latest per project


def _outcomes(
    session: OrmSession, *, where: Where, grain: str, projects: Sequence[uuid.UUID]
) -> _Outcomes:
    indicators = result_indicators(session)
    actuals: dict[tuple[str, uuid.UUID, str], Any] = {}
    read = ResultWhere(
        statuses=where.statuses,
        filters={"project": tuple(projects)},
        date_from=where.date_from,
        date_to=where.date_to,
    )
    for code, indicator in indicators.items():
        for g in result_groups(
            session, indicator=indicator, keys=("project", f"period:{grain}"), where=read
        ):
            actuals[(code, g.key[0], _period_label(grain, g.key[1]))] = g.value
    targets: dict[tuple[str, uuid.UUID, str], float] = {}
    baselines: dict[tuple[str, uuid.UUID], tuple[date, float]] = {}
    for t in session.execute(
        select(Target).where(
            col(Target.project_id).in_(projects), col(Target.indicator).in_(list(indicators))
        )
    ).scalars():
        try:
            start, end = period_bounds(t.period)
        except ValueError:
            continue
        if t.kind == "baseline":
            known = baselines.get((t.indicator, t.project_id))
            if known is None or known[0] < start:
                baselines[(t.indicator, t.project_id)] = (start, t.value)
            continue
        if period_grain(t.period) != grain:
            continue
        if (where.date_from and start < where.date_from) or (where.date_to and end > where.date_to):
            continue
        targets[(t.indicator, t.project_id, t.period)] = t.value
    return _Outcomes(indicators, actuals, targets, baselines)


def _outcome(
    activity: ET.Element,
    project: Project,
    today: date,
    indicator: ResultIndicator,
    outcomes: _Outcomes,
) -> None:
    """An outcome result: baseline, then target and actual per period."""
    code, project_id = indicator.code, project.id
    periods = [
        label
        for label in sorted(
            {k[2] for k in outcomes.actuals if k[0] == code and k[1] == project_id}
            | {k[2] for k in outcomes.targets if k[0] == code and k[1] == project_id}
        )
        if period_bounds(label)[0] <= project.end_date
        and period_bounds(label)[1] >= project.start_date
    ]
    baseline = outcomes.baselines.get((code, project_id))
    if not periods and baseline is None:
        return
    result = _sub(
        activity, "result", type="2", aggregation_status="1" if indicator.additive else "0"
    )
    _narrative(result, "title", indicator.label())
    element = _sub(
        result,
        "indicator",
        measure="2" if indicator.percentage else "1",
        ascending="0" if indicator.direction == "decrease" else "1",
    )
    _narrative(element, "title", indicator.label())
    unit = f" ({indicator.unit})" if indicator.unit else ""
    _narrative(
        element,
        "description",
        f"{indicator.aggregate} over the observations of form {indicator.form}{unit}",
    )
    if baseline is not None:
        _sub(
            element,
            "baseline",
            year=str(baseline[0].year),
            iso_date=baseline[0].isoformat(),
            value=_number(baseline[1]),
        )
    for label in periods:
        first, last = period_bounds(label)
        first, last = max(first, project.start_date), min(last, project.end_date)
        period = _sub(element, "period")
        _sub(period, "period-start", iso_date=first.isoformat())
        _sub(period, "period-end", iso_date=last.isoformat())
        target = outcomes.targets.get((code, project_id, label))
        if target is not None:
            _sub(period, "target", value=_number(target))
        actual = outcomes.actuals.get((code, project_id, label))
        if first <= today and actual is not None:
            _sub(period, "actual", value=_number(actual))


def _activity(
    root: ET.Element,
    p: Project,
    organisation: Organisation,
    today: date,
    actuals: dict[tuple[Any, ...], Any],
    targets: dict[tuple[Any, ...], float],
    outcomes: _Outcomes,
) -> None:
    activity = _sub(
        root,
        "iati-activity",
        last_updated_datetime=_when(p.updated_at),
        default_currency="USD",
        hierarchy="1",
    )
    activity.set(_XML_LANG, "en")
    _sub(activity, "iati-identifier", f"{organisation.ref}-{p.code}")
    _narrative(activity, "reporting-org", organisation.name, ref=organisation.ref, type="40")
    _narrative(activity, "title", p.name)
    kind = PROJECT_KIND_NAMES.get(p.kind, p.kind)  # type: ignore[call-overload]
    area = (
        THEMATIC_AREAS[p.thematic_area].name
        if p.thematic_area in THEMATIC_AREAS
        else p.thematic_area
    )
    about = f"{kind} in {p.country}: {area}."
    if p.priority_product:
        about += f" Priority product: {p.priority_product}."
    _narrative(activity, "description", about, type="1")
    _narrative(activity, "participating-org", organisation.name, ref=organisation.ref, role="2")
    for partner in p.partners or []:
        _narrative(activity, "participating-org", partner, role="4")
    _sub(activity, "activity-status", code=_activity_status(p, today))
    _sub(activity, "activity-date", type="1", iso_date=p.start_date.isoformat())
    _sub(activity, "activity-date", type="3", iso_date=p.end_date.isoformat())
    iso2 = iso2_of(p.country)
    if iso2:
        _sub(activity, "recipient-country", code=iso2, percentage="100")
    if p.thematic_area in SECTORS:
        _sub(activity, "sector", vocabulary="1", code=SECTORS[p.thematic_area], percentage="100")
    for code, by_sex in RESULTS:
        _result(activity, p, today, code, by_sex, actuals, targets)
    for indicator in outcomes.indicators.values():
        _outcome(activity, p, today, indicator, outcomes)


def _result(
    activity: ET.Element,
    project: Project,
    today: date,
    code: str,
    by_sex: bool,
    actuals: dict[tuple[Any, ...], Any],
    targets: dict[tuple[Any, ...], float],
) -> None:
    project_id = project.id
    # Only the part of each period inside the project's own dates.
    periods = [
        label
        for label in sorted(
            {k[2] for k in actuals if k[0] == code and k[1] == project_id}
            | {k[2] for k in targets if k[0] == code and k[1] == project_id}
        )
        if period_bounds(label)[0] <= project.end_date
        and period_bounds(label)[1] >= project.start_date
    ]
    if not periods:
        return
    definition = INDICATORS[code]
    result = _sub(activity, "result", type="1", aggregation_status="1")
    _narrative(result, "title", definition.name)
    indicator = _sub(result, "indicator", measure="1", ascending="1")
    _narrative(indicator, "title", definition.name)
    _narrative(indicator, "description", definition.description)
    sexes = sorted(
        {
            k[3]
            for k in (*actuals, *targets)
            if k[0] == code and k[1] == project_id and k[3] is not None
        }
    )
    for label in periods:
        first, last = period_bounds(label)
        first, last = max(first, project.start_date), min(last, project.end_date)
        period = _sub(indicator, "period")
        _sub(period, "period-start", iso_date=first.isoformat())
        _sub(period, "period-end", iso_date=last.isoformat())
        for sex in (None, *sexes):
            target = targets.get((code, project_id, label, sex))
            if target is not None:
                element = _sub(period, "target", value=_number(target))
                if sex is not None:
                    _sub(element, "dimension", name="sex", value=sex)
        if first > today:
            continue  # a period still to come has a target but no actual yet, not a zero
        actual = actuals.get((code, project_id, label, None))
        _sub(period, "actual", value=_number(actual or 0))
        if by_sex:
            for sex in sexes:
                value = actuals.get((code, project_id, label, sex))
                if value is not None:
                    element = _sub(period, "actual", value=_number(value))
                    _sub(element, "dimension", name="sex", value=sex)
