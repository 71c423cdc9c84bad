"""Activities as a table (CSV/XLSX), scoped and filtered exactly like ``GET /api/v1/activities``.

One row per activity with its dimensions resolved the way the indicators resolve them (region,
thematic area and solution from the topic) and its attendance totals. Never a participant's
name: roster participants appear only as a count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.activities.models import Activity, ActivityParticipant
from server.activities.queries import ActivityFilters, filter_conditions
from server.indicators.models import activity_fact
from server.projects.models import Project, Site
from server.scope import activity_scope

COLUMNS: tuple[str, ...] = (
    "id",
    "project",
    "country",
    "region",
    "site_id",
    "site",
    "type",
    "title",
    "start_date",
    "end_date",
    "topic",
    "solution",
    "thematic_area",
    "modality",
    "level",
    "delivery",
    "value_chain_stage",
    "experts_count",
    "facilitators",
    "lat",
    "lon",
    "status",
    "late",
    "participants",
    "women",
    "men",
    "youth",
    "pwd",
    "roster_participants",
    "version",
    "captured_at",
    "submitted_at",
    "updated_at",
    "notes",
)
WIDTHS: dict[str, int] = {
    "id": 38,
    "site_id": 38,
    "title": 40,
    "notes": 60,
    "site": 24,
    "facilitators": 30,
    "captured_at": 26,
    "submitted_at": 26,
    "updated_at": 26,
}
_BATCH = 1000


def _statement(caller: Caller, filters: ActivityFilters) -> Any:
    roster = (
        sa.select(col(ActivityParticipant.activity_id), sa.func.count().label("people"))
        .group_by(col(ActivityParticipant.activity_id))
        .subquery()
    )
    fact = activity_fact
    return (
        sa.select(
            Activity,
            col(Project.code),
            col(Project.country),
            col(Site.name),
            fact.c.region,
            fact.c.solution,
            fact.c.thematic_area,
            fact.c.participants,
            fact.c.sex_female,
            fact.c.sex_male,
            fact.c.age_youth,
            fact.c.disability_yes,
            roster.c.people,
        )
        .join(Project, col(Project.id) == Activity.project_id)
        .outerjoin(Site, col(Site.id) == Activity.site_id)
        .outerjoin(fact, fact.c.activity_id == Activity.id)
        .outerjoin(roster, roster.c.activity_id == Activity.id)
        .where(activity_scope(caller), *filter_conditions(filters))
        .order_by(col(Activity.start_date), col(Activity.id))
    )


def activity_rows(
    engine: Engine, *, caller: Caller, filters: ActivityFilters
) -> Iterator[list[Any]]:
    """The rows, read in batches from a session of their own (they outlive the request's)."""
    with Session(engine) as session:
        result = session.execute(_statement(caller, filters).execution_options(yield_per=_BATCH))
        for (
            a,
            code,
            country,
            site,
            region,
            solution,
            area,
            participants,
            women,
            men,
            youth,
            pwd,
            people,
        ) in result:
            location = a.location or {}
            yield [
                a.id,
                code,
                country,
                region,
                a.site_id,
                site,
                a.type,
                a.title,
                a.start_date,
                a.end_date,
                a.topic,
                solution or None,
                area,
                a.modality,
                a.level,
                a.delivery,
                a.value_chain_stage,
                a.experts_count,
                list(a.facilitators or []),
                location.get("lat"),
                location.get("lon"),
                a.status,
                a.late,
                participants,
                women,
                men,
                youth,
                pwd,
                int(people or 0),
                a.version,
                a.captured_at,
                a.submitted_at,
                a.updated_at,
                a.notes,
            ]
