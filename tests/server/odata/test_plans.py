"""How PostgreSQL reads the feed's pages: an ``$orderby`` on a code column reads the column's
index in order (docs/odata.md#paging), as it did before text ordered by code point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session

from server.accounts.auth import Caller
from server.accounts.models import User
from server.db import write_engine
from server.odata.entities import BY_NAME
from server.odata.query import parse_options, read_page
from tests.conftest import _truncate_all
from tests.factories import World, make_activity

# (the set, $orderby, the index that gives its order, the column as the plan names it)
ORDERINGS = [
    ("Activities", "Status", "ix_activity_status", "activity.status"),
    ("Activities", "Status desc", "ix_activity_status", "activity.status"),
    ("Activities", "Country", "ix_project_country", "project.country"),
    ("Attendance", "ActivityStatus", "ix_activity_status", "activity.status"),
    ("Projects", "Code", "ix_project_code", "code"),
    ("Projects", "Country", "ix_project_country", "country"),
]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _page_plan(engine: Engine, hq: User, set_name: str, orderby: str) -> dict[str, Any]:
    """The plan of the statement that reads the first page of ``set_name`` by ``orderby``."""
    entity_set = BY_NAME[set_name]
    options = parse_options(
        {"$orderby": orderby}, entity_set, token_key=b"plans", prefer="odata.maxpagesize=5"
    )
    statements: list[tuple[str, Any]] = []

    def keep(*args: Any) -> None:
        statements.append((args[2], args[3]))  # the statement and its parameters

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as session:
            read_page(session, caller=Caller(user=hq), entity_set=entity_set, options=options)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    [(statement, parameters)] = [s for s in statements if " ORDER BY " in s[0]]
    with engine.begin() as conn:
        # A handful of rows: reading the whole table and sorting it would be cheapest whatever
        # the indexes. With sequential scans and sorts of every row made the last resort, the
        # plan says which index, if any, gives the page's order.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        explained = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        return dict(explained.scalar_one()[0]["Plan"])


def test_orderby_a_code_reads_its_index_in_order_on_postgresql(pg_engine: Engine) -> None:
    # Text orders by code point (COLLATE "C"); the indexes were in the database's collation and
    # could not give that order: $orderby=Status sorted every activity in scope (53 ms instead
    # of 34 ms for a 10 000-row page of 50 000 activities). Migration 0014_code_collation.
    _truncate_all(pg_engine)
    with Session(write_engine(pg_engine)) as session:
        world = World(session)
        for status in ("draft", "approved", "returned"):
            make_activity(session, world.project_lso, status=status)
        session.commit()
    hq = world.users["hq"]  # detached by World, its values kept
    for set_name, orderby, index, column in ORDERINGS:
        nodes = list(_nodes(_page_plan(pg_engine, hq, set_name, orderby)))
        assert any(n.get("Index Name") == index for n in nodes), (set_name, orderby, nodes)
        # No sort of every row in scope: the index gives the code's order, and only the rows
        # of one code are put in the key's order (an incremental sort).
        sorts = [n for n in nodes if n["Node Type"] == "Sort"]
        assert sorts == [], (set_name, orderby, json.dumps(nodes[0], indent=1))
        presorted = [n["Presorted Key"] for n in nodes if n["Node Type"] == "Incremental Sort"]
        assert presorted == [[column]], (set_name, orderby, presorted)
