"""The dashboard's quarterly report and its closing of quarters refuse a quarter of an
implausible year (0000, 0001, 1999, 2101) next to its field, in the reader's language, never
with a 500 (docs/results.md#quarterly-report); the quarters a report compares with may still
fall before 2000."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.dashboard.i18n import Translator
from server.dashboard.web import explain
from tests.server.dashboard.conftest import sign_in, sqlite_only, token_for
from tests.server.dashboard.test_periods import _closed
from tests.server.dashboard.test_report import needs_pdf, pdf_text
from tests.server.dashboard.world import World


def _crash_free(client: TestClient) -> TestClient:
    """The same signed-in browser, answered as the app answers a crash (a 500)."""
    browser = TestClient(client.app, raise_server_exceptions=False)
    browser.cookies = client.cookies
    return browser


def _field_errors(response: Any) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="([\w-]+)-error">([^<]+)</p>', response.text)
    return {field: html.unescape(words) for field, words in found}


def _words(code: str, language: str = "en") -> str:
    """The dashboard's words for an error code (chosen from the code, as every page does)."""
    return explain(Translator(language), code)


@pytest.mark.parametrize(
    ("quarter", "code"),
    [
        ("0000Q1", "date_implausible"),
        ("0001Q1", "date_implausible"),  # its year before was year 0: a 500 in shift_quarter
        ("1999Q4", "date_implausible"),
        ("2101Q1", "date_implausible"),
        ("0000", "bad_period"),
    ],
)
def test_a_report_of_an_implausible_quarter_is_refused_next_to_the_quarter(
    officer: TestClient, quarter: str, code: str
) -> None:
    response = _crash_free(officer).get("/reports/quarterly.pdf", params={"quarter": quarter})
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    errors = _field_errors(response)
    assert set(errors) == {"quarter"}
    if code == "date_implausible":  # bad_period has the quarter field's own words
        assert errors["quarter"] == _words(code)


@sqlite_only
def test_an_implausible_quarter_is_said_with_a_scope_problem_in_french(
    hq: TestClient,
) -> None:
    hq.cookies.set("pilotmon_lang", "fr")
    response = _crash_free(hq).get(
        "/reports/quarterly.pdf", params={"quarter": "0001Q1", "country": "XYZ"}
    )
    assert response.status_code == 400
    assert _field_errors(response) == {
        "quarter": _words("date_implausible", "fr"),
        "country": _words("unknown_code", "fr"),
    }


@needs_pdf
def test_the_first_quarter_of_2000_is_reported_against_1999(hq: TestClient, tmp_path: Path) -> None:
    """The quarters a report compares with (the one before, a year before, eight of results)
    may fall before 2000: counted, not refused as a quarter asked for would be."""
    response = hq.get("/reports/quarterly.pdf", params={"quarter": "2000Q1"})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content, tmp_path)
    assert "2000Q1" in text and "1999Q4" in text and "1999Q1" in text


@pytest.mark.parametrize("quarter", ["0000Q1", "0001Q1", "1999Q4"])
def test_closing_an_implausible_quarter_on_the_dashboard_is_refused(
    officer: TestClient, engine: Engine, quarter: str
) -> None:
    page = _crash_free(officer).post(
        "/reports/close",
        data={"csrf_token": token_for(officer, "/reports"), "country": "LSO", "quarter": quarter},
    )
    assert page.status_code == 422, page.text[:500]
    assert _field_errors(page) == {"close-quarter": _words("date_implausible")}
    assert _closed(engine) == []


@pytest.fixture
def hq(client: TestClient, engine: Engine, world: World) -> TestClient:
    sign_in(client, engine, world.hq)
    return client
