"""initial schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.create_index("ix_change_project_seq", ["project_id", "seq"], unique=False)

    op.create_table(
        "indicator_cube_activity_type",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "activity_type",
            name="pk_indicator_cube_activity_type",
        ),
    )
    op.create_table(
        "indicator_cube_base",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            name="pk_indicator_cube_base",
        ),
    )
    op.create_table(
        "indicator_cube_delivery",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "delivery",
            name="pk_indicator_cube_delivery",
        ),
    )
    op.create_table(
        "indicator_cube_level",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "level",
            name="pk_indicator_cube_level",
        ),
    )
    op.create_table(
        "indicator_cube_modality",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("modality", sa.String(length=1), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "modality",
            name="pk_indicator_cube_modality",
        ),
    )
    op.create_table(
        "indicator_cube_modality_type",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("modality", sa.String(length=1), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "modality",
            "activity_type",
            name="pk_indicator_cube_modality_type",
        ),
    )
    op.create_table(
        "indicator_cube_solution",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("solution", sa.String(length=8), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "solution",
            name="pk_indicator_cube_solution",
        ),
    )
    op.create_table(
        "indicator_cube_topic",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("solution", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=8), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "solution",
            "topic",
            name="pk_indicator_cube_topic",
        ),
    )
    op.create_table(
        "indicator_roster_all",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("links", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "participant_id",
            name="pk_indicator_roster_all",
        ),
    )
    op.create_table(
        "indicator_roster_fact",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("activity_id", "participant_id"),
    )
    op.create_table(
        "indicator_roster_month",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("links", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "status",
            "project_id",
            "country",
            "region",
            "thematic_area",
            "participant_id",
            name="pk_indicator_roster_month",
        ),
    )
    op.create_table(
        "job_run",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column(
            "last_result",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "login_failure",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column(
            "solutions",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "partners",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("priority_product", sa.String(length=120), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("roster", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_code"), ["code"], unique=True)
        batch_op.create_index(batch_op.f("ix_project_country"), ["country"], unique=False)

    op.create_table(
        "user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "countries",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_username"), ["username"], unique=True)

    op.create_table(
        "access_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_token_token_hash"), ["token_hash"], unique=True)
        batch_op.create_index(batch_op.f("ix_access_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=True),
        sa.Column(
            "before",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_entity"), ["entity"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "closed_period",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("closed_by_id", sa.Uuid(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("country", "period", name="uq_closed_period"),
    )
    op.create_table(
        "device",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("app_version", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_token_hash"), ["token_hash"], unique=True)
        batch_op.create_index(batch_op.f("ix_device_user_id"), ["user_id"], unique=False)

    op.create_table(
        "enrolment_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_device_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("enrolment_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrolment_code_code_hash"), ["code_hash"], unique=True)
        batch_op.create_index(batch_op.f("ix_enrolment_code_user_id"), ["user_id"], unique=False)

    op.create_table(
        "participant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "code", name="uq_participant_code"),
    )
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participant_project_id"), ["project_id"], unique=False)

    op.create_table(
        "site",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("admin_area", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_project_id"), ["project_id"], unique=False)

    op.create_table(
        "target",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("indicator", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "indicator", "period", "sex", name="uq_target_key"),
    )
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_target_project_id"), ["project_id"], unique=False)

    op.create_table(
        "user_project",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "project_id"),
    )
    with op.batch_alter_table("user_project", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_project_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(length=8), nullable=True),
        sa.Column("modality", sa.String(length=1), nullable=True),
        sa.Column("level", sa.String(length=2), nullable=True),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("value_chain_stage", sa.String(length=16), nullable=True),
        sa.Column(
            "facilitators",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("experts_count", sa.Integer(), nullable=False),
        sa.Column(
            "location",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "participant_ids",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column(
            "flags",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_project_start", ["project_id", "start_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activity_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_status"), ["status"], unique=False)

    op.create_table(
        "kept_mutation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column(
            "data",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "errors",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "seq", name="uq_kept_mutation_seq"),
    )
    with op.batch_alter_table("kept_mutation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kept_mutation_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kept_mutation_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "record_revision",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entity", "entity_id", "version", name="uq_record_revision_version"),
    )
    with op.batch_alter_table("record_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_record_revision_entity_id"), ["entity_id"], unique=False
        )

    op.create_table(
        "activity_participant",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
        ),
        sa.PrimaryKeyConstraint("activity_id", "participant_id"),
    )
    with op.batch_alter_table("activity_participant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activity_participant_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "activity_revision",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_id", "version", name="uq_activity_revision_version"),
    )
    with op.batch_alter_table("activity_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activity_revision_activity_id"), ["activity_id"], unique=False
        )

    op.create_table(
        "attachment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("caption", sa.String(length=500), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attachment_activity_id"), ["activity_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_attachment_sha256"), ["sha256"], unique=False)

    op.create_table(
        "attendance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("age_band", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attendance_activity_id"), ["activity_id"], unique=False
        )

    op.create_table(
        "indicator_activity_fact",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("thematic_area", sa.String(length=8), nullable=False),
        sa.Column("solution", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=8), nullable=False),
        sa.Column("modality", sa.String(length=1), nullable=False),
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("activities", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demonstrations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trainings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expert_days", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("participants", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_female", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_male", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sex_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_youth", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_adult", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_senior", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("age_unspecified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_farmer", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_technician", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_official", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("category_other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_yes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disability_no", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("activity_id"),
    )
    with op.batch_alter_table("indicator_activity_fact", schema=None) as batch_op:
        batch_op.create_index("ix_indicator_activity_fact_month", ["month"], unique=False)
        batch_op.create_index(
            "ix_indicator_activity_fact_project", ["project_id", "month"], unique=False
        )

    op.create_table(
        "review",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_activity_id"), ["activity_id"], unique=False)

    op.create_table(
        "sync_conflict",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("mutation_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column(
            "fields",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("server_version", sa.Integer(), nullable=True),
        sa.Column(
            "base_values",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "server_values",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "device_values",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "resolution",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("resolved_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.ForeignKeyConstraint(
            ["mutation_id"],
            ["kept_mutation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_conflict_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sync_conflict_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sync_conflict_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_conflict_status"))
        batch_op.drop_index(batch_op.f("ix_sync_conflict_project_id"))
        batch_op.drop_index(batch_op.f("ix_sync_conflict_entity_id"))

    op.drop_table("sync_conflict")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_activity_id"))

    op.drop_table("review")
    with op.batch_alter_table("indicator_activity_fact", schema=None) as batch_op:
        batch_op.drop_index("ix_indicator_activity_fact_project")
        batch_op.drop_index("ix_indicator_activity_fact_month")

    op.drop_table("indicator_activity_fact")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attendance_activity_id"))

    op.drop_table("attendance")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_sha256"))
        batch_op.drop_index(batch_op.f("ix_attachment_activity_id"))

    op.drop_table("attachment")
    with op.batch_alter_table("activity_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_revision_activity_id"))

    op.drop_table("activity_revision")
    with op.batch_alter_table("activity_participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_participant_participant_id"))

    op.drop_table("activity_participant")
    with op.batch_alter_table("record_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_revision_entity_id"))

    op.drop_table("record_revision")
    with op.batch_alter_table("kept_mutation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kept_mutation_entity_id"))
        batch_op.drop_index(batch_op.f("ix_kept_mutation_device_id"))

    op.drop_table("kept_mutation")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_status"))
        batch_op.drop_index(batch_op.f("ix_activity_site_id"))
        batch_op.drop_index("ix_activity_project_start")

    op.drop_table("activity")
    with op.batch_alter_table("user_project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_project_project_id"))

    op.drop_table("user_project")
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_target_project_id"))

    op.drop_table("target")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_project_id"))

    op.drop_table("site")
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participant_project_id"))

    op.drop_table("participant")
    with op.batch_alter_table("enrolment_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrolment_code_user_id"))
        batch_op.drop_index(batch_op.f("ix_enrolment_code_code_hash"))

    op.drop_table("enrolment_code")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_user_id"))
        batch_op.drop_index(batch_op.f("ix_device_token_hash"))

    op.drop_table("device")
    op.drop_table("closed_period")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_entity_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_entity"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_country"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_actor_id"))

    op.drop_table("audit_entry")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_access_token_token_hash"))

    op.drop_table("access_token")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_username"))

    op.drop_table("user")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_country"))
        batch_op.drop_index(batch_op.f("ix_project_code"))

    op.drop_table("project")
    op.drop_table("login_failure")
    op.drop_table("job_run")
    op.drop_table("indicator_roster_month")
    op.drop_table("indicator_roster_fact")
    op.drop_table("indicator_roster_all")
    op.drop_table("indicator_cube_topic")
    op.drop_table("indicator_cube_solution")
    op.drop_table("indicator_cube_modality_type")
    op.drop_table("indicator_cube_modality")
    op.drop_table("indicator_cube_level")
    op.drop_table("indicator_cube_delivery")
    op.drop_table("indicator_cube_base")
    op.drop_table("indicator_cube_activity_type")
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.drop_index("ix_change_project_seq")

    op.drop_table("change")
