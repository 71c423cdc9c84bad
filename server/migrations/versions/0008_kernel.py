"""activity: weather (scratch: adding a field)

Revision ID: 0008_kernel
Revises: 0004_forms_observations
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_kernel"
down_revision: str | None = "0004_forms_observations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("activity", sa.Column("weather", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("activity", "weather")
