"""The Reports page offers every quarter from the first project or activity the reader sees
to today's (a country officer's review: a project started in 2024 while the page went back
only to 2025Q1, eight quarters; 2024Q4's report was reachable only by typing its address)."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.columns import utcnow
from server.db import write_engine
from server.projects.models import Project
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.world import World


def _quarters(first: date, last: date) -> list[str]:
    """Every quarter from ``first``'s to ``last``'s, newest first."""
    found = []
    year, quarter = last.year, (last.month - 1) // 3 + 1
    while (year, quarter) >= (first.year, (first.month - 1) // 3 + 1):
        found.append(f"{year}Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return found


def _options(client: TestClient, select_id: str) -> list[str]:
    html = main_of(client.get("/reports").text)
    select = html[html.index(f'id="{select_id}"') :]
    return re.findall(r'<option value="([^"]+)"', select[: select.index("</select>")])


def _start(engine: Engine, project: Project, day: date) -> None:
    with Session(write_engine(engine)) as writer:
        row = writer.get(Project, project.id)
        assert row is not None
        row.start_date = day
        writer.commit()


def test_every_quarter_since_the_first_project_started_is_offered(
    officer: TestClient, engine: Engine, world: World
) -> None:
    start = min(world.lso.start_date, world.lso_storage.start_date)
    expected = _quarters(start, utcnow().date())
    assert len(expected) > 8  # the world's projects started more than eight quarters ago
    assert _options(officer, "r-quarter") == expected
    # the quarters that ended, for closing: the same, without the running one
    assert _options(officer, "close-quarter") == expected[1:]


def test_another_countrys_older_project_is_not_the_officers_but_hqs(
    officer: TestClient, client: TestClient, engine: Engine, world: World
) -> None:
    older = date(world.eth.start_date.year - 3, 8, 15)
    _start(engine, world.eth, older)
    today = utcnow().date()
    own = min(world.lso.start_date, world.lso_storage.start_date)
    assert _options(officer, "r-quarter") == _quarters(own, today)
    sign_in(client, engine, world.hq)
    assert _options(client, "r-quarter") == _quarters(older, today)
    # a start typed a century off does not list a century of quarters
    _start(engine, world.eth, date(1890, 1, 1))
    assert _options(client, "r-quarter")[-1] == "2000Q1"
