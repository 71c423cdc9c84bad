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

from field_app.controllers.settings import log_line
from shared.errors import EXPLANATIONS, ErrorCode
from tests import screenshots
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


def make_app(session: Any) -> Any:
    from field_app.app import FieldApp

    return FieldApp(session)


@pytest.fixture
def live_app(
    kivy_window: None, sqlite_server: LiveServer, tmp_path: Path
) -> Iterator[tuple[kivy_driver.Driver, LiveServer, Any]]:
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "tablet"
    session = FieldSession(
        backend=StoreBackend(data_dir, schedule_options=QUIET), device=Device(), data_dir=data_dir
    )
    with kivy_driver.running(make_app(session)) as driver:
        yield driver, sqlite_server, session


def on_screen(driver: kivy_driver.Driver, name: str) -> Any:
    """The screen called ``name`` once shown and done loading its data (in the background)."""
    driver.wait_until(lambda: driver.app.manager.current == name, what=f"the {name} screen")
    screen = driver.app.manager.current_screen
    driver.wait_until(lambda: not screen.loading, what=f"the {name} screen's data")
    driver.step(2)
    return screen


def assert_field_labels_whole(screen: Any, where: Any) -> None:
    """Every field's label on ``screen`` as tall as its text needs at its width: a label that
    wrapped on a phone once kept only its last line ("category" for "Attendance: people
    present, by category")."""
    from kivy.core.text import Label as CoreLabel

    boxes = [w for w in screen.walk(restrict=True) if type(w).__name__ == "FieldBox"]
    assert boxes, where
    for box in boxes:
        label = box.children[-1]  # the box's first child: its label
        if not label.text:
            continue
        needed = CoreLabel(
            text=label.text,
            font_size=label.font_size,
            bold=label.bold,
            text_size=(label.width, None),
        )
        needed.refresh()
        assert label.height + 1 >= needed.texture.size[1], (where, label.text)


def open_measurement(driver: kivy_driver.Driver, button: str) -> Any:
    """Tap ``button`` on the measurements screen until the observation form opens (a tap that
    lands while the list is still being laid out, on a loaded machine, is lost: tap again, as
    a person would); the form's screen."""
    measurements = on_screen(driver, "measurements")
    for _ in range(3):
        driver.tap(driver.find_text(measurements, button))
        try:
            driver.wait_until(
                lambda: driver.app.manager.current == "observation",
                timeout=10.0,
                what="the observation screen",
            )
            break
        except AssertionError:
            continue
    return on_screen(driver, "observation")


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
    driver.wait_until(
        lambda: home.cards and settled(session),
        timeout=60,
        what="the first sync to bring the project",
    )
    driver.step(3)
    return home


def row_state(activities: Any, title: str) -> str | None:
    for row in activities.ids.rows.data:
        if row["title"] == title:
            return str(row["state"])
    return None


def test_enrol_fill_save_pending_then_synced(
    live_app: tuple[kivy_driver.Driver, LiveServer, Any],
) -> None:
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
    assert form.summary == "20 participants · 12 women (60\u00a0%)"
    # The totals on screen, not only in the controller: the grid's corner and the chip.
    totals = [w.text for w in form.ids.attendance_box.children]
    assert "20" in totals and "12" in totals and "8" in totals
    assert driver.find_text(form, "Farmers 20")
    driver.screenshot(SHOTS / "live-form.png")
    driver.tap(form.ids.save_top)

    activities = on_screen(driver, "activities")
    driver.wait_until(
        lambda: row_state(activities, "Seed potato storage demonstration") == "pending",
        what="the saved activity in the list, pending",
    )
    badge = driver.find(activities.ids.rows, lambda w: getattr(w, "state_name", "") == "pending")
    assert badge.text == "pending"
    driver.screenshot(SHOTS / "live-activities-pending.png")

    driver.tap(activities.ids.get("back") or driver.find_text(activities, "‹ Back"))
    home = on_screen(driver, "home")
    driver.wait_until(
        lambda: home.ids.sync_bar.headline == "Waiting to be sent: 1 record",
        what="the sync bar to count the saved record",
    )
    driver.tap(home.ids.sync_bar.ids.sync_button)
    driver.wait_until(
        lambda: session.status().pending == 0 and settled(session),
        timeout=60,
        what="the sync to finish",
    )
    home = on_screen(driver, "home")
    # as a person would: once home says so (its cards are rebuilt when it reads the end of the
    # sync, and a tap in those frames would land on a card being replaced)
    driver.wait_until(
        lambda: home.ids.sync_bar.headline == "Everything is sent", what="home to show the sync"
    )
    # and once its project card agrees (its "Waiting to be sent" line gone, the card laid out
    # anew without it: a tap while it is replaced is lost, as it would be for a person)
    driver.wait_until(
        lambda: home.cards and not any(card["waiting"] for card in home.cards),
        what="the project card to show nothing waiting",
    )
    driver.step()
    driver.tap(driver.find_text(home, "Activities (1)"))
    activities = on_screen(driver, "activities")
    driver.wait_until(
        lambda: row_state(activities, "Seed potato storage demonstration") == "synced",
        what="the row to show synced",
    )
    driver.screenshot(SHOTS / "live-activities-synced.png")

    saved = [r for r in session.backend.activities(server.project_id)]
    assert len(saved) == 1
    on_server = server.activity(saved[0].id)
    assert on_server["title"] == "Seed potato storage demonstration"
    assert sorted(r["count"] for r in on_server["attendance"]) == [8, 12]
    assert on_server["site_id"] == server.site_id


