"""Targets against actuals (``TARGET_ACHIEVEMENT``).

Each target (project × indicator × period, optionally per sex) gets its actual: the indicator's
value over that project and period (and sex, for participant indicators), 0 when nothing was
counted. Achievement is 100 × actual / target (null for a zero target or a null actual). Rows
grouped by project attributes (region, country, project, thematic area — the project's own)
compare summed actuals with summed targets; for WOMEN_SHARE and COUNTRIES_REACHED, which do
not add up, they compare the means.

Summable indicators are read once per indicator, per project and month over all the target
periods, and added up per target; the others once per target period.

``count_to`` stops the counting at a day: a target whose period runs past it gets its actual
so far at that day (the quarterly report's year targets: the year up to the quarter's end, the
same whenever the report is made).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col

from server.indicators import engine
from server.indicators.engine import Where, yyyymm
from server.indicators.service import (
    NUMERATORS,
    SUMMABLE,
    group_sums,
    measure_columns,
    present_key,
    project_codes,
    sums_of,
    value_of,
)
from server.projects.models import Project, Target
from server.results.indicators import ResultIndicator, project_actual, result_indicators
from server.scope import project_scope
from shared.geography import REGIONS, region_of
from shared.indicators import TARGETABLE, IndicatorCode, months_between, period_bounds

TARGET_COLUMNS: tuple[str, ...] = ("indicator", "period", "sex", "target", "actual", "value")
_MEANS = frozenset({IndicatorCode.WOMEN_SHARE, IndicatorCode.COUNTRIES_REACHED})


@dataclass(frozen=True, slots=True)
class TargetActual:
    project_id: uuid.UUID
    country: str
    region: str | None
    thematic_area: str
    indicator: str
    period: str
    sex: str | None
    target: float
    actual: int | float | None
    first_day: date
    last_day: date
    # result indicators: the project's baseline (kind "baseline") and the indicator's direction
    baseline: float | None = None
    direction: str = "increase"
    mean: bool = False  # values of projects do not add up: rows over several compare means

    def key(self, name: str) -> Any:
        return {
            "project": self.project_id,
            "country": self.country,
            "region": self.region,
            "thematic_area": self.thematic_area,
        }[name]


def _targets(session: OrmSession, where: Where, count_to: date | None = None) -> list[TargetActual]:
    statement = (
        sa.select(
            col(Target.project_id),
            col(Target.indicator),
            col(Target.period),
            col(Target.sex),
            col(Target.value),
            col(Target.kind),
            col(Project.country),
            col(Project.thematic_area),
        ).join(Project, Project.id == Target.project_id)  # type: ignore[arg-type]
    )
    filters = where.filters
    if "country" in filters:
        statement = statement.where(Project.country.in_(filters["country"]))  # type: ignore[attr-defined]
    if "region" in filters:
        countries = [c for r in filters["region"] for c in REGIONS[r].countries]
        statement = statement.where(Project.country.in_(countries))  # type: ignore[attr-defined]
    if "project" in filters:
        statement = statement.where(Project.id.in_(filters["project"]))  # type: ignore[attr-defined]
    if "thematic_area" in filters:
        statement = statement.where(Project.thematic_area.in_(filters["thematic_area"]))  # type: ignore[attr-defined]
    if where.caller is not None:
        statement = statement.where(project_scope(where.caller))
    found: list[TargetActual] = []
    baselines: dict[tuple[uuid.UUID, str], list[tuple[date, float]]] = defaultdict(list)
    rows = session.execute(statement).all()
    for row in rows:
        if row.kind == "baseline":
            try:
                baselines[(row.project_id, row.indicator)].append(
                    (period_bounds(row.period)[0], float(row.value))
                )
            except ValueError:
                continue
    for row in rows:
        if row.kind == "baseline":
            continue
        try:
            first, last = period_bounds(row.period)
        except ValueError:
            continue  # not a period we can measure (validation keeps these out)
        if where.date_from is not None and first < where.date_from:
            continue
        if where.date_to is not None and last > where.date_to:
            continue
        found.append(
            TargetActual(
                row.project_id,
                row.country,
                region_of(row.country),
                row.thematic_area,
                row.indicator,
                row.period,
                row.sex,
                float(row.value),
                None,
                first,
                last if count_to is None else min(last, count_to),
                _baseline(baselines.get((row.project_id, row.indicator), []), first),
            )
        )
    return found


def _baseline(candidates: list[tuple[date, float]], first: date) -> float | None:
    """The latest baseline that does not start after the target's period (else the
    earliest)."""
    if not candidates:
        return None
    before = [c for c in candidates if c[0] <= first]
    return max(before)[1] if before else min(candidates)[1]


def _sexed(target: TargetActual) -> bool:
    return target.sex is not None and target.indicator in (
        *NUMERATORS,
        IndicatorCode.UNIQUE_PARTICIPANTS,
    )


def _add(into: dict[str, int], sums: dict[str, int]) -> None:
    for name, value in sums.items():
        into[name] = into.get(name, 0) + value


def with_actuals(
    session: OrmSession, *, where: Where, count_to: date | None = None
) -> list[TargetActual]:
    """Every target in scope and in the date range, with its actual filled in: counted over
    the target's period, or up to ``count_to`` when that comes first."""
    found = _targets(session, where, count_to)
    results = result_indicators(session) if found else {}
    # A target of an indicator no form defines any more (dropped before that was refused),
    # or of another project's form's, counts in nothing
    # (docs/results.md#targets-of-result-indicators); the targets API still lists it, so that
    # it can be deleted.
    found = [
        t
        for t in found
        if t.indicator in TARGETABLE
        or (t.indicator in results and results[t.indicator].applies_to(t.project_id))
    ]
    targets = [t for t in found if t.indicator not in results]
    done_results = _result_actuals(
        session, [t for t in found if t.indicator in results], results, where
    )
    plain = [t for t in targets if t.indicator in SUMMABLE and not _sexed(t)]
    done: list[TargetActual] = _plain_actuals(session, plain, where) if plain else []
    by_indicator: dict[str, list[TargetActual]] = defaultdict(list)
    for t in targets:
        if t.indicator not in SUMMABLE or _sexed(t):
            by_indicator[t.indicator].append(t)
    for code, group in by_indicator.items():
        if code in SUMMABLE:
            done.extend(_summed_actuals(session, code, group, where))
        else:
            done.extend(_per_period_actuals(session, code, group, where))
    return [*done, *done_results]


