"""Load benchmark (docs/performance.md): 50 tablets syncing at once against a real server
on 127.0.0.1.

For each backend it starts ``pilotmon serve`` (4 workers on PostgreSQL, 1 on SQLite by default)
on a fresh database, enrols 50 tablets (5 projects, 10 field experts each), and lets every tablet
run the real sync client (``sync.SyncEngine`` over its own ``DeviceStore``) in a loop for 60 s:
save one to three activities (new ones, or edits of its own), push, pull, think a little. Then it
stops the tablets, lets each finish its outbox, and checks the server against the tablets:

    errors      sync rounds that raised (network, 4xx, 5xx) while the load ran
    lost        activities saved on a tablet that the server does not hold at the right version,
                or that a teammate's tablet never pulled
    duplicated  activities applied more than once (extra versions, revisions or change rows,
                doubled attendance)

and prints request latency (p50/p95/p99 per push and per pull) and throughput. Everything is
bounded: the load stops at the deadline, the drain has its own deadline, and the server is
terminated in every case. Exit status 1 when errors, lost or duplicated is not 0.

    .venv/bin/python bench/load_bench.py                               # SQLite; PostgreSQL too
                                                                       #   when a URL is known
    .venv/bin/python bench/load_bench.py --seconds 20 --tablets 20     # quicker
    PILOTMON_BENCH_DATABASE_URL=postgresql://u:p@127.0.0.1/bench .venv/bin/python \\
        bench/load_bench.py --backend postgresql                       # that database is wiped!

Without PILOTMON_BENCH_DATABASE_URL, PostgreSQL runs in a database ``<name>_bench`` created
beside the one in PILOTMON_TEST_DATABASE_URL (and dropped afterwards). Rate limits are switched
off for the server under test: 50 tablets share the one address 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from common import run
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from server.accounts.models import Device, User, UserProject
from server.accounts.security import hash_password, new_token, token_hash
from server.db import check_reachable, make_engine, write_engine
from server.migrate import upgrade
from server.projects.models import Project
from sync import errors
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.store import DeviceStore

REPO = Path(__file__).resolve().parent.parent
PROJECTS = 5
ATTENDANCE = [
    {"sex": "female", "age_band": "adult", "category": "farmer", "disability": False, "count": 14},
    {"sex": "male", "age_band": "youth", "category": "farmer", "disability": False, "count": 9},
]
SERVER_START_TIMEOUT_S = 90
DRAIN_TIMEOUT_S = 180


# --- the world ---------------------------------------------------------------------------------


@dataclass
class Tablet:
    name: str
    device_id: str
    token: str
    project_id: str
    store: DeviceStore | None = None
    saved: dict[str, int] = field(default_factory=dict)  # activity id -> saves on this tablet
    errors: list[str] = field(default_factory=list)
    rounds: int = 0


def seed(engine: Engine, tablets: int) -> list[Tablet]:
    """Projects, one field expert per tablet, and an enrolled device for each."""
    password_hash = hash_password("bench password that nobody uses")
    made: list[Tablet] = []
    with Session(write_engine(engine)) as session:
        projects = []
        for n in range(PROJECTS):
            project = Project(
                code=f"LSO-BENCH-{n:02d}",
                name=f"Load bench pilot {n}",
                kind="CPP",
                country="LSO",
                thematic_area="TA1",
                solutions=["S1", "S2"],
                partners=["MAFSN"],
                priority_product="potato",
                start_date=date(2024, 1, 1),
                end_date=date(2027, 12, 31),
            )
            session.add(project)
            projects.append(project)
        session.flush()
        for n in range(tablets):
            project = projects[n % PROJECTS]
            user = User(
                username=f"bench.expert{n:03d}",
                password_hash=password_hash,
                role="field_expert",
                countries=["LSO"],
            )
            session.add(user)
            session.flush()
            session.add(UserProject(user_id=user.id, project_id=project.id))
            token = new_token()
            device = Device(
                id=uuid.uuid4(),
                user_id=user.id,
                label=f"bench tablet {n}",
                app_version="bench",
                token_hash=token_hash(token),
            )
            session.add(device)
            made.append(
                Tablet(
                    name=f"tablet{n:03d}",
                    device_id=str(device.id),
                    token=token,
                    project_id=str(project.id),
                )
            )
        session.commit()
    return made


def activity(project_id: str, rng: random.Random) -> dict[str, Any]:
    day = date(2025, 1, 1).toordinal() + rng.randrange(300)
    when = date.fromordinal(day).isoformat()
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "site_id": None,
        "type": rng.choice(["demonstration", "farmer_training", "field_day"]),
        "title": f"Seed potato storage session {rng.randrange(10**6)}",
        "start_date": when,
        "end_date": when,
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "delivery": "in_person",
        "value_chain_stage": "storage",
        "facilitators": ["Mr Chen"],
        "experts_count": 1,
        "location": None,
        "notes": "",
        "attendance": ATTENDANCE,
        "participant_ids": None,
        "captured_at": f"{when}T10:00:00+02:00",
    }


# --- timing every request ----------------------------------------------------------------------


class Latencies:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[int, int] = defaultdict(int)

    def add(self, kind: str, seconds: float, status: int | None) -> None:
        with self._lock:
            self.samples[kind].append(seconds)
            if status is not None:
                self.statuses[status] += 1


class TimedSession(requests.Session):
    """A requests session that records how long each push and pull took."""

    def __init__(self, latencies: Latencies) -> None:
        super().__init__()
        self.latencies = latencies

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        path = str(url).split("?", 1)[0]
        kind = (
            "push"
            if path.endswith("/sync/push")
            else ("pull" if path.endswith("/sync/pull") else "other")
        )
        started = time.perf_counter()
        status: int | None = None
        try:
            response = super().request(method, url, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            self.latencies.add(kind, time.perf_counter() - started, status)


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(url: str, data_dir: Path, workers: int, log: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTMON_")}
    env.update(
        {
            "PILOTMON_ENVIRONMENT": "test",
            "PILOTMON_DATABASE_URL": url,
            "PILOTMON_DATA_DIR": str(data_dir),
            "PILOTMON_SECRET_KEY": "load-bench-secret-key-0123456789-abcdefghij",
            "PILOTMON_LOG_LEVEL": "WARNING",
            "PILOTMON_RATE_LIMIT_SYNC_PER_MINUTE": "0",
            "PILOTMON_RATE_LIMIT_AUTH_PER_MINUTE": "0",
        }
    )
    pilotmon = Path(sys.executable).with_name("pilotmon")
    command = [
        str(pilotmon),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {process.returncode}: {log.read_text()[-2000:]}"
                )
            try:
                if requests.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {SERVER_START_TIMEOUT_S} s")
            time.sleep(0.3)
        yield base
    finally:
        # The whole process group: uvicorn's supervisor and its workers.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


# --- one backend -------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    workers: int
    tablets: int
    seconds: float
    latencies: Latencies
    mutations: int
    errors: int
    lost: int
    duplicated: int
    statuses: dict[int, int]
    first_errors: list[str]


def run_tablet(
    tablet: Tablet,
    base: str,
    latencies: Latencies,
    stop: threading.Event,
    think: float,
    seed_value: int,
) -> None:
    rng = random.Random(seed_value)
    assert tablet.store is not None
    client = SyncClient(
        base,
        token=tablet.token,
        session=TimedSession(latencies),
        timeout=(10.0, 60.0),
        app_version="bench",
    )
    engine = SyncEngine(tablet.store, client)
    while not stop.is_set():
        for _ in range(rng.randint(1, 3)):
            own = list(tablet.saved)
            if own and rng.random() < 0.3:
                record_id = rng.choice(own)
                changed = tablet.store.save(
                    "activity", {"id": record_id, "title": f"Edited session {rng.randrange(10**6)}"}
                )
            else:
                record = activity(tablet.project_id, rng)
                record_id = record["id"]
                changed = tablet.store.save("activity", record)
            if changed is not None:
                tablet.saved[record_id] = tablet.saved.get(record_id, 0) + 1
        try:
            engine.sync_once()
        except errors.SyncClientError as exc:
            tablet.errors.append(f"{tablet.name}: {type(exc).__name__}: {exc.message}")
        tablet.rounds += 1
        stop.wait(rng.uniform(0, 2 * think))


def drain(tablet: Tablet, base: str, latencies: Latencies, deadline: float) -> None:
    """After the load: push what is left and pull everything, retrying until the deadline."""
    assert tablet.store is not None
    client = SyncClient(
        base, token=tablet.token, session=TimedSession(latencies), timeout=(10.0, 60.0)
    )
    engine = SyncEngine(tablet.store, client)
    while True:
        try:
            engine.sync_once()
            if tablet.store.pending_count() == 0:
                return
        except errors.SyncClientError as exc:
            if time.monotonic() > deadline:
                tablet.errors.append(f"{tablet.name}: drain: {exc.message}")
                return
            time.sleep(1)


def final_pull(tablet: Tablet, base: str) -> None:
    assert tablet.store is not None
    client = SyncClient(base, token=tablet.token, timeout=(10.0, 60.0))
    try:
        SyncEngine(tablet.store, client).pull()
    except errors.SyncClientError as exc:
        tablet.errors.append(f"{tablet.name}: final pull: {exc.message}")


def verify(engine: Engine, tablets: list[Tablet]) -> tuple[int, int, list[str]]:
    """(lost, duplicated, examples) comparing the server and the tablets with what was saved."""
    expected: dict[str, int] = {}
    for tablet in tablets:
        expected.update(tablet.saved)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, a.version, "
                # the versions its history keeps: its revisions, and version 1 from the row
                # while no later version has superseded it (docs/architecture.md#revisions)
                " (SELECT count(*) FROM activity_revision r WHERE r.activity_id = a.id)"
                " + CASE WHEN a.version = 1 AND a.created_via IS NOT NULL THEN 1 ELSE 0 END, "
                " (SELECT count(*) FROM change c WHERE c.entity = 'activity' AND c.entity_id = a.id),"  # noqa: E501
                " (SELECT count(*) FROM attendance t WHERE t.activity_id = a.id) "
                "FROM activity a"
            )
        ).all()
    server = {str(uuid.UUID(str(r[0]))): tuple(int(x) for x in r[1:]) for r in rows}
    lost = duplicated = 0
    examples: list[str] = []
    for activity_id, saves in expected.items():
        found = server.get(activity_id)
        if found is None or found[0] < saves:
            lost += 1
            examples.append(f"lost: activity {activity_id} saved {saves}x, server {found}")
        elif found != (saves, saves, saves, len(ATTENDANCE)):
            duplicated += 1
            examples.append(
                f"duplicated: activity {activity_id} saved {saves}x, server "
                f"(version, revisions, changes, attendance) = {found}"
            )
    for activity_id in set(server) - set(expected):
        duplicated += 1
        examples.append(f"duplicated: the server holds {activity_id}, which no tablet saved")
    # Every tablet pulled its teammates' activities (and its own came back harmlessly).
    by_project: dict[str, set[str]] = defaultdict(set)
    for tablet in tablets:
        by_project[tablet.project_id].update(tablet.saved)
    for tablet in tablets:
        assert tablet.store is not None
        held = {r["id"] for r in tablet.store.records("activity")}
        missing = by_project[tablet.project_id] - held
        if missing:
            lost += len(missing)
            examples.append(f"lost in pull: {tablet.name} lacks {len(missing)} activities")
    return lost, duplicated, examples


def run_backend(
    backend: str,
    url: str,
    *,
    workers: int,
    tablets: int,
    seconds: float,
    think: float,
    workdir: Path,
) -> Result:
    engine = make_engine(url)
    try:
        upgrade(engine)
        fleet = seed(engine, tablets)
        for tablet in fleet:
            tablet.store = DeviceStore(
                workdir / backend / f"{tablet.name}.sqlite3", device_id=tablet.device_id
            )
        latencies = Latencies()
        with running_server(
            url, workdir / f"{backend}-data", workers, workdir / f"{backend}-server.log"
        ) as base:
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=run_tablet,
                    name=t.name,
                    args=(t, base, latencies, stop, think, n),
                    daemon=True,
                )
                for n, t in enumerate(fleet)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            stop.wait(seconds)
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
            elapsed = time.monotonic() - started
            load_statuses = dict(latencies.statuses)
            load_samples = {k: list(v) for k, v in latencies.samples.items()}
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            drains = [
                threading.Thread(target=drain, args=(t, base, Latencies(), deadline), daemon=True)
                for t in fleet
            ]
            for thread in drains:
                thread.start()
            for thread in drains:
                thread.join(timeout=DRAIN_TIMEOUT_S + 30)
            # Teammates may have pushed after a tablet's last pull: one more pull round each.
            finals = [
                threading.Thread(target=final_pull, args=(t, base), daemon=True) for t in fleet
            ]
            for thread in finals:
                thread.start()
            for thread in finals:
                thread.join(timeout=DRAIN_TIMEOUT_S)
        lost, duplicated, examples = verify(engine, fleet)
        with engine.connect() as conn:
            mutations = int(
                conn.execute(text("SELECT coalesce(sum(last_seq), 0) FROM device")).scalar_one()
            )
        failures = [e for t in fleet for e in t.errors]
        if failures:
            log = (workdir / f"{backend}-server.log").read_text(errors="replace").splitlines()
            reasons = [line for line in log if "Error" in line or "error" in line]
            failures += [f"server log: {line.strip()[:200]}" for line in reasons[-3:]]
        timed = Latencies()
        timed.samples.update(load_samples)
        return Result(
            backend=backend,
            workers=workers,
            tablets=tablets,
            seconds=elapsed,
            latencies=timed,
            mutations=mutations,
            errors=len(failures),
            lost=lost,
            duplicated=duplicated,
            statuses=load_statuses,
            first_errors=(failures[:3] + failures[-3:] + examples)[:8],
        )
    finally:
        for tablet in locals().get("fleet", []):
            if tablet.store is not None:
                tablet.store.close()
        engine.dispose()


# --- databases ---------------------------------------------------------------------------------


def _wipe(url: str) -> None:
    engine = make_engine(url)
    try:
        check_reachable(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@contextmanager
def postgresql_database() -> Iterator[str | None]:
    explicit = os.environ.get("PILOTMON_BENCH_DATABASE_URL")
    if explicit:
        _wipe(explicit)
        yield explicit
        return
    test_url = os.environ.get("PILOTMON_TEST_DATABASE_URL")
    if not test_url:
        yield None
        return
    parsed = make_url(test_url)
    name = f"{parsed.database}_bench"
    admin = make_engine(test_url).execution_options(isolation_level="AUTOCOMMIT")
    check_reachable(admin.engine)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.engine.dispose()


# --- report ------------------------------------------------------------------------------------


def percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(results: list[Result]) -> None:
    print()
    header = (
        f"{'backend':<11}{'workers':>8}{'tablets':>8}{'secs':>6}{'requests':>9}"
        f"{'req/s':>7}{'mutations':>10}{'mut/s':>7}  {'kind':<5}{'p50 ms':>8}"
        f"{'p95 ms':>8}{'p99 ms':>8}{'errors':>7}{'lost':>6}{'dup':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        requests_made = sum(len(v) for v in r.latencies.samples.values())
        for n, kind in enumerate(("push", "pull")):
            samples = r.latencies.samples.get(kind, [])
            ms = [1000 * s for s in samples]
            lead = (
                (
                    f"{r.backend:<11}{r.workers:>8}{r.tablets:>8}{r.seconds:>6.0f}"
                    f"{requests_made:>9}{requests_made / r.seconds:>7.1f}{r.mutations:>10}"
                    f"{r.mutations / r.seconds:>7.1f}"
                )
                if n == 0
                else " " * 66
            )
            tail = f"{r.errors:>7}{r.lost:>6}{r.duplicated:>5}" if n == 0 else ""
            print(
                f"{lead}  {kind:<5}{percentile(ms, 0.50):>8.1f}{percentile(ms, 0.95):>8.1f}"
                f"{percentile(ms, 0.99):>8.1f}{tail}"
            )
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(r.statuses.items()))
        print(
            f"{'':<11}HTTP statuses during the load: {codes}; "
            f"mean push {statistics.fmean(r.latencies.samples.get('push', [0])) * 1000:.1f} ms"
        )
        for line in r.first_errors:
            print(f"{'':<11}{line}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tablets", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4, help="workers on PostgreSQL")
    parser.add_argument("--sqlite-workers", type=int, default=1)
    parser.add_argument(
        "--think",
        type=float,
        default=0.5,
        help="mean pause between a tablet's sync rounds, in seconds",
    )
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pilotmon-load-") as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{workdir / 'load.sqlite3'}"
            print(
                f"== SQLite, {args.sqlite_workers} worker(s), {args.tablets} tablets, "
                f"{args.seconds:.0f} s",
                flush=True,
            )
            results.append(
                run_backend(
                    "sqlite",
                    url,
                    workers=args.sqlite_workers,
                    tablets=args.tablets,
                    seconds=args.seconds,
                    think=args.think,
                    workdir=workdir,
                )
            )
        if args.backend in ("postgresql", "both"):
            with postgresql_database() as url_or_none:
                if url_or_none is None:
                    print(
                        "== PostgreSQL skipped: set PILOTMON_BENCH_DATABASE_URL (wiped) or "
                        "PILOTMON_TEST_DATABASE_URL",
                        flush=True,
                    )
                else:
                    print(
                        f"== PostgreSQL, {args.workers} workers, {args.tablets} tablets, "
                        f"{args.seconds:.0f} s",
                        flush=True,
                    )
                    results.append(
                        run_backend(
                            "postgresql",
                            url_or_none,
                            workers=args.workers,
                            tablets=args.tablets,
                            seconds=args.seconds,
                            think=args.think,
                            workdir=workdir,
                        )
                    )
    report(results)
    bad = [r for r in results if r.errors or r.lost or r.duplicated]
    return 1 if bad else 0


if __name__ == "__main__":
    run(main)
