"""The charts read on a phone and on a laptop, in Debian's headless Chromium: on the Overview and a
project page, at 390 and 1280 px, in English and French, every chart text on screen is drawn at
10.5 px or more, inside its drawing, and no chart is wider than its box. Screenshots go to
artifacts/screenshots/dashboard/charts-*.png for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.accounts.auth import issue_access_token
from server.app import create_app
from server.dashboard import session as cookies
from server.db import write_engine
from tests.server.dashboard.browser import SCREENSHOTS, browser_database, chromium, live_server
from tests.server.dashboard.test_audit_browser import _sideways
from tests.server.dashboard.test_results import add_results, add_visits
from tests.server.dashboard.test_results_browser import _phone
from tests.server.dashboard.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMALLEST_TEXT = 10.5  # CSS px

# Every drawn chart (display none ones left out): which drawing, its width against its box's, and
# each text's rendered size (font size × the drawing's scale, rotation left out) and whether its
# box stays inside the drawing.
_MEASURE = """
const out = [];
for (const svg of document.querySelectorAll('.chart svg')) {
  const box = svg.getBoundingClientRect();
  if (!box.width) continue;
  const canvas = svg.closest('.chart-canvas').getBoundingClientRect();
  const texts = [];
  for (const text of svg.querySelectorAll('text')) {
    const r = text.getBoundingClientRect();
    if (!r.width) continue;
    const m = text.getScreenCTM();
    const size = parseFloat(getComputedStyle(text).fontSize) * Math.hypot(m.a, m.b);
    const inside = r.left >= box.left - 1 && r.right <= box.right + 1
      && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    texts.push({text: text.textContent.trim(), size: size, inside: inside});
  }
  out.push({
    chart: svg.closest('figure').id, drawing: svg.getAttribute('class'),
    right: box.right, boxRight: canvas.right, window: window.innerWidth, texts: texts,
  });
}
return out;
"""


def _problems(drawn: list[dict[str, Any]]) -> list[str]:
    found = []
    for chart in drawn:
        name = f"{chart['chart']} ({chart['drawing']})"
        if chart["right"] > min(chart["boxRight"], chart["window"]) + 1:
            found.append(f"{name} ends at {chart['right']:.0f} px, past its box")
        for text in chart["texts"]:
            if text["size"] < SMALLEST_TEXT:
                found.append(f"{name}: {text['text']!r} drawn {text['size']:.1f} px tall")
            if not text["inside"]:
                found.append(f"{name}: {text['text']!r} runs out of the drawing")
    return found


def _full_page_screenshot(d: Any, name: str, width: int) -> None:
    """The whole page at ``width`` (a phone's through DevTools, like ``_phone``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = min(int(d.execute_script("return document.documentElement.scrollHeight")), 6000)
    if width < 500:
        d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )
    else:
        d.set_window_size(width, height + 40)
    d.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_every_chart_text_is_readable_on_a_phone_and_a_laptop(
    sqlite_template: Path, tmp_path: Path
) -> None:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        add_results(session, world)
        add_visits(session, world)
        token, _ = issue_access_token(session, user=world.officer, minutes=60)
        session.commit()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    problems: list[str] = []
    pages = {"overview": "/overview", "project": f"/projects/{world.lso.id}"}
    with (
        live_server(create_app(settings, engine)) as base,
        chromium(tmp_path / "profile", downloads) as driver,
    ):
        d: Any = driver
        d.get(base + "/login")
        d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})
        for language in ("en", "fr"):
            d.add_cookie({"name": "pilotmon_lang", "value": language, "path": "/"})
            for name, path in pages.items():
                for width in (390, 1280):
                    _phone(d, width)
                    d.get(base + path)
                    d.find_element("tag name", "footer")
                    assert d.execute_script("return window.innerWidth") == width
                    where = f"{name}, {language}, {width} px"
                    drawn = d.execute_script(_MEASURE)
                    texts = sum(len(chart["texts"]) for chart in drawn)
                    assert len(drawn) >= 2 and texts >= 20, f"{where}: too few charts drawn"
                    if width < 500:  # the phone gets every chart's narrow drawing
                        assert {c["drawing"] for c in drawn} == {"chart-narrow"}, where
                    problems += [f"{where}: {p}" for p in _problems(drawn)]
                    if overflow := _sideways(d):
                        problems.append(f"{where}: the page scrolls {overflow} px sideways")
                    _full_page_screenshot(d, f"charts-{name}-{language}-{width}", width)
        _phone(d, 1280)
    engine.dispose()
    assert not problems, "\n".join(problems)
