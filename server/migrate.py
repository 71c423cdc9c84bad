"""Schema migrations (Alembic): bring a database to the latest revision, report where it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from server.db import bounded_transaction, check_reachable
from server.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(directory: Path = MIGRATIONS_DIR) -> Config:
    config = Config()
    config.set_main_option("script_location", str(directory))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have one head, found {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


AfterUpgrade = Callable[[Connection, str | None, str], None]


def upgrade(
    engine: Engine, *, lock_timeout_s: float | None = None, then: AfterUpgrade | None = None
) -> tuple[str | None, str]:
    """Create or migrate the schema to the latest revision; returns (before, after).

    One transaction, with ``then(connection, before, after)`` (the rebuilds the migrations ask
    for) at its end: a migration or rebuild that fails leaves the schema as it was. With
    ``lock_timeout_s`` it waits at most that long for each lock it needs (a table another
    process holds; on SQLite, the database's write lock) and then raises DatabaseBusy, rolled
    back."""
    check_reachable(engine)
    before = current_revision(engine)
    if before is not None and not _known(before):
        raise _newer_schema(before)
    config = alembic_config()
    with bounded_transaction(engine, lock_timeout_s) as conn:
        if conn.dialect.name == "postgresql":
            # Two processes running init-db at once must not race on CREATE TABLE.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7301001)")
        # Read again under the lock: another init-db may have migrated it meanwhile.
        before = MigrationContext.configure(conn).get_current_revision()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        after = MigrationContext.configure(conn).get_current_revision() or ""
        if then is not None:
            then(conn, before, after)
    return before, after


def rebuilds_between(before: str | None, after: str) -> set[str]:
    """What the migrations applied from ``before`` to ``after`` ask to have rebuilt: each may
    name, in a module-level ``REBUILDS`` tuple, stored values it cannot carry over in SQL
    (``"results"``: the result indicators' roll-up, whose storage it changed). Nothing for a
    new database, which has no values to rebuild."""
    if before is None or before == after:
        return set()
    script = ScriptDirectory.from_config(alembic_config())
    found: set[str] = set()
    for revision in script.iterate_revisions(after, before):
        found.update(getattr(revision.module, "REBUILDS", ()))
    return found


def schema_status(engine: Engine) -> dict[str, str | bool | None]:
    """What the health check reports: the revision and whether it is the latest."""
    try:
        revision = current_revision(engine)
    except (OperationalError, ProgrammingError):
        revision = None
    head = head_revision()
    return {"revision": revision, "head": head, "up_to_date": revision == head}


def _known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return any(r.revision == revision for r in script.walk_revisions())


def _newer_schema(revision: str) -> DatabaseError:
    """A database migrated by a newer Pilot Monitor (this one was rolled back without
    restoring the backup taken before the upgrade)."""
    return DatabaseError(
        f"the database schema {revision} is newer than this Pilot Monitor knows (latest "
        f"{head_revision()}): install the version that made it, or restore the backup taken "
        "before the upgrade"
    )


def require_current_schema(engine: Engine) -> None:
    """Refuse to go on (exit code 3) unless the database is reachable and at the latest
    revision: what ``serve``, ``scheduler`` and ``jobs run`` check before they start."""
    check_reachable(engine)
    status = schema_status(engine)
    if status["up_to_date"]:
        return
    revision, head = status["revision"], status["head"]
    if revision is None:
        raise DatabaseError("the database has no schema: run `pilotmon init-db` first")
    if not _known(str(revision)):
        raise _newer_schema(str(revision))
    raise DatabaseError(
        f"the database schema {revision} is behind this Pilot Monitor's {head}: run "
        "`pilotmon init-db` first"
    )


def make_revision(
    engine: Engine, message: str, *, rev_id: str, directory: Path = MIGRATIONS_DIR
) -> Path:
    """Write revision ``rev_id``: what the models hold and ``engine``'s schema (at the latest
    revision) lacks, autogenerated by Alembic; its file (developers: ``make migration``)."""
    config = alembic_config(directory)
    config.set_main_option("file_template", "%%(rev)s")  # 0022_site_altitude.py, as the others
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