def test_returned_then_corrected_and_resubmitted(
    live_app: tuple[kivy_driver.Driver, LiveServer, Any],
) -> None:
    driver, server, session = live_app
    home = enrol_through_the_screen(driver, server)
    driver.tap(driver.find_text(home, "+ New activity"))
    form = on_screen(driver, "form")
    driver.choose(form._inputs["type"], "Farmer training")
    driver.type(form._inputs["title"], "Hermetic bag training")
    driver.type(form._cells[("female", "youth")], "9")
    driver.tap(
        form.ids.save_bottom if form.ids.save_bottom.get_root_window() else form.ids.save_top
    )
    on_screen(driver, "activities")
    driver.app.sync_now()
    driver.wait_until(
        lambda: session.status().pending == 0 and settled(session),
        timeout=60,
        what="the first push",
    )
    record = session.backend.activities(server.project_id)[0]
    assert record.state == "synced" and server.activity(record.id)["status"] == "submitted"
    server.return_activity(record.id, "Please add the men who attended")
    driver.app.home()
    home = on_screen(driver, "home")
    driver.tap(home.ids.sync_bar.ids.sync_button)
    driver.wait_until(lambda: home.attention == 1, timeout=60, what="the returned record to arrive")
    assert home.ids.attention_button.text == "Needs attention (1)"
    driver.tap(home.ids.attention_button)

    attention = on_screen(driver, "attention")
    assert attention.reason == "Returned by the country office: Please add the men who attended"
    driver.screenshot(SHOTS / "live-attention-returned.png")
    driver.tap(attention.ids.edit_button)

    form = on_screen(driver, "form")
    assert "Please add the men who attended" in form.banner
    driver.type(form._cells[("male", "adult")], "6")
    assert form.summary == "15 participants · 9 women (60\u00a0%)"
    driver.tap(form.ids.save_top)
    on_screen(driver, "activities")
    assert session.backend.activity(record.id).state == "pending"

    driver.app.sync_now()
    driver.wait_until(
        lambda: session.backend.activity(record.id).state == "synced" and settled(session),
        timeout=60,
        what="the corrected record to be accepted",
    )
    on_server = server.activity(record.id)
    assert on_server["status"] == "submitted"
    assert sorted(r["count"] for r in on_server["attendance"]) == [6, 9]
    driver.app.home()
    home = on_screen(driver, "home")
    assert home.attention == 0


def test_the_form_refuses_bad_input_and_says_why(kivy_window: None, tmp_path: Path) -> None:
    session, backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        # The last day of last month: before the start (today), one page back on the calendar
        # (2020-01-01 took some 80 pages, most of this test's 46 s).
        driver.pick_date(form._inputs["end_date"], date.today().replace(day=1) - timedelta(days=1))
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


def test_gps_fills_the_location_and_a_photo_is_downscaled(
    kivy_window: None, tmp_path: Path
) -> None:
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
        texture.blit_buffer(
            bottom * (height // 2) + top * (height // 2), colorfmt="rgb", bufferfmt="ubyte"
        )
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
        # Texts set from Python follow the switch at once too: the bundle's and the receipts'
        # messages and the device's kind stayed English in French.
        driver.tap(settings.ids.export_button)
        driver.wait_until(lambda: "Bundle written to" in settings.bundle_message, what="a bundle")
        driver.tap(settings.ids.receipts_button)
        driver.wait_until(lambda: "saved to" in settings.receipts_message, what="the receipts")
        assert ("Hardware", "Computer") in settings.facts
        driver.tap(settings.ids.lang_fr)
        assert driver.find_text(settings, "Langue")
        assert settings.ids.export_button.text == "Exporter un paquet hors ligne"
        assert settings.bundle_message.startswith("Paquet écrit dans "), settings.bundle_message
        assert " enregistré" in settings.receipts_message, settings.receipts_message
        assert driver.find_text(settings, settings.receipts_message)
        assert ("Matériel", "Ordinateur") in settings.facts, settings.facts
        driver.tap(driver.find_text(settings, "‹ Retour"))
        home = on_screen(driver, "home")
        assert home.ids.settings_button.text == "Paramètres"
        driver.wait_until(
            lambda: home.ids.sync_bar.headline.startswith("En attente d’envoi\u00a0: "),
            what="the sync bar in French",
        )
        driver.tap(home.ids.settings_button)
        settings = on_screen(driver, "settings")
        driver.tap(settings.ids.lang_en)
        assert session.settings.language == "en"


def test_work_left_by_a_stopped_app_never_reaches_the_next(
    kivy_window: None, tmp_path: Path
) -> None:
    """A read still running when its app stopped (its store closed under it) handed its error
    to the next app in the process: one CI worker failed every tablet test after it. Its
    answer is dropped, and the stopped app's screens no longer take the running app as theirs."""
    import threading

    from field_app.screens.base import in_background

    release = threading.Event()
    answers: list[Any] = []

    def read_as_the_store_closes() -> None:
        release.wait()
        raise RuntimeError("Cannot operate on a closed database.")

    first, _backend, _project = demo_session(tmp_path / "first")
    with kivy_driver.running(make_app(first)) as driver:
        old_home = on_screen(driver, "home")
        worker = in_background(read_as_the_store_closes, lambda *answer: answers.append(answer))
    second, _backend, _project = demo_session(tmp_path / "second")
    with kivy_driver.running(make_app(second)) as driver:
        release.set()
        worker.join()
        home = on_screen(driver, "home")
        driver.step(3)
        assert answers == []
        assert not old_home.app_running
        assert home.app_running
        old_home._refresh_if_shown()  # a late data change reaches the old screen:
        assert not old_home.loading  # it reads nothing (it read the running app's session)


def demo_session(tmp_path: Path) -> tuple[Any, MemoryBackend, dict[str, Any]]:
    """A tablet with a varied state (every record state, a conflict, a roster, a sync log)
    for screenshots; the live tests above cover the real store and server."""
    from field_app.controllers.status import LogEntry
    from field_app.device import Device
    from field_app.session import FieldSession

    backend = MemoryBackend()
    backend.enrol_as("amina", "https://pilot.example.org")
    project = backend.add_project()
    other = backend.add_project(
        code="SEN-DAA-02",
        name="Post-harvest loss reduction for millet",
        kind="DAA",
        country="SEN",
        thematic_area="TA2",
        solutions=["S5"],
        roster=False,
    )
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
        records.append(
            backend.add_record(
                activity(
                    project,
                    title=f"Seed potato storage demonstration {i + 1}",
                    start=today - timedelta(days=3 * i),
                    site=site,
                    women=10 + i % 7,
                    men=8,
                ),
                state=state,
                comment="Please add the photos and check the number of women."
                if state == "returned"
                else "",
            )
        )
    records[3].conflict_fields = ["title", "attendance"]
    records[3].mine = {
        "title": "Seed potato storage, Roma",
        "attendance": records[3].data["attendance"],
    }
    records[3].theirs = {
        "title": "Seed potato storage demonstration, Roma valley",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 30,
            }
        ],
    }
    records[4].errors = [{"field": "end_date", "message": "is before the start date"}]
    backend._participants += [
        {
            "id": str(uuid.uuid4()),
            "project_id": project["id"],
            "code": f"LSO-{i:04d}",
            "sex": ["female", "male"][i % 2],
            "birth_year": 1960 + i,
            "category": "farmer",
            "disability": i % 7 == 0,
        }
        for i in range(30)
    ]
    backend.last_success = datetime.now(UTC) - timedelta(minutes=42)
    backend.last_error = "the link is too slow: no answer in time; will try again later"
    backend.error_cause = "timeout"
    backend._log = [
        LogEntry(
            at=datetime.now(UTC) - timedelta(hours=3),
            ok=True,
            sent=4,
            received=120,
            photos=2,
            bytes_sent=655_000,
            bytes_received=48_000,
        ),
        LogEntry(
            at=datetime.now(UTC) - timedelta(minutes=42),
            ok=False,
            cause="timeout",
            error="the link is too slow: no answer in time; will try again later",
            sent=3,
            bytes_sent=212_000,
            bytes_received=3_000,
        ),
    ]
    data_dir = tmp_path / "tablet"
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    return session, backend, project


