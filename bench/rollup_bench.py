"""Roll-up benchmark (docs/performance.md): our indicator queries next to DuckDB on the same rows.

Generates a world of about 1 000 000 attendance rows (125 000 activities in 60 projects of 30
countries over three years, a roster for a quarter of the projects, quarterly and yearly
targets), bulk-inserts it, builds the roll-ups, then times — best of several runs, after a
warm-up — five typical queries and the HQ summary through our service functions, and the same
questions answered by DuckDB from the raw tables (activity, attendance, project, roster,
participant, target) in the same process. Every answer is checked equal to DuckDB's before
its time is printed. Finally: the cost of refreshing after a 500-activity push, on this world
and on a small one (it should not depend on the size), next to a full rebuild.

    .venv/bin/python bench/rollup_bench.py                       # SQLite, ~1M rows
    .venv/bin/python bench/rollup_bench.py --attendance 100000   # quicker
    .venv/bin/python bench/rollup_bench.py --database-url postgresql://u:p@host/db  # wiped!
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
from common import run
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.service import write_activity
from server.db import check_reachable, make_engine, write_engine
from server.indicators.refresh import apply_pending, rebuild_all
from server.indicators.service import indicator_values, parse_values_query
from server.migrate import upgrade
from server.reports.service import summary
from server.wiring import install as install_wiring
from shared.catalogue import SOLUTIONS, TOPICS, solutions_of
from shared.geography import COUNTRIES, REGIONS, region_of
from shared.indicators import period_bounds

# What the application connects at start-up: this script writes activities itself.
install_wiring()

SEXES = ("female", "male", "unspecified")
AGES = ("youth", "adult", "senior", "unspecified")
CATEGORIES = ("farmer", "technician", "official", "other")
TYPES = (
    "demonstration",
    "farmer_training",
    "field_day",
    "workshop",
    "seminar",
    "webinar",
    "expert_deployment",
    "farmer_to_farmer",
    "study_tour",
    "other",
)
TYPE_WEIGHTS = (20, 30, 10, 10, 5, 3, 8, 8, 3, 3)
STATUS_CHOICES = ("approved",) * 70 + ("submitted",) * 20 + ("returned",) * 7 + ("deleted",) * 3
FIRST_DAY, DAYS = date(2023, 1, 1), 3 * 365
REPEATS = 5


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    projects: list[tuple[Any, ...]] = field(default_factory=list)
    activities: list[tuple[Any, ...]] = field(default_factory=list)
    attendance: list[tuple[Any, ...]] = field(default_factory=list)
    participants: list[tuple[Any, ...]] = field(default_factory=list)
    roster: list[tuple[Any, ...]] = field(default_factory=list)
    targets: list[tuple[Any, ...]] = field(default_factory=list)


def generate(attendance_rows: int, seed: int = 7) -> World:
    rng = random.Random(seed)
    world = World()
    countries = [c for region in REGIONS.values() for c in region.countries[:5]][:30]
    n_activities = max(1, attendance_rows // 8)
    keys = [(s, a, c, d) for s in SEXES for a in AGES for c in CATEGORIES for d in (False, True)]
    project_info = []
    for n in range(60):
        country = countries[n % len(countries)]
        area = rng.choice(("TA1", "TA2", "TA3", "TA4"))
        solutions = [s.code for s in solutions_of(area)][:2]
        pid = uuid.uuid4()
        world.projects.append(
            (
                pid,
                f"{country}-{n:03d}",
                f"Pilot {n}",
                "CPP" if n % 3 else "DAA",
                country,
                area,
                solutions,
                date(2023, 1, 1),
                date(2026, 12, 31),
            )
        )
        roster = []
        if n % 4 == 0:
            for k in range(600):
                person = uuid.uuid4()
                roster.append(person)
                world.participants.append(
                    (
                        person,
                        pid,
                        f"QR-{n}-{k}",
                        rng.choice(SEXES),
                        rng.randint(1950, 2008),
                        rng.choice(CATEGORIES),
                        rng.random() < 0.05,
                        rng.random() < 0.02,
                    )
                )
        topics = [t for t in TOPICS.values() if t.solution in solutions]
        project_info.append((pid, topics, roster))
    for _ in range(n_activities):
        pid, topics, roster = rng.choice(project_info)
        start = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        kind = rng.choices(TYPES, TYPE_WEIGHTS)[0]
        status = rng.choice(STATUS_CHOICES)
        aid = uuid.uuid4()
        world.activities.append(
            (
                aid,
                pid,
                kind,
                start,
                start + timedelta(days=rng.choice((0, 0, 0, 1, 2, 4))),
                rng.choice(topics).code if rng.random() < 0.8 else None,
                rng.choice("PTK"),
                rng.choice(("L1", "L2", "L3")),
                rng.choice(("in_person", "in_person", "online")),
                rng.randint(0, 4),
                "approved" if status == "deleted" else status,
                status == "deleted",
            )
        )
        for key in rng.sample(keys, rng.randint(4, 12)):
            world.attendance.append((aid, *key, rng.randint(0, 40)))
        if roster and rng.random() < 0.4:
            for person in rng.sample(roster, rng.randint(5, 20)):
                world.roster.append((aid, person))
    for pid, _, _ in project_info:
        for year in (2023, 2024, 2025):
            world.targets.append((uuid.uuid4(), pid, "TRAININGS", str(year), rng.randint(20, 80)))
            for quarter in (1, 2, 3, 4):
                world.targets.append(
                    (uuid.uuid4(), pid, "PARTICIPANTS", f"{year}Q{quarter}", rng.randint(500, 5000))
                )
    return world


# --- loading -----------------------------------------------------------------------------------


def bulk_insert(
    engine: Engine, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """The fastest plain insert each backend has: executemany (SQLite), COPY (PostgreSQL)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        if engine.dialect.name == "postgresql":
            with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([str(v) if isinstance(v, uuid.UUID) else v for v in row])
        else:
            marks = ", ".join("?" for _ in columns)
            cursor.execute("BEGIN")
            cursor.executemany(
                f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                [
                    [
                        v.hex
                        if isinstance(v, uuid.UUID)
                        else v.isoformat()
                        if isinstance(v, date)
                        else v
                        for v in row
                    ]
                    for row in rows
                ],
            )
        raw.commit()
    finally:
        raw.close()


