"""Home's project card counts what waits as the sync bar does (docs/protocol.md, "What the app
shows"): the real store behind the real app, headless, no server. Screenshots land in
``artifacts/screenshots/field/``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import Change, Op
from tests.field_app import kivy_driver
from tests.field_app.test_ui import SHOTS, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

PHONE, TABLET = (360, 640), (1280, 800)


def project() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-001",
        "name": "Potato value chain",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "roster": False,
        "start_date": "2024-01-01",
        "end_date": "2027-12-31",
        "solutions": ["S1"],
    }


def activity(project_id: str, title: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "type": "demonstration",
        "title": title,
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "topic": "S1.T2",
        "delivery": "in_person",
        "captured_at": "2025-03-14T10:00:00+02:00",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 9,
            }
        ],
        **fields,
    }


class QuietTablet:
    """The tablet's real store and backend, enrolled, with no sync schedule: the test plays
    the server's side by hand."""

    def __init__(self, data_dir: Path) -> None:
        from field_app.backend import StoreBackend

        class Quiet(StoreBackend):
            def start(self, on_change: Any) -> None:
                self._on_change = on_change

        self.backend = Quiet(data_dir)
        self.store = self.backend.store
        self.store.set_meta(
            server_url="https://pm.example.org",
            device_token="token",
            username="amina",
            role="field_expert",
            label="Maseru tablet 2",
        )
        self.project = project()
        self.store.apply_pull(
            [
                Change(
                    entity="project",
                    id=self.project["id"],
                    op=Op.UPSERT,
                    version=1,
                    data=self.project,
                )
            ],
            cursor="c0",
        )


@pytest.fixture
def quiet_app(
    kivy_window: None, tmp_path: Path
) -> Iterator[tuple[kivy_driver.Driver, QuietTablet]]:
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "tablet"
    data_dir.mkdir()
    tablet = QuietTablet(data_dir)
    session = FieldSession(backend=tablet.backend, device=Device(), data_dir=data_dir)
    with kivy_driver.running(make_app(session)) as driver:
        yield driver, tablet


def shots(driver: kivy_driver.Driver, name: str) -> None:
    try:
        for width, height in (PHONE, TABLET):
            driver.resize(width, height)
            driver.step(6)
            driver.screenshot(SHOTS / f"{name}-{width}x{height}.png")
    finally:
        driver.resize(*TABLET)


def refreshed(driver: kivy_driver.Driver, name: str) -> Any:
    driver.app.changed()
    screen = driver.app.manager.get_screen(name)
    driver.wait_until(lambda: not screen.loading, what=f"the {name} screen's data")
    driver.step(3)
    return screen


def test_the_project_card_counts_an_unsent_activity_deleted_offline_as_the_bar_does(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],
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
