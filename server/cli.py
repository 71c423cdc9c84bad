"""The ``pilotmon`` command line (docs/cli.md).

Every user mistake ends as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, OperationalError

# Every table mapped before any command runs: a command that writes one table flushes through
# the ORM, which must resolve every foreign key of the tables it knows (attachment → observation).
import server.models  # noqa: F401
from server.config import get_settings
from server.errors import DatabaseError, PilotMonitorError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped


# Each domain contributes its commands, by name → "module:attribute". A command's module is
# imported when that command runs (or when ``--help`` lists them all), so that a command does
# not pay for the others': the report's PDF stack and the forms' XLSForm reader alone take
# about 1.5 s to import. The tablet app's command imports Kivy only when it runs.
DOMAIN_COMMANDS: dict[str, str] = {
    "users": "server.accounts.cli:users",
    "devices": "server.accounts.cli:devices",
    "backup": "server.ops.cli:backup",
    "restore": "server.ops.cli:restore",
    "forms": "server.results.cli:forms",
    "demo": "server.demo.cli:demo",
    "import-bundle": "server.sync.cli:import_bundle_command",
    "receipts": "server.receipts.cli:receipts",
    "pull": "server.hqclient.cli:pull",
    "jobs": "server.jobs.cli:jobs",
    "scheduler": "server.jobs.cli:scheduler",
    "report": "server.dashboard.cli:report_command",
    "field": "field_app.cli:field",
}

# The commands that work only on a database `pilotmon init-db` made (each of their
# subcommands). On SQLite, one whose file does not exist stops before it connects, which would
# leave an empty database file (and the data directory) behind. `init-db` and `restore` make
# the database; `pull` and `field` use none of the server's.
NEEDS_DATABASE = frozenset(
    {
        "backup",
        "demo",
        "devices",
        "forms",
        "import-bundle",
        "jobs",
        "receipts",
        "report",
        "scheduler",
        "serve",
        "users",
    }
)


class Interrupted(Exception):
    """Ctrl-C (KeyboardInterrupt) while a command ran: ``main`` says so and exits 130.

    Raised in place of the KeyboardInterrupt by ``Commands.invoke`` so that click's own
    handling (a blank line, then ``Abort``) does not turn it into "aborted", exit code 1."""


class Commands(click.Group):
    """The ``pilotmon`` group: its own commands, and the domains' (``DOMAIN_COMMANDS``) loaded
    on first use (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *DOMAIN_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in DOMAIN_COMMANDS:
            return found
        module, attribute = DOMAIN_COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, cmd_name
        if cmd_name in NEEDS_DATABASE:
            _check_database_first(command)
        self.add_command(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise Interrupted from exc


def _check_database_first(command: click.Command) -> None:
    """Make each subcommand of ``command`` (or ``command`` itself) refuse a SQLite database
    file that does not exist, once its arguments are read and before it does anything else."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _check_database_first(sub)
    elif command.callback is not None and not getattr(command.callback, "needs_database", False):
        command.callback = _needs_database(command.callback)


def _needs_database(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _refuse_missing_sqlite_file()
        return callback(*args, **kwargs)

    checked.needs_database = True  # type: ignore[attr-defined]
    return checked


def _refuse_missing_sqlite_file() -> None:
    from server.db import database_url

    settings = get_settings()
    if not settings.is_sqlite:
        return
    url = database_url(settings.resolved_database_url)
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:") or url.query.get("uri"):
        return
    if not Path(name).exists():
        raise DatabaseError(f"there is no database at {name}: run `pilotmon init-db` first")


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pilot-monitor", prog_name="pilotmon")
def cli() -> None:
    """Pilot Monitor: offline-first monitoring of agricultural pilot projects."""


@cli.command("init-db")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=5.0,  # as a restore's upgrade (server.ops.restore.LOCK_TIMEOUT_S)
    show_default=True,
    metavar="SECONDS",
    help="Give up (changing nothing) when a lock another process holds (a running server or "
    "scheduler) is not free within this time.",
)
def init_db(lock_timeout: float) -> None:
    """Create or migrate the database to the latest schema."""
    from sqlalchemy import Connection
    from sqlmodel import Session

    from server.db import get_engine
    from server.errors import DatabaseBusy
    from server.migrate import upgrade
    from server.receipts.cli import ensure_key
    from server.results.forms import ensure_shipped_forms
    from server.results.shipped import SHIPPED_FORMS
    from server.results.upgrade import rebuild_in

    settings = get_settings()
    engine = get_engine(settings)
    lines: list[str] = []

    def finish(conn: Connection, before: str | None, after: str) -> None:
        # In the upgrade's transaction: the schema, its rebuilds, the receipt key and the
        # shipped forms (docs/results.md#shipped-forms) go in together, or none of them.
        rebuilt = rebuild_in(conn, before, after)
        if rebuilt is not None:
            lines.append(
                f"result indicators rebuilt for their new storage from {rebuilt.observations} "
                "observations"
            )
        with Session(bind=conn) as session:
            lines.append(ensure_key(session))
            lines.extend(f"form {line}" for line in ensure_shipped_forms(session, SHIPPED_FORMS))
            session.commit()

    try:
        before, after = upgrade(engine, lock_timeout_s=lock_timeout, then=finish)
    except DatabaseBusy as exc:
        raise DatabaseBusy(
            f"{exc.message}: nothing was changed; stop `pilotmon serve` and `pilotmon "
            "scheduler` (or raise --lock-timeout), then run `pilotmon init-db` again"
        ) from exc
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"database {where} is up to date (revision {after})")
    else:
        click.echo(f"database {where} migrated from {before or 'empty'} to revision {after}")
    for line in lines:
        click.echo(line)


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
    from server.migrate import require_current_schema
    from server.records.receipts import current_signer
    from server.serving import run_server

    _refuse_missing_sqlite_file()
    settings = get_settings()
    require_current_schema(get_engine(settings))
    # Photos land in the data directory: on PostgreSQL nothing else would notice a read-only
    # one before a tablet's first upload failed.
    settings.ensure_data_dir()
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
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        # What the application connects at start-up (imported here, like the commands'
        # modules, so that `pilotmon --help` stays quick).
        from server.wiring import install

        install()
        cli.main(args=args, prog_name="pilotmon", standalone_mode=False)
    except Interrupted:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except click.exceptions.Abort as exc:
        if _by_ctrl_c(exc):  # at a prompt, or while click read the arguments
            return _fail("interrupted", EXIT_INTERRUPTED)
        # A prompt that met the end of its input (stdin closed, Ctrl-D).
        return _fail("aborted", 1)
    except click.UsageError as exc:
        # click's parser raises some (an option given without its value) without a context.
        path = exc.ctx.command_path if exc.ctx else _command_path(args)
        return _fail(f"{exc.format_message()} (see `{path} --help`)", EXIT_USAGE)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except PilotMonitorError as exc:
        return _fail(exc.message, exc.exit_code)
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) and _is_lock_timeout(exc):
            return _fail(LOCKED, 1)
        return _fail(_database_problem(exc), DatabaseError.exit_code)
    except KeyboardInterrupt:  # before click took over (start-up)
        return _fail("interrupted", EXIT_INTERRUPTED)
    return 0


# A lock another process held (SQLite's "database is locked" after its busy timeout,
# PostgreSQL's lock_timeout) is not an unreachable database: the command may simply run again.
LOCKED = (
    "the database is busy: another pilotmon command or the server held its write lock too "
    "long, and this command stopped; try again once it is done"
)


def _is_lock_timeout(exc: OperationalError) -> bool:
    from server.db import is_lock_timeout

    return is_lock_timeout(exc)


def _fail(message: str, code: int) -> int:
    """``pilotmon: MESSAGE`` on stderr; returns ``code``."""
    # After Ctrl-C a terminal shows "^C" where the cursor was (after a progress bar, say):
    # the line starts on a fresh one there. Elsewhere (a log, a pipe) it is one line.
    lead = "\n" if code == EXIT_INTERRUPTED and sys.stderr.isatty() else ""
    click.echo(f"{lead}pilotmon: {message}", err=True)
    return code


def _by_ctrl_c(exc: BaseException) -> bool:
    return isinstance(exc.__cause__, KeyboardInterrupt) or isinstance(
        exc.__context__, KeyboardInterrupt
    )


def _command_path(args: Sequence[str]) -> str:
    """``pilotmon SUBCOMMAND …`` as far as ``args`` name commands."""
    words = ["pilotmon"]
    command: click.Command = cli
    try:
        with click.Context(cli, info_name="pilotmon", resilient_parsing=True) as ctx:
            for arg in args:
                if not isinstance(command, click.Group):
                    break
                if arg.startswith("-"):
                    continue
                found = command.get_command(ctx, arg)
                if found is None:
                    break
                command = found
                words.append(arg)
    except Exception:  # noqa: BLE001 - a hint is not worth a traceback
        return "pilotmon"
    return " ".join(words)


if __name__ == "__main__":
    sys.exit(main())