def load(engine: Engine, world: World) -> None:
    import json

    now = "2025-12-31 00:00:00"
    pg = engine.dialect.name == "postgresql"
    bulk_insert(
        engine,
        "project",
        (
            "id",
            "code",
            "name",
            "kind",
            "country",
            "thematic_area",
            "solutions",
            "partners",
            "start_date",
            "end_date",
            "roster",
            "version",
            "created_at",
            "updated_at",
        ),
        ((*p[:6], json.dumps(p[6]), "[]", p[7], p[8], False, 1, now, now) for p in world.projects),
    )
    bulk_insert(
        engine,
        "activity",
        (
            "id",
            "project_id",
            "type",
            "title",
            "start_date",
            "end_date",
            "topic",
            "modality",
            "level",
            "delivery",
            "experts_count",
            "status",
            "deleted",
            "facilitators",
            "notes",
            "version",
            "late",
            "flags",
            "created_at",
            "updated_at",
        ),
        (
            (
                a[0],
                a[1],
                a[2],
                "Bench activity",
                a[3],
                a[4],
                a[5],
                a[6],
                a[7],
                a[8],
                a[9],
                a[10],
                a[11],
                "[]",
                "",
                1,
                False,
                "[]",
                now,
                now,
            )
            for a in world.activities
        ),
    )
    bulk_insert(
        engine,
        "attendance",
        ("activity_id", "sex", "age_band", "category", "disability", "count"),
        world.attendance,
    )
    bulk_insert(
        engine,
        "participant",
        (
            "id",
            "project_id",
            "code",
            "sex",
            "birth_year",
            "category",
            "disability",
            "deleted",
            "version",
            "created_at",
            "updated_at",
        ),
        ((*p, 1, now, now) for p in world.participants),
    )
    bulk_insert(engine, "activity_participant", ("activity_id", "participant_id"), world.roster)
    bulk_insert(
        engine,
        "target",
        ("id", "project_id", "indicator", "period", "value", "version", "created_at", "updated_at"),
        ((*t, 1, now, now) for t in world.targets),
    )
    if pg:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def load_duckdb(world: World, folder: Path) -> duckdb.DuckDBPyConnection:
    def write(name: str, rows: Iterable[Sequence[Any]]) -> str:
        path = folder / f"{name}.csv"
        with open(path, "w", newline="") as handle:
            out = csv.writer(handle)
            for row in rows:
                out.writerow(["" if v is None else v for v in row])
        return str(path)

    con = duckdb.connect()
    tables = {
        "project": (
            "id UUID, code VARCHAR, country VARCHAR, thematic_area VARCHAR",
            ((p[0], p[1], p[4], p[5]) for p in world.projects),
        ),
        "activity": (
            "id UUID, project_id UUID, type VARCHAR, start_date DATE, "
            "end_date DATE, topic VARCHAR, modality VARCHAR, experts_count INTEGER, "
            "status VARCHAR, deleted BOOLEAN",
            (
                (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[9], a[10], a[11])
                for a in world.activities
            ),
        ),
        "attendance": (
            "activity_id UUID, sex VARCHAR, age_band VARCHAR, category VARCHAR, "
            "disability BOOLEAN, count INTEGER",
            world.attendance,
        ),
        "participant": (
            "id UUID, project_id UUID, sex VARCHAR, deleted BOOLEAN",
            ((p[0], p[1], p[3], p[7]) for p in world.participants),
        ),
        "activity_participant": ("activity_id UUID, participant_id UUID", world.roster),
        "target": (
            "project_id UUID, indicator VARCHAR, period VARCHAR, value DOUBLE, "
            "first DATE, last DATE",
            ((t[1], t[2], t[3], t[4], *period_bounds(t[3])) for t in world.targets),
        ),
        "topic_map": (
            "topic VARCHAR, solution VARCHAR, thematic_area VARCHAR",
            ((t.code, t.solution, SOLUTIONS[t.solution].thematic_area) for t in TOPICS.values()),
        ),
        "country_region": (
            "country VARCHAR, region VARCHAR",
            ((c, region_of(c)) for c in COUNTRIES),
        ),
    }
    for name, (schema, rows) in tables.items():
        path = write(name, rows)
        columns = ", ".join(f"'{c.split()[0]}': '{c.split()[1]}'" for c in schema.split(", "))
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=false, "
            f"columns={{{columns}}}, nullstr='')"
        )
    return con


