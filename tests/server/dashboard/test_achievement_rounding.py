"""A share of a target is written in whole percents that never round onto 100 % or 0 % from the
other side (docs/indicators.md#target-achievement): a yield of 18,790.3 against 18,850 is
99.7 %, written "99 %" with the bar of "achieved below 100 %", never "100 %" beside the legend's
"≥ 100 %" green. The project page's chart, its table and the quarterly report all say so."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import charts, report
from server.dashboard.i18n import Translator
from server.projects.models import Target
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.test_result_targets import STORAGE_FIELDS, _build
from tests.server.dashboard.test_results import results_year
from tests.server.dashboard.world import World

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("share", "written"),
    [
        (99.7, "99"),
        (99.5, "99"),
        (99.96, "99"),
        (100.0, "100"),
        (100.4, "100"),
        (99.4, "99"),
        (66.6, "67"),
        (150.2, "150"),
        (0.0, "0"),
        (0.3, "1"),
        (0.5, "1"),
        (-0.2, "\u22121"),
        (-3.6, "\u22124"),
    ],
)
def test_a_share_never_rounds_onto_100_or_0_from_the_other_side(share: float, written: str) -> None:
    for t in (Translator("en"), Translator("fr")):
        assert charts.achievement_text(share, t.percent) == written + NBSP + "%"
    assert charts.achievement_text(None, Translator("en").percent) == "–"


def _cells(html: str, key: str) -> dict[str, str]:
    """The chart's data table: each row's label -> its "Achieved" cell."""
    figure = html[html.index(f'id="chart-{key}"') :]
    table = figure[: figure.index("</table>")]
    rows = re.findall(
        r"<tr><th[^>]*>([^<]*)</th>(?:<td[^>]*>[^<]*</td>){2}<td[^>]*>([^<]*)</td>", table
    )
    return dict(rows)


def test_the_chart_says_99_and_draws_the_bar_below_100() -> None:
    t = Translator("en")
    chart = charts.progress_chart(
        key="k",
        title="Achievement",
        items=[
            charts.Progress("Yield", 18790.3, 18850, 100 * 18790.3 / 18850),
            charts.Progress("Trainings", 22, 20, 110.0),
        ],
        x_label="Share of the target reached",
        percent=lambda v: t.percent(v),
    )
    assert _cells(chart.__html__(), "k") == {"Yield": f"99{NBSP}%", "Trainings": f"110{NBSP}%"}
    assert f"Yield: 99{NBSP}%" in chart.summary
    for svg in (str(chart.svg), str(chart.svg_narrow)):
        shares = re.findall(r'text-anchor="end">(\d+\xa0%)</text>', svg)
        assert shares == [f"99{NBSP}%", f"110{NBSP}%"], svg
        fills = re.findall(r'rx="3" fill="(#[0-9a-f]{6})"', svg)
        assert fills == [charts.PALETTE[0], charts.PALETTE[2]]


YIELD = "T_ROUND_YIELD"


def _yield_world(session: Session, world: World) -> int:
    """Lesotho's yield of 18,790.3 kg against a target of 18,850 for the year: 99.68 %."""
    year = results_year(world)
    form = make_observation_form(session, code="T_ROUND_HARVEST", fields=STORAGE_FIELDS)
    form.indicators = [
        {"code": YIELD, "name": {"en": "Yield"}, "unit": "kg", "aggregate": "mean",
         "field": "loss_kg"}
    ]  # fmt: skip
    session.add(form)
    session.flush()
    make_observation(
        session,
        world.lso,
        form,
        observed_on=f"{year}-11-10",
        values={"storage": "traditional", "loss_kg": 18790.3},
    )
    session.add(Target(project_id=world.lso.id, indicator=YIELD, period=str(year), value=18850))
    session.commit()
    return year


def test_the_project_page_says_99_for_a_target_not_reached(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    year = _yield_world(session, world)
    sign_in(client, engine, world.officer)
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    assert _cells(page, "project-achievement")[f"Yield ({year})"] == f"99{NBSP}%"
    # and the page's table of every target with its actual says the same
    targets = page[page.index('class="targets-table"') :]
    row = re.search(r"<th scope=\"row\">Yield</th>(.*?)</tr>", targets, re.S)
    assert row, targets
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1))[-1] == f"99{NBSP}%"


def test_the_report_says_99_in_its_table_and_its_chart(session: Session, world: World) -> None:
    year = _yield_world(session, world)
    html = report.render_html(_build(session, world, f"{year}Q4"), Translator("en"))
    targets = html[html.index('id="targets"') : html.index("</table>", html.index('id="targets"'))]
    row = re.search(r"<td>Yield</td>\s*<td>(\d+)</td>(.*?)</tr>", targets, re.S)
    assert row and row.group(1) == str(year), targets
    assert row.group(2).count("%") == 1 and f"<strong>99{NBSP}%</strong>" in row.group(2)
    # The report draws the chart without its table: its description names each bar's share.
    summary = re.search(r'<desc id="svg-report-achievement-d">([^<]*)<', html)
    assert summary and re.search(rf"Yield: 99{NBSP}%(;|$)", summary.group(1)), html
