"""The demo world's results (server/demo/results.py): plausible, deterministic, idempotent,
and visible through the result indicators."""

from __future__ import annotations

from datetime import date, timedelta, timezone

from sqlalchemy import Engine
from sqlmodel import Session, select

from server.accounts.models import UserProject
from server.demo.load import load_demo
from server.demo.results import FORMS, draw_results
from server.demo.world import build_world
from server.indicators.service import indicator_values, parse_values_query
from server.projects.models import Target
from server.results.forms import ensure_shipped_forms
from server.results.models import Form, Observation
from server.results.shipped import SHIPPED_FORMS
from shared.observations import validate_values
from tests.server.demo.conftest import quick_hashes  # noqa: F401 (autouse fixture)

TODAY = date(2026, 11, 22)


def rows(session: Session, code: str, group_by: str) -> list[dict]:
    query = parse_values_query(code=code, group_by=group_by, session=session)
    return indicator_values(session, caller=None, query=query).rows


def test_draw_is_deterministic() -> None:
    world = build_world(seed=7, size="tiny", today=TODAY)
    first, again = draw_results(world), draw_results(world)
    assert first == again
    other = draw_results(build_world(seed=8, size="tiny", today=TODAY))
    assert other.observations[0].id != first.observations[0].id
    assert {o.form for o in first.observations} == set(FORMS)


def test_demo_results_show_through_the_indicators(engine: Engine, session: Session) -> None:
    ensure_shipped_forms(session, SHIPPED_FORMS)  # what init-db publishes
    session.commit()
    report = load_demo(engine, seed=7, size="tiny", today=TODAY)
    assert report.observations_added > 0 and report.missing_forms == ()
    # Every demo observation is one a tablet could have sent: valid against its form version.
    forms = {form.id: form for form in session.exec(select(Form)).all()}
    world = build_world(seed=7, size="tiny", today=TODAY)
    zones = {p.id: timezone(timedelta(hours=world.utc_offset(p))) for p in world.projects}
    experts = {(link.user_id, link.project_id) for link in session.exec(select(UserProject)).all()}
    for observation in session.exec(select(Observation)).all():
        _, issues = validate_values(observation.values, forms[observation.form_id].fields)
        assert issues == [], (forms[observation.form_id].code, observation.values, issues)
        # Sent by a field expert of its project, saved on the afternoon of the day observed
        # at the project's local time, as an analyst sees it in the feed and the list.
        assert (observation.created_by_id, observation.project_id) in experts
        assert observation.captured_at is not None
        local = observation.captured_at.astimezone(zones[observation.project_id])
        assert local.date() == observation.observed_on and 13 <= local.hour <= 17
    session.rollback()  # ends the read (on SQLite it holds the write lock the loader needs)
    again = load_demo(engine, seed=7, size="tiny", today=TODAY)
    assert again.observations_added == again.result_targets_added == 0
    session.expire_all()
    assert len(session.exec(select(Observation)).all()) == report.observations_added

    yields = {r["project"]: r for r in rows(session, "YIELD_KG_HA", "project")}
    potato = yields["LSO-OCOP-POTATO"]
    assert 15000 <= potato["compare"]["demo"] <= 25000
    assert 8000 <= potato["compare"]["control"] <= 14000
    assert all(r["uplift"] > 0 for r in yields.values())
    losses = {r["choice:storage"]: r["value"] for r in rows(session, "LOSS_PCT", "choice:storage")}
    assert 1 <= losses["hermetic_bag"] <= 3 and 10 <= losses["traditional"] <= 20
    sales = {r["project"] for r in rows(session, "SALES_USD", "project")}
    assert {"LSO-OCOP-POTATO", "MWI-OCOP-BANANA", "TTO-OCOP-COCOA"} <= sales
    assert rows(session, "PREPARED_SHARE", "project")
    assert rows(session, "ADOPTION_RATE", "country")
    baselines = session.exec(select(Target).where(Target.kind == "baseline")).all()
    assert {b.indicator for b in baselines} >= {"YIELD_KG_HA", "LOSS_PCT", "ADOPTION_RATE"}
    achievement = [
        r
        for r in rows(session, "TARGET_ACHIEVEMENT", "project")
        if r["indicator"] == "LOSS_PCT" and r["actual"] is not None
    ]
    assert achievement and all(r["value"] is not None for r in achievement)


def test_without_the_shipped_forms_the_demo_says_so(engine: Engine) -> None:
    report = load_demo(engine, seed=7, size="tiny", today=TODAY)
    assert report.observations_added == 0
    assert report.missing_forms == FORMS
