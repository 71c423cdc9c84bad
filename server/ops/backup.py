"""``pilotmon backup``: a consistent snapshot of the database and photos while the server runs.

The database is copied first, in one consistent snapshot:

    sqlite    SQLite's online backup API (readers and writers carry on meanwhile)
    pg_dump   PostgreSQL's pg_dump (custom format) inside an exported snapshot, so that the
              manifest's row counts describe exactly the rows in the dump
    logical   every table as JSON lines, parents first, read in one REPEATABLE READ READ ONLY
              transaction; restores into either backend (used when pg_dump is not installed)

Photos are copied after the snapshot: a photo the snapshot knows as complete is already on disk
and never changes, so every one the database mentions is in the archive.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from server import __version__
from server.columns import utcnow
from server.config import Settings
from server.db import check_reachable
from server.errors import DatabaseError
from server.ops import pgtools
from server.ops.archive import (
    ATTACHMENTS_DIR,
    DATABASE_DIR,
    BackupError,
    Manifest,
    NoProgress,
    Progress,
    writing_archive,
)
from server.ops.tables import count_rows, data_tables, encode, schema_revision

SQLITE_MEMBER = f"{DATABASE_DIR}/pilotmon.sqlite3"
PG_DUMP_MEMBER = f"{DATABASE_DIR}/pilotmon.pgdump"
TABLES_DIR = f"{DATABASE_DIR}/tables"
ROWS_PER_FETCH = 2000


@dataclass
class Snapshot:
    method: str
    files: dict[str, Path]  # archive member name -> local file
    tables: dict[str, int]
    revision: str | None
    columns: dict[str, list[str]] = field(default_factory=dict)
    pg_schema: str | None = None


@dataclass
class BackupResult:
    path: Path
    manifest: Manifest
    size: int
    notes: list[str]


def create_backup(
    *,
    settings: Settings,
    engine: Engine,
    path: Path,
    method: str = "auto",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> BackupResult:
    """Write a backup archive to ``path``; ``method`` is auto, native or logical."""
    progress = progress or NoProgress()
    if path.exists() and not overwrite:
        raise BackupError(f"{path} already exists: choose another name or pass --overwrite")
    if not path.parent.is_dir():
        raise BackupError(f"folder {path.parent} does not exist")
    photos_dir = settings.attachments_dir.resolve()
    if photos_dir in path.resolve().parents:
        # The archive (and its temporary copy of the database) would become "photos" of the
        # next backup, and of every server restored from it.
        raise BackupError(
            f"{path} is inside the photo folder {settings.attachments_dir}, which the backup "
            "archives: write it to another folder (docs/deployment.md: /var/backups/pilotmon)"
        )
    _refuse_uninitialised(engine)
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".pilotmon-backup-") as tmp:
            workdir = Path(tmp)
            progress.step(f"taking a {resolve_method(engine, method)} snapshot of the database")
            snapshot = _take_snapshot(engine=engine, workdir=workdir, method=method, notes=notes)
            photos = _attachment_files(settings.attachments_dir)
            total = sum(p.stat().st_size for p in snapshot.files.values())
            total += sum(size for _, size in photos.values())
            manifest = Manifest(
                created_at=utcnow().isoformat(),
                pilotmon_version=__version__,
                schema_revision=snapshot.revision,
                backend=engine.dialect.name,
                method=snapshot.method,
                tables=snapshot.tables,
                columns=snapshot.columns,
                pg_schema=snapshot.pg_schema,
            )
            progress.start("writing backup", total)
            try:
                with writing_archive(path, progress) as archive:
                    for name, local in snapshot.files.items():
                        archive.add_file(name, local)
                    vanished = 0
                    for name, (local, _size) in photos.items():
                        if not archive.add_file(name, local):
                            vanished += 1
                    if vanished:
                        notes.append(
                            f"{vanished} photo file(s) were removed while the backup ran "
                            "(unfinished uploads); they are not in the archive"
                        )
                    archive.close(manifest)
            finally:
                progress.finish()
    except OSError as exc:
        # The temporary copy beside FILE, or the logical export's rows, could not be written:
        # a folder the operator cannot write, a read-only mount, a full disk.
        raise BackupError(_cannot_write(path, exc)) from exc
    return BackupResult(path=path, manifest=manifest, size=path.stat().st_size, notes=notes)


def _refuse_uninitialised(engine: Engine) -> None:
    """A database `pilotmon init-db` never made has nothing to back up (and a restore would
    refuse the archive): say so, as every other command does (exit code 3), before a SQLite
    file is made by connecting to it."""
    if engine.dialect.name == "sqlite":
        source = sqlite_path(engine)
        if not source.is_file():
            raise DatabaseError(f"there is no database at {source}: run `pilotmon init-db` first")
    check_reachable(engine)
    with engine.connect() as conn:
        revision = schema_revision(conn)
    if revision is None:
        raise DatabaseError("the database has no schema: run `pilotmon init-db` first")


def _cannot_write(path: Path, exc: OSError) -> str:
    """One line for a backup stopped by the file system, naming the file it tripped on."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return (
            f"backup {path} failed: {reason} (it needs free space in {path.parent} for one "
            "uncompressed copy of the database and the archive)"
        )
    return f"backup {path} failed: {reason}: {exc.filename or path.parent}"


