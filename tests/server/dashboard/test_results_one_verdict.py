"""Result figures that read the same on every page (docs/results.md#dashboard-results): the
overview judges a target by the value over the target's own period so far, the actual that
``TARGET_ACHIEVEMENT`` and the project page count, for every aggregate, and only once the verdict
is final; a compared indicator shows each group beside its blended value."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.columns import utcnow
from server.dashboard.results import judge, tone_of
from server.projects.models import Target
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.test_results import CODE, Results, _bearer, add_results
from tests.server.dashboard.world import World

RATIO = "T_ONE_YIELD"
MEAN = "T_ONE_HARVEST_MEAN"


@pytest.fixture
def results(world: World, session: Session) -> Results:
    """Lesotho's compared yield of ``add_results``: Q3 alone 18 500 kg/ha (demo 25 000, control
    12 000), the year 16 750, against the year's target of 18 000; the year has ended."""
    return add_results(session, world)


def _text(fragment: str) -> str:
    """What a reader reads of some HTML: tags dropped, entities read, spaces made plain."""
    plain = html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))
    return re.sub(r"\s+", " ", plain.replace("\u00a0", " ").replace("\u202f", " ")).strip()


def _overview_row(client: TestClient, name: str) -> str:
    panel = main_of(client.get("/overview").text)
    panel = panel[panel.index('id="results-across-pilots"') :]
    return next(r for r in re.findall(r"<tr>(.*?)</tr>", panel, re.S) if name in r)


def _panel_line(client: TestClient, world: World, code: str) -> str:
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    start = page.index(f'id="result-{code.lower()}"')
    return page[start : page.index("</p>", start)]


