"""The nightly roll-up rebuild: a safety net behind the incremental refreshes.

It recomputes every project's facts and cubes from the activity records, one project per
transaction (a push to another project never waits for it), then the result indicators'
per-observation values (``server.results.rollup``), and reports the projects whose roll-ups
(and whether the result values) differed from what the incremental path had kept. There
should be none: a difference is a bug to look into, and the rebuild has already repaired it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session as OrmSession

from server.db import session_scope
from server.indicators.models import CUBES, ROSTER_CUBES, activity_fact
from server.indicators.refresh import rebuild_project
from server.projects.models import Project
from server.results.rollup import fingerprint, rebuild_results

log = logging.getLogger("pilotmon.jobs")


def _fingerprint(session: OrmSession, project_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """Every roll-up row of one project, in order (cheap next to the rebuild itself)."""
    found: list[tuple[Any, ...]] = []
    for table in (activity_fact, *CUBES.values(), *ROSTER_CUBES):
        columns = list(table.columns)
        found.extend(
            tuple(row)
            for row in session.execute(
                sa.select(*columns).where(table.c.project_id == project_id).order_by(*columns)
            )
        )
    return found


def rebuild_rollups(*, engine: Engine) -> dict[str, Any]:
    """Rebuild every project's roll-ups; returns counts and the projects that drifted."""
    with session_scope(engine, write=False) as session:
        projects = list(
            session.execute(sa.select(Project.id, Project.code).order_by(Project.code)).all()  # type: ignore[call-overload]
        )
    activities = cells = 0
    drifted: list[str] = []
    for project_id, code in projects:
        with session_scope(engine) as session:
            before = _fingerprint(session, project_id)
            stats = rebuild_project(session, project_id)
            if _fingerprint(session, project_id) != before:
                drifted.append(code)
        activities += stats.activities
        cells += stats.cells
    # Result indicators: their per-observation rows, recomputed in one transaction.
    with session_scope(engine) as session:
        before_results = fingerprint(session)
        results = rebuild_results(session)
        results_drifted = fingerprint(session) != before_results
    if drifted:
        log.error("roll-up rebuild repaired drifted projects: %s", ", ".join(drifted))
    if results_drifted:
        log.error("roll-up rebuild repaired drifted result indicator values")
    return {
        "projects": len(projects),
        "activities": activities,
        "cube_cells": cells,
        "drifted": drifted,
        "observations": results.observations,
        "result_values": results.rows,
        "results_drifted": results_drifted,
    }
