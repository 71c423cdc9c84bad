"""codes: the short code columns the OData feed orders by compare by code point on PostgreSQL
(``COLLATE "C"``), so that the feed's ``$orderby`` uses their indexes again

The feed orders and compares text by code point on both backends (``server.odata.query``:
``COLLATE "C"`` on PostgreSQL, SQLite's own BINARY). An index built in the database's default
collation does not serve ``ORDER BY status COLLATE "C"``: ``$orderby=Status`` sorted every
activity in scope instead of reading ``ix_activity_status`` in order. Giving the code columns
the collation "C" rebuilds their indexes in it (``ix_activity_status``, ``ix_project_code``,
``ix_project_country``), and the dashboard's own orderings of these codes become the code-point
order SQLite already gave. Names, titles and other words people type keep the database's
collation. Only the collation changes (no rewrite of the rows; the indexes are rebuilt).

PostgreSQL only: SQLite already compares by code point, and has no collation named "C". The
models do not say it (SQLite would refuse it, and Alembic does not compare collations): the
schema is built by these migrations only.

Revision ID: 0014_code_collation
Revises: 0013_flag_params
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_code_collation"
down_revision: str | None = "0013_flag_params"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (column, length): the code columns of the feed's entity sets (server.odata.entities)
CODE_COLUMNS: dict[str, tuple[tuple[str, int], ...]] = {
    "activity": (
        ("type", 32),
        ("topic", 8),
        ("modality", 1),
        ("level", 2),
        ("delivery", 16),
        ("status", 16),
    ),
    "attendance": (("sex", 16), ("age_band", 16), ("category", 16)),
    "project": (("code", 50), ("kind", 8), ("country", 3), ("thematic_area", 8)),
    "site": (("status", 16),),
}


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in CODE_COLUMNS.items():
        changes = ", ".join(
            f'ALTER COLUMN "{name}" TYPE VARCHAR({length}) COLLATE {collation}'
            for name, length in columns
        )
        op.execute(f'ALTER TABLE "{table}" {changes}')


def upgrade() -> None:
    _collate('"C"')


def downgrade() -> None:
    _collate('"default"')
