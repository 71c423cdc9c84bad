"""A pull finds the receipts its page names by their key, not by reading every receipt the
tablet ever got (migration 0018_receipt_no_device_index): the cost of a page stays the same
as a tablet's receipts pile up, push after push."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from server.records.bulk import insert_rows
from server.records.models import Receipt
from server.sync.pull import device_receipts
from tests.factories import make_device, make_project, make_user

_COLUMNS = ("entity", "entity_id", "version", "device_id", "project_id", "attachments", "issued_at")


def _receipts(session: Session, device_id: uuid.UUID, project_id: uuid.UUID, n: int) -> list[Any]:
    now = datetime.now(UTC)
    rows: list[Any] = [
        (entity, uuid.uuid4(), 1, device_id, project_id, [], now)
        for entity in ("activity", "observation")
        for _ in range(n)
    ]
    insert_rows(session, Receipt.__table__, _COLUMNS, rows)  # type: ignore[attr-defined]
    return rows


def _plan(session: Session, engine: Engine, ids: list[uuid.UUID], device_id: uuid.UUID) -> str:
    statement = device_receipts(session, ids, device_id)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # as the pull sends it: the ids as one array parameter
            compiled = statement.compile(engine)
            found = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
            return "\n".join(str(r[0]) for r in found)
        compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
        return "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("analyse", [False, True], ids=["no statistics", "analysed"])
def test_a_pull_reads_the_receipts_it_hands_out_through_their_key(
    session: Session, engine: Engine, analyse: bool
) -> None:
    project = make_project(session)
    user = make_user(session, projects=[project])
    device, _ = make_device(session, user)
    other, _ = make_device(session, user)
    mine = _receipts(session, device.id, project.id, 3000)
    _receipts(session, other.id, project.id, 500)
    session.commit()

    page = [row[1] for row in mine[:3]] + [row[1] for row in mine[-2:]]
    found = session.execute(device_receipts(session, page, device.id)).scalars().all()
    assert sorted((r.entity, r.entity_id) for r in found) == sorted(
        (row[0], row[1]) for row in [*mine[:3], *mine[-2:]]
    )
    if analyse:
        session.execute(text("ANALYZE"))
    session.commit()

    plan = _plan(session, engine, page, device.id)
    if engine.dialect.name == "postgresql":
        assert "Seq Scan on receipt" not in plan, plan
        assert "receipt_pkey" in plan, plan
    else:
        assert "SEARCH receipt USING INDEX sqlite_autoindex_receipt_1" in plan, plan


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_only_the_devices_issued_receipts_are_read(session: Session) -> None:
    project = make_project(session)
    user = make_user(session, projects=[project])
    device, _ = make_device(session, user)
    other, _ = make_device(session, user)
    mine = _receipts(session, device.id, project.id, 2)
    theirs = _receipts(session, other.id, project.id, 1)
    waiting = (mine[0][0], uuid.uuid4(), 2, device.id, project.id, None, None)
    insert_rows(session, Receipt.__table__, _COLUMNS, [waiting])  # type: ignore[attr-defined]
    session.commit()

    ids = [row[1] for row in (*mine, *theirs, waiting)]
    found = session.execute(device_receipts(session, ids, device.id)).scalars().all()
    assert sorted(r.entity_id for r in found) == sorted(row[1] for row in mine)
