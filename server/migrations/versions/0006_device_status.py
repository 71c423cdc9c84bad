"""device status: the latest status each tablet posted (what it still holds)

Revision ID: 0006_device_status
Revises: 0004_forms_observations

One row per tablet, replaced at each ``POST /api/v1/sync/status`` (docs/protocol.md#tablet-status).
Nothing to fill for existing tablets: a tablet without a row never posted a status.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_device_status"
down_revision: str | None = "0004_forms_observations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_status",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_mutations", sa.Integer(), nullable=False),
        sa.Column("pending_uploads", sa.Integer(), nullable=False),
        sa.Column("pending_upload_bytes", sa.BigInteger(), nullable=False),
        sa.Column("oldest_pending_captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.Column("free_storage_bytes", sa.BigInteger(), nullable=True),
        sa.Column("app_version", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
            name="fk_device_status_device_id_device",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_status"),
    )


def downgrade() -> None:
    op.drop_table("device_status")