def test_the_overview_judges_a_ratio_by_its_year_as_the_achievement_does(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    # The overview said "60.87 ✓ target reached" (the latest quarter against the year's target)
    # while the project page and the report said "54.0 / 60 — 90 %" for the same target.
    # Here Q3 alone is 18 500 kg/ha against the year's 18 000; the year is 16 750.
    achievement = client.get(
        "/api/v1/indicators/TARGET_ACHIEVEMENT/values",
        params={"group_by": "project", "project": world.lso.code},
        headers=_bearer(engine, world.officer),
    ).json()["rows"]
    (row,) = [r for r in achievement if r["indicator"] == CODE]
    assert row["period"] == str(results.year) and row["actual"] == 16750
    sign_in(client, engine, world.officer)
    cell = _overview_row(client, "Dashboard yield")
    assert f"{results.year}: 16,750 of 18,000" in _text(cell)
    assert "result-behind" in cell and "✗" in cell and "✓" not in cell
    assert "target not reached" in cell
    # the project page says the same figure beside its latest quarter
    line = _text(_panel_line(client, world, CODE))
    assert f"{results.year}: 16,750 of 18,000 kg/ha" in line


def _form(session: Session) -> Any:
    form = make_observation_form(session, code="T_ONE_HARVEST")
    form.indicators = [
        {"code": RATIO, "name": {"en": "Plain yield"}, "unit": "kg/ha", "aggregate": "ratio",
         "numerator": "harvest_kg", "denominator": "plot_area_m2", "factor": 10000},
        {"code": MEAN, "name": {"en": "Mean harvest"}, "unit": "kg", "aggregate": "mean",
         "field": "harvest_kg"},
    ]  # fmt: skip
    session.add(form)
    session.flush()
    return form


def test_a_ratio_whose_year_has_not_ended_is_progress_not_a_tick(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    today = utcnow().date()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    form = _form(session)
    make_observation(
        session,
        world.lso,
        form,
        observed_on=today.isoformat(),
        values={"plot": "demo", "harvest_kg": 2000, "plot_area_m2": 1000, "practice": "CA"},
    )
    for code, period, value in ((RATIO, str(today.year), 15000), (MEAN, quarter, 1000)):
        session.add(
            Target(project_id=world.lso.id, indicator=code, kind="target", period=period,
                   value=value)
        )  # fmt: skip
    session.commit()
    sign_in(client, engine, world.officer)
    # 20 000 kg/ha is above the year's 15 000 today, but a ratio can still fall before the year
    # ends: the year so far, and no verdict yet
    ratio = _overview_row(client, "Plain yield")
    assert f"{today.year} so far: 20,000 of 15,000" in _text(ratio)
    assert "result-so-far" in ratio and "✓" not in ratio and "✗" not in ratio
    assert f"judged when {today.year} ends" in ratio
    assert f"{today.year} so far: 20,000 of 15,000 kg/ha" in _text(
        _panel_line(client, world, RATIO)
    )
    # a mean against its own quarter's target waits for the quarter's end, with no second figure
    mean = _overview_row(client, "Mean harvest")
    assert "result-so-far" in mean and "✓" not in mean
    assert "judged when the quarter ends" in mean and "so far:" not in _text(mean)
    client.cookies.set("pilotmon_lang", "fr")
    ratio = _overview_row(client, "Plain yield")
    assert f"{today.year} jusqu’à présent\u202f: 20\u202f000 sur 15\u202f000" in ratio


def test_a_non_additive_verdict_waits_for_its_period_to_end() -> None:
    project = uuid.uuid4()
    year = Target(project_id=project, indicator=RATIO, kind="target", period="2026", value=60)
    quarter = Target(project_id=project, indicator=RATIO, kind="target", period="2026Q4", value=60)

    def tone(target: Target, period_value: float | None, today: date) -> str:
        return judge(
            additive=False,
            direction="increase",
            quarter="2026Q4",
            quarter_value=60.87,
            target=target,
            period_value=period_value,
            today=today,
        ).tone

    assert tone(year, 54.0, date(2026, 12, 7)) == "so-far"
    assert tone(year, 54.0, date(2027, 1, 1)) == "behind"  # judged by the year, not 60.87
    assert tone(year, 61.0, date(2027, 1, 1)) == "on-track"
    assert tone(year, None, date(2027, 1, 1)) == "none"
    assert tone(quarter, None, date(2026, 12, 7)) == "so-far"  # the quarter's own value
    assert tone(quarter, None, date(2027, 1, 1)) == "on-track"
    assert tone_of("decrease", 3.0, 5.0, moving=True) == "so-far"
    ended = judge(
        additive=False, direction="increase", quarter="2026Q4", quarter_value=60.87,
        target=year, period_value=54.0, today=date(2027, 1, 1),
    )  # fmt: skip
    assert (ended.period, ended.figure, ended.kind) == ("2026", 54.0, "whole")


def test_a_compared_indicator_shows_each_group_beside_the_blend(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    # "Latest quarter 2026Q4, so far: 19,116.67 kg/ha … uplift +146.2 %" read as the
    # demonstration's yield; it is over demonstration and control plots together.
    api = client.get(
        f"/api/v1/indicators/{CODE}/values",
        params={"group_by": "period:quarter", "project": world.lso.code},
        headers=_bearer(engine, world.officer),
    ).json()["rows"]
    q3 = next(r for r in api if r["period"] == f"{results.year}Q3")
    assert (q3["value"], q3["compare"], q3["uplift"]) == (
        18500,
        {"demo": 25000, "control": 12000},
        108.33,
    )
    sign_in(client, engine, world.officer)
    line = _text(_panel_line(client, world, CODE))
    assert (
        f"Latest quarter {results.year}Q3: 18,500 kg/ha (all groups together)"
        " · Demonstration 25,000 kg/ha · Control 12,000 kg/ha · uplift +108.3 %"
    ) in line
    cell = _text(_overview_row(client, "Dashboard yield"))
    assert "18,500 (all groups together)" in cell
    assert "Demonstration 25,000 · Control 12,000 · uplift +108.3 %" in cell
    client.cookies.set("pilotmon_lang", "fr")
    cell = _text(_overview_row(client, "Rendement du tableau"))
    assert "18 500 (tous groupes confondus)" in cell
    assert "Demonstration 25 000 · Control 12 000 · gain +108,3 %" in cell