def _result_actuals(
    session: OrmSession,
    targets: list[TargetActual],
    results: dict[str, ResultIndicator],
    where: Where,
) -> list[TargetActual]:
    """Result indicators: each target's actual is the indicator's value over its project and
    period, null when nothing answered it (docs/results.md#result-indicators)."""
    groups: dict[tuple[str, str], list[TargetActual]] = defaultdict(list)
    for t in targets:
        groups[(t.indicator, t.period)].append(t)
    done = []
    for (code, _), group in groups.items():
        indicator = results[code]
        actuals = project_actual(
            session,
            indicator=indicator,
            project_ids=sorted({t.project_id for t in group}, key=str),
            first=group[0].first_day,
            last=group[0].last_day,
            statuses=where.statuses,
        )
        for t in group:
            actual = actuals.get(t.project_id)
            if actual is None and indicator.aggregate == "count":
                actual = 0
            done.append(
                replace(
                    t,
                    actual=actual,
                    direction=indicator.direction,
                    mean=not indicator.additive,
                )
            )
    return done


def _plain_actuals(
    session: OrmSession, targets: list[TargetActual], where: Where
) -> list[TargetActual]:
    """Summable indicators without sex: one read of every measure per project and month."""
    columns = tuple(dict.fromkeys(c for t in targets for c in measure_columns(t.indicator)))
    read = Where(
        statuses=where.statuses,
        filters={"project": tuple({t.project_id for t in targets})},
        date_from=min(t.first_day for t in targets),
        date_to=max(t.last_day for t in targets),
    )
    monthly = dict(
        engine.measure_groups(
            session, where=read, keys=("project", "period:month"), measures=columns
        )
    )
    done = []
    for t in targets:
        total: dict[str, int] = {}
        for month in months_between(t.first_day, t.last_day):
            measures = monthly.get((t.project_id, month))
            if measures is not None:
                _add(total, measures)
        done.append(_with(t, value_of(t.indicator, sums_of(t.indicator, total))))
    return done


