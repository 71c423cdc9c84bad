"""device: how each tablet enrolled, and why a password change revoked it

A new password now revokes the person's tablets that were enrolled with a password (an access
token), not those enrolled with a one-time code from the country office (docs/protocol.md
#enrolment): ``enrolled_with`` says which ("code" or "password"), ``revoked_reason`` says
"password_changed" for a tablet so revoked, which its person may enrol again with the new
password.

The upgrade fills ``enrolled_with`` for the tablets already there: "code" for one that used an
enrolment code (``enrolment_code.used_by_device_id``), else "password". A tablet that used a code
and later re-enrolled with its person's token counts as "code": of the two mistakes, leaving it
enrolled beats cutting off someone in the field with weeks of unsent records.

Revision ID: 0021_device_enrolled_with
Revises: 0020_result_fact_observation_key
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_device_enrolled_with"
down_revision: str | None = "0020_result_fact_observation_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device") as batch_op:
        batch_op.add_column(
            sa.Column(
                "enrolled_with",
                sa.String(length=8),
                nullable=False,
                server_default="password",
            )
        )
        batch_op.add_column(sa.Column("revoked_reason", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE device SET enrolled_with = 'code' WHERE EXISTS (SELECT 1 FROM enrolment_code c"
        " WHERE c.used_by_device_id = device.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("device") as batch_op:
        batch_op.drop_column("revoked_reason")
        batch_op.drop_column("enrolled_with")
