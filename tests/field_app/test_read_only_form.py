"""A record the tablet's person may not change opens read-only: an approved activity (locked
until the office reopens it) and a colleague's (only its author may change it,
docs/roles.md). Every field shows but takes no input, nothing can be saved, and Back leaves
without asking (a field expert's review: typing was accepted, then refused at the sync with
advice that blamed the approval)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from field_app.controllers.form import recorded_by_another
from field_app.session import Enrolment
from tests.field_app import kivy_driver
from tests.field_app.fakes import MemoryBackend, activity
from tests.field_app.test_ui import DETAILS, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

ME = str(uuid.uuid4())
COLLEAGUE = str(uuid.uuid4())
COLLEAGUE_TEXT = "Recorded by a colleague: only they can change it."
NOT_YOURS = [{"field": "id", "code": "not_your_record", "message": "only the author …"}]


def test_a_record_is_anothers_by_the_servers_rule() -> None:
    theirs = {"created_by_id": COLLEAGUE.upper()}
    mine = {"created_by_id": ME}
    assert recorded_by_another(theirs, [], role="field_expert", user_id=ME)
    assert not recorded_by_another(mine, [], role="field_expert", user_id=ME.upper())
    # Recorded here, not yet taken by the server: this person's.
    assert not recorded_by_another({}, [], role="field_expert", user_id=ME)
    # Officers and admins change any record in their scope.
    assert not recorded_by_another(theirs, [], role="country_officer", user_id=ME)
    assert not recorded_by_another(theirs, [], role="admin", user_id=ME)
    # The person unknown (nothing signed for yet): the server decides...
    assert not recorded_by_another(theirs, [], role="field_expert", user_id=None)
    # ... and once it refused the change as another's, the tablet knows.
    assert recorded_by_another(theirs, NOT_YOURS, role="field_expert", user_id=None)


def _session(tmp_path: Path, role: str = "field_expert") -> tuple[Any, MemoryBackend, Any]:
    from field_app.device import Device
    from field_app.session import FieldSession

    backend = MemoryBackend()
    backend.enrol_as("amina")
    enrolment = backend.enrolment()
    assert enrolment is not None
    backend._enrolment = Enrolment(
        enrolment.server_url, enrolment.device_id, "amina", role, enrolment.label
    )
    project = backend.add_project()
    # Recorded on this tablet and signed for by the server: it names this tablet's person.
    backend.add_record(activity(project, title="My demonstration", created_by_id=ME), safe=True)
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    return session, backend, project


def _touch_and_type(driver: kivy_driver.Driver, box: Any, text: str) -> None:
    """A finger on the box and keys typed, whether or not the box takes them (``Driver.type``
    waits for a box to be enabled)."""
    from kivy.tests.common import UnitTestTouch

    driver.scroll_into_view(box)
    x, y = box.to_window(*box.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    driver.step()
    touch.touch_up()
    driver.step(2)
    for character in text:
        driver.window.dispatch("on_textinput", character)
    driver.step(2)


def _assert_read_only(driver: kivy_driver.Driver, form: Any) -> None:
    assert form.read_only
    assert form.ids.save_top.disabled and form.ids.save_bottom.disabled
    assert not form.ids.delete_button.shown
    boxes = [*form._inputs.values(), *form._cells.values()]
    assert boxes and all(w.disabled for w in boxes)
    summary, notes = form.summary, form._inputs["notes"].text
    cell = form._cells[("male", "youth")]
    _touch_and_type(driver, form._inputs["notes"], "Added 3 late arrivals")
    _touch_and_type(driver, cell, "9")
    assert form._inputs["notes"].text == notes
    assert cell.text == ""
    assert form.summary == summary
    assert form.form is not None and form.form.attendance.total(sex="male") == 8
    # Nothing was typed, so nothing is lost: Back leaves at once.
    assert form.can_leave()


def test_an_approved_activity_takes_no_input_and_leaves_without_asking(
    kivy_window: None, tmp_path: Path
) -> None:
    session, backend, project = _session(tmp_path)
    approved = backend.add_record(
        activity(project, title="Approved training", status="approved", created_by_id=ME)
    )
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", activity_id=approved.id)
        form = on_screen(driver, "form")
        assert form.banner == "Approved: locked until the country office reopens it."
        assert form.locked and not form.not_yours
        _assert_read_only(driver, form)
        form.ids.scroll.scroll_to(form.ids.attendance_box, padding=160, animate=False)
        driver.screenshot(DETAILS / "form-approved-read-only.png")


def test_a_colleagues_activity_opens_read_only_and_says_whose_it_is(
    kivy_window: None, tmp_path: Path
) -> None:
    session, backend, project = _session(tmp_path)
    theirs = backend.add_record(activity(project, title="Their training", created_by_id=COLLEAGUE))
    mine = backend.add_record(activity(project, title="My training", created_by_id=ME))
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", activity_id=theirs.id)
        form = on_screen(driver, "form")
        assert form.banner == COLLEAGUE_TEXT
        assert form.not_yours and not form.locked
        _assert_read_only(driver, form)
        driver.screenshot(DETAILS / "form-colleagues-read-only.png")
        driver.app.back()
        # The person's own record stays theirs to correct.
        driver.app.show("form", activity_id=mine.id)
        form = on_screen(driver, "form")
        assert not form.read_only and form.banner == ""
        assert not form._inputs["notes"].disabled
        driver.type(form._inputs["notes"], "Two late arrivals")
        assert form.form is not None and form.form.text("notes") == "Two late arrivals"
        form._dirty = False


def test_a_change_refused_as_anothers_says_so_not_that_it_was_approved(
    kivy_window: None, tmp_path: Path
) -> None:
    session, backend, project = _session(tmp_path)
    # Nothing signed for yet on this tablet: only the server's refusal tells whose it is.
    backend.records.clear()
    refused = backend.add_record(
        activity(project, title="Their training", status="approved", created_by_id=COLLEAGUE),
        state="rejected",
        errors=NOT_YOURS,
    )
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", activity_id=refused.id)
        form = on_screen(driver, "form")
        assert form.banner == (
            f"{COLLEAGUE_TEXT} The server refused your change: discard it in Needs attention."
        )
        assert "approved" not in form.banner.lower()
        _assert_read_only(driver, form)


@pytest.mark.parametrize("role", ["country_officer", "admin"])
def test_an_officer_may_correct_a_field_experts_activity(
    kivy_window: None, tmp_path: Path, role: str
) -> None:
    session, backend, project = _session(tmp_path, role)
    theirs = backend.add_record(activity(project, title="Their training", created_by_id=COLLEAGUE))
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", activity_id=theirs.id)
        form = on_screen(driver, "form")
        assert not form.read_only and form.banner == ""
        assert not form.ids.save_top.disabled
