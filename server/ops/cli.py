"""``pilotmon backup FILE`` and ``pilotmon restore FILE``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


class _Bar:
    """Progress on stderr for the long steps: a bar on a terminal; elsewhere (cron, systemd, a
    pipe) a plain line at each step and every ``LOG_EVERY_PERCENT`` %, so that a log shows how
    far a night's backup got."""

    LOG_EVERY_PERCENT = 10

    def __init__(self) -> None:
        self._bar: Any = None
        self._terminal = sys.stderr.isatty()
        self._label = ""
        self._total = 0
        self._done = 0
        self._logged = 0  # the last percentage written to the log

    def step(self, text: str) -> None:
        self.finish()
        click.echo(f"{text} …", err=True)

    def start(self, label: str, total: int) -> None:
        self.finish()
        if total <= 0:
            return
        if self._terminal:
            self._bar = click.progressbar(
                length=total, label=label, file=sys.stderr, show_eta=True, show_percent=True
            )
            self._bar.__enter__()
            return
        self._label, self._total, self._done, self._logged = label, total, 0, 0

    def advance(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.update(nbytes)
        elif self._total:
            self._done = min(self._total, self._done + nbytes)
            percent = self._done * 100 // self._total
            if percent >= self._logged + self.LOG_EVERY_PERCENT:
                self._logged = percent - percent % self.LOG_EVERY_PERCENT
                click.echo(f"{self._label}: {self._logged} %", err=True)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        self._total = 0


def _file_name(_ctx: click.Context, param: click.Parameter, value: str) -> Path:
    if not value.strip():  # Path("") is ".": "the file . already exists"
        raise click.BadParameter("the file name is empty", param=param)
    return Path(value)


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} B"


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False), callback=_file_name)
@click.option(
    "--method",
    type=click.Choice(["auto", "native", "logical"]),
    default="auto",
    show_default=True,
    help="native: SQLite's backup API or pg_dump; logical: JSON lines that restore "
    "into either backend; auto: native when possible.",
)
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
def backup(file: Path, method: str, overwrite: bool) -> None:
    """Write a consistent backup of the database and photos to FILE (a .tar.gz)."""
    from server.config import get_settings
    from server.db import get_engine
    from server.ops.backup import create_backup

    settings = get_settings()
    result = create_backup(
        settings=settings,
        engine=get_engine(settings),
        path=file,
        method=method,
        overwrite=overwrite,
        progress=_Bar(),
    )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    manifest = result.manifest
    click.echo(
        f"backup written to {result.path} ({_size(result.size)}): {manifest.method} snapshot "
        f"at schema revision {manifest.schema_revision}, {manifest.total_rows} rows in "
        f"{len(manifest.tables)} tables, {len(manifest.attachment_files)} photo files"
    )
    click.echo(
        "it holds no secret: keep PILOTMON_SECRET_KEY with your backups (tablets' offline "
        "bundles are checked with it); the receipt key stays in the data directory"
    )


@click.command("restore")
# A FILE that does not exist or is a folder is a bad file, exit code 1 (restore_backup says so).
@click.argument("file", type=click.Path(), callback=_file_name)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a database that already holds data (and the photos in place).",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Only verify the archive (hashes, sizes, row counts); change nothing.",
)
def restore(file: Path, force: bool, check_only: bool) -> None:
    """Verify the backup FILE, then restore its database and photos.

    Stop the server and the scheduler first. The target database must be empty unless
    --force is given.
    """
    import shutil
    import tempfile

    from server.config import get_settings
    from server.db import get_engine
    from server.ops.archive import BackupError
    from server.ops.restore import restore_backup, verify_backup

    settings = get_settings()
    if check_only:
        if not file.is_file():
            raise BackupError(f"{file} does not exist or is not a file")
        settings.ensure_data_dir()
        workdir = Path(tempfile.mkdtemp(dir=settings.data_dir, prefix=".verify-"))
        try:
            manifest = verify_backup(archive=file, workdir=workdir, progress=_Bar()).manifest
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        click.echo(
            f"{file} is intact: {manifest.method} backup of {manifest.created_at}, "
            f"schema revision {manifest.schema_revision}, {manifest.total_rows} rows, "
            f"{len(manifest.attachment_files)} photo files"
        )
        return
    result = restore_backup(
        settings=settings, engine=get_engine(settings), archive=file, force=force, progress=_Bar()
    )
    manifest = result.manifest
    click.echo(
        f"restored {manifest.total_rows} rows in {len(manifest.tables)} tables and "
        f"{result.attachments} photo files from {file} (taken {manifest.created_at})"
    )
    if result.migrated_from:
        click.echo(f"migrated the schema from revision {result.migrated_from} to {result.revision}")
    if result.rebuilt is not None:
        click.echo(
            f"result indicators rebuilt for their new storage from {result.rebuilt.observations} "
            "observations"
        )
    if result.previous_attachments:
        click.echo(f"the photos that were in place are kept in {result.previous_attachments}")