def _attachment_files(root: Path) -> dict[str, tuple[Path, int]]:
    """Regular files under the attachments folder (symbolic links are not followed)."""
    found: dict[str, tuple[Path, int]] = {}
    if not root.is_dir():
        return found
    for local in sorted(root.rglob("*")):
        if local.is_symlink() or not local.is_file():
            continue
        relative = local.relative_to(root).as_posix()
        found[f"{ATTACHMENTS_DIR}/{relative}"] = (local, local.stat().st_size)
    return found


def resolve_method(engine: Engine, method: str) -> str:
    if method not in ("auto", "native", "logical"):
        raise BackupError(f"unknown backup method {method!r}: use auto, native or logical")
    if method == "logical":
        return "logical"
    if engine.dialect.name == "sqlite":
        return "sqlite"
    if method == "native" or pgtools.have("pg_dump"):
        return "pg_dump"
    return "logical"


def _take_snapshot(*, engine: Engine, workdir: Path, method: str, notes: list[str]) -> Snapshot:
    chosen = resolve_method(engine, method)
    if chosen == "sqlite":
        return _sqlite_snapshot(engine=engine, workdir=workdir)
    if chosen == "pg_dump":
        try:
            return _pg_dump_snapshot(engine=engine, workdir=workdir)
        except BackupError as exc:
            if method == "native":
                raise
            notes.append(f"{exc.message}; wrote a logical export instead")
    return _logical_snapshot(engine=engine, workdir=workdir)


def sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"cannot back up the SQLite database {engine.url}: not a plain file")
    return Path(database)


def _sqlite_snapshot(*, engine: Engine, workdir: Path) -> Snapshot:
    source_path = sqlite_path(engine)
    if not source_path.is_file():
        raise DatabaseError(f"there is no database at {source_path}: run `pilotmon init-db` first")
    target_path = workdir / "pilotmon.sqlite3"
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(target_path)
    try:
        # One step (pages=-1): a consistent copy as of one read transaction; in WAL mode the
        # server's writers carry on meanwhile.
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(
            f"SQLite backup of {source_path} into {workdir.parent} failed: {exc}"
        ) from exc
    finally:
        target.close()
        source.close()
    copy = sa.create_engine(f"sqlite:///{target_path}")
    try:
        with copy.connect() as conn:
            tables = data_tables(conn)
            counts = count_rows(conn, tables)
            revision = schema_revision(conn)
    finally:
        copy.dispose()
    return Snapshot(
        method="sqlite", files={SQLITE_MEMBER: target_path}, tables=counts, revision=revision
    )


def _pg_dump_snapshot(*, engine: Engine, workdir: Path) -> Snapshot:
    target_path = workdir / "pilotmon.pgdump"
    with engine.connect() as base:
        conn = base.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            # Counting inside the snapshot pg_dump uses makes the manifest match the dump.
            snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            tables = data_tables(conn)
            counts = count_rows(conn, tables)
            revision = schema_revision(conn)
            pg_schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            pgtools.run(
                "pg_dump",
                [
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot_id}",
                    f"--file={target_path}",
                ],
                engine=engine,
            )
    return Snapshot(
        method="pg_dump",
        files={PG_DUMP_MEMBER: target_path},
        tables=counts,
        revision=revision,
        pg_schema=str(pg_schema),
    )


def _logical_snapshot(*, engine: Engine, workdir: Path) -> Snapshot:
    (workdir / "tables").mkdir()
    files: dict[str, Path] = {}
    counts: dict[str, int] = {}
    columns: dict[str, list[str]] = {}
    with engine.connect() as base:
        conn = base
        if engine.dialect.name == "postgresql":
            conn = base.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with conn.begin():
            revision = schema_revision(conn)
            for table in data_tables(conn):
                local = workdir / "tables" / f"{table.name}.jsonl"
                names = [c.name for c in table.columns]
                order = list(table.primary_key.columns) or list(table.columns)
                rows = 0
                query = sa.select(table).order_by(*order)
                result = conn.execution_options(yield_per=ROWS_PER_FETCH).execute(query)
                with open(local, "w", encoding="utf-8", newline="\n") as out:
                    for row in result:
                        record = {
                            name: encode(value) for name, value in zip(names, row, strict=True)
                        }
                        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                        out.write("\n")
                        rows += 1
                files[f"{TABLES_DIR}/{table.name}.jsonl"] = local
                counts[table.name] = rows
                columns[table.name] = names
    return Snapshot(
        method="logical", files=files, tables=counts, revision=revision, columns=columns
    )
