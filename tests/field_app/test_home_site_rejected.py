"""Home's project cards count what needs attention as the sync bar and Needs attention do: an
activity at a site the country office rejected needs its person (the server refuses any change
of it until another site is chosen), so the card says so too. The real store and backend."""

from __future__ import annotations

from datetime import date

import pytest

from field_app.controllers.home import project_card
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    QuietTablet,
    quiet_app,
    refreshed,
)
from tests.field_app.test_attention_mine import (  # noqa: F401 (a fixture)
    ME,
    colleagues,
    mine_sent,
    tablet,
)


def _card_attention(tablet: QuietTablet) -> int:  # noqa: F811
    project = tablet.project
    card = project_card(
        project,
        activities=[],
        states=tablet.backend.activity_states(project["id"]),
        targets=[],
        participants=[],
        today=date(2026, 12, 8),
    )
    return card.attention


def test_the_card_counts_an_activity_at_a_rejected_site_as_the_bar_does(
    tablet: QuietTablet,  # noqa: F811
) -> None:
    site = tablet.rejected_site
    mine_sent(tablet, "Field day at Roma", site_id=site["id"])
    mine_sent(tablet, "Field day at Ha Mokhalinyane", site_id=tablet.site["id"])
    approved = mine_sent(tablet, "Approved field day at Roma", site_id=site["id"])
    tablet.back("activity", {**approved, "created_by_id": ME}, status="approved")

    states = tablet.backend.activity_states(tablet.project["id"])
    assert states["site_rejected"] == 1 and sum(states.values()) == 3
    assert _card_attention(tablet) == tablet.backend.status().attention == 1


def test_a_colleagues_activity_at_a_rejected_site_is_not_mine_to_correct(
    tablet: QuietTablet,  # noqa: F811
) -> None:
    mine_sent(tablet, "Field day at Ha Mokhalinyane", site_id=tablet.site["id"])
    colleagues(tablet, "Webinar at Roma", site_id=tablet.rejected_site["id"])
    mine_sent(tablet, "Field day at Roma", site_id=tablet.rejected_site["id"])
    assert _card_attention(tablet) == tablet.backend.status().attention


@pytest.mark.kivy
@pytest.mark.slow
def test_homes_card_and_bar_agree(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, quiet = quiet_app
    mine_sent(quiet, "Field day at Roma", site_id=quiet.rejected_site["id"])
    home = refreshed(driver, "home")
    [card] = [c for c in home.cards if c["project_id"] == quiet.project["id"]]
    assert card["attention"] == home.attention == 1
