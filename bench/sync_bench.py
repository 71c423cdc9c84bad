"""Sync benchmark (docs/performance.md): every figure against a baseline measured in the same run.

    ingest   N activities (8 attendance rows each) pushed by the real tablet client over HTTP to
             a real server on 127.0.0.1 that has taken one small push already (a fresh
             server's first push pays once for compiling statements and loading modules; it is
             shown apart), the best of ``--repeat`` pushes, against the floor:
             the same rows inserted with raw ``sqlite3.executemany`` in one transaction into
             the same schema (target ≤ 3×);
             on PostgreSQL (when a database is known) against ``COPY`` of the same rows; and
             against the same rows into two bare tables without index or key (target ≤ 8×); and,
             to show what the duties themselves cost, every row the push wrote (revisions,
             change log, fact rows, receipts …) inserted again by ``executemany`` (SQLite) or
             ``COPY`` (PostgreSQL); and the CPU the server, PostgreSQL and the tablet took
             during the push (from ``/proc``, Linux), against its wall time on the cores
    wire     bytes the client sent per activity (gzip bodies) against the gzip size of the bare
             records as one compact JSON array, no envelope (target ≤ 1.2×)
    pull     an incremental pull of 100 changes from a change log of 100 000 and of 1 000 000
             changes (target: within ±50 % of each other)
    load     50 simulated tablets syncing at once for 60 s (``bench/load_bench.py``): errors,
             lost, duplicated (all 0) and push latency p50/p95

    .venv/bin/python bench/sync_bench.py            # docs/performance.md sizes (minutes)
    .venv/bin/python bench/sync_bench.py --quick    # a tenth of everything, for a smoke run
    .venv/bin/python bench/sync_bench.py --only ingest,wire --activities 5000

PostgreSQL runs when PILOTMON_BENCH_DATABASE_URL (wiped!) or PILOTMON_TEST_DATABASE_URL is set
(a ``<name>_bench`` database beside it is created and dropped), as in ``load_bench.py``.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib.util
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import run
from sqlalchemy import Engine, MetaData, insert, text
from sqlmodel import Session

from server.accounts.models import Device, User, UserProject
from server.accounts.security import new_token, token_hash
from server.activities.service import write_activity
from server.db import make_engine, write_engine
from server.migrate import upgrade
from server.projects.models import Project
from server.records.models import Change
from server.sync.pull import Cursor, scope_digest
from server.sync.wire import catalogue_digest
from server.wiring import install as install_wiring
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.store import DeviceStore

# What the application connects at start-up: this script writes activities itself.
install_wiring()

BENCH = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("load_bench", BENCH / "load_bench.py")
assert _spec is not None and _spec.loader is not None
load_bench = importlib.util.module_from_spec(_spec)
sys.modules["load_bench"] = load_bench
_spec.loader.exec_module(load_bench)

SEXES = ("female", "male")
BANDS = ("youth", "adult")
CATEGORIES = ("farmer", "technician")
TYPES = ("demonstration", "farmer_training", "field_day", "workshop")
TITLES = (
    "Seed potato storage demonstration",
    "Hermetic bag training",
    "Farmer field day",
    "Drip irrigation workshop",
    "Post-harvest handling",
    "Village savings meeting",
)


@dataclass
class Row:
    metric: str
    value: str
    baseline: str
    ratio: str
    target: str
    verdict: str


# --- a world to sync into ------------------------------------------------------------------


@dataclass
class World:
    project_id: str
    other_project_id: str
    device_id: str
    token: str


def seed(engine: Engine) -> World:
    with Session(write_engine(engine)) as session:
        project = Project(
            code="LSO-CPP-001",
            name="Potato value chain pilot",
            kind="CPP",
            country="LSO",
            thematic_area="TA1",
            solutions=["S1", "S2"],
            partners=["MAFSN"],
            priority_product="potato",
            start_date=date(2020, 1, 1),
            end_date=date(2030, 12, 31),
        )
        other = Project(
            code="KEN-CPP-001",
            name="Grain storage pilot",
            kind="CPP",
            country="KEN",
            thematic_area="TA2",
            solutions=["S4", "S5"],
            start_date=date(2020, 1, 1),
            end_date=date(2030, 12, 31),
        )
        # No password: the bench's expert only ever syncs with its device token.
        user = User(
            username="bench.expert",
            password_hash="!",  # noqa: S106
            role="field_expert",
            countries=["LSO"],
        )
        session.add_all([project, other, user])
        session.flush()
        session.add(UserProject(user_id=user.id, project_id=project.id))
        token = new_token()
        device = Device(
            id=uuid.uuid4(), user_id=user.id, label="bench", token_hash=token_hash(token)
        )
        session.add(device)
        session.commit()
        return World(str(project.id), str(other.id), str(device.id), token)


def activities(project_id: str, count: int, seed_value: int = 1) -> list[dict[str, Any]]:
    """Realistic activities: 8 attendance rows each, dates in the last weeks."""
    rng = random.Random(seed_value)
    today = datetime.now(UTC).date()
    found = []
    for n in range(count):
        day = (today - timedelta(days=rng.randint(1, 25))).isoformat()
        found.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "project_id": project_id,
                "site_id": None,
                "type": rng.choice(TYPES),
                "title": f"{rng.choice(TITLES)} {n}",
                "start_date": day,
                "end_date": day,
                "topic": rng.choice(["S1.T1", "S1.T2", "S2.T1", "S2.T3"]),
                "modality": "T",
                "level": "L3",
                "delivery": "in_person",
                "value_chain_stage": "storage",
                "facilitators": ["Mr Chen", "Ms Mokoena"],
                "experts_count": rng.randint(1, 3),
                "location": {
                    "lat": round(-29.3 + rng.random() / 10, 5),
                    "lon": round(27.4 + rng.random() / 10, 5),
                    "accuracy_m": 8,
                },
                "notes": "",
                "participant_ids": None,
                "attendance": [
                    {
                        "sex": sex,
                        "age_band": band,
                        "category": category,
                        "disability": False,
                        "count": rng.randint(1, 40),
                    }
                    for sex in SEXES
                    for band in BANDS
                    for category in CATEGORIES
                ],
                "captured_at": f"{day}T10:00:00+02:00",
            }
        )
    return found


# --- ingest and wire -------------------------------------------------------------------------


def _floor_rows(
    records: list[dict[str, Any]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    now = datetime.now(UTC).isoformat(sep=" ")
    activity_rows = []
    attendance_rows = []
    for r in records:
        activity_rows.append(
            (
                uuid.UUID(r["id"]).hex,
                uuid.UUID(r["project_id"]).hex,
                r["type"],
                r["title"],
                r["start_date"],
                r["end_date"],
                r["topic"],
                r["modality"],
                r["level"],
                r["delivery"],
                r["value_chain_stage"],
                json.dumps(r["facilitators"]),
                r["experts_count"],
                json.dumps(r["location"]),
                r["notes"],
                "submitted",
                1,
                r["captured_at"],
                0,
                0,
                "[]",
                now,
                now,
                now,
            )
        )
        for row in r["attendance"]:
            attendance_rows.append(
                (
                    uuid.UUID(r["id"]).hex,
                    row["sex"],
                    row["age_band"],
                    row["category"],
                    int(row["disability"]),
                    row["count"],
                )
            )
    return activity_rows, attendance_rows


def sqlite_floor(
    template: Path, workdir: Path, project_id: str, records: list[dict[str, Any]]
) -> float:
    """The same rows with raw sqlite3.executemany in one transaction, same schema and indexes."""
    path = workdir / "floor.sqlite3"
    shutil.copyfile(template, path)
    activity_rows, attendance_rows = _floor_rows(records)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # the server's own (server/db.py)
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO activity (id, project_id, type, title, start_date, end_date, topic, "
        "modality, level, delivery, value_chain_stage, facilitators, experts_count, location, "
        "notes, status, version, captured_at, deleted, late, flags, created_at, updated_at, "
        "submitted_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        activity_rows,
    )
    db.executemany(
        "INSERT INTO attendance (activity_id, sex, age_band, category, disability, "
        "count) VALUES (?,?,?,?,?,?)",
        attendance_rows,
    )
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    count = db.execute("SELECT count(*) FROM attendance").fetchone()[0]
    assert count == len(attendance_rows), count
    db.close()
    return elapsed


_BARE_ACTIVITY = (
    "id, project_id, type, title, start_date, end_date, topic, modality, level, delivery, "
    "value_chain_stage, facilitators, experts_count, location, notes, status, version, "
    "captured_at, deleted, late, flags, created_at, updated_at, submitted_at"
)
_BARE_ATTENDANCE = "activity_id, sex, age_band, category, disability, count"


def sqlite_bare_floor(workdir: Path, records: list[dict[str, Any]]) -> float:
    """The same rows into two bare tables (no key, no index, no constraint) of a new file."""
    path = workdir / "bare.sqlite3"
    path.unlink(missing_ok=True)
    activity_rows, attendance_rows = _floor_rows(records)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # the server's own (server/db.py)
    db.execute(f"CREATE TABLE activity ({_BARE_ACTIVITY})")
    db.execute(f"CREATE TABLE attendance ({_BARE_ATTENDANCE})")
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(f"INSERT INTO activity VALUES ({','.join('?' * 24)})", activity_rows)
    db.executemany("INSERT INTO attendance VALUES (?,?,?,?,?,?)", attendance_rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def sqlite_duties_floor(
    template: Path, ingested: Path, workdir: Path, *, batches: int = 1
) -> DutiesFloor:
    """Every row the push left (activities, attendance, revisions, change log, fact rows, cube
    cells, receipts …: the rows of each table that grew), inserted again by raw
    ``executemany`` into a copy of the schema the push started from: what writing every duty's
    rows costs before any Python work, in all and by table. In one transaction, or in
    ``batches`` of them as the push's requests commit (``_shares``)."""
    with sqlite3.connect(template) as before, sqlite3.connect(ingested) as after:
        names = [
            name
            for (name,) in after.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'device'"
            )
        ]
        grown: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
        for name in names:
            known = before.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            cursor = after.execute(f'SELECT * FROM "{name}" LIMIT -1 OFFSET {known}')
            found = cursor.fetchall()
            if found:
                grown.append((name, [d[0] for d in cursor.description], found))
    path = workdir / "duties.sqlite3"
    shutil.copyfile(template, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # the server's own (server/db.py)
    tables: dict[str, tuple[int, float]] = {}
    by_name = {name: (columns, found) for name, columns, found in grown}
    parts = _shares(by_name, batches, lambda row, n: row[n])
    inserts = {}  # each table's statement, made before the clock starts
    for name, columns, _ in grown:
        names_ = ", ".join(f'"{c}"' for c in columns)
        marks = ",".join("?" * len(columns))
        inserts[name] = f'INSERT INTO "{name}" ({names_}) VALUES ({marks})'
    started = time.perf_counter()
    for part in parts:
        db.execute("BEGIN")
        for name, _, _ in grown:
            rows = part[name]
            if not rows:
                continue
            began = time.perf_counter()
            db.executemany(inserts[name], rows)
            count, seconds = tables.get(name, (0, 0.0))
            tables[name] = (count + len(rows), seconds + time.perf_counter() - began)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return DutiesFloor(elapsed, sum(len(found) for _, _, found in grown), tables)


@dataclass(frozen=True)
class DutiesFloor:
    """Every row a push wrote, written again: seconds, rows, and by table (rows, seconds; the
    commit is counted in all only)."""

    seconds: float
    rows: int
    tables: dict[str, tuple[int, float]]


def postgresql_bare_floor(url: str, records: list[dict[str, Any]]) -> float:
    """The same rows with COPY into two bare tables (no key, no index, no constraint)."""
    engine = make_engine(url)
    activity_rows, attendance_rows = _floor_rows(records)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "CREATE TEMPORARY TABLE bare_activity (id uuid, project_id uuid, type text, "
            "title text, start_date date, end_date date, topic text, modality text, level text, "
            "delivery text, value_chain_stage text, facilitators jsonb, experts_count int, "
            "location jsonb, notes text, status text, version int, captured_at timestamptz, "
            "deleted bool, late bool, flags jsonb, created_at timestamptz, "
            "updated_at timestamptz, submitted_at timestamptz)"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE bare_attendance (activity_id uuid, sex text, age_band text, "
            "category text, disability bool, count int)"
        )
        raw.commit()
        started = time.perf_counter()
        with cursor.copy(f"COPY bare_activity ({_BARE_ACTIVITY}) FROM STDIN") as copy:
            for row in activity_rows:
                values = list(row)
                values[0], values[1] = str(uuid.UUID(values[0])), str(uuid.UUID(values[1]))
                values[18], values[19] = bool(values[18]), bool(values[19])
                copy.write_row(values)
        with cursor.copy(f"COPY bare_attendance ({_BARE_ATTENDANCE}) FROM STDIN") as copy:
            for row in attendance_rows:
                copy.write_row(
                    (str(uuid.UUID(row[0])), row[1], row[2], row[3], bool(row[4]), row[5])
                )
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()


def _postgresql_tables(engine: Engine) -> dict[str, list[str]]:
    """The tables of the migrated schema, each after the tables it refers to, with their
    columns in order."""
    metadata = MetaData()
    metadata.reflect(engine)
    return {
        t.name: [c.name for c in t.columns]
        for t in metadata.sorted_tables
        if t.name != "alembic_version"
    }


def _postgresql_counts(engine: Engine, tables: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def _fresh_postgresql(url: str) -> Engine:
    """The database at ``url`` emptied and migrated (the caller disposes of the engine)."""
    load_bench._wipe(url)
    engine = make_engine(url)
    upgrade(engine)
    return engine


def postgresql_duties_floor(
    url: str, repeat: int = 3, *, batches: tuple[int, ...] = (1,)
) -> dict[int, DutiesFloor]:
    """Every row the last push left in the database at ``url`` (activities, attendance,
    revisions, change log, fact rows, cube cells, receipts …), COPYed again into the schema the
    push started from (migrated and seeded, made again from the same rows): what writing every
    duty's rows costs the database before any Python work, in all and by table: the best of
    ``repeat``, for each number of transactions in ``batches`` (one, or as many as the push's
    requests: ``_shares``). A table's rows are read in the order they were written, so the
    first ones are those the migrations and ``seed`` made."""
    engine = make_engine(url)
    columns = _postgresql_tables(engine)
    tables = list(columns)
    raw = engine.raw_connection()
    try:
        lines: dict[str, list[bytes]] = {}
        for name in tables:
            data = bytearray()
            with raw.cursor().copy(f'COPY (SELECT * FROM "{name}") TO STDOUT') as copy:
                for block in copy:
                    data += block
            lines[name] = bytes(data).splitlines(keepends=True)
    finally:
        raw.close()
        engine.dispose()

    engine = _fresh_postgresql(url)
    migrated = _postgresql_counts(engine, tables)
    seed(engine)
    seeded = _postgresql_counts(engine, tables)
    engine.dispose()
    grown = {name: (columns[name], lines[name][seeded[name] :]) for name in tables}
    timings: dict[int, list[DutiesFloor]] = {n: [] for n in batches}
    for _ in range(repeat):
        for count in batches:
            parts = _shares(grown, count, _text_field)
            timings[count].append(_copy_again(url, tables, lines, migrated, seeded, parts))
    return {n: min(found, key=lambda duties: duties.seconds) for n, found in timings.items()}


def _text_field(line: bytes, n: int) -> bytes:
    return line.rstrip(b"\n").split(b"\t")[n]


def _shares(
    grown: dict[str, tuple[list[str], list[Any]]],
    batches: int,
    field: Callable[[Any, int], Any],
) -> list[dict[str, list[Any]]]:
    """Each table's new rows split over ``batches`` transactions as the push's requests wrote
    them: the activities in order, a ``batches``-th of them in each, and every row that names
    one (attendance, fact rows, change-log entries, receipts) with its activity; any other row
    by its place in its table. ``field(row, n)`` is a row's n-th value."""
    ids = [field(row, 0) for row in grown.get("activity", ([], []))[1]]
    batch_of = {activity: n * batches // len(ids) for n, activity in enumerate(ids)}
    parts: list[dict[str, list[Any]]] = [{name: [] for name in grown} for _ in range(batches)]
    for name, (columns, rows) in grown.items():
        refers = _NAMES_ACTIVITY.get(name)
        at = None if refers is None else columns.index(refers)
        for n, row in enumerate(rows):
            k = None if at is None else batch_of.get(field(row, at))
            parts[n * batches // len(rows) if k is None else k][name].append(row)
    return parts


# The tables whose new rows each name one of the push's activities, and the column that does
# (``_shares``).
_NAMES_ACTIVITY = {
    "activity": "id",
    "attendance": "activity_id",
    "indicator_activity_fact": "activity_id",
    "change": "entity_id",
    "receipt": "entity_id",
}


def _copy_again(
    url: str,
    tables: list[str],
    lines: dict[str, list[bytes]],
    migrated: dict[str, int],
    seeded: dict[str, int],
    parts: list[dict[str, list[bytes]]],
) -> DutiesFloor:
    engine = _fresh_postgresql(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name in tables:  # the schema as the push found it: not timed
            with cursor.copy(f'COPY "{name}" FROM STDIN') as copy:
                copy.write(b"".join(lines[name][migrated[name] : seeded[name]]))
        raw.commit()
        by_table: dict[str, tuple[int, float]] = {}
        started = time.perf_counter()
        for part in parts:
            for name in tables:
                if part.get(name):
                    began = time.perf_counter()
                    with cursor.copy(f'COPY "{name}" FROM STDIN') as copy:
                        copy.write(b"".join(part[name]))
                    count, seconds = by_table.get(name, (0, 0.0))
                    took = time.perf_counter() - began
                    by_table[name] = (count + len(part[name]), seconds + took)
            raw.commit()
        elapsed = time.perf_counter() - started
        return DutiesFloor(elapsed, sum(len(lines[n]) - seeded[n] for n in tables), by_table)
    finally:
        raw.close()
        engine.dispose()


def postgresql_floor(url: str, records: list[dict[str, Any]]) -> float:
    """The same rows with COPY into the same (migrated, empty) PostgreSQL schema."""
    engine = make_engine(url)
    activity_rows, attendance_rows = _floor_rows(records)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        with cursor.copy(
            "COPY activity (id, project_id, type, title, start_date, end_date, topic, modality, "
            "level, delivery, value_chain_stage, facilitators, experts_count, location, notes, "
            "status, version, captured_at, deleted, late, flags, created_at, updated_at, "
            "submitted_at) FROM STDIN"
        ) as copy:
            for row in activity_rows:
                values = list(row)
                values[0], values[1] = str(uuid.UUID(values[0])), str(uuid.UUID(values[1]))
                values[18], values[19] = bool(values[18]), bool(values[19])
                copy.write_row(values)
        with cursor.copy(
            "COPY attendance (activity_id, sex, age_band, category, disability, count) FROM STDIN"
        ) as copy:
            for row in attendance_rows:
                copy.write_row(
                    (str(uuid.UUID(row[0])), row[1], row[2], row[3], bool(row[4]), row[5])
                )
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()


def ingest(
    url: str, workdir: Path, records_count: int, *, label: str
) -> tuple[float, float, int, World, list[dict[str, Any]]]:
    """Push ``records_count`` activities through HTTP; returns (seconds, saving seconds,
    bytes sent, world, records)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        world = seed(engine)
    finally:
        engine.dispose()
    records = activities(world.project_id, records_count)
    store = DeviceStore(workdir / f"{label}-tablet.sqlite3", device_id=world.device_id)
    with load_bench.running_server(
        url, workdir / f"{label}-data", 1, workdir / f"{label}-server.log"
    ) as base:
        client = SyncClient(base, token=world.token, timeout=(10, 300))
        engine_ = SyncEngine(store, client)
        # A server's first push pays once for what later ones reuse (compiled statements,
        # modules and pages loaded): a few activities go first, timed apart, so that the
        # figure is the throughput of a running server.
        store.save_many("activity", activities(world.project_id, WARM_UP, seed_value=99))
        started = time.perf_counter()
        engine_.push()
        INGEST_FIRST[label] = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(0, len(records), 1000):
            store.save_many("activity", records[start : start + 1000])
        saving = time.perf_counter() - started
        sent_before = client.bytes_sent
        waiting = _time_requests(client)
        # The bench holds every record in memory (for the floor and the wire figure); a tablet
        # would not. Frozen, they are not rescanned by the client's garbage collector during
        # the push, which the client's share of the time below would otherwise include.
        gc.collect()
        gc.freeze()
        port = base.rsplit(":", 1)[1]
        before = _cpu_seconds(port)
        started = time.perf_counter()
        tablet = time.process_time()
        try:
            report = engine_.push()
        finally:
            pushing = time.perf_counter() - started
            tablet = time.process_time() - tablet
            after = _cpu_seconds(port)
            gc.unfreeze()
    assert report.pushed.get("applied") == records_count, report.pushed
    assert store.pending_count() == 0
    store.close()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM attendance")).scalar_one()
        assert stored == 8 * (records_count + WARM_UP), stored
    finally:
        engine.dispose()
    INGEST_WAITING[label] = waiting[0]
    INGEST_REQUESTS[label] = waiting[1]
    if before is not None and after is not None:
        INGEST_CPU[label] = (after[0] - before[0], after[1] - before[1], tablet)
    return pushing, saving, client.bytes_sent - sent_before, world, records


WARM_UP = 20  # activities of the untimed first push
# Seconds the client spent inside its push requests (HTTP and the server's work), by label.
INGEST_WAITING: dict[str, float] = {}
# Push requests (batches, each its own transaction) the timed push took, by label.
INGEST_REQUESTS: dict[str, int] = {}
# Seconds of the first push (``WARM_UP`` activities) to the freshly started server, by label.
INGEST_FIRST: dict[str, float] = {}
# CPU seconds during the timed push, by label: the server's processes, PostgreSQL's processes
# (all of this machine's; none on SQLite) and the tablet's (this process, its helper thread
# included). On a machine of few cores their sum bounds how far the three can overlap.
INGEST_CPU: dict[str, tuple[float, float, float]] = {}


def _cpu_seconds(port: str) -> tuple[float, float] | None:
    """CPU seconds used so far by the server listening on ``port`` (its processes) and by
    this machine's PostgreSQL processes, from ``/proc`` (None where there is none)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    server = database = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if b"serve" in command and port.encode() in command:
            server += used
        elif name == "postgres":
            database += used
    return server, database


def _cpu_rows(label: str, seconds: float, *, database: bool) -> list[Row]:
    """The CPU the push took, by process, against its wall time and this machine's cores."""
    used = INGEST_CPU.get(label)
    if used is None:
        return []
    server, postgres, tablet = used
    parts = [("the server", server), ("the tablet", tablet)]
    if database:
        parts.insert(1, ("PostgreSQL", postgres))
    total = sum(value for _, value in parts)
    cores = os.cpu_count() or 1
    return [
        Row(
            f"  CPU during the push: {', '.join(f'{name} {value:.2f} s' for name, value in parts)}",
            f"{total:.2f} s",
            f"{seconds * cores:.2f} s on {cores} cores",
            f"{total / (seconds * cores):.2f}",
            "",
            "",
        )
    ]


def _time_requests(client: SyncClient) -> list[Any]:
    """Count the time ``client`` spends in ``push_packed``, and its requests; the rest of a push
    is the tablet's own work that did not overlap a request (reading its outbox, gzip and
    storing answers run on a helper thread while a batch is in flight: only the first read
    and the last answer stay outside)."""
    spent = [0.0, 0]
    send = client.push_packed

    def timed(packed: bytes) -> Any:
        started = time.perf_counter()
        try:
            return send(packed)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += 1

    client.push_packed = timed  # type: ignore[method-assign]
    return spent


def bench_ingest(
    workdir: Path, count: int, rows: list[Row], postgres: str | None, repeat: int = 3
) -> None:
    template = workdir / "empty.sqlite3"
    upgrade_engine = make_engine(f"sqlite:///{template}")
    upgrade(upgrade_engine)
    upgrade_engine.dispose()
    with sqlite3.connect(template) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # The best of ``repeat`` pushes, each into a fresh copy of the schema, against the best of
    # three floors: on a shared machine the best run is the one least slowed by others.
    runs = []
    for n in range(repeat):
        server_db = workdir / f"ingest-{n}.sqlite3"
        shutil.copyfile(template, server_db)
        print(f"ingest: pushing {count} activities to SQLite over HTTP ({n + 1}) …", flush=True)
        runs.append((*ingest(f"sqlite:///{server_db}", workdir, count, label=f"sqlite-{n}"), n))
    seconds, saving, sent, world, records, best = min(runs, key=lambda run: run[0])
    server_db = workdir / f"ingest-{best}.sqlite3"
    waiting = INGEST_WAITING[f"sqlite-{best}"]
    floor_db = workdir / "floor-template.sqlite3"
    shutil.copyfile(template, floor_db)
    floor_engine = make_engine(f"sqlite:///{floor_db}")
    with Session(write_engine(floor_engine)) as session:
        session.execute(
            insert(Project).values(
                id=uuid.UUID(world.project_id),
                code="P",
                name="P",
                kind="CPP",
                country="LSO",
                thematic_area="TA1",
                solutions=[],
                partners=[],
                start_date=date(2020, 1, 1),
                end_date=date(2030, 12, 31),
                roster=False,
                version=1,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        session.commit()
    floor_engine.dispose()
    floor = min(sqlite_floor(floor_db, workdir, world.project_id, records) for _ in range(3))
    bare_floor = min(sqlite_bare_floor(workdir, records) for _ in range(3))
    duties = min(
        (sqlite_duties_floor(floor_db, server_db, workdir) for _ in range(3)),
        key=lambda duties: duties.seconds,
    )
    requests = INGEST_REQUESTS[f"sqlite-{best}"]
    batched = min(
        (sqlite_duties_floor(floor_db, server_db, workdir, batches=requests) for _ in range(3)),
        key=lambda duties: duties.seconds,
    )
    rows.append(
        Row(
            f"ingest {count} activities, SQLite",
            f"{seconds:.2f} s",
            f"{floor:.2f} s executemany",
            f"{seconds / floor:.1f}×",
            "≤ 3×",
            "ok" if seconds <= 3 * floor else "MISSED",
        )
    )
    rows.append(_bare_row(seconds, bare_floor, "executemany"))
    rows.extend(_duties_rows(duties, floor, "executemany"))
    rows.append(_batched_row(batched, requests, floor))
    rows.append(
        Row(
            f"  of which: in push requests (HTTP + server); best of {repeat}",
            f"{waiting:.2f} s",
            "",
            "",
            "",
            "",
        )
    )
    rows.extend(_cpu_rows(f"sqlite-{best}", seconds, database=False))
    rows.append(
        Row("  tablet saves before the push (not timed)", f"{saving:.2f} s", "", "", "", "")
    )
    rows.append(
        Row(
            f"  the started server's first push ({WARM_UP} activities, not timed)",
            f"{INGEST_FIRST[f'sqlite-{best}']:.2f} s",
            "",
            "",
            "",
            "",
        )
    )

    bare = gzip.compress(json.dumps(records, separators=(",", ":")).encode())
    per_activity, bare_per = sent / count, len(bare) / count
    rows.append(
        Row(
            "wire bytes per activity (push bodies)",
            f"{per_activity:.0f} B",
            f"{bare_per:.0f} B gzip array",
            f"{per_activity / bare_per:.2f}×",
            "≤ 1.2×",
            "ok" if per_activity <= 1.2 * bare_per else "MISSED",
        )
    )

    if postgres:
        best_pg: tuple[float, list[dict[str, Any]], str] | None = None
        for n in range(repeat):
            print(
                f"ingest: pushing {count} activities to PostgreSQL over HTTP ({n + 1}) …",
                flush=True,
            )
            load_bench._wipe(postgres)
            took, _, _, _, pushed = ingest(postgres, workdir, count, label=f"postgresql-{n}")
            if best_pg is None or took < best_pg[0]:
                best_pg = (took, pushed, f"postgresql-{n}")
        assert best_pg is not None
        seconds, records, label = best_pg
        requests = INGEST_REQUESTS[label]
        both = postgresql_duties_floor(postgres, batches=(1, requests))
        duties, batched = both[1], both[requests]
        floors = []
        for _ in range(3):  # the best of three, as on SQLite, each into a fresh schema
            engine = _fresh_postgresql(postgres)
            world = seed(engine)
            engine.dispose()
            for record in records:
                record["project_id"] = world.project_id
            floors.append(postgresql_floor(postgres, records))
        floor = min(floors)
        bare_floor = min(postgresql_bare_floor(postgres, records) for _ in range(3))
        rows.append(
            Row(
                f"ingest {count} activities, PostgreSQL",
                f"{seconds:.2f} s",
                f"{floor:.2f} s COPY",
                f"{seconds / floor:.1f}×",
                "≤ 3×",
                "ok" if seconds <= 3 * floor else "MISSED",
            )
        )
        rows.append(_bare_row(seconds, bare_floor, "COPY"))
        rows.extend(_duties_rows(duties, floor, "COPY"))
        rows.append(_batched_row(batched, requests, floor))
        rows.append(
            Row(
                f"  of which: in push requests (HTTP + server); best of {repeat}",
                f"{INGEST_WAITING[label]:.2f} s",
                "",
                "",
                "",
                "",
            )
        )
        rows.extend(_cpu_rows(label, seconds, database=True))
        rows.append(
            Row(
                f"  the started server's first push ({WARM_UP} activities, not timed)",
                f"{INGEST_FIRST[label]:.2f} s",
                "",
                "",
                "",
                "",
            )
        )


def _duties_rows(duties: DutiesFloor, floor: float, how: str) -> list[Row]:
    """Every row the push wrote, inserted again by ``how``, against the floor; then each table
    that took a hundredth of that or more, dearest first (the roll-up cube's tables as one)."""
    rows = [
        Row(
            f"  every row the push wrote ({duties.rows}), {how}",
            f"{duties.seconds:.2f} s",
            f"{floor:.2f} s {how}",
            f"{duties.seconds / floor:.1f}×",
            "",
            "",
        )
    ]
    tables: dict[str, tuple[int, float]] = {}
    for name, (count, seconds) in duties.tables.items():
        key = "indicator_cube_*" if name.startswith("indicator_cube_") else name
        known = tables.get(key, (0, 0.0))
        tables[key] = (known[0] + count, known[1] + seconds)
    for name, (count, seconds) in sorted(tables.items(), key=lambda item: -item[1][1]):
        if seconds >= duties.seconds / 100:
            rows.append(
                Row(
                    f"    {name} ({count} rows)",
                    f"{seconds:.2f} s",
                    "",
                    f"{seconds / floor:.2f}×",
                    "",
                    "",
                )
            )
    return rows


def _batched_row(batched: DutiesFloor, requests: int, floor: float) -> Row:
    """The same rows again, committed in as many transactions as the push's requests: what the
    protocol's shape (each batch durable before its answer) costs before any Python work."""
    return Row(
        f"  the same rows in the push's {requests} transaction{'s' if requests > 1 else ''}",
        f"{batched.seconds:.2f} s",
        "",
        f"{batched.seconds / floor:.1f}×",
        "",
        "",
    )


def _bare_row(seconds: float, floor: float, how: str) -> Row:
    return Row(
        "  against a bare two-table insert (no index)",
        "",
        f"{floor:.2f} s {how}",
        f"{seconds / floor:.1f}×",
        "≤ 8×",
        "ok" if seconds <= 8 * floor else "MISSED",
    )


# --- incremental pull against the size of the change log --------------------------------------


def change_log_of(size: int, workdir: Path, template: Path) -> tuple[str, World, str]:
    """A database whose change log holds ``size`` changes, the last 100 real activities."""
    path = workdir / f"pull-{size}.sqlite3"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        world = seed(engine)
        mine, other = uuid.UUID(world.project_id), uuid.UUID(world.other_project_id)
        filler = size - 100
        now = datetime.now(UTC)
        with Session(write_engine(engine)) as session:
            # Older history: half of it in this tablet's project, half in another one.
            for start in range(0, filler, 50_000):
                session.execute(
                    insert(Change),
                    [
                        {
                            "entity": "activity",
                            "entity_id": uuid.uuid4(),
                            "op": "upsert",
                            "version": 1,
                            "project_id": mine if n % 2 else other,
                            "created_at": now,
                        }
                        for n in range(start, min(filler, start + 50_000))
                    ],
                )
            session.commit()
        with Session(write_engine(engine)) as session:
            for record in activities(world.project_id, 100, seed_value=size):
                write_activity(session, data=record, existing=None, source="api", author_id=None)
            session.commit()
        cursor = Cursor(filler, scope_digest([mine]), catalogue_digest()).encode()
    finally:
        engine.dispose()
    return url, world, cursor


def timed_pulls(
    url: str, world: World, cursor: str, workdir: Path, label: str, repeats: int
) -> float:
    with load_bench.running_server(
        url, workdir / f"{label}-data", 1, workdir / f"{label}-server.log"
    ) as base:
        client = SyncClient(base, token=world.token)
        samples = []
        for _ in range(repeats + 3):
            started = time.perf_counter()
            page = client.pull(cursor, limit=500)
            samples.append(time.perf_counter() - started)
            assert len(page.changes) == 100 and not page.has_more, len(page.changes)
    return statistics.median(samples[3:])  # the first requests warm the caches


def bench_pull(workdir: Path, sizes: tuple[int, int], rows: list[Row]) -> None:
    template = workdir / "empty.sqlite3"
    if not template.exists():
        engine = make_engine(f"sqlite:///{template}")
        upgrade(engine)
        engine.dispose()
    timings = []
    for size in sizes:
        print(f"pull: building a change log of {size} changes …", flush=True)
        url, world, cursor = change_log_of(size, workdir, template)
        timings.append(timed_pulls(url, world, cursor, workdir, f"pull-{size}", repeats=30))
    small, large = timings
    rows.append(
        Row(
            f"pull 100 changes at {sizes[1]:,} changes",
            f"{large * 1000:.1f} ms",
            f"{small * 1000:.1f} ms at {sizes[0]:,}",
            f"{large / small:.2f}×",
            "0.5–1.5×",
            "ok" if 0.5 <= large / small <= 1.5 else "MISSED",
        )
    )


# --- load ------------------------------------------------------------------------------------


def bench_load(workdir: Path, tablets: int, seconds: float, rows: list[Row]) -> None:
    print(f"load: {tablets} tablets for {seconds:.0f} s on SQLite …", flush=True)
    url = f"sqlite:///{workdir / 'load.sqlite3'}"
    result = load_bench.run_backend(
        "sqlite", url, workers=1, tablets=tablets, seconds=seconds, think=0.5, workdir=workdir
    )
    pushes = [1000 * s for s in result.latencies.samples.get("push", [])]
    clean = result.errors == result.lost == result.duplicated == 0
    rows.append(
        Row(
            f"load {tablets} tablets × {result.seconds:.0f} s, SQLite",
            f"errors {result.errors}, lost {result.lost}, dup {result.duplicated}",
            f"{result.mutations} mutations, {len(pushes)} pushes",
            "",
            "all 0",
            "ok" if clean else "MISSED",
        )
    )
    rows.append(
        Row(
            "  push latency p50 / p95",
            f"{load_bench.percentile(pushes, 0.5):.0f} / "
            f"{load_bench.percentile(pushes, 0.95):.0f} ms",
            "",
            "",
            "",
            "",
        )
    )
    for line in result.first_errors:
        print(f"  {line}")


# --- report ----------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    headers = Row("measure", "value", "baseline (same run)", "ratio", "target", "")
    widths = [
        max(len(getattr(r, f)) for r in [headers, *rows])
        for f in ("metric", "value", "baseline", "ratio", "target", "verdict")
    ]
    print()
    for n, row in enumerate([headers, *rows]):
        cells = (row.metric, row.value, row.baseline, row.ratio, row.target, row.verdict)
        print(" | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if n == 0:
            print("-+-".join("-" * w for w in widths))
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of every size, 10 tablets for 15 s"
    )
    parser.add_argument("--activities", type=int, help="activities to ingest (20000)")
    parser.add_argument("--pull-sizes", help="two change-log sizes (100000,1000000)")
    parser.add_argument("--tablets", type=int, help="simulated tablets (50)")
    parser.add_argument("--seconds", type=float, help="load duration (60)")
    parser.add_argument(
        "--only",
        default="ingest,pull,load",
        help="comma list of ingest (includes wire), pull, load",
    )
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="ingest pushes per backend, the best counts (3)"
    )
    args = parser.parse_args(argv)
    count = args.activities or (2_000 if args.quick else 20_000)
    sizes = (
        tuple(int(s) for s in args.pull_sizes.split(","))
        if args.pull_sizes
        else ((10_000, 100_000) if args.quick else (100_000, 1_000_000))
    )
    tablets = args.tablets or (10 if args.quick else 50)
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    only = set(args.only.split(","))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pilotmon-sync-bench-") as tmp:
        workdir = Path(tmp)
        if "ingest" in only:
            if args.no_postgresql:
                bench_ingest(workdir, count, rows, None, args.repeat)
            else:
                with load_bench.postgresql_database() as postgres:
                    bench_ingest(workdir, count, rows, postgres, args.repeat)
        if "pull" in only:
            bench_pull(workdir, sizes, rows)  # type: ignore[arg-type]
        if "load" in only:
            bench_load(workdir, tablets, seconds, rows)
    print_table(rows)
    return 1 if any(r.verdict == "MISSED" and r.metric.startswith("load") for r in rows) else 0


if __name__ == "__main__":
    run(main)
