"""The HQ summary: headline indicators for one period, by country and by thematic area.

One roll-up read gives every summed indicator per country × thematic area (countries reached
and the totals follow from it); distinct participants need their own three reads; targets are
compared with actuals per target and added up per country, per thematic area (the project's)
and overall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session as OrmSession

from server.accounts.auth import Caller
from server.columns import utcnow
from server.errors import Forbidden, ValidationFailed
from server.indicators import engine
from server.indicators.engine import Where
from server.indicators.refresh import apply_pending
from server.indicators.service import parse_values_query, share
from server.indicators.targets import TargetActual, aggregate, with_actuals
from server.scope import countries_outside_scope
from shared.catalogue import THEMATIC_AREAS
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES, country_name, region_of
from shared.indicators import PeriodRefused, request_period

# Summed measures behind the headline indicators.
_SUMMED: dict[str, str] = {
    "ACTIVITIES": "activities",
    "DEMONSTRATIONS": "demonstrations",
    "TRAININGS": "trainings",
    "EXPERT_DAYS": "expert_days",
    "PARTICIPANTS": "participants",
    "WOMEN_PARTICIPANTS": "sex_female",
    "YOUTH_PARTICIPANTS": "age_youth",
    "PWD_PARTICIPANTS": "disability_yes",
}
HEADLINE: tuple[str, ...] = (*_SUMMED, "WOMEN_SHARE", "UNIQUE_PARTICIPANTS", "COUNTRIES_REACHED")


def _headline(sums: Mapping[str, int], countries: int, unique: int) -> dict[str, Any]:
    found: dict[str, Any] = {code: sums.get(measure, 0) for code, measure in _SUMMED.items()}
    found["WOMEN_SHARE"] = share(sums.get("sex_female", 0), sums.get("participants", 0))
    found["UNIQUE_PARTICIPANTS"] = unique
    found["COUNTRIES_REACHED"] = countries
    return found


def _add(into: dict[str, int], sums: Mapping[str, int]) -> None:
    for name, value in sums.items():
        into[name] = into.get(name, 0) + value


def _targets(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "indicator": r["indicator"],
            "period": r["period"],
            "sex": r["sex"],
            "target": r["target"],
            "actual": r["actual"],
            "achievement": r["value"],
        }
        for r in sorted(rows, key=lambda r: (r["indicator"], r["period"], str(r["sex"])))
    ]


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    found: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row[key], []).append(row)
    return found


def summary(
    session: OrmSession,
    *,
    caller: Caller | None,
    period: str,
    country: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The HQ summary for ``period`` (2025, 2025Q3 or 2025-07, any case), optionally one
    country."""
    period = period.strip().upper()  # "2025q3" as the quarterly report takes it
    issues: list[Issue] = []
    try:
        first, last = request_period(period)
    except PeriodRefused as exc:
        issues.append(exc.issue)
    else:
        if first > utcnow().date():  # nothing to sum yet: zeros would read "nothing happened"
            issues.append(
                Issue(
                    "period",
                    ErrorCode.IN_FUTURE,
                    f"{period} has not begun: it starts on {first.isoformat()}",
                )
            )
    country = country.strip().upper() if country else None
    if country is not None and "," in country:
        # The indicator values take a comma list; the summary is of one country or of all.
        issues.append(
            Issue(
                "country",
                ErrorCode.INVALID,
                f"the summary takes one country, not a list ({country[:40]}): give one ISO "
                "3166-1 alpha-3 code, or none for every country in your scope",
            )
        )
    elif country is not None and country not in COUNTRIES:
        issues.append(Issue("country", ErrorCode.UNKNOWN_CODE, f"unknown country {country}"))
    try:
        statuses = parse_values_query(code="ACTIVITIES", status=status).statuses
    except ValidationFailed as exc:
        issues += exc.issues
    if issues:  # every bad parameter in one 400
        raise ValidationFailed(issues, status_code=400)
    if country is not None and countries_outside_scope(session, caller=caller, countries=[country]):
        # as the quarterly report of another country (docs/roles.md): a country is no secret
        raise Forbidden(f"{country} is not one of your countries", code=ErrorCode.OUT_OF_SCOPE)
    apply_pending(session)
    where = Where(
        statuses=statuses,
        filters={"country": (country,)} if country else {},
        date_from=first,
        date_to=last,
        caller=caller,
    )

    cells = engine.measure_groups(
        session, where=where, keys=("country", "thematic_area"), measures=tuple(_SUMMED.values())
    )
    per_country: dict[str, dict[str, int]] = {}
    per_area: dict[str, dict[str, int]] = {}
    area_countries: dict[str, set[str]] = {}
    total: dict[str, int] = {}
    for (iso3, area), sums in cells:
        _add(per_country.setdefault(iso3, {}), sums)
        _add(per_area.setdefault(area, {}), sums)
        area_countries.setdefault(area, set()).add(iso3)
        _add(total, sums)
    unique_country = dict(engine.unique_participants(session, where=where, keys=("country",)))
    unique_area = dict(engine.unique_participants(session, where=where, keys=("thematic_area",)))
    unique_total = dict(engine.unique_participants(session, where=where, keys=()))

    targets: list[TargetActual] = with_actuals(session, where=where)
    target_country = _by(aggregate(targets, ("country",)), "country")
    target_area = _by(aggregate(targets, ("thematic_area",)), "thematic_area")

    by_country = [
        {
            "country": iso3,
            "name": country_name(iso3),
            "region": region_of(iso3),
            **_headline(
                per_country.get(iso3, {}), int(iso3 in per_country), unique_country.get((iso3,), 0)
            ),
            "targets": _targets(target_country.get(iso3, [])),
        }
        for iso3 in sorted(set(per_country) | set(target_country))
    ]
    by_area = [
        {
            "thematic_area": area,
            "name": THEMATIC_AREAS[area].name if area in THEMATIC_AREAS else area,
            **_headline(
                per_area.get(area, {}),
                len(area_countries.get(area, ())),
                unique_area.get((area,), 0),
            ),
            "targets": _targets(target_area.get(area, [])),
        }
        for area in sorted(set(per_area) | set(target_area))
    ]
    return {
        "period": period,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "country": country,
        "status": list(statuses),
        "totals": {
            **_headline(total, len(per_country), unique_total.get((), 0)),
            "targets": _targets(aggregate(targets, ())),
        },
        "by_country": by_country,
        "by_thematic_area": by_area,
        "as_of": utcnow().isoformat(),
    }
