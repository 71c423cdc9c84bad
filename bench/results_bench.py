"""Result-indicator benchmark (docs/performance.md): our answers next to DuckDB on the same rows.

Generates a harvest form (crop, plot demo/control, plot area, harvest, irrigated) and 250 000
observations in 60 projects of 30 countries over three years — 1 000 000 observation values —
bulk-inserts them, builds the result roll-up (``rebuild_results``), then times, best of several
runs after a warm-up, result-indicator questions through our service (``indicator_values``)
and the same questions asked of DuckDB over the raw observation rows in the same process.
Every answer is checked equal to DuckDB's before its time is printed.

Then: the refresh after a 500-observation push (``refresh_observations``, the delta the
observation writer calls) on this world and on one a hundred times smaller, next to a full
rebuild; and the ingest of 20 000 new observations pushed as a tablet does (the sync client
over HTTP to a real server on 127.0.0.1, every write duty included) against its floor, the
same rows inserted with a raw ``executemany`` (PostgreSQL: ``COPY``) in the same run.

    .venv/bin/python bench/results_bench.py                          # SQLite, 1M values
    .venv/bin/python bench/results_bench.py --observations 25000     # quicker
    .venv/bin/python bench/results_bench.py --database-url postgresql://u:p@host/db  # wiped!
    .venv/bin/python bench/results_bench.py --ingest-only            # the ingest alone
"""

from __future__ import annotations

import argparse
import csv
import gc
import importlib.util
import json
import math
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
from common import run
from rollup_bench import check_database, fresh_database
from sqlalchemy import Engine, text
from sqlmodel import Session

from server.accounts.models import Device, User, UserProject
from server.accounts.security import new_token, token_hash
from server.db import write_engine
from server.indicators.service import indicator_values, parse_values_query
from server.projects.models import Project
from server.records.bulk import insert_rows
from server.results.models import Form, Observation
from server.results.rollup import rebuild_results, refresh_observations
from shared.geography import REGIONS
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.store import DeviceStore

# The real server and the helpers that start it (the ingest pushes over HTTP).
_spec = importlib.util.spec_from_file_location(
    "load_bench", Path(__file__).resolve().parent / "load_bench.py"
)
assert _spec is not None and _spec.loader is not None
load_bench = importlib.util.module_from_spec(_spec)
sys.modules["load_bench"] = load_bench
_spec.loader.exec_module(load_bench)

FORM = "BENCH_HARVEST"
OBSERVATION = Observation.__table__  # type: ignore[attr-defined]
FIRST_DAY, DAYS = date(2023, 1, 1), 3 * 365
STATUSES = ("approved",) * 70 + ("submitted",) * 20 + ("returned",) * 7 + ("deleted",) * 3
REPEATS = 5
VALUES_PER_OBSERVATION = 4  # plot_area_m2, harvest_kg, irrigated, plot (crop is a key)


def _choices(*codes: str) -> list[dict[str, Any]]:
    return [{"code": c, "label": {"en": c}} for c in codes]


FIELDS: list[dict[str, Any]] = [
    {
        "name": "crop",
        "type": "select_one",
        "label": {"en": "Crop"},
        "choices": _choices("potato", "maize", "beans"),
    },
    {
        "name": "plot",
        "type": "select_one",
        "label": {"en": "Plot"},
        "choices": _choices("demo", "control"),
    },
    {"name": "plot_area_m2", "type": "decimal", "label": {"en": "Area"}, "unit": "m2"},
    {"name": "harvest_kg", "type": "decimal", "label": {"en": "Harvest"}, "unit": "kg"},
    {"name": "irrigated", "type": "boolean", "label": {"en": "Irrigated"}},
]
INDICATORS: list[dict[str, Any]] = [
    {
        "code": "B_YIELD",
        "name": {"en": "Yield"},
        "unit": "kg/ha",
        "aggregate": "ratio",
        "numerator": "harvest_kg",
        "denominator": "plot_area_m2",
        "factor": 10000,
        "compare": "plot",
    },
    {
        "code": "B_HARVEST",
        "name": {"en": "Harvest"},
        "unit": "kg",
        "aggregate": "sum",
        "field": "harvest_kg",
    },
    {
        "code": "B_MEDIAN",
        "name": {"en": "Median harvest"},
        "unit": "kg",
        "aggregate": "median",
        "field": "harvest_kg",
    },
    {
        "code": "B_IRRIGATED",
        "name": {"en": "Irrigated"},
        "unit": "%",
        "aggregate": "share",
        "field": "irrigated",
    },
    {"code": "B_PLOTS", "name": {"en": "Plots"}, "unit": "plots", "aggregate": "count"},
]


