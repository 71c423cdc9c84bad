"""Needs attention lists what this tablet's person can act on (docs/roles.md: a field expert
changes only what they recorded): a colleague's returned record is not theirs to correct, and a
change the server refused as another's says to discard it, never to correct it. The real store
and backend, no server: the test plays the server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from field_app.controllers.attention import describe
from field_app.i18n import set_language
from sync.protocol import Change, FieldError, Op, ResultStatus
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    QuietTablet,
    activity,
    quiet_app,
    refreshed,
    shots,
)
from tests.field_app.test_refused_discard_ui import _popup
from tests.field_app.test_ui import on_screen

ME, COLLEAGUE = str(uuid.uuid4()), str(uuid.uuid4())
NOT_YOURS = FieldError(field="id", code="not_your_record", message="only the author …")


@pytest.fixture
def tablet(tmp_path: Path) -> QuietTablet:
    set_language("en")
    return QuietTablet(tmp_path / "tablet")


def returned(record: dict[str, Any], *, by: str) -> dict[str, Any]:
    return {
        **record,
        "created_by_id": by,
        "status": "returned",
        "reviews": [{"action": "return", "comment": "Count the youth apart"}],
    }


def _return_of(record: dict[str, Any]) -> dict[str, Any]:
    return {"status": record["status"], "reviews": record["reviews"]}


def mine_sent(tablet: QuietTablet, title: str, **fields: Any) -> dict[str, Any]:
    """An activity recorded on this tablet and taken by the server (``created_by_id`` me)."""
    record = activity(tablet.project["id"], title, **fields)
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", {**record, "created_by_id": ME})
    return record


def colleagues(tablet: QuietTablet, title: str, **fields: Any) -> dict[str, Any]:
    """An activity a colleague recorded, returned to them by the office, pulled."""
    record = returned(activity(tablet.project["id"], title, **fields), by=COLLEAGUE)
    tablet.versions[record["id"]] = 2
    tablet.pull(Change(entity="activity", id=record["id"], op=Op.UPSERT, version=2, data=record))
    return record


def test_a_colleagues_returned_record_is_not_in_my_needs_attention(tablet: QuietTablet) -> None:
    mine = mine_sent(tablet, "Seed potato storage demonstration")
    tablet.back("activity", {**mine, "created_by_id": ME}, **_return_of(returned(mine, by=ME)))
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")

    assert [r.id for r in tablet.backend.attention()] == [mine["id"]]
    assert tablet.backend.status().attention == 1
    states = tablet.backend.activity_states(tablet.project["id"])
    assert states["returned"] == 1 and sum(states.values()) == 2
    # Still shown as the office left it in the project's list.
    found = tablet.backend.activity(theirs["id"])
    assert found is not None and found.state == "returned"


def test_before_anything_of_mine_went_through_every_returned_record_counts(
    tablet: QuietTablet,
) -> None:
    """A new tablet cannot tell its person's records from a colleague's yet: it hides none."""
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")
    assert [r.id for r in tablet.backend.attention()] == [theirs["id"]]


def test_a_country_officer_may_correct_any_returned_record(tablet: QuietTablet) -> None:
    tablet.store.set_meta(role="country_officer")
    mine_sent(tablet, "Seed potato storage demonstration")
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")
    assert theirs["id"] in [r.id for r in tablet.backend.attention()]


def test_a_change_refused_as_not_mine_says_discard_and_then_leaves(tablet: QuietTablet) -> None:
    mine_sent(tablet, "Seed potato storage demonstration")
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")
    tablet.store.save("activity", {**theirs, "notes": "Corrected by me as asked"})
    tablet.answer(ResultStatus.REJECTED, [NOT_YOURS])

    [record] = tablet.backend.attention()
    assert (record.id, record.state) == (theirs["id"], "rejected")
    item = describe(record)
    assert "Correct it and save again" not in item.reason
    assert item.reason == (
        "The server refused your change: only the person who recorded this record may change "
        "it. Discard your change to keep the server's version."
    )
    assert tablet.backend.status().attention == 1

    assert tablet.backend.discard_refused("activity", theirs["id"])
    assert tablet.backend.attention() == []
    assert tablet.backend.status().attention == 0


@pytest.mark.kivy
@pytest.mark.slow
def test_the_screen_offers_no_edit_of_a_colleagues_record_only_the_discard(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    mine_sent(tablet, "Seed potato storage demonstration")
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")
    tablet.store.save("activity", {**theirs, "notes": "Corrected by me as asked"})
    tablet.answer(ResultStatus.REJECTED, [NOT_YOURS])

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.selected_id == theirs["id"] and attention.state_name == "rejected"
    assert attention.reason.startswith("The server refused your change: only the person who")
    assert not attention.ids.edit_button.shown and attention.ids.edit_button.disabled
    assert attention.ids.discard_button.shown
    shots(driver, "attention-not-yours")

    driver.tap(attention.ids.discard_button)
    driver.tap(_popup(driver).ids.discard_button)
    driver.wait_until(lambda: attention.empty, what="the colleague's record to leave")
    assert refreshed(driver, "home").attention == 0


def test_a_colleagues_returned_measurement_is_not_mine_either(tablet: QuietTablet) -> None:
    mine_sent(tablet, "Seed potato storage demonstration")
    ours = tablet.observation()
    tablet.store.save("observation", ours)
    tablet.answer()
    tablet.back("observation", {**ours, "created_by_id": ME}, **_return_of(returned(ours, by=ME)))
    theirs = returned(tablet.observation(), by=COLLEAGUE)
    tablet.pull(Change(entity="observation", id=theirs["id"], op=Op.UPSERT, version=2, data=theirs))

    assert [r.id for r in tablet.backend.observation_attention()] == [ours["id"]]
    assert tablet.backend.status().attention == 1
