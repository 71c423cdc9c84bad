"""The attendance grid as a field expert types into it, headless: each row's total and each
column's total on screen, and a count cell that never turns what was typed into another number.
Screenshots land in ``artifacts/field-details/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.field_app import kivy_driver
from tests.field_app.test_ui import DETAILS, demo_session, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

PHONE, TABLET = (360, 640), (1280, 800)
ROWS = ("", "Women", "Men", "Not stated", "Total")
COLUMNS = ("", "Youth 15–35", "Adult 36–59", "Senior 60+", "Age not stated", "Total")


@pytest.fixture
def form_app(
    kivy_window: None, tmp_path: Path
) -> Iterator[tuple[kivy_driver.Driver, Any, dict[str, Any]]]:
    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        try:
            driver.app.show("form", project_id=project["id"])
            yield driver, on_screen(driver, "form"), project
        finally:
            driver.app.set_language("en")


def grid(form: Any) -> dict[tuple[str, str], str]:
    """The grid as the eye reads it: the text at (row heading, column heading)."""
    box = form.ids.attendance_box
    cells = list(reversed(box.children))  # a GridLayout keeps its children last first
    assert len(cells) == len(ROWS) * len(COLUMNS)
    return {
        (row, column): cells[r * len(COLUMNS) + c].text
        for r, row in enumerate(ROWS)
        for c, column in enumerate(COLUMNS)
    }


def test_the_not_stated_row_and_the_age_not_stated_column_have_their_own_totals(
    form_app: tuple[kivy_driver.Driver, Any, dict[str, Any]],
) -> None:
    # Women/Adult 12, Women/Age not stated 7, Men/Senior 9: the "Not stated" row read 7, the
    # "Age not stated" column's total, for nobody of unstated sex.
    driver, form, _project = form_app
    assert [grid(form)[(row, "")] for row in ROWS[1:]] == ["Women", "Men", "Not stated", "Total"]
    driver.type(form._cells[("female", "adult")], "12")
    driver.type(form._cells[("female", "unspecified")], "7")
    driver.type(form._cells[("male", "senior")], "9")
    shown = grid(form)
    assert shown[("Women", "Total")] == "19"
    assert shown[("Men", "Total")] == "9"
    assert shown[("Not stated", "Total")] == ""  # nobody of unstated sex
    assert shown[("Total", "Age not stated")] == "7"
    assert shown[("Total", "Adult 36–59")] == "12"
    assert shown[("Total", "Senior 60+")] == "9"
    assert shown[("Total", "Youth 15–35")] == ""
    assert shown[("Total", "Total")] == "28"
    for size in (PHONE, TABLET):
        driver.resize(*size)
        form.ids.scroll.scroll_to(form.ids.summary, padding=20, animate=False)
        driver.step(3)
        driver.screenshot(DETAILS / f"attendance-totals-{size[0]}x{size[1]}.png")
    form._dirty = False


def test_a_full_cell_of_unstated_sex_shows_in_its_row(
    form_app: tuple[kivy_driver.Driver, Any, dict[str, Any]],
) -> None:
    # Not stated/Senior 100,000: the row showed nothing (the age column's empty total).
    driver, form, _project = form_app
    driver.type(form._cells[("unspecified", "senior")], "100000")
    shown = grid(form)
    assert shown[("Not stated", "Total")] == "100,000"
    assert shown[("Total", "Senior 60+")] == "100,000"
    assert shown[("Total", "Age not stated")] == ""
    assert shown[("Total", "Total")] == "100,000"
    driver.app.set_language("fr")
    driver.step(3)
    shown = grid(form)
    assert shown[("Not stated", "Total")] == shown[("Total", "Total")] == "100\u00a0000"
    assert shown[("Total", "Age not stated")] == ""
    form._dirty = False


@pytest.mark.parametrize("typed", ["2.5", "2,5", "12.0"])
def test_a_count_cell_refuses_a_decimal_and_never_changes_the_number(
    form_app: tuple[kivy_driver.Driver, Any, dict[str, Any]], typed: str
) -> None:
    # Typed "2.5", the cell kept "25" (the "int" filter dropped the point and kept a "-"), and
    # 25 people were counted.
    driver, form, _project = form_app
    cell = form._cells[("female", "youth")]
    driver.type(cell, typed)
    assert cell.text == typed  # what was typed stays as typed
    assert cell.has_error
    assert form.ids.summary.text == "Some cells are not whole numbers"
    assert form.form.attendance.total() == 0  # nobody counted for it, never 25
    assert grid(form)[("Total", "Total")] == ""
    driver.type(form._cells[("male", "adult")], "3")
    assert form.form.attendance.total() == 3
    form.ids.scroll.scroll_to(form.ids.summary, padding=20, animate=False)
    driver.screenshot(DETAILS / f"attendance-decimal-{typed.replace('.', 'p')}.png")
    driver.type(cell, "25")
    assert not cell.has_error and form.form.attendance.total() == 28
    form._dirty = False


def test_a_count_grouped_as_the_language_writes_it_is_that_count(
    form_app: tuple[kivy_driver.Driver, Any, dict[str, Any]],
) -> None:
    driver, form, _project = form_app
    driver.type(form._cells[("female", "adult")], "1,200")
    assert form.form.attendance.total() == 1200
    assert "attendance" not in form.errors
    driver.app.set_language("fr")
    driver.type(form._cells[("male", "adult")], "1 200")  # French groups with a space
    driver.type(form._cells[("male", "youth")], "1,5")  # and a comma is a decimal there
    driver.type(form._cells[("female", "youth")], "1.200")  # 1200, or 1.2 from a keypad
    assert form.form.attendance.total() == 2400
    assert form._cells[("male", "youth")].has_error
    assert form._cells[("female", "youth")].has_error
    form._dirty = False


def test_the_number_of_experts_refuses_a_decimal(
    form_app: tuple[kivy_driver.Driver, Any, dict[str, Any]],
) -> None:
    driver, form, _project = form_app
    box = form._inputs["experts_count"]
    driver.type(box, "2.5")
    assert box.text == "2.5"
    assert form.errors["experts_count"] == "Type a whole number"
    driver.type(box, "2")
    assert "experts_count" not in form.errors
    assert form.form.wire()["experts_count"] == 2
    form._dirty = False
