"""Every chart's two drawings: the narrow one (a phone's) writes fewer ticks, and in both no label
runs into another or out of the drawing, measured by the estimated width of its text."""

from __future__ import annotations

import calendar
import itertools
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
CSS = Path(charts.__file__).parent / "static" / "dashboard.css"
MONTHS = [f"{calendar.month_abbr[m]} 2026" for m in range(1, 13)]
QUARTERS = [f"{year}Q{q}" for year in (2024, 2025, 2026) for q in (1, 2, 3, 4)]
LONG = "Participants trained in post-harvest handling and the storage of seed potatoes"


def _drawings(chart: charts.Chart) -> dict[str, ET.Element]:
    return {
        "wide": ET.fromstring(str(chart.svg)),  # noqa: S314 - our own SVG
        "narrow": ET.fromstring(str(chart.svg_narrow)),  # noqa: S314
    }


def _every_kind() -> dict[str, charts.Chart]:
    """One chart of each kind, with the long labels and many categories real pages have."""
    return {
        "months": charts.stacked_bar_chart(
            key="months",
            title="Activities per month by thematic area",
            categories=MONTHS,
            series=[
                charts.Series("Value chains", tuple(float(i % 4) for i in range(12))),
                charts.Series("Post-harvest", tuple(float(i % 3) for i in range(12))),
            ],
            x_label="Month",
            y_label="Activities",
        ),
        "ages": charts.grouped_bar_chart(
            key="ages",
            title="Participantes por sexo e faixa etária",
            categories=["Jovens (15–35)", "Adultos (36–59)", "Idosos (60+)", "Não especificada"],
            series=[
                charts.Series("Mulheres", (330, 520, 140, 70)),
                charts.Series("Homens", (390, 630, 150, 90)),
            ],
            x_label="Faixa etária",
            y_label="Participantes",
        ),
        "long-names": charts.bar_chart(
            key="long-names",
            title="Activities by type",
            categories=[f"Demonstration plot number {i}" for i in range(9)],
            values=[float(1200 * (i + 1)) for i in range(9)],
            x_label="Type of activity held in the quarter",
            y_label="Activities held with farmers in the period",
            series_name="Activities",
        ),
        "quarters": charts.line_chart(
            key="quarters",
            title="Women's share of participants by quarter",
            categories=QUARTERS,
            series=[charts.Series("Women's share", tuple(40.0 + i for i in range(12)))],
            x_label="Quarter",
            y_label="Share of women (%)",
            y_max=100,
            fmt=charts.plain_percent,
            reference=(50, "parity"),
        ),
        "progress": charts.progress_chart(
            key="progress",
            title="Achievement of the current targets",
            items=[
                charts.Progress(LONG, 71, 100, 71.0),
                charts.Progress("Farm visits", 2, 100, 2.0, group="LSO-CPP-POTATO"),
                charts.Progress("Women's share", 115, 100, 115.0, group="LSO-DAA-STORE"),
                charts.Progress("Dashboard yield", 1234567, 1000000, 123.4567),
            ],
            x_label="Share of the target reached (current period)",
        ),
        "map": charts.site_map(
            key="map",
            title="Sites",
            places=[
                charts.Place("Maseru demonstration plot of the cooperative", -29.3, 27.5),
                charts.Place("Leribe", -28.9, 28.0),
                charts.Place("Quthing storage", -30.4, 27.7),
            ],
            bbox=(-30.7, 27.0, -28.6, 29.5),
            x_label="Longitude",
            y_label="Latitude",
        ),
    }


@dataclass(frozen=True)
class Box:
    """A label's estimated extent, in the frame of its rotation (``angle``, degrees)."""

    text: str
    angle: float
    left: float
    top: float
    right: float
    bottom: float

    def corners(self) -> list[tuple[float, float]]:
        a = math.radians(self.angle)
        return [
            (x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a))
            for x in (self.left, self.right)
            for y in (self.top, self.bottom)
        ]

    def page(self) -> tuple[float, float, float, float]:
        xs, ys = zip(*self.corners(), strict=True)
        return min(xs), min(ys), max(xs), max(ys)


