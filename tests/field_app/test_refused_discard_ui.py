"""A change refused because the office approved the record meanwhile is no dead end: Needs
attention says why (approved: ask the office to reopen it), offers no edit of the locked
record, and lets the field expert discard the change, keeping the server's version; the record
then counts as the server's (docs/protocol.md, "Client behaviour"). The real store and app,
headless, no server; screenshots in ``artifacts/screenshots/field/``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import FieldError, ResultStatus
from sync.store import NewPhoto
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    PHONE,
    TABLET,
    QuietTablet,
    activity,
    quiet_app,
    refreshed,
    shots,
)
from tests.field_app.test_ui import SHOTS, on_screen, shot_with_popup

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

LOCKED = FieldError(
    field="status", code="locked", message="this activity was approved and is locked: …"
)
PHOTO_LOCKED = FieldError(
    field="activity_id", code="locked", message="this activity was approved and is locked: …"
)
APPROVED = (
    "The country office approved this record, so the server refused your change. To change "
    "it, ask them to reopen it; or discard your change and keep the approved version."
)


def _popup(driver: kivy_driver.Driver) -> Any:
    from field_app.screens.attention import ConfirmDiscardChange

    return driver.wait_until(
        lambda: next(
            (w for w in driver.window.children if isinstance(w, ConfirmDiscardChange)), None
        ),
        what="the confirmation",
    )


def test_a_change_refused_as_approved_is_explained_and_discarded(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    # Recorded here, taken by the server and signed for.
    record = activity(tablet.project["id"], "Seed potato storage demonstration")
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record)
    tablet.receipt("activity", record)
    # Edited offline while the office approved it: the push is refused, the round's pull
    # brings the approval.
    tablet.store.save("activity", {**record, "title": "Seed potato storage (corrected)"})
    tablet.answer(ResultStatus.REJECTED, [LOCKED])
    tablet.back("activity", record, status="approved")

    home = refreshed(driver, "home")
    home = on_screen(driver, "home")
    assert home.attention == 1
    assert home.ids.custody.headline == "Not yet safe to wipe: 1 record"

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.reason == APPROVED
    assert attention.errors == [
        "This was approved and is locked; ask the country office to reopen it."
    ]
    edit, discard = attention.ids.edit_button, attention.ids.discard_button
    assert not edit.shown and edit.height == 0  # no edit of a locked record
    assert discard.shown and discard.text == "Discard my change"
    shots(driver, "attention-refused-approved")

    # Discard: confirmed first.
    driver.tap(discard)
    popup = _popup(driver)
    from field_app.screens import theme

    # in the app's light style, as the form's confirmations, not Kivy's dark grey popup
    assert (popup.background, list(popup.background_color)) == ("", list(theme.PAPER))
    assert list(popup.ids.body.color) == list(theme.INK)
    for width, height in (PHONE, TABLET):
        driver.resize(width, height)
        driver.step(6)
        popup.ids.body.texture_update()
        driver.step(2)
        assert popup.height >= popup.ids.body.texture_size[1] + popup.ids.keep_button.height
        shot_with_popup(driver, popup, SHOTS / f"attention-discard-confirm-{width}x{height}.png")
    driver.tap(popup.ids.discard_button)
    driver.wait_until(lambda: attention.empty, what="the record to leave Needs attention")
    assert attention.message == (
        "Your change was discarded. This tablet keeps the server's version."
    )
    shots(driver, "attention-discarded")

    found = tablet.backend.activity(record["id"])
    assert found is not None
    assert (found.state, found.errors, found.safe) == ("synced", [], True)
    assert found.data["title"] == "Seed potato storage demonstration"
    assert tablet.store.pending() == []

    driver.app.home()
    home = on_screen(driver, "home")
    driver.wait_until(lambda: home.ids.custody.headline == "Safe to wipe", what="safe to wipe")
    assert home.attention == 0


def test_a_refused_measurement_of_an_approved_record_offers_no_edit_and_may_be_discarded(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = tablet.observation()
    tablet.store.save("observation", record)
    tablet.answer()
    tablet.back("observation", record)
    tablet.store.save("observation", {**record, "notes": "Weighed again"})
    tablet.answer(ResultStatus.REJECTED, [LOCKED])
    tablet.back("observation", record, status="approved")

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.is_observation and attention.reason == APPROVED
    assert not attention.ids.edit_button.shown
    driver.tap(attention.ids.discard_button)
    driver.tap(_popup(driver).ids.discard_button)
    driver.wait_until(lambda: attention.empty, what="the measurement to leave Needs attention")
    found = tablet.backend.observation(record["id"])
    assert found is not None and (found.state, found.errors) == ("synced", [])


def test_a_refused_change_of_a_record_reopened_since_may_be_edited_or_discarded(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = activity(tablet.project["id"], "Farmer training")
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record)
    tablet.store.save("activity", {**record, "notes": "Two more farmers came"})
    tablet.answer(ResultStatus.REJECTED, [LOCKED])
    tablet.back("activity", record, status="approved")
    tablet.back("activity", record, status="submitted")  # the office reopened it

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.reason == (
        "The server refused your change because this record was approved. The country office "
        "has reopened it since: edit it and save again, or discard your change."
    )
    assert attention.ids.edit_button.shown and attention.ids.discard_button.shown
    driver.tap(attention.ids.edit_button)
    form = on_screen(driver, "form")
    assert not form.locked


def test_a_photo_refused_alone_shows_its_activity_refused_and_may_be_discarded(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A photo added offline to an activity the office approved meanwhile is the only change:
    refused ``locked``, it was a photo nobody saw refused, the tablet never safe to wipe."""
    driver, tablet = quiet_app
    record = activity(tablet.project["id"], "Seed potato storage demonstration")
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record, status="approved")
    tablet.receipt("activity", record, version=1)
    source = tmp_path / "plot.jpg"
    source.write_bytes(b"\xff\xd8\xff\xe0" + b"p" * 4000)
    photo = NewPhoto(str(uuid.uuid4()), record["id"], source, "image/jpeg", "The plot")
    tablet.store.save_all(photos=[photo])
    tablet.answer(ResultStatus.REJECTED, [PHOTO_LOCKED])

    home = refreshed(driver, "home")
    assert home.attention == 1
    assert home.ids.custody.headline == "Not yet safe to wipe: 1 record, 1 photo"

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.selected_id == record["id"] and attention.state_name == "rejected"
    assert attention.reason == APPROVED
    assert attention.errors == [
        "Photos: This was approved and is locked; ask the country office to reopen it."
    ]
    assert attention.can_discard and attention.ids.discard_button.shown
    shots(driver, "attention-refused-photo")

    driver.tap(attention.ids.discard_button)
    driver.tap(_popup(driver).ids.discard_button)
    driver.wait_until(lambda: attention.empty, what="the record to leave Needs attention")
    found = tablet.backend.activity(record["id"])
    assert found is not None and (found.state, found.errors) == ("synced", [])
    assert tablet.backend.photos(record["id"]) == []
    assert tablet.store.pending() == [] and tablet.store.uploads() == []

    driver.app.home()
    home = on_screen(driver, "home")
    driver.wait_until(lambda: home.ids.custody.headline == "Safe to wipe", what="safe to wipe")
