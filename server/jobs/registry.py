"""The scheduled jobs: what each does, when it runs, and running one exactly once.

    JOBS                 name -> Job (the scheduler and ``pilotmon jobs`` read this)
    run_job(job, ...)    run now under the job's lock; JobBusy when it runs elsewhere

Exactly once across workers and hosts: the scheduler is its own process (``pilotmon
scheduler``) and every run takes a lock first that dies with the process holding it, so that a
scheduler killed mid-job (power cut, ``kill -9``, out of memory) leaves nothing that holds the
job back once it is gone: ``pg_try_advisory_lock`` on PostgreSQL (on its own connection; the
server releases it when that connection ends, as it does when its process dies, or within about
two minutes of its host going dark, by TCP keepalive), an exclusive
``flock`` on SQLite, on a file beside the database (``<database>-job-<name>.lock``; the
kernel releases it when the process dies; SQLite lives on one host's disk, so every process
that shares the database sees the same file). Each run's start and end are recorded in
``job_run`` (who holds it, since when) for ``pilotmon jobs list`` and the busy message; that row
is bookkeeping, not the lock: a row left "running" by a killed process blocks nothing.

Upgrades (SQLite): schedulers before the ``flock`` took that row as the lock (written under
``BEGIN IMMEDIATE``, stale after 12 hours). They still respect it, since this version writes it
too for as long as a run lasts; and this version respects theirs: a row saying "running"
for less than ``OLD_LOCK_STALE_AFTER``, by a process of this host that is alive and holds no
``flock`` (what an old scheduler's run looks like), makes a run JobBusy, as that old scheduler
would have decided. A row of a process that is gone, or from another host (SQLite is on one
host's disk: a host name that changed), holds nothing back. On PostgreSQL old and new take the
same advisory lock.

The ``flock`` needs ``fcntl`` (Linux, macOS, the BSDs). Where it is missing (Windows), the
jobs on SQLite stop at once with one line (``require_job_lock``); on PostgreSQL they run.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, select

from server.accounts.fleet import flag_pending_tablets
from server.columns import utcnow
from server.config import Settings
from server.db import session_scope, write_engine
from server.errors import ConfigError, PilotMonitorError
from server.indicators.jobs import rebuild_rollups
from server.jobs.cleanup import cleanup_partial_uploads
from server.jobs.models import JobRun
from server.reports.tablets import stale_tablets
from server.sync.attachments import AttachmentFiles
from shared.errors import ErrorCode

try:
    import fcntl
except ImportError:  # Windows: no flock (require_job_lock says so)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("pilotmon.jobs")

# How long the schedulers that took the job_run row as their lock (before the flock) held a row
# saying "running" as live: this version honours such a row as long as they did.
OLD_LOCK_STALE_AFTER = timedelta(hours=12)
LOCK_NAMESPACE = 7301  # first key of pg_try_advisory_lock(int, int); the second is the job's


class JobBusy(PilotMonitorError):
    """Another process is running this job right now."""

    status_code = 409
    code = ErrorCode.BUSY


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    # APScheduler cron fields, in UTC
    schedule: dict[str, Any]
    run: Callable[[Engine, Settings], dict[str, Any]]

    @property
    def schedule_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.schedule.items()) + " UTC"


def _rebuild(engine: Engine, settings: Settings) -> dict[str, Any]:
    return rebuild_rollups(engine=engine)


def _stale(engine: Engine, settings: Settings) -> dict[str, Any]:
    with session_scope(engine, write=False) as session:
        report = stale_tablets(session, days=settings.stale_tablet_days)
    for entry in report["countries"]:
        log.warning(
            "stale tablets in %s: %d silent for %d days or more",
            entry["country"] or "(no country)",
            len(entry["devices"]),
            report["days"],
        )
    return report


def _pending(engine: Engine, settings: Settings) -> dict[str, Any]:
    with session_scope(engine) as session:
        report = flag_pending_tablets(session, days=settings.pending_tablet_days)
    if report["tablets"]:
        log.warning(
            "%d tablet(s) have held unsynced data for more than %d days (%d newly flagged)",
            len(report["tablets"]),
            report["days"],
            report["newly_flagged"],
        )
    return report


def _cleanup(engine: Engine, settings: Settings) -> dict[str, Any]:
    return cleanup_partial_uploads(
        engine=engine,
        files=AttachmentFiles(settings.attachments_dir),
        days=settings.abandoned_upload_days,
    )


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "rollup-rebuild",
            "Recompute the indicator roll-ups from the activity and observation records "
            "(safety net; reports drift)",
            {"hour": 2, "minute": 15},
            _rebuild,
        ),
        Job(
            "stale-tablets",
            "List the tablets of each country that have not synced for "
            "PILOTMON_STALE_TABLET_DAYS days",
            {"hour": 6, "minute": 0},
            _stale,
        ),
        Job(
            "pending-tablets",
            "Flag the tablets that have held unsynced data for more than "
            "PILOTMON_PENDING_TABLET_DAYS days (shown on the overview)",
            {"hour": 6, "minute": 10},
            _pending,
        ),
        Job(
            "cleanup-uploads",
            "Remove partial photo uploads abandoned for PILOTMON_ABANDONED_UPLOAD_DAYS days",
            {"hour": 3, "minute": 30},
            _cleanup,
        ),
    )
}


def lock_key(name: str) -> int:
    """The second advisory-lock key of a job (a stable signed 32-bit hash of its name)."""
    value = zlib.crc32(name.encode("utf-8"))
    return value - 2**32 if value >= 2**31 else value


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# What this version writes after a run's holder (``host:pid``): it claims the row under the
# job's lock (a flock, or PostgreSQL's advisory lock), so such a row is bookkeeping and never
# the lock of a scheduler from before the flock, whose rows name the holder alone. Without it,
# a run of this version whose end could not be recorded, by a process that lives on, read as
# an old scheduler's run: for up to 12 hours the job refused to start elsewhere and ``jobs
# list`` said it was running.
_LOCKED_RUN = " +lock"


def shown_holder(holder: str) -> str:
    """The holder as people read it: ``host:pid``."""
    return holder.removesuffix(_LOCKED_RUN)


@contextmanager
def _postgres_lock(engine: Engine, name: str) -> Iterator[None]:
    connection: Connection = engine.connect()
    try:
        # A killed process's socket closes and the server ends its session (and the lock) at
        # once. A host that loses power closes nothing: the server, waiting on this idle
        # connection, would only notice after the kernel's TCP keepalive (2 hours and more);
        # probing after a minute idle ends the session within about two (no-ops over a socket
        # file, where a dead client is seen at once).
        connection.exec_driver_sql(
            "SET tcp_keepalives_idle = 60; SET tcp_keepalives_interval = 10; "
            "SET tcp_keepalives_count = 6"
        )
        got = connection.execute(
            text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": LOCK_NAMESPACE, "b": lock_key(name)}
        ).scalar()
        connection.commit()
        if not got:
            raise _busy(engine, name)
        try:
            yield
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:a, :b)"),
                {"a": LOCK_NAMESPACE, "b": lock_key(name)},
            )
            connection.commit()
    finally:
        connection.close()


def lock_file(engine: Engine, name: str) -> Path | None:
    """The file whose ``flock`` is job ``name``'s lock on SQLite: beside the database file, so
    that every process sharing the database takes the same one (None: an in-memory database,
    which no other process can share)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{Path(database).resolve()}-job-{name}.lock")