def _shown(element: ET.Element) -> str:
    """The text drawn, without a <title> (a tooltip)."""
    parts = [element.text or ""]
    for child in element:
        if child.tag != f"{SVG}title":
            parts.append(_shown(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _line_box(text: str, x: float, y: float, anchor: str, size: float, angle: float) -> Box:
    width = charts._text_width(text, size)
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    # the glyphs' ascent and descent around the baseline
    return Box(text, angle, left, y - 0.76 * size, left + width, y + 0.24 * size)


def _label_boxes(svg: ET.Element) -> list[Box]:
    size = float(svg.get("font-size") or 0)
    boxes = []
    for text in svg.iter(f"{SVG}text"):
        anchor = text.get("text-anchor") or "start"
        transform = text.get("transform") or ""
        angle, (tx, ty) = 0.0, (0.0, 0.0)
        if found := re.fullmatch(
            r"translate\(([-\d.]+) ([-\d.]+)\) rotate\(([-\d.]+)\)", transform
        ):
            tx, ty, angle = (float(g) for g in found.groups())
        # the anchor point in the rotated frame: there the label is an upright box
        a = math.radians(-angle)
        x0 = tx * math.cos(a) - ty * math.sin(a) + float(text.get("x") or 0)
        y0 = tx * math.sin(a) + ty * math.cos(a) + float(text.get("y") or 0)
        lines = [t for t in text.iter(f"{SVG}tspan") if t.get("x") is not None]
        if not lines:
            boxes.append(_line_box(_shown(text), x0, y0, anchor, size, angle))
            continue
        y = y0
        for line in lines:
            y += float(line.get("dy") or 0)
            boxes.append(_line_box(line.text or "", x0, y, anchor, size, angle))
    return boxes


def _overlap(a: Box, b: Box) -> bool:
    """Whether two (rotated) label boxes share any area: no axis separates them."""
    corners_a, corners_b = a.corners(), b.corners()
    for angle in (a.angle, b.angle):
        r = math.radians(angle)
        for axis in ((math.cos(r), math.sin(r)), (-math.sin(r), math.cos(r))):
            pa = [x * axis[0] + y * axis[1] for x, y in corners_a]
            pb = [x * axis[0] + y * axis[1] for x, y in corners_b]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


@pytest.mark.parametrize("kind", list(_every_kind()))
@pytest.mark.parametrize("drawing", ["wide", "narrow"])
def test_labels_stay_apart_and_inside_the_drawing(kind: str, drawing: str) -> None:
    svg = _drawings(_every_kind()[kind])[drawing]
    _, _, width, height = (float(v) for v in (svg.get("viewBox") or "").split())
    boxes = _label_boxes(svg)
    assert len(boxes) >= 5
    for box in boxes:
        left, top, right, bottom = box.page()
        assert left >= 0 and right <= width, f"{box.text!r} runs out sideways"
        assert top >= 0 and bottom <= height, f"{box.text!r} runs out at the top or bottom"
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a, b), f"{a.text!r} runs into {b.text!r}"


def _y_ticks(svg: ET.Element) -> int:
    axis = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "axis y-axis")
    return len(list(axis.iter(f"{SVG}text")))


@pytest.mark.parametrize("kind", ["months", "ages", "long-names", "quarters"])
def test_the_narrow_drawing_is_narrower_with_fewer_ticks(kind: str) -> None:
    drawings = _drawings(_every_kind()[kind])
    assert drawings["narrow"].get("viewBox", "").split()[2] == str(charts.NARROW.width)
    assert drawings["wide"].get("viewBox", "").split()[2] == str(charts.WIDE.width)
    assert 3 <= _y_ticks(drawings["narrow"]) < _y_ticks(drawings["wide"])


def test_the_narrow_drawing_thins_a_years_months() -> None:
    drawings = _drawings(_every_kind()["months"])
    axis = next(g for g in drawings["narrow"].iter(f"{SVG}g") if g.get("class") == "axis x-axis")
    assert 3 <= len(list(axis.iter(f"{SVG}text"))) < len(MONTHS)


def test_a_long_label_is_shortened_on_the_phone_and_whole_in_the_table() -> None:
    chart = _every_kind()["progress"]
    narrow = " ".join(_shown(t) for t in _drawings(chart)["narrow"].iter(f"{SVG}text"))
    assert LONG not in narrow
    assert "Participants trained" in narrow and "…" in narrow
    assert LONG in str(chart.table)


def test_the_page_gets_both_drawings_each_with_its_title_and_description() -> None:
    chart = _every_kind()["quarters"]
    html = str(chart.__html__())
    assert html.count("<svg") == 2 and 'class="chart-wide"' in html
    assert 'class="chart-narrow"' in html and "Show the numbers" not in html  # default texts
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # both drawings in one page, no id twice
    for svg in _drawings(chart).values():
        labelled = (svg.get("aria-labelledby") or "").split()
        found = {e.get("id"): e.text for e in svg if e.get("id") in labelled}
        assert set(found.values()) == {chart.title, chart.summary}
    assert "<details" in html and "<table>" in html  # the numbers, once


def test_text_is_drawn_11_px_or_more_wherever_each_drawing_is_shown() -> None:
    # The stylesheet shows the wide drawing in a box at least this wide, the narrow one below it;
    # a phone's card at 390 px is about 330 px wide.
    found = re.search(r"@container \(max-width: (\d+)px\)", CSS.read_text(encoding="utf8"))
    assert found is not None
    narrowest_wide = int(found.group(1)) + 1
    assert charts.WIDE.font_size * narrowest_wide / charts.WIDE.width >= 10.95  # 11, rounded
    assert charts.NARROW.font_size * 330 / charts.NARROW.width >= 11
