"""The real app, headless: touches and typing through the window, against a live server.

Skipped, with a message that says how to enable them, where Kivy cannot open a window.
Screenshots of every screen in both orientations land in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.field_app import kivy_driver
from tests.field_app.conftest import LiveServer
from tests.field_app.fakes import MemoryBackend, activity
from tests.field_app.test_photos import with_orientation

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "field"
# The schedule does nothing on its own during a test (no timer, no sync after a save), so a
# test sees "pending" for as long as it likes; "Sync now" still starts a round at once.
QUIET = {"interval": 3600.0, "save_delay": 3600.0, "first_retry": 3600.0}


@pytest.fixture(scope="module")
def kivy_window() -> None:
    reason = kivy_driver.probe()
    if reason is not None:
        pytest.skip(f"{kivy_driver.HOW_TO_ENABLE} ({reason})")
    kivy_driver.prepare()


def make_app(session: Any) -> Any:
    from field_app.app import FieldApp

    return FieldApp(session)


@pytest.fixture
def live_app(kivy_window: None, sqlite_server: LiveServer,
             tmp_path: Path) -> Iterator[tuple[kivy_driver.Driver, LiveServer, Any]]:
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "tablet"
    session = FieldSession(backend=StoreBackend(data_dir, schedule_options=QUIET),
                           device=Device(), data_dir=data_dir)
    with kivy_driver.running(make_app(session)) as driver:
        yield driver, sqlite_server, session


def on_screen(driver: kivy_driver.Driver, name: str) -> Any:
    """The screen called ``name`` once shown and done loading its data (in the background)."""
    driver.wait_until(lambda: driver.app.manager.current == name, what=f"the {name} screen")
    screen = driver.app.manager.current_screen
    driver.wait_until(lambda: not screen.loading, what=f"the {name} screen's data")
    driver.step(2)
    return screen


def settled(session: Any) -> bool:
    """The background schedule is idle and has nothing planned (QUIET: an hour away)."""
    schedule = session.backend._schedule
    return schedule is not None and not schedule.syncing and schedule.seconds_to_next() > 600


def enrol_through_the_screen(driver: kivy_driver.Driver, server: LiveServer) -> Any:
    enrol = on_screen(driver, "enrol")
    driver.type(enrol.ids.server, server.url)
    driver.type(enrol.ids.code, server.codes[0])
    driver.tap(enrol.ids.enrol_button)
    home = on_screen(driver, "home")
    session = driver.app.session
    driver.wait_until(lambda: home.cards and settled(session), timeout=60,
                      what="the first sync to bring the project")
    driver.step(3)
    return home


def row_state(activities: Any, title: str) -> str | None:
    for row in activities.ids.rows.data:
        if row["title"] == title:
            return str(row["state"])
    return None


def test_enrol_fill_save_pending_then_synced(
        live_app: tuple[kivy_driver.Driver, LiveServer, Any]) -> None:
    driver, server, session = live_app
    home = enrol_through_the_screen(driver, server)
    driver.screenshot(SHOTS / "live-home.png")

    new_button = driver.find_text(home, "+ New activity")
    driver.tap(new_button)
    form = on_screen(driver, "form")
    inputs = form._inputs
    driver.choose(inputs["type"], "Demonstration")
    driver.type(inputs["title"], "Seed potato storage demonstration")
    driver.choose(inputs["site"], "Ha Mokhalinyane")
    cells = form._cells
    driver.type(cells[("female", "adult")], "12")
    driver.type(cells[("male", "youth")], "8")
    assert form.summary == "20 participants · 12 women (60 %)"
    # The totals on screen, not only in the controller: the grid's corner and the chip.
    totals = [w.text for w in form.ids.attendance_box.children]
    assert "20" in totals and "12" in totals and "8" in totals
    assert driver.find_text(form, "Farmers 20")
    driver.screenshot(SHOTS / "live-form.png")
    driver.tap(form.ids.save_top)

    activities = on_screen(driver, "activities")
    driver.wait_until(lambda: row_state(activities, "Seed potato storage demonstration")
                      == "pending", what="the saved activity in the list, pending")
    badge = driver.find(activities.ids.rows, lambda w: getattr(w, "state_name", "") == "pending")
    assert badge.text == "pending"
    driver.screenshot(SHOTS / "live-activities-pending.png")

    driver.tap(activities.ids.get("back") or driver.find_text(activities, "‹ Back"))
    home = on_screen(driver, "home")
    driver.wait_until(lambda: "1 record waiting to be sent" in home.ids.sync_bar.headline,
                      what="the sync bar to count the saved record")
    driver.tap(home.ids.sync_bar.ids.sync_button)
    driver.wait_until(lambda: session.status().pending == 0 and settled(session),
                      timeout=60, what="the sync to finish")
    home = on_screen(driver, "home")
    driver.tap(driver.find_text(home, "Activities (1)"))
    activities = on_screen(driver, "activities")
    driver.wait_until(lambda: row_state(activities, "Seed potato storage demonstration")
                      == "synced", what="the row to show synced")
    driver.screenshot(SHOTS / "live-activities-synced.png")

    saved = [r for r in session.backend.activities(server.project_id)]
    assert len(saved) == 1
    on_server = server.activity(saved[0].id)
    assert on_server["title"] == "Seed potato storage demonstration"
    assert sorted(r["count"] for r in on_server["attendance"]) == [8, 12]
    assert on_server["site_id"] == server.site_id


def test_returned_then_corrected_and_resubmitted(
        live_app: tuple[kivy_driver.Driver, LiveServer, Any]) -> None:
    driver, server, session = live_app
    home = enrol_through_the_screen(driver, server)
    driver.tap(driver.find_text(home, "+ New activity"))
    form = on_screen(driver, "form")
    driver.choose(form._inputs["type"], "Farmer training")
    driver.type(form._inputs["title"], "Hermetic bag training")
    driver.type(form._cells[("female", "youth")], "9")
    driver.tap(form.ids.save_bottom if form.ids.save_bottom.get_root_window() else
               form.ids.save_top)
    on_screen(driver, "activities")
    driver.app.sync_now()
    driver.wait_until(lambda: session.status().pending == 0 and settled(session),
                      timeout=60, what="the first push")
    record = session.backend.activities(server.project_id)[0]
    assert record.state == "synced" and server.activity(record.id)["status"] == "submitted"
    server.return_activity(record.id, "Please add the men who attended")
    driver.app.home()
    home = on_screen(driver, "home")
    driver.tap(home.ids.sync_bar.ids.sync_button)
    driver.wait_until(lambda: home.attention == 1, timeout=60,
                      what="the returned record to arrive")
    assert home.ids.attention_button.text == "Needs attention (1)"
    driver.tap(home.ids.attention_button)

    attention = on_screen(driver, "attention")
    assert attention.reason == "Returned by the country office: Please add the men who attended"
    driver.screenshot(SHOTS / "live-attention-returned.png")
    driver.tap(attention.ids.edit_button)

    form = on_screen(driver, "form")
    assert "Please add the men who attended" in form.banner
    driver.type(form._cells[("male", "adult")], "6")
    assert form.summary == "15 participants · 9 women (60 %)"
    driver.tap(form.ids.save_top)
    on_screen(driver, "activities")
    assert session.backend.activity(record.id).state == "pending"

    driver.app.sync_now()
    driver.wait_until(lambda: session.backend.activity(record.id).state == "synced"
                      and settled(session), timeout=60,
                      what="the corrected record to be accepted")
    on_server = server.activity(record.id)
    assert on_server["status"] == "submitted"
    assert sorted(r["count"] for r in on_server["attendance"]) == [6, 9]
    driver.app.home()
    home = on_screen(driver, "home")
    assert home.attention == 0


def test_the_form_refuses_bad_input_and_says_why(
        kivy_window: None, tmp_path: Path) -> None:
    session, backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        driver.type(form._inputs["end_date"], "2020-01-01")
        assert form.errors["end_date"] == "The end is before the start"
        driver.type(form._cells[("female", "youth")], "12")
        driver.tap(form.ids.save_top)
        assert driver.app.manager.current == "form"  # nothing saved
        assert form.banner == "Correct the 3 highlighted fields"
        assert set(form.errors) == {"type", "title", "end_date"}
        assert form._inputs["title"].has_error
        # The reasons are on screen, next to their fields.
        assert form._inputs["title"].parent.error == "Required"
        assert driver.find_text(form, "! The end is before the start")
        assert backend.saves == []


def test_gps_fills_the_location_and_a_photo_is_downscaled(kivy_window: None,
                                                          tmp_path: Path) -> None:
    from kivy.core.image import Image as CoreImage
    from kivy.graphics.texture import Texture

    from field_app.device import Fix, StandInDevice

    session, _backend, project = demo_session(tmp_path)
    session.device = StandInDevice(Fix(-29.3123, 27.4811, 6.0))
    with kivy_driver.running(make_app(session)) as driver:
        # A 4000 × 3000 camera photo, stored sideways with EXIF orientation 6 (turn right);
        # made here, once the window gives a GL context.
        width, height = 4000, 3000
        top, bottom = b"\xff\x00\x00" * width, b"\x00\x00\xff" * width
        texture = Texture.create(size=(width, height), colorfmt="rgb")
        texture.blit_buffer(bottom * (height // 2) + top * (height // 2), colorfmt="rgb",
                            bufferfmt="ubyte")
        plain = tmp_path / "plain.jpg"
        CoreImage(texture).save(str(plain), flipped=True)
        photo = tmp_path / "camera.jpg"
        photo.write_bytes(with_orientation(plain.read_bytes(), 6))
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        driver.tap(form.ids.gps_button)
        driver.wait_until(lambda: form._inputs["lat"].text == "-29.312300", what="the GPS fix")
        assert form._inputs["lon"].text == "27.481100" and form._inputs["accuracy"].text == "6"
        assert form.gps_status == "Location recorded ± 6 m"
        form._add_photo(photo)
        driver.wait_until(lambda: len(form.photos) == 1, what="the photo to be prepared")
        stored = CoreImage(form.photos[0]["source"], keep_data=True)
        assert stored.size == (1200, 1600)  # turned upright, long side 1600
        # Red was on top of the sideways picture: after the turn it is on the right.
        assert [round(c) for c in stored.read_pixel(1150, 800)[:3]] == [1, 0, 0]
        assert [round(c) for c in stored.read_pixel(50, 800)[:3]] == [0, 0, 1]
        assert Path(form.photos[0]["source"]).stat().st_size < photo.stat().st_size


def test_language_switches_live(kivy_window: None, tmp_path: Path) -> None:
    session, _backend, _project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        home = on_screen(driver, "home")
        driver.tap(home.ids.settings_button)
        settings = on_screen(driver, "settings")
        driver.tap(settings.ids.lang_fr)
        assert driver.find_text(settings, "Langue")
        assert settings.ids.export_button.text == "Exporter un paquet hors ligne"
        driver.tap(driver.find_text(settings, "‹ Retour"))
        home = on_screen(driver, "home")
        assert home.ids.settings_button.text == "Paramètres"
        driver.wait_until(lambda: "enregistrements en attente d'envoi"
                          in home.ids.sync_bar.headline, what="the sync bar in French")
        driver.tap(home.ids.settings_button)
        settings = on_screen(driver, "settings")
        driver.tap(settings.ids.lang_en)
        assert session.settings.language == "en"


def demo_session(tmp_path: Path) -> tuple[Any, MemoryBackend, dict[str, Any]]:
    """A tablet with a varied state (every record state, a conflict, a roster, a sync log)
    for screenshots; the live tests above cover the real store and server."""
    from field_app.controllers.status import LogEntry
    from field_app.device import Device
    from field_app.session import FieldSession

    backend = MemoryBackend()
    backend.enrol_as("amina", "https://pilot.example.org")
    project = backend.add_project()
    other = backend.add_project(code="SEN-DAA-02", name="Post-harvest loss reduction for millet",
                                kind="DAA", country="SEN", thematic_area="TA2", solutions=["S5"],
                                roster=False)
    site = backend.add_site(project, "Ha Mokhalinyane", -29.4, 27.7)
    backend.add_site(project, "Roma valley")
    today = date.today()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    backend.add_target(project, "ACTIVITIES", quarter, 12)
    backend.add_target(project, "PARTICIPANTS", quarter, 400)
    backend.add_target(project, "PARTICIPANTS", quarter, 200, sex="female")
    backend.add_target(project, "WOMEN_SHARE", quarter, 50)
    backend.add_target(other, "TRAININGS", str(today.year), 20)
    states = ["synced", "pending", "returned", "conflict", "rejected"]
    records = []
    for i in range(60):
        state = states[i % 5] if i < 10 else "synced"
        records.append(backend.add_record(
            activity(project, title=f"Seed potato storage demonstration {i + 1}",
                     start=today - timedelta(days=3 * i), site=site, women=10 + i % 7, men=8),
            state=state,
            comment="Please add the photos and check the number of women."
            if state == "returned" else ""))
    records[3].conflict_fields = ["title", "attendance"]
    records[3].mine = {"title": "Seed potato storage, Roma",
                       "attendance": records[3].data["attendance"]}
    records[3].theirs = {"title": "Seed potato storage demonstration, Roma valley",
                         "attendance": [{"sex": "female", "age_band": "adult",
                                         "category": "farmer", "disability": False,
                                         "count": 30}]}
    records[4].errors = [{"field": "end_date", "message": "is before the start date"}]
    backend._participants += [
        {"id": str(uuid.uuid4()), "project_id": project["id"], "code": f"LSO-{i:04d}",
         "sex": ["female", "male"][i % 2], "birth_year": 1960 + i, "category": "farmer",
         "disability": i % 7 == 0} for i in range(30)]
    backend.last_success = datetime.now(UTC) - timedelta(minutes=42)
    backend.last_error = "cannot reach the server (no connection or the server is down)"
    backend._log = [
        LogEntry(at=datetime.now(UTC) - timedelta(hours=3), ok=True, sent=4, received=120,
                 photos=2),
        LogEntry(at=datetime.now(UTC) - timedelta(minutes=42), ok=False,
                 error="cannot reach the server (no connection or the server is down)")]
    data_dir = tmp_path / "tablet"
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    return session, backend, project


SCREENS = ("enrol", "home", "activities", "form", "form-attendance", "roster", "attention",
           "settings")


def test_screenshots_of_every_screen_in_both_orientations(kivy_window: None,
                                                          tmp_path: Path) -> None:
    session, backend, project = demo_session(tmp_path)
    participants = backend.participants(project["id"])
    with kivy_driver.running(make_app(session)) as driver:
        for width, height, name in ((1280, 800, "landscape"), (800, 1280, "portrait")):
            driver.resize(width, height)
            assert driver.app.landscape == (name == "landscape")
            for screen in SCREENS:
                if screen == "enrol":
                    driver.app.show("enrol")
                elif screen == "home":
                    driver.app.home()
                elif screen == "activities":
                    driver.app.show("activities", project_id=project["id"])
                elif screen == "form":
                    driver.app.show("form", project_id=project["id"])
                    form = on_screen(driver, "form")
                    form.ids.scroll.scroll_y = 1
                elif screen == "form-attendance":
                    form = driver.app.manager.current_screen
                    driver.type(form._inputs["title"], "Seed potato storage demonstration")
                    driver.type(form._cells[("female", "adult")], "14")
                    driver.type(form._cells[("male", "youth")], "9")
                    form.ids.scroll.scroll_to(form.ids.attendance_box, padding=120,
                                              animate=False)
                elif screen == "roster":
                    driver.app.show("roster", project_id=project["id"],
                                    ticked=[p["id"] for p in participants[1:6:2]])
                elif screen == "attention":
                    driver.app.show("attention")
                    driver.app.screen("attention").select(
                        next(r.id for r in backend.attention() if r.state == "conflict"))
                elif screen == "settings":
                    driver.app.show("settings")
                path = driver.screenshot(SHOTS / f"{screen}-{name}-{width}x{height}.png")
                assert path.stat().st_size > 10_000, f"{path} looks empty"
        driver.resize(1280, 800)
