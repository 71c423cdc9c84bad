"""The Reports page's "Close this quarter": it cannot be undone, so the browser asks first, as
for every other action that cannot be undone (a country officer's review found it closed at
once)."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from tests.server.dashboard.conftest import main_of, sqlite_only


def _close_question(page: str) -> str:
    form = re.search(r'<form[^>]*action="/reports/close"[^>]*>', main_of(page))
    assert form is not None, "the page offers no quarter to close"
    asked = re.search(r'data-confirm="([^"]+)"', form.group(0))
    assert asked is not None, "closing a quarter does not ask first"
    return html.unescape(asked.group(1))


@sqlite_only
def test_closing_a_quarter_asks_first_and_says_what_closing_means(officer: TestClient) -> None:
    question = _close_question(officer.get("/reports").text)
    assert "marked late" in question
    assert "cannot be reopened" in question
    officer.cookies.set("pilotmon_lang", "fr")
    question = _close_question(officer.get("/reports").text)
    assert "marquées en retard" in question
    assert "ne peut pas être rouvert" in question
