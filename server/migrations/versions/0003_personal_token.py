"""personal tokens: long-lived read-only tokens for the OData feed (HTTP Basic password)

Revision ID: 0003_personal_token
Revises: 0002_bundle_key
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_personal_token"
down_revision: str | None = "0002_bundle_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "personal_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("personal_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_personal_token_token_hash"), ["token_hash"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_personal_token_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("personal_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personal_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_personal_token_token_hash"))
    op.drop_table("personal_token")
