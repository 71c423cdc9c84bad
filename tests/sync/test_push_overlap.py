"""The tablet reads and compresses the next batch, and stores the answer to the one before,
while a batch is in flight: batches still go one at a time and in order, every answer received
is stored before ``push`` returns or raises, and a failure part-way loses and duplicates
nothing."""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from server.activities.models import Activity
from sync import errors
from tests.server.sync.conftest import Field
from tests.sync.conftest import Tablet


def _server_activities(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(Activity)).scalar_one())


def _save(tablet: Tablet, field: Field, count: int) -> list[dict[str, Any]]:
    store, engine_, _ = tablet
    engine_.max_batch_mutations = 4
    records = [field.activity(title=f"Day {i}") for i in range(count)]
    for record in records:
        store.save("activity", record)
    return records


def test_the_next_batch_is_read_while_one_is_in_flight(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, engine_, _ = tablet
    _save(tablet, field, 10)
    read_after: list[int] = []
    read = threading.Event()
    original_read = store.pending_encoded

    def reading(*, limit: int, after: int = 0) -> list[tuple[int, str]]:
        found = original_read(limit=limit, after=after)
        read_after.append(after)
        read.set()
        return found

    store.pending_encoded = reading  # type: ignore[method-assign]
    seen: list[tuple[int, list[int]]] = []
    original_push = engine_.client.push_packed

    def pushing(packed: bytes) -> Any:
        last = json.loads(gzip.decompress(packed))["mutations"][-1]["seq"]
        # The next batch (the seqs after this one) is read while this one is unanswered;
        # waited for (not timed): the request goes on once the read has started and ended.
        for _ in range(600):
            if last in read_after:
                break
            read.wait(0.05)
            read.clear()
        seen.append((last, [m.seq for m in store.pending(limit=100)]))
        return original_push(packed)

    engine_.client.push_packed = pushing  # type: ignore[method-assign]
    report = engine_.push()
    assert report.pushed == {"applied": 10} and report.batches == 3
    assert [last for last, _ in seen] == [4, 8, 10]
    assert read_after == [0, 4, 8, 10]
    # A batch's own mutations stay in the outbox until its answer is stored.
    for (last, pending), first in zip(seen, [1, 5, 9], strict=True):
        assert set(range(first, last + 1)) <= set(pending)
    assert store.pending_count() == 0
    assert _server_activities(engine) == 10


@pytest.mark.parametrize("fault", ["request", "answer"])
def test_a_failure_part_way_keeps_the_answers_before_and_loses_nothing(
    tablet: Tablet, field: Field, engine: Engine, fault: str
) -> None:
    store, engine_, _ = tablet
    records = _save(tablet, field, 10)
    original_push = engine_.client.push_packed
    calls = [0]

    def failing(packed: bytes) -> Any:
        calls[0] += 1
        if calls[0] == 2:
            if fault == "answer":
                original_push(packed)  # the server commits; the answer is lost
            raise errors.NetworkError("the connection broke")
        return original_push(packed)

    engine_.client.push_packed = failing  # type: ignore[method-assign]
    with pytest.raises(errors.NetworkError):
        engine_.push()
    # The first batch's answer is stored before push raises; the rest is still pending.
    assert store.pending_count() == 6
    assert {store.state("activity", r["id"]) for r in records[:4]} == {"synced"}
    assert {store.state("activity", r["id"]) for r in records[4:]} == {"pending"}
    engine_.client.push_packed = original_push  # type: ignore[method-assign]
    report = engine_.push()
    expected = {"applied": 6} if fault == "request" else {"duplicate": 4, "applied": 2}
    assert report.pushed == expected
    assert store.pending_count() == 0
    assert _server_activities(engine) == 10
    assert {store.state("activity", r["id"]) for r in records} == {"synced"}
