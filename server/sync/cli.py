"""``pilotmon import-bundle FILE``: apply an offline bundle from a tablet (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

import click

from server.config import get_settings


def _file_name(_ctx: click.Context, param: click.Parameter, value: str) -> Path:
    if not value.strip():
        raise click.BadParameter("the file name is empty", param=param)
    return Path(value)


# A FILE that does not exist or is a folder is a bad file (exit code 1, as for `restore`), not
# a usage error: the command says so itself, rather than click.Path(exists=True).
@click.command("import-bundle")
@click.argument("file", type=click.Path(), callback=_file_name)
@click.option(
    "--as",
    "importer",
    metavar="USER",
    help="Import as this admin or country officer (checked against the tablet's person, and "
    "written in the audit log); without it, as the server operator.",
)
@click.option(
    "--allow-revoked",
    is_flag=True,
    help="Apply the bundle even though its tablet was revoked (keeps its records).",
)
def import_bundle_command(file: Path, importer: str | None, allow_revoked: bool) -> None:
    """Apply an offline bundle exported on a tablet: all of it or, if anything in it is
    wrong, nothing (exactly once: safe to run twice)."""
    from server.db import get_engine
    from server.sync.bundle import import_bundle

    if not file.is_file():
        raise click.ClickException(f"{file} does not exist or is not a file")
    settings = get_settings()
    settings.ensure_data_dir()
    report = import_bundle(
        get_engine(settings),
        path=file,
        settings=settings,
        importer=importer,
        allow_revoked=allow_revoked,
    )
    click.echo(report.summary())
