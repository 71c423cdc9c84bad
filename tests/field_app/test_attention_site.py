"""An activity the server holds as the tablet does, at a site the country office rejected since,
is not "synced" and done: it needs attention (the server refuses any change of it until another
site is chosen), listed and counted with the reason. The real store and backend, no server."""

from __future__ import annotations

import pytest

from field_app.controllers.attention import describe, state_label
from field_app.i18n import set_language
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    QuietTablet,
    quiet_app,
    refreshed,
    shots,
)
from tests.field_app.test_attention_mine import ME, mine_sent, tablet  # noqa: F401 (a fixture)
from tests.field_app.test_ui import on_screen


def test_an_activity_at_a_site_the_office_rejected_needs_attention(tablet: QuietTablet) -> None:  # noqa: F811
    site = tablet.rejected_site
    at_rejected = mine_sent(tablet, "Field day at Roma", site_id=site["id"])
    mine_sent(tablet, "Field day at Ha Mokhalinyane", site_id=tablet.site["id"])
    approved = mine_sent(tablet, "Approved field day at Roma", site_id=site["id"])
    tablet.back("activity", {**approved, "created_by_id": ME}, status="approved")

    [record] = tablet.backend.attention()
    assert record.id == at_rejected["id"] and record.state == "synced"
    assert tablet.backend.status().attention == 1
    item = describe(record, rejected_sites={site["id"]: site["name"]})
    assert (item.state, item.reason) == (
        "site_rejected",
        "The country office rejected the site Roma valley: choose another one.",
    )
    assert state_label(item.state) == "site rejected"
    set_language("fr")
    try:
        assert state_label(item.state) == "site refusé"
    finally:
        set_language("en")


@pytest.mark.kivy
@pytest.mark.slow
def test_the_screen_says_why_and_offers_the_edit(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, quiet = quiet_app
    record = mine_sent(quiet, "Field day at Roma", site_id=quiet.rejected_site["id"])
    assert refreshed(driver, "home").attention == 1

    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.selected_id == record["id"]
    assert (attention.state_name, attention.state_label) == ("site_rejected", "site rejected")
    assert attention.reason == (
        "The country office rejected the site Roma valley: choose another one."
    )
    assert attention.ids.edit_button.shown and not attention.ids.edit_button.disabled
    shots(driver, "attention-site-rejected")
    driver.tap(attention.ids.edit_button)
    on_screen(driver, "form")
