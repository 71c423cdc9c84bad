"""What the application connects at start-up, in one place (docs/architecture.md#commit-duties).

The record layer reaches the indicators domain's roll-up refresh through the implementation
installed here, so that the activity and project writers need not import the indicators domain
(which reads their tables). ``server.app.create_app`` and ``server.cli`` call ``install``; so
does the test suite, and any script that writes activities without them.
"""

from __future__ import annotations

from sqlalchemy.orm import configure_mappers

# Every table, so that a process that starts from the command line (``pilotmon
# import-bundle``, say) knows each table a foreign key names (``attachment.observation_id``).
import server.models  # noqa: F401
from server.indicators.refresh import LIVE_ROLLUPS
from server.records import rollups
from server.results.observations import register_after_write
from server.results.rollup import observations_changed


def install() -> None:
    """Connect the record layer's roll-up delta to ``server.indicators.refresh`` and the
    observation writer to the result indicators' refresh (idempotent)."""
    rollups.install(LIVE_ROLLUPS)
    # Every observation write keeps the result indicators' rows live (docs/results.md).
    register_after_write(observations_changed)
    # The mappers are configured now, at start-up, rather than inside the first request that
    # touches one (on a tablet's first push that took half a second on this machine).
    configure_mappers()
