"""A direct computation of docs/indicators.md from the activity records, in plain Python.

Written from the contract, independently of the roll-ups: it reads the source tables (activity,
attendance, roster links, participants, projects, targets) and loops. Tests compare every
indicator the engine serves with this.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, select

from server.activities.models import Activity, ActivityParticipant, AttendanceRow
from server.projects.models import Participant, Project, Target
from shared.catalogue import SOLUTIONS, TOPICS
from shared.geography import region_of
from shared.indicators import ATTENDANCE_KEYS, age_band_at, period_bounds, period_label

ACTIVITY_VALUE = {
    "ACTIVITIES": lambda a: 1,
    "DEMONSTRATIONS": lambda a: int(a.type == "demonstration"),
    "TRAININGS": lambda a: int(a.type == "farmer_training"),
    "EXPERT_DAYS": lambda a: (
        a.experts_count * ((a.end_date - a.start_date).days + 1)
        if a.type == "expert_deployment"
        else 0
    ),
}
CONDITION: dict[str, tuple[str, Any] | None] = {
    "PARTICIPANTS": None,
    "WOMEN_PARTICIPANTS": ("sex", "female"),
    "WOMEN_SHARE": ("sex", "female"),
    "YOUTH_PARTICIPANTS": ("age_band", "youth"),
    "PWD_PARTICIPANTS": ("disability", True),
}


@dataclass
class Records:
    activities: list[Activity]
    projects: dict[uuid.UUID, Project]
    attendance: dict[uuid.UUID, list[AttendanceRow]]
    roster: dict[uuid.UUID, list[uuid.UUID]]
    participants: dict[uuid.UUID, Participant]
    targets: list[Target]


def load(session: Session) -> Records:
    session.flush()
    attendance: dict[uuid.UUID, list[AttendanceRow]] = defaultdict(list)
    for row in session.exec(select(AttendanceRow)):
        attendance[row.activity_id].append(row)
    roster: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for link in session.exec(select(ActivityParticipant)):
        roster[link.activity_id].append(link.participant_id)
    return Records(
        activities=list(session.exec(select(Activity))),
        projects={p.id: p for p in session.exec(select(Project))},
        attendance=attendance,
        roster=roster,
        participants={p.id: p for p in session.exec(select(Participant))},
        targets=list(session.exec(select(Target))),
    )


def dimensions(a: Activity, project: Project) -> dict[str, Any]:
    topic = TOPICS.get(a.topic or "")
    return {
        "region": region_of(project.country),
        "country": project.country,
        "project": project.code,
        "site": str(a.site_id) if a.site_id else None,
        "thematic_area": SOLUTIONS[topic.solution].thematic_area
        if topic
        else project.thematic_area,
        "solution": topic.solution if topic else None,
        "topic": a.topic or None,
        "modality": a.modality or None,
        "level": a.level or None,
        "activity_type": a.type,
        "delivery": a.delivery or None,
        "period:month": period_label(a.start_date, "month"),
        "period:quarter": period_label(a.start_date, "quarter"),
        "period:year": period_label(a.start_date, "year"),
    }


def counted(
    records: Records,
    *,
    statuses: Iterable[str] = ("submitted", "approved"),
    filters: Mapping[str, Iterable[str]] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    projects: set[uuid.UUID] | None = None,
) -> list[tuple[Activity, dict[str, Any]]]:
    found = []
    wanted = set(statuses)
    for a in records.activities:
        if a.deleted or a.status not in wanted:
            continue
        if projects is not None and a.project_id not in projects:
            continue
        if date_from is not None and a.start_date < date_from:
            continue
        if date_to is not None and a.start_date > date_to:
            continue
        dims = dimensions(a, records.projects[a.project_id])
        if any(dims[k] not in set(v) for k, v in (filters or {}).items()):
            continue
        found.append((a, dims))
    return found


def _label(key: str) -> str:
    return "period" if key.startswith("period:") else key


def _share(n: int, p: int) -> float | None:
    return round(100 * n / p, 2) if p else None


def values(
    records: Records, code: str, group_by: tuple[str, ...] = (), **where: Any
) -> dict[tuple[Any, ...], Any]:
    """{group values (in group_by order): value} for every indicator but TARGET_ACHIEVEMENT."""
    rows = counted(records, **where)
    attendance_keys = [k for k in group_by if k in ATTENDANCE_KEYS]

    def key_of(dims: Mapping[str, Any], extra: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(extra[k] if k in ATTENDANCE_KEYS else dims[k] for k in group_by)

    result: dict[tuple[Any, ...], Any] = {}
    if code in ACTIVITY_VALUE:
        for a, dims in rows:
            key = key_of(dims, {})
            result[key] = result.get(key, 0) + ACTIVITY_VALUE[code](a)
        return result
    if code == "COUNTRIES_REACHED":
        seen: dict[tuple[Any, ...], set[str]] = defaultdict(set)
        for _, dims in rows:
            seen[key_of(dims, {})].add(dims["country"])
        return {k: len(v) for k, v in seen.items()}
    if code == "UNIQUE_PARTICIPANTS":
        people: dict[tuple[Any, ...], set[uuid.UUID]] = {}
        if not attendance_keys:
            people = {key_of(dims, {}): set() for _, dims in rows}
        for a, dims in rows:
            for pid in records.roster.get(a.id, []):
                person = records.participants[pid]
                if person.deleted:
                    continue
                extra = {
                    "sex": person.sex,
                    "category": person.category,
                    "disability": person.disability,
                    "age_band": age_band_at(person.birth_year, a.start_date.year),
                }
                people.setdefault(key_of(dims, extra), set()).add(pid)
        return {k: len(v) for k, v in people.items()}
    condition = CONDITION[code]
    sums: dict[tuple[Any, ...], list[int]] = {}
    for a, dims in rows:
        if not attendance_keys:
            sums.setdefault(key_of(dims, {}), [0, 0])
        for line in records.attendance.get(a.id, []):
            extra = {
                "sex": line.sex,
                "age_band": line.age_band,
                "category": line.category,
                "disability": line.disability,
            }
            pair = sums.setdefault(key_of(dims, extra), [0, 0])
            pair[0] += line.count
            if condition is None or extra[condition[0]] == condition[1]:
                pair[1] += line.count
    if attendance_keys:
        sums = {k: v for k, v in sums.items() if v[0] > 0}
    if code == "WOMEN_SHARE":
        return {k: _share(n, p) for k, (p, n) in sums.items()}
    if code == "PARTICIPANTS":
        return {k: p for k, (p, _) in sums.items()}
    return {k: n for k, (_, n) in sums.items()}


def target_values(
    records: Records,
    group_by: tuple[str, ...] = (),
    *,
    statuses: Iterable[str] = ("submitted", "approved"),
    projects: set[uuid.UUID] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[tuple[Any, ...], tuple[Any, Any, Any]]:
    """{(group values..., indicator, period, sex): (target, actual, achievement)}."""
    grouped: dict[tuple[Any, ...], list[tuple[float, Any]]] = defaultdict(list)
    for t in records.targets:
        project = records.projects[t.project_id]
        if projects is not None and project.id not in projects:
            continue
        first, last = period_bounds(t.period)
        if (date_from and first < date_from) or (date_to and last > date_to):
            continue
        sexed = t.sex is not None and t.indicator in (*CONDITION, "UNIQUE_PARTICIPANTS")
        keys: tuple[str, ...] = ("sex",) if sexed else ()
        found = values(
            records,
            t.indicator,
            keys,
            statuses=statuses,
            projects={project.id},
            date_from=first,
            date_to=last,
        )
        if sexed:
            actual = found.get((t.sex,), None if t.indicator == "WOMEN_SHARE" else 0)
        else:
            actual = found.get((), None if t.indicator == "WOMEN_SHARE" else 0)
        attrs = {
            "project": project.code,
            "country": project.country,
            "region": region_of(project.country),
            "thematic_area": project.thematic_area,
        }
        grouped[(*(attrs[k] for k in group_by), t.indicator, t.period, t.sex)].append(
            (t.value, actual)
        )
    result = {}
    for key, members in grouped.items():
        known = [a for _, a in members if a is not None]
        target = sum(v for v, _ in members)
        actual = sum(known) if known else None
        if key[len(group_by)] in ("WOMEN_SHARE", "COUNTRIES_REACHED"):
            target = target / len(members)
            actual = sum(known) / len(known) if known else None
        achieved = round(100 * actual / target, 2) if actual is not None and target else None
        result[key] = (target, actual, achieved)
    return result


def rows_as_map(rows: list[dict[str, Any]], group_by: tuple[str, ...]) -> dict[tuple, Any]:
    labels = [_label(k) for k in group_by]
    return {tuple(r[label] for label in labels): r["value"] for r in rows}
