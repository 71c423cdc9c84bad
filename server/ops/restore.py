"""``pilotmon restore``: check a backup completely, then put it back in one step.

Order of work, so that a bad archive, a busy target or Ctrl-C never costs data:

1. refuse a target that already holds rows or photos (unless ``force``);
2. unpack into a staging folder inside the data directory while hashing every file, and compare
   the hashes, sizes and row counts with the manifest (for a SQLite snapshot, the row counts of
   the very file step 4 copies); refuse archives from a newer schema;
3. move the photos into place (those already there, with ``force``, aside): renames, undone
   should step 4 not commit;
4. restore the database in one transaction, which commits the whole restore: SQLite's backup
   API (page by page under the target's lock, committed with the last page),
   ``psql --single-transaction`` over pg_restore's script (row counts checked before its
   COMMIT), or row inserts for a logical export (counted before the commit). A table another
   process holds locked (a server or scheduler left running) stops it after
   ``LOCK_TIMEOUT_S`` (on SQLite, the write lock), rolled back, the photos moved back;
5. migrate to the latest schema when the archive is older (``init-db``), with the rebuilds its
   migrations ask for (``server.results.upgrade``), in one transaction that waits at most
   ``LOCK_TIMEOUT_S`` too (on SQLite, for the write lock); should it time out or be
   interrupted, the migration and the rebuild are rolled back whole and the error says the
   backup is restored, photos included, at its older revision, and to run
   ``pilotmon init-db`` once the server and the scheduler are stopped. (A logical export or a
   SQLite snapshot restored into PostgreSQL migrates within step 4's transaction.)

Ctrl-C (SIGINT) during steps 3 and 4 is noted, not raised where it falls: the restore stops at
the next point where it can roll back (between batches of rows, between pages, once psql ends),
puts the photos back and says that nothing was restored; should the commit already be under
way, it finishes and the message says the backup is restored. Either way exit code 130.

Across backends: a logical export restores anywhere; a SQLite snapshot restores into
PostgreSQL too (its rows are copied); a pg_dump restores only into PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine

from server.columns import as_utc, utcnow
from server.config import Settings
from server.db import bounded_transaction, check_reachable
from server.errors import DatabaseBusy
from server.migrate import alembic_config, current_revision, head_revision
from server.ops import pgtools
from server.ops.archive import (
    BackupError,
    ExtractedArchive,
    Manifest,
    NoProgress,
    Progress,
    extract_verified,
    read_json_lines,
)
from server.ops.backup import PG_DUMP_MEMBER, SQLITE_MEMBER, TABLES_DIR, sqlite_path
from server.ops.tables import (
    count_rows,
    data_tables,
    decoders,
    first_table_with_rows,
    schema_revision,
)
from server.results.rollup import ResultRefresh
from server.results.shipped import SHIPPED_FORMS
from server.results.upgrade import rebuild_in, upgrade_and_rebuild

INSERT_BATCH = 1000
# Pages SQLite's backup API copies per step (4 MiB at 4 KiB pages): between steps a restore can
# still stop, rolled back.
SQLITE_STEP_PAGES = 1024
# How long a PostgreSQL restore waits for a lock on a table before it gives up: a server or a
# scheduler still running holds some, and pg_restore's time limit (hours) is no answer.
LOCK_TIMEOUT_S = 5.0
# What `pilotmon init-db` writes by itself into a new database (``_only_what_init_db_writes``).
INIT_DB_TABLES = frozenset({"form", "change", "audit_entry", "receipt_key"})
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_REVISION = re.compile(r"^[A-Za-z0-9_]{1,64}$")

RowSource = Callable[[sa.Table, list[str]], Iterator[Mapping[str, Any]]]


@dataclass
class RestoreResult:
    manifest: Manifest
    revision: str
    migrated_from: str | None  # the archive's revision when init-db had to move it forward
    rebuilt: ResultRefresh | None  # the result indicators, when that migration asked for it
    attachments: int
    previous_attachments: Path | None  # where photos already in place were moved (force)


NOTHING_RESTORED = "nothing was restored; the database and the photos are as they were"


def restore_backup(
    *,
    settings: Settings,
    engine: Engine,
    archive: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> RestoreResult:
    progress = progress or NoProgress()
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist or is not a file")
    check_reachable(engine)
    _refuse_busy_target(settings=settings, engine=engine, force=force)
    settings.ensure_data_dir()
    staging = Path(tempfile.mkdtemp(dir=settings.data_dir, prefix=".restore-"))
    try:
        try:
            extracted = verify_backup(archive=archive, workdir=staging, progress=progress)
            _refuse_backend(extracted.manifest, engine)
        except KeyboardInterrupt as exc:
            raise RestoreInterrupted(
                f"interrupted while checking {archive}: {NOTHING_RESTORED}"
            ) from exc
        manifest = extracted.manifest
        # From here on the photos and the database go together: Ctrl-C is noted, and acted on
        # where the database can still roll back (module docstring).
        with _DeferredInterrupt() as interrupt:
            moved: _MovedPhotos | None = None
            try:
                interrupt.check()
                moved = _put_attachments_in_place(
                    settings=settings, staged=extracted.attachments_dir, aside=staging
                )
                upgrade_pending, rebuilt = _restore_database(
                    engine=engine,
                    extracted=extracted,
                    workdir=staging,
                    progress=progress,
                    interrupt=interrupt,
                )
            except BaseException as exc:
                if moved is not None:
                    _take_attachments_back(moved)
                if interrupt.requested or isinstance(exc, KeyboardInterrupt):
                    raise RestoreInterrupted(f"interrupted: {NOTHING_RESTORED}") from exc
                raise
            # Committed: the database and the photos in place are the backup's.
            previous = moved.previous
            migrated_from = _moved(manifest)
            if upgrade_pending:
                migrated_from, rebuilt = _upgrade_restored(
                    engine=engine, previous=previous, interrupt=interrupt
                )
            shutil.rmtree(staging, ignore_errors=True)
            if interrupt.requested:
                raise RestoreInterrupted(
                    "interrupted as the restore committed: the backup is restored whole, "
                    "photos included" + _kept(previous)
                )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(
        manifest=manifest,
        revision=head_revision(),
        migrated_from=migrated_from,
        rebuilt=rebuilt,
        attachments=len(manifest.attachment_files),
        previous_attachments=previous,
    )


class RestoreInterrupted(BackupError):
    """Ctrl-C stopped a restore; the message says what it left (exit code 130)."""

    exit_code = 130


class _Stop(Exception):
    """Ctrl-C was noted: roll back what is not committed yet."""


class _DeferredInterrupt:
    """While active (in the main thread), SIGINT sets ``requested`` instead of raising
    KeyboardInterrupt wherever it falls, between a commit and the line that would know of it;
    ``check`` raises ``_Stop`` where stopping is safe. Elsewhere (another thread) it notes
    nothing, and an interrupt is the thread's own business."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._note)
            self._installed = True
        return self

    def _note(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise _Stop

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Ctrl-C raises KeyboardInterrupt again inside: for a step that rolls itself back."""
        if not self._installed:
            yield
            return
        signal.signal(signal.SIGINT, self._outer())
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, self._note)

    def _outer(self) -> Any:
        return self._previous if self._previous is not None else signal.default_int_handler

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._outer())
            self._installed = False


def verify_backup(
    *, archive: Path, workdir: Path, progress: Progress | None = None
) -> ExtractedArchive:
    """Unpack into ``workdir`` and check every hash, size and row count against the manifest."""
    progress = progress or NoProgress()
    extracted = extract_verified(
        archive=archive,
        database_dir=workdir / "database",
        attachments_dir=workdir / "attachments",
        progress=progress,
    )
    extracted.attachments_dir.mkdir(exist_ok=True)
    manifest = extracted.manifest
    _check_names(manifest)
    _check_revision_known(manifest.schema_revision)
    if manifest.method == "sqlite":
        _check_sqlite_copy(extracted)
    elif manifest.method == "logical":
        _check_logical_export(extracted)
    elif _member_path(extracted, PG_DUMP_MEMBER) is None:
        raise BackupError("the archive says pg_dump but holds no dump")
    return extracted


def _refuse_busy_target(*, settings: Settings, engine: Engine, force: bool) -> None:
    if force:
        return
    with engine.connect() as conn:
        busy = first_table_with_rows(conn, besides=INIT_DB_TABLES)
        present = INIT_DB_TABLES & set(sa.inspect(conn).get_table_names())
        if busy is None and not _only_what_init_db_writes(conn, present):
            busy = next(t for t in sorted(present) if _has_rows(conn, t))
    if busy is not None:
        raise BackupError(
            f"the database already holds data (table {busy} has rows): restore "
            "into an empty database, or pass --force to replace it"
        )
    if _has_files(settings.attachments_dir):
        raise BackupError(
            f"{settings.attachments_dir} already holds photos: empty it, or pass "
            "--force to replace them (the old ones are kept aside)"
        )


def _database_in_use() -> BackupError:
    return BackupError(
        f"the database is in use by another process (it kept a lock for {LOCK_TIMEOUT_S:g} s):"
        " stop `pilotmon serve` and `pilotmon scheduler` first, then restore again; nothing was"
        " changed"
    )


def _lock_timeout_sql() -> str:
    return f"SET SESSION lock_timeout = '{round(LOCK_TIMEOUT_S * 1000)}ms'"


def _has_rows(conn: Connection, table: str) -> bool:
    return (
        conn.execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first()
        is not None
    )


def _only_what_init_db_writes(conn: Connection, present: frozenset[str]) -> bool:
    """Whether the rows of ``INIT_DB_TABLES`` are only those ``pilotmon init-db`` writes into a
    new database: the shipped forms (global, by no one, with their change-log and audit rows)
    and the receipt key. Such a database is empty to a restore (docs/deployment.md: set up,
    init-db, then restore), while a form or an audit entry anyone made is data."""
    shipped = {str(form["code"]) for form in SHIPPED_FORMS}
    if "form" in present:
        forms = conn.execute(sa.text("SELECT code, project_id FROM form")).all()
        if any(code not in shipped or project is not None for code, project in forms):
            return False
    others = {
        "audit_entry": "SELECT 1 FROM audit_entry WHERE actor_id IS NOT NULL OR entity <> 'form'",
        "change": "SELECT 1 FROM change WHERE entity <> 'form'",
    }
    return not any(
        conn.execute(sa.text(query)).first() for table, query in others.items() if table in present
    )


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _check_names(manifest: Manifest) -> None:
    for name in manifest.tables:
        if not _IDENTIFIER.match(name):
            raise BackupError(f"the manifest names a table {name!r} that is not one of ours")
    if manifest.pg_schema is not None and not _IDENTIFIER.match(manifest.pg_schema):
        raise BackupError(f"the manifest names a schema {manifest.pg_schema!r}; refusing it")


def _check_revision_known(revision: str | None) -> None:
    if revision is None:
        raise BackupError(
            "the backup was taken from a database that was never initialised "
            "(no schema revision): there is nothing to restore"
        )
    if not _REVISION.match(revision):
        raise BackupError(f"the manifest's schema revision {revision!r} is malformed")
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise BackupError(
            f"the backup's schema revision {revision} is newer than this Pilot Monitor knows "
            f"(latest {head_revision()}): upgrade Pilot Monitor, then restore"
        ) from exc


def _member_path(extracted: ExtractedArchive, member: str) -> Path | None:
    relative = member.split("/", 1)[1]
    path = extracted.database_dir / relative
    return path if path.is_file() else None


def _mismatch(table: str, found: int, expected: int) -> BackupError:
    return BackupError(
        f"table {table} has {found} rows in the archive but its manifest says "
        f"{expected}: the backup is damaged"
    )


def _check_sqlite_copy(extracted: ExtractedArchive) -> None:
    path = _member_path(extracted, SQLITE_MEMBER)
    if path is None:
        raise BackupError("the archive says sqlite but holds no database file")
    copy = sa.create_engine(f"sqlite:///{path}")
    try:
        with copy.connect() as conn:
            check = conn.exec_driver_sql("PRAGMA quick_check").scalar()
            if check != "ok":
                raise BackupError(f"the database file in the archive is damaged ({check})")
            counts = count_rows(conn, data_tables(conn))
            revision = schema_revision(conn)
    except sa.exc.DatabaseError as exc:
        raise BackupError(f"the database file in the archive cannot be read ({exc.orig})") from exc
    finally:
        copy.dispose()
    _compare_counts(extracted.manifest, counts)
    if revision != extracted.manifest.schema_revision:
        raise BackupError("the database file's schema revision differs from its manifest")


def _check_logical_export(extracted: ExtractedArchive) -> None:
    manifest = extracted.manifest
    counts: dict[str, int] = {}
    for table in manifest.tables:
        path = _member_path(extracted, f"{TABLES_DIR}/{table}.jsonl")
        if path is None:
            raise BackupError(f"the archive lacks the rows of table {table}")
        if table not in manifest.columns:
            raise BackupError(f"the manifest lacks the columns of table {table}")
        with open(path, "rb") as handle:
            counts[table] = sum(1 for _ in handle)
    _compare_counts(manifest, counts)


def _compare_counts(manifest: Manifest, counts: Mapping[str, int]) -> None:
    for table, expected in manifest.tables.items():
        if table not in counts:
            raise BackupError(f"table {table} of the manifest is missing from the archive")
        if counts[table] != expected:
            raise _mismatch(table, counts[table], expected)
    extra = sorted(set(counts) - set(manifest.tables))
    if extra:
        raise BackupError(f"the archive holds table {extra[0]}, which its manifest omits")


def _refuse_backend(manifest: Manifest, engine: Engine) -> None:
    if manifest.method == "pg_dump" and engine.dialect.name != "postgresql":
        raise BackupError(
            "this backup is a pg_dump: it restores only into PostgreSQL. To move "
            "to SQLite, take the backup with `pilotmon backup --method logical`"
        )


def _restore_database(
    *,
    engine: Engine,
    extracted: ExtractedArchive,
    workdir: Path,
    progress: Progress,
    interrupt: _DeferredInterrupt,
) -> tuple[bool, ResultRefresh | None]:
    """Put the database back, in one transaction: when this returns, it is committed.
    Returns whether the migration to the latest schema is still to do (a native restore:
    ``_upgrade_restored``), and the rebuild the migrations asked for when the rows went in and
    were migrated in that transaction (or None)."""
    manifest = extracted.manifest
    backend = engine.dialect.name
    progress.step(f"restoring the database ({manifest.method} backup into {backend})")
    interrupt.check()
    if manifest.method == "sqlite" and backend == "sqlite":
        path = _member_path(extracted, SQLITE_MEMBER)
        assert path is not None
        _restore_sqlite_file(engine=engine, source=path, progress=progress, interrupt=interrupt)
        return True, None
    if manifest.method == "pg_dump":
        path = _member_path(extracted, PG_DUMP_MEMBER)
        assert path is not None
        _restore_pg_dump(
            engine=engine, dump=path, manifest=manifest, workdir=workdir, interrupt=interrupt
        )
        return True, None
    if manifest.method == "sqlite":
        path = _member_path(extracted, SQLITE_MEMBER)
        assert path is not None
        with _rows_from_sqlite(path) as rows:
            return False, _restore_rows(
                engine=engine, manifest=manifest, progress=progress, rows=rows, interrupt=interrupt
            )
    return False, _restore_rows(
        engine=engine,
        manifest=manifest,
        progress=progress,
        rows=_rows_from_json_lines(extracted),
        interrupt=interrupt,
    )


def _upgrade_restored(
    *, engine: Engine, previous: Path | None, interrupt: _DeferredInterrupt
) -> tuple[str | None, ResultRefresh | None]:
    """After a native restore (committed, photos in place): migrate an older archive to the
    latest schema, in one transaction that Ctrl-C rolls back. Returns (the archive's revision,
    the rebuild), or (None, None) when it is the latest already."""
    before = current_revision(engine)
    if before == head_revision():
        return None, None
    if interrupt.requested:
        raise RestoreInterrupted(
            "interrupted as the restore committed: the backup is restored, photos included, "
            f"but its schema is still at revision {before}: run `pilotmon init-db`"
            + _kept(previous)
        )
    try:
        with interrupt.raising():
            _, _, rebuilt = upgrade_and_rebuild(engine, lock_timeout_s=LOCK_TIMEOUT_S)
    except DatabaseBusy as exc:
        raise _restored_not_upgraded(before, previous) from exc
    except KeyboardInterrupt as exc:
        # Its one transaction rolled back, unless Ctrl-C came as it committed: ask.
        if current_revision(engine) == head_revision():
            raise RestoreInterrupted(
                "interrupted after the restore and its schema upgrade committed: the backup "
                "is restored whole, photos included" + _kept(previous)
            ) from exc
        raise RestoreInterrupted(
            "interrupted during the schema upgrade, which was rolled back: the backup is "
            f"restored, photos included, at its older revision {before}: run "
            "`pilotmon init-db`" + _kept(previous)
        ) from exc
    return before, rebuilt


def _kept(previous: Path | None) -> str:
    return f"; the photos that were in place are kept in {previous}" if previous else ""


def _restored_not_upgraded(revision: str | None, previous: Path | None) -> BackupError:
    return BackupError(
        f"the database is in use by another process (it kept a lock for {LOCK_TIMEOUT_S:g} s):"
        " the backup is restored, photos included, but its schema is still at revision "
        f"{revision}: stop `pilotmon serve` and `pilotmon scheduler`, then run "
        "`pilotmon init-db`" + _kept(previous)
    )


def _moved(manifest: Manifest) -> str | None:
    return manifest.schema_revision if manifest.schema_revision != head_revision() else None


def _restore_sqlite_file(
    *, engine: Engine, source: Path, progress: Progress, interrupt: _DeferredInterrupt
) -> None:
    """Copy the checked file ``source`` (``_check_sqlite_copy``: its row counts are the
    manifest's) into the target with SQLite's backup API: page by page in one write
    transaction on the target, committed in the step that copies the last page. Ctrl-C, or a
    write lock another process holds for more than ``LOCK_TIMEOUT_S``, stops it between steps,
    rolled back."""
    target_path = sqlite_path(engine)
    engine.dispose()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target_path, timeout=LOCK_TIMEOUT_S)
    copied: int | None = None

    def step(status: int, remaining: int, total: int) -> None:
        nonlocal copied
        if status == sqlite3.SQLITE_DONE:
            return  # committed with the last page
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _database_in_use()  # the target's busy handler waited LOCK_TIMEOUT_S
        interrupt.check()
        if copied is None:
            progress.start("restoring database pages", total)
            copied = 0
        progress.advance(total - remaining - copied)
        copied = total - remaining

    try:
        interrupt.check()
        src.backup(dst, pages=SQLITE_STEP_PAGES, progress=step)
    except sqlite3.Error as exc:
        raise BackupError(f"restoring into {target_path} failed: {exc}") from exc
    finally:
        progress.finish()
        dst.close()
        src.close()


def _compare_restored(manifest: Manifest, counts: Mapping[str, int]) -> None:
    for table, expected in manifest.tables.items():
        if counts.get(table) != expected:
            raise BackupError(
                f"after restoring, table {table} has {counts.get(table)} rows instead of {expected}"
            )


def _restore_pg_dump(
    *,
    engine: Engine,
    dump: Path,
    manifest: Manifest,
    workdir: Path,
    interrupt: _DeferredInterrupt,
) -> None:
    schema = manifest.pg_schema or "public"
    body = workdir / "pg_restore.sql"
    pgtools.run(
        "pg_restore", ["--no-owner", "--no-privileges", f"--file={body}", str(dump)], engine=engine
    )
    with engine.connect() as conn:
        existing = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                {"schema": schema},
            )
        ]
    quote = engine.dialect.identifier_preparer.quote_identifier
    script = workdir / "restore.sql"
    with open(script, "w", encoding="utf-8") as out:
        out.write("SET client_min_messages = warning;\n")
        # Before the DROP, which locks every existing table (pg_restore's body then sets
        # lock_timeout = 0, once they are all ours).
        out.write(f"{_lock_timeout_sql()};\n")
        if existing:
            names = ", ".join(f"{quote(schema)}.{quote(t)}" for t in existing)
            out.write(f"DROP TABLE IF EXISTS {names} CASCADE;\n")
        with open(body, encoding="utf-8") as restore_sql:
            shutil.copyfileobj(restore_sql, out)
        out.write("\n" + _count_check_sql(manifest, schema, quote) + "\n")
    interrupt.check()
    # One transaction: the old tables are dropped only if the whole dump loads and the counts
    # match; any error rolls everything back. psql exits 0 only once its COMMIT succeeded.
    # (Ctrl-C at a terminal reaches psql too: it cancels, and the transaction rolls back.)
    try:
        pgtools.run(
            "psql",
            [
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--file={script}",
            ],
            engine=engine,
        )
    except BackupError as exc:
        if "lock timeout" in exc.message:
            raise _database_in_use() from exc
        raise


def _count_check_sql(manifest: Manifest, schema: str, quote: Callable[[str], str]) -> str:
    # Names were checked against _IDENTIFIER and are quoted; counts are ints.
    lines = ["DO $pilotmon$", "DECLARE n bigint; rev text;", "BEGIN"]
    for table, expected in manifest.tables.items():
        lines.append(f"  SELECT count(*) INTO n FROM {quote(schema)}.{quote(table)};")  # noqa: S608
        lines.append(
            f"  IF n <> {int(expected)} THEN RAISE EXCEPTION "
            f"'table {table} has %% rows after restore; the manifest says "
            f"{int(expected)}', n; END IF;"
        )
    lines.append(f"  SELECT version_num INTO rev FROM {quote(schema)}.alembic_version;")  # noqa: S608
    lines.append(
        f"  IF rev IS DISTINCT FROM '{manifest.schema_revision}' THEN RAISE EXCEPTION "
        "'restored schema revision % differs from the manifest', rev; END IF;"
    )
    lines += ["END", "$pilotmon$;"]
    return "\n".join(lines).replace("%%", "%")


def _rows_from_json_lines(extracted: ExtractedArchive) -> RowSource:
    def rows(table: sa.Table, columns: list[str]) -> Iterator[Mapping[str, Any]]:
        path = _member_path(extracted, f"{TABLES_DIR}/{table.name}.jsonl")
        assert path is not None
        decode = decoders(table, columns)
        for record in read_json_lines(path):
            yield {name: decode[name](record.get(name)) for name in columns}

    return rows


@contextmanager
def _rows_from_sqlite(path: Path) -> Iterator[RowSource]:
    source = sa.create_engine(f"sqlite:///{path}")
    try:
        with source.connect() as conn:
            tables = {t.name: t for t in data_tables(conn)}

            def rows(table: sa.Table, columns: list[str]) -> Iterator[Mapping[str, Any]]:
                source_table = tables[table.name]
                query = sa.select(*(source_table.c[c] for c in columns)).order_by(
                    *(list(source_table.primary_key.columns) or list(source_table.columns))
                )
                for row in conn.execute(query):
                    yield {name: _utc(value) for name, value in zip(columns, row, strict=True)}

            yield rows
    finally:
        source.dispose()


def _utc(value: Any) -> Any:
    # SQLite hands back naive datetimes; PostgreSQL would read them in its session time zone.
    return as_utc(value) if isinstance(value, datetime) else value


def _restore_rows(
    *,
    engine: Engine,
    manifest: Manifest,
    progress: Progress,
    rows: RowSource,
    interrupt: _DeferredInterrupt,
) -> ResultRefresh | None:
    """Rebuild the schema at the archive's revision, insert every row, migrate and rebuild
    what the migrations ask for: one transaction, committed when this returns. Returns that
    rebuild's figures (or None)."""
    columns = _columns_of(manifest)
    progress.start("restoring rows", manifest.total_rows)
    try:
        # Each lock another process holds (on SQLite, the write lock, which a server or the
        # scheduler takes for every write) is waited for LOCK_TIMEOUT_S, not the engine's 30 s.
        with bounded_transaction(engine, LOCK_TIMEOUT_S) as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            _drop_every_table(conn)
            _migrate(conn, str(manifest.schema_revision))
            target = {t.name: t for t in data_tables(conn)}
            missing = sorted(set(manifest.tables) - set(target))
            if missing:
                raise BackupError(
                    f"table {missing[0]} of the backup does not exist at "
                    f"schema revision {manifest.schema_revision}"
                )
            for table in target.values():
                if table.name in manifest.tables:
                    _insert_table(conn, table, columns[table.name], rows, progress, interrupt)
            _compare_restored(manifest, count_rows(conn, list(target.values())))
            _reset_sequences(conn, list(target.values()))
            interrupt.check()
            _migrate(conn, "head")
            interrupt.check()
            rebuilt = rebuild_in(conn, manifest.schema_revision, head_revision())
            interrupt.check()  # the last moment it can still roll back
        return rebuilt
    except DatabaseBusy as exc:
        raise _database_in_use() from exc
    finally:
        progress.finish()


def _columns_of(manifest: Manifest) -> dict[str, list[str]]:
    if manifest.method == "logical":
        return manifest.columns
    # A SQLite snapshot: every column of the table, as the copy has them.
    return {table: [] for table in manifest.tables}


def _insert_table(
    conn: Connection,
    table: sa.Table,
    columns: list[str],
    rows: RowSource,
    progress: Progress,
    interrupt: _DeferredInterrupt,
) -> None:
    names = columns or [c.name for c in table.columns]
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise BackupError(
            f"column {table.name}.{unknown[0]} of the backup does not exist in the restored schema"
        )
    target = sa.Table(table.name, sa.MetaData(), *(sa.Column(n, table.c[n].type) for n in names))
    batch: list[Mapping[str, Any]] = []
    for row in rows(table, names):
        batch.append(row)
        if len(batch) >= INSERT_BATCH:
            interrupt.check()
            conn.execute(target.insert(), batch)
            progress.advance(len(batch))
            batch = []
    if batch:
        conn.execute(target.insert(), batch)
        progress.advance(len(batch))


def _drop_every_table(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        names = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ]
        if names:
            quote = conn.dialect.identifier_preparer.quote_identifier
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {', '.join(map(quote, names))} CASCADE")
        return
    existing = sa.MetaData()
    existing.reflect(bind=conn)
    for table in reversed(existing.sorted_tables):
        table.drop(conn)


def _migrate(conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def _reset_sequences(conn: Connection, tables: list[sa.Table]) -> None:
    """After explicit ids went in, PostgreSQL's sequences must continue above them."""
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer.quote_identifier
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, sa.Integer):
            continue
        column = keys[0].name
        sequence = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": quote(table.name), "c": column}
        ).scalar()
        if sequence is None:
            continue
        conn.execute(
            sa.text(
                f"SELECT setval(:s, COALESCE((SELECT MAX({quote(column)}) FROM "  # noqa: S608
                f"{quote(table.name)}), 0) + 1, false)"
            ),
            {"s": sequence},
        )


@dataclass
class _MovedPhotos:
    """What ``_put_attachments_in_place`` did, for ``_take_attachments_back``."""

    live: Path  # the attachments folder, now holding the backup's photos
    staged: Path  # where they came from
    previous: Path | None  # the photos that were in place (force), kept aside
    emptied: Path | None  # a folder without photos that was in place, kept in staging


def _put_attachments_in_place(*, settings: Settings, staged: Path, aside: Path) -> _MovedPhotos:
    """The backup's photos into place, by renames (quick, in one file system): those already
    there (``force``) go aside; a folder without photos goes into ``aside`` (the staging
    folder, deleted with it)."""
    live = settings.attachments_dir
    previous: Path | None = None
    emptied: Path | None = None
    try:
        if _has_files(live):
            stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
            previous = live.with_name(f"{live.name}.before-restore-{stamp}")
            live.rename(previous)
        elif live.exists() or live.is_symlink():
            emptied = aside / "attachments-before"
            live.rename(emptied)
        try:
            staged.rename(live)
        except OSError:
            _restore_previous(live, previous, emptied)
            raise
    except OSError as exc:
        raise BackupError(
            f"cannot move the photos into place in {live} ({exc.strerror or exc}): "
            f"{NOTHING_RESTORED}"
        ) from exc
    return _MovedPhotos(live=live, staged=staged, previous=previous, emptied=emptied)


def _take_attachments_back(moved: _MovedPhotos) -> None:
    """Undo ``_put_attachments_in_place``: the database did not commit."""
    try:
        moved.live.rename(moved.staged)
        _restore_previous(moved.live, moved.previous, moved.emptied)
    except OSError as exc:
        raise BackupError(
            f"the database was not restored, but the photos could not be moved back "
            f"({exc.strerror or exc}): the backup's photos are in {moved.live} or "
            f"{moved.staged}, the previous ones in {moved.previous or moved.emptied}"
        ) from exc


def _restore_previous(live: Path, previous: Path | None, emptied: Path | None) -> None:
    if previous is not None:
        previous.rename(live)
    elif emptied is not None:
        emptied.rename(live)
