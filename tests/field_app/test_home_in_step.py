"""Home's sync bar and project cards change together: the bar never says "Everything is sent"
while a card still says what waits (docs/protocol.md, "What the app shows"). The real store and
app, headless, no server: the test plays the server's answer and steps the frames one by one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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

SENT = "Everything is sent"


def shown(home: Any) -> tuple[str, list[str]]:
    """What a person sees in this frame: the bar's headline and each card's waiting line, from
    the widgets on screen (not the screen's data, which may not be laid out yet)."""
    from field_app.screens.home import ProjectCardView

    cards = [w for w in home.ids.projects.walk(restrict=True) if isinstance(w, ProjectCardView)]
    return home.ids.sync_bar.headline, [card.waiting for card in cards]


def frames_until_settled(driver: kivy_driver.Driver, home: Any) -> list[tuple[str, list[str]]]:
    """Every frame's bar and cards, one frame at a time, until the bar says everything is sent
    and the card agrees."""
    seen = [shown(home)]
    for _ in range(600):  # 10 s at Kivy's 60 frames a second, plus the worker's reads
        driver.step()
        seen.append(shown(home))
        headline, waiting = seen[-1]
        if headline == SENT and waiting and not any(waiting):
            return seen
    raise AssertionError(f"home never settled: {seen[-3:]}")


def test_the_bar_says_everything_is_sent_only_with_the_cards(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    """The bar was redrawn from the sync's end report at once, the cards a refresh later: for
    a few frames "Everything is sent" above a card still "Waiting to be sent: 1 record", and a
    tap in those frames landed on a card being replaced."""
    driver, tablet = quiet_app
    record = activity(tablet.project["id"], "Storage demonstration")
    tablet.store.save("activity", record)
    home = refreshed(driver, "home")
    home = on_screen(driver, "home")
    driver.wait_until(lambda: shown(home)[1], what="the project card")
    assert shown(home) == ("Waiting to be sent: 1 record", ["Waiting to be sent: 1 record"])

    # The round, as the server plays it: the record taken (the outbox empty), its receipt
    # pulled, the round's success kept; then the sync thread's report at its end.
    tablet.answer()
    tablet.receipt("activity", record)
    tablet.store.set_meta(last_success=datetime.now(UTC).isoformat())
    tablet.backend._on_change()
    seen = frames_until_settled(driver, home)

    mismatched = [frame for frame in seen if frame[0] == SENT and any(frame[1])]
    assert mismatched == [], f"{len(mismatched)} of {len(seen)} frames: {mismatched[0]}"
    # and the other way round: a card said nothing waits only once the bar did
    early = [frame for frame in seen if frame[0] != SENT and frame[1] and not any(frame[1])]
    assert early == [], early[0]
    shots(driver, "home-after-sync")
