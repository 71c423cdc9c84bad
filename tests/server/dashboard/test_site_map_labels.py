"""The project page's "Where the sites are" map writes every site's name where it can be read:
names of sites at one point, or at points close together, never print over each other (a
country officer read "Gazipur … garden" over "Kapasia jackfruit orchard")."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import combinations

import pytest
from markupsafe import Markup

from server.dashboard import charts
from shared.geography import COUNTRIES

SVG = "{http://www.w3.org/2000/svg}"

# Three sites at one point (a typo'd copy among them) and one a few kilometres away.
PLACES = [
    charts.Place("Kapasia jackfruit orchard", 24.10, 90.57),
    charts.Place("Gazipur school garden", 24.10, 90.57),
    charts.Place("Bhaluka demonstration orchard", 24.10, 90.57),
    charts.Place("Sreepur nursery", 24.15, 90.55),
    charts.Place("Madhupur processing centre", 24.61, 90.03),
]


def _labels(svg: Markup) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Each name the map writes with the box it takes (the charts' glyph-width model)."""
    root = ET.fromstring(str(svg))  # noqa: S314 - our own SVG
    size = 13.0
    found = []
    for text in root.iter(f"{SVG}text"):
        if text.get("class") != "place":
            continue
        name = text.text or ""
        x, y = float(text.get("x") or 0), float(text.get("y") or 0)
        width = charts._text_width(name, size)
        left = x - width if text.get("text-anchor") == "end" else x
        found.append((name, (left, y - 0.8 * size, left + width, y + 0.25 * size)))
    return found


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("drawing", ["svg", "svg_narrow"])
def test_names_of_sites_at_one_point_do_not_overlap(drawing: str) -> None:
    chart = charts.site_map(
        key="sites",
        title="Where the sites are",
        places=PLACES,
        bbox=COUNTRIES["BGD"].bbox,
        x_label="Longitude",
        y_label="Latitude",
    )
    svg: Markup = getattr(chart, drawing)
    labels = _labels(svg)
    # Every name is written, whole or (on a phone, where it fits on neither side) shortened.
    written = sorted(name for name, _ in labels)
    assert len(written) == len(PLACES)
    for name, place in zip(written, sorted(p.label for p in PLACES), strict=True):
        assert name == place or (name.endswith("…") and place.startswith(name[:-1])), name
    for (one, a), (other, b) in combinations(labels, 2):
        assert not _overlap(a, b), f"{one!r} {a} overlaps {other!r} {b}"
    width = float(ET.fromstring(str(svg)).get("viewBox", "0 0 0 0").split()[2])  # noqa: S314
    for name, (left, top, right, _) in labels:
        assert left >= 0 and right <= width and top >= 0, (name, left, right, top)


def test_a_moved_name_is_tied_to_its_point() -> None:
    """A name stacked away from its point gets a leader line from that point."""
    chart = charts.site_map(
        key="sites",
        title="Where the sites are",
        places=PLACES[:3],
        bbox=COUNTRIES["BGD"].bbox,
        x_label="Longitude",
        y_label="Latitude",
    )
    root = ET.fromstring(str(chart.svg))  # noqa: S314 - our own SVG
    [(cx, cy)] = {(c.get("cx"), c.get("cy")) for c in root.iter(f"{SVG}circle")}
    leaders = [line for line in root.iter(f"{SVG}line") if line.get("x1") == cx]
    assert len(leaders) == 2 and all(line.get("y1") == cy for line in leaders)
