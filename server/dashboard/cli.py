"""``pilotmon report``: the quarterly report as a PDF, from the command line (docs/cli.md).

The command runs with the server's own access to the database, like ``backup`` and
``export``: without ``--country``, ``--region`` or ``--thematic-area`` it covers every country.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import User
from server.columns import utcnow
from server.config import get_settings
from server.dashboard import report
from server.dashboard.i18n import LANGUAGES, Translator
from server.db import get_engine
from shared.catalogue import Role

# The steps build_report announces, for the progress lines.
STEPS = ("headline figures", "targets", "charts", "results", "activities")


def _operator() -> Caller:
    """The command line reads as an admin (it holds the database's credentials anyway)."""
    return Caller(user=User(username="pilotmon report", role=Role.ADMIN, password_hash=""))


@click.command("report")
@click.option("--quarter", required=True, help="The quarter, e.g. 2026Q3.")
@click.option("--country", default="", help="ISO 3166-1 alpha-3 code; all countries without it.")
@click.option("--region", default="", help="A WFP region code instead of a country.")
@click.option("--thematic-area", "thematic_area", default="", help="TA1 to TA4 instead.")
@click.option(
    "--lang",
    type=click.Choice(list(LANGUAGES)),
    default="en",
    show_default=True,
    help="The report's language.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PDF file to write.",
)
def report_command(
    quarter: str, country: str, region: str, thematic_area: str, lang: str, out: Path
) -> None:
    """Write the quarterly report of a country (or of everything) as a PDF."""
    caller = _operator()
    label = report.report_quarter(quarter, today=utcnow().date())
    scope = report.report_scope(caller, country=country, region=region, thematic_area=thematic_area)
    if not out.parent.is_dir():
        raise click.ClickException(f"cannot write {out}: no folder {out.parent}")
    t = Translator(lang)
    total = len(STEPS) + 1

    def progress(step: str) -> None:
        number = STEPS.index(step) + 1 if step in STEPS else 0
        click.echo(f"[{number}/{total}] {step}", err=True)

    engine = get_engine(get_settings())
    with Session(engine) as session:
        data = report.build_report(
            session,
            caller=caller,
            t=t,
            quarter=label,
            scope=scope,
            now=utcnow(),
            progress=progress,
        )
    click.echo(f"[{total}/{total}] laying out the PDF", err=True)
    pdf = report.render_pdf(data, t)
    partial = out.with_name(out.name + ".part")
    try:
        partial.write_bytes(pdf)
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(
        f"wrote {out} ({len(pdf):,} bytes; {report.scope_title(t, data)}, {label}; "
        f"{data.activities_total} activities)",
        err=True,
    )
