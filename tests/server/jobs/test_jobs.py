"""Scheduled jobs: list and run from the CLI, the lock, the stale-tablet report, the cleanup."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

import server.jobs.registry as registry
from server.accounts.models import DeviceStatus
from server.activities.models import Attachment
from server.cli import main
from server.columns import utcnow
from server.config import Settings, get_settings
from server.db import make_engine
from server.indicators.models import CUBES
from server.indicators.service import indicator_values, parse_values_query
from server.jobs.cleanup import cleanup_partial_uploads
from server.jobs.models import JobRun
from server.jobs.registry import (
    JOBS,
    LOCK_NAMESPACE,
    Job,
    JobBusy,
    lock_file,
    lock_key,
    run_job,
    shown_holder,
)
from server.jobs.scheduler import add_jobs
from server.reports.tablets import stale_tablets
from server.sync.attachments import AttachmentFiles
from tests.factories import World, detach, make_activity, make_device, make_project, make_user

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """Run ``pilotmon ARGS`` in this process against the test database."""
    monkeypatch.setenv("PILOTMON_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PILOTMON_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PILOTMON_ENVIRONMENT", "test")
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    get_settings.cache_clear()


def test_jobs_list_and_run_from_the_cli(cli: Cli, session: Session) -> None:
    code, out, _ = cli("jobs", "list")
    assert code == 0
    for name in JOBS:
        assert name in out
    assert out.count("never run") == len(JOBS)
    project = make_project(session)
    other = make_project(session, country="KEN")
    make_activity(session, project)
    make_activity(session, other)
    code_of_project = project.code
    session.commit()
    # an inconsistency the incremental path would never make: the rebuild repairs and reports it
    session.execute(
        sa.update(CUBES["base"])
        .where(CUBES["base"].c.country == "LSO")
        .values(participants=CUBES["base"].c.participants + 5)
    )
    session.commit()
    code, out, err = cli("jobs", "run", "rollup-rebuild", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["drifted"] == [code_of_project]
    assert (result["projects"], result["activities"]) == (2, 2)
    session.expire_all()
    rows = indicator_values(
        session, caller=None, query=parse_values_query(code="PARTICIPANTS")
    ).rows
    assert rows == [{"value": 40}]
    session.rollback()
    code, out, _ = cli("jobs", "list")
    assert "rollup-rebuild" in out and "last ok" in out


def test_unknown_job_is_a_one_line_error(cli: Cli) -> None:
    code, _, err = cli("jobs", "run", "coffee")
    assert code == 2
    assert err.strip().startswith("pilotmon: no job 'coffee'")
    assert len(err.strip().splitlines()) == 1


def test_the_lock_prevents_a_second_run(
    cli: Cli, engine: Engine, session: Session, settings: Settings
) -> None:
    job = JOBS["stale-tablets"]
    # the run of another process, as it recorded itself
    session.add(JobRun(name=job.name, running_since=utcnow(), holder="other-host:42"))
    session.commit()
    with contextlib.ExitStack() as held:  # that process holding the job's lock
        if engine.dialect.name == "postgresql":
            other = held.enter_context(engine.connect())
            other.execute(
                sa.text("SELECT pg_advisory_lock(:a, :b)"),
                {"a": LOCK_NAMESPACE, "b": lock_key(job.name)},
            )
            held.callback(other.commit)
            held.callback(other.execute, sa.text("SELECT pg_advisory_unlock_all()"))
        else:
            path = lock_file(engine, job.name)
            assert path is not None
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT)
            held.callback(os.close, descriptor)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        with pytest.raises(JobBusy, match="other-host:42"):
            run_job(job, engine=engine, settings=settings)
        code, _, err = cli("jobs", "run", job.name)
        assert code == 1
        assert "already running (other-host:42" in err and len(err.strip().splitlines()) == 1
    # the lock released, the row it left says "running" still: it holds nothing back
    assert run_job(job, engine=engine, settings=settings).status == "ok"


def _wait_until_unlocked(engine: Engine, name: str) -> None:
    """On PostgreSQL: until the server has ended the killed process's session (it notices at
    once that the connection closed; the advisory lock goes with the session). At most 30 s."""
    if engine.dialect.name != "postgresql":
        return  # the kernel released the flock when the process died, before waitpid returned
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :a "
        "AND objid = :b AND objsubid = 2"
    )
    for _ in range(300):
        with engine.connect() as conn:
            held = conn.execute(query, {"a": LOCK_NAMESPACE, "b": lock_key(name) & 0xFFFFFFFF})
            if held.scalar() == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the lock of job {name} outlived its process")


def test_a_scheduler_killed_mid_job_leaves_the_job_free_at_once(
    cli: Cli, db_url: str, engine: Engine, settings: Settings
) -> None:
    """A power cut, ``kill -9`` or the OOM killer took the scheduler mid-job: the job's lock
    dies with it. (On SQLite the lock row it left held the nightly jobs back for 12 hours.)"""
    job = JOBS["rollup-rebuild"]
    started, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # the scheduler: a process of its own, with its own connections
        code = 1
        try:
            os.close(started)

            def hang(_engine: Engine, _settings: Settings) -> dict[str, Any]:
                os.write(told, b"started\n")
                time.sleep(600)
                return {}

            mine = make_engine(db_url)
            run_job(dataclasses.replace(job, run=hang), engine=mine, settings=settings)
        finally:
            os._exit(code)
    os.close(told)
    try:
        ready, _, _ = select.select([started], [], [], 60)
        assert ready and os.read(started, 64) == b"started\n"
        # while it lives, nobody else runs the job
        with pytest.raises(JobBusy, match=f":{pid}, since"):
            run_job(job, engine=engine, settings=settings)
        _, out, _ = cli("jobs", "list")
        assert "running since" in out and f":{pid})" in out
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(started)
    # PostgreSQL ends the dead scheduler's session (and its lock) a moment after the kill;
    # until then the job is, rightly, still "running".
    _wait_until_unlocked(engine, job.name)
    _, out, _ = cli("jobs", "list")
    assert f":{pid}) was interrupted" in out and "running since" not in out
    code, out, err = cli("jobs", "run", job.name)
    assert code == 0, err
    assert "job rollup-rebuild done" in out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_scheduler_from_before_the_flock_and_this_one_never_run_a_job_together(
    cli: Cli, engine: Engine, session: Session, settings: Settings
) -> None:
    """During an upgrade on SQLite an old scheduler (its lock: the job_run row, written under
    BEGIN IMMEDIATE, stale after 12 h) and this one (its lock: a flock) ran the same job at
    once: this one did not look at the row."""
    job = JOBS["stale-tablets"]
    seen: list[tuple[Any, str]] = []

    def look(engine: Engine, _settings: Settings) -> dict[str, Any]:
        with Session(engine) as other:  # what an old scheduler reads before it runs the job
            row = other.get(JobRun, job.name)
            assert row is not None
            seen.append((row.running_since, row.holder))
        return {}

    # An old scheduler sees this one's runs: the row says "running" while one lasts.
    assert run_job(dataclasses.replace(job, run=look), engine=engine, settings=settings)
    assert seen[0][0] is not None
    assert shown_holder(seen[0][1]) == f"{socket.gethostname()}:{os.getpid()}"

    old = subprocess.Popen(["sleep", "600"])  # an old scheduler's process, mid-run
    try:
        row = JobRun(
            name=job.name, running_since=utcnow(), holder=f"{socket.gethostname()}:{old.pid}"
        )
        session.merge(row)
        session.commit()
        detach(session)
        with pytest.raises(JobBusy, match=f":{old.pid}, since"):
            run_job(job, engine=engine, settings=settings)
        code, _, err = cli("jobs", "run", job.name)
        assert code == 1 and f"already running ({socket.gethostname()}:{old.pid}" in err
        _, out, _ = cli("jobs", "list")
        assert "running since" in out and f":{old.pid})" in out
        # a row older than 12 hours was stale to the old schedulers themselves
        with Session(engine) as other:
            stale = other.get(JobRun, job.name)
            assert stale is not None
            stale.running_since = utcnow() - timedelta(hours=13)
            other.commit()
        assert run_job(job, engine=engine, settings=settings).status == "ok"
        session.merge(row)  # running again
        session.commit()
        detach(session)
        with pytest.raises(JobBusy):
            run_job(job, engine=engine, settings=settings)
    finally:
        old.kill()
        old.wait()
    # its process gone (killed mid-run), its row holds nothing back
    _, out, _ = cli("jobs", "list")
    assert f":{old.pid}) was interrupted" in out
    assert run_job(job, engine=engine, settings=settings).status == "ok"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_run_whose_end_was_not_recorded_holds_nothing_back_while_its_process_lives(
    cli: Cli, engine: Engine, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of this version whose end could not be recorded left its row "running", naming
    a process that lives on (a scheduler): for up to 12 hours the job then refused to start
    elsewhere and ``jobs list`` said it was running, as if a scheduler from before the flock
    held it."""
    job = JOBS["stale-tablets"]

    def record_end(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database is locked")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError, match="is locked"):
        patched.setattr(registry, "_record_end", record_end)
        run_job(job, engine=engine, settings=settings)
    scheduler = subprocess.Popen(["sleep", "600"])  # the process that ran it, living on
    try:
        with Session(engine) as other:
            row = other.get(JobRun, job.name)
            assert row is not None and row.running_since is not None
            me = f"{socket.gethostname()}:{os.getpid()}"
            assert shown_holder(row.holder) == me
            row.holder = row.holder.replace(me, f"{socket.gethostname()}:{scheduler.pid}")
            other.commit()
        code, out, err = cli("jobs", "list")
        assert code == 0, err
        assert f":{scheduler.pid}) was interrupted" in out and "running since" not in out
        assert run_job(job, engine=engine, settings=settings).status == "ok"
        code, out, err = cli("jobs", "run", job.name)
        assert code == 0, err
    finally:
        scheduler.kill()
        scheduler.wait()


def test_without_flock_the_jobs_on_sqlite_stop_with_one_line(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """On a platform without fcntl (Windows) `pilotmon scheduler` died of an ImportError
    traceback; `jobs list` too."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "pilotmon.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTMON_")}
    env["PILOTMON_DATA_DIR"] = str(data)
    no_fcntl = (
        "import sys; sys.modules['fcntl'] = None; "  # import fcntl raises ImportError
        "from server.cli import main; sys.exit(main(sys.argv[1:]))"
    )

    def pilotmon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", no_fcntl, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    for args in (["scheduler"], ["jobs", "run", "stale-tablets"]):
        done = pilotmon(*args)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("pilotmon: ") and "needs flock" in lines[0]
        assert "use PostgreSQL" in lines[0]
    listed = pilotmon("jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "never run" in listed.stdout


def test_a_failing_job_is_recorded_and_reported(
    cli: Cli, engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_engine: Engine, _settings: Settings) -> dict[str, object]:
        raise RuntimeError("disk full")

    monkeypatch.setitem(
        JOBS, "cleanup-uploads", Job("cleanup-uploads", "broken", {"hour": 3}, broken)
    )
    code, _, err = cli("jobs", "run", "cleanup-uploads")
    assert code == 1
    assert err.strip() == "pilotmon: job cleanup-uploads failed: RuntimeError: disk full"
    row = session.get(JobRun, "cleanup-uploads")
    assert row is not None and row.last_status == "failed" and row.running_since is None


def test_stale_tablet_report(session: Session, client: TestClient) -> None:
    world = World(session)
    now = utcnow()
    lso, ken = world.users["expert_lso"], world.users["expert_ken"]
    session.add_all([lso, ken])
    make_device(session, lso, label="silent", last_seen_at=now - timedelta(days=20))
    make_device(session, lso, label="fresh", last_seen_at=now - timedelta(days=2))
    make_device(session, lso, label="never synced", enrolled_at=now - timedelta(days=30))
    make_device(
        session,
        lso,
        label="revoked",
        last_seen_at=now - timedelta(days=40),
        revoked_at=now - timedelta(days=1),
    )
    make_device(session, ken, label="kenya", last_seen_at=now - timedelta(days=15))
    session.commit()
    report = stale_tablets(session, days=14, now=now)
    assert [(c["country"], [d["label"] for d in c["devices"]]) for c in report["countries"]] == [
        ("KEN", ["kenya"]),
        ("LSO", ["never synced", "silent"]),
    ]
    silent = report["countries"][1]["devices"][1]
    assert silent["days_silent"] == 20 and silent["user"] == lso.username
    assert stale_tablets(session, days=25, now=now)["countries"] == [
        {"country": "LSO", "devices": [report["countries"][1]["devices"][0]]}
    ]
    detach(session)
    response = client.get(
        "/api/v1/reports/stale-tablets", params={"days": 14}, headers=world.auth("officer_lso")
    )
    assert response.status_code == 200
    assert [c["country"] for c in response.json()["countries"]] == ["LSO"]
    assert (
        client.get("/api/v1/reports/stale-tablets", headers=world.auth("expert_lso")).status_code
        == 403
    )


def test_stale_tablets_job_output(cli: Cli, session: Session) -> None:
    officer = make_user(session, role="country_officer", countries=["ETH"])
    make_device(session, officer, label="Tablet 7", last_seen_at=utcnow() - timedelta(days=30))
    session.commit()
    code, out, err = cli("jobs", "run", "stale-tablets")
    assert code == 0, err
    assert "ETH: 1 tablet(s) silent for 14+ days" in out
    assert "Tablet 7" in out


def _attachment(session: Session, activity_id: uuid.UUID, **values: Any) -> Attachment:
    attachment = Attachment(
        id=uuid.uuid4(),
        activity_id=activity_id,
        sha256="0" * 64,
        size=1000,
        content_type="image/jpeg",
        **values,
    )
    session.add(attachment)
    return attachment


def test_cleanup_removes_only_abandoned_partials(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    files = AttachmentFiles(tmp_path / "attachments")
    now = utcnow()
    old, recent = now - timedelta(days=10), now - timedelta(hours=3)
    activity = make_activity(session, make_project(session))
    abandoned = _attachment(session, activity.id, received=400, updated_at=old)
    arriving = _attachment(session, activity.id, received=400, updated_at=recent)
    complete = _attachment(session, activity.id, received=1000, complete=True, updated_at=old)
    session.commit()
    detach(session)  # no open transaction of ours may hold SQLite's write lock
    for a in (abandoned, arriving):
        files.append(a.id, offset=0, chunk=b"x" * 400)
    final = files.final(complete.id)
    final.parent.mkdir(parents=True)
    final.write_bytes(b"y" * 1000)
    orphan_old = files.partial(uuid.uuid4())
    orphan_old.write_bytes(b"z" * 10)
    os.utime(orphan_old, (old.timestamp(), old.timestamp()))
    orphan_new = files.partial(uuid.uuid4())
    orphan_new.write_bytes(b"z" * 10)
    # The new files' times are this clock's too, not the file system's (they differ under a
    # faked clock: make test-days).
    for path in (files.partial(arriving.id), orphan_new):
        os.utime(path, (now.timestamp(), now.timestamp()))
    stranger = files.root / "partial" / "README"
    stranger.write_text("not an upload")
    os.utime(stranger, (old.timestamp(), old.timestamp()))

    result = cleanup_partial_uploads(engine=engine, files=files, days=7, now=now)

    assert result["reset"] == [str(abandoned.id)]
    assert result["orphans"] == [orphan_old.name]
    assert result["bytes_freed"] == 410
    assert not files.partial(abandoned.id).exists() and not orphan_old.exists()
    assert files.partial(arriving.id).exists() and orphan_new.exists() and stranger.exists()
    assert final.read_bytes() == b"y" * 1000
    session.expire_all()
    assert session.get(Attachment, abandoned.id).received == 0  # type: ignore[union-attr]
    assert session.get(Attachment, arriving.id).received == 400  # type: ignore[union-attr]
    assert session.get(Attachment, complete.id).complete  # type: ignore[union-attr]
    # nothing left to do the second time
    assert cleanup_partial_uploads(engine=engine, files=files, days=7, now=now)["reset"] == []


def test_scheduler_puts_every_job_on_a_cron_schedule(engine: Engine, settings: Settings) -> None:
    scheduler = BackgroundScheduler()
    add_jobs(scheduler, engine=engine, settings=settings)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == set(JOBS)
    for name, job in jobs.items():
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "UTC"
        assert job.max_instances == 1 and job.coalesce
        assert job.args[0] is JOBS[name]


def test_pending_tablets_job_flags_and_unflags(
    cli: Cli, session: Session, client: TestClient
) -> None:
    """A tablet whose data has waited (server clock) longer than PILOTMON_PENDING_TABLET_DAYS
    is flagged (the overview shows it: tests/server/dashboard/test_fleet.py), and unflagged
    once it reports nothing pending; a revoked tablet is never flagged."""
    project = make_project(session)
    expert = make_user(session, projects=[project])
    old, old_token = make_device(session, expert, label="Tablet Old")
    recent, _ = make_device(session, expert, label="Tablet Recent")
    revoked, _ = make_device(session, expert, label="Tablet Gone", revoked_at=utcnow())
    now = utcnow()
    for device, days in ((old, 9), (recent, 2), (revoked, 30)):
        session.add(
            DeviceStatus(
                device_id=device.id,
                received_at=now - timedelta(days=1),
                pending_mutations=4,
                pending_uploads=1,
                pending_upload_bytes=10,
                records=4,
                photos=1,
                app_version="1.0",
                pending_since=now - timedelta(days=days),
            )
        )
    session.commit()

    code, out, err = cli("jobs", "run", "pending-tablets")  # default: 7 days
    assert code == 0, err
    assert "1 tablet(s) hold unsynced data for more than 7 days (1 newly flagged)" in out
    assert "Tablet Old" in out and "Tablet Recent" not in out and "Tablet Gone" not in out
    session.expire_all()
    assert session.get(DeviceStatus, old.id).flagged_at is not None  # type: ignore[union-attr]
    assert session.get(DeviceStatus, recent.id).flagged_at is None  # type: ignore[union-attr]
    session.rollback()

    # Run again: already flagged, nothing new.
    code, out, _ = cli("jobs", "run", "pending-tablets")
    assert "(0 newly flagged)" in out

    # The tablet syncs and reports nothing pending: the flag goes.
    answer = client.post(
        "/api/v1/sync/status",
        json={
            "pending_mutations": 0,
            "pending_uploads": 0,
            "pending_upload_bytes": 0,
            "oldest_pending_captured_at": None,
            "records": 4,
            "photos": 1,
            "free_storage_bytes": None,
            "app_version": "1.0",
            "language": None,
            "last_error": None,
        },
        headers={"Authorization": f"Bearer {old_token}"},
    )
    assert answer.status_code == 200, answer.text
    session.expire_all()
    assert session.get(DeviceStatus, old.id).flagged_at is None  # type: ignore[union-attr]
    session.rollback()
    code, out, _ = cli("jobs", "run", "pending-tablets")
    assert "0 tablet(s) hold unsynced data" in out
