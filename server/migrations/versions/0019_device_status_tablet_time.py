"""device status: the tablet's own clock when it posted

A tablet whose date is wrong (a flat battery, a hand-set date) dates its new records wrongly.
It now sends its clock with its status (``tablet_time``, an optional key: tablets that do not
send it are judged as before), and the office sees how far it is off (docs/protocol.md
#tablet-status). Existing rows have none: a tablet says it at its next status.

Revision ID: 0019_device_status_tablet_time
Revises: 0018_receipt_no_device_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_device_status_tablet_time"
down_revision: str | None = "0018_receipt_no_device_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_status") as batch_op:
        batch_op.add_column(sa.Column("tablet_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_status") as batch_op:
        batch_op.drop_column("tablet_time")
