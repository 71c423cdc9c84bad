"""receipts: keyed by record id first, no index on the device

A tablet's pull hands it the receipts its change-log entries name: it knows their record ids,
not their kinds. Asked by record id and device, SQLite read them through
``ix_receipt_device_id``, that is every receipt the tablet ever got, on every page of every
pull, growing with each push (11 ms for a page's 500 receipts at 20 000 receipts, 65 ms at
200 000; PostgreSQL 7.5 ms and 18 ms). The key's columns now come in the order (entity_id,
entity), so a record id finds its receipt through the key, whatever the number of receipts
(SQLite 6 ms, PostgreSQL 7 ms at 200 000). Nothing else read the device's index, and devices
are never deleted (its foreign key needs no index): it is dropped, and every receipt a push
issues no longer pays for an entry there.

Revision ID: 0018_receipt_no_device_index
Revises: 0017_activity_day_cover
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_receipt_no_device_index"
down_revision: str | None = "0017_activity_day_cover"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_receipt_device_id"


def _key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("receipt_pkey", "receipt", type_="primary")
        op.create_primary_key("receipt_pkey", "receipt", columns)
    else:
        # SQLite cannot alter a key: the table is copied into one with the new key.
        with op.batch_alter_table("receipt", recreate="always") as batch_op:
            batch_op.create_primary_key("receipt_pkey", columns)


def upgrade() -> None:
    op.drop_index(INDEX, table_name="receipt")
    _key(["entity_id", "entity"])


def downgrade() -> None:
    _key(["entity", "entity_id"])
    op.create_index(INDEX, "receipt", ["device_id"])
