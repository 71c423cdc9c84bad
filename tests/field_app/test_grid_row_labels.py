"""On a phone the attendance grid scrolls sideways; its row headings (Women, Men, Not stated,
Total) stay pinned on the left while the cells scroll under them (a field expert's review: at
360 × 640 in Portuguese they scrolled away with the cells, and in gender-disaggregated data a
count typed into the wrong row is the worst error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.field_app import kivy_driver
from tests.field_app.test_ui import DETAILS, demo_session, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

ROWS = {"Mulheres": "female", "Homens": "male", "Não indicado": "unspecified"}


def _shown(widget: Any) -> bool:
    while widget is not None and widget is not widget.parent:
        if getattr(widget, "opacity", 1) == 0:
            return False
        widget = widget.parent
    return True


def _box(widget: Any) -> tuple[float, float, float, float]:
    left, bottom = widget.to_window(widget.x, widget.y)
    right, top = widget.to_window(widget.right, widget.top)
    return left, bottom, right, top


def _heading_in_sight(form: Any, text: str) -> Any:
    """The heading called ``text`` drawn inside the grid's viewport, or None."""
    view_left, _bottom, view_right, _top = _box(form.ids.grid_scroll)
    for widget in form.walk(restrict=True):
        if getattr(widget, "text", None) != text or not _shown(widget):
            continue
        left, _b, right, _t = _box(widget)
        if left >= view_left - 1 and right <= view_right + 1:
            return widget
    return None


@pytest.mark.parametrize(("width", "height"), [(360, 640), (600, 1024)])
def test_the_row_headings_stay_in_sight_while_the_cells_scroll(
    kivy_window: None, tmp_path: Path, width: int, height: int
) -> None:
    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language("pt")
        try:
            driver.resize(width, height)
            driver.app.show("form", project_id=project["id"])
            form = on_screen(driver, "form")
            driver.type(form._cells[("female", "adult")], "12345")
            driver.type(form._cells[("male", "senior")], "7")
            scroll = form.ids.grid_scroll
            form.ids.scroll.scroll_to(form.ids.attendance_box, padding=120, animate=False)
            driver.step(3)
            phone = width < 500
            assert scroll.do_scroll_x is phone  # the grid is wider than a phone
            for end in (0.0, 1.0):  # scrolled to the left end, then to the right
                scroll.scroll_x = end
                driver.step(4)
                for text, sex in ROWS.items():
                    heading = _heading_in_sight(form, text)
                    assert heading is not None, (width, end, text)
                    # On the same line as its row's cells.
                    cell = form._cells[(sex, "youth")]
                    assert abs(_box(heading)[1] - _box(cell)[1]) < 1, (width, end, text)
                assert _heading_in_sight(form, "Total") is not None
                driver.screenshot(DETAILS / f"attendance-pinned-pt-{width}x{height}-{end:.0f}.png")
            if phone:
                # Scrolled to the right, the row totals show whole beside the pinned headings.
                total = form.ids.total_sex_female
                assert _box(total)[2] <= _box(scroll)[2] + 1
                assert total.text == "12\u00a0345"
                # A touch on a heading reaches the cell scrolled under it, of the same row,
                # which comes out beside the headings: what is typed shows where it goes.
                from kivy.tests.common import UnitTestTouch

                heading = _heading_in_sight(form, "Mulheres")
                x, y = heading.to_window(*heading.center)
                touch = UnitTestTouch(x, y)
                touch.touch_down()
                driver.step()
                touch.touch_up()
                driver.step(3)
                [(sex, _age)] = [key for key, cell in form._cells.items() if cell.focus]
                assert sex == "female"
                focused = next(cell for cell in form._cells.values() if cell.focus)
                assert _box(focused)[0] >= _box(form.ids.row_labels)[2] - 1
                assert _box(focused)[2] <= _box(scroll)[2] + 1
                focused.focus = False
            form._dirty = False
        finally:
            driver.app.set_language("en")
