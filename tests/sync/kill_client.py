"""A tablet process for the kill test: save records, push them, pull the team's records.

Run as ``python -m tests.sync.kill_client URL TOKEN DEVICE_ID STORE PROJECT_ID FIRST COUNT``. It
imports only the tablet side (``sync``), as the app does, and prints each stage as it starts so
the test can kill it inside the stage it chose.
"""

from __future__ import annotations

import sys
import uuid

from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.store import DeviceStore


def activity(record_id: uuid.UUID, project_id: str, n: int) -> dict[str, object]:
    return {
        "id": str(record_id),
        "project_id": project_id,
        "type": "farmer_training",
        "title": f"Training {n}",
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "notes": "x" * 200,
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": n,
            },
            {
                "sex": "male",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 3,
            },
        ],
    }


def main(argv: list[str]) -> int:
    url, token, device_id, path, project_id, first, count = argv
    store = DeviceStore(path, device_id=device_id)
    engine = SyncEngine(
        store,
        SyncClient(url, token=token, timeout=(5, 20)),
        max_batch_bytes=1024,
        min_batch_bytes=512,
        pull_limit=5,
    )
    print("saving", flush=True)
    for n in range(int(count)):
        store.save("activity", activity(uuid.UUID(int=int(first) + n), project_id, n))
    print("pushing", flush=True)
    engine.push()
    print("pulling", flush=True)
    engine.pull()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
