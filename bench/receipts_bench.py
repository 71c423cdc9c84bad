"""Custody receipts: what issuing them costs a push, measured in one process (docs/protocol.md
#custody-receipts; target: at most 10 % of the ingest).

The same batches of new activities (8 attendance rows each, 2 000 a batch, as the tablet sends
them) are applied by ``server.sync.service.push`` in-process, each run on a fresh copy of the
same SQLite database: once as the server does (a receipt signed per record, in the push's
transaction), once with the receipts left out. Runs alternate, and the median of each is
compared, in CPU time of this process (SQLite runs in it too): on a shared, busy machine the
wall-clock times of the same run vary by half, CPU time by a few percent. This is the
server's share of ``bench/sync_bench.py --only ingest`` (which adds HTTP and the tablet's own
work), so the ratio here is an upper bound for that bench's.

    .venv/bin/python bench/receipts_bench.py [--activities 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session

from server.accounts.auth import caller_from_device_token
from server.config import Settings
from server.db import make_engine, write_engine
from server.migrate import upgrade
from server.records.receipts import current_signer
from server.sync import service
from sync.protocol import PushRequest

_spec = importlib.util.spec_from_file_location(
    "sync_bench", Path(__file__).resolve().parent / "sync_bench.py"
)
assert _spec is not None and _spec.loader is not None
sync_bench = importlib.util.module_from_spec(_spec)
sys.modules["sync_bench"] = sync_bench
_spec.loader.exec_module(sync_bench)

BATCH = 2000


def _one_run(
    template: Path, workdir: Path, records: list[dict[str, Any]], world: Any, settings: Settings
) -> float:
    path = workdir / "run.sqlite3"
    shutil.copyfile(template, path)
    engine = make_engine(f"sqlite:///{path}")
    signer = current_signer(settings)
    try:
        with Session(engine) as session:
            caller = caller_from_device_token(session, token=world.token)
        seconds = 0.0
        for start in range(0, len(records), BATCH):
            request = PushRequest.model_validate(
                {
                    "protocol": 1,
                    "device_id": world.device_id,
                    "mutations": [
                        {
                            "seq": start + n + 1,
                            "entity": "activity",
                            "op": "upsert",
                            "id": record["id"],
                            "base_version": 0,
                            "data": record,
                        }
                        for n, record in enumerate(records[start : start + BATCH])
                    ],
                }
            )
            started = time.process_time()
            with Session(write_engine(engine)) as session:
                answer = service.push(
                    session, caller=caller, request=request, max_mutations=BATCH, signer=signer
                )
                session.commit()
            seconds += time.process_time() - started
            assert {r.status for r in answer.results} == {"applied"}
        return seconds
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="receipts-bench-") as tmp:
        workdir = Path(tmp)
        template = workdir / "template.sqlite3"
        engine = make_engine(f"sqlite:///{template}")
        upgrade(engine)
        world = sync_bench.seed(engine)
        engine.dispose()
        records = sync_bench.activities(world.project_id, args.activities)
        settings = Settings(environment="test", data_dir=workdir / "data")
        issue = service.issue_after_push
        inside = [0.0]

        def timed(*args: Any, **kwargs: Any) -> int:
            started = time.process_time()
            try:
                return issue(*args, **kwargs)
            finally:
                inside[0] += time.process_time() - started

        skip: Callable[..., int] = lambda *_a, **_k: 0  # noqa: E731
        timings: dict[str, list[float]] = {"with receipts": [], "without": []}
        shares: list[float] = []
        for run in range(args.runs):
            for label in ("without", "with receipts") if run % 2 else ("with receipts", "without"):
                service.issue_after_push = timed if label == "with receipts" else skip
                inside[0] = 0.0
                seconds = _one_run(template, workdir, records, world, settings)
                timings[label].append(seconds)
                if label == "with receipts":
                    # Issuing's own time (signing, rows, change-log notes) against the rest of
                    # the same push; the change-log append of the receipts happens at commit
                    # and is not in it, so the median ratio above is the fuller figure.
                    shares.append(inside[0] / (seconds - inside[0]))
        service.issue_after_push = issue
    with_receipts = statistics.median(timings["with receipts"])
    without = statistics.median(timings["without"])
    ratio = with_receipts / without
    print(
        f"push of {args.activities} new activities in batches of {BATCH}, median CPU time of "
        f"{args.runs} runs: {with_receipts:.2f} s with receipts, {without:.2f} s without "
        f"-> {ratio:.3f}x "
        f"(+{ratio - 1:.1%}; target <= +10%)"
    )
    print(
        f"  issuing receipts inside the same pushes: +{statistics.median(shares):.1%} of the "
        "rest of the push (median; steadier on a busy machine)"
    )
    print("  runs with receipts: " + ", ".join(f"{t:.2f}" for t in timings["with receipts"]))
    print("  runs without:       " + ", ".join(f"{t:.2f}" for t in timings["without"]))
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