def _summed_actuals(
    session: OrmSession, code: str, targets: list[TargetActual], where: Where
) -> list[TargetActual]:
    sexed = any(_sexed(t) for t in targets)
    keys = ("project", "period:month", "sex") if sexed else ("project", "period:month")
    read = Where(
        statuses=where.statuses,
        filters={"project": tuple({t.project_id for t in targets})},
        date_from=min(t.first_day for t in targets),
        date_to=max(t.last_day for t in targets),
    )
    monthly = group_sums(session, code=code, where=read, keys=keys)
    # (project, sex or None) -> [(month, sums)]
    series: dict[tuple[uuid.UUID, str | None], list[tuple[int, dict[str, int]]]] = defaultdict(list)
    for key, sums in monthly.items():
        series[(key[0], None)].append((key[1], sums))
        if sexed:
            series[(key[0], key[2])].append((key[1], sums))
    done = []
    for t in targets:
        sex = t.sex if _sexed(t) else None
        first, last = yyyymm(t.first_day), yyyymm(t.last_day)
        total: dict[str, int] = {"value": 0, "participants": 0, "numerator": 0}
        for month, sums in series.get((t.project_id, sex), []):
            if first <= month <= last:
                _add(total, sums)
        done.append(_with(t, value_of(code, total)))
    return done


def _per_period_actuals(
    session: OrmSession, code: str, targets: list[TargetActual], where: Where
) -> list[TargetActual]:
    done = []
    by_period: dict[str, list[TargetActual]] = defaultdict(list)
    for t in targets:
        by_period[t.period].append(t)
    for group in by_period.values():
        sexed = any(_sexed(t) for t in group)
        keys = ("project", "sex") if sexed else ("project",)
        read = Where(
            statuses=where.statuses,
            filters={"project": tuple({t.project_id for t in group})},
            date_from=group[0].first_day,
            date_to=group[0].last_day,
        )
        found = group_sums(session, code=code, where=read, keys=keys)
        totals = {k: value_of(code, v) for k, v in found.items()}
        if sexed:
            # distinct people do not add up over sexes: the sexless actual is its own read
            plain = group_sums(session, code=code, where=read, keys=("project",))
            totals.update({k: value_of(code, v) for k, v in plain.items()})
        for t in group:
            key = (t.project_id, t.sex) if _sexed(t) else (t.project_id,)
            done.append(_with(t, totals.get(key, 0)))
    return done


def _with(target: TargetActual, actual: int | float | None) -> TargetActual:
    return replace(target, actual=actual)


def achievement(
    target: float,
    actual: int | float | None,
    *,
    baseline: float | None = None,
    direction: str = "increase",
) -> float | None:
    """``increase``: 100 × actual / target. ``decrease`` (a loss rate): 100 × (baseline −
    actual) / (baseline − target), null without a baseline or when it equals the target."""
    if actual is None:
        return None
    if direction == "decrease":
        if baseline is None or baseline == target:
            return None
        return round(100 * (baseline - actual) / (baseline - target), 2)
    if not target:
        return None
    return round(100 * actual / target, 2)


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)


def aggregate(targets: Sequence[TargetActual], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Rows per (keys, indicator, period, sex) with target, actual and achievement (raw keys)."""
    groups: dict[tuple[Any, ...], list[TargetActual]] = defaultdict(list)
    for t in targets:
        groups[(*(t.key(k) for k in keys), t.indicator, t.period, t.sex)].append(t)
    rows = []
    for group_key, members in groups.items():
        indicator = members[0].indicator
        known = [m.actual for m in members if m.actual is not None]
        target_sum = sum(m.target for m in members)
        actual_sum: float | None = sum(known) if known else None
        if indicator in _MEANS or members[0].mean:
            target_sum /= len(members)
            actual_sum = sum(known) / len(known) if known else None
        baselines = [m.baseline for m in members if m.baseline is not None]
        baseline = sum(baselines) / len(baselines) if baselines else None
        if baseline is not None and not members[0].mean:
            baseline = sum(baselines)
        row = dict(zip(keys, group_key, strict=False))
        row.update(
            {
                "indicator": indicator,
                "period": members[0].period,
                "sex": members[0].sex,
                "target": _number(target_sum),
                "actual": _number(actual_sum),
                "value": achievement(
                    target_sum,
                    actual_sum,
                    baseline=baseline,
                    direction=members[0].direction,
                ),
            }
        )
        rows.append(row)
    return rows


def target_values(
    session: OrmSession, *, where: Where, keys: Sequence[str], count_to: date | None = None
) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """TARGET_ACHIEVEMENT rows as the API shows them: (columns, rows); ``count_to`` as for
    ``with_actuals``."""
    targets = with_actuals(session, where=where, count_to=count_to)
    rows = aggregate(targets, keys)
    codes_by_id = (
        project_codes(session, (t.project_id for t in targets)) if "project" in keys else {}
    )
    for row in rows:
        for k in keys:
            row[k] = present_key(k, row[k], codes_by_id)
    order = (*keys, "indicator", "period", "sex")
    rows.sort(key=lambda r: tuple((r[k] is not None, str(r[k])) for k in order))
    return (*keys, *TARGET_COLUMNS), rows