# --- the questions, asked both ways ---------------------------------------------------------

COUNTED = """
WITH counted AS (
  SELECT a.*, p.country, r.region, COALESCE(tm.thematic_area, p.thematic_area) AS ta
  FROM activity a JOIN project p ON p.id = a.project_id
  JOIN country_region r ON r.country = p.country
  LEFT JOIN topic_map tm ON tm.topic = a.topic
  WHERE NOT a.deleted AND a.status IN ('submitted', 'approved'))
"""
DUCK_Q1 = (
    COUNTED
    + """
SELECT c.country, year(c.start_date) || 'Q' || quarter(c.start_date), t.sex, SUM(t.count)
FROM counted c JOIN attendance t ON t.activity_id = c.id GROUP BY ALL HAVING SUM(t.count) > 0
"""
)
DUCK_Q2 = (
    COUNTED
    + """
SELECT c.ta, CAST(year(c.start_date) AS VARCHAR),
       SUM(CASE WHEN t.sex = 'female' THEN t.count ELSE 0 END), SUM(t.count)
FROM counted c LEFT JOIN attendance t ON t.activity_id = c.id GROUP BY ALL
"""
)
DUCK_Q3 = COUNTED + "SELECT c.modality, c.region, COUNT(*) FROM counted c GROUP BY ALL"
DUCK_Q4 = (
    COUNTED
    + """,
per_activity AS (
  SELECT c.id, c.project_id, c.start_date, c.type = 'farmer_training' AS training,
         COALESCE(SUM(t.count), 0) AS participants
  FROM counted c LEFT JOIN attendance t ON t.activity_id = c.id GROUP BY ALL)
SELECT p.code, g.indicator, g.period, ANY_VALUE(g.value),
       COALESCE(SUM(CASE WHEN g.indicator = 'PARTICIPANTS' THEN m.participants
                         ELSE CAST(m.training AS INTEGER) END), 0)
FROM target g JOIN project p ON p.id = g.project_id
LEFT JOIN per_activity m ON m.project_id = g.project_id AND m.start_date BETWEEN g.first AND g.last
GROUP BY p.code, g.indicator, g.period
"""
)
DUCK_Q5 = (
    COUNTED
    + """
SELECT c.country, COUNT(DISTINCT ap.participant_id)
FROM counted c JOIN activity_participant ap ON ap.activity_id = c.id
JOIN participant pt ON pt.id = ap.participant_id WHERE NOT pt.deleted GROUP BY 1
"""
)
DUCK_SUMMARY = [
    COUNTED
    + """,
q AS (SELECT * FROM counted WHERE start_date BETWEEN DATE '2025-07-01' AND DATE '2025-09-30'),
att AS (SELECT t.activity_id, SUM(t.count) n,
               SUM(CASE WHEN t.sex = 'female' THEN t.count ELSE 0 END) w,
               SUM(CASE WHEN t.age_band = 'youth' THEN t.count ELSE 0 END) y,
               SUM(CASE WHEN t.disability THEN t.count ELSE 0 END) d
        FROM attendance t JOIN q ON q.id = t.activity_id GROUP BY 1)
SELECT q.country, q.ta, COUNT(*), SUM(CAST(q.type = 'demonstration' AS INTEGER)),
       SUM(CAST(q.type = 'farmer_training' AS INTEGER)),
       SUM(CASE WHEN q.type = 'expert_deployment'
                THEN q.experts_count * (date_diff('day', q.start_date, q.end_date) + 1)
                ELSE 0 END),
       COALESCE(SUM(att.n), 0), COALESCE(SUM(att.w), 0), COALESCE(SUM(att.y), 0),
       COALESCE(SUM(att.d), 0)
FROM q LEFT JOIN att ON att.activity_id = q.id GROUP BY ALL
""",
    COUNTED
    + """
SELECT c.country, c.ta, COUNT(DISTINCT ap.participant_id)
FROM counted c JOIN activity_participant ap ON ap.activity_id = c.id
JOIN participant pt ON pt.id = ap.participant_id
WHERE NOT pt.deleted AND c.start_date BETWEEN DATE '2025-07-01' AND DATE '2025-09-30'
GROUP BY GROUPING SETS ((c.country), (c.ta), ())
""",
    COUNTED
    + """,
per_activity AS (
  SELECT c.id, c.project_id, c.start_date, c.type = 'farmer_training' AS training,
         COALESCE(SUM(t.count), 0) AS participants
  FROM counted c LEFT JOIN attendance t ON t.activity_id = c.id
  WHERE c.start_date BETWEEN DATE '2025-07-01' AND DATE '2025-09-30' GROUP BY ALL)
SELECT p.country, p.thematic_area, g.indicator, g.period, SUM(g.value), SUM(a.actual)
FROM (SELECT g.project_id, g.indicator, g.period, ANY_VALUE(g.value) value,
             COALESCE(SUM(CASE WHEN g.indicator = 'PARTICIPANTS' THEN m.participants
                               ELSE CAST(m.training AS INTEGER) END), 0) actual
      FROM target g LEFT JOIN per_activity m ON m.project_id = g.project_id
           AND m.start_date BETWEEN g.first AND g.last
      WHERE g.first >= DATE '2025-07-01' AND g.last <= DATE '2025-09-30'
      GROUP BY 1, 2, 3) a
JOIN target g ON g.project_id = a.project_id AND g.indicator = a.indicator
     AND g.period = a.period
JOIN project p ON p.id = a.project_id
GROUP BY GROUPING SETS ((p.country, g.indicator, g.period), (p.thematic_area, g.indicator,
                        g.period))
""",
]


