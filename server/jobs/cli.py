"""``pilotmon scheduler`` and ``pilotmon jobs list|run NAME``."""

from __future__ import annotations

import contextlib
import json

import click

from server.config import get_settings
from server.db import get_engine
from server.jobs.registry import (
    JOBS,
    last_runs,
    lock_held,
    require_job_lock,
    run_job,
    shown_holder,
)
from server.migrate import require_current_schema


@click.command("scheduler")
def scheduler() -> None:
    """Run the scheduled jobs in the foreground (one per deployment)."""
    from server.jobs.scheduler import run_scheduler, running_jobs

    settings = get_settings()
    engine = get_engine(settings)
    require_current_schema(engine)
    require_job_lock(engine)
    settings.ensure_data_dir()  # cleanup-uploads removes abandoned photo uploads there
    click.echo(
        "scheduler running: "
        + ", ".join(f"{j.name} ({j.schedule_text})" for j in JOBS.values())
        + "; Ctrl-C stops it"
    )
    with contextlib.suppress(KeyboardInterrupt, SystemExit):  # Ctrl-C; SIGTERM returns
        run_scheduler(engine=engine, settings=settings)
    running = running_jobs()
    if running:
        click.echo(
            f"scheduler stopped while job {', '.join(running)} was running; the process "
            "exits once it has finished"
        )
    else:
        click.echo("scheduler stopped")


@click.group("jobs")
def jobs() -> None:
    """List the scheduled jobs or run one now."""


@jobs.command("list")
def list_jobs() -> None:
    """The jobs, their schedules and how each last ran."""
    engine = get_engine(get_settings())
    runs = last_runs(engine)
    for job in JOBS.values():
        run = runs.get(job.name)
        if run is None or run.last_finished_at is None:
            last = "never run"
        else:
            last = f"last {run.last_status} at {run.last_finished_at:%Y-%m-%d %H:%M} UTC"
            if run.last_error:
                last += f" ({run.last_error})"
        if run is not None and run.running_since is not None:
            since = f"{run.running_since:%Y-%m-%d %H:%M} UTC ({shown_holder(run.holder)})"
            if lock_held(engine, job.name):
                last += f"; running since {since}"
            else:  # killed mid-run (power cut, kill -9): its lock went with it
                last += f"; the run started {since} was interrupted"
        click.echo(f"{job.name:<16} {job.schedule_text:<22} {last}")
        click.echo(f"{'':<16} {job.description}")


@jobs.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the job's result as JSON.")
def run(name: str, as_json: bool) -> None:
    """Run job NAME now (once, even if the scheduler is running it too)."""
    job = JOBS.get(name)
    if job is None:
        raise click.UsageError(f"no job {name!r}; jobs are {', '.join(JOBS)}")
    settings = get_settings()
    engine = get_engine(settings)
    require_current_schema(engine)
    require_job_lock(engine)
    outcome = run_job(job, engine=engine, settings=settings)
    if outcome.status != "ok":
        raise click.ClickException(f"job {name} failed: {outcome.error}")
    result = outcome.result or {}
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    click.echo(f"job {name} done")
    if name == "stale-tablets":
        for entry in result.get("countries", []):
            click.echo(
                f"{entry['country'] or '(no country)'}: {len(entry['devices'])} "
                f"tablet(s) silent for {result['days']}+ days"
            )
            for device in entry["devices"]:
                click.echo(
                    f"  {device['label'] or device['id']} ({device['user']}): "
                    f"{device['days_silent']} days, last seen "
                    f"{device['last_seen_at'] or 'never'}"
                )
    elif name == "pending-tablets":
        click.echo(
            f"{len(result['tablets'])} tablet(s) hold unsynced data for more than "
            f"{result['days']} days ({result['newly_flagged']} newly flagged)"
        )
        for device in result["tablets"]:
            click.echo(
                f"  {device['label'] or device['id']} ({device['user']}): "
                f"{device['pending_mutations']} record change(s), "
                f"{device['pending_uploads']} photo(s) since {device['pending_since']}"
            )
    else:
        for key, value in result.items():
            click.echo(f"  {key}: {value}")