SCREENS = (
    "enrol",
    "home",
    "activities",
    "form",
    "form-attendance",
    "roster",
    "attention",
    "settings",
)


def test_screenshots_of_every_screen_in_both_orientations(
    kivy_window: None, tmp_path: Path
) -> None:
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
                    form.ids.scroll.scroll_to(form.ids.attendance_box, padding=120, animate=False)
                elif screen == "roster":
                    driver.app.show(
                        "roster",
                        project_id=project["id"],
                        ticked=[p["id"] for p in participants[1:6:2]],
                    )
                elif screen == "attention":
                    driver.app.show("attention")
                    driver.app.screen("attention").select(
                        next(r.id for r in backend.attention() if r.state == "conflict")
                    )
                elif screen == "settings":
                    driver.app.show("settings")
                path = driver.screenshot(
                    SHOTS / f"{screen}-{name}-{width}x{height}.png", always=True
                )
                assert path.stat().st_size > 10_000, f"{path} looks empty"
        driver.resize(1280, 800)


# -- Needs attention, against the live server ----------------------------------------------------


def sync_through_the_app(driver: kivy_driver.Driver, session: Any) -> None:
    """ "Sync now" as the app does it (the schedule's thread), then wait for the round to end
    and for the app to have read its outcome (the sync bar's button is live again)."""
    driver.app.sync_now()
    driver.wait_until(
        lambda: settled(session) and not driver.app.sync_running,
        timeout=90,
        what="the sync round to end",
    )


def other_tablet(server: LiveServer, tmp_path: Path) -> Any:
    """A second tablet of the same expert, driven without a UI."""
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "other-tablet"
    other = FieldSession(backend=StoreBackend(data_dir), device=Device(), data_dir=data_dir)
    other.enrol(server_url=server.url, code=server.codes[1])
    other.backend.sync_once()
    return other


def in_conflict(
    driver: kivy_driver.Driver, server: LiveServer, session: Any, tmp_path: Path
) -> tuple[Any, str, str]:
    """The app's tablet and another one change the same title offline; the other syncs first,
    so the app's tablet gets a conflict. Returns the other tablet, the activity and the
    conflict."""
    from tests.field_app.test_backend import edit_title, filled_form

    enrol_through_the_screen(driver, server)
    other = other_tablet(server, tmp_path)
    form = filled_form(session, server.project_id)
    session.save(form)
    sync_through_the_app(driver, session)
    other.backend.sync_once()
    edit_title(other, form.id, "Storage demonstration, Roma")
    other.backend.sync_once()
    edit_title(session, form.id, "Storage demonstration, Maseru")
    sync_through_the_app(driver, session)
    if not session.backend.activity(form.id).conflict_ids:
        sync_through_the_app(driver, session)  # the conflict's details come with a pull
    record = session.backend.activity(form.id)
    assert record.state == "conflict" and len(record.conflict_ids) == 1
    return other, form.id, record.conflict_ids[0]


def open_attention(driver: kivy_driver.Driver, count: int = 1) -> Any:
    driver.app.home()
    home = on_screen(driver, "home")
    driver.wait_until(lambda: home.attention == count, what="the attention count")
    driver.tap(home.ids.attention_button)
    return on_screen(driver, "attention")


