"""device bundle key: the nonce a tablet's offline-bundle key is derived from

Revision ID: 0002_bundle_key
Revises: 0001

Existing tablets get no nonce here: the server makes one the first time the tablet asks for its
key (``POST /api/v1/sync/bundle-key``) and at every enrolment.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_bundle_key"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle_key_nonce", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_column("bundle_key_nonce")
