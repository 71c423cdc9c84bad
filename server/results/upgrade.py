"""After a schema upgrade: rebuild the result roll-up when a migration changed its storage.

A migration that reshapes the result indicators' stored values names ``"results"`` in its
``REBUILDS`` (``server.migrate.rebuilds_between``); ``pilotmon init-db`` and ``pilotmon
restore`` then rebuild them from the observations at once, so that an upgraded server answers
right from its first request instead of after the next nightly ``rollup-rebuild``.
"""

from __future__ import annotations

from sqlalchemy import Engine

from server.db import session_scope
from server.migrate import rebuilds_between
from server.results.rollup import ResultRefresh, rebuild_results


def rebuild_after_upgrade(engine: Engine, before: str | None, after: str) -> ResultRefresh | None:
    """The rebuild's figures, or None when no migration between ``before`` and ``after``
    asked for one."""
    if "results" not in rebuilds_between(before, after):
        return None
    with session_scope(engine) as session:
        return rebuild_results(session)
