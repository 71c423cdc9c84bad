"""Random small worlds (Hypothesis strategies) written through the shared write path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlmodel import Session

from server.activities.models import Activity
from server.activities.service import tombstone_activity, write_activity
from server.projects.models import Participant, Project, Site, Target
from tests.factories import make_project, make_site

COUNTRIES = ("LSO", "KEN", "ETH", "CHN")
THEMATIC_AREAS = ("TA1", "TA2", "TA3", "TA4")
TOPICS = (None, "S1.T2", "S2.T3", "S4.T1", "S6.T3", "S8.T2")
TYPES = ("demonstration", "farmer_training", "expert_deployment", "workshop")
# Counted statuses come up more often than the others, so most activities count.
STATUSES = ("submitted", "approved", "submitted", "approved", "returned", "draft")
SEXES = ("female", "male", "unspecified")
AGE_BANDS = ("youth", "adult", "senior", "unspecified")
CATEGORIES = ("farmer", "technician", "official", "other")
TARGET_INDICATORS = (
    "ACTIVITIES",
    "PARTICIPANTS",
    "WOMEN_PARTICIPANTS",
    "WOMEN_SHARE",
    "UNIQUE_PARTICIPANTS",
    "EXPERT_DAYS",
    "COUNTRIES_REACHED",
)
TARGET_PERIODS = ("2024Q4", "2025", "2025Q1", "2025-02", "2025Q2", "2025-06")
DAY_ZERO = date(2024, 11, 1)

attendance_rows = st.lists(
    st.fixed_dictionaries(
        {
            "sex": st.sampled_from(SEXES),
            "age_band": st.sampled_from(AGE_BANDS),
            "category": st.sampled_from(CATEGORIES),
            "disability": st.booleans(),
            "count": st.integers(0, 40),
        }
    ),
    max_size=4,
)


@st.composite
def activity_specs(draw: st.DrawFn, n_projects: int) -> dict[str, Any]:
    start = DAY_ZERO + timedelta(days=draw(st.integers(0, 330)))
    return {
        "project": draw(st.integers(0, n_projects - 1)),
        "site": draw(st.one_of(st.none(), st.integers(0, 1))),
        "type": draw(st.sampled_from(TYPES)),
        "topic": draw(st.sampled_from(TOPICS)),
        "modality": draw(st.sampled_from((None, "P", "T", "K"))),
        "level": draw(st.sampled_from((None, "L1", "L3"))),
        "delivery": draw(st.sampled_from(("in_person", "online"))),
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=draw(st.integers(0, 3)))).isoformat(),
        "experts_count": draw(st.integers(0, 3) | st.integers(1, 3)),
        "status": draw(st.sampled_from(STATUSES)),
        "deleted": draw(st.integers(0, 4)) == 0,  # about one in five
        "attendance": draw(attendance_rows),
        "roster": draw(st.lists(st.integers(0, 3), max_size=3, unique=True)),
    }


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    n_projects = draw(st.integers(1, 3))
    projects = [
        {
            "country": draw(st.sampled_from(COUNTRIES)),
            "thematic_area": draw(st.sampled_from(THEMATIC_AREAS)),
            "participants": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "sex": st.sampled_from(SEXES),
                            "birth_year": st.one_of(st.none(), st.integers(1950, 2012)),
                            "category": st.sampled_from(CATEGORIES),
                            "disability": st.booleans(),
                            "deleted": st.integers(0, 3).map(lambda n: n == 0),
                        }
                    ),
                    max_size=4,
                )
            ),
        }
        for _ in range(n_projects)
    ]
    return {
        "projects": projects,
        "activities": draw(st.lists(activity_specs(n_projects), min_size=3, max_size=14)),
        "targets": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "project": st.integers(0, n_projects - 1),
                        "indicator": st.sampled_from(TARGET_INDICATORS),
                        "period": st.sampled_from(TARGET_PERIODS),
                        "sex": st.sampled_from((None, None, "female", "male")),
                        "value": st.integers(0, 60),
                    }
                ),
                max_size=5,
                unique_by=lambda t: (t["project"], t["indicator"], t["period"], t["sex"]),
            )
        ),
    }


@dataclass
class Built:
    projects: list[Project] = field(default_factory=list)
    sites: list[list[Site]] = field(default_factory=list)
    participants: list[list[Participant]] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)


def activity_payload(spec: dict[str, Any], built: Built) -> dict[str, Any]:
    project = built.projects[spec["project"] % len(built.projects)]
    index = built.projects.index(project)
    sites = built.sites[index]
    people = built.participants[index]
    roster = [str(people[i].id) for i in spec["roster"] if i < len(people)]
    return {
        "id": str(spec.get("id") or uuid.uuid4()),
        "project_id": str(project.id),
        "site_id": str(sites[spec["site"]].id) if spec["site"] is not None else None,
        "type": spec["type"],
        "title": "Generated activity",
        "start_date": spec["start_date"],
        "end_date": spec["end_date"],
        "topic": spec["topic"],
        "modality": spec["modality"],
        "level": spec["level"],
        "delivery": spec["delivery"],
        "experts_count": spec["experts_count"],
        "attendance": spec["attendance"],
        "participant_ids": roster or None,
    }


def build(session: Session, world: dict[str, Any]) -> Built:
    built = Built()
    for spec in world["projects"]:
        project = make_project(
            session,
            country=spec["country"],
            thematic_area=spec["thematic_area"],
            code=f"P-{uuid.uuid4().hex[:8]}",
        )
        built.projects.append(project)
        built.sites.append([make_site(session, project), make_site(session, project)])
        people = []
        for n, person in enumerate(spec["participants"]):
            participant = Participant(
                project_id=project.id,
                code=f"QR-{n}",
                sex=person["sex"],
                birth_year=person["birth_year"],
                category=person["category"],
                disability=person["disability"],
                deleted=person["deleted"],
            )
            session.add(participant)
            people.append(participant)
        built.participants.append(people)
    session.flush()
    for spec in world["activities"]:
        activity = write_activity(
            session,
            data=activity_payload(spec, built),
            existing=None,
            source="api",
            author_id=None,
            status=spec["status"],
        )
        if spec["deleted"]:
            tombstone_activity(session, activity=activity, source="api", author_id=None)
        built.activities.append(activity)
    for spec in world["targets"]:
        session.add(
            Target(
                project_id=built.projects[spec["project"]].id,
                indicator=spec["indicator"],
                period=spec["period"],
                value=spec["value"],
                sex=spec["sex"],
            )
        )
    session.flush()
    return built