def test_a_conflict_kept_theirs_is_synced_and_closed_on_the_server(
    live_app: tuple[kivy_driver.Driver, LiveServer, Any], tmp_path: Path
) -> None:
    driver, server, session = live_app
    other, activity_id, conflict_id = in_conflict(driver, server, session, tmp_path)
    assert server.api("GET", f"/conflicts/{conflict_id}").json()["status"] == "open"

    attention = open_attention(driver)
    assert attention.state_name == "conflict"
    assert attention.differences == [
        ("Title", "Storage demonstration, Maseru", "Storage demonstration, Roma")
    ]
    driver.screenshot(SHOTS / "live-attention-conflict.png")
    driver.tap(attention.ids.keep_theirs)
    assert attention.message == "The server's values are kept."
    assert attention.empty  # nothing else needs attention
    record = session.backend.activity(activity_id)
    assert record.state == "pending" and record.data["title"] == "Storage demonstration, Roma"

    sync_through_the_app(driver, session)

    record = session.backend.activity(activity_id)
    assert record.state == "synced" and record.conflict_ids == []
    assert session.status().pending == 0 and session.status().attention == 0
    on_server = server.api("GET", f"/conflicts/{conflict_id}").json()
    assert on_server["status"] == "resolved"
    assert on_server["resolution"]["keep"] == "server"
    assert server.activity(activity_id)["title"] == "Storage demonstration, Roma"
    home = open_home(driver)
    assert home.ids.attention_button.text == "Needs attention (0)"
    other.close()


def open_home(driver: kivy_driver.Driver) -> Any:
    driver.app.home()
    home = on_screen(driver, "home")
    driver.wait_until(lambda: home.attention == 0, what="nothing left to attend to")
    return home


def test_a_conflict_edited_in_the_form_is_resolved_by_the_save(
    live_app: tuple[kivy_driver.Driver, LiveServer, Any], tmp_path: Path
) -> None:
    driver, server, session = live_app
    other, activity_id, conflict_id = in_conflict(driver, server, session, tmp_path)

    attention = open_attention(driver)
    assert attention.ids.edit_button.text == "Edit"
    driver.tap(attention.ids.edit_button)
    form = on_screen(driver, "form")
    assert form.banner.startswith("This record was changed on the server too")
    assert form._inputs["title"].text == "Storage demonstration, Roma"  # the server's value
    driver.type(form._inputs["title"], "Storage demonstration, Roma and Maseru")
    driver.tap(form.ids.save_top)
    activities = on_screen(driver, "activities")
    driver.wait_until(
        lambda: row_state(activities, "Storage demonstration, Roma and Maseru") == "pending",
        what="the edited record, pending",
    )

    sync_through_the_app(driver, session)

    record = session.backend.activity(activity_id)
    assert record.state == "synced" and record.conflict_ids == []
    assert server.activity(activity_id)["title"] == "Storage demonstration, Roma and Maseru"
    assert server.api("GET", f"/conflicts/{conflict_id}").json()["status"] in (
        "superseded",
        "resolved",
    )
    driver.wait_until(
        lambda: row_state(activities, "Storage demonstration, Roma and Maseru") == "synced",
        what="the row to show synced",
    )
    open_home(driver)
    other.close()


def test_a_rejected_record_shows_the_servers_reasons_and_is_fixed_and_resent(
    live_app: tuple[kivy_driver.Driver, LiveServer, Any],
) -> None:
    from tests.field_app.test_backend import filled_form

    driver, server, session = live_app
    enrol_through_the_screen(driver, server)
    # The form refuses a date before the project's start, so the record is written through
    # the store, as an older app version might have: the server refuses it with its reasons.
    form = filled_form(session, server.project_id)
    session.backend.store.save(
        "activity", {**form.wire(), "start_date": "2023-06-01", "end_date": "2023-06-01"}
    )
    sync_through_the_app(driver, session)
    record = session.backend.activity(form.id)
    assert record.state == "rejected" and record.errors
    # The sync log says so: the change went, and the server refused it.
    [last] = session.backend.log(1)
    assert last.ok and last.refused == 1
    assert "Of them, 1 refused by the server" in log_line(last, datetime.now(UTC))[1]

    attention = open_attention(driver)
    assert attention.state_name == "rejected"
    assert attention.reason == "The server refused the last change. Correct it and save again."
    assert attention.errors and all(": " in e for e in attention.errors)
    assert any(e.startswith("Start date: ") for e in attention.errors), attention.errors
    error = next(e for e in record.errors if e["field"] == "start_date")
    # The reason chosen by the server's error code, in the app's language (not its English).
    assert f"Start date: {EXPLANATIONS[ErrorCode(error['code'])]}" in attention.errors
    assert not any("start_date" in e for e in attention.errors)
    driver.screenshot(SHOTS / "live-attention-rejected.png")
    driver.app.set_language("fr")  # French puts a space before the colon
    attention = open_attention(driver)
    assert any(e.startswith("Date de début\u00a0: ") for e in attention.errors), attention.errors
    driver.app.set_language("en")
    attention = open_attention(driver)
    driver.tap(attention.ids.edit_button)

    form_screen = on_screen(driver, "form")
    assert form_screen.banner == "The server refused this record. Correct it and save again."
    assert form_screen.errors["start_date"]  # next to the field
    # The project's first day: the calendars open at 2023-06-01, seven pages from it (today
    # was some forty pages away for each of the two dates, most of this test's time).
    fixed = date(2024, 1, 1)
    driver.pick_date(form_screen._inputs["start_date"], fixed)
    driver.pick_date(form_screen._inputs["end_date"], fixed)
    assert "start_date" not in form_screen.errors
    driver.tap(form_screen.ids.save_top)
    on_screen(driver, "activities")
    assert session.backend.activity(form.id).state == "pending"

    sync_through_the_app(driver, session)

    record = session.backend.activity(form.id)
    assert record.state == "synced" and record.errors == []
    on_server = server.activity(form.id)
    assert on_server["start_date"] == fixed.isoformat() and on_server["status"] == "submitted"
    open_home(driver)


