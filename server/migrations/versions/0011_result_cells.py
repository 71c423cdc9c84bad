"""results: pre-summed cells of the result indicators (docs/results.md#result-indicators)

Revision ID: 0011_result_cells
Revises: 0005_receipts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_result_cells"
down_revision: str | None = "0005_receipts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# The cells of the observations already there are made from them after the upgrade
# (``server.migrate.rebuilds_between``; ``pilotmon init-db`` and ``restore`` run it).
REBUILDS = ("results",)


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("result_cell")
