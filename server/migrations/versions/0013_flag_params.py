"""flags: each stored data-quality flag keeps its parameters (``params``) beside its message

Flags are JSON on their record (``activity.flags``, ``observation.flags``), so no column
changes: the upgrade gives every flag stored before it its ``params``, the values its English
message was written with, read back through the message's template
(``shared.validation.message_params``), so that the dashboard words old flags in the reader's
language as it does new ones. A message in other words (an older server's) gets ``{}``: the
dashboard then says what the code means, without figures. The downgrade takes ``params`` off.

Revision ID: 0013_flag_params
Revises: 0012_result_order
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.validation import message_params

revision: str = "0013_flag_params"
down_revision: str | None = "0012_result_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The records that carry flags, and how many are rewritten per statement.
TABLES = ("activity", "observation")
BATCH = 500

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _table(name: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.Uuid()), sa.column("flags", _JSON))


def params_of(flag: dict[str, Any]) -> dict[str, str]:
    """A stored flag's params, read from its message (without ``field``, which it has)."""
    found = message_params(str(flag.get("code") or ""), str(flag.get("message") or "")) or {}
    found.pop("field", None)
    return found


def _with_params(flag: Any) -> Any:
    if not isinstance(flag, dict) or isinstance(flag.get("params"), dict):
        return flag
    return {**flag, "params": params_of(flag)}


def _without_params(flag: Any) -> Any:
    if not isinstance(flag, dict) or "params" not in flag:
        return flag
    return {k: v for k, v in flag.items() if k != "params"}


def _rewrite(change: Callable[[Any], Any]) -> None:
    """Apply ``change`` to every stored flag, a batch of flagged records at a time."""
    bind = op.get_bind()
    for name in TABLES:
        table = _table(name)
        flagged = (
            bind.execute(sa.select(table.c.id).where(sa.cast(table.c.flags, sa.Text) != "[]"))
            .scalars()
            .all()
        )
        for start in range(0, len(flagged), BATCH):
            ids = flagged[start : start + BATCH]
            rows = bind.execute(sa.select(table.c.id, table.c.flags).where(table.c.id.in_(ids)))
            updates = []
            for row in rows:
                flags = row.flags if isinstance(row.flags, list) else []
                new = [change(f) for f in flags]
                if new != flags:
                    updates.append({"row_id": row.id, "new_flags": new})
            if updates:
                bind.execute(
                    sa.update(table)
                    .where(table.c.id == sa.bindparam("row_id"))
                    .values(flags=sa.bindparam("new_flags")),
                    updates,
                )


def upgrade() -> None:
    _rewrite(_with_params)


def downgrade() -> None:
    _rewrite(_without_params)
