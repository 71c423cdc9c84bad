"""The form's confirmations ("Leave without saving?", "Delete this activity?") are drawn in the
app's light style, as the calendar and the photo chooser, not Kivy's dark grey popup with small
white words (a field expert's review)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.field_app import kivy_driver
from tests.field_app.test_ui import DETAILS, demo_session, make_app, on_screen, shot_with_popup

pytestmark = [pytest.mark.kivy, pytest.mark.slow]


def _popup(driver: kivy_driver.Driver, kind: type) -> Any:
    return driver.wait_until(
        lambda: next((w for w in driver.window.children if isinstance(w, kind)), None),
        what=kind.__name__,
    )


def _assert_light(popup: Any) -> None:
    from field_app.screens import theme

    assert popup.background == ""
    assert list(popup.background_color) == list(theme.PAPER)
    assert list(popup.title_color) == list(theme.INK)
    assert popup.title_size == theme.TEXT_TITLE
    assert list(popup.ids.body.color) == list(theme.INK)


def test_the_forms_confirmations_are_light_and_large(kivy_window: None, tmp_path: Path) -> None:
    from field_app.screens.widgets import ConfirmDelete, ConfirmDiscard

    session, backend, project = demo_session(tmp_path)
    synced = next(r for r in backend.records.values() if r.state == "synced")
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        driver.type(form._inputs["title"], "Seed fair")
        assert not form.can_leave()
        leave = _popup(driver, ConfirmDiscard)
        driver.step(10)
        assert leave.title == "Leave without saving?"
        _assert_light(leave)
        shot_with_popup(driver, leave, DETAILS / "confirm-leave-without-saving.png")
        driver.tap(driver.find_text(leave, "Keep editing"))
        driver.wait_until(lambda: leave.parent is None, what="the popup to close")
        form._dirty = False

        driver.app.show("form", activity_id=synced.id)
        form = on_screen(driver, "form")
        form.delete()
        delete = _popup(driver, ConfirmDelete)
        driver.step(10)
        assert delete.title == "Delete this activity?"
        _assert_light(delete)
        shot_with_popup(driver, delete, DETAILS / "confirm-delete.png")
        driver.tap(delete.ids.keep_button)
        driver.wait_until(lambda: delete.parent is None, what="the popup to close")
