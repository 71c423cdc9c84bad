"""Custody receipts in the real app, headless (docs/protocol.md#custody-receipts): Home and
Settings say "Safe to wipe" only once the server has signed for every record and photo the tablet
holds, and until then exactly what is not yet safe; the list and the record show "safe".

The tablet is the real store and backend (receipts verified by the store against a pinned test
key, as the server's would be); no server runs, so the sync's answers and pulls are fed to the
store the way the engine stores them. Screenshots in both orientations land in
``artifacts/screenshots/field/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from field_app.controllers import dates
from sync.protocol import Change, MutationResult, Op, ResultStatus
from sync.store import NewPhoto
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import activity, enrolled_backend, project
from tests.field_app.test_ui import SHOTS, make_app, on_screen
from tests.sync.receipts import change

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

SIZES = {"landscape": (1280, 800), "portrait": (800, 1280)}


def _activity(project_id: str, title: str, day: str) -> dict[str, Any]:
    return activity(
        project_id, title, start_date=day, end_date=day, captured_at=f"{day}T10:00:00+02:00"
    )


class Tablet:
    """The tablet's store behind the app, and the server's side of a round, by hand."""

    def __init__(self, data_dir: Path) -> None:
        self.backend, self.issuer = enrolled_backend(data_dir)
        self.store = self.backend.store
        self.project = project()
        self.teammate = _activity(self.project["id"], "Teammate's field day", "2025-02-02")
        self.store.apply_pull(
            [
                Change(
                    entity="project",
                    id=self.project["id"],
                    op=Op.UPSERT,
                    version=1,
                    data=self.project,
                ),
                # A teammate's record: on the server already, nothing of this tablet's in it.
                Change(
                    entity="activity",
                    id=self.teammate["id"],
                    op=Op.UPSERT,
                    version=3,
                    data=self.teammate,
                ),
            ],
            cursor="c0",
        )
        self.with_photos = _activity(self.project["id"], "Storage demonstration", "2025-03-14")
        self.plain = _activity(self.project["id"], "Seed potato field day", "2025-04-02")
        photos = []
        for n in range(3):
            source = data_dir / f"camera-{n}.jpg"
            source.write_bytes(b"\xff\xd8\xff" + bytes([n + 1]) * 4000)
            photos.append(
                NewPhoto(
                    id=str(uuid.uuid4()),
                    activity_id=self.with_photos["id"],
                    source=source,
                    content_type="image/jpeg",
                )
            )
        self.photos = [p.id for p in photos]
        self.store.save_all([("activity", self.with_photos)], photos=photos)
        self.store.save("activity", self.plain)

    def sent(self) -> None:
        """A round that went through: every change applied at version 1, every photo's bytes
        in, the records pulled back."""
        self.store.acknowledge(
            [
                MutationResult(seq=m.seq, id=m.id, status=ResultStatus.APPLIED, version=1)
                for m in self.store.pending()
            ]
        )
        for upload in self.store.uploads(state="waiting"):
            self.store.finish_upload(upload.id, state="done")
        self.pull()

    def pull(self, *receipts: dict[str, Any]) -> None:
        records = [
            Change(entity="activity", id=r["id"], op=Op.UPSERT, version=1, data=r)
            for r in (self.with_photos, self.plain)
        ]
        self.store.apply_pull([*records, *(change(r) for r in receipts)], cursor=str(uuid.uuid4()))

    def receipt(self, record: dict[str, Any], photos: list[str] | None = None) -> dict[str, Any]:
        return self.issuer.covering(self.store, record["id"], version=1, photos=photos)


@pytest.fixture
def tablet_app(kivy_window: None, tmp_path: Path) -> Iterator[tuple[kivy_driver.Driver, Tablet]]:
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "tablet"
    data_dir.mkdir()
    tablet = Tablet(data_dir)
    session = FieldSession(backend=tablet.backend, device=Device(), data_dir=data_dir)
    with kivy_driver.running(make_app(session)) as driver:
        yield driver, tablet


def _custody(screen: Any) -> tuple[str, str]:
    line = screen.ids.custody
    return line.headline, line.detail


def _refreshed(driver: kivy_driver.Driver, name: str) -> Any:
    driver.app.changed()  # what the app does when a sync round changed the store
    screen = driver.app.manager.get_screen(name)
    driver.wait_until(lambda: not screen.loading, what=f"the {name} screen's data")
    driver.step(3)
    return screen


def _shots(driver: kivy_driver.Driver, name: str) -> None:
    try:
        for orientation, (width, height) in SIZES.items():
            driver.resize(width, height)
            driver.step(4)
            driver.screenshot(SHOTS / f"custody-{name}-{orientation}.png")
    finally:
        driver.resize(*SIZES["landscape"])


def _row(activities: Any, title: str) -> dict[str, Any]:
    [row] = [r for r in activities.ids.rows.data if r["title"] == title]
    return dict(row)


def test_safe_to_wipe_only_once_receipts_cover_every_record_and_photo(
    tablet_app: tuple[kivy_driver.Driver, Tablet],
) -> None:
    driver, tablet = tablet_app
    home = on_screen(driver, "home")
    driver.wait_until(lambda: _custody(home)[0], what="the custody line")
    # Saved, nothing sent: two records and three photos, captured on 14 March 2025 but saved
    # on this tablet today: the line dates the change, not the record.
    today = dates.in_words(datetime.now().astimezone().date().isoformat())
    assert _custody(home) == (
        "Not yet safe to wipe: 2 records, 3 photos",
        f"The oldest change was saved on {today}. Do not wipe or hand over this tablet yet.",
    )
    _shots(driver, "home-waiting")

    # Sent and pulled back, but the only receipt lists two of the three photos: the record
    # with photos and the third photo are not safe; the other record is.
    tablet.sent()
    tablet.pull(tablet.receipt(tablet.with_photos, tablet.photos[:2]), tablet.receipt(tablet.plain))
    home = _refreshed(driver, "home")
    assert _custody(home) == (
        "Not yet safe to wipe: 1 record, 1 photo",
        f"The oldest change was saved on {today}. Do not wipe or hand over this tablet yet.",
    )
    activities = driver.app.show("activities", project_id=tablet.project["id"])
    activities = on_screen(driver, "activities")
    driver.wait_until(lambda: len(activities.ids.rows.data) == 3, what="the three rows")
    assert _row(activities, "Seed potato field day")["state_label"] == "safe"
    assert _row(activities, "Storage demonstration")["state_label"] == "synced"
    assert _row(activities, "Teammate's field day")["state_label"] == "synced"

    settings = driver.app.show("settings")
    settings = on_screen(driver, "settings")
    driver.wait_until(lambda: _custody(settings)[0], what="the custody line in Settings")
    assert _custody(settings)[0] == "Not yet safe to wipe: 1 record, 1 photo"
    _shots(driver, "settings-waiting")

    # A forged receipt for all three photos is refused and changes nothing.
    forged = {**tablet.receipt(tablet.with_photos), "version": 2}
    tablet.pull(forged)
    settings = _refreshed(driver, "settings")
    assert _custody(settings)[0] == "Not yet safe to wipe: 1 record, 1 photo"

    # The server's receipt for all three photos: safe to wipe, on Settings and on Home.
    tablet.pull(tablet.receipt(tablet.with_photos))
    settings = _refreshed(driver, "settings")
    assert _custody(settings) == (
        "Safe to wipe",
        "The server has signed a receipt for every record and photo on this tablet.",
    )
    driver.tap(settings.ids.receipts_button)
    driver.wait_until(lambda: "saved to" in settings.receipts_message, what="the receipts file")
    assert settings.receipts_message.startswith("2 receipts saved to ")
    _shots(driver, "settings-safe")

    driver.app.home()
    home = on_screen(driver, "home")
    driver.wait_until(lambda: _custody(home)[0] == "Safe to wipe", what="Safe to wipe on Home")
    _shots(driver, "home-safe")

    driver.app.show("activities", project_id=tablet.project["id"])
    activities = on_screen(driver, "activities")
    driver.wait_until(
        lambda: _row(activities, "Storage demonstration")["state_label"] == "safe",
        what="the record with photos to show safe",
    )
    _shots(driver, "activities-safe")
    form = driver.app.show("form", activity_id=tablet.with_photos["id"])
    form = on_screen(driver, "form")
    assert form.banner.startswith("Safe on the server")
    _shots(driver, "form-safe")

    # In French, switched live.
    try:
        driver.app.set_language("fr")
        driver.app.home()
        home = on_screen(driver, "home")
        driver.wait_until(
            lambda: _custody(home)[0] == "Prête à effacer", what="Safe to wipe in French"
        )
        _shots(driver, "home-safe-fr")
        driver.app.show("settings")
        settings = on_screen(driver, "settings")
        driver.wait_until(lambda: _custody(settings)[0] == "Prête à effacer", what="Settings, fr")
        _shots(driver, "settings-safe-fr")
    finally:
        driver.app.set_language("en")
        driver.app.home()  # back to English on a screen that redraws at once
        on_screen(driver, "home")


def test_settings_shows_the_newest_custody_read_and_is_loading_until_it_lands(
    kivy_window: None, tmp_path: Path
) -> None:
    """Settings reads the custody line on a worker thread. Two reads in flight (the screen
    opened, then a sync round changed the store) could land out of order on a slow tablet:
    the older one, "Not yet safe to wipe", stayed over "Safe to wipe". And the screen never
    said it was loading, so nothing told when the line was up to date."""
    import threading

    from tests.field_app.test_ui import demo_session

    session, backend, _project = demo_session(tmp_path)
    custody = backend.custody
    gates: list[threading.Event] = []
    readers: list[threading.Thread] = []

    def held_read() -> Any:
        answer = custody()  # what the store holds when the read starts
        gate = threading.Event()
        gates.append(gate)
        readers.append(threading.current_thread())
        gate.wait(30)  # the test decides when the read lands
        return answer

    with kivy_driver.running(make_app(session)) as driver:
        on_screen(driver, "home")
        backend.custody = held_read  # type: ignore[method-assign]
        settings = driver.app.show("settings")
        driver.wait_until(lambda: len(gates) == 1, what="the first read")
        assert settings.loading  # until the line is up to date
        for record in backend.records.values():
            record.safe = True  # a sync round sent everything and brought the receipts
            record.state = "synced" if record.state == "pending" else record.state
        driver.app.changed()
        driver.wait_until(lambda: len(gates) == 2, what="the second read")
        gates[1].set()  # the newer read lands first
        driver.wait_until(lambda: _custody(settings)[0] == "Safe to wipe", what="Safe to wipe")
        assert not settings.loading
        gates[0].set()  # the older read lands last
        driver.wait_until(lambda: not readers[0].is_alive(), what="the older read")
        driver.step(3)
        assert _custody(settings)[0] == "Safe to wipe"
