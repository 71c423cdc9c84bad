"""activities: the (project, start date) index also holds type, site and the deleted mark

The quality flags count, for each new activity of a push, the project's live activities of the
same day, site and type (``server.activities.flags.FlagFacts.of_new``: one grouped query per
batch). With the index on (project_id, start_date) alone that query read every activity of the
batch's days from the table; with the type, site and deleted mark in the index it reads the
index only. On SQLite, 20 000 activities of one project over 25 days pushed in batches of 1 000:
the batches' counts 0.27-0.29 s in all before, 0.03-0.04 s after; the activity rows' inserts
0.02-0.04 s dearer (an ad-hoc script, 2026-12-06). Every reader of the old index reads its
leading columns as before.

Revision ID: 0017_activity_day_cover
Revises: 0016_observation_created_via
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_activity_day_cover"
down_revision: str | None = "0016_observation_created_via"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_activity_project_start"


def upgrade() -> None:
    op.drop_index(NAME, table_name="activity")
    op.create_index(NAME, "activity", ["project_id", "start_date", "type", "site_id", "deleted"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="activity")
    op.create_index(NAME, "activity", ["project_id", "start_date"])
