"""results: cells in grains, clustered by what a question fixes, with a median's values
(docs/results.md#result-indicators)

The cells are derived data: this drops them and makes the new table empty; ``pilotmon init-db``
refills it from the observations right after the upgrade (``REBUILDS``); after a downgrade the
rollup-rebuild job (``rebuild_results``) must run once.

Revision ID: 0012_result_order
Revises: 0011_result_cells
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_result_order"
down_revision: str | None = "0011_result_cells"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
REBUILDS = ("results",)  # the cells of the observations already there (server.migrate)


def upgrade() -> None:
    op.drop_table("result_cell")
    op.create_table(
        "result_cell",
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("grain", sa.String(length=96), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("cell", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("choices", sa.Text(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("den", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("vals", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("indicator", "grain", "status", "project_id", "month", "cell"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("result_cell")
    op.create_table(
        "result_cell",
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("cell", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.Text(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("den", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("indicator", "project_id", "month", "cell"),
    )
