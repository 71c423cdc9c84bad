"""The SVG charts: geometry that follows the data, words for screen readers, escaping."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.dashboard import charts, service
from server.dashboard.i18n import Translator

SVG = "{http://www.w3.org/2000/svg}"


def svg_root(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))  # noqa: S314


def num(element: ET.Element, name: str) -> float:
    value = element.get(name)
    assert value is not None, name
    return float(value)


def title_of(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    assert found is not None and found.text is not None
    return found.text


def bars(chart: charts.Chart) -> list[ET.Element]:
    group = next(g for g in svg_root(chart).iter(f"{SVG}g") if g.get("class") == "bars")
    return list(group.iter(f"{SVG}rect"))


@given(st.floats(min_value=0.001, max_value=1e9, allow_nan=False), st.booleans())
@settings(max_examples=200, deadline=None)
def test_ticks_start_at_zero_cover_the_maximum_and_step_evenly(high: float, integer: bool) -> None:
    ticks = charts.nice_ticks(high, integer=integer)
    assert ticks[0] == 0
    assert ticks[-1] >= high * (1 - 1e-9)  # up to float rounding of the value itself
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    assert 2 <= len(ticks) <= 12
    if integer:
        assert all(float(t).is_integer() for t in ticks)


def test_ticks_of_nothing_are_a_unit_scale() -> None:
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.nice_ticks(float("nan")) == [0.0, 1.0]


def test_stacked_bars_are_as_tall_as_their_values() -> None:
    chart = charts.stacked_bar_chart(
        key="k",
        title="Activities per month",
        categories=["Jan", "Feb", "Mar"],
        series=[charts.Series("TA1", (2, 0, 4)), charts.Series("TA2", (1, 3, 0))],
        x_label="Month",
        y_label="Activities",
    )
    heights = {title_of(r).split(":")[0]: num(r, "height") for r in bars(chart)}
    # Zero values draw nothing; the others scale linearly from the same baseline.
    assert set(heights) == {"Jan · TA1", "Mar · TA1", "Jan · TA2", "Feb · TA2"}
    assert heights["Mar · TA1"] == pytest.approx(4 * heights["Jan · TA2"], rel=1e-3)
    assert heights["Jan · TA1"] == pytest.approx(2 * heights["Jan · TA2"], rel=1e-3)


def test_a_charts_description_is_in_the_readers_language() -> None:
    """Screen readers announce the description: in French, no English words in it."""
    chart = charts.stacked_bar_chart(
        key="by-month",
        title="Activités par mois",
        categories=["janv.", "févr."],
        series=[charts.Series("Chaînes de valeur", (2, 5.5))],
        x_label="Mois",
        y_label="Activités",
        fmt=service._formatter(Translator("fr")),
        texts=service._texts(Translator("fr")),
    )
    desc = svg_root(chart).find(f"{SVG}desc")
    assert desc is not None
    assert desc.text == "Chaînes de valeur\u202f: au plus 5,5 (févr.)"


def test_a_chart_has_a_title_a_description_axis_labels_a_legend_and_a_table() -> None:
    chart = charts.stacked_bar_chart(
        key="by-month",
        title="Activities per month",
        categories=["Jan", "Feb"],
        series=[charts.Series("Value chains", (2, 5)), charts.Series("Post-harvest", (1, 1))],
        x_label="Month",
        y_label="Activities",
    )
    root = svg_root(chart)
    assert root.get("role") == "img"
    assert title_of(root) == "Activities per month"
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "Value chains: 5 at most (Feb)" in (desc.text or "")
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "axis-label"]
    assert labels == ["Activities", "Month"]
    html = chart.__html__()
    assert '<figcaption id="chart-by-month-title" class="chart-title">' in html
    assert [name for name, _ in chart.legend] == ["Value chains", "Post-harvest"]
    # The numbers scroll in their own box on a phone, not the whole page sideways.
    assert '<summary>Data table</summary><div class="table-wrap"><table' in html
    # The table holds every number, with a total per category.
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", str(chart.table))
    assert rows == [
        ("Jan", '<td class="num">2</td><td class="num">1</td><td class="num">3</td>'),
        ("Feb", '<td class="num">5</td><td class="num">1</td><td class="num">6</td>'),
    ]


def test_labels_are_escaped_everywhere() -> None:
    evil = '<script>alert("x")</script>'
    chart = charts.grouped_bar_chart(
        key="x",
        title=evil,
        categories=[evil],
        series=[charts.Series(evil, (1,))],
        x_label=evil,
        y_label=evil,
    )
    html = chart.__html__()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    svg_root(chart)  # still well-formed XML


def test_no_data_says_so_instead_of_drawing_empty_axes() -> None:
    texts = charts.Texts(no_data="Nothing yet.")
    chart = charts.stacked_bar_chart(
        key="e",
        title="T",
        categories=["Jan"],
        series=[charts.Series("A", (0,))],
        x_label="x",
        y_label="y",
        texts=texts,
    )
    assert chart.empty
    assert "Nothing yet." in chart.__html__()
    assert "<svg" not in chart.__html__()


def test_a_line_breaks_where_a_value_is_missing() -> None:
    chart = charts.line_chart(
        key="share",
        title="Women's share",
        categories=["Q1", "Q2", "Q3", "Q4", "Q5"],
        series=[charts.Series("Share", (40, 50, None, 55, 60))],
        x_label="Quarter",
        y_label="%",
        y_max=100,
        reference=(50, "parity"),
    )
    root = svg_root(chart)
    paths = [p.get("d") for p in root.iter(f"{SVG}path")]
    assert len(paths) == 2  # Q1–Q2 and Q4–Q5
    assert len(list(root.iter(f"{SVG}circle"))) == 4
    ticks = [t.text for t in root.iter(f"{SVG}text")]
    assert "100" in ticks and "parity" in ticks
    assert "–" in str(chart.table)  # the missing quarter reads as a dash


@pytest.mark.parametrize(("last", "side"), [(30, "above"), (60, "below"), (50, "below")])
def test_the_reference_label_sits_where_the_lines_end_away_from_it(last: int, side: str) -> None:
    # A share ending above parity crossed the "parity" label drawn above the line.
    chart = charts.line_chart(
        key="share",
        title="Women's share",
        categories=["Q1", "Q2", "Q3"],
        series=[charts.Series("Share", (45, last, last))],
        x_label="Quarter",
        y_label="%",
        y_max=100,
        reference=(50, "parity"),
    )
    root = svg_root(chart)
    [line] = [e for e in root.iter(f"{SVG}line") if e.get("class") == "reference"]
    [label] = [e for e in root.iter(f"{SVG}text") if e.get("class") == "reference-label"]
    assert label.text == "parity"
    if side == "above":
        assert num(label, "y") < num(line, "y1")
    else:
        assert num(label, "y") > num(line, "y1")


def test_grouped_bars_sit_side_by_side_at_their_heights() -> None:
    chart = charts.grouped_bar_chart(
        key="g",
        title="Target and actual",
        categories=["2025"],
        series=[charts.Series("Target", (30,)), charts.Series("Actual", (15,))],
        x_label="Period",
        y_label="Activities",
    )
    target, actual = bars(chart)
    assert num(target, "x") < num(actual, "x")
    assert num(target, "height") == pytest.approx(2 * num(actual, "height"), rel=1e-3)


def test_progress_shows_achievement_and_marks_the_target() -> None:
    chart = charts.progress_chart(
        key="p",
        title="Achievement",
        x_label="Share of target",
        items=[
            charts.Progress("Activities", 15, 30, 50.0, group="LSO-1"),
            charts.Progress("Participants", 660, 600, 110.0, group="LSO-1"),
            charts.Progress("No target", 5, 0, None),
            charts.Progress("Loss", 15, 10, 50.0),  # a decrease from a baseline of 20
        ],
    )
    root = svg_root(chart)
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("fill")]
    # below target, reached it, nothing for a share that cannot be judged, the loss's own share
    assert fills == [charts.PALETTE[0], charts.PALETTE[2], charts.PALETTE[0]]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "50\u00a0%" in texts and "110\u00a0%" in texts  # never wrapped apart
    assert "Loss: 50\u00a0%" in chart.summary  # the item's share, never actual ÷ target
    assert len([ln for ln in root.iter(f"{SVG}line") if ln.get("class") == "target"]) == 4
    assert (
        '<th scope="row">No target</th><td class="num">5</td><td class="num">0</td>'
        '<td class="num">–</td>' in str(chart.table).replace("\n", "")
    )
    assert "LSO-1 · Participants" in str(chart.table)


def test_negative_values_are_written_with_the_minus_sign() -> None:
    # A change below zero read "-12.5" (a hyphen) in the chart and its table; the percent of
    # the default achievement format could wrap between "50" and "%", and so could its legend.
    chart = charts.line_chart(
        key="c",
        title="Change",
        categories=["Q1", "Q2"],
        series=[charts.Series("Yield", (-12.5, 3.0))],
        x_label="Quarter",
        y_label="%",
    )
    assert "Q1 · Yield: −12.5" in str(chart.svg)
    assert '<td class="num">−12.5</td>' in str(chart.table) and "-12" not in str(chart.table)
    assert charts.plain_number(-1234) == "−1,234" and charts.plain_number(-0.04) == "0.0"
    progress = charts.progress_chart(
        key="p", title="A", x_label="B", items=[charts.Progress("Loss", -15, 30, -50.0)]
    )
    assert "−50\u00a0%" in str(progress.table)
    assert ("≥\u00a0100\u00a0%", charts.PALETTE[2]) in progress.legend


def test_site_map_places_points_inside_the_frame() -> None:
    places = [charts.Place("Maseru", -29.3, 27.5), charts.Place("Leribe", -28.9, 28.0)]
    chart = charts.site_map(
        key="m",
        title="Sites",
        places=places,
        bbox=(-30.7, 27.0, -28.6, 29.5),
        x_label="Longitude",
        y_label="Latitude",
    )
    root = svg_root(chart)
    frame = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "track")
    x0, y0 = num(frame, "x"), num(frame, "y")
    x1, y1 = x0 + num(frame, "width"), y0 + num(frame, "height")
    points = {
        title_of(c).split(" (")[0]: (num(c, "cx"), num(c, "cy")) for c in root.iter(f"{SVG}circle")
    }
    for x, y in points.values():
        assert x0 <= x <= x1 and y0 <= y <= y1
    # North is up and east is right.
    assert points["Leribe"][1] < points["Maseru"][1]
    assert points["Leribe"][0] > points["Maseru"][0]
    # Southern latitudes with the minus sign, in the table, the titles and the axis.
    assert "−29.3000" in str(chart.table) and "Maseru (−29.3000, 27.5000)" in str(chart.svg)
    assert "−30.7°" in str(chart.svg) and "-" not in chart.summary


def test_long_category_labels_are_thinned_or_rotated_not_overlapping() -> None:
    categories = [f"Category number {i}" for i in range(24)]
    chart = charts.bar_chart(
        key="many",
        title="Many",
        categories=categories,
        values=[i + 1 for i in range(24)],
        x_label="x",
        y_label="y",
        series_name="n",
    )
    axis = next(g for g in svg_root(chart).iter(f"{SVG}g") if g.get("class") == "axis x-axis")
    shown = [t for t in axis.iter(f"{SVG}text")]
    assert 0 < len(shown) < 24 or all("rotate" in (t.get("transform") or "") for t in shown)


@pytest.mark.parametrize("lon", [27.0, 27.6, 28.3, 29.0, 29.5])
def test_site_names_are_drawn_whole_inside_the_map(lon: float) -> None:
    name = "Maseru demonstration plot of the cooperative"
    chart = charts.site_map(
        key="m",
        title="Sites",
        places=[charts.Place(name, -29.3, lon)],
        bbox=(-30.7, 27.0, -28.6, 29.5),
        x_label="Longitude",
        y_label="Latitude",
    )
    label = next(t for t in svg_root(chart).iter(f"{SVG}text") if t.get("class") == "place")
    assert label.text == name  # not "Maseru demonstration pl…"
    x, width = num(label, "x"), charts._text_width(name)
    left = x - width if label.get("text-anchor") == "end" else x
    assert left >= 0 and left + width <= charts.WIDTH


def test_quarter_labels_keep_a_gap_between_them() -> None:
    # A project with three years of results drew "2024Q12024Q22024Q3…" under its charts: twelve
    # quarter labels fitted by the average glyph width, while digits and capitals are wider.
    quarters = [f"{year}Q{q}" for year in (2024, 2025, 2026) for q in (1, 2, 3, 4)]
    chart = charts.line_chart(
        key="quarters",
        title="Yield by quarter",
        categories=quarters,
        series=[charts.Series("Yield", tuple(float(12000 + i) for i in range(12)))],
        x_label="Quarter",
        y_label="kg/ha",
    )
    axis = next(g for g in svg_root(chart).iter(f"{SVG}g") if g.get("class") == "axis x-axis")
    xs = [
        num(t, "x") for t in axis.iter(f"{SVG}text") if "rotate" not in (t.get("transform") or "")
    ]
    assert len(xs) >= 2
    # Drawn at 12 px, "2024Q1" is up to 48 px wide in the common UI fonts (DejaVu Sans: digits
    # 0.64 em, Q 0.79 em); centred labels need that much between centres, and a little air.
    widest = 5 * 0.64 * charts.FONT_SIZE + 0.79 * charts.FONT_SIZE
    assert min(b - a for a, b in itertools.pairwise(xs)) >= widest + 4


def test_a_few_long_category_labels_wrap_instead_of_disappearing() -> None:
    # The report's "participants by sex and age band" in Portuguese and Spanish labelled only
    # "Jovens (15–35)" and "Idosos (60+)": every other label was thinned out, as on a time axis,
    # and the reader could not tell the adults' bars from those of an unspecified age.
    bands = ["Jovens (15–35)", "Adultos (36–59)", "Idosos (60+)", "Idade não especificada"]
    chart = charts.grouped_bar_chart(
        key="ages",
        title="Participantes por sexo e faixa etária",
        categories=bands,
        series=[
            charts.Series("Mulheres", (330, 520, 140, 70)),
            charts.Series("Homens", (390, 630, 150, 90)),
            charts.Series("Não especificado", (10, 20, 0, 20)),
        ],
        x_label="Faixa etária",
        y_label="Participantes",
    )
    axis = next(g for g in svg_root(chart).iter(f"{SVG}g") if g.get("class") == "axis x-axis")
    shown = [" ".join(" ".join(t.itertext()).split()) for t in axis.iter(f"{SVG}text")]
    assert shown == bands  # every band named, in order (a wrapped one read line after line)
    for text in axis.iter(f"{SVG}text"):  # each line fits its band, so no two labels touch
        lines = [s.text or "" for s in text.iter(f"{SVG}tspan")] or [text.text or ""]
        assert max(charts._text_width(line) for line in lines) + charts.LABEL_GAP <= (
            charts.WIDTH / len(bands)
        )
