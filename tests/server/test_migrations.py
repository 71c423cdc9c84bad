"""The migrations produce exactly the models' schema, on SQLite and PostgreSQL, and rerun safely."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import server.models  # noqa: F401
from server.migrate import current_revision, head_revision, upgrade


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_migrations_match_models(engine: Engine) -> None:
    # The fixture's database was built by running the migrations.
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []


def test_every_model_table_exists(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    before, after = upgrade(engine)
    assert before == after == head_revision()
    assert _differences(engine) == []


def test_migrations_have_one_head() -> None:
    assert head_revision()
