"""Home's project card counts what waits as the sync bar does (docs/protocol.md, "What the app
shows"): the real store behind the real app, headless, no server. Screenshots land in
``artifacts/screenshots/field/``."""

from __future__ import annotations

import pytest

from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    QuietTablet,
    activity,
    quiet_app,
    refreshed,
    shots,
)
from tests.field_app.test_ui import on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]


def test_the_project_card_counts_an_unsent_activity_deleted_offline_as_the_bar_does(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    """Two activities saved offline, one deleted before any sync: its delete waits to be sent
    too. The sync bar and the custody line said 2 records, the project card "1 waiting to be
    sent"."""
    from field_app.screens.home import ProjectCardView

    driver, tablet = quiet_app
    kept = activity(tablet.project["id"], "Storage demonstration")
    deleted = activity(tablet.project["id"], "Recorded twice")
    tablet.backend.store.save("activity", kept)
    tablet.backend.store.save("activity", deleted)
    tablet.backend.delete_activity(deleted["id"])

    home = refreshed(driver, "home")
    home = on_screen(driver, "home")
    driver.wait_until(lambda: home.ids.sync_bar.headline, what="the sync bar")
    [card] = [w for w in home.walk(restrict=True) if isinstance(w, ProjectCardView)]
    assert home.ids.sync_bar.headline == "Waiting to be sent: 2 records"
    assert home.ids.custody.headline == "Not yet safe to wipe: 2 records"
    shown = [
        w
        for w in card.walk(restrict=True)
        if "waiting to be sent" in str(getattr(w, "text", "")).lower()
    ]
    assert [w.text for w in shown] == ["Waiting to be sent: 2 records"]
    assert shown[0].opacity == 1 and shown[0].height > 0
    assert card.ids.buttons.children  # the card is whole (Activities, Measurements, New)
    shots(driver, "home-card-waiting")
