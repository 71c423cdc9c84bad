"""The indicator catalogue of docs/indicators.md: codes, names, what each counts, how it breaks
down.

Plain data and small pure functions (periods), importable on the tablet. The server computes the
values (``server.indicators``); everything here is the vocabulary both sides agree on.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

from shared.errors import ErrorCode, Issue
from shared.validation import EARLIEST_DATE, LATEST_DATE


class IndicatorCode(StrEnum):
    ACTIVITIES = "ACTIVITIES"
    DEMONSTRATIONS = "DEMONSTRATIONS"
    TRAININGS = "TRAININGS"
    PARTICIPANTS = "PARTICIPANTS"
    WOMEN_PARTICIPANTS = "WOMEN_PARTICIPANTS"
    WOMEN_SHARE = "WOMEN_SHARE"
    YOUTH_PARTICIPANTS = "YOUTH_PARTICIPANTS"
    PWD_PARTICIPANTS = "PWD_PARTICIPANTS"  # noqa: S105
    UNIQUE_PARTICIPANTS = "UNIQUE_PARTICIPANTS"
    COUNTRIES_REACHED = "COUNTRIES_REACHED"
    EXPERT_DAYS = "EXPERT_DAYS"
    TARGET_ACHIEVEMENT = "TARGET_ACHIEVEMENT"


class IndicatorKind(StrEnum):
    ACTIVITY = "activity"  # counts activities or something each activity carries
    PARTICIPANT = "participant"  # counts attendance; attendance keys apply
    TARGET = "target"  # compares actuals with the Target table
    RESULT = "result"  # declared by a published form over its observations (docs/results.md)


# group_by keys (docs/indicators.md), by where their value comes from.
ACTIVITY_KEYS: tuple[str, ...] = (
    "region",
    "country",
    "project",
    "site",
    "thematic_area",
    "solution",
    "topic",
    "modality",
    "level",
    "activity_type",
    "delivery",
)
ATTENDANCE_KEYS: tuple[str, ...] = ("sex", "age_band", "category", "disability")
PERIOD_KEYS: tuple[str, ...] = ("period:month", "period:quarter", "period:year")
GROUP_BY_KEYS: tuple[str, ...] = ACTIVITY_KEYS + ATTENDANCE_KEYS + PERIOD_KEYS

# Filters that take a (comma-separated) list of codes; ``from``/``to``/``status`` come on top.
FILTER_KEYS: tuple[str, ...] = (
    "country",
    "region",
    "project",
    "thematic_area",
    "solution",
    "topic",
    "modality",
    "activity_type",
)
# A target belongs to a project, so only the project's own attributes break it down.
PROJECT_KEYS: tuple[str, ...] = ("region", "country", "project", "thematic_area")
DEFAULT_STATUSES: tuple[str, ...] = ("submitted", "approved")


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    name: str
    description: str
    unit: str
    kind: IndicatorKind
    group_by: tuple[str, ...]
    filters: tuple[str, ...]
    # Whether values of disjoint groups add up (sums do; shares and distinct counts do not).
    additive: bool

    @property
    def attendance_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.group_by if k in ATTENDANCE_KEYS)


_ACTIVITY_GROUPS = ACTIVITY_KEYS + PERIOD_KEYS
_PARTICIPANT_GROUPS = ACTIVITY_KEYS + ATTENDANCE_KEYS + PERIOD_KEYS


def _activity(
    code: IndicatorCode, name: str, description: str, unit: str, additive: bool = True
) -> Indicator:
    return Indicator(
        code,
        name,
        description,
        unit,
        IndicatorKind.ACTIVITY,
        _ACTIVITY_GROUPS,
        FILTER_KEYS,
        additive,
    )


def _participant(
    code: IndicatorCode,
    name: str,
    description: str,
    unit: str = "participations",
    additive: bool = True,
) -> Indicator:
    return Indicator(
        code,
        name,
        description,
        unit,
        IndicatorKind.PARTICIPANT,
        _PARTICIPANT_GROUPS,
        FILTER_KEYS,
        additive,
    )


INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        _activity(
            IndicatorCode.ACTIVITIES, "Activities", "Number of activities held.", "activities"
        ),
        _activity(
            IndicatorCode.DEMONSTRATIONS,
            "Demonstrations",
            "Number of activities of type demonstration.",
            "activities",
        ),
        _activity(
            IndicatorCode.TRAININGS,
            "Farmer trainings",
            "Number of activities of type farmer_training.",
            "activities",
        ),
        _participant(
            IndicatorCode.PARTICIPANTS,
            "Participants",
            "Sum of attendance counts: participations, not people (one farmer at "
            "three trainings counts three times).",
        ),
        _participant(
            IndicatorCode.WOMEN_PARTICIPANTS,
            "Women participants",
            "Sum of attendance counts with sex female.",
        ),
        _participant(
            IndicatorCode.WOMEN_SHARE,
            "Share of women",
            "100 × women participants / participants over the same group; empty when "
            "there are no participants.",
            unit="percent",
            additive=False,
        ),
        _participant(
            IndicatorCode.YOUTH_PARTICIPANTS,
            "Youth participants",
            "Sum of attendance counts with age band youth (15–35).",
        ),
        _participant(
            IndicatorCode.PWD_PARTICIPANTS,
            "Participants with disabilities",
            "Sum of attendance counts of people with a disability.",
        ),
        _participant(
            IndicatorCode.UNIQUE_PARTICIPANTS,
            "Unique participants",
            "Distinct roster participants attending at least one counted activity. "
            "Sex, category and disability come from the participant's record; the "
            "age band from the birth year at the activity's start.",
            unit="people",
            additive=False,
        ),
        _activity(
            IndicatorCode.COUNTRIES_REACHED,
            "Countries reached",
            "Distinct countries with at least one counted activity.",
            "countries",
            additive=False,
        ),
        _activity(
            IndicatorCode.EXPERT_DAYS,
            "Expert days",
            "Over expert_deployment activities: experts count × days (end − start + 1).",
            "person-days",
        ),
        Indicator(
            IndicatorCode.TARGET_ACHIEVEMENT,
            "Target achievement",
            "100 × actual / target for each project × indicator × period with a target "
            "(per sex when the target is). Rows always carry the target's indicator, "
            "period and sex; grouped rows compare summed actuals with summed targets.",
            "percent",
            IndicatorKind.TARGET,
            PROJECT_KEYS,
            PROJECT_KEYS,
            False,
        ),
    )
}

# Indicators a target may be set for (a target of an achievement would be circular).
TARGETABLE: tuple[str, ...] = tuple(
    code for code in INDICATORS if code != IndicatorCode.TARGET_ACHIEVEMENT
)


# --- periods ---------------------------------------------------------------------------------

PERIOD_GRAINS: tuple[str, ...] = ("month", "quarter", "year")
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")
_YEAR_RE = re.compile(r"^(\d{4})$")


def period_label(day: date, grain: str) -> str:
    """``2025-03`` (month), ``2025Q1`` (quarter) or ``2025`` (year) for the period holding day."""
    if grain == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if grain == "quarter":
        return f"{day.year:04d}Q{(day.month - 1) // 3 + 1}"
    if grain == "year":
        return f"{day.year:04d}"
    raise ValueError(f"unknown period grain {grain!r}; grains are {', '.join(PERIOD_GRAINS)}")


def period_grain(label: str) -> str | None:
    """The grain of a period label, or None when it is not one."""
    if _MONTH_RE.match(label):
        return "month"
    if _QUARTER_RE.match(label):
        return "quarter"
    if _YEAR_RE.match(label):
        return "year"
    return None


@lru_cache(maxsize=4096)
def period_bounds(label: str) -> tuple[date, date]:
    """First and last day of a period label; ValueError names the accepted forms.

    Any year of the calendar (0001 to 9999), for the periods stored and the quarters counted
    back from them; a period a request names is checked by ``request_period`` first."""
    if label[:4] == "0000" and period_grain(label):
        raise ValueError(f"{label!r} is not a period: there is no year 0000")
    if m := _MONTH_RE.match(label):
        year, month = int(m.group(1)), int(m.group(2))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    if m := _QUARTER_RE.match(label):
        year, quarter = int(m.group(1)), int(m.group(2))
        first = 3 * quarter - 2
        last = first + 2
        return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])
    if m := _YEAR_RE.match(label):
        year = int(m.group(1))
        return date(year, 1, 1), date(year, 12, 31)
    raise ValueError(f"{label!r} is not a period: use 2025, 2025Q3 or 2025-07")


# --- periods a request names ---------------------------------------------------------------
# A filter, an export's period, a quarter to report on or to close: one of the grains the route
# takes, in ASCII digits, and within the years a date may be (shared.validation, as a target's
# period), so that a typo (0025, 2205, 0000) is said to be one, not answered with a 500, with
# zeros, or closed for ever.

_GRAIN_EXAMPLES = {
    "year": "a year (2025)",
    "quarter": "a quarter (2025Q3)",
    "month": "a month (2025-07)",
}


class PeriodRefused(ValueError):
    """A period a request may not name; ``issue`` says why, at the request's field."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _shown(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_period(
    label: str, field: str = "period", *, grains: Collection[str] = PERIOD_GRAINS
) -> tuple[date, date]:
    """First and last day of a period a request names (as written: trim or upper-case it
    first if the route allows): ``bad_period`` when it is not a label of one of ``grains``,
    ``date_implausible`` when its year is outside 2000–2100; PeriodRefused carries the issue."""
    grain = period_grain(label) if label.isascii() and not label.endswith("\n") else None
    if grain is None or grain not in grains:
        wanted = [g for g in PERIOD_GRAINS if g in grains]
        if wanted == ["quarter"]:
            words = f"{_shown(label)!r} is not a quarter: write it like 2025Q3"
        else:
            *others, last = [_GRAIN_EXAMPLES[g] for g in reversed(wanted)]
            listed = f"{', '.join(others)} or {last}" if others else last
            words = f"{_shown(label)!r} is not a period: use {listed}"
        raise PeriodRefused(Issue(field, ErrorCode.BAD_PERIOD, words, {"value": _shown(label)}))
    if not EARLIEST_DATE.year <= int(label[:4]) <= LATEST_DATE.year:
        low, high = EARLIEST_DATE.isoformat(), LATEST_DATE.isoformat()
        raise PeriodRefused(
            Issue(
                field,
                ErrorCode.DATE_IMPLAUSIBLE,
                f"{label} is implausible: use a period from {EARLIEST_DATE.year} to "
                f"{LATEST_DATE.year}",
                {"value": label, "low": low, "high": high},
            )
        )
    return period_bounds(label)


def period_issue(
    label: str, field: str = "period", *, grains: Collection[str] = PERIOD_GRAINS
) -> Issue | None:
    """Why a period a request names is refused (``request_period``), or None."""
    try:
        request_period(label, field, grains=grains)
    except PeriodRefused as exc:
        return exc.issue
    return None


def months_between(first: date, last: date) -> list[int]:
    """The months from ``first`` to ``last`` as yyyymm numbers (202507, 202508, ...)."""
    found = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(year * 100 + month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def age_band_at(birth_year: int | None, year: int) -> str:
    """The age band (docs/product.md#domain) of someone born in ``birth_year`` during ``year``."""
    if birth_year is None:
        return "unspecified"
    age = year - birth_year
    if 15 <= age <= 35:
        return "youth"
    if 36 <= age <= 59:
        return "adult"
    if age >= 60:
        return "senior"
    return "unspecified"
