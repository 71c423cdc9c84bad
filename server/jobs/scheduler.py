"""``pilotmon scheduler``: the one process that runs the jobs on their schedule (APScheduler).

Run it once per deployment, beside the API workers. Should a second one start by mistake, the
job lock (``server.jobs.registry``) still lets each run happen once.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC
from types import FrameType

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from server.config import Settings
from server.jobs.registry import JOBS, Job, JobBusy, run_job

log = logging.getLogger("pilotmon.jobs")


# The jobs this process is running now (what ``pilotmon scheduler`` names when it stops).
_running: set[str] = set()
_running_lock = threading.Lock()


def running_jobs() -> list[str]:
    with _running_lock:
        return sorted(_running)


def _scheduled_run(job: Job, engine: Engine, settings: Settings) -> None:
    with _running_lock:
        _running.add(job.name)
    try:
        outcome = run_job(job, engine=engine, settings=settings)
    except JobBusy as exc:
        log.info("%s", exc.message)
        return
    finally:
        with _running_lock:
            _running.discard(job.name)
    if outcome.status != "ok":
        log.error("job %s failed: %s", job.name, outcome.error)


def add_jobs(scheduler: BaseScheduler, *, engine: Engine, settings: Settings) -> None:
    """Put every job on ``scheduler`` with its cron schedule (UTC)."""
    for job in JOBS.values():
        scheduler.add_job(
            _scheduled_run,
            CronTrigger(timezone=UTC, **job.schedule),
            args=(job, engine, settings),
            id=job.name,
            name=job.description,
            replace_existing=True,
            # a missed run (the host slept) happens once when it wakes, not once per miss
            coalesce=True,
            max_instances=1,
            misfire_grace_time=6 * 3600,
        )


def run_scheduler(*, engine: Engine, settings: Settings) -> None:
    """Run the jobs in the foreground until SIGINT (KeyboardInterrupt) or SIGTERM (returns).

    A job running at that moment is not cut: the process ends when it has finished (the
    thread pool's threads are joined at exit); ``running_jobs()`` names it."""
    scheduler = BlockingScheduler(timezone=UTC)
    add_jobs(scheduler, engine=engine, settings=settings)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        else:
            raise SystemExit(0)  # the signal came before the scheduler started: nothing runs

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for job in scheduler.get_jobs():
            log.info("scheduled %s: %s", job.id, job.trigger)
        scheduler.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if scheduler.running:  # Ctrl-C: no more runs start
            scheduler.shutdown(wait=False)
