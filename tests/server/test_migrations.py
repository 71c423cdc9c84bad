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
from sqlmodel import Session, SQLModel, col, select

import server.models  # noqa: F401
from server.activities.flags import as_flags
from server.activities.models import Activity, ActivityRevision
from server.activities.service import write_activity
from server.dashboard.flags import flag_detail
from server.dashboard.i18n import Translator
from server.db import write_engine
from server.migrate import alembic_config, current_revision, head_revision, upgrade
from shared.errors import ErrorCode
from shared.validation import issue
from tests.factories import activity_versions, make_activity, make_project, make_user


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


def test_every_key_is_the_models_in_its_order(engine: Engine) -> None:
    """Alembic's comparison leaves primary keys out, and a key's column order decides what it
    finds quickly (0018 and 0020 reordered two): each table's key, column by column."""
    found = inspect(engine)
    for name, table in SQLModel.metadata.tables.items():
        wanted = [c.name for c in table.primary_key.columns]
        assert found.get_pk_constraint(name)["constrained_columns"] == wanted, name


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
    # Only the flags column: an older schema lacks columns the model has since gained.
    with Session(engine) as reader:
        flags = reader.execute(
            select(col(Activity.flags)).where(col(Activity.id) == activity_id)
        ).scalar_one()
        return list(flags)


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


def _versions(engine: Engine, activity_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with Session(engine) as reader:
        return [
            (r.version, r.data, r.source, r.author_id, r.device_id, r.created_at)
            for r in activity_versions(reader, activity_id)
        ]


def test_version_1_kept_in_its_row_gets_its_revision_back_on_downgrade(engine: Engine) -> None:
    """0015_activity_created_via: the downgrade writes the version-1 revision the older code
    expects of every activity whose version 1 lives in its row; the upgrade fills
    ``created_via`` from the version-1 revisions, so the history reads the same throughout."""
    with Session(write_engine(engine)) as session:
        project = make_project(session)
        author = make_user(session, projects=[project])
        kept = make_activity(session, project, author=author)  # version 1 in its row
        edited = make_activity(session, project, title="Edited later")
        write_activity(
            session, data={"notes": "x"}, existing=edited, source="review", author_id=None
        )
        session.commit()
        ids = (kept.id, edited.id)
    history = {a: _versions(engine, a) for a in ids}
    assert [len(h) for h in history.values()] == [1, 2]
    before = ScriptDirectory.from_config(alembic_config()).get_revision("0015_activity_created_via")
    try:
        _downgrade(engine, str(before.down_revision))
        with Session(engine) as reader:  # activity_revision is the same at both revisions
            stored = reader.execute(
                select(col(ActivityRevision.version), col(ActivityRevision.source))
                .where(col(ActivityRevision.activity_id) == kept.id)
                .order_by(col(ActivityRevision.version))
            ).all()
        assert [tuple(r) for r in stored] == [(1, "api")]
    finally:
        upgrade(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as reader:
        assert [reader.get(Activity, a).created_via for a in ids] == ["api", "api"]  # type: ignore[union-attr]
    # Read back from the revision row now, the same history.
    assert {a: _versions(engine, a) for a in ids} == history


def test_observation_version_1_kept_in_its_row_gets_its_revision_back_on_downgrade(
    engine: Engine,
) -> None:
    """0016_observation_created_via: as 0015 for activities, for observations."""
    from server.records.models import RecordRevision
    from server.results.models import Observation
    from server.results.observations import ENTITY, observation_wire, write_observation
    from tests.factories import make_observation_form, observation_data

    with Session(write_engine(engine)) as session:
        project = make_project(session)
        form = make_observation_form(session)
        data = observation_data(project, form)
        written = write_observation(
            session,
            existing=None,
            project=project,
            changes=data,
            source="push",
            author_id=None,
            new_id=uuid.UUID(data["id"]),
        )
        session.commit()
        observation_id = written.id
        expected = observation_wire(written)
    before = ScriptDirectory.from_config(alembic_config()).get_revision(
        "0016_observation_created_via"
    )
    try:
        _downgrade(engine, str(before.down_revision))
        with Session(engine) as reader:
            stored = reader.execute(
                select(
                    col(RecordRevision.version), col(RecordRevision.source), RecordRevision.data
                ).where(
                    col(RecordRevision.entity) == ENTITY,
                    col(RecordRevision.entity_id) == observation_id,
                )
            ).all()
        assert [tuple(r) for r in stored] == [(1, "push", expected)]
    finally:
        upgrade(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as reader:
        created_via = reader.execute(
            select(col(Observation.created_via)).where(col(Observation.id) == observation_id)
        ).scalar_one()
    assert created_via == "push"
