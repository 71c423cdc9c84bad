"""Field link: a week of work synced over a 2G link (docs/performance.md).

A real tablet client (``sync.engine``) and a real server (uvicorn, SQLite) on 127.0.0.1, with
``tests.netlink.Link`` between them: 80 kbit/s each way (10 000 B/s), 500 ms round trip, 1 %
loss (as retransmission stalls), a 64 KiB queue. The tablet saved 50 activities with attendance
and 20 photos of ~200 KB offline; it syncs round after round (a failed round is retried at
once) until nothing waits. Two runs, each with its own tablet:

- ``steady``: no cuts. Target: the time is at most 1.3x the time the week's bytes need at the
  link's rate (its payload: the gzip batches and the photo bytes).
- ``cuts``: the link drops every connection at random moments (``--cuts`` times). Target: each
  cut re-sends at most one chunk.

Prints the time against the bytes' time at the link rate, and the bytes on the wire against
the payload, and what the custody receipts the tablet pulled add to the week's bytes (target:
at most 5 % of everything carried up and down; docs/protocol.md#custody-receipts). Takes
about 8 minutes per run at full size (``--photos 4`` for a quick look).

    .venv/bin/python bench/field_net_bench.py [--runs steady,cuts] [--photos 20] ...
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import secrets
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from sqlalchemy import Engine, select  # noqa: E402
from sqlmodel import Session, col  # noqa: E402

from server.activities.models import Attachment  # noqa: E402
from server.app import create_app  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import make_engine, write_engine  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.records.models import Receipt  # noqa: E402
from server.records.receipts import Signer, signed  # noqa: E402
from sync import errors  # noqa: E402
from sync.client import SyncClient  # noqa: E402
from sync.engine import SyncEngine  # noqa: E402
from sync.store import DeviceStore  # noqa: E402
from tests.factories import activity_data, make_device, make_project, make_user  # noqa: E402
from tests.netlink import PROFILE_2G, Link  # noqa: E402

MAX_ROUNDS = 200


@dataclass
class Outcome:
    name: str
    seconds: float
    payload: int
    photo_bytes: int
    photo_sent: int
    body_bytes: int
    carried_up: int
    carried_down: int
    rounds: int
    failed_rounds: int
    chunk_failures: int
    cuts: int
    largest_chunk: int
    complete: bool
    receipts: int = 0
    receipt_bytes: int = 0
    receipt_gzip: int = 0


def _serve(directory: Path) -> tuple[str, Engine, uvicorn.Server, threading.Thread]:
    database = directory / "server.sqlite3"
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(
        environment="test",
        data_dir=directory / "data",
        database_url=url,
        secret_key=secrets.token_urlsafe(48),
        log_level="WARNING",
    )
    settings.ensure_data_dir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", engine, server, thread


def _tablet(
    engine: Engine, directory: Path, *, activities: int, photos: int, photo_bytes: int, seed: int
) -> tuple[DeviceStore, str, int]:
    """A tablet with a week of work saved offline; returns its store, token and photo bytes."""
    rng = random.Random(seed)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        project = make_project(session, code=f"LSO-{uuid.uuid4().hex[:6]}")
        expert = make_user(session, projects=[project])
        device, token = make_device(session, expert)
        session.commit()
    store = DeviceStore(directory / f"tablet-{device.id}.sqlite3", device_id=str(device.id))
    records = []
    for n in range(activities):
        record = activity_data(project, title=f"Field day {n}", notes=f"Week 12, day {n % 5}")
        record.pop("status", None)
        records.append(record)
        store.save("activity", record)
    total = 0
    for n in range(photos):
        size = photo_bytes + rng.randint(-photo_bytes // 10, photo_bytes // 10)
        source = directory / f"photo-{n}.jpg"
        source.write_bytes(b"\xff\xd8\xff\xe0" + rng.randbytes(size - 4))  # JPEG: incompressible
        store.add_photo(
            attachment_id=str(uuid.uuid4()),
            activity_id=records[n % len(records)]["id"],
            source=source,
            content_type="image/jpeg",
            caption=f"plot {n}",
        )
        total += size
    return store, token, total


def _run(
    name: str,
    base_url: str,
    engine: Engine,
    directory: Path,
    args: argparse.Namespace,
    *,
    cuts: int,
    payload: int | None,
) -> Outcome:
    host, port = base_url.removeprefix("http://").split(":")
    store, token, photo_total = _tablet(
        engine,
        directory,
        activities=args.activities,
        photos=args.photos,
        photo_bytes=args.photo_bytes,
        seed=args.seed,
    )
    rng = random.Random(args.seed + 1)
    with Link((host, int(port)), PROFILE_2G, seed=args.seed) as link:
        client = SyncClient(link.url, token=token)
        sync = SyncEngine(store, client)
        largest = 0
        photo_sent = chunk_failures = failed_rounds = rounds = 0

        def track(photo_id: str, sent: int, total: int) -> None:
            nonlocal largest
            largest = max(largest, sync.uploader.sizer.size)
            if cuts and link.cuts < cuts and not link.cut_armed:
                link.cut_after(rng.randint(cut_every // 2, cut_every))

        sync.on_progress = track
        # Cuts at random moments: after a random share of what is left to go upstream.
        cut_every = (photo_total + 60_000 * args.activities // 50) // (cuts + 1) if cuts else 0
        if cuts:
            link.cut_after(rng.randint(cut_every // 2, cut_every))
        started = time.monotonic()
        done = False
        while rounds < MAX_ROUNDS and not done:
            rounds += 1
            try:
                sync.sync_once()
            except errors.NetworkError as exc:
                failed_rounds += 1
                print(f"  [{name}] round {rounds} failed: {exc.message}", flush=True)
            finally:
                photo_sent += sync.report.photos.bytes
                chunk_failures += sync.report.photos.failures
            done = not store.pending_count() and not store.uploads(state="waiting")
        seconds = time.monotonic() - started
    with Session(engine) as session:
        complete = all(
            (a := session.get(Attachment, uuid.UUID(u.id))) is not None and a.complete
            for u in store.uploads(state="done")
        )
    body_bytes = client.bytes_sent
    receipts, receipt_bytes, receipt_gzip = _receipts_pulled(engine, store.device_id)
    store.close()
    return Outcome(
        name=name,
        seconds=seconds,
        payload=payload if payload is not None else body_bytes,
        photo_bytes=photo_total,
        photo_sent=photo_sent,
        body_bytes=body_bytes,
        carried_up=link.carried_up,
        carried_down=link.carried_down,
        rounds=rounds,
        failed_rounds=failed_rounds,
        chunk_failures=chunk_failures,
        cuts=link.cuts,
        largest_chunk=largest,
        complete=done and complete,
        receipts=receipts,
        receipt_bytes=receipt_bytes,
        receipt_gzip=receipt_gzip,
    )


def _receipts_pulled(engine: Engine, device_id: str) -> tuple[int, int, int]:
    """The receipts this tablet was sent, and their size as pull changes: plain JSON, and
    gzip as a pull body carries them (signatures do not compress; any key gives the same
    size)."""
    signer = Signer.generate()
    with Session(engine) as session:
        rows = session.execute(
            select(Receipt).where(
                col(Receipt.device_id) == uuid.UUID(device_id), col(Receipt.issued_at).is_not(None)
            )
        ).scalars()
        changes = [
            {
                "entity": "receipt",
                "id": str(r.entity_id),
                "op": "upsert",
                "version": r.version,
                "data": signed(r, signer),
            }
            for r in rows
        ]
    text = json.dumps(changes, separators=(",", ":")).encode()
    return len(changes), len(text), len(gzip.compress(text))


def _print(outcome: Outcome, rate: float) -> None:
    at_rate = outcome.payload / rate
    print(
        f"{outcome.name}: {outcome.seconds:.1f} s for {outcome.payload / 1e6:.2f} MB of payload "
        f"({outcome.photo_bytes / 1e6:.2f} MB photos); at the link rate "
        f"{at_rate:.1f} s -> {outcome.seconds / at_rate:.2f}x (target <= 1.3x without cuts)"
    )
    print(
        f"  wire: {outcome.carried_up / 1e6:.2f} MB up "
        f"({outcome.carried_up / outcome.payload:.3f}x payload), "
        f"{outcome.carried_down / 1e3:.0f} KB down; bodies sent "
        f"{outcome.body_bytes / 1e6:.2f} MB; rounds {outcome.rounds} "
        f"({outcome.failed_rounds} failed); all arrived: {outcome.complete}"
    )
    week = outcome.carried_up + outcome.carried_down
    print(
        f"  receipts: {outcome.receipts} pulled, {outcome.receipt_bytes / 1e3:.1f} KB as JSON "
        f"({outcome.receipt_gzip / 1e3:.1f} KB gzip) = "
        f"{outcome.receipt_bytes / week:.2%} of the week's {week / 1e6:.2f} MB on the wire "
        "(target <= 5%)"
    )
    resent = outcome.photo_sent - outcome.photo_bytes
    print(
        f"  cuts {outcome.cuts}, failed chunks {outcome.chunk_failures}, photo bytes re-sent "
        f"{resent} ({resent / max(outcome.cuts, 1) / 1e3:.1f} KB per cut; largest chunk "
        f"{outcome.largest_chunk / 1e3:.0f} KB)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="steady,cuts")
    parser.add_argument("--activities", type=int, default=50)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--photo-bytes", type=int, default=205_000)
    parser.add_argument("--cuts", type=int, default=6)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    rate = PROFILE_2G.rate
    print(
        f"link: {rate * 8 / 1000:.0f} kbit/s each way, {PROFILE_2G.delay * 2000:.0f} ms round "
        f"trip, {PROFILE_2G.loss:.0%} loss, {PROFILE_2G.queue_bytes // 1024} KiB queue; "
        f"{args.activities} activities, {args.photos} photos of ~{args.photo_bytes / 1000:.0f} KB",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="field-net-") as tmp:
        directory = Path(tmp)
        base_url, engine, server, thread = _serve(directory)
        payload: int | None = None
        failures = 0
        try:
            for name in runs:
                (directory / name).mkdir()
                outcome = _run(
                    name,
                    base_url,
                    engine,
                    directory / name,
                    args,
                    cuts=args.cuts if name == "cuts" else 0,
                    payload=payload,
                )
                if name == "steady":
                    payload = outcome.body_bytes  # the week's bytes, none sent twice
                _print(outcome, rate)
                failures += not outcome.complete
        finally:
            server.should_exit = True
            thread.join(10)
            engine.dispose()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
