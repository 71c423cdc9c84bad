"""``pilotmon scheduler``: the one process that runs the jobs on their schedule (APScheduler).

Run it once per deployment, beside the API workers. Should a second one start by mistake, the
job lock (``server.jobs.registry``) still lets each run happen once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from server.config import Settings
from server.jobs.registry import JOBS, Job, JobBusy, run_job

log = logging.getLogger("pilotmon.jobs")

# How often the waiting main thread wakes to run a signal's handler (see run_scheduler).
SIGNAL_CHECK_SECONDS = 0.5


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
    """Run the jobs until SIGINT (KeyboardInterrupt) or SIGTERM (returns).

    A job running at that moment is not cut: the process ends when it has finished (the
    thread pool's threads are joined at exit); ``running_jobs()`` names it.

    The jobs run on APScheduler's own thread; the main thread only waits for the signal, in
    short sleeps. One long wait (``BlockingScheduler``'s, until the next run, years away for a
    yearly job) could miss SIGTERM: the kernel may hand a process's signal to another of its
    threads, which does not end the main thread's wait, and Python runs the handler only on
    the main thread, once it wakes."""
    scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
    add_jobs(scheduler, engine=engine, settings=settings)
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        stopping.set()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for job in scheduler.get_jobs():
            log.info("scheduled %s: %s", job.id, job.trigger)
        scheduler.start()
        while not stopping.is_set():
            time.sleep(SIGNAL_CHECK_SECONDS)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if scheduler.running:  # SIGTERM or Ctrl-C: no more runs start
            scheduler.shutdown(wait=False)
