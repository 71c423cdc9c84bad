"""Result indicators against their targets (docs/results.md#dashboard-results): each project's
target of the shortest period holding the quarter, combined over projects and never over
periods; a sum or count against a year's target judged by the year to date, and not ✗ before
the year ends; the report's figures written as the pages write them and its uplift naming the
two compared choices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller
from server.columns import utcnow
from server.dashboard import report
from server.dashboard.i18n import Translator
from server.dashboard.results import tone_of
from server.projects.models import Target
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.test_results import results_year
from tests.server.dashboard.world import World

SUM = "T_TGT_HARVEST_SUM"
RATIO = "T_TGT_YIELD"
LOSS = "T_TGT_LOSS"


@dataclass
class Added:
    year: int


def _harvest_form(session: Session, code: str, indicators: list[dict[str, Any]]) -> Any:
    form = make_observation_form(session, code=code)
    form.indicators = indicators
    session.add(form)
    session.flush()
    return form


def _observe(session: Session, world: World, form: Any, day: str, kg: float) -> None:
    make_observation(
        session,
        world.lso,
        form,
        observed_on=day,
        values={"plot": "demo", "harvest_kg": kg, "plot_area_m2": 1000, "practice": "CA"},
    )


def _target(session: Session, world: World, code: str, period: str, value: float) -> None:
    session.add(
        Target(project_id=world.lso.id, indicator=code, kind="target", period=period, value=value)
    )


def _build(session: Session, world: World, quarter: str, language: str = "en") -> Any:
    return report.build_report(
        session,
        caller=Caller(user=world.hq),
        t=Translator(language),
        quarter=quarter,
        scope=report.ReportScope(country="LSO"),
        now=utcnow(),
    )


def _section(data: Any, code: str) -> Any:
    return next(r for r in data.results if r.code == code)


def _facts(html: str, name: str) -> str:
    start = html.index(f"<h3>{name}")
    block = html[start : html.index("</p>", start)]
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", block)).strip()


# --- 1. a quarter's target and its year's are not added --------------------------------------


def test_the_report_takes_each_projects_shortest_target_and_never_adds_periods(
    session: Session, world: World
) -> None:
    # A sum with targets 2026Q4 = 1000 and 2026 = 5000 printed "Target: 6,000"; a ratio with
    # 12000 and 15000 printed 13,500. The project page shows 1 000 and 12 000.
    year = results_year(world)
    form = _harvest_form(
        session,
        "T_TGT_HARVEST",
        [
            {"code": SUM, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
             "field": "harvest_kg"},
            {"code": RATIO, "name": {"en": "Harvest yield"}, "unit": "kg/ha",
             "aggregate": "ratio", "numerator": "harvest_kg", "denominator": "plot_area_m2",
             "factor": 10000},
        ],
    )  # fmt: skip
    _observe(session, world, form, f"{year}-11-10", 1100)
    _target(session, world, SUM, f"{year}Q4", 1000)
    _target(session, world, SUM, str(year), 5000)
    _target(session, world, RATIO, f"{year}Q4", 12000)
    _target(session, world, RATIO, str(year), 15000)
    session.commit()
    data = _build(session, world, f"{year}Q4")
    assert _section(data, SUM).target == 1000
    assert _section(data, RATIO).target == 12000
    html = report.render_html(data, Translator("en"))
    assert "Target: 1,000" in _facts(html, "Harvest total")
    assert "Target: 12,000" in _facts(html, "Harvest yield")
    assert "6,000" not in html and "13,500" not in html


def test_targets_combine_over_projects_not_periods(session: Session, world: World) -> None:
    year = results_year(world)
    form = _harvest_form(
        session,
        "T_TGT_HARVEST",
        [{"code": SUM, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
          "field": "harvest_kg"}],
    )  # fmt: skip
    _observe(session, world, form, f"{year}-11-10", 1100)
    _target(session, world, SUM, f"{year}Q4", 1000)
    _target(session, world, SUM, str(year), 5000)
    session.add(
        Target(
            project_id=world.lso_storage.id, indicator=SUM, kind="target",
            period=f"{year}Q4", value=300,
        )
    )  # fmt: skip
    session.commit()
    assert _section(_build(session, world, f"{year}Q4"), SUM).target == 1300


# --- 2. a sum against its year's target: the year to date ------------------------------------


def _sum_form(session: Session, world: World) -> Any:
    return _harvest_form(
        session,
        "T_TGT_HARVEST",
        [{"code": SUM, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
          "field": "harvest_kg"}],
    )  # fmt: skip


def _overview_row(client: TestClient, name: str) -> str:
    panel = main_of(client.get("/overview").text)
    panel = panel[panel.index('id="results-across-pilots"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", panel, re.S)
    return next(r for r in rows if name in r)


def test_a_sum_is_judged_by_its_year_to_date_against_the_years_target(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    # Two harvests of 600 (May and August) against the year's 1000 showed "Q3 600 ✗ target
    # 1,000" while the year was at 1 200.
    year = results_year(world)
    form = _harvest_form(
        session,
        "T_TGT_HARVEST",
        [{"code": SUM, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
          "field": "harvest_kg"},
         {"code": RATIO, "name": {"en": "Harvest yield"}, "unit": "kg/ha",
          "aggregate": "ratio", "numerator": "harvest_kg", "denominator": "plot_area_m2",
          "factor": 10000}],
    )  # fmt: skip
    _observe(session, world, form, f"{year}-05-10", 600)
    _observe(session, world, form, f"{year}-08-10", 600)
    _target(session, world, SUM, str(year), 1000)
    _target(session, world, RATIO, str(year), 7000)
    session.commit()
    sign_in(client, engine, world.officer)
    # a ratio (not additive) keeps setting its quarter against the year's target
    ratio = _overview_row(client, "Harvest yield")
    assert "to date" not in ratio and "result-behind" in ratio and "6,000" in ratio
    row = _overview_row(client, "Harvest total")
    assert f"{year}Q3" in row and "600" in row
    assert f"{year} to date: 1,200 of 1,000" in row
    assert "result-on-track" in row and "✓" in row and "✗" not in row
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    assert f"{year} to date: 1,200 of 1,000" in page
    data = _build(session, world, f"{year}Q3")
    html = report.render_html(data, Translator("en"))
    assert f"{year} to date: 1,200 of 1,000" in _facts(html, "Harvest total")
    client.cookies.set("pilotmon_lang", "fr")
    row = _overview_row(client, "Harvest total")
    assert f"{year} à ce jour\u202f: 1\u202f200 sur 1\u202f000" in row


def test_a_year_that_has_not_ended_is_progress_not_a_cross(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    today = utcnow().date()
    form = _sum_form(session, world)
    _observe(session, world, form, today.isoformat(), 600)
    _target(session, world, SUM, str(today.year), 1000)
    session.commit()
    sign_in(client, engine, world.officer)
    row = _overview_row(client, "Harvest total")
    assert f"{today.year} to date: 600 of 1,000" in row
    assert "result-so-far" in row and "✗" not in row and "✓" not in row
    assert f"judged when {today.year} ends" in row


def test_a_year_that_ended_short_of_its_target_is_a_cross(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    year = results_year(world)  # last year: ended
    form = _sum_form(session, world)
    _observe(session, world, form, f"{year}-05-10", 300)
    _observe(session, world, form, f"{year}-08-10", 600)
    _target(session, world, SUM, str(year), 1000)
    session.commit()
    sign_in(client, engine, world.officer)
    row = _overview_row(client, "Harvest total")
    assert f"{year} to date: 900 of 1,000" in row
    assert "result-behind" in row and "✗" in row


def test_running_is_judged_only_once_the_verdict_cannot_change() -> None:
    # A sum to date only grows until its period ends, as a quarter in progress does.
    assert tone_of("increase", 1200.0, 1000.0, running=True) == "on-track"
    assert tone_of("increase", 600.0, 1000.0, running=True) == "so-far"
    assert tone_of("decrease", 1200.0, 1000.0, running=True) == "behind"  # already past it
    assert tone_of("decrease", 600.0, 1000.0, running=True) == "so-far"


# --- 3. the report writes results as the pages do ---------------------------------------------


def test_the_report_writes_result_values_to_two_decimals(session: Session, world: World) -> None:
    # MWI PRICE_USD_KG 0.36 on the pages read "0.4" in the report, 358.96 "359.0".
    year = results_year(world)
    form = _harvest_form(
        session,
        "T_TGT_HARVEST",
        [{"code": "T_TGT_PRICE", "name": {"en": "Price"}, "unit": "USD/kg", "aggregate": "mean",
          "field": "harvest_kg"},
         {"code": SUM, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
          "field": "harvest_kg"}],
    )  # fmt: skip
    _observe(session, world, form, f"{year}-08-10", 0.36)
    _observe(session, world, form, f"{year}-11-10", 358.96)
    session.commit()
    data = _build(session, world, f"{year}Q4")
    html = report.render_html(data, Translator("en"))
    assert "358.96" in _facts(html, "Harvest total")
    price = _facts(html, "Price")
    assert f"{year}Q3: 0.36" in price and f"{year}Q4: 358.96" in price
    assert "359.0" not in html and "0.4 " not in price
    fr = report.render_html(_build(session, world, f"{year}Q4", "fr"), Translator("fr"))
    assert "358,96" in _facts(fr, "Price")


# --- 4. the uplift names the two compared choices -----------------------------------------------

STORAGE_FIELDS = [
    {
        "name": "storage",
        "type": "select_one",
        "required": True,
        "label": {"en": "Storage"},
        "choices": [
            {"code": "traditional", "label": {"en": "Traditional storage",
                                               "fr": "Stockage traditionnel"}},
            {"code": "hermetic", "label": {"en": "Hermetic bags", "fr": "Sacs hermétiques"}},
        ],
    },
    {"name": "loss_kg", "type": "decimal", "required": True, "min": 0, "max": 100000},
]  # fmt: skip


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Uplift, Traditional storage against Hermetic bags:"),
        ("fr", "Gain, Stockage traditionnel face à Sacs hermétiques\u202f:"),
    ],
)
def test_the_reports_uplift_names_the_compared_choices(
    session: Session, world: World, language: str, expected: str
) -> None:
    year = results_year(world)
    form = make_observation_form(session, code="T_TGT_STORAGE", fields=STORAGE_FIELDS)
    form.indicators = [
        {"code": LOSS, "name": {"en": "Storage loss", "fr": "Pertes au stockage"}, "unit": "kg",
         "aggregate": "mean", "field": "loss_kg", "compare": "storage", "direction": "decrease"}
    ]  # fmt: skip
    session.add(form)
    session.flush()
    for choice, kg in (("traditional", 116.0), ("hermetic", 30.0)):
        make_observation(
            session,
            world.lso,
            form,
            observed_on=f"{year}-11-10",
            values={"storage": choice, "loss_kg": kg},
        )
    session.commit()
    t = Translator(language)
    data = _build(session, world, f"{year}Q4", language)
    section = _section(data, LOSS)
    assert section.uplift is not None and section.uplift > 0
    html = report.render_html(data, t)
    facts = _facts(html, section.name)
    assert expected in facts, facts
    assert "against control" not in html and "au témoin" not in html
