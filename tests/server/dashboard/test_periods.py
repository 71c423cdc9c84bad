"""Closing a reporting quarter from the dashboard (docs/roles.md: a country officer "closes
reporting quarters"). Before, only the API could, and no page said which quarters were closed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.activities.models import ClosedPeriod
from server.columns import utcnow
from server.dashboard import service
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World


def _quarter(back: int) -> str:
    """This quarter's label (0), the one before (1), …"""
    this = service.quarter_start(utcnow().date())
    return service.quarter_label(service.add_months(this, -3 * back))


def _last_quarter() -> str:
    return _quarter(1)


def _closed(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as reader:
        return [(c.country, c.period) for c in reader.exec(select(ClosedPeriod)).all()]


def _close(client: TestClient, quarter: str, country: str = "LSO") -> Response:
    return client.post(
        "/reports/close",
        data={"csrf_token": token_for(client, "/reports"), "country": country, "quarter": quarter},
        follow_redirects=True,
    )


def _quarter_error(page: Response) -> str:
    """The words next to the quarter to close."""
    error = re.search(r'id="close-quarter-error"[^>]*>(.*?)<', main_of(page.text), re.S)
    assert error is not None
    return error.group(1)


def test_an_officer_closes_a_quarter_and_the_page_lists_it(
    officer: TestClient, engine: Engine, world: World
) -> None:
    quarter = _last_quarter()
    html = main_of(officer.get("/reports").text)
    assert 'id="closed-quarters"' in html
    assert "No quarter is closed yet" in html
    assert 'action="/reports/close"' in html
    page = _close(officer, quarter)
    assert page.status_code == 200
    text = main_of(page.text)
    assert f"Closed {quarter} for Lesotho" in text
    closed = text[text.index('id="closed-quarters"') :]
    assert re.search(rf"Lesotho.*{quarter}", closed, re.S)
    assert _closed(engine) == [("LSO", quarter)]


@sqlite_only
def test_closing_a_closed_quarter_says_so_next_to_the_field_in_french(
    officer: TestClient, engine: Engine, world: World
) -> None:
    quarter = _last_quarter()
    _close(officer, quarter)
    officer.cookies.set("pilotmon_lang", "fr")
    again = _close(officer, quarter)
    assert again.status_code == 409
    assert f"{quarter} est déjà clos pour Lesotho" in _quarter_error(again)
    assert _closed(engine) == [("LSO", quarter)]


@sqlite_only
def test_a_bad_quarter_is_named_next_to_its_field(officer: TestClient, engine: Engine) -> None:
    page = _close(officer, "2026Q5")
    assert page.status_code == 422
    assert 'id="close-quarter-error"' in page.text
    assert _closed(engine) == []
    # a country of four letters is refused, not cut to the officer's own three
    page = _close(officer, _last_quarter(), country="LSOX")
    assert page.status_code == 422
    assert 'id="close-country-error"' in page.text
    assert _closed(engine) == []


@sqlite_only
def test_the_running_quarter_cannot_be_closed_and_the_page_says_why_in_french(
    officer: TestClient, engine: Engine, world: World
) -> None:
    running = _quarter(0)
    officer.cookies.set("pilotmon_lang", "fr")
    page = _close(officer, running)
    assert page.status_code == 422
    assert "n’est pas encore terminé" in _quarter_error(page)
    assert _closed(engine) == []
    # nor is it offered
    form = main_of(officer.get("/reports").text)
    form = form[form.index('id="close-quarter"') :]
    assert f'value="{running}"' not in form[: form.index("</select>")]


@sqlite_only
def test_hq_sees_the_closed_quarters_but_may_not_close_one(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.hq)
    html = main_of(client.get("/reports").text)
    assert 'id="closed-quarters"' in html
    assert 'action="/reports/close"' not in html
    assert _close(client, _last_quarter()).status_code == 403
    assert _closed(engine) == []


@sqlite_only
def test_a_quarter_closed_already_is_no_longer_offered(officer: TestClient, world: World) -> None:
    quarter = _last_quarter()
    _close(officer, quarter)
    form = main_of(officer.get("/reports").text)
    form = form[form.index('id="close-quarter"') :]
    form = form[: form.index("</select>")]
    assert f'value="{quarter}"' not in form
    assert f'value="{_quarter(2)}"' in form


@sqlite_only
def test_a_bad_quarter_asks_for_a_quarter_not_any_period(officer: TestClient) -> None:
    """Both quarter fields (the report's and the closing's) take only a quarter: the error must
    not suggest a year or a month."""
    officer.cookies.set("pilotmon_lang", "es")
    closing = main_of(_close(officer, "2026").text)
    report_page = main_of(officer.get("/reports/quarterly.pdf", params={"quarter": "2026"}).text)
    for html, field in ((closing, "close-quarter"), (report_page, "quarter")):
        error = re.search(rf'id="{field}-error"[^>]*>(.*?)<', html, re.S)
        assert error is not None, field
        assert "2026Q3" in error.group(1) and "un mes" not in error.group(1), error.group(1)