def require_job_lock(engine: Engine) -> None:
    """Refuse, in one line, a SQLite database on a platform without ``flock`` (Windows): the
    job lock could not exclude a second run. What ``pilotmon scheduler`` and ``pilotmon jobs
    run`` check before they start."""
    if fcntl is None and engine.dialect.name != "postgresql" and lock_file(engine, "") is not None:
        raise ConfigError(
            "the scheduled jobs' lock on SQLite needs flock (fcntl), which this platform lacks: "
            "run the scheduler on Linux or macOS, or use PostgreSQL (PILOTMON_DATABASE_URL)"
        )


@contextmanager
def _sqlite_lock(engine: Engine, name: str) -> Iterator[None]:
    path = lock_file(engine, name)
    if path is None:
        yield
        return
    require_job_lock(engine)
    # Never removed: removing a lock file another process has open would let a third take a
    # second "lock" on a new file of the same name.
    # Read-only is enough for flock: a file another account created (root's `jobs run`) still
    # serves the scheduler's account.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise _busy(engine, name) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _busy(engine: Engine, name: str) -> JobBusy:
    """JobBusy naming the holder and its start, as its run recorded them."""
    with Session(engine) as session:
        return _busy_by(name, session.get(JobRun, name))


def _busy_by(name: str, row: JobRun | None) -> JobBusy:
    if row is not None and row.running_since is not None:
        return JobBusy(
            f"job {name} is already running ({shown_holder(row.holder)}, since "
            f"{row.running_since.isoformat()}); not started"
        )
    return JobBusy(f"job {name} is already running in another process; not started")


