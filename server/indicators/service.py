"""Indicator values (docs/indicators.md): parse a request, compute the values, shape the rows.

    parse_values_query(...)      check codes, keys and filters; 404/400 naming what is wrong
    values_query_with_issues()   the same, the problems returned beside what reads well
    indicator_values(...)        the rows of one indicator, scoped to the caller
    indicator_definitions()      the catalogue as served by GET /api/v1/indicators

Result indicators come from the published forms; given the caller, only from the forms it may
read (global ones and those of its projects): another country's project form's indicators are
not listed, and asking for one is a 404 like any unknown code (docs/roles.md).

Semantics (the contract): the period of an activity is its start date; deleted activities never
count; statuses default to submitted and approved; a group appears when it holds at least one
counted activity and, when grouped by attendance keys, when its participants add up to more
than zero; WOMEN_SHARE is null when there are no participants.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession

from server.accounts.auth import Caller
from server.columns import utcnow
from server.errors import NotFound, ValidationFailed, invalid
from server.indicators import engine
from server.indicators.engine import PERIOD_GRAINS, Key, Where
from server.indicators.models import PIVOTS
from server.indicators.refresh import apply_pending
from server.projects.models import Project
from server.results.indicators import (
    CHOICE_PREFIX,
    RESULT_FILTERS,
    RESULT_KEYS,
    ResultIndicator,
    ResultWhere,
    result_groups,
    result_indicators,
)
from server.scope import country_scope_issue, find_projects
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
from shared.indicators import (
    ATTENDANCE_KEYS,
    DEFAULT_STATUSES,
    FILTER_KEYS,
    GROUP_BY_KEYS,
    INDICATORS,
    PERIOD_KEYS,
    Indicator,
    IndicatorCode,
    IndicatorKind,
)

_ACTIVITY_MEASURE: dict[str, str] = {
    IndicatorCode.ACTIVITIES: "activities",
    IndicatorCode.DEMONSTRATIONS: "demonstrations",
    IndicatorCode.TRAININGS: "trainings",
    IndicatorCode.EXPERT_DAYS: "expert_days",
}
# participant indicator -> the attendance condition of its numerator (None: every row)
NUMERATORS: dict[str, tuple[str, Any] | None] = {
    IndicatorCode.PARTICIPANTS: None,
    IndicatorCode.WOMEN_PARTICIPANTS: ("sex", "female"),
    IndicatorCode.WOMEN_SHARE: ("sex", "female"),
    IndicatorCode.YOUTH_PARTICIPANTS: ("age_band", "youth"),
    IndicatorCode.PWD_PARTICIPANTS: ("disability", True),
}
# Sums that add up over months and projects (UNIQUE_PARTICIPANTS and COUNTRIES_REACHED don't).
SUMMABLE: frozenset[str] = frozenset({*_ACTIVITY_MEASURE, *NUMERATORS})

_VOCABULARIES: dict[str, Iterable[str]] = {
    "country": COUNTRIES,
    "region": REGIONS,
    "thematic_area": THEMATIC_AREAS,
    "solution": SOLUTIONS,
    "topic": TOPICS,
    "modality": codes(Modality),
    "activity_type": codes(ActivityType),
}


@dataclass(frozen=True)
class ValuesQuery:
    indicator: Indicator
    group_by: tuple[str, ...]
    filters: Mapping[str, tuple[str, ...]]
    date_from: date | None
    date_to: date | None
    statuses: tuple[str, ...]
    # set for a result indicator (docs/results.md#result-indicators)
    result: ResultIndicator | None = None


@dataclass(frozen=True)
class IndicatorValues:
    indicator: str
    group_by: tuple[str, ...]
    columns: tuple[str, ...]  # the row keys, in order (CSV/XLSX columns)
    rows: list[dict[str, Any]]
    as_of: datetime


def indicator_definitions(
    session: OrmSession | None = None, caller: Caller | None = None
) -> list[dict[str, Any]]:
    """The catalogue, then (given a session) the result indicators of the published forms:
    of the forms ``caller`` may read, when given."""
    found: list[dict[str, Any]] = [
        {
            "code": i.code,
            "name": i.name,
            "description": i.description,
            "unit": i.unit,
            "kind": i.kind.value,
            "group_by": list(i.group_by),
            "filters": list(i.filters),
            "additive": i.additive,
        }
        for i in INDICATORS.values()
    ]
    if session is not None:
        for r in result_indicators(session, caller).values():
            found.append(
                {
                    "code": r.code,
                    "name": r.label(),
                    "description": _as_catalogue(r).description,
                    "unit": r.unit,
                    "kind": IndicatorKind.RESULT.value,
                    "group_by": list(r.group_by),
                    "filters": list(RESULT_FILTERS),
                    "additive": r.additive,
                    "form": r.form,
                    "aggregate": r.aggregate,
                    "direction": r.direction,
                    "compare": r.compare,
                    "names": dict(r.name),
                    **({"unit_label": dict(r.unit_label)} if r.unit_label else {}),
                }
            )
    return found


def _as_catalogue(r: ResultIndicator) -> Indicator:
    """A result indicator in the catalogue's shape (kind ``result``)."""
    return Indicator(
        r.code,
        r.label(),
        f"{r.aggregate} over the observations of form {r.form}",
        r.unit,
        IndicatorKind.RESULT,
        r.group_by,
        RESULT_FILTERS,
        r.additive,
    )


