"""After a schema upgrade: rebuild the result roll-up when a migration changed its storage.

A migration that reshapes the result indicators' stored values names ``"results"`` in its
``REBUILDS`` (``server.migrate.rebuilds_between``); ``pilotmon init-db`` and ``pilotmon
restore`` then rebuild them from the observations at once, in the upgrade's own transaction
(whole or not at all, under the same lock timeout), so that an upgraded server answers right
from its first request instead of after the next nightly ``rollup-rebuild``.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from server.migrate import rebuilds_between, upgrade
from server.results.rollup import ResultRefresh, rebuild_results


def rebuild_in(conn: Connection, before: str | None, after: str) -> ResultRefresh | None:
    """Rebuild in ``conn``'s transaction, which the caller commits: the figures, or None when
    no migration between ``before`` and ``after`` asked for it."""
    if "results" not in rebuilds_between(before, after):
        return None
    with Session(bind=conn) as session:
        done = rebuild_results(session)
        session.flush()
    return done


def upgrade_and_rebuild(
    engine: Engine, *, lock_timeout_s: float | None
) -> tuple[str | None, str, ResultRefresh | None]:
    """``server.migrate.upgrade`` with the rebuild its migrations ask for, in one transaction:
    (before, after, the rebuild's figures or None)."""
    rebuilt: list[ResultRefresh | None] = [None]

    def rebuild(conn: Connection, before: str | None, after: str) -> None:
        rebuilt[0] = rebuild_in(conn, before, after)

    before, after = upgrade(engine, lock_timeout_s=lock_timeout_s, then=rebuild)
    return before, after, rebuilt[0]
