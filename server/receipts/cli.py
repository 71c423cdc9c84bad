"""``pilotmon receipts rotate-key`` and ``pilotmon receipts verify FILE`` (docs/cli.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlmodel import Session

from server.config import get_settings
from server.db import get_engine, write_engine
from server.errors import ConfigError
from server.receipts.verify import ReceiptsFileError, read_file, verify_receipts
from server.records.receipts import (
    current_signer,
    key_path,
    published_keys,
    register_key,
    rotate_key,
)

# Files with more receipts than this show a progress bar on a terminal.
PROGRESS_FROM = 500


@click.group("receipts")
def receipts() -> None:
    """Custody receipts: the server's signed statements that it holds a record completely."""


@receipts.command("rotate-key")
def rotate_key_command() -> None:
    """Sign new receipts with a new key; the old public key stays published, so receipts it
    signed still verify. A running server picks the new key up at its next receipt."""
    settings = get_settings()
    with Session(write_engine(get_engine(settings))) as session:
        try:
            old, new = rotate_key(session, settings)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"receipts are now signed by key {new.key_id}; key {old.key_id} is retired")
    click.echo("it stays published in /api/v1/sync/info so the receipts it signed still verify")


@receipts.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def verify_command(file: Path) -> None:
    """Check a tablet's saved receipts (FILE): every signature, and that the server still
    holds each record at that version or later with every photo. One line per problem; exit
    status 1 if there is any."""
    settings = get_settings()
    try:
        device_id, items = read_file(file)
    except ReceiptsFileError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = get_engine(settings)
    with Session(engine) as session:
        published = published_keys(session, settings)
        if len(items) > PROGRESS_FROM and sys.stderr.isatty():
            with click.progressbar(
                length=len(items), label="checking receipts", file=sys.stderr
            ) as bar:
                verdict = verify_receipts(
                    session,
                    receipts=items,
                    published=published,
                    attachments_dir=settings.attachments_dir,
                    device_id=device_id,
                    progress=bar.update,
                )
        else:
            verdict = verify_receipts(
                session,
                receipts=items,
                published=published,
                attachments_dir=settings.attachments_dir,
                device_id=device_id,
            )
    for problem in verdict.problems:
        click.echo(problem)
    summary = verify_summary(
        checked=verdict.checked,
        held=verdict.held,
        deleted_since=verdict.deleted_since,
        problems=len(verdict.problems),
    )
    if verdict.ok:
        click.echo(summary)
        return
    raise click.ClickException(summary)


def verify_summary(*, checked: int, held: int, deleted_since: int, problems: int) -> str:
    """The last line of ``receipts verify``: "1 receipt checked: 1 held by the server, 0
    problems"."""
    since = f" ({deleted_since} deleted since, by a later change)" if deleted_since else ""
    return (
        f"{_count(checked, 'receipt')} checked: {held} held by the server{since}, "
        f"{_count(problems, 'problem')}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def ensure_key(session: Session) -> str:
    """At ``init-db``: make the signing key if there is none and publish it in ``session``'s
    transaction (the caller commits). Returns a line saying which key signs."""
    settings = get_settings()
    signer = current_signer(settings)
    register_key(session, signer)
    where = "PILOTMON_RECEIPT_KEY" if settings.receipt_key else str(key_path(settings))
    return f"receipts are signed by key {signer.key_id} ({where})"
