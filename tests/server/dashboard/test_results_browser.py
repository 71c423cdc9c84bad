"""The project's Results section and an observation page in Debian's headless Chromium: axe-core
finds no serious or critical violation, a phone (390 px) never scrolls sideways, the charts draw
their baseline and target lines, and the screenshots at 390 and 1280 px go to
artifacts/screenshots/dashboard/results-*.png for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    set_width,
)
from tests.server.dashboard.test_audit_browser import _axe, _sideways
from tests.server.dashboard.test_results import CODE, VISITS, Results, add_results, add_visits
from tests.server.dashboard.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@contextmanager
def signed_in_officer(
    sqlite_template: Path, tmp_path: Path
) -> Iterator[tuple[Any, str, World, Results]]:
    """Chromium signed in as the Lesotho officer on a served world with results
    (``add_results``) and farm visits: (driver, base URL, world, results)."""
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        results = add_results(session, world)
        add_visits(session, world)
        token, _ = issue_access_token(session, user=world.officer, minutes=60)
        session.commit()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    try:
        with (
            live_server(create_app(settings, engine)) as base,
            chromium(tmp_path / "profile", downloads) as driver,
        ):
            d: Any = driver
            d.get(base + "/login")
            d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})
            yield d, base, world, results
    finally:
        engine.dispose()


def test_results_section_and_observation_page(sqlite_template: Path, tmp_path: Path) -> None:
    problems: list[str] = []
    with signed_in_officer(sqlite_template, tmp_path) as (d, base, world, results):
        pages = {
            "project": f"/projects/{world.lso.id}#results",
            "observation": f"/observations/{results.lso[0].id}",
            "overview": "/overview",
        }
        for name, path in pages.items():
            for width in (390, 1280):
                set_width(d, width)
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
    assert not problems, "\n".join(problems)


# Each figure of the results table that is off its box's visible part (sideways scrolling).
_HIDDEN_FIGURES = """
const table = document.querySelector('#results-across-pilots table');
if (!table) return ['no results table'];
const box = table.parentElement.getBoundingClientRect();
const out = [];
for (const cell of table.querySelectorAll('tbody td')) {
  const r = cell.getBoundingClientRect();
  if (r.width && (r.right > box.right + 1 || r.right > window.innerWidth + 1)) {
    out.push((cell.dataset.label || cell.className) + ' ends at ' + Math.round(r.right));
  }
}
const wrap = table.parentElement;
if (wrap.scrollWidth > wrap.clientWidth + 1) {
  out.push('the box scrolls ' + (wrap.scrollWidth - wrap.clientWidth));
}
return out;
"""


def test_the_overview_results_fit_a_phone(sqlite_template: Path, tmp_path: Path) -> None:
    """At 390 px the "Results across pilots" become a card per project, every figure (latest,
    ✓/✗, target, baseline) on screen with its name, in English and French; screenshots at 390
    and 1280 px go to artifacts/screenshots/dashboard/overview-*.png."""
    problems: list[str] = []
    with signed_in_officer(sqlite_template, tmp_path) as (d, base, _world, _results):
        for language in ("en", "fr"):
            d.add_cookie({"name": "pilotmon_lang", "value": language, "path": "/"})
            for width in (390, 1280):
                set_width(d, width)
                d.get(base + "/overview")
                d.find_element("tag name", "footer")
                assert d.execute_script("return window.innerWidth") == width
                if overflow := _sideways(d):
                    problems.append(f"{language} at {width} px scrolls {overflow} px sideways")
                problems += [
                    f"{language} at {width} px: {p}" for p in d.execute_script(_HIDDEN_FIGURES)
                ]
                screenshot(d, f"overview-{language}-{width}", width=width)
        set_width(d, 1280)
    assert not problems, "\n".join(problems)
