"""The achievement bars (the project page's and the quarterly report's) show the share of a
target as ``TARGET_ACHIEVEMENT`` judges it (docs/results.md#targets-of-result-indicators): a
``decrease`` measured from its baseline, so a loss twice its target is no green bar; and a
target nothing answered yet is "–", never 0."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import report
from server.dashboard.i18n import Translator
from server.projects.models import Target
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.test_result_targets import STORAGE_FIELDS, _build
from tests.server.dashboard.test_results import results_year
from tests.server.dashboard.world import World

LOSS = "T_BAR_LOSS"
UNANSWERED = "T_BAR_UNANSWERED"


def _loss_world(session: Session, world: World) -> int:
    """A loss of 15 kg against a baseline of 20 and a target of 10: half the way (50 %),
    where actual ÷ target would say 150 %; and a target of a form nobody answered."""
    year = results_year(world)
    form = make_observation_form(session, code="T_BAR_STORAGE", fields=STORAGE_FIELDS)
    form.indicators = [
        {"code": LOSS, "name": {"en": "Storage loss"}, "unit": "kg", "aggregate": "mean",
         "field": "loss_kg", "direction": "decrease"}
    ]  # fmt: skip
    session.add(form)
    unanswered = make_observation_form(session, code="T_BAR_QUIET", fields=STORAGE_FIELDS)
    unanswered.indicators = [
        {"code": UNANSWERED, "name": {"en": "Quiet loss"}, "unit": "kg", "aggregate": "mean",
         "field": "loss_kg"}
    ]  # fmt: skip
    session.add(unanswered)
    session.flush()
    make_observation(
        session,
        world.lso,
        form,
        observed_on=f"{year}-11-10",
        values={"storage": "traditional", "loss_kg": 15.0},
    )
    for code, kind, value in (
        (LOSS, "baseline", 20.0),
        (LOSS, "target", 10.0),
        (UNANSWERED, "target", 5.0),
    ):
        session.add(
            Target(
                project_id=world.lso.id, indicator=code, kind=kind, period=str(year), value=value
            )
        )
    session.commit()
    return year


def _bar_summary(html: str, key: str) -> str:
    """The chart's text summary (its aria description), which names each bar's share."""
    found = re.search(rf'<desc id="svg-{key}-d">([^<]*)<', html)
    assert found, f"no summary of chart {key}"
    return found.group(1)


def test_the_project_page_bars_judge_a_decrease_from_its_baseline(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    _loss_world(session, world)
    sign_in(client, engine, world.officer)
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    summary = _bar_summary(page, "project-achievement")
    assert re.search(r"Storage loss[^;]*: 50\u00a0%", summary), summary
    assert "150" not in summary
    assert re.search(r"Quiet loss[^;]*: –", summary), summary


def test_the_reports_bars_agree_with_its_table(session: Session, world: World) -> None:
    year = _loss_world(session, world)
    html = report.render_html(_build(session, world, f"{year}Q4"), Translator("en"))
    summary = _bar_summary(html, "report-achievement")
    assert re.search(r"Storage loss[^;]*: 50\u00a0%", summary), summary
    assert "150" not in summary and re.search(r"Quiet loss[^;]*: –", summary), summary
