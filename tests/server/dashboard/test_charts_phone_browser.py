"""The charts read on a phone and on a laptop, in Debian's headless Chromium: on the Overview and a
project page, at 390 and 1280 px, in English and French, every chart text on screen is drawn at
10.5 px or more, inside its drawing, and no chart is wider than its box. Screenshots go to
artifacts/screenshots/dashboard/charts-*.png for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server.dashboard.browser import screenshot, set_width
from tests.server.dashboard.test_audit_browser import _sideways
from tests.server.dashboard.test_results_browser import signed_in_officer

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


def test_every_chart_text_is_readable_on_a_phone_and_a_laptop(
    sqlite_template: Path, tmp_path: Path
) -> None:
    problems: list[str] = []
    with signed_in_officer(sqlite_template, tmp_path) as (d, base, world, _results):
        pages = {"overview": "/overview", "project": f"/projects/{world.lso.id}"}
        for language in ("en", "fr"):
            d.add_cookie({"name": "pilotmon_lang", "value": language, "path": "/"})
            for name, path in pages.items():
                for width in (390, 1280):
                    set_width(d, width)
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
                    screenshot(d, f"charts-{name}-{language}-{width}", width=width)
        set_width(d, 1280)
    assert not problems, "\n".join(problems)
