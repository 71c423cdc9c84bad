"""Charts drawn on the server as inline SVG, each with its title, axis labels, legend and a data
table that screen readers (and anyone who prefers numbers) can read.

    bar_chart           one series, vertical bars
    stacked_bar_chart   several series stacked per category (e.g. activities by thematic area)
    grouped_bar_chart   several series side by side (e.g. target against actual)
    line_chart          several series over ordered categories, gaps where a value is missing
    progress_chart      horizontal bullet bars: actual against a target, 100 % marked

Every function returns a ``Chart`` whose ``__html__`` renders a ``<figure>``; labels arrive
already translated and numbers go through the caller's ``fmt`` so the page's locale applies.
Each chart is drawn twice: ``WIDE`` for a laptop's column and ``NARROW`` for a phone, where the
wide drawing scaled down to 330 px would write its labels 6 px tall. The stylesheet shows the one
that suits the width of the chart's box (a container query), so text stays about 11 px or more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from shared.typography import coordinate, minus_sign

# A calm palette that stays distinguishable for the common colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#2f6f99",  # blue
    "#e0a03a",  # amber
    "#5a9a78",  # green
    "#9b5b8f",  # plum
    "#c8644a",  # terracotta
    "#7d8ca3",  # slate
    "#3f9aa6",  # teal
    "#b3a13f",  # olive
)


@dataclass(frozen=True, slots=True)
class Layout:
    """The size a chart is drawn at, in SVG units, and how much it writes on its axes."""

    name: str
    width: int
    font_size: int
    ticks: int  # about this many steps on the value axis
    height: int  # of a vertical chart
    rotated_chars: int  # a rotated category label is shortened to this many characters

    @property
    def char_width(self) -> float:
        return 0.58 * self.font_size  # average glyph width of the UI sans fonts, for layout only


# The wide drawing fills a laptop's half-page column (about 545 px: 13 units show 11 px); the
# narrow one a phone's card (about 330 px: 12 px) and any column too narrow for the wide one.
WIDE = Layout("wide", width=640, font_size=13, ticks=5, height=300, rotated_chars=18)
NARROW = Layout("narrow", width=360, font_size=13, ticks=3, height=270, rotated_chars=12)
LAYOUTS = (WIDE, NARROW)

WIDTH = WIDE.width
FONT_SIZE = WIDE.font_size
LABEL_GAP = 6.0  # the least room between two category labels side by side
# Up to this many categories, labels too long for their band wrap onto two lines; more (months,
# quarters) are thinned out or rotated.
WRAP_CATEGORIES = 6
CHAR_WIDTH = WIDE.char_width

Formatter = Callable[[float], str]
NO_VALUE = "–"  # a cell or share with nothing to show, as the Translator writes None


def plain_number(value: float) -> str:
    """The default number format: no decimals for whole numbers, one otherwise; negatives
    with the minus sign (shared.typography)."""
    if float(value).is_integer():
        return minus_sign(f"{int(value):,}")
    return minus_sign(f"{value:,.1f}")


def plain_percent(value: float) -> str:
    """The default percent format: no decimals, the sign kept to its number (no-break space)."""
    return minus_sign(f"{value:.0f}") + "\u00a0%"


def achievement_shown(share: float) -> float:
    """The value a share of a target is written as in whole percents: rounded, except that it
    never rounds onto 100 % or 0 % from the other side (docs/indicators.md#target-achievement).
    99.7 is written "99 %" (the target is not reached: "100 %" would say it is), 0.3 "1 %" and
    −0.2 "−1 %" (something was counted, or lost: "0 %" would say nothing was)."""
    whole = round(share)  # half to even, as Babel's "#,##0" and "{:.0f}" round
    if share < 100 <= whole:
        return 99.0
    if share > 0 >= whole:
        return 1.0
    if share < 0 <= whole:
        return -1.0
    return share


def achievement_text(share: float | None, percent: Formatter) -> str:
    """A share of a target written with the whole-percent ``percent`` (``achievement_shown``);
    "–" when it cannot be judged."""
    return NO_VALUE if share is None else percent(achievement_shown(share))


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: tuple[float | None, ...]
    color: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """One bullet bar: ``actual`` against ``target`` (both in the indicator's unit, ``actual``
    None while nothing counted), ``achieved`` the share of the target reached as the
    indicator judges it (``TARGET_ACHIEVEMENT``'s value: a ``decrease`` is measured from its
    baseline), None when it cannot be judged."""

    label: str
    actual: float | None
    target: float
    achieved: float | None
    detail: str = ""  # shown in the table after the label, e.g. the period
    group: str = ""  # a first line above the label, e.g. the project code


@dataclass(frozen=True, slots=True)
class Texts:
    """The words a chart needs besides its data, already in the reader's language."""

    data_table: str = "Data table"
    no_data: str = "No data yet for this selection."
    total: str = "Total"
    actual: str = "Actual"
    target: str = "Target"
    achieved: str = "Achieved"
    # A series' highest value in the text description (screen readers announce it).
    highest: str = "%(series)s: %(value)s at most (%(category)s)"


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    summary: str
    svg: Markup  # the wide drawing (also the PDF report's)
    legend: tuple[tuple[str, str], ...]
    table: Markup
    empty: bool = False
    texts: Texts = field(default_factory=Texts)
    svg_narrow: Markup = field(default_factory=Markup)  # the phone's drawing

    def __html__(self) -> str:
        title_id = f"chart-{self.key}-title"
        parts = [
            f'<figure class="chart" id="chart-{escape(self.key)}" '
            f'aria-labelledby="{escape(title_id)}">',
            f'<figcaption id="{escape(title_id)}" class="chart-title">'
            f"{escape(self.title)}</figcaption>",
        ]
        if self.empty:
            parts.append(f'<p class="chart-empty">{escape(self.texts.no_data)}</p></figure>')
            return "".join(parts)
        if self.legend:
            parts.append('<ul class="legend">')
            for name, color in self.legend:
                parts.append(
                    f'<li><span class="swatch" style="background:{escape(color)}">'
                    f"</span>{escape(name)}</li>"
                )
            parts.append("</ul>")
        # Both drawings, the stylesheet showing one (the hidden one is out of the a11y tree).
        parts.append(f'<div class="chart-canvas">{self.svg}{self.svg_narrow}</div>')
        parts.append(
            f'<details class="chart-data"><summary>{escape(self.texts.data_table)}'
            f'</summary><div class="table-wrap">{self.table}</div></details></figure>'
        )
        return "".join(parts)


# --- scales --------------------------------------------------------------------------------


def nice_ticks(high: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values from 0 up to at least ``high`` (steps of 1, 2, 2.5 or 5 × 10ⁿ)."""
    if not math.isfinite(high) or high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude:
            step = multiple * magnitude
            break
    if integer:
        step = max(1.0, float(math.ceil(step)))
    top = math.ceil(high / step - 1e-9) * step
    if not math.isfinite(top):  # next to the largest float: even steps up to the maximum
        return [high / count * i for i in range(count + 1)]
    n = round(top / step)
    return [round(i * step, 10) for i in range(n + 1)]


def _two_lines(text: str) -> tuple[str, ...]:
    """``text`` broken at the space that best balances its two lines (one word: itself)."""
    words = text.split()
    if len(words) < 2:
        return (text,)
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    return min(splits, key=lambda pair: max(_text_width(pair[0]), _text_width(pair[1])))


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    # Digits and capitals are wider than the average glyph (0.64 and up to 0.79 em in DejaVu
    # Sans): "2024Q1" needs 4 em, not the 3.5 em of six average letters.
    wide = sum(1 for c in text if c.isdigit() or c.isupper())
    return (len(text) * 0.58 + wide * 0.1) * size


def _shorten(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max(1, max_chars - 1)] + "…"


def _fit(text: str, room: float, size: float) -> str:
    """``text`` shortened (with an ellipsis) until its estimated width fits ``room``."""
    if _text_width(text, size) <= room:
        return text
    chars = len(text)
    while chars > 1 and _text_width(_shorten(text, chars), size) > room:
        chars -= 1
    return _shorten(text, chars)


def _color(series: Series, index: int) -> str:
    return series.color or PALETTE[index % len(PALETTE)]


def _attr(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# --- tables --------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> Markup:
    out = [f"<table><caption>{escape(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in header]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append(f'<tr><th scope="row">{escape(row[0])}</th>')
        out += [f'<td class="num">{escape(cell)}</td>' for cell in row[1:]]
        out.append("</tr>")
    out.append("</tbody></table>")
    return Markup("".join(out))  # noqa: S704


def data_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> Markup:
    """A chart's "Show the numbers" table from already formatted cells (first cell a row head)."""
    return _table(header, rows, caption)


def _series_table(
    title: str,
    x_label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter,
    *,
    totals: bool,
    texts: Texts,
) -> Markup:
    header = [x_label, *(s.name for s in series)]
    if totals and len(series) > 1:
        header.append(texts.total)
    rows = []
    for i, category in enumerate(categories):
        values = [s.values[i] if i < len(s.values) else None for s in series]
        row = [category, *(NO_VALUE if v is None else fmt(v) for v in values)]
        if totals and len(series) > 1:
            row.append(fmt(sum(v for v in values if v is not None)))
        rows.append(row)
    return _table(header, rows, title)


# --- the frame shared by vertical charts ----------------------------------------------------


@dataclass(slots=True)
class _Frame:
    """Plot area and axes of a vertical chart; x is a band per category, y is linear."""

    layout: Layout
    categories: Sequence[str]
    ticks: list[float]
    fmt: Formatter
    x_label: str
    y_label: str
    height: int = 0  # 0: the layout's
    left: float = 0.0
    right: float = 16.0
    top: float = 14.0
    bottom: float = 0.0
    label_every: int = 1
    rotate: bool = False
    wrap: bool = False  # each label on two lines

    def __post_init__(self) -> None:
        size = self.font_size
        self.height = self.height or self.layout.height
        self.right = 16.0 if self.layout is WIDE else 8.0
        tick_width = max(_text_width(self.fmt(t), size) for t in self.ticks)
        self.left = 2 * size + tick_width + 10  # room for the rotated y label and the tick labels
        n = max(1, len(self.categories))
        longest = max((_text_width(c, size) for c in self.categories), default=0)
        band = self.plot_width / n
        if longest + LABEL_GAP > band:
            widest_line = max(
                (_text_width(line, size) for c in self.categories for line in _two_lines(c)),
                default=0,
            )
            if n <= WRAP_CATEGORIES and widest_line + LABEL_GAP <= band:
                # A few named categories (age bands, sexes): every one must stay readable,
                # so break them over two lines rather than leave every other one out.
                self.wrap = True
            else:
                # Thin out the labels first; rotate them only when even that is not enough.
                self.label_every = max(1, math.ceil((longest + LABEL_GAP) / max(band, 1)))
                if self.label_every > 3:
                    self.rotate = True
                    # Rotated 40°, neighbours stand band × sin 40° apart: a line and some air.
                    self.label_every = max(1, math.ceil(size * 2.1 / band))
        if self.rotate:
            shown = max((_text_width(self.rotated(c), size) for c in self.categories), default=0)
            label_room = shown * 0.65 + size * 0.8 + 6  # sin and cos of 40°
        else:
            # below the baseline a little more than the descent of the lowest tick label
            label_room = (2 * size + 2 if self.wrap else size) + 9
        self.bottom = label_room + size + 18

    @property
    def font_size(self) -> int:
        return self.layout.font_size

    @property
    def width(self) -> int:
        return self.layout.width

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def y_max(self) -> float:
        return self.ticks[-1] or 1.0

    def rotated(self, category: str) -> str:
        return _shorten(category, self.layout.rotated_chars)

    def y(self, value: float) -> float:
        return self.top + self.plot_height * (1 - max(0.0, value) / self.y_max)

    def band(self) -> float:
        return self.plot_width / max(1, len(self.categories))

    def x_center(self, index: int) -> float:
        return self.left + self.band() * (index + 0.5)

    def axes(self) -> list[str]:
        size = self.font_size
        out = ['<g class="axis y-axis">']
        for tick in self.ticks:
            y = self.y(tick)
            out.append(
                f'<line class="grid" x1="{_attr(self.left)}" '
                f'x2="{_attr(self.width - self.right)}" y1="{_attr(y)}" y2="{_attr(y)}"/>'
            )
            out.append(
                f'<text x="{_attr(self.left - 6)}" y="{_attr(y + size / 3)}" '
                f'text-anchor="end">{escape(self.fmt(tick))}</text>'
            )
        out.append("</g>")
        middle = self.top + self.plot_height / 2
        out.append(
            f'<text class="axis-label" transform="translate({_attr(size + 2)} {_attr(middle)}) '
            f'rotate(-90)" text-anchor="middle">'
            f"{escape(_fit(self.y_label, self.plot_height, size))}</text>"
        )
        out.append('<g class="axis x-axis">')
        base = self.top + self.plot_height
        out.append(
            f'<line class="baseline" x1="{_attr(self.left)}" '
            f'x2="{_attr(self.width - self.right)}" y1="{_attr(base)}" y2="{_attr(base)}"/>'
        )
        for i, category in enumerate(self.categories):
            if i % self.label_every:
                continue
            x = self.x_center(i)
            if self.rotate:
                out.append(
                    f'<text transform="translate({_attr(x + 4)} {_attr(base + 10)}) '
                    f'rotate(-40)" text-anchor="end">{escape(self.rotated(category))}'
                    "</text>"
                )
            elif self.wrap:
                lines = "".join(
                    f'<tspan x="{_attr(x)}" dy="{0 if j == 0 else size + 2}">{escape(line)}</tspan>'
                    for j, line in enumerate(_two_lines(category))
                )
                out.append(
                    f'<text x="{_attr(x)}" y="{_attr(base + size + 7)}" '
                    f'text-anchor="middle">{lines}</text>'
                )
            else:
                out.append(
                    f'<text x="{_attr(x)}" y="{_attr(base + size + 7)}" '
                    f'text-anchor="middle">{escape(category)}</text>'
                )
        out.append("</g>")
        # Centred under the plot, but never past the drawing's edges.
        room = self.width - 8
        label = _fit(self.x_label, room, size)
        center = min(
            max(self.left + self.plot_width / 2, 4 + _text_width(label, size) / 2),
            self.width - 4 - _text_width(label, size) / 2,
        )
        out.append(
            f'<text class="axis-label" x="{_attr(center)}" '
            f'y="{_attr(self.height - 6)}" text-anchor="middle">{escape(label)}'
            "</text>"
        )
        return out


def _svg(
    layout: Layout, key: str, title: str, summary: str, height: float, body: list[str]
) -> Markup:
    # Every text in ``body`` was escaped where it was made. The wide drawing keeps the ids it
    # always had; the narrow one's are its own, so that both can sit in one page.
    ref = key if layout is WIDE else f"{key}-{layout.name}"
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-{layout.name}" '
        f'viewBox="0 0 {layout.width} {_attr(height)}" '
        f'role="img" aria-labelledby="svg-{escape(ref)}-t svg-{escape(ref)}-d" '
        f'font-size="{layout.font_size}"><title id="svg-{escape(ref)}-t">{escape(title)}</title>'
        f'<desc id="svg-{escape(ref)}-d">{escape(summary)}</desc>' + "".join(body) + "</svg>"
    )


def _empty(key: str, title: str, texts: Texts) -> Chart:
    return Chart(
        key=key,
        title=title,
        summary=texts.no_data,
        svg=Markup(""),
        legend=(),
        table=Markup(""),
        empty=True,
        texts=texts,
    )


def _has_values(series: Sequence[Series]) -> bool:
    return any(v is not None and v != 0 for s in series for v in s.values)


def _summary_of(
    series: Sequence[Series], categories: Sequence[str], fmt: Formatter, texts: Texts
) -> str:
    """One sentence per series: its highest value and that value's category."""
    parts = []
    for s in series:
        known = [
            (v, categories[i])
            for i, v in enumerate(s.values)
            if v is not None and i < len(categories)
        ]
        if not known:
            continue
        top_value, top_category = max(known, key=lambda pair: pair[0])
        parts.append(
            texts.highest % {"series": s.name, "value": fmt(top_value), "category": top_category}
        )
    return "; ".join(parts)


# --- bar charts ----------------------------------------------------------------------------


def bar_chart(
    *,
    key: str,
    title: str,
    categories: Sequence[str],
    values: Sequence[float],
    x_label: str,
    y_label: str,
    series_name: str,
    fmt: Formatter = plain_number,
    color: str = PALETTE[0],
    summary: str = "",
    texts: Texts | None = None,
) -> Chart:
    """One series of vertical bars."""
    series = Series(series_name, tuple(values), color)
    return stacked_bar_chart(
        key=key,
        title=title,
        categories=categories,
        series=[series],
        x_label=x_label,
        y_label=y_label,
        fmt=fmt,
        summary=summary,
        texts=texts,
        legend=False,
    )


def stacked_bar_chart(
    *,
    key: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    fmt: Formatter = plain_number,
    summary: str = "",
    texts: Texts | None = None,
    legend: bool = True,
) -> Chart:
    """Series stacked per category; the table adds a total column."""
    texts = texts or Texts()
    if not categories or not _has_values(series):
        return _empty(key, title, texts)
    totals = [
        sum((s.values[i] or 0) for s in series if i < len(s.values)) for i in range(len(categories))
    ]
    summary = summary or _summary_of(series, categories, fmt, texts)

    def draw(layout: Layout) -> Markup:
        ticks = nice_ticks(max(totals), count=layout.ticks, integer=True)
        frame = _Frame(layout, categories, ticks, fmt, x_label, y_label)
        band = frame.band()
        bar_width = min(band * 0.7, 56)
        body = frame.axes()
        body.append('<g class="bars">')
        for i, category in enumerate(categories):
            running = 0.0
            x = frame.x_center(i) - bar_width / 2
            for j, s in enumerate(series):
                value = s.values[i] if i < len(s.values) else None
                if not value:
                    continue
                y_top, y_bottom = frame.y(running + value), frame.y(running)
                body.append(
                    f'<rect x="{_attr(x)}" y="{_attr(y_top)}" width="{_attr(bar_width)}" '
                    f'height="{_attr(max(0.5, y_bottom - y_top))}" fill="{_color(s, j)}">'
                    f"<title>{escape(category)} · {escape(s.name)}: {escape(fmt(value))}"
                    "</title></rect>"
                )
                running += value
        body.append("</g>")
        return _svg(layout, key, title, summary, frame.height, body)

    return Chart(
        key=key,
        title=title,
        summary=summary,
        svg=draw(WIDE),
        svg_narrow=draw(NARROW),
        legend=tuple((s.name, _color(s, j)) for j, s in enumerate(series)) if legend else (),
        table=_series_table(title, x_label, categories, series, fmt, totals=True, texts=texts),
        texts=texts,
    )


def grouped_bar_chart(
    *,
    key: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    fmt: Formatter = plain_number,
    summary: str = "",
    y_max: float | None = None,
    height: int = 300,
    texts: Texts | None = None,
) -> Chart:
    """Series side by side within each category (e.g. women and men per age band)."""
    texts = texts or Texts()
    if not categories or not _has_values(series):
        return _empty(key, title, texts)
    high = max((v or 0) for s in series for v in s.values)
    summary = summary or _summary_of(series, categories, fmt, texts)

    def draw(layout: Layout) -> Markup:
        ticks = nice_ticks(max(high, y_max or 0), count=layout.ticks)
        tall = height if layout is WIDE else min(height, layout.height)
        frame = _Frame(layout, categories, ticks, fmt, x_label, y_label, height=tall)
        band = frame.band()
        group_width = min(band * 0.8, 36.0 * len(series))
        bar_width = group_width / max(1, len(series))
        body = frame.axes()
        body.append('<g class="bars">')
        for i, category in enumerate(categories):
            left = frame.x_center(i) - group_width / 2
            for j, s in enumerate(series):
                value = s.values[i] if i < len(s.values) else None
                if value is None:
                    continue
                y_top = frame.y(value)
                bar_height = frame.y(0) - y_top
                body.append(
                    f'<rect x="{_attr(left + j * bar_width + 1)}" y="{_attr(y_top)}" '
                    f'width="{_attr(max(1.0, bar_width - 2))}" '
                    f'height="{_attr(max(0.5, bar_height))}" fill="{_color(s, j)}">'
                    f"<title>{escape(category)} · {escape(s.name)}: {escape(fmt(value))}"
                    "</title></rect>"
                )
        body.append("</g>")
        return _svg(layout, key, title, summary, frame.height, body)

    return Chart(
        key=key,
        title=title,
        summary=summary,
        svg=draw(WIDE),
        svg_narrow=draw(NARROW),
        legend=tuple((s.name, _color(s, j)) for j, s in enumerate(series)),
        table=_series_table(title, x_label, categories, series, fmt, totals=False, texts=texts),
        texts=texts,
    )


# --- line chart ----------------------------------------------------------------------------


def line_chart(
    *,
    key: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    fmt: Formatter = plain_number,
    tick_fmt: Formatter | None = None,
    y_max: float | None = None,
    reference: tuple[float, str] | None = None,
    summary: str = "",
    texts: Texts | None = None,
) -> Chart:
    """Lines over ordered categories; a missing value (None) breaks the line. ``reference``
    draws a dashed line at a value with its label (e.g. parity at 50 %). ``tick_fmt`` writes
    the axis's round values when the values need more decimals than they do."""
    texts = texts or Texts()
    known = [v for s in series for v in s.values if v is not None]
    if not categories or not known:
        return _empty(key, title, texts)
    high = y_max if y_max is not None else max(known)
    summary = summary or _summary_of(series, categories, fmt, texts)

    def draw(layout: Layout) -> Markup:
        frame = _Frame(
            layout,
            categories,
            nice_ticks(high, count=layout.ticks),
            tick_fmt or fmt,
            x_label,
            y_label,
        )
        end = layout.width - frame.right
        body = frame.axes()
        if reference is not None:
            level, label = reference
            y = frame.y(level)
            body.append(
                f'<line class="reference" x1="{_attr(frame.left)}" '
                f'x2="{_attr(end)}" y1="{_attr(y)}" y2="{_attr(y)}"/>'
            )
            # The label sits at the right end, on the side of the line the last values leave
            # free (above, unless a line ends there), and with a halo where one still crosses.
            last = [v for s in series for v in s.values[len(categories) - 2 : len(categories)]]
            above = not any(v is not None and v >= level for v in last)
            label_y = y - 5 if above else y + layout.font_size + 3
            body.append(
                f'<text class="reference-label" x="{_attr(end - 4)}" '
                f'y="{_attr(label_y)}" text-anchor="end">'
                f"{escape(_fit(label, frame.plot_width - 8, layout.font_size))}</text>"
            )
        for j, s in enumerate(series):
            color = _color(s, j)
            runs: list[list[tuple[float, float]]] = [[]]
            points: list[str] = []
            for i, value in enumerate(s.values[: len(categories)]):
                if value is None:
                    runs.append([])
                    continue
                x, y = frame.x_center(i), frame.y(value)
                runs[-1].append((x, y))
                points.append(
                    f'<circle cx="{_attr(x)}" cy="{_attr(y)}" r="3.5" fill="{color}">'
                    f"<title>{escape(categories[i])} · {escape(s.name)}: "
                    f"{escape(fmt(value))}</title></circle>"
                )
            body.append(f'<g class="line-series" stroke="{color}">')
            for run in runs:
                if len(run) > 1:
                    d = " ".join(
                        f"{'M' if k == 0 else 'L'}{_attr(x)} {_attr(y)}"
                        for k, (x, y) in enumerate(run)
                    )
                    body.append(
                        f'<path d="{d}" fill="none" stroke-width="2.5" '
                        'stroke-linejoin="round" stroke-linecap="round"/>'
                    )
            body.append("</g>")
            body.extend(points)
        return _svg(layout, key, title, summary, frame.height, body)

    return Chart(
        key=key,
        title=title,
        summary=summary,
        svg=draw(WIDE),
        svg_narrow=draw(NARROW),
        legend=tuple((s.name, _color(s, j)) for j, s in enumerate(series)),
        table=_series_table(title, x_label, categories, series, fmt, totals=False, texts=texts),
        texts=texts,
    )


# --- progress (bullet) chart ---------------------------------------------------------------


def progress_chart(
    *,
    key: str,
    title: str,
    items: Sequence[Progress],
    x_label: str,
    fmt: Formatter = plain_number,
    percent: Formatter | None = None,
    summary: str = "",
    texts: Texts | None = None,
) -> Chart:
    """One horizontal bar per item showing the share of its target reached, the target at
    100 %. The share is the item's own (``Progress.achieved``), never worked out here: a
    ``decrease`` is judged from its baseline. An item without one (nothing counted yet, no
    baseline) keeps its row, an empty track and "–". ``percent`` writes whole percents; a
    share is written as ``achievement_shown`` says, so "100 %" always means the green bar."""
    texts = texts or Texts()
    rows = list(items)
    if not rows:
        return _empty(key, title, texts)
    percent = percent or plain_percent
    shares = [item.achieved for item in rows]
    scale_max = nice_ticks(min(max(100.0, *(s or 0.0 for s in shares)), 200.0), count=4)[-1]
    bar = 14

    def number(value: float | None) -> str:
        return NO_VALUE if value is None else fmt(value)

    def share_text(share: float | None) -> str:
        return achievement_text(share, percent)

    def bar_row(
        layout: Layout,
        item: Progress,
        share: float | None,
        middle: float,
        left: float,
        right: float,
    ) -> list[str]:
        """The track, the bar, the 100 % mark and the share written after the track."""
        plot_width = layout.width - left - right
        mark = left + plot_width * 100 / scale_max
        full = f"{item.group} · {item.label}" if item.group else item.label
        tip = (
            f"{escape(full)}: {escape(number(item.actual))} / {escape(fmt(item.target))} "
            f"({escape(share_text(share))})"
        )
        drawn = [
            f'<rect class="track" x="{_attr(left)}" y="{_attr(middle - bar / 2)}" '
            f'width="{_attr(plot_width)}" height="{bar}" rx="3"><title>{tip}</title></rect>'
        ]
        if share is not None:
            end = left + plot_width * max(0.0, min(share, scale_max)) / scale_max
            color = PALETTE[2] if share >= 100 else PALETTE[0]
            drawn.append(
                f'<rect x="{_attr(left)}" y="{_attr(middle - bar / 2)}" '
                f'width="{_attr(max(1.0, end - left))}" height="{bar}" '
                f'rx="3" fill="{color}"><title>{tip}</title></rect>'
            )
        return [
            *drawn,
            f'<line class="target" x1="{_attr(mark)}" x2="{_attr(mark)}" '
            f'y1="{_attr(middle - bar / 2 - 4)}" y2="{_attr(middle + bar / 2 + 4)}"/>',
            f'<text x="{_attr(layout.width - 2)}" y="{_attr(middle + layout.font_size / 3)}" '
            f'text-anchor="end">{escape(share_text(share))}</text>',
        ]

    def scale(layout: Layout, left: float, right: float, top: float, bottom: float) -> list[str]:
        """The grid lines at round shares and their labels under the rows."""
        plot_width = layout.width - left - right
        out = ['<g class="axis x-axis">']
        for tick in nice_ticks(scale_max, count=4 if layout is WIDE else 3):
            if tick > scale_max:
                break
            x = left + plot_width * tick / scale_max
            out.append(
                f'<line class="grid" x1="{_attr(x)}" x2="{_attr(x)}" y1="{_attr(top)}" '
                f'y2="{_attr(bottom)}"/>'
            )
            out.append(
                f'<text x="{_attr(x)}" y="{_attr(bottom + layout.font_size + 4)}" '
                f'text-anchor="middle">{escape(percent(tick))}</text>'
            )
        out.append("</g>")
        return out

    def axis_label(layout: Layout, height: float) -> str:
        label = _fit(x_label, layout.width - 8, layout.font_size)
        return (
            f'<text class="axis-label" x="{_attr(layout.width / 2)}" '
            f'y="{_attr(height - 6)}" text-anchor="middle">{escape(label)}</text>'
        )

    def draw_wide(layout: Layout) -> Markup:
        """Labels at the left of their bars."""
        size = layout.font_size
        label_chars = 28
        two_lines = any(item.group for item in rows)
        # Group lines are bold capitals in practice (project codes): count them wider.
        longest = max(max(len(item.group) * 1.2, len(item.label)) for item in rows)
        left = 10 + min(label_chars * 1.2, longest) * layout.char_width + 8
        right = 64.0
        row_height = 40 if two_lines else 30
        top = 8
        bottom = top + row_height * len(rows)
        height = bottom + size + 36
        body = scale(layout, left, right, top, bottom)
        for i, (item, share) in enumerate(zip(rows, shares, strict=True)):
            middle = top + i * row_height + row_height / 2
            if item.group:
                body.append(
                    f'<text class="label-strong" x="{_attr(left - 8)}" '
                    f'y="{_attr(middle - 3)}" text-anchor="end">'
                    f"{escape(_shorten(item.group, label_chars))}</text>"
                )
                body.append(
                    f'<text x="{_attr(left - 8)}" y="{_attr(middle + size)}" '
                    f'text-anchor="end"><title>{escape(item.label)}</title>'
                    f"{escape(_shorten(item.label, label_chars))}</text>"
                )
            else:
                body.append(
                    f'<text x="{_attr(left - 8)}" y="{_attr(middle + size / 3)}" '
                    f'text-anchor="end"><title>{escape(item.label)}</title>'
                    f"{escape(_shorten(item.label, label_chars))}</text>"
                )
            body += bar_row(layout, item, share, middle, left, right)
        body.append(axis_label(layout, height))
        return _svg(layout, key, title, summary, height, body)

    def draw_narrow(layout: Layout) -> Markup:
        """Each label on a line of its own above its bar, across the whole width."""
        size = layout.font_size
        # The track starts where "0 %" fits centred under its start.
        left = 2 + _text_width(percent(0), size) / 2
        right = 8 + max(_text_width(share_text(share), size) for share in shares)
        row_height = size + bar + 22
        top = 4
        bottom = top + row_height * len(rows)
        height = bottom + size + 36
        body = scale(layout, left, right, top, bottom)
        for i, (item, share) in enumerate(zip(rows, shares, strict=True)):
            y = top + i * row_height
            room = layout.width - left - 2
            if item.group:
                group = _fit(item.group, room * 0.5, size * 1.1)
                rest = room - _text_width(group + " · ", size * 1.1)
                words = (
                    f'<tspan class="label-strong">{escape(group)}</tspan> · '
                    f"{escape(_fit(item.label, rest, size))}"
                )
            else:
                words = escape(_fit(item.label, room, size))
            body.append(
                f'<text x="{_attr(left)}" y="{_attr(y + size + 2)}">'
                f"<title>{escape(item.label)}</title>{words}</text>"
            )
            body += bar_row(layout, item, share, y + size + 8 + bar / 2, left, right)
        body.append(axis_label(layout, height))
        return _svg(layout, key, title, summary, height, body)

    summary = summary or "; ".join(
        f"{item.group + ' · ' if item.group else ''}{item.label}: {share_text(share)}"
        for item, share in zip(rows, shares, strict=True)
    )
    table_rows = [
        [
            (f"{item.group} · " if item.group else "")
            + item.label
            + (f" ({item.detail})" if item.detail else ""),
            number(item.actual),
            fmt(item.target),
            share_text(share),
        ]
        for item, share in zip(rows, shares, strict=True)
    ]
    table = _table(["", texts.actual, texts.target, texts.achieved], table_rows, title)
    return Chart(
        key=key,
        title=title,
        summary=summary,
        svg=draw_wide(WIDE),
        svg_narrow=draw_narrow(NARROW),
        legend=((texts.achieved, PALETTE[0]), ("≥\u00a0" + percent(100), PALETTE[2])),
        table=table,
        texts=texts,
    )


# --- site map ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    label: str
    lat: float
    lon: float


def _place_label(
    label: str, x: float, gap: float = 8.0, layout: Layout = WIDE
) -> tuple[str, str, float]:
    """A site's name beside its point, on the side where it fits whole inside the drawing;
    shortened only when it fits on neither side (the table below has every name in full)."""
    size = layout.font_size
    right, left = layout.width - (x + gap) - 2, x - gap - 2
    if _text_width(label, size) <= right:
        return label, "start", gap
    if _text_width(label, size) <= left:
        return label, "end", -gap
    room, anchor, dx = (right, "start", gap) if right >= left else (left, "end", -gap)
    return _fit(label, room, size), anchor, dx


Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True, slots=True)
class PlacedLabel:
    """A site's name where the map writes it: ``x``, ``y`` its anchor and baseline."""

    text: str
    anchor: str
    x: float
    y: float
    size: float

    @property
    def box(self) -> Box:
        width = _text_width(self.text, self.size)
        left = self.x - width if self.anchor == "end" else self.x
        return (left, self.y - 0.8 * self.size, left + width, self.y + 0.25 * self.size)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    points: Sequence[tuple[str, float, float]], *, layout: Layout, top: float, bottom: float
) -> list[PlacedLabel | None]:
    """Each point's name beside it (``_place_label``'s side) where it overlaps no name placed
    before and no other point; else moved up or down a line at a time (the map draws a leader
    line to it), staying between ``top`` and ``bottom``. Names of sites at one spot so stack in
    a column. A name with no free place is left out (None): its point keeps its title and the
    table below the map lists every name."""
    size = layout.font_size
    step = size + 3
    radius = 6.0
    dots = [(x - radius, y - radius, x + radius, y + radius) for _, x, y in points]
    placed: list[PlacedLabel | None] = []
    taken: list[Box] = []
    reach = int((bottom - top) // step) + 1
    for i, (name, x, y) in enumerate(points):
        text, anchor, dx = _place_label(name, x, layout=layout)
        others = [d for j, d in enumerate(dots) if j != i]
        found = None
        for k in sorted(range(-reach, reach + 1), key=lambda k: (abs(k), -k)):
            label = PlacedLabel(text, anchor, x + dx, y + size / 3 + k * step, size)
            box = label.box
            if box[1] < top or box[3] > bottom:
                continue
            if not any(_overlap(box, other) for other in (*taken, *others)):
                found = label
                break
        placed.append(found)
        if found is not None:
            taken.append(found.box)
    return placed


def site_map(
    *,
    key: str,
    title: str,
    places: Sequence[Place],
    bbox: tuple[float, float, float, float] | None,
    x_label: str,
    y_label: str,
    texts: Texts | None = None,
) -> Chart:
    """Sites as points on longitude × latitude (equirectangular), framed by the country's
    bounding box when known; the table lists the coordinates."""
    texts = texts or Texts()
    if not places:
        return _empty(key, title, texts)
    lats = [p.lat for p in places]
    lons = [p.lon for p in places]
    if bbox is not None:
        min_lat, min_lon, max_lat, max_lon = bbox
        min_lat, max_lat = min(min_lat, *lats), max(max_lat, *lats)
        min_lon, max_lon = min(min_lon, *lons), max(max_lon, *lons)
    else:
        pad = 0.5
        min_lat, max_lat = min(lats) - pad, max(lats) + pad
        min_lon, max_lon = min(lons) - pad, max(lons) + pad
    mid = math.radians((min_lat + max_lat) / 2)
    span_x = max((max_lon - min_lon) * math.cos(mid), 1e-6)
    span_y = max(max_lat - min_lat, 1e-6)
    summary = "; ".join(
        f"{p.label} ({coordinate(p.lat, 3)}, {coordinate(p.lon, 3)})" for p in places
    )

    def draw(layout: Layout) -> Markup:
        size = layout.font_size
        degrees = [minus_sign(_attr(v)) + "°" for v in (min_lat, max_lat)]
        left = 2 * size + 8 + max(_text_width(d, size) for d in degrees)
        right, top, bottom = 16.0 if layout is WIDE else 8.0, 10.0, 2 * size + 18
        plot_width = layout.width - left - right
        plot_height = min(360.0, max(180.0, plot_width * span_y / span_x))
        scale = min(plot_width / span_x, plot_height / span_y)
        width_used, height_used = span_x * scale, span_y * scale
        x0 = left + (plot_width - width_used) / 2
        height = top + plot_height + bottom

        def xy(lat: float, lon: float) -> tuple[float, float]:
            return (
                x0 + (lon - min_lon) * math.cos(mid) * scale,
                top + (plot_height - height_used) / 2 + (max_lat - lat) * scale,
            )

        (ax, ay), (bx, by) = xy(max_lat, min_lon), xy(min_lat, max_lon)
        body = [
            f'<rect class="track" x="{_attr(ax)}" y="{_attr(ay)}" width="{_attr(bx - ax)}" '
            f'height="{_attr(by - ay)}" rx="6"/>'
        ]
        degree = "°"
        body.append(
            f'<text x="{_attr(ax)}" y="{_attr(by + size + 4)}">'
            f"{minus_sign(_attr(min_lon))}{degree}</text>"
        )
        body.append(
            f'<text x="{_attr(bx)}" y="{_attr(by + size + 4)}" text-anchor="end">'
            f"{minus_sign(_attr(max_lon))}{degree}</text>"
        )
        body.append(
            f'<text x="{_attr(ax - 6)}" y="{_attr(ay + size - 2)}" text-anchor="end">'
            f"{minus_sign(_attr(max_lat))}{degree}</text>"
        )
        body.append(
            f'<text x="{_attr(ax - 6)}" y="{_attr(by)}" text-anchor="end">'
            f"{minus_sign(_attr(min_lat))}{degree}</text>"
        )
        spots = [(place.label, *xy(place.lat, place.lon)) for place in places]
        labels = place_labels(spots, layout=layout, top=2.0, bottom=top + plot_height + 4)
        # The leader lines first, under the points and the names.
        for (_, x, y), label in zip(spots, labels, strict=True):
            if label is not None and abs(label.y - size / 3 - y) > 1:
                end = label.x - 2 if label.anchor == "start" else label.x + 2
                body.append(
                    f'<line x1="{_attr(x)}" y1="{_attr(y)}" x2="{_attr(end)}" '
                    f'y2="{_attr(label.y - size / 3)}" stroke="{PALETTE[5]}" stroke-width="1"/>'
                )
        for place, (_, x, y) in zip(places, spots, strict=True):
            body.append(
                f'<circle cx="{_attr(x)}" cy="{_attr(y)}" r="5" fill="{PALETTE[0]}" '
                f'stroke="#fff" stroke-width="1.5"><title>{escape(place.label)} '
                f"({coordinate(place.lat, 4)}, {coordinate(place.lon, 4)})</title></circle>"
            )
        for label in labels:
            if label is not None:
                body.append(
                    f'<text x="{_attr(label.x)}" y="{_attr(label.y)}" '
                    f'text-anchor="{label.anchor}" class="place">{escape(label.text)}</text>'
                )
        body.append(
            f'<text class="axis-label" x="{_attr(left + plot_width / 2)}" '
            f'y="{_attr(height - 6)}" text-anchor="middle">'
            f"{escape(_fit(x_label, layout.width - 8, size))}</text>"
        )
        body.append(
            f'<text class="axis-label" transform="translate({_attr(size + 2)} '
            f'{_attr(top + plot_height / 2)}) rotate(-90)" text-anchor="middle">'
            f"{escape(_fit(y_label, plot_height, size))}</text>"
        )
        return _svg(layout, key, title, summary, height, body)

    rows = [[p.label, coordinate(p.lat, 4), coordinate(p.lon, 4)] for p in places]
    table = _table(["", y_label, x_label], rows, title)
    return Chart(
        key=key,
        title=title,
        summary=summary,
        svg=draw(WIDE),
        svg_narrow=draw(NARROW),
        legend=(),
        table=table,
        texts=texts,
    )
