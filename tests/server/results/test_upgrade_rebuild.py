"""An upgrade that changes how result values are stored rebuilds them at once (``REBUILDS``
in the migration): an upgraded server answers right from its first request, not after the
next nightly ``rollup-rebuild``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine
from sqlmodel import Session

from server.migrate import alembic_config, head_revision, rebuilds_between, upgrade
from server.ops import pgtools
from server.results.rollup import result_cell, unpack_values
from tests.factories import make_project
from tests.server.results.helpers import make_form, observe
from tests.server.test_cli import run_cli

BEFORE_CELLS = "0005_receipts"  # the revision before result values were kept in cells


def _cells(engine: Engine) -> list[tuple[Any, ...]]:
    """Every cell, a median's values as one sorted run (writes append runs; a rebuild makes
    one)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(result_cell)).mappings().all()
    return sorted(
        (
            tuple(
                tuple(sorted(unpack_values(value))) if name == "vals" and value else value
                for name, value in row.items()
            )
            for row in rows
        ),
        key=repr,
    )


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _world(engine: Engine) -> None:
    with Session(engine) as session:
        project = make_project(session, country="LSO")
        form = make_form(session)
        for n, (plot, harvest) in enumerate([("demo", 900), ("control", 600), ("demo", 1100)]):
            values = {
                "crop": "potato",
                "plot": plot,
                "plot_area_m2": 100 + n,
                "harvest_kg": harvest,
            }
            observe(session, form, project, values)
        session.commit()


def test_a_migration_names_what_it_rebuilds() -> None:
    assert rebuilds_between(BEFORE_CELLS, head_revision()) >= {"results"}
    assert rebuilds_between(None, head_revision()) == set()  # a new database holds nothing
    assert rebuilds_between(head_revision(), head_revision()) == set()


def test_init_db_rebuilds_result_values_after_the_upgrade(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    _world(engine)
    right = _cells(engine)
    assert right  # the observations answer from their cells
    try:
        _downgrade(engine, BEFORE_CELLS)  # as a server still on the older schema was
        engine.dispose()
        done = run_cli(
            "init-db", env={"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
        )
        assert done.returncode == 0, done.stderr
        assert f"migrated from {BEFORE_CELLS}" in done.stdout
        assert "result indicators rebuilt for their new storage from 3 observations" in done.stdout
        assert _cells(engine) == right
        again = run_cli(
            "init-db", env={"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
        )
        assert "rebuilt" not in again.stdout  # up to date: nothing to rebuild
    finally:
        upgrade(engine)  # the next test finds the schema it expects, whatever happened


@pytest.mark.parametrize("method", ["native", "logical"])
def test_restoring_an_older_archive_rebuilds_result_values_in_its_upgrade(
    engine: Engine, db_url: str, tmp_path: Path, method: str
) -> None:
    # The rebuild now runs inside the upgrade's (or the row restore's) transaction: it must
    # still happen, and say so, whichever way the archive is put back.
    if method == "native" and engine.dialect.name == "postgresql" and not pgtools.have("pg_dump"):
        pytest.skip("pg_dump is not installed here")
    _world(engine)
    right = _cells(engine)
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path / "data")}
    archive = tmp_path / "old.tar.gz"
    try:
        _downgrade(engine, BEFORE_CELLS)  # a backup taken by an older version
        made = run_cli("backup", "--method", method, str(archive), env=env)
        assert made.returncode == 0, made.stderr
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.delete(result_cell))  # what the restore must bring back
        engine.dispose()
        done = run_cli("restore", "--force", str(archive), env=env)
        assert done.returncode == 0, done.stderr
        assert f"migrated the schema from revision {BEFORE_CELLS}" in done.stdout
        assert "result indicators rebuilt for their new storage from 3 observations" in done.stdout
        assert _cells(engine) == right
    finally:
        upgrade(engine)
