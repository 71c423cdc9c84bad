"""The nightly roll-up rebuild: a safety net behind the incremental refreshes.

It recomputes every fact and cube from the activity records and reports whether anything
differed from what the incremental path had kept (it should not: a difference is a bug to
look into, and the rebuild has already repaired it).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session as OrmSession

from server.db import session_scope
from server.indicators.models import CUBES, activity_fact
from server.indicators.refresh import rebuild_all


def _fingerprint(session: OrmSession) -> dict[str, list[int]]:
    found = {}
    for table in (activity_fact, *CUBES.values()):
        row = session.execute(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.activities), 0),
            sa.func.coalesce(sa.func.sum(table.c.participants), 0),
            sa.func.coalesce(sa.func.sum(table.c.expert_days), 0))).one()
        found[table.name] = [int(v) for v in row]
    return found


def rebuild_rollups(*, engine: Engine) -> dict[str, Any]:
    """Rebuild every roll-up in one transaction; returns counts and whether anything drifted."""
    with session_scope(engine) as session:
        before = _fingerprint(session)
        stats = rebuild_all(session)
        after = _fingerprint(session)
    drifted = sorted(name for name in after if before.get(name) != after[name])
    return {"activities": stats.activities, "cube_cells": stats.cells, "drifted": drifted}
