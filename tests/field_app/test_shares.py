"""A share the tablet writes never reads 100 % (or 0 %) unless it is exactly that: 12 345 women
with 7 men and 3 people not stated read "99.9 %", not "100 %" (a field expert's review)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from field_app import i18n
from field_app.controllers.activities import Row
from field_app.controllers.attendance import Cell, format_share, share_text
from field_app.controllers.form import ActivityForm
from tests.field_app.fakes import MemoryBackend

NBSP = "\u00a0"


@pytest.fixture
def english() -> Iterator[None]:
    i18n.set_language("en")
    yield
    i18n.set_language("en")


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (100.0, "100 %"),
        (0.0, "0 %"),
        (47.4, "47 %"),
        (99.4, "99 %"),
        (100.0 * 12345 / 12355, "99.9 %"),
        (99.96, "99.9 %"),  # one decimal would round it to 100.0 too
        (99.5, "99.5 %"),
        (100.0 / 2000, "0.1 %"),
        (0.0001, "0.1 %"),
        (0.5, "0.5 %"),
        (0.6, "1 %"),
    ],
)
def test_a_share_reads_100_or_0_only_when_it_is(english: None, share: float, text: str) -> None:
    assert share_text(share) == text.replace(" ", NBSP)
    assert format_share(share) == text.replace(" ", NBSP)


def test_in_french_the_decimal_share_has_a_comma_and_a_no_break_space() -> None:
    i18n.set_language("fr")
    try:
        assert share_text(100.0 * 12345 / 12355) == f"99,9{NBSP}%"
    finally:
        i18n.set_language("en")


def _form_with(counts: dict[Cell, int]) -> ActivityForm:
    backend = MemoryBackend()
    project = backend.add_project()
    form = ActivityForm(project=project, sites=[], today=date.today())
    for cell, count in counts.items():
        form.set_attendance(cell, str(count))
    return form


def test_the_forms_summary_says_99_9_when_men_are_present(english: None) -> None:
    form = _form_with(
        {
            Cell("farmer", False, "female", "adult"): 12345,
            Cell("farmer", False, "male", "senior"): 7,
            Cell("official", False, "unspecified", "unspecified"): 3,
        }
    )
    assert form.totals_text() == f"12,355 participants · 12,345 women (99.9{NBSP}%)"


def test_the_activities_list_says_99_9_too(english: None) -> None:
    row = Row.make(
        id="a",
        title="Training",
        type="training",
        start_date="2025-03-14",
        topic="",
        site="",
        participants=12355,
        women=12345,
        state="synced",
    )
    assert f"women 99.9{NBSP}%" in row.view()["figures"]
