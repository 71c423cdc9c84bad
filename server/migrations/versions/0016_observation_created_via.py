"""observations: version 1 lives in the observation's own row until a later version supersedes
it (``observation.created_via``)

The rule 0015_activity_created_via gave activities (docs/architecture.md#revisions), for
observations: a new observation writes no ``record_revision`` (entity ``observation``) for its
version 1; ``created_via`` keeps its writer's source, beside ``created_by_id``, ``device_id``
and ``created_at``; the version-1 revision is written from the row when a later version
supersedes it.

The upgrade adds the column and fills it from the version-1 revision of the observations
already there (those revisions stay). The downgrade writes the version-1 revision of every
observation whose version 1 lives in its row (``observation_wire``), then drops the column, in
place on SQLite as 0015 does.

Revision ID: 0016_observation_created_via
Revises: 0015_activity_created_via
"""

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_observation_created_via"
down_revision: str | None = "0015_activity_created_via"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTITY = "observation"
BATCH = 500  # observations given their version-1 revision per statement (downgrade)

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("observation", sa.Column("created_via", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE observation SET created_via = (SELECT r.source FROM record_revision r"
        " WHERE r.entity = 'observation' AND r.entity_id = observation.id AND r.version = 1)"
    )


def _revision_table() -> sa.TableClause:
    return sa.table(
        "record_revision",
        sa.column("entity", sa.String()),
        sa.column("entity_id", sa.Uuid()),
        sa.column("version", sa.Integer()),
        sa.column("data", _JSON),
        sa.column("source", sa.String()),
        sa.column("author_id", sa.Uuid()),
        sa.column("device_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )


def _write_first_revisions() -> None:
    """The version-1 revision of every observation whose version 1 lives in its row."""
    from server.results.models import Observation
    from server.results.observations import observation_wire

    bind = op.get_bind()
    revisions = _revision_table()
    observation: Any = Observation.__table__  # type: ignore[attr-defined]
    present = {c["name"] for c in sa.inspect(bind).get_columns("observation")}
    columns = [c for c in observation.c if c.name in present]
    missing = {c.name: None for c in observation.c if c.name not in present}
    has_first = (
        sa.select(sa.literal(1))
        .select_from(revisions)
        .where(
            revisions.c.entity == ENTITY,
            revisions.c.entity_id == observation.c.id,
            revisions.c.version == 1,
        )
        .exists()
    )
    ids = (
        bind.execute(
            sa.select(observation.c.id).where(
                observation.c.created_via.is_not(None), observation.c.version == 1, ~has_first
            )
        )
        .scalars()
        .all()
    )
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = []
        for row in bind.execute(sa.select(*columns).where(observation.c.id.in_(chunk))):
            state: Any = SimpleNamespace(**missing, **row._mapping)
            rows.append(
                {
                    "entity": ENTITY,
                    "entity_id": row.id,
                    "version": 1,
                    "data": observation_wire(state),
                    "source": row.created_via,
                    "author_id": row.created_by_id,
                    "device_id": row.device_id,
                    "created_at": row.created_at,
                }
            )
        if rows:
            bind.execute(sa.insert(revisions), rows)


def downgrade() -> None:
    _write_first_revisions()
    # In place on SQLite too: a batch copy would drop the table, and with it, by their ON
    # DELETE CASCADE, the rows that belong to its observations.
    op.execute("ALTER TABLE observation DROP COLUMN created_via")