# --- the world ---------------------------------------------------------------------------------


def generate(
    observations: int, seed: int = 7
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(projects, observations): (id, code, country, area) and
    (id, project_id, observed_on, status, deleted, values)."""
    rng = random.Random(seed)
    countries = [c for region in REGIONS.values() for c in region.countries[:5]][:30]
    projects = [
        (
            uuid.UUID(int=rng.getrandbits(128)),
            f"{countries[n % 30]}-{n:03d}",
            countries[n % 30],
            rng.choice(("TA1", "TA2", "TA3", "TA4")),
        )
        for n in range(60)
    ]
    rows = []
    for _ in range(observations):
        project = rng.choice(projects)
        plot = rng.choice(("demo", "control"))
        area = rng.choice((400, 500, 800, 1000, 2000))
        t_ha = rng.uniform(15, 25) if plot == "demo" else rng.uniform(8, 14)
        values: dict[str, Any] = {"crop": rng.choice(("potato", "maize", "beans")), "plot": plot}
        if rng.random() < 0.97:
            values["plot_area_m2"] = area
        if rng.random() < 0.95:
            values["harvest_kg"] = round(t_ha * 1000 * area / 10000, 1)
        if rng.random() < 0.9:
            values["irrigated"] = rng.random() < 0.4
        status = rng.choice(STATUSES)
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128)),
                project[0],
                FIRST_DAY + timedelta(days=rng.randrange(DAYS)),
                "approved" if status == "deleted" else status,
                status == "deleted",
                values,
            )
        )
    return projects, rows


OBS_COLUMNS = (
    "id",
    "project_id",
    "form_id",
    "form_version",
    "observed_on",
    "values",
    "notes",
    "status",
    "version",
    "deleted",
    "flags",
    "created_at",
    "updated_at",
)


def _obs_rows(rows: Sequence[tuple[Any, ...]], form_id: uuid.UUID) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    return [(r[0], r[1], form_id, 1, r[2], r[5], "", r[3], 1, r[4], [], now, now) for r in rows]


def build(
    engine: Engine, projects: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]
) -> tuple[float, float, uuid.UUID]:
    started = time.perf_counter()
    now = datetime.now(UTC)
    with Session(write_engine(engine)) as session:
        insert_rows(
            session,
            Project.__table__,  # type: ignore[attr-defined]
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
            [
                (
                    p[0],
                    p[1],
                    p[1],
                    "CPP",
                    p[2],
                    p[3],
                    [],
                    [],
                    FIRST_DAY,
                    date(2026, 12, 31),
                    False,
                    1,
                    now,
                    now,
                )
                for p in projects
            ],
        )
        form = Form(
            code=FORM,
            version=1,
            title={"en": "Bench"},
            status="published",
            fields=FIELDS,
            indicators=INDICATORS,
        )
        session.add(form)
        session.flush()
        form_id = form.id
        for start in range(0, len(rows), 20_000):
            insert_rows(
                session,
                OBSERVATION,
                OBS_COLUMNS,
                _obs_rows(rows[start : start + 20_000], form_id),
            )
        session.commit()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with Session(write_engine(engine)) as session:
        rebuild_results(session)
        session.commit()
    # PostgreSQL's autovacuum keeps a server's statistics; a SQLite server has none (it never
    # runs ANALYZE), so neither does the bench's: with the small world's statistics, SQLite
    # read each batch's look-up of 500 observations as a scan of the table as it grew.
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return loaded, time.perf_counter() - started, form_id


def load_duckdb(
    projects: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], folder: Path
) -> duckdb.DuckDBPyConnection:
    path = folder / "observations.csv"
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        for r in rows:
            v = r[5]
            out.writerow(
                [
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    v.get("crop", ""),
                    v.get("plot", ""),
                    v.get("plot_area_m2", ""),
                    v.get("harvest_kg", ""),
                    "" if "irrigated" not in v else ("true" if v["irrigated"] else "false"),
                ]
            )
    con = duckdb.connect()
    con.execute("CREATE TABLE project (id UUID, code VARCHAR, country VARCHAR)")
    con.executemany(
        "INSERT INTO project VALUES (?, ?, ?)", [(str(p[0]), p[1], p[2]) for p in projects]
    )
    con.execute(
        "CREATE TABLE observation (id UUID, project_id UUID, observed_on DATE, status VARCHAR, "
        "deleted BOOLEAN, crop VARCHAR, plot VARCHAR, plot_area_m2 DOUBLE, harvest_kg DOUBLE, "
        "irrigated BOOLEAN)"
    )
    con.execute(
        f"INSERT INTO observation SELECT * FROM read_csv('{path}', header=false, nullstr='')"
    )
    return con


# --- the questions -----------------------------------------------------------------------------

DUCK_KEYS = {
    "country": "p.country",
    "project": "p.code",
    "period:year": "CAST(year(o.observed_on) AS VARCHAR)",
    "period:quarter": (
        "CAST(year(o.observed_on) AS VARCHAR) || 'Q' || CAST(quarter(o.observed_on) AS VARCHAR)"
    ),
    "choice:plot": "o.plot",
    "choice:crop": "o.crop",
}
PAIRED = "o.harvest_kg IS NOT NULL AND o.plot_area_m2 IS NOT NULL"
DUCK_VALUES = {
    "B_YIELD": (
        f"10000 * SUM(o.harvest_kg) FILTER (WHERE {PAIRED}) / "
        f"NULLIF(SUM(o.plot_area_m2) FILTER (WHERE {PAIRED}), 0)"
    ),
    "B_HARVEST": "SUM(o.harvest_kg)",
    "B_MEDIAN": "MEDIAN(o.harvest_kg)",
    "B_IRRIGATED": (
        "100 * AVG(CASE WHEN o.irrigated THEN 1.0 WHEN o.irrigated IS NOT NULL THEN 0.0 END)"
    ),
    "B_PLOTS": "COUNT(*)",
}
QUESTIONS: list[tuple[str, str]] = [
    ("B_YIELD", "country"),
    ("B_YIELD", "project,period:year"),
    ("B_HARVEST", "country,period:quarter"),
    ("B_MEDIAN", "country"),
    ("B_MEDIAN", "choice:crop,period:year"),
    ("B_IRRIGATED", "project"),
    ("B_PLOTS", "choice:plot,period:quarter"),
    ("B_YIELD", ""),
]


def duck_answer(
    con: duckdb.DuckDBPyConnection, code: str, keys: Sequence[str]
) -> dict[tuple[Any, ...], Any]:
    columns = [DUCK_KEYS[k] for k in keys]
    select = ", ".join([*columns, DUCK_VALUES[code]])
    extra = ""
    if code == "B_YIELD":
        side = " AND o.plot = '{0}'"
        extra = ", " + ", ".join(
            f"10000 * SUM(o.harvest_kg) FILTER (WHERE {PAIRED}{side.format(c)}) / "
            f"NULLIF(SUM(o.plot_area_m2) FILTER (WHERE {PAIRED}{side.format(c)}), 0)"
            for c in ("demo", "control")
        )
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}" if columns else ""
    sql = (
        f"SELECT {select}{extra} FROM observation o JOIN project p ON p.id = o.project_id "
        f"WHERE NOT o.deleted AND o.status IN ('submitted', 'approved'){group}"
    )
    found = {}
    for row in con.execute(sql).fetchall():
        key = tuple(row[: len(columns)])
        found[key] = tuple(row[len(columns) :])
    return found


def our_answer(session: Session, code: str, keys: Sequence[str]) -> dict[tuple[Any, ...], Any]:
    query = parse_values_query(code=code, group_by=",".join(keys), session=session)
    rows = indicator_values(session, caller=None, query=query).rows
    labels = ["period" if k.startswith("period:") else k for k in keys]
    found = {}
    for r in rows:
        extra = (r["compare"]["demo"], r["compare"]["control"]) if "compare" in r else ()
        found[tuple(r[label] for label in labels)] = (r["value"], *extra)
    return found


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.011)


def check_equal(ours: dict[Any, Any], duck: dict[Any, Any], label: str) -> None:
    if ours.keys() != duck.keys():
        raise SystemExit(f"{label}: groups differ ({len(ours)} ours, {len(duck)} DuckDB)")
    for key, values in duck.items():
        if not all(_close(a, b) for a, b in zip(ours[key], values, strict=True)):
            raise SystemExit(f"{label}: {key} ours {ours[key]} DuckDB {values}")


def best(run: Callable[[], Any]) -> float:
    run()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def compare(engine: Engine, con: duckdb.DuckDBPyConnection) -> list[tuple[str, float, float]]:
    found = []
    with Session(write_engine(engine)) as session:
        for code, group_by in QUESTIONS:
            keys = [k for k in group_by.split(",") if k]
            label = f"{code} by {group_by or 'total'}"
            check_equal(our_answer(session, code, keys), duck_answer(con, code, keys), label)
            found.append(
                (
                    label,
                    best(lambda c=code, k=keys: our_answer(session, c, k)),  # type: ignore[misc]
                    best(lambda c=code, k=keys: duck_answer(con, c, k)),  # type: ignore[misc]
                )
            )
    return found


# --- refresh and ingest ------------------------------------------------------------------------


def push_500(engine: Engine, project_id: uuid.UUID, form_id: uuid.UUID, seed: int) -> float:
    """Milliseconds of the delta after 500 new observations are written (rolled back after)."""
    _, rows = generate(500, seed=100 + seed)
    rows = [(r[0], project_id, *r[2:]) for r in rows]
    with Session(write_engine(engine)) as session:
        insert_rows(session, OBSERVATION, OBS_COLUMNS, _obs_rows(rows, form_id))
        started = time.perf_counter()
        refresh_observations(session, [r[0] for r in rows])
        session.flush()
        spent = time.perf_counter() - started
        session.rollback()
    return spent * 1000


def _tablet(engine: Engine, project_id: uuid.UUID) -> tuple[str, str]:
    """A field expert of the project with an enrolled tablet: (device id, device token)."""
    with Session(write_engine(engine)) as session:
        user = User(
            username=f"bench.expert.{uuid.uuid4().hex[:8]}",
            password_hash="!",  # noqa: S106  (no password: it syncs with its device token)
            role="field_expert",
            countries=[],
        )
        session.add(user)
        session.flush()
        session.add(UserProject(user_id=user.id, project_id=project_id))
        token = new_token()
        device = Device(
            id=uuid.uuid4(), user_id=user.id, label="bench", token_hash=token_hash(token)
        )
        session.add(device)
        session.commit()
        return str(device.id), token


def ingest(
    engine: Engine,
    url: str,
    project_id: uuid.UUID,
    form_id: uuid.UUID,
    count: int,
    folder: Path,
) -> tuple[float, float]:
    """Seconds to push ``count`` new observations as a tablet does: saved in the tablet's
    store (not timed), then pushed by the sync client (``SyncEngine.push``: batches of the
    server's ``max_batch_mutations``, gzip) over HTTP to a real server (``pilotmon serve``,
    one worker) on 127.0.0.1, which applies every write duty (checks, rows, revision, audit,
    change log, custody receipts, the result roll-up's delta). Returns (the whole push, the
    time inside its HTTP requests)."""
    _, rows = generate(count, seed=99)
    records = [
        {
            "id": str(r[0]),
            "project_id": str(project_id),
            "form_id": str(form_id),
            "form_version": 1,
            "observed_on": r[2].isoformat(),
            "values": r[5],
            "notes": "",
        }
        for r in rows
    ]
    device_id, token = _tablet(engine, project_id)
    label = uuid.uuid4().hex[:8]
    store = DeviceStore(folder / f"tablet-{label}.sqlite3", device_id=device_id)
    for start in range(0, len(records), 1000):
        store.save_many("observation", records[start : start + 1000])
    with load_bench.running_server(
        url, folder / f"data-{label}", 1, folder / f"server-{label}.log"
    ) as base:
        client = SyncClient(base, token=token, timeout=(10, 600))
        waiting = [0.0]
        send = client.push_packed

        def timed(packed: bytes) -> Any:
            started = time.perf_counter()
            try:
                return send(packed)
            finally:
                waiting[0] += time.perf_counter() - started

        client.push_packed = timed  # type: ignore[method-assign]
        gc.collect()
        gc.freeze()  # the bench's own records are not rescanned by the client's collector
        started = time.perf_counter()
        try:
            report = SyncEngine(store, client).push()
        finally:
            seconds = time.perf_counter() - started
            gc.unfreeze()
    assert report.pushed.get("applied") == count, report.pushed
    assert store.pending_count() == 0
    store.close()
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM observation WHERE device_id IS NOT NULL")
        ).scalar_one()
    assert stored >= count, stored
    return seconds, waiting[0]


def floor(
    engine: Engine, project_id: uuid.UUID, form_id: uuid.UUID, count: int, seed: int = 98
) -> float:
    """Seconds for the same observation rows by raw executemany (PostgreSQL: COPY)."""
    _, rows = generate(count, seed=seed)
    now = datetime.now(UTC).isoformat()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(f'"{c}"' for c in OBS_COLUMNS)
        marks = ", ".join("?" for _ in OBS_COLUMNS)
        started = time.perf_counter()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f'COPY "observation" ({names}) FROM STDIN') as copy:
                for r in rows:
                    copy.write_row(
                        [
                            str(r[0]),
                            str(project_id),
                            str(form_id),
                            1,
                            r[2],
                            json.dumps(r[5]),
                            "",
                            r[3],
                            1,
                            r[4],
                            "[]",
                            now,
                            now,
                        ]
                    )
        else:
            cursor.execute("BEGIN")
            cursor.executemany(
                f'INSERT INTO "observation" ({names}) VALUES ({marks})',
                [
                    (
                        r[0].hex,
                        project_id.hex,
                        form_id.hex,
                        1,
                        r[2].isoformat(),
                        json.dumps(r[5]),
                        "",
                        r[3],
                        1,
                        r[4],
                        "[]",
                        now,
                        now,
                    )
                    for r in rows
                ],
            )
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def report_ingest(
    engine: Engine, project_id: uuid.UUID, form_id: uuid.UUID, count: int, folder: Path
) -> None:
    """The ingest over HTTP, then its floor (best of 3) in the same database, and the ratio."""
    url = engine.url.render_as_string(hide_password=False)
    backend = engine.dialect.name
    print(f"ingest: pushing {count:,} observations to {backend} over HTTP …", flush=True)
    seconds, waiting = ingest(engine, url, project_id, form_id, count, folder)
    raw = min(floor(engine, project_id, form_id, count, seed=98 - n) for n in range(3))
    how = "COPY" if backend == "postgresql" else "executemany"
    print(
        f"ingest of {count:,} observations pushed by the tablet client over HTTP: "
        f"{seconds:.2f} s (inside push requests {waiting:.2f} s); floor (raw {how} of the same "
        f"rows, best of 3): {raw:.2f} s; ratio {seconds / raw:.1f}× (target ≤ 3×)"
    )


def ingest_only(url: str | None, observations: int, count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        projects, rows = generate(max(500, observations // 100), seed=11)
        engine = fresh_database(url, folder, "small")
        _, _, form_id = build(engine, projects, rows)
        report_ingest(engine, projects[0][0], form_id, count, folder)
        engine.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--observations",
        type=int,
        default=250_000,
        help="observations of the large world (default 250 000: 1 000 000 values)",
    )
    parser.add_argument("--ingest", type=int, default=20_000, help="observations to ingest")
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="only the ingest (on the small world), not the questions nor the refresh",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL instead of a temporary SQLite file (public schema dropped)",
    )
    args = parser.parse_args()
    check_database(args.database_url)
    if args.ingest_only:
        return ingest_only(args.database_url, args.observations, args.ingest)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        projects, rows = generate(args.observations)
        print(
            f"world: {len(projects)} projects, {len(rows):,} observations, "
            f"{len(rows) * VALUES_PER_OBSERVATION:,} observation values "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        engine = fresh_database(args.database_url, folder, "large")
        backend = engine.dialect.name
        loaded, rebuilt, form_id = build(engine, projects, rows)
        print(f"{backend}: bulk insert {loaded:.1f} s; full result roll-up rebuild {rebuilt:.1f} s")
        started = time.perf_counter()
        con = load_duckdb(projects, rows, folder)
        print(
            f"duckdb {duckdb.__version__}: loaded the same rows in "
            f"{time.perf_counter() - started:.1f} s\n"
        )

        print(
            f"{'query (best of ' + str(REPEATS) + ')':<48}{'ours ms':>10}"
            f"{'duckdb ms':>11}{'ratio':>8}"
        )
        for name, ours_ms, duck_ms in compare(engine, con):
            print(f"{name:<48}{ours_ms:>10.1f}{duck_ms:>11.1f}{ours_ms / duck_ms:>7.2f}×")
        print("(every answer above was checked equal to DuckDB's)\n")

        large = [push_500(engine, projects[0][0], form_id, seed) for seed in range(3)]
        engine.dispose()
        small_projects, small_rows = generate(max(500, args.observations // 100), seed=11)
        small_engine = fresh_database(args.database_url, folder, "small")
        _, _, small_form = build(small_engine, small_projects, small_rows)
        small = [
            push_500(small_engine, small_projects[0][0], small_form, seed) for seed in range(3)
        ]
        print(
            f"refresh after a 500-observation push (best of 3): {min(large):.0f} ms with "
            f"{len(rows):,} observations, {min(small):.0f} ms with {len(small_rows):,} "
            f"(ratio {min(large) / min(small):.2f}); a full rebuild takes {rebuilt * 1000:.0f} ms"
        )

        report_ingest(small_engine, small_projects[0][0], small_form, args.ingest, folder)
        small_engine.dispose()
    return 0


if __name__ == "__main__":
    run(main)
