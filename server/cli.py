"""The ``pilotmon`` command line (docs/cli.md).

Every user mistake ends as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from sqlalchemy.exc import DBAPIError

# Every table mapped before any command runs: a command that writes one table flushes through
# the ORM, which must resolve every foreign key of the tables it knows (attachment → observation).
import server.models  # noqa: F401
from server.config import get_settings
from server.errors import DatabaseError, PilotMonitorError

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pilot-monitor", prog_name="pilotmon")
def cli() -> None:
    """Pilot Monitor: offline-first monitoring of agricultural pilot projects."""


@cli.command("init-db")
def init_db() -> None:
    """Create or migrate the database to the latest schema."""
    from server.db import get_engine
    from server.migrate import upgrade
    from server.receipts.cli import ensure_key

    settings = get_settings()
    engine = get_engine(settings)
    before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"database {where} is up to date (revision {after})")
    else:
        click.echo(f"database {where} migrated from {before or 'empty'} to revision {after}")
    from server.results.upgrade import rebuild_after_upgrade

    rebuilt = rebuild_after_upgrade(engine, before, after)
    if rebuilt is not None:
        click.echo(
            f"result indicators rebuilt for their new storage from {rebuilt.observations} "
            "observations"
        )
    click.echo(ensure_key())
    # The shipped forms (docs/results.md#shipped-forms): published once, again when changed.
    from server.db import session_scope
    from server.results.forms import ensure_shipped_forms
    from server.results.shipped import SHIPPED_FORMS

    with session_scope(engine) as session:
        for line in ensure_shipped_forms(session, SHIPPED_FORMS):
            click.echo(f"form {line}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (use PostgreSQL for more than one).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the API and the dashboard."""
    from server.db import get_engine
    from server.health.service import database_health
    from server.records.receipts import current_signer
    from server.serving import run_server

    settings = get_settings()
    schema = database_health(engine=get_engine(settings))
    if not schema["up_to_date"]:
        raise click.ClickException("the database schema is behind: run `pilotmon init-db` first")
    current_signer(settings)  # a receipt key that cannot be read or made stops it here
    if workers > 1 and settings.is_sqlite:
        click.echo(
            "note: several workers on SQLite share one writer; PostgreSQL scales better", err=True
        )
    run_server(
        "server.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


def _register_optional_commands() -> None:
    # Each domain contributes its commands; imported here so `pilotmon --help` lists them all.
    from server.accounts.cli import devices, users

    cli.add_command(users)
    cli.add_command(devices)

    from server.ops.cli import backup, restore

    cli.add_command(backup)
    cli.add_command(restore)

    from server.demo.cli import demo
    from server.results.cli import forms

    cli.add_command(forms)

    cli.add_command(demo)

    from server.sync.cli import import_bundle_command

    cli.add_command(import_bundle_command)

    from server.receipts.cli import receipts

    cli.add_command(receipts)

    from server.hqclient.cli import pull
    from server.jobs.cli import jobs, scheduler

    cli.add_command(pull)
    cli.add_command(jobs)
    cli.add_command(scheduler)

    from server.dashboard.cli import report_command

    cli.add_command(report_command)

    # The tablet app's command; field_app.cli imports Kivy only when the command runs.
    from field_app.cli import field

    cli.add_command(field)


def _database_problem(exc: DBAPIError) -> str:
    """One line for a database that refused a command: most often one that init-db never made."""
    from server.config import get_settings
    from server.db import check_reachable, get_engine
    from server.migrate import schema_status

    try:
        engine = get_engine(get_settings())
        # A database that is down or at a wrong address has no readable schema either: say
        # that it cannot be reached, not to run init-db (which would fail the same way).
        check_reachable(engine)
        status = schema_status(engine)
    except DatabaseError as unreachable:
        return unreachable.message
    except Exception:  # noqa: BLE001 - the original error is the one worth reporting
        status = {"up_to_date": True}
    if not status["up_to_date"]:
        return "the database has no schema or an old one: run `pilotmon init-db` first"
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    return f"the database refused the command: {detail}"


def main(argv: Sequence[str] | None = None) -> int:
    # What the application connects at start-up (imported here, like the commands' modules,
    # so that `pilotmon --help` stays quick).
    from server.wiring import install

    install()
    _register_optional_commands()
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="pilotmon",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        click.echo("pilotmon: aborted", err=True)
        return 1
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"pilotmon: {exc.format_message()}{hint}", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"pilotmon: {exc.format_message()}", err=True)
        return exc.exit_code
    except PilotMonitorError as exc:
        click.echo(f"pilotmon: {exc.message}", err=True)
        return exc.exit_code
    except DBAPIError as exc:
        click.echo(f"pilotmon: {_database_problem(exc)}", err=True)
        return DatabaseError.exit_code
    except KeyboardInterrupt:
        click.echo("pilotmon: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
