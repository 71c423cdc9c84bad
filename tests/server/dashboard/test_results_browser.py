"""The project's Results section and an observation page in Debian's headless Chromium: axe-core
finds no serious or critical violation, a phone (390 px) never scrolls sideways, the charts draw
their baseline and target lines, and the screenshots at 390 and 1280 px go to
artifacts/screenshots/dashboard/results-*.png for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.accounts.auth import issue_access_token
from server.app import create_app
from server.dashboard import session as cookies
from server.db import write_engine
from tests.server.dashboard.browser import (
    browser_database,
    chromium,
    live_server,
    screenshot,
)
from tests.server.dashboard.test_audit_browser import _axe, _sideways
from tests.server.dashboard.test_results import CODE, VISITS, add_results, add_visits
from tests.server.dashboard.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_results_section_and_observation_page(sqlite_template: Path, tmp_path: Path) -> None:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        results = add_results(session, world)
        add_visits(session, world)
        token, _ = issue_access_token(session, user=world.officer, minutes=60)
        session.commit()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    problems: list[str] = []
    with (
        live_server(create_app(settings, engine)) as base,
        chromium(tmp_path / "profile", downloads) as driver,
    ):
        d: Any = driver
        d.get(base + "/login")
        d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})
        pages = {
            "project": f"/projects/{world.lso.id}#results",
            "observation": f"/observations/{results.lso[0].id}",
            "overview": "/overview",
        }
        for name, path in pages.items():
            for width in (390, 1280):
                d.set_window_size(width, 900)
                d.get(base + path)
                d.find_element("tag name", "footer")
                if overflow := _sideways(d):
                    problems.append(f"{name} at {width} px scrolls {overflow} px sideways")
                problems += [f"{name} at {width} px: {v}" for v in _axe(d)]
                screenshot(d, f"results-{name}-{width}", width=width)
                if name == "project":
                    # a panel with a comparison takes the row; one without, half of it on a
                    # laptop (not half a page of white beside one chart), all of it on a phone
                    wide, narrow = (
                        d.find_element("id", f"result-{code.lower()}").size["width"]
                        for code in (CODE, VISITS)
                    )
                    share = narrow / wide
                    if not (0.4 < share < 0.6 if width > 820 else share > 0.95):
                        problems.append(f"project at {width} px: panels {narrow} and {wide} px")
            if name == "project":
                chart = d.find_element("id", f"chart-result-{CODE.lower()}")
                strokes = {
                    g.get_attribute("stroke")
                    for g in chart.find_elements("css selector", "g.line-series")
                }
                assert {"#1f2d3b", "#8a97a5"} <= strokes  # the target and baseline lines
                assert d.find_element("id", f"chart-result-{CODE.lower()}-compare")
    engine.dispose()
    assert not problems, "\n".join(problems)
