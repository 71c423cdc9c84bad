"""activities: version 1 lives in the activity's own row until a later version supersedes it
(``activity.created_via``)

A new activity no longer writes a revision row for its version 1: the row and its attendance
rows already hold that state, and its author, device and time (``created_by_id``, ``device_id``,
``created_at``). ``created_via`` keeps the rest of what the revision held, the writer's source
(push, api, bundle, resolve, review, demo…); the kernel writes the version-1 revision from the
row when a later version supersedes it (docs/architecture.md#revisions).

The upgrade adds the column and fills it from the version-1 revision of the activities already
there (their revisions stay: a reader takes a revision row when there is one). An activity
without a version-1 revision keeps NULL: it was written before this rule, by a path that kept
none, and readers treat it as they did. The downgrade gives every activity whose version 1 lives
in its row the revision the older code expects (the row's state through
``server.activities.shape.activity_wire``), then drops the column.

Revision ID: 0015_activity_created_via
Revises: 0014_code_collation
"""

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_activity_created_via"
down_revision: str | None = "0014_code_collation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500  # activities given their version-1 revision per statement (downgrade)

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("activity", sa.Column("created_via", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE activity SET created_via = (SELECT r.source FROM activity_revision r"
        " WHERE r.activity_id = activity.id AND r.version = 1)"
    )


def _revision_table() -> sa.TableClause:
    return sa.table(
        "activity_revision",
        sa.column("activity_id", sa.Uuid()),
        sa.column("version", sa.Integer()),
        sa.column("data", _JSON),
        sa.column("source", sa.String()),
        sa.column("author_id", sa.Uuid()),
        sa.column("device_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )


def _write_first_revisions() -> None:
    """The version-1 revision of every activity whose version 1 lives in its row."""
    from server.activities.models import Activity, AttendanceRow
    from server.activities.shape import activity_wire, attendance_wire

    bind = op.get_bind()
    revisions = _revision_table()
    activity: Any = Activity.__table__  # type: ignore[attr-defined]
    present = {c["name"] for c in sa.inspect(bind).get_columns("activity")}
    # The model's columns this schema has (a later field, dropped by its own downgrade, reads
    # as None).
    columns = [c for c in activity.c if c.name in present]
    missing = {c.name: None for c in activity.c if c.name not in present}
    has_first = (
        sa.select(sa.literal(1))
        .select_from(revisions)
        .where(revisions.c.activity_id == activity.c.id, revisions.c.version == 1)
        .exists()
    )
    ids = (
        bind.execute(
            sa.select(activity.c.id).where(
                activity.c.created_via.is_not(None), activity.c.version == 1, ~has_first
            )
        )
        .scalars()
        .all()
    )
    attendance: Any = AttendanceRow.__table__  # type: ignore[attr-defined]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        lines: dict[Any, list[Any]] = {a: [] for a in chunk}
        for line in bind.execute(
            sa.select(attendance)
            .where(attendance.c.activity_id.in_(chunk))
            .order_by(attendance.c.id)
        ):
            lines[line.activity_id].append(line)
        rows = []
        for row in bind.execute(sa.select(*columns).where(activity.c.id.in_(chunk))):
            state = SimpleNamespace(**missing, **row._mapping)
            rows.append(
                {
                    "activity_id": row.id,
                    "version": 1,
                    "data": {
                        **activity_wire(state, attendance_wire(lines[row.id])),
                        "deleted": bool(row.deleted),
                    },
                    "source": row.created_via,
                    "author_id": row.created_by_id,
                    "device_id": row.device_id,
                    "created_at": row.created_at,
                }
            )
        if rows:
            bind.execute(sa.insert(revisions), rows)


def downgrade() -> None:
    _write_first_revisions()
    # In place on SQLite too (ALTER TABLE … DROP COLUMN, SQLite 3.35+): a batch operation would
    # copy the table and drop the old one, and dropping it deletes, by their ON DELETE
    # CASCADE, the attendance and revisions of every activity.
    op.execute("ALTER TABLE activity DROP COLUMN created_via")
