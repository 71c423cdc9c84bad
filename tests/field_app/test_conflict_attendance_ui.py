"""Needs attention on a conflict of attendance, with the real store and app, headless, no server
(the test plays it): the cells that differ are listed in the tablet's language, "Keep both
changes" queues the attendance holding both sides' changes on top of the server's version, and
without the conflict's base only the cells are listed. Screenshots in
``artifacts/screenshots/field/``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sync.protocol import Change, Op, ResultStatus
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    PHONE,
    TABLET,
    QuietTablet,
    activity,
    quiet_app,
    shots,
)
from tests.field_app.test_conflict_attendance import BASE, MINE, THEIRS, row
from tests.field_app.test_ui import SHOTS, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]


def _in_conflict(
    tablet: QuietTablet,
    theirs: list[dict[str, Any]] = THEIRS,
    *,
    with_base: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """The reviewer's case: taken by the server with ``BASE``; this tablet sets men 60+ to 4
    while the other tablet's women 15–35 (5 to 8) reach the server first: the push is
    answered ``conflict`` and the conflict pulled as the server sends it."""
    record = activity(tablet.project["id"], "Hermetic storage training", attendance=BASE, **fields)
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record)
    tablet.store.save("activity", {**record, "attendance": MINE})
    tablet.back("activity", record, attendance=theirs)
    tablet.answer(ResultStatus.CONFLICT)
    conflict_id = str(uuid.uuid4())
    tablet.pull(
        Change(
            entity="conflict",
            id=conflict_id,
            op=Op.UPSERT,
            version=1,
            data={
                "id": conflict_id,
                "entity": "activity",
                "entity_id": record["id"],
                "status": "open",
                "fields": ["attendance"],
                # a server of before the conflicts carried their base sends none
                "base_values": {"attendance": BASE} if with_base else {},
                "server_values": {"attendance": theirs},
                "device_values": {"attendance": MINE},
            },
        )
    )
    assert tablet.store.state("activity", record["id"]) == "conflict"
    return record


def test_the_differing_cells_are_listed_and_keep_both_queues_both_changes(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = _in_conflict(tablet)

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.selected_id == record["id"] and attention.state_name == "conflict"
    assert "Someone else" not in attention.reason
    assert attention.reason.startswith("The server has another version of the same fields")
    assert attention.cells == [
        "Women · Youth 15–35 · Farmers: before 5, mine 5, server 8",
        "Men · Senior 60+ · Farmers: before 3, mine 4, server 3",
    ]
    assert "Women · Youth 15–35 · Farmers: before 5, mine 5, server 8" in (attention.ids.cells.text)
    keep = attention.ids.keep_both
    assert keep.shown and keep.height > 0 and keep.text == "Keep both changes"
    assert attention.ids.keep_theirs.text == "Keep the server's"
    shots(driver, "attention-conflict-attendance-en")

    driver.tap(keep)
    driver.wait_until(lambda: tablet.store.pending(), what="the attendance to be queued")
    assert attention.message == "Both changes will be sent at the next sync."
    queued = [m for m in tablet.store.pending() if m.entity == "activity"]
    assert len(queued) == 1 and str(queued[0].id) == record["id"]
    sent = {(r["sex"], r["age_band"]): r["count"] for r in queued[0].data["attendance"]}
    assert sent == {("female", "youth"): 8, ("female", "adult"): 12, ("male", "senior"): 4}
    # On top of the server's version, as any edit: the server applies it as a change.
    assert queued[0].base_version == tablet.versions[record["id"]]
    found = tablet.backend.activity(record["id"])
    assert found is not None and found.state == "pending"
    driver.wait_until(lambda: attention.empty, what="the conflict to leave Needs attention")


def test_in_portuguese(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    _in_conflict(tablet)
    driver.app.set_language("pt")
    try:
        driver.app.show("attention")
        attention = on_screen(driver, "attention")
        assert attention.reason == (
            "O servidor tem outra versão dos mesmos campos, alterada desde a última "
            "sincronização deste tablet. Manteve a sua versão; escolha qual manter."
        )
        assert attention.cells == [
            "Mulheres · Jovem 15–35 · Agricultores: antes 5, a minha 5, servidor 8",
            "Homens · Idoso 60+ · Agricultores: antes 3, a minha 4, servidor 3",
        ]
        assert attention.ids.keep_both.text == "Manter as duas alterações"
        assert attention.ids.keep_theirs.text == "Manter a do servidor"
        shots(driver, "attention-conflict-attendance-pt")
        # On a phone the cells and the choices are below the table: scrolled to them.
        from kivy.uix.scrollview import ScrollView

        driver.resize(*PHONE)
        driver.step(6)
        scroller = attention.ids.cells.parent.parent
        assert isinstance(scroller, ScrollView)
        scroller.scroll_y = 0
        driver.step(6)
        driver.screenshot(SHOTS / "attention-conflict-attendance-pt-scrolled-360x640.png")
        driver.resize(*TABLET)
    finally:
        driver.app.set_language("en")


def test_without_the_base_the_cells_are_listed_but_both_are_not_offered(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    _in_conflict(tablet, with_base=False)
    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.cells == [
        "Women · Youth 15–35 · Farmers: mine 5, server 8",
        "Men · Senior 60+ · Farmers: mine 4, server 3",
    ]
    keep = attention.ids.keep_both
    assert not keep.shown and keep.height == 0 and keep.disabled
    driver.tap(attention.ids.keep_mine)
    driver.wait_until(lambda: tablet.store.pending(), what="keep mine")
    [queued] = [m for m in tablet.store.pending() if m.entity == "activity"]
    assert queued.data["attendance"] == MINE


def test_the_same_cell_changed_on_both_sides_offers_no_both(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    # The other tablet changed men 60+ too, to 6: only a person can say which count is right.
    clash = [row("female", "youth", 5), row("female", "adult", 12), row("male", "senior", 6)]
    _in_conflict(tablet, clash)
    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.cells == ["Men · Senior 60+ · Farmers: before 3, mine 4, server 6"]
    assert not attention.ids.keep_both.shown


def test_keep_both_sends_nothing_at_a_site_the_office_rejected(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    _in_conflict(tablet, site_id=tablet.rejected_site["id"])
    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    driver.tap(attention.ids.keep_both)
    driver.step(3)
    assert attention.message_tone == "error"
    assert attention.message == (
        "The country office rejected the site Roma valley, so the server would refuse your "
        "version. Edit the activity and choose another site."
    )
    assert tablet.store.pending() == [] and attention.state_name == "conflict"
