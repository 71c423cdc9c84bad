"""A project's progress this quarter against its targets, computed on the tablet from the
activities it holds (its own, pending ones included, and its teammates' pulled ones).

The figures follow docs/indicators.md: submitted and approved activities count, returned and
deleted ones
do not; the period of an activity is its start date. They are what the tablet knows, so they can
lag the server's roll-ups until the next pull.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from field_app.controllers import labels
from field_app.controllers.attendance import share_text
from field_app.i18n import number
from shared.indicators import period_bounds, period_label

COUNTED_STATUSES = frozenset({"submitted", "approved"})
# The indicators a tablet can compute from activity records alone.
LOCAL_INDICATORS = (
    "ACTIVITIES",
    "DEMONSTRATIONS",
    "TRAININGS",
    "PARTICIPANTS",
    "WOMEN_PARTICIPANTS",
    "WOMEN_SHARE",
    "YOUTH_PARTICIPANTS",
    "PWD_PARTICIPANTS",
    "UNIQUE_PARTICIPANTS",
    "COUNTRIES_REACHED",
    "EXPERT_DAYS",
)


def quarter_of(day: date) -> str:
    return period_label(day, "quarter")


def counted(activity: Mapping[str, Any]) -> bool:
    return activity.get("status") in COUNTED_STATUSES and not activity.get("deleted")


def _rows(activities: Iterable[Mapping[str, Any]], **match: Any) -> Iterable[int]:
    for activity in activities:
        for row in activity.get("attendance") or ():
            if all(row.get(k) == v for k, v in match.items()):
                yield int(row.get("count") or 0)


def actual(
    indicator: str,
    activities: Sequence[Mapping[str, Any]],
    sex: str | None = None,
    participants: Mapping[str, Mapping[str, Any]] | None = None,
) -> float | None:
    """The value of one indicator over activities already filtered to a project and period;
    ``participants`` (roster, by id) gives the sex of unique participants."""
    by_sex = {"sex": sex} if sex else {}
    if indicator == "ACTIVITIES":
        return len(activities)
    if indicator == "DEMONSTRATIONS":
        return sum(1 for a in activities if a.get("type") == "demonstration")
    if indicator == "TRAININGS":
        return sum(1 for a in activities if a.get("type") == "farmer_training")
    if indicator == "PARTICIPANTS":
        return sum(_rows(activities, **by_sex))
    if indicator == "WOMEN_PARTICIPANTS":
        return sum(_rows(activities, sex="female"))
    if indicator == "WOMEN_SHARE":
        everyone = sum(_rows(activities))
        return None if everyone == 0 else 100.0 * sum(_rows(activities, sex="female")) / everyone
    if indicator == "YOUTH_PARTICIPANTS":
        return sum(_rows(activities, age_band="youth", **by_sex))
    if indicator == "PWD_PARTICIPANTS":
        return sum(_rows(activities, disability=True, **by_sex))
    if indicator == "UNIQUE_PARTICIPANTS":
        people = {str(p) for a in activities for p in a.get("participant_ids") or ()}
        if sex:
            roster = participants or {}
            people = {p for p in people if (roster.get(p) or {}).get("sex") == sex}
        return len(people)
    if indicator == "COUNTRIES_REACHED":
        return 1 if activities else 0
    if indicator == "EXPERT_DAYS":
        total = 0
        for a in activities:
            if a.get("type") != "expert_deployment":
                continue
            days = (
                date.fromisoformat(str(a["end_date"])) - date.fromisoformat(str(a["start_date"]))
            ).days + 1
            total += int(a.get("experts_count") or 0) * days
        return total
    return None


@dataclass(frozen=True, slots=True)
class ProgressLine:
    indicator: str
    sex: str | None
    period: str
    actual: float | None
    target: float

    @property
    def percent(self) -> float | None:
        if self.actual is None or self.target <= 0:
            return None
        return 100.0 * self.actual / self.target

    @property
    def label(self) -> str:
        name = labels.label(labels.INDICATORS, self.indicator)
        return f"{name} ({labels.label(labels.SEXES, self.sex)})" if self.sex else name

    def figures(self) -> str:
        def show(value: float | None) -> str:
            if value is None:
                return "–"
            if self.indicator == "WOMEN_SHARE":
                return share_text(value)  # 99.7 is not "100 %"
            return number(round(value))

        return f"{show(self.actual)} / {show(self.target)}"


def progress(
    *,
    targets: Iterable[Mapping[str, Any]],
    activities: Iterable[Mapping[str, Any]],
    today: date,
    participants: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ProgressLine]:
    """This quarter's targets with what the tablet's activities achieve; when the project has
    no target for the quarter, its targets for the year (still from the activities of the
    year so far)."""
    all_targets = [t for t in targets if t.get("indicator") in LOCAL_INDICATORS]
    quarter, year = quarter_of(today), str(today.year)
    chosen = [t for t in all_targets if t.get("period") == quarter] or [
        t for t in all_targets if t.get("period") == year
    ]
    kept = [a for a in activities if counted(a)]
    lines = []
    for target in chosen:
        start, end = period_bounds(str(target["period"]))
        in_period = [a for a in kept if start <= date.fromisoformat(str(a["start_date"])) <= end]
        sex = target.get("sex")
        lines.append(
            ProgressLine(
                indicator=str(target["indicator"]),
                sex=sex,
                period=str(target["period"]),
                actual=actual(str(target["indicator"]), in_period, sex, participants),
                target=float(target["value"]),
            )
        )
    order = {code: i for i, code in enumerate(LOCAL_INDICATORS)}
    return sorted(lines, key=lambda line: (order[line.indicator], line.sex or ""))