# -- a saved photo's caption, in the form ------------------------------------------------------


def offline_store_session(tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    """A tablet with the real store holding one project (pulled earlier), not enrolled (so
    no sync thread runs)."""
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession
    from sync.protocol import Change, Op

    data_dir = tmp_path / "tablet"
    backend = StoreBackend(data_dir, schedule_options=QUIET)
    project = {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-01",
        "name": "Potato value chain",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "solutions": ["S1", "S2"],
        "start_date": "2024-01-01",
        "end_date": f"{date.today().year + 1}-12-31",
        "roster": False,
    }
    backend.store.apply_pull(
        [Change(entity="project", id=project["id"], op=Op.UPSERT, version=1, data=project)], "c1"
    )
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    return session, project


def test_the_caption_of_a_saved_photo_is_edited_in_the_form(
    kivy_window: None, tmp_path: Path
) -> None:
    from dataclasses import replace

    from field_app.photos import downscale
    from tests.field_app.test_backend import filled_form
    from tests.field_app.test_responsiveness import two_colour_png

    session, project = offline_store_session(tmp_path)
    source = tmp_path / "shed.png"
    two_colour_png(source, 300, 200)
    form = filled_form(session, project["id"])
    photo = replace(downscale(source, session.photos_dir), caption="Storage shed")
    form.add_photo(photo)
    session.save(form)
    store = session.backend.store
    before = store.pending_count()
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", activity_id=form.id)
        screen = on_screen(driver, "form")
        thumb = screen.ids.photo_strip.children[0]
        assert thumb.ids.caption.text == "Storage shed" and not thumb.ids.caption.disabled
        driver.type(thumb.ids.caption, "Storage shed, north side")
        driver.tap(screen.ids.save_top)
        on_screen(driver, "activities")
        [mutation] = store.pending()[before:]
        assert (mutation.entity, str(mutation.id)) == ("attachment", photo.id)
        assert mutation.data == {"caption": "Storage shed, north side"} or (
            mutation.base_version == 0
            and mutation.data is not None
            and mutation.data["caption"] == "Storage shed, north side"
        )
        assert [p.caption for p in session.photos_of(form.id)] == ["Storage shed, north side"]


# -- searching 10 000 activities by site and by type ---------------------------------------------


def test_search_finds_site_names_and_translated_types_among_ten_thousand_off_the_ui_thread(
    kivy_window: None, tmp_path: Path
) -> None:
    import threading

    from field_app import i18n
    from field_app.controllers.activities import ALL, ActivityList
    from sync.protocol import Change, Op
    from tests.field_app.fakes import activity

    session, project = offline_store_session(tmp_path)
    sites = [
        {
            "id": str(uuid.uuid4()),
            "project_id": project["id"],
            "name": name,
            "admin_area": "",
            "lat": None,
            "lon": None,
        }
        for name in ("Ha Mokhalinyane", "Roma valley")
    ]
    records = [
        activity(
            project,
            title=f"Visit {i}",
            site=sites[0 if i % 10 == 0 else 1],
            type="farmer_training" if i % 4 == 0 else "demonstration",
            start=date(2025, 1, 1) + timedelta(days=i % 300),
            version=1,
        )
        for i in range(10_000)
    ]
    changes = [Change(entity="site", id=s["id"], op=Op.UPSERT, version=1, data=s) for s in sites]
    changes += [
        Change(entity="activity", id=r["id"], op=Op.UPSERT, version=1, data=r) for r in records
    ]
    session.backend.store.apply_pull(changes, "c2")
    main = threading.current_thread()
    threads: list[bool] = []
    matching = ActivityList.matching

    def spy(listing: ActivityList, state: str, query: str) -> Any:
        threads.append(threading.current_thread() is main)
        return matching(listing, state, query)

    def search(screen: Any, text: str) -> str:
        driver.type(screen.ids.search, text)  # key by key, faster than the debounce
        driver.wait_until(
            lambda: screen.applied_query == (ALL, text) and not screen.searching,
            timeout=60,
            what=f"the result for {text!r}",
        )
        return str(screen.shown)

    ActivityList.matching = spy  # type: ignore[method-assign, assignment]
    try:
        with kivy_driver.running(make_app(session)) as driver:
            screen = driver.app.show("activities", project_id=project["id"])
            driver.wait_until(
                lambda: not screen.loading and screen.shown == "10000",
                timeout=60,
                what="the list of 10 000",
            )
            assert search(screen, "Mokhalinyane") == "1000"  # the site's name
            assert all(r["subtitle"].endswith("· Ha Mokhalinyane") for r in screen.ids.rows.data)
            assert search(screen, "farmer training") == "2500"  # the type's label
            assert search(screen, "formation") == "0"  # a label of another language
            driver.app.set_language("fr")
            driver.wait_until(
                lambda: (
                    not screen.loading
                    and screen.list.query == "formation"
                    and screen.shown == "2500"
                    and not screen.searching
                ),
                timeout=60,
                what="the list again, in French",
            )
            assert search(screen, "mokhalinyane formation") == "500"  # i % 20 == 0
            assert all("Formation d’agriculteurs" in r["subtitle"] for r in screen.ids.rows.data)
            driver.app.set_language("en")
            driver.wait_until(
                lambda: (
                    not screen.loading
                    and not screen.searching
                    and screen.list.query == "mokhalinyane formation"
                    and screen.shown == "0"
                ),
                timeout=60,  # no "formation"
                what="the list again, in English",
            )
    finally:
        ActivityList.matching = matching  # type: ignore[method-assign]
        i18n.set_language("en")
    # Every search ran on a worker thread, never on the UI thread.
    assert threads and not any(threads)


# -- the tablet in the field: status, chooser, attendance, dates, coordinates, titles -----------

DETAILS = ROOT / "artifacts" / "field-details"
ORIENTATIONS = ((1280, 800, "landscape"), (800, 1280, "portrait"))


def popup_of(driver: kivy_driver.Driver, kind: type) -> Any:
    driver.step(3)
    found = [w for w in driver.window.children if isinstance(w, kind)]
    assert found, f"no {kind.__name__} open"
    return found[0]


def shot_with_popup(driver: kivy_driver.Driver, popup: Any, path: Path) -> None:
    """The window as the user sees it, the popup over the screen: both canvases drawn into one
    image, as ``export_to_png`` draws one widget (the window's own read-back is unreliable
    after an offscreen resize); when screenshots are wanted (``tests.screenshots``)."""
    from kivy.graphics import ClearBuffers, ClearColor, Fbo

    driver.step(3)
    if not screenshots.WANTED:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    window = driver.window
    fbo = Fbo(size=window.size, with_stencilbuffer=True)
    with fbo:
        ClearColor(1, 1, 1, 1)
        ClearBuffers()
    moved = []
    for widget in (driver.app.root, popup):
        index = window.canvas.indexof(widget.canvas)
        window.canvas.remove(widget.canvas)
        fbo.add(widget.canvas)
        moved.append((widget, index))
    try:
        fbo.draw()
        fbo.texture.save(str(path), flipped=True)
    finally:
        for widget, index in moved:
            fbo.remove(widget.canvas)
            window.canvas.insert(index, widget.canvas)


def test_the_sync_bar_shows_what_waits_and_the_upload_going_now(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.controllers.status import UploadNow

    session, backend, _project = demo_session(tmp_path)
    backend.last_error = None
    backend.photos_waiting, backend.photo_bytes = 3, 910_000
    backend.upload = UploadNow("p1", sent=131_072, size=305_000)
    backend.running = True
    with kivy_driver.running(make_app(session)) as driver:
        for width, height, name in ORIENTATIONS:
            driver.resize(width, height)
            driver.app.home()
            home = on_screen(driver, "home")
            bar = home.ids.sync_bar
            driver.app.status_changed()  # as the sync thread's report does
            driver.wait_until(
                lambda: bar.progress > 0 and bar.ids.sync_button.disabled,  # noqa: B023
                what="the upload's progress",
            )
            assert bar.headline.startswith("Waiting to be sent: 2 records, 3 photos (779 KB left)")
            assert bar.detail.startswith("Sending a photo: 131 KB of 305 KB (42\u00a0%)")
            assert bar.ids.upload_bar.height > 0 and bar.progress == pytest.approx(0.42)
            assert bar.ids.sync_button.disabled and bar.ids.sync_button.text == "Syncing…"
            driver.screenshot(DETAILS / f"status-uploading-{name}.png")
        # The upload ends, the photos are in; the records still wait: not "Everything is sent".
        backend.photos_waiting, backend.photo_bytes, backend.upload = 0, 0, None
        backend.running = False
        driver.app.status_changed()
        driver.wait_until(
            lambda: not home.ids.sync_bar.ids.sync_button.disabled, what="the round's end"
        )
        assert home.ids.sync_bar.headline.startswith("Waiting to be sent: 2 records")
        assert home.ids.sync_bar.ids.upload_bar.height == 0
        driver.resize(1280, 800)


def test_no_press_sync_now_while_the_button_is_disabled(kivy_window: None, tmp_path: Path) -> None:
    from field_app.device import Device
    from field_app.session import FieldSession

    backend = MemoryBackend()
    backend.enrol_as("amina")
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    with kivy_driver.running(make_app(session)) as driver:
        home = on_screen(driver, "home")
        assert home.empty
        hint = driver.find(
            home, lambda w: "No projects on this tablet yet" in str(getattr(w, "text", ""))
        )
        assert "Press Sync now" in hint.text and not home.ids.sync_bar.ids.sync_button.disabled
        driver.app.sync_running = True
        driver.step(2)
        assert home.ids.sync_bar.ids.sync_button.disabled
        assert "Press Sync now" not in hint.text and "Receiving your projects" in hint.text


def test_the_photo_chooser_is_large_light_and_opens_at_the_pictures_folder(
    kivy_window: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from field_app.screens.form import ChooserRow, PhotoChooser
    from field_app.screens.theme import PAPER, TOUCH
    from tests.field_app.test_responsiveness import two_colour_png

    pictures = tmp_path / "home" / "Pictures"
    (pictures / "2025-03 field day").mkdir(parents=True)
    for n in range(3):
        two_colour_png(pictures / f"plot-{n}.png", 640, 480)
    (pictures / "report.txt").write_text("not a photo", encoding="utf-8")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_PICTURES_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        for width, height, name in ORIENTATIONS:
            driver.resize(width, height)
            driver.app.show("form", project_id=project["id"])
            form = on_screen(driver, "form")
            driver.tap(form.ids.choose_photo)
            chooser = popup_of(driver, PhotoChooser)
            assert chooser.folder == str(pictures)  # not $HOME
            content = chooser.content.children[::-1]
            assert content[0] == chooser.ids.camera  # "Take a photo" comes first
            assert chooser.ids.camera.text == "No camera here"  # a computer has none
            assert tuple(chooser.background_color) == PAPER  # light, not Kivy's dark grey
            names = [row["name"] for row in chooser.ids.entries.data]
            assert names == ["2025-03 field day", "plot-0.png", "plot-1.png", "plot-2.png"]
            driver.step(3)
            rows = [w for w in chooser.walk() if isinstance(w, ChooserRow) and w.name]
            assert rows and all(r.height >= TOUCH for r in rows)  # not Kivy's 24 px rows
            shot_with_popup(driver, chooser, DETAILS / f"chooser-{name}.png")
            plot = next(r for r in rows if r.name == "plot-1.png")
            driver.tap(plot)
            assert chooser.selected == str(pictures / "plot-1.png")
            assert not chooser.ids.use.disabled
            driver.tap(chooser.ids.use)
            driver.wait_until(lambda: len(form.photos) == 1, what="the chosen photo")  # noqa: B023
            assert form.photos[0]["source"] != str(pictures / "plot-1.png")  # a downscaled copy
            assert (pictures / "plot-1.png").exists()  # the user's own file stays
            form._dirty = False
        driver.resize(1280, 800)


def test_switching_category_starts_without_a_disability_and_every_chip_counts(
    kivy_window: None, tmp_path: Path
) -> None:
    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        for width, height, name in ORIENTATIONS:
            driver.resize(width, height)
            driver.app.show("form", project_id=project["id"])
            form = on_screen(driver, "form")
            driver.type(form._cells[("female", "adult")], "12")
            driver.tap(form.ids.disability_yes)
            assert form.grid_caption == "Counting: Farmers with a disability"
            driver.type(form._cells[("male", "youth")], "2")
            assert form.ids.cat_farmer.text == "Farmers 14"
            assert form.ids.disability_yes.text == "With a disability 2"
            driver.tap(form.ids.cat_technician)
            # The finding: "With a disability" stayed chosen, so technicians were recorded as
            # disabled. Another category starts without.
            assert not form.disability and form.ids.disability_no.state == "down"
            assert form.ids.grid_caption.text == "Counting: Technicians without a disability"
            driver.type(form._cells[("male", "adult")], "3")
            rows = form.form.attendance.rows()
            technicians = [r for r in rows if r["category"] == "technician"]
            assert technicians == [
                {
                    "sex": "male",
                    "age_band": "adult",
                    "category": "technician",
                    "disability": False,
                    "count": 3,
                }
            ]
            assert form.ids.cat_technician.text == "Technicians 3"
            assert form.ids.disability_no.text == "Without a disability 3"
            assert form.ids.disability_yes.text == "With a disability 0"
            assert form.ids.cat_official.text == "Officials 0"
            form.ids.scroll.scroll_to(form.ids.grid_caption, padding=160, animate=False)
            driver.screenshot(DETAILS / f"attendance-after-switching-{name}.png")
            form._dirty = False
        driver.resize(1280, 800)


def test_dates_are_chosen_on_a_calendar_starting_monday_in_the_users_language(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.screens.widgets import DateField, DatePicker, DayButton

    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        for width, height, name in ORIENTATIONS:
            driver.resize(width, height)
            driver.app.show("form", project_id=project["id"])
            form = on_screen(driver, "form")
            start = form._inputs["start_date"]
            assert isinstance(start, DateField)
            today = session.today()
            assert start.value == today.isoformat()  # a new activity starts today
            driver.tap(start)
            picker = popup_of(driver, DatePicker)
            assert picker.weekdays[0] == "Mon" and picker.weekdays[6] == "Sun"
            days = [w for w in picker.ids.days.children[::-1] if isinstance(w, DayButton)]
            first = next(i for i, d in enumerate(days) if d.day is not None)
            assert first == days[first].day.weekday()  # column = weekday, Monday first
            assert all(d.disabled for d in days if d.day is not None and d.day > today)
            shot_with_popup(driver, picker, DETAILS / f"date-picker-{name}.png")
            driver.tap(picker.ids.previous)
            earlier = next(d for d in picker.ids.days.children if d.day and d.day.day == 10)
            driver.tap(earlier)
            assert start.value == earlier.day.isoformat()
            assert form.form.text("start_date") == earlier.day.isoformat()
            assert start.text.startswith("10 ") and str(earlier.day.year) in start.text
            form._dirty = False
        driver.resize(1280, 800)
        driver.app.set_language("fr")
        try:
            driver.app.show("form", project_id=project["id"])
            form = on_screen(driver, "form")
            driver.tap(form._inputs["end_date"])
            picker = popup_of(driver, DatePicker)
            months = "janvier février mars avril mai juin juillet août septembre octobre"
            months += " novembre décembre"
            assert picker.heading.split()[0] in months.split()
            assert picker.weekdays[0] == "lun."
            shot_with_popup(driver, picker, DETAILS / "date-picker-french-landscape.png")
            picker.dismiss()
            form._dirty = False
        finally:
            driver.app.set_language("en")


@pytest.mark.parametrize("server_ahead", [timedelta(days=3), -timedelta(days=3)])
def test_the_calendar_marks_and_chooses_the_servers_today_when_the_tablets_clock_is_off(
    kivy_window: None, tmp_path: Path, server_ahead: timedelta
) -> None:
    # A tablet whose clock was 3 days off marked its own day as today on the calendar, and its
    # Today button chose that day (or, the tablet ahead, stayed disabled: after the latest day
    # a form takes), while the form started on the server's day.
    from field_app.screens.widgets import DatePicker, DayButton

    session, backend, project = demo_session(tmp_path)
    backend.offset = server_ahead
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        start = form._inputs["start_date"]
        today = session.today()
        assert today != date.today() and start.value == today.isoformat()
        start.value = (today - timedelta(days=40)).isoformat()
        driver.tap(start)
        picker = popup_of(driver, DatePicker)
        driver.tap(picker.ids.today)
        assert start.value == today.isoformat()
        driver.tap(start)
        picker = popup_of(driver, DatePicker)
        marked = [d.day for d in picker.ids.days.children if isinstance(d, DayButton) and d.today]
        assert marked == [today]
        picker.dismiss()
        form._dirty = False


def test_coordinates_take_a_minus_and_a_decimal_from_the_full_keyboard(
    kivy_window: None, tmp_path: Path
) -> None:
    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        lat, lon = form._inputs["lat"], form._inputs["lon"]
        # Not Android's number keyboard, which may have neither key.
        assert lat.input_type == lon.input_type == "text"
        driver.type(lat, "-29,4012")
        driver.type(lon, "27.7123E")
        assert (lat.text, lon.text) == ("-29.4012", "27.7123")
        wire = form.form.wire()
        assert wire["location"]["lat"] == pytest.approx(-29.4012)
        assert wire["location"]["lon"] == pytest.approx(27.7123)
        form._dirty = False


def test_needs_attention_tells_records_of_the_same_title_apart(
    kivy_window: None, tmp_path: Path
) -> None:
    session, backend, _project = demo_session(tmp_path)
    long_title = (
        "Seed potato storage demonstration with the women's group of the Roma valley "
        "cooperative, second session"
    )
    for record in backend.attention():
        record.data["title"] = long_title
    with kivy_driver.running(make_app(session)) as driver:
        for width, height, name in ORIENTATIONS:
            driver.resize(width, height)
            driver.app.show("attention")
            attention = on_screen(driver, "attention")
            data = attention.ids.rows.data
            assert len(data) >= 4
            # Same titles: the subtitles carry what differs, the date and the site.
            assert len({row["subtitle"] for row in data}) == len(data)
            assert all(row["subtitle"].endswith(" · Ha Mokhalinyane") for row in data)
            driver.step(3)
            row = next(w for w in attention.ids.rows.children[0].children if w.title)
            title, subtitle = row.ids.title, row.ids.subtitle
            one_line = title._label.get_extents("Xg")[1]
            # Two lines, not one cut short with "…"; and the subtitle whole.
            assert not title.shorten and title.texture_size[1] >= 1.8 * one_line
            assert not subtitle.shorten and "Demonstration" in subtitle.text
            assert row.height >= title.height + subtitle.height
            driver.screenshot(DETAILS / f"attention-titles-{name}.png")
        driver.resize(1280, 800)


def test_the_enrolment_code_placeholder_has_the_real_format(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.device import Device
    from field_app.session import FieldSession

    session = FieldSession(backend=MemoryBackend(), device=Device(), data_dir=tmp_path / "tablet")
    with kivy_driver.running(make_app(session)) as driver:
        enrol = on_screen(driver, "enrol")
        assert enrol.ids.code.hint_text == "GBS27-41D5X"


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_the_home_bar_buttons_show_their_whole_label(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # With 13 records to fix, the portrait home bar showed "Attention (..." (the count cut off),
    # and French showed "Param...": the buttons had fixed widths.
    session, _backend, _project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        for width, height in ((800, 1280), (1280, 800), (600, 960)):
            driver.resize(width, height)
            driver.app.home()
            home = on_screen(driver, "home")
            home.attention = 13
            driver.step(4)
            for button in (home.ids.attention_button, home.ids.settings_button):
                assert not button.is_shortened, (width, button.text)
            assert "13" in home.ids.attention_button.text
            assert home.ids.settings_button.right <= width
            driver.screenshot(SHOTS / f"home-bar-{language}-{width}x{height}.png")
        driver.app.set_language("en")
        driver.resize(1280, 800)


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_the_sync_bar_says_why_the_last_sync_failed_in_full(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # Offline in portrait, the bar read "La dernière synchronisation a échoué : le s... arrêté).
    # La tablette réessaie d’elle-même.": the reason itself was cut out of the middle.
    session, backend, _project = demo_session(tmp_path)
    backend.error_cause, backend.last_error = "unreachable", "connection refused"
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        for width, height, name in (*ORIENTATIONS, (600, 960, "small")):
            driver.resize(width, height)
            driver.app.home()
            home = on_screen(driver, "home")
            bar = home.ids.sync_bar
            driver.app.status_changed()
            driver.wait_until(lambda: bar.error, what="the failure in the sync bar")  # noqa: B023
            driver.step(4)
            label = bar.ids.error_label
            assert label.text == bar.error and not label.is_shortened, (name, label.text)
            assert label.y >= bar.y and label.top <= bar.top, name  # inside the bar
            driver.screenshot(DETAILS / f"status-failed-{language}-{name}.png")
        driver.app.set_language("en")
        driver.resize(1280, 800)


def test_a_project_taken_away_while_its_list_is_open_leaves_for_home(
    kivy_window: None, tmp_path: Path
) -> None:
    # A pull that starts again without the project (its person lost it) makes the store forget
    # it (docs/protocol.md#pull): its list, open at that moment, goes home, where it is gone.
    session, project = offline_store_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("activities", project_id=project["id"])
        screen = on_screen(driver, "activities")
        session.backend.store.apply_pull([], "c2", projects=[])
        screen.refresh()
        home = on_screen(driver, "home")
        assert home.cards == []