def _ours(engine: Engine, code: str, group_by: str) -> Callable[[], list[dict[str, Any]]]:
    def run() -> list[dict[str, Any]]:
        with Session(engine) as session:
            return indicator_values(
                session, caller=None, query=parse_values_query(code=code, group_by=group_by)
            ).rows

    return run


def _ours_summary(engine: Engine) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        with Session(engine) as session:
            return summary(session, caller=None, period="2025Q3")

    return run


def best_ms(run: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    result = run()  # warm-up (and the answer we check)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * min(times), result


def _approx(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 0.011
    return bool(a == b)


def check(name: str, ours: dict[tuple[Any, ...], Any], theirs: dict[tuple[Any, ...], Any]) -> None:
    if ours.keys() != theirs.keys() or not all(_approx(ours[k], theirs[k]) for k in ours):
        missing = sorted(set(theirs) ^ set(ours), key=str)[:5]
        wrong = [
            (k, ours.get(k), theirs.get(k))
            for k in ours
            if k in theirs and not _approx(ours[k], theirs[k])
        ][:5]
        raise SystemExit(f"{name}: our answer differs from DuckDB's: keys {missing}, {wrong}")


def compare(engine: Engine, con: duckdb.DuckDBPyConnection) -> list[tuple[str, float, float]]:
    def duck(sql: str) -> Callable[[], list[tuple[Any, ...]]]:
        return lambda: con.execute(sql).fetchall()

    def duck_many(sqls: list[str]) -> Callable[[], list[list[tuple[Any, ...]]]]:
        return lambda: [con.execute(s).fetchall() for s in sqls]

    lines = []
    ms, ours = best_ms(_ours(engine, "PARTICIPANTS", "country,period:quarter,sex"))
    dms, theirs = best_ms(duck(DUCK_Q1))
    check(
        "Q1",
        {(r["country"], r["period"], r["sex"]): r["value"] for r in ours},
        {(c, p, s): int(v) for c, p, s, v in theirs},
    )
    lines.append(("participants by country × quarter × sex", ms, dms))

    ms, ours = best_ms(_ours(engine, "WOMEN_SHARE", "thematic_area,period:year"))
    dms, theirs = best_ms(duck(DUCK_Q2))
    check(
        "Q2",
        {(r["thematic_area"], r["period"]): r["value"] for r in ours},
        {(t, y): (round(100 * w / n, 2) if n else None) for t, y, w, n in theirs},
    )
    lines.append(("women's share by thematic area × year", ms, dms))

    ms, ours = best_ms(_ours(engine, "ACTIVITIES", "modality,region"))
    dms, theirs = best_ms(duck(DUCK_Q3))
    check(
        "Q3",
        {(r["modality"], r["region"]): r["value"] for r in ours},
        {(m, r): int(v) for m, r, v in theirs},
    )
    lines.append(("activities by modality × region", ms, dms))

    ms, ours = best_ms(_ours(engine, "TARGET_ACHIEVEMENT", "project"))
    dms, theirs = best_ms(duck(DUCK_Q4))
    check(
        "Q4",
        {(r["project"], r["indicator"], r["period"]): r["value"] for r in ours},
        {(p, i, per): round(100 * a / v, 2) for p, i, per, v, a in theirs},
    )
    lines.append(("target achievement by project", ms, dms))

    ms, ours = best_ms(_ours(engine, "UNIQUE_PARTICIPANTS", "country"))
    dms, theirs = best_ms(duck(DUCK_Q5))
    check(
        "Q5",
        {(r["country"],): r["value"] for r in ours if r["value"]},
        {(c,): int(n) for c, n in theirs},
    )
    lines.append(("unique participants by country", ms, dms))

    ms, ours = best_ms(_ours_summary(engine))
    dms, theirs = best_ms(duck_many(DUCK_SUMMARY))
    cells, people, targets = theirs
    by_country: dict[str, list[int]] = {}
    for country, _, *numbers in cells:
        total = by_country.setdefault(country, [0] * len(numbers))
        for i, n in enumerate(numbers):
            total[i] += int(n)
    names = (
        "ACTIVITIES",
        "DEMONSTRATIONS",
        "TRAININGS",
        "EXPERT_DAYS",
        "PARTICIPANTS",
        "WOMEN_PARTICIPANTS",
        "YOUTH_PARTICIPANTS",
        "PWD_PARTICIPANTS",
    )
    check(
        "summary by country",
        {(r["country"], n): r[n] for r in ours["by_country"] for n in names},
        {(c, n): v[i] for c, v in by_country.items() for i, n in enumerate(names)},
    )
    check(
        "summary unique",
        {
            (r["country"],): r["UNIQUE_PARTICIPANTS"]
            for r in ours["by_country"]
            if r["UNIQUE_PARTICIPANTS"]
        },
        {(c,): int(n) for c, t, n in people if c is not None},
    )
    check(
        "summary targets",
        {
            (r["country"], t["indicator"], t["period"]): t["achievement"]
            for r in ours["by_country"]
            for t in r["targets"]
        },
        {(c, i, p): round(100 * a / v, 2) for c, ta, i, p, v, a in targets if c is not None},
    )
    lines.append(("HQ summary 2025Q3 (by country and thematic area)", ms, dms))
    return lines


# --- refreshing after a push -------------------------------------------------------------------


def push_500(engine: Engine, project_id: uuid.UUID, seed: int) -> float:
    """Write 500 activities the way a push does, then time only the roll-up refresh (ms)."""
    rng = random.Random(seed)
    with Session(write_engine(engine)) as session:
        for _ in range(500):
            start = date(2025, 6, 1) + timedelta(days=rng.randrange(120))
            write_activity(
                session,
                data={
                    "id": str(uuid.uuid4()),
                    "project_id": str(project_id),
                    "type": rng.choice(TYPES),
                    "title": "Pushed",
                    "start_date": start.isoformat(),
                    "end_date": start.isoformat(),
                    "topic": None,
                    "modality": rng.choice("PTK"),
                    "experts_count": 2,
                    "attendance": [
                        {
                            "sex": s,
                            "age_band": "adult",
                            "category": "farmer",
                            "disability": False,
                            "count": rng.randint(1, 30),
                        }
                        for s in SEXES
                    ],
                },
                existing=None,
                source="push",
                author_id=None,
                device_id=None,
                status="submitted",
            )
        started = time.perf_counter()
        stats = apply_pending(session)
        elapsed = time.perf_counter() - started
        session.commit()
    assert stats is not None and stats.changed == 500
    return 1000 * elapsed


def check_database(url: str | None) -> None:
    """Fail in one line at once, not after the world is generated, when ``url`` is unreachable."""
    if url is not None:
        engine = make_engine(url)
        try:
            check_reachable(engine)
        finally:
            engine.dispose()


def fresh_database(url: str | None, folder: Path, name: str) -> Engine:
    if url is None:
        engine = make_engine(f"sqlite:///{folder / name}.sqlite3")
    else:
        engine = make_engine(url)
        check_reachable(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    return engine


def build(engine: Engine, world: World) -> tuple[float, float]:
    started = time.perf_counter()
    load(engine, world)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with Session(write_engine(engine)) as session:
        rebuild_all(session)
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return loaded, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--attendance",
        type=int,
        default=1_000_000,
        help="attendance rows of the large world (default 1 000 000)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL to use instead of a temporary SQLite file "
        "(its public schema is dropped)",
    )
    args = parser.parse_args()
    check_database(args.database_url)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        world = generate(args.attendance)
        print(
            f"world: {len(world.projects)} projects, {len(world.activities):,} activities, "
            f"{len(world.attendance):,} attendance rows, {len(world.roster):,} roster links, "
            f"{len(world.targets):,} targets "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        engine = fresh_database(args.database_url, folder, "large")
        backend = engine.dialect.name
        loaded, rebuilt = build(engine, world)
        print(f"{backend}: bulk insert {loaded:.1f} s; full roll-up rebuild {rebuilt:.1f} s")
        started = time.perf_counter()
        con = load_duckdb(world, folder)
        print(
            f"duckdb {duckdb.__version__}: loaded the same rows in "
            f"{time.perf_counter() - started:.1f} s\n"
        )

        print(
            f"{'query (best of ' + str(REPEATS) + ')':<52}{'ours ms':>10}{'duckdb ms':>11}"
            f"{'ratio':>8}"
        )
        for name, ours_ms, duck_ms in compare(engine, con):
            print(f"{name:<52}{ours_ms:>10.1f}{duck_ms:>11.1f}{ours_ms / duck_ms:>7.2f}×")
        print("(every answer above was checked equal to DuckDB's)\n")

        project_id = world.projects[0][0]
        large = [push_500(engine, project_id, seed) for seed in range(3)]
        engine.dispose()
        small_world = generate(max(8, args.attendance // 100), seed=11)
        small_engine = fresh_database(args.database_url, folder, "small")
        build(small_engine, small_world)
        small = [push_500(small_engine, small_world.projects[0][0], seed) for seed in range(3)]
        small_engine.dispose()
        print(
            f"refresh after a 500-activity push (best of 3): {min(large):.0f} ms with "
            f"{len(world.attendance):,} attendance rows, {min(small):.0f} ms with "
            f"{len(small_world.attendance):,} (ratio {min(large) / min(small):.2f}); "
            f"a full rebuild takes {rebuilt * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    run(main)
