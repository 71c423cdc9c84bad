"""``pilotmon demo``: load the demo world into the configured database and print the logins."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click

from server.demo.world import DEFAULT_SEED, SIZES, World

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # the type click.progressbar returns

URL = "http://127.0.0.1:8000"
PROGRESS_FROM = 10_000  # activities; smaller loads take a few seconds


@click.command("demo")
@click.option(
    "--size",
    type=click.Choice(list(SIZES)),
    default="small",
    show_default=True,
    help="small: about 3k activities; large: about 100k activities and 1M "
    "attendance rows (for benchmarks); tiny: 200 (for tests).",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="The same seed draws the same world.",
)
@click.option(
    "--keep-passwords",
    is_flag=True,
    help="When the demo world is already loaded, leave the passwords alone and print no logins.",
)
def demo(size: str, seed: int, keep_passwords: bool) -> None:
    """Load a realistic demo world and print the logins.

    Sixteen CPP and DAA projects from the seed documents (OCOP potato in Lesotho, banana in
    Malawi, cocoa in Trinidad and Tobago, hermetic storage in Nigeria, solar irrigation in
    Kenya, ...) in all six WFP regions, with sites, targets, users of every role and
    activities with attendance. Run `pilotmon init-db` first.

    Running it again adds nothing (an interrupted load is completed) and issues NEW passwords
    for the demo users, printed like the first ones: passwords are stored only as hashes, so
    the last printed ones are the ones that work. --keep-passwords leaves them alone.
    """
    from server.columns import utcnow
    from server.config import get_settings
    from server.db import get_engine
    from server.demo.load import load_demo
    from server.records.receipts import current_signer

    settings = get_settings()
    engine = get_engine(settings)
    with ExitStack() as stack:
        bar: ProgressBar[int] | None = None

        def on_plan(world: World, missing: int) -> None:
            nonlocal bar
            if missing >= PROGRESS_FROM:
                bar = stack.enter_context(
                    click.progressbar(
                        length=missing,
                        label=f"Loading {missing} activities",
                        file=sys.stderr,
                        show_pos=True,
                        show_eta=True,
                    )
                )

        def progress(count: int) -> None:
            if bar is not None:
                bar.update(count)

        report = load_demo(
            engine,
            seed=seed,
            size=size,
            today=utcnow().date(),
            reset_passwords=not keep_passwords,
            progress=progress,
            on_plan=on_plan,
            signer=current_signer(settings),  # the demo tablet's pushes get real receipts
        )
    world = (
        f"{report.projects} projects in {report.countries} countries across "
        f"{report.regions} WFP regions, {report.sites} sites, {report.targets} targets, "
        f"{report.participants} roster participants, {report.activities} activities "
        f"({report.attendance_rows} attendance rows), {report.tablets} enrolled tablets"
    )
    if report.created:
        click.echo(
            f"Loaded the demo world (size {report.size}, seed {report.seed}) in "
            f"{report.seconds:.1f} s: {world}."
        )
    else:
        click.echo(
            f"The demo world is already loaded (size {report.size}, seed {report.seed}): {world}."
        )
        if report.resumed:
            click.echo(
                f"Completed an interrupted load: {report.activities_added} activities added."
            )
        else:
            click.echo("Nothing was added.")
        if (size, seed) != (report.size, report.seed):
            click.echo(
                f"--size {size} --seed {seed} ignored: this database keeps the world it "
                "has; load another into a fresh database (set PILOTMON_DATA_DIR or "
                "PILOTMON_DATABASE_URL)."
            )
    if report.observations_added or report.result_targets_added:
        click.echo(
            f"Results: {report.observations_added} observations, "
            f"{report.result_targets_added} baselines and result targets added."
        )
    if report.missing_forms:
        click.echo(
            "Forms not published in this database, so without demo observations: "
            + ", ".join(report.missing_forms)
            + " (pilotmon init-db publishes the shipped forms)."
        )
    if report.logins:
        title = "Logins" if report.created else "New passwords for the demo users"
        click.echo(f"\n{title} (shown only now; run `pilotmon demo` again for new ones):\n")
        click.echo(
            _table(
                [
                    ("username", "role", "scope", "password"),
                    *((x.username, x.role, x.scope, x.password) for x in report.logins),
                ]
            )
        )
    elif not report.created:
        click.echo(
            "Passwords unchanged (run `pilotmon demo` without --keep-passwords for new ones)."
        )
    if report.conflict is not None:
        officer, site, expert = report.conflict
        click.echo(
            f"A sync conflict to settle: sign in as {officer} and open Review (the site "
            f"'{site}' was renamed on the dashboard and, offline, on {expert}'s tablet)."
        )
    if report.disabled_users:
        click.echo("Disabled demo users left as they are: " + ", ".join(report.disabled_users))
    click.echo(f"\nDashboard and API: {URL} (`pilotmon serve` starts it).")


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
