"""results: per-observation values of the result indicators; baselines beside targets

Revision ID: 0010_result_values
Revises: 0006_device_status
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_result_values"
down_revision: str | None = "0006_device_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "result_fact",
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("observation_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("den", sa.Float(), nullable=True),
        sa.Column(
            "choices",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observation.id"],
            name="fk_result_fact_observation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("indicator", "observation_id"),
    )
    with op.batch_alter_table("result_fact", schema=None) as batch_op:
        batch_op.create_index(
            "ix_result_fact_indicator_project_month",
            ["indicator", "project_id", "month"],
            unique=False,
        )
        batch_op.create_index("ix_result_fact_observation", ["observation_id"], unique=False)

    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="target", nullable=False)
        )
        batch_op.alter_column(
            "indicator",
            existing_type=sa.String(length=32),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.drop_constraint("uq_target_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_target_key", ["project_id", "indicator", "period", "sex", "kind"]
        )


def downgrade() -> None:
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.drop_constraint("uq_target_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_target_key", ["project_id", "indicator", "period", "sex"]
        )
        batch_op.alter_column(
            "indicator",
            existing_type=sa.String(length=64),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
        batch_op.drop_column("kind")
    with op.batch_alter_table("result_fact", schema=None) as batch_op:
        batch_op.drop_index("ix_result_fact_observation")
        batch_op.drop_index("ix_result_fact_indicator_project_month")
    op.drop_table("result_fact")
