"""OData paging benchmark (docs/odata.md): page through about 1 000 000 attendance rows of the
feed, 10 000 rows a page, and show that the last page costs what the first does; then page
through IndicatorValues (computed from the roll-ups), each page against the whole set at once.

Builds the rollup benchmark's world (bench/rollup_bench.py: ~125 000 activities, ~1M
attendance rows) by direct inserts, signs an HQ analyst in with a personal access token (HTTP
Basic, as Power BI does), then follows @odata.nextLink from the first page to the last through
the app in this process (routing, scope, SQL, JSON). Prints the time of each tenth page and its
ratio to the first, and, for contrast, what the same last page would cost with OFFSET.

    .venv/bin/python bench/odata_bench.py                        # SQLite, ~1M rows
    .venv/bin/python bench/odata_bench.py --attendance 200000    # quicker
    .venv/bin/python bench/odata_bench.py --database-url postgresql://u:p@host/db  # wiped!
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from common import run
from fastapi.testclient import TestClient
from rollup_bench import build, fresh_database, generate
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import User
from server.accounts.security import hash_password
from server.accounts.tokens import create_token
from server.app import create_app
from server.config import Settings
from server.db import write_engine

PAGE = 10_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attendance", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        engine = fresh_database(args.database_url, Path(folder), "odata")
        started = time.perf_counter()
        build(engine, generate(args.attendance))  # with the roll-ups IndicatorValues reads
        with Session(write_engine(engine)) as session:
            hq = User(
                username="hq", password_hash=hash_password("bench password"), role="hq_analyst"
            )
            session.add(hq)
            session.flush()
            _, token = create_token(session, caller=Caller(user=hq), name="bench")
            session.commit()
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM attendance")).scalar_one()
        print(
            f"built {rows} attendance rows on {engine.dialect.name} in "
            f"{time.perf_counter() - started:.0f} s"
        )

        settings = Settings(
            environment="test",
            data_dir=Path(folder) / "data",
            database_url=engine.url.render_as_string(hide_password=False),
            secret_key="bench-secret-key-that-is-long-enough-0123456789",  # noqa: S106
            rate_limit_auth_per_minute=0,
        )
        settings.ensure_data_dir()
        client = TestClient(create_app(settings, engine))
        auth = ("hq", token)
        headers = {"Prefer": f"odata.maxpagesize={PAGE}"}
        url: str | None = "http://testserver/api/v1/odata/Attendance"
        times: list[float] = []  # wall-clock seconds per page
        cpu: list[float] = []  # CPU seconds of this process per page (steadier on a busy machine)
        total = 0
        while url is not None:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, auth=auth, headers=headers)
            body = response.json()
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            assert response.status_code == 200, response.text
            total += len(body["value"])
            url = body.get("@odata.nextLink")
        expected = client.get("http://testserver/api/v1/odata/Attendance/$count", auth=auth).text
        assert total == int(expected), (total, expected)

        print(f"paged {total} rows in {len(times)} pages of {PAGE} ({sum(times):.1f} s)")
        print(f"{'page':>6} {'wall ms':>9} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}")
        step = max(1, len(times) // 10)
        for i in sorted({*range(0, len(times), step), len(times) - 1}):
            print(
                f"{i + 1:>6} {times[i] * 1000:>9.1f} {times[i] / times[0]:>6.2f} "
                f"{cpu[i] * 1000:>8.1f} {cpu[i] / cpu[0]:>6.2f}"
            )
        n = len(times) - 1 if len(times) > 1 else 1  # the last page may be short
        for name, series in (("wall", times[:n]), ("cpu", cpu[:n])):
            tenth = max(1, n // 10)
            head = statistics.median(series[:tenth])
            tail = statistics.median(series[-tenth:])
            print(
                f"{name}: median of the first tenth of pages {head * 1000:.1f} ms, of the last "
                f"tenth {tail * 1000:.1f} ms, ratio last/first {tail / head:.2f}"
            )

        # IndicatorValues, computed from the roll-ups: a page in key order computes only the
        # indicators it shows, against the whole set computed at once (what $count needs), at
        # the feed's page size and at pages of 1 000 rows.
        whole = []
        for _ in range(3):
            started = time.perf_counter()
            response = client.get(
                "http://testserver/api/v1/odata/IndicatorValues?$count=true&$top=1", auth=auth
            )
            whole.append(time.perf_counter() - started)
        iv_count = response.json()["@odata.count"]
        for size in (PAGE, 1000):
            iv_times: list[float] = []
            url = "http://testserver/api/v1/odata/IndicatorValues"
            iv_rows = 0
            while url is not None:
                started = time.perf_counter()
                response = client.get(
                    url, auth=auth, headers={"Prefer": f"odata.maxpagesize={size}"}
                )
                iv_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                iv_rows += len(response.json()["value"])
                url = response.json().get("@odata.nextLink")
            assert iv_rows == iv_count, (iv_rows, iv_count)
            page_median = statistics.median(iv_times)
            print(
                f"IndicatorValues, pages of {size}: {iv_rows} rows in {len(iv_times)} pages, "
                f"{sum(iv_times):.1f} s, a page (median) {page_median * 1000:.1f} ms; the whole "
                f"set at once {min(whole) * 1000:.1f} ms: page/whole {page_median / min(whole):.2f}"
                f", all pages/whole {sum(iv_times) / min(whole):.2f}"
            )

        # For contrast: the last page by OFFSET, the paging this feed avoids.
        with engine.connect() as conn:
            statement = sa.text(
                "SELECT id, activity_id, sex, age_band, category, disability, count "
                "FROM attendance ORDER BY id LIMIT :n OFFSET :o"
            )
            started = time.perf_counter()
            conn.execute(statement, {"n": PAGE, "o": 0}).all()
            offset_first = time.perf_counter() - started
            started = time.perf_counter()
            conn.execute(statement, {"n": PAGE, "o": max(0, total - PAGE)}).all()
            offset_last = time.perf_counter() - started
        print(
            f"OFFSET instead (SQL alone): first page {offset_first * 1000:.1f} ms, last page "
            f"{offset_last * 1000:.1f} ms, ratio {offset_last / offset_first:.2f}"
        )
    return 0


if __name__ == "__main__":
    run(main)
