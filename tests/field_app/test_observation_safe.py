"""A measurement the server signed for is "safe on the server", as an activity is
(docs/protocol.md#custody-receipts): the backend says so, and the opened measurement shows the
banner. The real store and app, headless, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    QuietTablet,
    quiet_app,
    shots,
)
from tests.field_app.test_ui import on_screen

SAFE = "Safe on the server: the server signed a receipt for this version and every photo."


def test_the_backend_says_which_measurements_are_safe(tmp_path: Path) -> None:
    tablet = QuietTablet(tmp_path / "tablet")
    covered, uncovered = tablet.observation(), tablet.observation(observed_on="2025-03-15")
    for record in (covered, uncovered):
        tablet.store.save("observation", record)
    tablet.answer()
    tablet.back("observation", covered)
    tablet.back("observation", uncovered)
    backend = tablet.backend
    assert {r.id: (r.state, r.safe) for r in backend.observations(tablet.project["id"])} == {
        covered["id"]: ("synced", False),
        uncovered["id"]: ("synced", False),
    }
    assert backend.custody().records == 2

    tablet.receipt("observation", covered)

    assert {r.id: (r.state, r.safe) for r in backend.observations(tablet.project["id"])} == {
        covered["id"]: ("synced", True),
        uncovered["id"]: ("synced", False),
    }
    found = backend.observation(covered["id"])
    assert found is not None and found.safe
    assert backend.custody().records == 1  # custody and the record agree
    tablet.backend.close()


@pytest.mark.kivy
@pytest.mark.slow
def test_an_opened_measurement_the_server_signed_for_shows_safe_on_the_server(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = tablet.observation()
    tablet.store.save("observation", record)
    tablet.answer()
    tablet.back("observation", record)

    driver.app.show("observation", observation_id=record["id"])
    screen = on_screen(driver, "observation")
    assert not screen.banner  # synced, no receipt yet: nothing to say

    tablet.receipt("observation", record)
    driver.app.home()
    on_screen(driver, "home")
    driver.app.show("observation", observation_id=record["id"])
    screen = on_screen(driver, "observation")
    assert (screen.banner, screen.banner_tone) == (SAFE, "safe")
    shots(driver, "observation-safe")
    # … and its project's list of measurements says so on its row, as an activity's does.
    driver.app.show("measurements", project_id=tablet.project["id"])
    listed = on_screen(driver, "measurements")
    [row] = [r for r in listed.ids.rows.data if r.get("observation_id") == record["id"]]
    assert (row["state_name"], row["state_label"]) == ("safe", "Safe")
    shots(driver, "measurements-safe")
    driver.app.show("observation", observation_id=record["id"])
    screen = on_screen(driver, "observation")

    # In French, switched live: the banner follows.
    try:
        driver.app.set_language("fr")
        driver.step(3)
        assert screen.banner and screen.banner != SAFE
    finally:
        driver.app.set_language("en")
        driver.step(3)
    assert screen.banner == SAFE
