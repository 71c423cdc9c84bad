"""The quarterly PDF's chart axes read "0 %" like their other ticks ("25 %"), in English and
French: the SVG writes them alike, and the PDF's text (what a reader copies, searches or hears)
keeps the space after a one-digit number too, where WeasyPrint draws no glyph for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import Session

from server.dashboard import charts, report
from server.dashboard.i18n import Translator
from tests.server.dashboard.test_report import needs_pdf, pdf_text, this_quarter
from tests.server.dashboard.test_result_targets import _build
from tests.server.dashboard.world import World


def _tick_texts(svg: str) -> list[str]:
    axis = svg[svg.index('<g class="axis x-axis">') :]
    axis = axis[: axis.index("</g>")]
    return re.findall(r"<text[^>]*>([^<]*)</text>", axis)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_pdfs_achievement_ticks_are_written_alike(language: str) -> None:
    t = Translator(language)
    chart = charts.progress_chart(
        key="report-achievement",
        title="Achievement",
        items=[charts.Progress("Activities", 11, 19, 57.9)],
        x_label="Share of the target reached",
        percent=lambda v: t.percent(v),
    )
    ticks = _tick_texts(str(report.svg_for_pdf(chart.svg)))
    assert ticks == [f"{n}{report.PDF_PERCENT}" for n in ("0", "25", "50", "75", "100")]


@needs_pdf
@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_pdfs_text_reads_0_percent_with_its_space(
    session: Session, world: World, tmp_path: Path, language: str
) -> None:
    built = _build(session, world, this_quarter(world), language)
    assert not built.target_chart.empty
    text = pdf_text(report.render_pdf(built, Translator(language)), tmp_path)
    assert re.search(r"(?<![\d,.\s])\s*0 %\s+25 %\s+50 %\s+75 %\s+100 %", text), text
    glued = re.findall(r"(?<![\w,.])\d+%", text)
    assert not glued, glued
