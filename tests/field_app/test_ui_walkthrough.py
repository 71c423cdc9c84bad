"""What a field expert met walking through the app for a month (enrol, record, sync, in four
languages, at phone and tablet size), each pinned by a test through the real screens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.field_app import kivy_driver
from tests.field_app.conftest import LiveServer
from tests.field_app.fakes import MemoryBackend
from tests.field_app.test_ui import (  # noqa: F401 (live_app is a fixture)
    assert_field_labels_whole,
    demo_session,
    enrol_through_the_screen,
    live_app,
    make_app,
    on_screen,
    settled,
)

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "field" / "walkthrough"


def unenrolled(tmp_path: Path) -> Any:
    """A tablet as installed: nothing enrolled yet (its settings kept in ``tmp_path``)."""
    from field_app.device import Device
    from field_app.session import FieldSession

    return FieldSession(backend=MemoryBackend(), device=Device(), data_dir=tmp_path / "tablet")


@pytest.mark.parametrize("size", [(1280, 800), (400, 780)])
def test_after_enrol_with_empty_boxes_every_box_still_takes_a_touch(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    # Enrol pressed with both boxes empty showed the two errors; touching the code box then
    # did nothing: the hidden password box (height 0, disabled) lay over it and ate the touch.
    session = unenrolled(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.resize(*size)
        enrol = on_screen(driver, "enrol")
        driver.tap(enrol.ids.enrol_button)
        assert set(enrol.errors) == {"server", "code"}
        driver.type(enrol.ids.server, "http://127.0.0.1:9")
        driver.type(enrol.ids.code, "GBS27-41D5X")  # asserts the box took the focus
        assert enrol.ids.code.text == "GBS27-41D5X"
        driver.tap(enrol.ids.chip_password)
        driver.tap(enrol.ids.enrol_button)
        assert set(enrol.errors) == {"username", "password"}
        driver.type(enrol.ids.username, "amina")
        driver.type(enrol.ids.password, "secret")
        assert enrol.ids.username.text == "amina" and enrol.ids.password.text == "secret"
        driver.screenshot(SHOTS / f"enrol-after-errors-{size[0]}x{size[1]}.png")
        # On a phone the keyboard covers the lower half of the screen: the window pans to keep
        # the focused box above it (Kivy's default leaves the box under the keyboard).
        assert driver.window.softinput_mode == "below_target"
        driver.resize(1280, 800)


PHONE = (400, 780)  # a phone held upright (e.g. 412 dp wide)
SIZES = ((1280, 800), (800, 1280), PHONE)
SMALL_PHONE = (360, 640)  # the smallest phone held upright (360×640 dp)
PHONE_SIDEWAYS = (640, 360)  # the same phone held sideways


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_home_shows_the_card_buttons_and_the_sync_bar_whole_on_a_phone(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # On a phone in Portuguese the card's buttons read "Ativi...", "Medi...", "+ No..." and
    # the sync bar "Tudo foi e...a atenção": what waits to be sent was cut out of the middle.
    # In French even a landscape tablet showed "+ Nouvelle acti...". On the smallest phone the
    # bar's lines stood in a column beside Sync now, "enregistreme / nts" cut mid-word.
    from field_app.controllers.status import SyncStatus

    session, backend, _project = demo_session(tmp_path)
    backend.photos_waiting, backend.photo_bytes = 3, 4_200_000
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        for width, height in (*SIZES, SMALL_PHONE, PHONE_SIDEWAYS):
            home, bar = home_sync_bar(
                driver, (width, height), lambda bar: "3" in bar.headline, "the photos in the bar"
            )
            cards = [w for w in home.walk(restrict=True) if type(w).__name__ == "ProjectCardView"]
            assert cards
            projects = home.ids.projects
            for card in cards:
                # The projects' box kept a card's first height: the cards' lower half (their
                # buttons) hung out of the scrolled area, and sideways under the custody line.
                assert card.y >= projects.y and card.top <= projects.top, (language, width)
                if (width, height) == PHONE_SIDEWAYS:  # the custody line scrolls with them
                    assert apart(card, home.ids.custody), (language, width)
                buttons = [w for w in card.walk(restrict=True) if type(w).__name__ == "PMButton"]
                assert len(buttons) == 3
                for button in buttons:
                    assert not button.is_shortened, (language, width, button.text)
                    assert card.x <= button.x and button.right <= card.right
            labels = [
                w
                for w in bar.walk(restrict=True)
                if getattr(w, "text", "") in (bar.headline, bar.detail)
            ]
            assert len(labels) == 2
            sync_button = bar.ids.sync_button
            if (width, height) == PHONE_SIDEWAYS:
                # Held sideways, in French and Portuguese, the bar's lines wrapped whole took
                # 150 of the 360 px. It keeps each on one line (cut with "…"), a quarter of the
                # screen at most; a touch shows them whole (checked below), another folds them.
                assert_sync_bar_compact(driver, bar, (language, width))
                driver.screenshot(SHOTS / f"home-{language}-{width}x{height}-compact.png")
                driver.tap(bar.ids.headline_label)
                driver.step(3)
                assert bar.expanded and not bar.compact, language
            for label in labels:
                assert not label.is_shortened, (language, width, label.text)
                assert label.y >= bar.y and label.top <= bar.top, (language, width, label.text)
                assert_words_whole(label, (language, width))
                assert apart(label, sync_button), (language, width, label.text)
            assert sync_button.right <= width
            assert not sync_button.is_shortened
            assert isinstance(driver.app.sync_status, SyncStatus)
            # Held sideways, the custody line fixed above the sync bar left the projects a
            # strip of 100 px: it scrolls with them, and they keep half the screen.
            if (width, height) == PHONE_SIDEWAYS:
                # Held sideways, the custody line fixed above the sync bar left the projects a
                # strip of 60 to 80 px (a card's title cut in half): it scrolls under them.
                assert home.ids.scroll.height >= 2 * 56, (language, home.ids.scroll.height)
                assert home.ids.custody.parent is home.ids.scrolled.__self__, language
            driver.screenshot(SHOTS / f"home-{language}-{width}x{height}.png")
            if (width, height) == PHONE_SIDEWAYS:
                driver.tap(bar.ids.headline_label)
                driver.step(3)
                assert_sync_bar_compact(driver, bar, (language, width))
        driver.app.set_language("en")
        driver.resize(1280, 800)


def home_sync_bar(
    driver: kivy_driver.Driver, size: tuple[int, int], ready: Callable[[Any], bool], what: str
) -> tuple[Any, Any]:
    """The home screen at ``size`` and its sync bar, once ``ready(bar)`` and laid out."""
    driver.resize(*size)
    driver.app.home()
    home = on_screen(driver, "home")
    driver.app.status_changed()
    bar = home.ids.sync_bar
    driver.wait_until(lambda: ready(bar), what=what)
    driver.step(4)
    return home, bar


def assert_sync_bar_compact(driver: kivy_driver.Driver, bar: Any, where: tuple[Any, ...]) -> None:
    """The sync bar of a phone held sideways: every line on one line, its beginning shown (the
    counts), Sync now whole beside them, the bar a quarter of the screen high at most."""
    assert bar.height <= driver.window.height / 4, (*where, bar.height)
    assert bar.compact and not bar.stacked, where
    for label in (bar.ids.headline_label, bar.ids.detail_label, bar.ids.error_label):
        assert label.text, where  # the demo's bar has its three lines
        lines = drawn_lines(label)
        assert len(lines) == 1, (*where, lines)
        shown = lines[0].rstrip("…").split()
        assert shown and label.text.split()[: len(shown) - 1] == shown[:-1], (*where, lines)
        assert label.y >= bar.y and label.top <= bar.top, (*where, label.text)
        assert apart(label, bar.ids.sync_button), (*where, label.text)
    assert not bar.ids.sync_button.is_shortened, where


@pytest.mark.parametrize("tablet_ahead", [timedelta(days=3), -timedelta(hours=5)])
def test_the_last_sync_is_timed_on_the_servers_clock_when_the_tablets_is_off(
    kivy_window: None, tmp_path: Path, tablet_ahead: timedelta
) -> None:
    # A tablet whose clock ran 3 days fast said "Last successful sync: 3 days ago" right after
    # a sync (the server's time of the sync against the tablet's clock); one 5 hours slow
    # said "just now" for 5 hours.
    session, backend, _project = demo_session(tmp_path)
    backend.offset = -tablet_ahead
    backend.last_success = datetime.now(UTC) - tablet_ahead - timedelta(minutes=20)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.home()
        home = on_screen(driver, "home")
        driver.app.status_changed()
        bar = home.ids.sync_bar
        driver.wait_until(lambda: bar.detail, what="the last sync in the bar")
        assert bar.detail == "Last successful sync: 20 minutes ago"


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_a_wrong_date_is_said_whole_on_the_sync_bar_before_a_failed_sync(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # A tablet a year ahead synced, and nothing on it said its date was wrong: its records'
    # captured_at were a year off and the server refused its status (oldest_pending in the
    # future) while the office's fleet view went stale.
    session, backend, _project = demo_session(tmp_path)
    backend.offset = -timedelta(days=365)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        for width, height in (PHONE, SMALL_PHONE, (1280, 800)):
            _home, bar = home_sync_bar(
                driver, (width, height), lambda bar: "365" in bar.error, "the wrong date"
            )
            label = bar.ids.error_label
            wrong, failed = label.text.split("\n")
            assert "365" in wrong and failed, (language, label.text)
            assert bar.tone == "error"
            assert not label.is_shortened, (language, width)
            assert label.y >= bar.y and label.top <= bar.top, (language, width)
            assert_words_whole(label, (language, width))
            assert apart(label, bar.ids.sync_button), (language, width)
            driver.screenshot(SHOTS / f"home-wrong-date-{language}-{width}x{height}.png")
        # Held sideways the bar is compact: one line each, the wrong date's beginning shown.
        driver.resize(*PHONE_SIDEWAYS)
        driver.step(4)
        assert_sync_bar_compact(driver, bar, (language, "sideways"))
        assert drawn_lines(bar.ids.error_label)[0].startswith(wrong.split()[0]), language
        driver.screenshot(SHOTS / f"home-wrong-date-{language}-sideways.png")
        driver.app.set_language("en")
        driver.resize(1280, 800)


def drawn_lines(label: Any) -> list[str]:
    """The lines the label draws (Kivy's layout of its texture)."""
    label.texture_update()
    return [" ".join(word.text for word in line.words) for line in label._label._cached_lines]


def assert_words_whole(label: Any, where: tuple[Any, ...]) -> None:
    """The label's text is drawn inside its width, every word whole on its line (Kivy cuts
    a word wider than the label in the middle: "enregistreme" / "nts")."""
    lines = drawn_lines(label)
    assert label.texture_size[0] <= label.width + 1, (*where, label.text)
    assert " ".join(lines).split() == label.text.split(), (*where, lines)


def window_box(widget: Any) -> tuple[float, float, float, float]:
    left, bottom = widget.to_window(widget.x, widget.y)
    right, top = widget.to_window(widget.right, widget.top)
    return left, bottom, right, top


def apart(one: Any, other: Any) -> bool:
    """The two widgets do not overlap on the window."""
    left, bottom, right, top = window_box(one)
    o_left, o_bottom, o_right, o_top = window_box(other)
    return right <= o_left or left >= o_right or bottom >= o_top or top <= o_bottom


def first_line(label: Any) -> str:
    lines = drawn_lines(label)
    return lines[0] if lines else ""


@pytest.mark.parametrize("size", [(1280, 800), PHONE])
def test_list_rows_keep_the_beginning_of_their_lines_on_a_phone(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    # On a phone the activity list showed "Nkhata Bay banana nursery" under a title, not
    # "2026-10-02 · Field day · Nkhata Bay banana nursery": a two-line label kept its last
    # lines and dropped the date and type. Needs attention showed "of de-suckering and plant
    # spacing" for "On-farm demonstration of de-suckering and plant spacing".
    from kivy.uix.label import Label

    session, backend, project = demo_session(tmp_path)
    long_site = "Ha Mokhalinyane farmers' field school and seed potato store, Roma valley"
    for record in backend.records.values():
        record.data["title"] = (
            "On-farm demonstration of de-suckering, plant spacing and intercropping with "
            "legumes for the women's group of the cooperative"
        )
    backend._sites[0]["name"] = long_site
    with kivy_driver.running(make_app(session)) as driver:
        driver.resize(*size)
        driver.app.show("activities", project_id=project["id"])
        activities = on_screen(driver, "activities")
        driver.step(3)
        rows = [r for r in activities.ids.rows.children[0].children if r.title]
        assert rows
        for row in rows:
            drawn = [drawn_lines(w) for w in row.walk(restrict=True) if isinstance(w, Label)]
            lines = [line for label in drawn for line in label]
            # The date (first on its line, in words: "2 October 2026"), then the figures:
            # each still on screen.
            day = row.subtitle.split(" · ")[0]
            assert "-" not in day and day.split()[1].isalpha(), day
            assert any(line.startswith(day) for line in lines), (day, lines)
            assert any("participants" in line for line in lines), lines
        driver.screenshot(SHOTS / f"activities-{size[0]}x{size[1]}.png")
        driver.app.show("attention")
        attention = on_screen(driver, "attention")
        driver.step(3)
        rows = [r for r in attention.ids.rows.children[0].children if r.title]
        assert rows
        for row in rows:
            assert first_line(row.ids.title).startswith("On-farm demonstration"), first_line(
                row.ids.title
            )
            day = row.subtitle.split(" · ")[0]
            assert first_line(row.ids.subtitle).split()[:2] == day.split()[:2], (
                first_line(row.ids.subtitle),
                day,
            )
        driver.screenshot(SHOTS / f"attention-{size[0]}x{size[1]}.png")
        driver.resize(1280, 800)


def assert_title_whole(screen: Any, where: tuple[Any, ...]) -> None:
    """The screen's title and subtitle (the project's code and name) are drawn whole
    (wrapped rather than cut, no word cut in the middle), inside their labels, and clear of
    the screen's own buttons in the bar."""
    bar = screen.ids.bar
    labels = [bar.ids.title] + ([bar.ids.subtitle] if bar.subtitle else [])
    for label in labels:
        label.texture_update()
        assert label.text and not label.is_shortened, (*where, label.text)
        width, height = label.texture_size
        assert width <= label.width + 1 and height <= label.height + 1, (*where, label.text)
        assert_words_whole(label, where)
        left, _bottom, right, _top = window_box(label)
        assert left >= 0 and right <= screen.width, (*where, label.text)
        for button in bar.actions.children:
            assert apart(label, button), (*where, label.text, button.text)
            b_left, _b_bottom, b_right, _b_top = window_box(button)
            assert b_left >= 0 and b_right <= screen.width, (*where, button.text)


def assert_roster_under_its_bar(roster: Any, where: tuple[Any, ...]) -> None:
    """Upright on a phone the register card (taller than the screen) lay over the app bar:
    it stays under the bar (scrolling in its own room), and the search, the list and the
    buttons under it stay on the screen."""
    bar_bottom = window_box(roster.ids.bar)[1]
    card = roster.ids.register_card
    for widget in (card.parent, card):
        assert window_box(widget)[3] <= bar_bottom + 1, (*where, type(widget).__name__)
    for widget in (roster.ids.search, roster.ids.rows, roster.ids.done_button):
        _left, bottom, _right, top = window_box(widget)
        assert bottom >= 0 and top <= bar_bottom + 1, (*where, type(widget).__name__)
    assert roster.ids.rows.height >= 2 * 56, where  # two rows of the list at least


def assert_roster_reads_whole(roster: Any, where: tuple[Any, ...]) -> None:
    """On a phone in French and Portuguese "Fill attendance from ticks" read "Remplir la
    p…", "Preencher …", and the rows' details "né(e) e…tion de handicap": the buttons'
    labels and every row's details are drawn whole (not shortened, inside their label, no
    word cut in the middle), the details with the year of birth and the disability."""
    for button in (roster.ids.fill_button, roster.ids.done_button):
        button.texture_update()
        assert not button.is_shortened, (*where, button.text)
        assert button.texture_size[1] <= button.height + 1, (*where, button.text)
        assert_words_whole(button, where)
        left, _bottom, right, _top = window_box(button)
        assert left >= 0 and right <= roster.width, (*where, button.text)
    rows = [r for r in roster.ids.rows.children[0].children if r.code]
    assert len(rows) >= 2, where  # the first (the longest details) among them
    for row in rows:
        details = row.ids.details
        details.texture_update()
        assert not details.is_shortened, (*where, details.text)
        assert details.texture_size[1] <= details.height + 1, (*where, details.text)
        assert_words_whole(details, where)
        assert details.y >= row.y and details.top <= row.top, (*where, details.text)
        code = row.ids.code  # above the details, whole (not squeezed out of the row)
        assert not code.is_shortened, (*where, code.text)
        assert_words_whole(code, where)
        assert code.height + 1 >= code._label.get_extents(code.text)[1], (*where, code.text)
        assert apart(details, code), (*where, details.text)


def assert_phone_sideways_fits(
    driver: kivy_driver.Driver, project: dict[str, Any], where: tuple[Any, ...]
) -> None:
    """A phone held sideways (640×360) had the tablet's landscape layouts: the roster's list
    less than a row high under its search and buttons, the register card a sliver whose code
    box was 20 px wide; Needs attention's list 40 % wide, its titles one letter a line ("S",
    "e"). The roster keeps two rows of its list, a usable code box and its buttons whole on
    the screen; Needs attention its titles' first words on their first line."""
    width, height = PHONE_SIDEWAYS
    driver.resize(width, height)
    driver.app.show("roster", project_id=project["id"], ticked=[])
    roster = on_screen(driver, "roster")
    driver.step(3)
    assert_roster_reads_whole(roster, where)
    assert roster.ids.rows.height >= 2 * 56, (*where, roster.ids.rows.height)
    assert roster.ids.code.width >= 120, (*where, roster.ids.code.width)
    bar_bottom = window_box(roster.ids.bar)[1]
    for widget in (roster.ids.search, roster.ids.fill_button, roster.ids.done_button):
        left, bottom, right, top = window_box(widget)
        assert left >= 0 and right <= width and bottom >= 0 and top <= bar_bottom + 1, (
            *where,
            getattr(widget, "text", "search"),
        )
    assert apart(roster.ids.rows, roster.ids.done_button), where
    if where[0] in ("fr", "pt"):
        driver.screenshot(SHOTS / f"roster-{where[0]}-{width}x{height}.png")
    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    driver.step(3)
    rows = [r for r in attention.ids.rows.children[0].children if r.title]
    assert rows, where
    for row in rows:
        assert first_line(row.ids.title).startswith("Seed potato storage"), (
            *where,
            first_line(row.ids.title),
        )
    if where[0] in ("fr", "pt"):
        driver.screenshot(SHOTS / f"attention-{where[0]}-{width}x{height}.png")


def assert_attendance_headings_whole(
    driver: kivy_driver.Driver, form: Any, where: tuple[Any, ...]
) -> None:
    """On the smallest phone the attendance grid's columns had 35 px: "You / th / 15–" for
    "Youth 15–35", "Ida / de / não" for "Idade não indicada", each word cut. Every heading
    is drawn whole in its cell (the grid scrolls sideways where the screen is narrower)."""
    grid = form.ids.attendance_box
    form.ids.scroll.scroll_to(grid, padding=60, animate=False)
    driver.step(3)
    headings = [w for w in grid.children if type(w).__name__ == "GridHeader" and w.text]
    assert len(headings) == 9, where  # five columns, three sexes and Total
    for heading in headings:
        heading.texture_update()
        assert heading.texture_size[1] <= heading.height + 1, (*where, heading.text)
        assert_words_whole(heading, where)
    if where[0] in ("fr", "pt"):
        driver.screenshot(SHOTS / f"attendance-{where[0]}-{where[1]}.png")


ROSTER = (  # the first rows' details, the longest: sex, year of birth, category, disability
    ("female", 1990, "technician", True),
    ("male", 2001, "farmer", False),
    ("unspecified", None, "official", True),
)


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_the_activity_list_bar_shows_new_activity_whole(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # Upright, the list's "+ New activity" had 170 px: "+ Nova ativid..." in Portuguese,
    # "+ Nouvelle activ..." in French, on a tablet as on a phone.
    # And on a phone the titles beside a screen's own buttons were cut: "Verifica..." for
    # "Verificação da preparação para desastres" beside Save, "Ativi..." beside "+ Nova
    # atividade", nothing at all of "Mes projets" beside "Attention (6)" and "Paramètres".
    from server.results.shipped import PREPAREDNESS_CHECK
    from tests.field_app.test_observations import form_wire

    session, backend, project = demo_session(tmp_path)
    backend.form_versions = [form_wire(PREPAREDNESS_CHECK)]  # the longest title
    form_id = backend.form_versions[0]["id"]
    for person, (sex, year, category, disability) in zip(
        backend._participants[:3], ROSTER, strict=True
    ):
        person.update(sex=sex, birth_year=year, category=category, disability=disability)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        for width, height in (*SIZES, SMALL_PHONE, PHONE_SIDEWAYS):
            if (width, height) == PHONE_SIDEWAYS:
                assert_phone_sideways_fits(driver, project, (language, width))
            if (width, height) in ((1280, 800), (800, 1280)):
                # On a tablet the roster is as it was: rows of one line's height, the buttons
                # side by side.
                driver.resize(width, height)
                driver.app.show("roster", project_id=project["id"], ticked=[])
                roster = on_screen(driver, "roster")
                driver.step(3)
                if language in ("fr", "pt"):
                    driver.screenshot(SHOTS / f"roster-{language}-{width}x{height}.png")
                assert_roster_reads_whole(roster, (language, width))
                assert not roster.buttons_stacked, (language, width)
                rows = [r for r in roster.ids.rows.children[0].children if r.code]
                assert {r.height for r in rows} == {roster.ids.rows.layout_manager.default_size[1]}
            if (width, height) == SMALL_PHONE:
                # The screens whose bar holds buttons beside the title, on the smallest phone
                # (the title beside them on two lines, and the buttons under it, both come up).
                for name, params in (
                    ("home", {}),
                    ("form", {"project_id": project["id"]}),
                    ("observation", {"project_id": project["id"], "form_id": form_id}),
                    ("roster", {"project_id": project["id"], "ticked": []}),
                ):
                    driver.resize(width, height)
                    driver.app.show(name, **params)
                    screen = on_screen(driver, name)
                    driver.step(3)
                    assert_title_whole(screen, (language, width, name))
                    if name == "roster":
                        assert_roster_under_its_bar(screen, (language, width))
                    if language in ("fr", "pt"):
                        driver.screenshot(SHOTS / f"title-{name}-{language}-{width}x{height}.png")
                    if name == "roster":
                        assert_roster_reads_whole(screen, (language, width))
                    if name == "form":
                        assert_attendance_headings_whole(driver, screen, (language, width))
            driver.resize(width, height)
            driver.app.show("activities", project_id=project["id"])
            activities = on_screen(driver, "activities")
            button = activities.ids.new_button
            driver.step(3)
            assert not button.is_shortened, (language, width, button.text)
            assert button.right <= width
            back = activities.ids.bar.ids.back
            assert not back.is_shortened and back.x >= 0, (language, width, back.text)
            assert_title_whole(activities, (language, width, "activities"))
            driver.screenshot(SHOTS / f"activities-bar-{language}-{width}x{height}.png")
        driver.app.set_language("en")
        driver.resize(1280, 800)


def test_an_activity_recorded_twice_is_deleted_on_the_tablet_and_the_server(
    live_app: tuple[kivy_driver.Driver, LiveServer, Any],  # noqa: F811 (the fixture)
) -> None:
    # An expert who saved the same training twice had no way to take one off: the form had
    # no Delete, so the duplicate stayed and counted in the indicators.
    driver, server, session = live_app
    home = enrol_through_the_screen(driver, server)
    for _ in range(2):
        driver.tap(driver.find_text(home, "+ New activity"))
        form = on_screen(driver, "form")
        driver.choose(form._inputs["type"], "Farmer training")
        driver.type(form._inputs["title"], "Hermetic bag training")
        driver.type(form._cells[("female", "youth")], "9")
        driver.tap(form.ids.save_top)
        on_screen(driver, "activities")
        driver.app.home()
        home = on_screen(driver, "home")
    driver.app.sync_now()
    driver.wait_until(
        lambda: session.status().pending == 0 and settled(session), timeout=60, what="the push"
    )
    first, second = session.backend.activities(server.project_id)
    assert server.activity(second.id)["title"] == "Hermetic bag training"

    driver.app.show("form", activity_id=second.id)
    form = on_screen(driver, "form")
    driver.tap(form.ids.delete_button)
    driver.step(3)
    [popup] = [w for w in driver.window.children if type(w).__name__ == "ConfirmDelete"]
    driver.screenshot(SHOTS / "delete-confirm.png")
    driver.tap(popup.ids.delete_button)
    activities = on_screen(driver, "activities")
    driver.wait_until(
        lambda: [r["record_id"] for r in activities.ids.rows.data] == [first.id],
        what="the list without the deleted activity",
    )
    assert session.status().pending == 1  # the delete waits to be sent
    driver.app.sync_now()
    driver.wait_until(
        lambda: session.status().pending == 0 and settled(session), timeout=60, what="the push"
    )
    answer = server.api("GET", f"/activities/{second.id}")
    assert answer.status_code == 404 or answer.json().get("deleted") is True, answer.text
    assert server.activity(first.id)["title"] == "Hermetic bag training"
    assert [a.id for a in session.backend.activities(server.project_id)] == [first.id]


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_a_long_button_label_takes_two_lines_rather_than_lose_its_end(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # On a phone Settings offered "Registar com outro servidor ou co..." and Measurements
    # "+ Colheita de parcela de demonstra...": the end of the label, what it does, was cut.
    session, _backend, _project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        for width, height in SIZES:
            driver.resize(width, height)
            driver.app.show("settings")
            settings = on_screen(driver, "settings")
            button = settings.ids.enrol_again
            driver.step(4)
            assert not button.is_shortened, (language, width, button.text)
            assert button.texture_size[1] <= button.height, (language, width)
            driver.screenshot(SHOTS / f"settings-{language}-{width}x{height}.png")
        driver.app.set_language("en")
        driver.resize(1280, 800)


def test_an_enrolment_error_goes_once_its_box_is_filled_in(
    kivy_window: None, tmp_path: Path
) -> None:
    # "! Type your username" stayed under a box holding "amina" until Enrol was pressed again.
    session = unenrolled(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        enrol = on_screen(driver, "enrol")
        driver.tap(enrol.ids.enrol_button)
        assert set(enrol.errors) == {"server", "code"}
        driver.type(enrol.ids.server, "http://127.0.0.1:9")
        assert set(enrol.errors) == {"code"}  # the code is still missing
        driver.type(enrol.ids.code, "GBS27-41D5X")
        assert enrol.errors == {}
        driver.tap(enrol.ids.chip_password)
        driver.tap(enrol.ids.enrol_button)
        assert set(enrol.errors) == {"username", "password"}
        driver.type(enrol.ids.username, "amina")
        assert set(enrol.errors) == {"password"}


def test_enrolment_errors_checked_as_typed_follow_a_language_switch(
    kivy_window: None, tmp_path: Path
) -> None:
    # Settings > "Enrol with another server or account", Enrol pressed with a wrong address
    # and no code: both errors showed. The address corrected, its error went as it was typed;
    # back in Settings, switched to Portuguese and returning, the code's error was still in
    # English: errors changed as typed were no longer asked again in the new language.
    session, _backend, _project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("settings")
        driver.tap(on_screen(driver, "settings").ids.enrol_again)
        enrol = on_screen(driver, "enrol")
        driver.type(enrol.ids.server, "pilot example.org")
        driver.tap(enrol.ids.enrol_button)
        code_missing = "Type the enrolment code from your country office"
        assert enrol.errors == {"server": "A server address has no spaces", "code": code_missing}
        driver.type(enrol.ids.server, "https://pilot.example.org")
        assert enrol.errors == {"code": code_missing}  # the address's error went as typed
        assert driver.app.back()
        settings = on_screen(driver, "settings")
        driver.tap(settings.ids.lang_pt)
        driver.tap(settings.ids.enrol_again)
        assert on_screen(driver, "enrol") is enrol
        assert enrol.errors == {"code": "Escreva o código de registo do escritório do seu país"}
        driver.app.set_language("en")  # and at once while it is shown
        assert enrol.errors == {"code": code_missing}
        driver.type(enrol.ids.server, "pilot example.org")  # a box not in error stays so
        assert enrol.errors == {"code": code_missing}


def test_a_language_switch_reaches_the_open_form_roster_and_measurement_at_once(
    kivy_window: None, tmp_path: Path
) -> None:
    # Switched to Portuguese (Settings calls app.set_language), the open screens kept English:
    # the activity form's title "New activity" and "No GPS on this device…", the roster's
    # category picker "Farmers", the measurement's title, labels, answers and "No site", all
    # until the screen was opened again. And a date field's hint read "≥ 2015-01-01".
    from server.results.shipped import PREPAREDNESS_CHECK
    from tests.field_app.test_observations import form_wire

    session, backend, project = demo_session(tmp_path)
    backend.form_versions = [form_wire(PREPAREDNESS_CHECK)]
    form_id = backend.form_versions[0]["id"]
    with kivy_driver.running(make_app(session)) as driver:

        def switched(name: str, **params: Any) -> Any:
            driver.app.set_language("en")
            driver.app.show(name, **params)
            screen = on_screen(driver, name)
            driver.app.set_language("pt")
            driver.step(3)
            return screen

        form = switched("form", project_id=project["id"])
        assert form.heading == "Nova atividade"
        assert form.ids.bar.ids.title.text == "Nova atividade"
        assert form.gps_status == "Sem GPS neste dispositivo: escreva as coordenadas"
        driver.app.set_language("en")
        driver.tap(form.ids.save_top)  # nothing typed: refused, with a banner set from Python
        assert form.banner.startswith("Correct the "), form.banner
        driver.app.set_language("pt")
        assert form.banner.startswith("Corrija os "), form.banner

        roster = switched("roster", project_id=project["id"], ticked=[])
        assert roster.ids.category.text == "Agricultores"
        assert roster.ids.category.values[:2] == ["Agricultores", "Técnicos"]
        details = [row["details"] for row in roster.ids.rows.data]
        assert details and all("nascido(a) em" in d for d in details), details[:2]
        # The register card's field errors and its message (set from Python) follow too.
        driver.app.set_language("en")
        driver.type(roster.ids.code, "LSO-9001")
        driver.type(roster.ids.birth_year, "1800")
        driver.tap(roster.ids.register_button)
        assert roster.errors["birth_year"].startswith("Use a year from "), dict(roster.errors)
        driver.app.set_language("pt")
        assert roster.errors["birth_year"].startswith("Use um ano de "), dict(roster.errors)
        driver.app.set_language("en")
        driver.type(roster.ids.birth_year, "1990")
        driver.tap(roster.ids.register_button)
        assert roster.message == "LSO-9001 registered and ticked"
        driver.app.set_language("pt")
        driver.step()
        assert driver.find_text(roster, "LSO-9001 registado e marcado")

        observation = switched("observation", project_id=project["id"], form_id=form_id)
        assert observation.ids.bar.ids.title.text == "Verificação da preparação para desastres"
        assert observation.ids.site.text == "Sem local"
        labels = [box.label for box in observation._boxes.values()]
        assert "Risco principal" in labels, labels
        answers = [c.text for c in observation._widgets["hazard"].children]
        assert "Seca" in answers and "Drought" not in answers, answers
        texts = [getattr(w, "text", "") for w in observation.walk(restrict=True)]
        assert "≥ 1 de janeiro de 2015" in texts
        assert not any("2015-01-01" in t for t in texts), texts
        driver.app.set_language("en")


def test_an_error_on_the_screen_follows_a_language_switch(
    kivy_window: None, tmp_path: Path
) -> None:
    # Messages set from an error's text kept the language the error was raised in: switched
    # to Portuguese, the enrolment still said "Cannot reach …", the roster "No QR scanner: …"
    # and the form "Choose a JPEG, PNG or WebP photo".
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession
    from tests.field_app.test_ui import QUIET

    data_dir = tmp_path / "tablet"
    backend = StoreBackend(data_dir, schedule_options=QUIET)
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    with kivy_driver.running(make_app(session)) as driver:
        enrol = on_screen(driver, "enrol")
        driver.type(enrol.ids.server, "http://127.0.0.1:9")
        driver.type(enrol.ids.code, "GBS27-41D5X")
        driver.tap(enrol.ids.enrol_button)
        driver.wait_until(lambda: enrol.message.startswith("Cannot reach "), what="the error")
        driver.app.set_language("pt")
        assert enrol.message.startswith("Não é possível contactar http://127.0.0.1:9"), (
            enrol.message
        )
        driver.app.set_language("en")
        assert enrol.message.startswith("Cannot reach http://127.0.0.1:9"), enrol.message

    session, _backend, project = demo_session(tmp_path / "demo")
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("roster", project_id=project["id"], ticked=[])
        roster = on_screen(driver, "roster")
        roster.scan()  # the button is disabled without a scanner; a tablet's may fail to start
        assert roster.message == "No QR scanner: type the code printed under the QR"
        driver.app.set_language("pt")
        driver.step()
        assert driver.find_text(roster, "Sem leitor QR: escreva o código impresso por baixo do QR")
        driver.app.set_language("en")
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        form._add_photo(tmp_path / "notes.txt")
        driver.wait_until(lambda: form.busy.startswith("Choose a JPEG"), what="the refusal")
        driver.app.set_language("pt")
        assert form.busy == "Escolha uma fotografia JPEG, PNG ou WebP"
        driver.app.set_language("en")
        form._dirty = False


def test_an_open_popup_follows_a_language_switch(kivy_window: None, tmp_path: Path) -> None:
    # A calendar or "Leave without saving?" open when the language changed kept the old
    # language in what Python set on it (the title, the month and the weekdays), beside
    # buttons already in the new one.
    from field_app.controllers import dates
    from field_app.i18n import _
    from field_app.screens.widgets import ConfirmDiscard, DatePicker
    from tests.field_app.test_ui import popup_of

    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        driver.tap(form._inputs["start_date"])
        picker = popup_of(driver, DatePicker)
        driver.tap(picker.ids.previous)
        year, month = picker.year, picker.month
        assert picker.title == "Choose a date" and picker.weekdays[0] == "Mon"
        try:
            driver.app.set_language("pt")
            driver.step()
            assert picker.title == "Escolher uma data"
            assert picker.weekdays[0] == "seg."
            assert picker.heading == dates.month_title(year, month)
            assert picker.heading.split()[0] == _(dates.MONTHS[month - 1]).split()[0]
            assert picker.heading.split()[0].islower(), picker.heading  # janeiro, fevereiro…
            assert driver.find_text(picker, "Escolher uma data")
            picker.dismiss()
            form._dirty = True
            driver.app.back()
            discard = popup_of(driver, ConfirmDiscard)
            assert discard.title == "Sair sem guardar?"
            driver.app.set_language("es")
            driver.step()
            assert discard.title == _("Leave without saving?") != "Leave without saving?"
            discard.dismiss()
        finally:
            driver.app.set_language("en")
        form._dirty = False


@pytest.mark.parametrize("size", [(1280, 800), PHONE])
def test_a_new_activity_shows_only_save_at_its_bottom(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    # "Record a measurement" and "Delete this activity" are for a saved activity. On a new one
    # they had no height but stayed drawn, faded (a disabled button's look won over hidden),
    # over the bottom Save and the notes.
    from field_app.screens import theme

    session, _, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.resize(*size)

        def bottom(form: Any) -> list[tuple[float, float]]:
            return [
                (b.height, b.opacity) for b in (form.ids.measure_button, form.ids.delete_button)
            ]

        def hidden(form: Any) -> list[tuple[float, float]]:
            # Laid out by the kv rules once the form's data is shown: waited for, not counted in
            # frames (a loaded machine once took longer than the three frames this waited).
            driver.step(3)
            return driver.wait_until(
                lambda: bottom(form) == [(0, 0), (0, 0)] and bottom(form),
                what="the saved activity's buttons to hide",
            )

        def shown(form: Any) -> list[tuple[float, float]]:
            driver.step(3)
            return driver.wait_until(
                lambda: all(h > 0 and o == 1 for h, o in bottom(form)) and bottom(form),
                what="the saved activity's buttons to show",
            )

        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        assert hidden(form) == [(0, 0), (0, 0)]
        # Nobody counted yet is a reminder (the pending colour), not a total (the primary one).
        summary = driver.find_text(form, "No participants counted yet")
        assert tuple(summary.color) == theme.state_colour("pending")
        driver.choose(form._inputs["type"], "Farmer training")
        driver.type(form._inputs["title"], "Hermetic bag training")
        driver.type(form._cells[("female", "youth")], "9")
        driver.wait_until(
            lambda: summary.text.startswith("9 participants"), what="the summary to count 9"
        )
        assert tuple(summary.color) == theme.PRIMARY
        driver.tap(form.ids.save_top)
        on_screen(driver, "activities")
        [saved] = [
            a
            for a in session.backend.activities(project["id"])
            if a.data["title"] == "Hermetic bag training"
        ]
        driver.app.show("form", activity_id=saved.id)
        form = on_screen(driver, "form")
        assert all(height > 0 and opacity == 1 for height, opacity in shown(form))
        driver.app.show("form", project_id=project["id"])  # a new one again, after a saved one
        form = on_screen(driver, "form")
        assert hidden(form) == [(0, 0), (0, 0)]
        driver.screenshot(SHOTS / f"new-activity-bottom-{size[0]}.png")
        driver.resize(1280, 800)


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("en", "1 needs your attention", "2 need your attention"),
        ("pt", "1 requer a sua atenção", "2 requerem a sua atenção"),
    ],
)
def test_a_project_card_counts_what_needs_attention_in_the_right_number(
    kivy_window: None, tmp_path: Path, language: str, one: str, two: str
) -> None:
    # The card said "1 need your attention" ("1 requerem…") where the sync bar said "1 needs".
    session, _, _project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        driver.app.home()
        home = on_screen(driver, "home")
        driver.step(3)
        card = next(w for w in home.walk(restrict=True) if type(w).__name__ == "ProjectCardView")

        def counts() -> list[str]:
            driver.step(2)
            return [w.text for w in card.walk(restrict=True) if "ten" in getattr(w, "text", "")]

        card.pending, card.waiting, card.attention = 0, "", 1
        assert counts() == [one]
        card.attention = 2
        assert counts() == [two]
        driver.app.set_language("en")  # and it follows a language switch
        assert counts() == ["2 need your attention"]


@pytest.mark.parametrize("size", [(1280, 800), SMALL_PHONE])
def test_the_language_is_chosen_before_enrolling_and_kept(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    # The first screen was English only: Settings (and its language) opens once enrolled, so
    # a field expert enrolled, and read its errors, in English.
    session = unenrolled(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.resize(*size)
        enrol = on_screen(driver, "enrol")
        assert driver.find_text(enrol, "Connect to your Pilot Monitor server")
        for button in (enrol.ids.lang_en, enrol.ids.lang_fr, enrol.ids.lang_pt, enrol.ids.lang_es):
            assert button.height > 0 and button.opacity == 1, button.text
            assert button.y >= enrol.ids.card.y and button.top <= enrol.ids.card.top
        driver.tap(enrol.ids.lang_fr)
        driver.step(2)
        assert driver.find_text(enrol, "Connexion à votre serveur Pilot Monitor")
        for chip in (enrol.ids.chip_code, enrol.ids.chip_password):  # whole, on the card
            assert chip.x >= enrol.ids.card.x and chip.right <= enrol.ids.card.right, chip.text
        driver.screenshot(SHOTS / f"enrol-top-in-french-{size[0]}x{size[1]}.png")
        driver.tap(enrol.ids.enrol_button)
        assert enrol.errors["server"] and enrol.errors["server"] != "Required", enrol.errors
        driver.screenshot(SHOTS / f"enrol-in-french-{size[0]}x{size[1]}.png")
        # kept with the tablet's settings, for the next start
        again = unenrolled(tmp_path)
        assert again.settings.language == "fr"
        driver.app.set_language("en")


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_every_field_label_of_the_form_shows_all_its_lines_on_a_small_phone(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # The facilitators' label read "virgules)" in French, "comas)" in Spanish.
    session, _backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.set_language(language)
        driver.resize(*SMALL_PHONE)
        form = driver.app.show("form", project_id=project["id"])
        driver.step(4)
        assert_field_labels_whole(form, language)
        driver.screenshot(SHOTS / f"form-labels-{language}-360x640.png")