def _old_scheduler_running(row: JobRun | None, now: datetime) -> bool:
    """Whether ``row`` is the lock of a run by a scheduler from before the ``flock`` that is
    still going: "running" for less than ``OLD_LOCK_STALE_AFTER``, by another process of this
    host that is alive. (Only asked when no ``flock`` is held: a run of this version holds one.)"""
    if row is None or row.running_since is None or row.holder == _holder():
        return False
    if row.running_since <= now - OLD_LOCK_STALE_AFTER:
        return False
    if row.holder.endswith(_LOCKED_RUN):
        return False  # a run of this version: its lock is the process's own, not the row
    host, _, pid = row.holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) <= 0:
        return False
    return _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists (POSIX)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another account's process
    except OverflowError:
        return False
    return True


def _claim_row(engine: Engine, name: str) -> None:
    """Record that this process runs ``name`` now (under the job's lock: whatever the row said
    before is a run that ended, or one whose process died), unless the row is the live lock of
    a scheduler from before the ``flock`` (SQLite; JobBusy). Read and written under ``BEGIN
    IMMEDIATE``, as that scheduler did: the two cannot both claim it."""
    now = utcnow()
    with Session(write_engine(engine)) as session:
        row = session.get(JobRun, name)
        if engine.dialect.name != "postgresql" and _old_scheduler_running(row, now):
            raise _busy_by(name, row)
        row = row or JobRun(name=name)
        row.running_since = now
        row.holder = _holder() + _LOCKED_RUN
        row.last_started_at = now
        session.add(row)
        session.commit()


def _record_end(
    engine: Engine, name: str, *, status: str, result: dict[str, Any] | None, error: str
) -> None:
    with Session(write_engine(engine)) as session:
        row = session.get(JobRun, name) or JobRun(name=name)
        row.running_since = None
        row.last_finished_at = utcnow()
        row.last_status = status
        row.last_result = result
        row.last_error = error
        session.add(row)
        session.commit()


@dataclass(frozen=True, slots=True)
class JobOutcome:
    name: str
    status: str  # ok | failed
    result: dict[str, Any] | None
    error: str


def run_job(job: Job, *, engine: Engine, settings: Settings) -> JobOutcome:
    """Run ``job`` once, now, unless it runs elsewhere (JobBusy). A failure is logged,
    recorded and returned, never raised: the scheduler must keep going."""
    if engine.dialect.name == "postgresql":
        lock = _postgres_lock(engine, job.name)
    else:
        lock = _sqlite_lock(engine, job.name)
    with lock:
        _claim_row(engine, job.name)
        log.info("job %s started", job.name)
        try:
            result = job.run(engine, settings)
        except Exception as exc:  # recorded, logged and reported to the caller, not raised
            log.exception("job %s failed", job.name)
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            _record_end(engine, job.name, status="failed", result=None, error=error)
            return JobOutcome(job.name, "failed", None, error)
        _record_end(engine, job.name, status="ok", result=_jsonable(result), error="")
        log.info("job %s finished", job.name)
        return JobOutcome(job.name, "ok", result, "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def last_runs(engine: Engine) -> dict[str, JobRun]:
    with Session(engine) as session:
        found = {row.name: row for row in session.exec(select(JobRun))}
        session.expunge_all()
        return found


def lock_held(engine: Engine, name: str) -> bool:
    """Whether a live process holds job ``name``'s lock now (``pilotmon jobs list`` tells a
    run in progress from one whose process died)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = :a AND objid = :b AND objsubid = 2 AND granted"
                ),
                {"a": LOCK_NAMESPACE, "b": lock_key(name) & 0xFFFFFFFF},
            ).scalar()
        return bool(found)
    path = lock_file(engine, name)
    if path is None:
        return False
    if fcntl is None:
        return True  # cannot tell: as the row says
    if path.exists():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except PermissionError:
            return True  # cannot tell: as the row says
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            return True
        finally:
            os.close(fd)  # releases the shared lock, if taken
    with Session(engine) as session:  # a run of a scheduler from before the flock?
        return _old_scheduler_running(session.get(JobRun, name), utcnow())