def get_indicator(
    code: str, session: OrmSession | None = None, caller: Caller | None = None
) -> Indicator:
    """A catalogue indicator, or (given a session) a result indicator of a form ``caller``
    may read (any form's without a caller); else 404."""
    found = INDICATORS.get(code.strip().upper())
    if found is None and session is not None:
        result = result_indicators(session, caller).get(code.strip().upper())
        if result is not None:
            return _as_catalogue(result)
    if found is None:
        raise NotFound(
            f"no indicator {code!r}; indicators are {', '.join(INDICATORS)} and the result "
            "indicators of the published forms"
        )
    return found


def split_list(value: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``; None -> ()."""
    if value is None:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _parse_date(field: str, value: str | None, errors: list[Issue]) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.append(Issue(field, ErrorCode.BAD_DATE, f"{value!r} is not a date: use YYYY-MM-DD"))
        return None


def _normalise(key: str, value: str) -> str:
    if key == "activity_type":
        return value.lower()
    if key == "project":
        return value
    return value.upper()


def parse_values_query(
    *,
    code: str,
    group_by: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    status: str | None = None,
    session: OrmSession | None = None,
    caller: Caller | None = None,
) -> ValuesQuery:
    """Check a values request; 404 for an unknown indicator, 400 naming every bad input.
    Result indicators are found only when a session is given, and then only those of the
    forms ``caller`` may read when given: one outside its scope is as unknown (404), before
    its keys could name the form's fields."""
    query, issues = values_query_with_issues(
        code=code,
        group_by=group_by,
        filters=filters,
        date_from=date_from,
        date_to=date_to,
        status=status,
        session=session,
        caller=caller,
    )
    if issues:
        raise ValidationFailed(issues, status_code=400)
    return query


def values_query_with_issues(
    *,
    code: str,
    group_by: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    status: str | None = None,
    session: OrmSession | None = None,
    caller: Caller | None = None,
) -> tuple[ValuesQuery, list[Issue]]:
    """As ``parse_values_query``, but bad input is returned, not raised: every problem, and
    the query read as if each bad parameter had not been given (a bad filter left out, a bad
    ``group_by``, date or status as absent), so that a caller checking the good ones further
    (scope, unknown projects) names them all in one answer from one reading. An unknown
    indicator is still NotFound: without it there is no query to read."""
    indicator = get_indicator(code, session, caller)
    result = (
        result_indicators(session, caller).get(indicator.code)
        if session is not None and indicator.kind == IndicatorKind.RESULT
        else None
    )
    errors: list[Issue] = []

    keys = split_list(group_by)
    if result is not None:
        choice_keys = [k for k in keys if k.startswith(CHOICE_PREFIX)]
        bad_choice = [k for k in choice_keys if k not in result.group_by]
        choice_names = [k for k in result.group_by if k not in RESULT_KEYS]
        if bad_choice:
            errors.append(
                Issue(
                    "group_by",
                    ErrorCode.UNKNOWN_CODE,
                    f"{', '.join(bad_choice)}: not a select_one field of form {result.form}; "
                    f"choice keys are {', '.join(choice_names) or 'none'}",
                )
            )
        keys_checked = [k for k in keys if not k.startswith(CHOICE_PREFIX)]
    else:
        keys_checked = list(keys)
    unknown = [k for k in keys_checked if k not in GROUP_BY_KEYS]
    if unknown:
        errors.append(
            Issue(
                "group_by",
                ErrorCode.UNKNOWN_CODE,
                f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"keys are {', '.join(GROUP_BY_KEYS)}",
            )
        )
    inapplicable = [k for k in keys_checked if k in GROUP_BY_KEYS and k not in indicator.group_by]
    if inapplicable:
        errors.append(
            Issue(
                "group_by",
                ErrorCode.NOT_APPLICABLE,
                _inapplicable_message(indicator, inapplicable),
            )
        )
    if sum(k in PERIOD_KEYS for k in keys) > 1:
        errors.append(
            Issue(
                "group_by",
                ErrorCode.TOO_MANY,
                "group by one period key at most (period:month, period:quarter or period:year)",
            )
        )

    if errors:  # the group_by's
        keys = ()

    parsed_filters: dict[str, tuple[str, ...]] = {}
    for key, raw in (filters or {}).items():
        values = tuple(_normalise(key, v) for v in split_list(raw))
        if not values:
            continue
        if key not in FILTER_KEYS:
            errors.append(
                Issue(
                    key,
                    ErrorCode.UNKNOWN_FIELD,
                    f"unknown filter; filters are {', '.join(FILTER_KEYS)}, from, to and status",
                )
            )
            continue
        if key not in indicator.filters:
            why = (
                "observations carry no topic, modality or activity type"
                if result is not None
                else "targets are set per project"
            )
            errors.append(
                Issue(
                    key,
                    ErrorCode.NOT_APPLICABLE,
                    f"{key} does not apply to {indicator.code}: {why}, so "
                    f"only {', '.join(indicator.filters)} filter it",
                )
            )
            continue
        vocabulary = _VOCABULARIES.get(key)
        bad = [v for v in values if vocabulary is not None and v not in vocabulary]
        if bad:
            errors.append(Issue(key, ErrorCode.UNKNOWN_CODE, f"unknown {key} {', '.join(bad)}"))
            continue
        parsed_filters[key] = values

    start = _parse_date("from", date_from, errors)
    end = _parse_date("to", date_to, errors)
    if start and end and start > end:
        errors.append(Issue("to", ErrorCode.END_BEFORE_START, f"{end} is before from ({start})"))
        end = None

    statuses = split_list(status.lower() if status else None) or DEFAULT_STATUSES
    bad_status = [s for s in statuses if s not in codes(ActivityStatus)]
    if bad_status:
        errors.append(
            Issue(
                "status",
                ErrorCode.UNKNOWN_CODE,
                f"unknown status {', '.join(bad_status)}; "
                f"statuses are {', '.join(codes(ActivityStatus))}",
            )
        )
        statuses = DEFAULT_STATUSES
    return ValuesQuery(indicator, keys, parsed_filters, start, end, statuses, result), errors


def _inapplicable_message(indicator: Indicator, keys: Sequence[str]) -> str:
    names = ", ".join(keys)
    if indicator.kind == IndicatorKind.RESULT:
        return (
            f"{names} cannot group {indicator.code}: a result indicator groups by "
            f"{', '.join(RESULT_KEYS)} and choice:<field> for the select_one fields of its form"
        )
    if indicator.kind == IndicatorKind.TARGET:
        return (
            f"{names} cannot group {indicator.code}: its rows are always per target "
            f"indicator, period and sex; group by {', '.join(indicator.group_by)}"
        )
    return (
        f"{names} cannot group {indicator.code}: attendance keys "
        f"({', '.join(ATTENDANCE_KEYS)}) apply only to participant indicators"
    )


def resolve_projects(
    session: OrmSession, *, caller: Caller | None, values: Sequence[str]
) -> tuple[uuid.UUID, ...]:
    """Project codes or ids -> ids within the caller's scope; 400 naming any other."""
    bad = [v for v in values if len(v) > 64 or not v.isprintable()]
    if bad:
        raise invalid(
            "project",
            ErrorCode.TOO_LONG if any(len(v) > 64 for v in bad) else ErrorCode.CONTROL_CHARACTER,
            "a project code or id is at most 64 printable characters",
            status_code=400,
        )
    ids, issue = find_projects(session, caller=caller, values=values)
    if issue is not None:
        raise ValidationFailed([issue], status_code=400)
    return tuple(ids)


def where_of(session: OrmSession, *, caller: Caller | None, query: ValuesQuery) -> Where:
    filters: dict[str, tuple[Any, ...]] = dict(query.filters)
    if "project" in filters:
        filters["project"] = resolve_projects(session, caller=caller, values=filters["project"])
    issue = country_scope_issue(session, caller=caller, countries=filters.get("country", ()))
    if issue is not None:
        raise ValidationFailed([issue], status_code=400)
    return Where(
        statuses=query.statuses,
        filters=filters,
        date_from=query.date_from,
        date_to=query.date_to,
        caller=caller,
    )


# --- computing ----------------------------------------------------------------------------


def share(numerator: int, total: int) -> float | None:
    return round(100 * numerator / total, 2) if total else None


def value_of(code: str, sums: Mapping[str, int]) -> int | float | None:
    """An indicator's value from a group's sums (``value`` or participants/numerator)."""
    if code == IndicatorCode.WOMEN_SHARE:
        return share(sums["numerator"], sums["participants"])
    if code in NUMERATORS:
        return sums["numerator"]
    return sums["value"]


def measure_columns(code: str) -> tuple[str, ...]:
    """The roll-up measure columns a summable indicator is computed from."""
    if code in _ACTIVITY_MEASURE:
        return (_ACTIVITY_MEASURE[code],)
    numerator = NUMERATORS[code]
    return (
        ("participants",)
        if numerator is None
        else ("participants", PIVOTS[numerator[0]][numerator[1]])
    )


def sums_of(code: str, measures: Mapping[str, int]) -> dict[str, int]:
    """A summable indicator's group sums (see ``value_of``) from roll-up measure sums."""
    columns = measure_columns(code)
    if code in _ACTIVITY_MEASURE:
        return {"value": measures.get(columns[0], 0)}
    return {
        "participants": measures.get("participants", 0),
        "numerator": measures.get(columns[-1], 0),
    }


def group_sums(
    session: OrmSession, *, code: str, where: Where, keys: Sequence[str]
) -> dict[Key, dict[str, int]]:
    """Raw sums per group for any indicator but TARGET_ACHIEVEMENT (see ``value_of``)."""
    if code in _ACTIVITY_MEASURE:
        measure = _ACTIVITY_MEASURE[code]
        return {
            k: {"value": m[measure]}
            for k, m in engine.measure_groups(session, where=where, keys=keys, measures=(measure,))
        }
    if code == IndicatorCode.COUNTRIES_REACHED:
        return {k: {"value": n} for k, n in engine.country_counts(session, where=where, keys=keys)}
    if code == IndicatorCode.UNIQUE_PARTICIPANTS:
        return _unique_sums(session, where=where, keys=keys)
    return _participant_sums(session, numerator=NUMERATORS[code], where=where, keys=keys)


def _unique_sums(
    session: OrmSession, *, where: Where, keys: Sequence[str]
) -> dict[Key, dict[str, int]]:
    found: dict[Key, dict[str, int]] = {}
    if not any(k in ATTENDANCE_KEYS for k in keys):
        # every group of counted activities appears, with 0 when nobody is on a roster
        found = {
            k: {"value": 0}
            for k, _ in engine.measure_groups(session, where=where, keys=keys, measures=())
        }
    for key, n in engine.unique_participants(session, where=where, keys=keys):
        found[key] = {"value": n}
    return found


def _participant_sums(
    session: OrmSession, *, numerator: tuple[str, Any] | None, where: Where, keys: Sequence[str]
) -> dict[Key, dict[str, int]]:
    attendance = [k for k in keys if k in ATTENDANCE_KEYS]
    if not attendance:
        column = "participants" if numerator is None else PIVOTS[numerator[0]][numerator[1]]
        return {
            k: {"participants": m["participants"], "numerator": m[column]}
            for k, m in engine.measure_groups(
                session, where=where, keys=keys, measures=("participants", column)
            )
        }
    if len(attendance) == 1 and (numerator is None or numerator[0] == attendance[0]):
        # one attendance key: unpivot its columns (sex_female, sex_male, ...)
        pivot_key = attendance[0]
        position = keys.index(pivot_key)
        others = [k for k in keys if k != pivot_key]
        columns = PIVOTS[pivot_key]
        found: dict[Key, dict[str, int]] = {}
        for key, m in engine.measure_groups(
            session, where=where, keys=others, measures=tuple(columns.values())
        ):
            for value, column in columns.items():
                total = m[column]
                if total <= 0:
                    continue
                top = total if numerator is None or numerator[1] == value else 0
                full = (*key[:position], value, *key[position:])
                found[full] = {"participants": total, "numerator": top}
        return found
    return {
        k: {"participants": p, "numerator": n}
        for k, p, n in engine.attendance_groups(
            session, where=where, keys=keys, numerator=numerator
        )
    }


# --- presenting ---------------------------------------------------------------------------


def _period_label(key: str, raw: int) -> str:
    grain = PERIOD_GRAINS[key]
    if grain == "month":
        return f"{raw // 100:04d}-{raw % 100:02d}"
    if grain == "quarter":
        return f"{raw // 10:04d}Q{raw % 10}"
    return f"{raw:04d}"


def project_codes(session: OrmSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(Project.id, Project.code).where(Project.id.in_(wanted))  # type: ignore[call-overload,attr-defined]
    )
    return {r.id: r.code for r in rows}


def present_key(key: str, raw: Any, codes_by_id: Mapping[uuid.UUID, str]) -> Any:
    """A raw group value as the API shows it (codes, period labels, null for unknown)."""
    if raw is None or raw == "":
        return None
    if key == "project":
        return codes_by_id.get(raw, str(raw))
    if key == "site":
        return str(raw)
    if key in PERIOD_GRAINS:
        return _period_label(key, int(raw))
    if key == "disability":
        return bool(raw)
    return raw


def _sort_value(value: Any) -> tuple[bool, str]:
    return (value is not None, str(value))


def indicator_values(
    session: OrmSession,
    *,
    caller: Caller | None,
    query: ValuesQuery,
    count_to: date | None = None,
) -> IndicatorValues:
    """The rows of one indicator for the caller (None: everything). ``count_to`` (targets
    only) stops the actuals at that day: a target's achievement so far
    (``targets.with_actuals``)."""
    from server.indicators.targets import target_values  # targets build on this module

    apply_pending(session)
    where = where_of(session, caller=caller, query=query)
    if query.result is not None:
        return _result_values(session, query=query, where=where)
    if query.indicator.kind == IndicatorKind.TARGET:
        columns, rows = target_values(session, where=where, keys=query.group_by, count_to=count_to)
        return IndicatorValues(query.indicator.code, query.group_by, columns, rows, utcnow())
    sums = group_sums(session, code=query.indicator.code, where=where, keys=query.group_by)
    codes_by_id = (
        project_codes(session, (k[query.group_by.index("project")] for k in sums))
        if "project" in query.group_by
        else {}
    )
    labels = tuple(engine.label_of(k) for k in query.group_by)
    found: list[dict[str, Any]] = []
    for key, values in sums.items():
        row = {
            label: present_key(k, raw, codes_by_id)
            for label, k, raw in zip(labels, query.group_by, key, strict=True)
        }
        row["value"] = value_of(query.indicator.code, values)
        found.append(row)
    found.sort(key=lambda r: tuple(_sort_value(r[label]) for label in labels))
    return IndicatorValues(
        query.indicator.code, query.group_by, (*labels, "value"), found, utcnow()
    )


def _result_values(session: OrmSession, *, query: ValuesQuery, where: Where) -> IndicatorValues:
    """A result indicator's rows: keys, ``value``, and with ``compare`` the value per choice and
    the uplift (docs/results.md#result-indicators)."""
    result = query.result
    assert result is not None
    groups = result_groups(
        session,
        indicator=result,
        keys=query.group_by,
        where=ResultWhere(
            statuses=where.statuses,
            filters=where.filters,
            date_from=where.date_from,
            date_to=where.date_to,
            caller=where.caller,
        ),
    )
    codes_by_id = (
        project_codes(session, (g.key[query.group_by.index("project")] for g in groups))
        if "project" in query.group_by
        else {}
    )
    labels = tuple(engine.label_of(k) for k in query.group_by)
    rows: list[dict[str, Any]] = []
    for g in groups:
        row = {
            label: present_key(k, raw, codes_by_id)
            for label, k, raw in zip(labels, query.group_by, g.key, strict=True)
        }
        row["value"] = g.value
        if g.compare is not None:
            row["compare"] = g.compare
            row["uplift"] = g.uplift
        rows.append(row)
    rows.sort(key=lambda r: tuple(_sort_value(r[label]) for label in labels))
    columns = (*labels, "value")
    if result.compare is not None and len(result.compare_choices) >= 2:
        columns = (*columns, "compare", "uplift")
    return IndicatorValues(result.code, query.group_by, columns, rows, utcnow())
