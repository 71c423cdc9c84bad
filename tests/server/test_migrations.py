"""The migrations produce exactly the models' schema, on SQLite and PostgreSQL, and rerun safely."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import Session, SQLModel

import server.models  # noqa: F401
from server.activities.flags import as_flags
from server.activities.models import Activity
from server.dashboard.flags import flag_detail
from server.dashboard.i18n import Translator
from server.db import write_engine
from server.migrate import alembic_config, current_revision, head_revision, upgrade
from shared.errors import ErrorCode
from shared.validation import issue
from tests.factories import make_activity, make_project


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


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _stored_flags(engine: Engine, activity_id: uuid.UUID) -> list[dict[str, Any]]:
    with Session(engine) as reader:
        row = reader.get(Activity, activity_id)
        assert row is not None
        return list(row.flags)


def test_flags_stored_before_their_params_get_them_from_their_message(engine: Engine) -> None:
    """0013_flag_params gives every flag stored before it its params, read from its English
    message, so that the dashboard words an old flag with its figures in any language."""
    lag = issue("end_date", ErrorCode.REPORTING_LAG, lag=45, value=date(2026, 3, 2), limit=30)
    usual = issue("attendance", ErrorCode.ATTENDANCE_UNUSUAL, total=166, factor=3, usual=27)
    older = {"code": "reporting_lag", "field": "start_date", "message": "reported late"}
    with Session(write_engine(engine)) as session:
        activity = make_activity(session, make_project(session))
        # one flag as this server stores it, one stored before params, one in other words
        activity.flags = [
            *as_flags([lag]),
            {"code": usual.code, "field": usual.field, "message": usual.message},
            older,
        ]
        session.add(activity)
        session.commit()
        activity_id = activity.id
    before = ScriptDirectory.from_config(alembic_config()).get_revision("0013_flag_params")
    try:
        _downgrade(engine, str(before.down_revision))
        assert current_revision(engine) == before.down_revision
        assert all("params" not in f for f in _stored_flags(engine, activity_id))
    finally:
        upgrade(engine)
    assert current_revision(engine) == head_revision()
    flags = _stored_flags(engine, activity_id)
    assert [f["params"] for f in flags] == [
        {"lag": "45", "value": "2026-03-02", "limit": "30"},
        {"total": "166", "factor": "3", "usual": "27"},
        {},
    ]
    assert [(f["code"], f["field"], f["message"]) for f in flags] == [
        (lag.code, lag.field, lag.message),
        (usual.code, usual.field, usual.message),
        (older["code"], older["field"], older["message"]),
    ]
    words = flag_detail(Translator("fr"), flags[0]["code"], flags[0]["params"])
    assert "Reçue 45 jours après la fin de l’activité (2 mars 2026)" in words.replace("\u00a0", " ")
