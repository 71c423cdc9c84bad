"""Texts whole on a phone (360 × 640) and a tablet: the activity form's photo buttons, the
Measurements screen (its forms scroll away with its list, its titles end at a word).
Screenshots land in ``artifacts/field-details/``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.results.shipped import DEMO_PLOT_HARVEST, SHIPPED_FORMS
from tests.field_app import kivy_driver
from tests.field_app.test_observations import form_wire
from tests.field_app.test_small_screens import cut_labels
from tests.field_app.test_ui import DETAILS, demo_session, make_app, on_screen

PHONE, TABLET = (360, 640), (1280, 800)
LANGUAGES = ("en", "fr", "pt", "es")


def ends_at_word(text: str, room: float) -> str:
    from field_app.screens.measurements import ends_at_word as fit

    return fit(text, room, lambda shown: 10.0 * len(shown))  # 10 px a character


def test_a_title_too_long_ends_after_its_last_whole_word() -> None:
    title = "Demonstration plot harvest"
    assert ends_at_word(title, 260) == title
    assert ends_at_word(title, 250) == "Demonstration plot…"
    assert ends_at_word(title, 190) == "Demonstration plot…"
    assert ends_at_word(title, 180) == "Demonstration…"
    assert ends_at_word("Récolte de parcelle de démonstration", 240) == "Récolte de parcelle de…"
    assert ends_at_word("Storage loss check, Roma", 200) == "Storage loss check…"  # no "check,…"
    # Only a first word wider than the line is cut inside it.
    assert ends_at_word("Demonstration", 80) == "Demonst…"
    assert ends_at_word("", 10) == ""


# -- on screen --------------------------------------------------------------------------------


@pytest.fixture
def app(
    kivy_window: None, tmp_path: Path
) -> Iterator[tuple[kivy_driver.Driver, Any, dict[str, Any]]]:
    from field_app.session import LocalRecord

    session, backend, project = demo_session(tmp_path)
    forms = [form_wire(f) for f in SHIPPED_FORMS]
    backend.form_versions = forms
    demo = next(f for f in forms if f["code"] == DEMO_PLOT_HARVEST["code"])
    for day in range(85):
        record_id = str(uuid.uuid4())
        backend.observation_records[record_id] = LocalRecord(
            data={
                "id": record_id,
                "project_id": project["id"],
                "form_id": demo["id"],
                "form_version": 1,
                "observed_on": (date.today() - timedelta(days=day)).isoformat(),
                "values": {"crop": "potato"},
                "status": "submitted",
            },
            state="synced",
        )
    with kivy_driver.running(make_app(session)) as driver:
        try:
            yield driver, backend, project
        finally:
            driver.app.set_language("en")


def window_y(widget: Any) -> tuple[float, float]:
    """The bottom and top of ``widget`` in the window (through any scrolling)."""
    return widget.to_window(widget.x, widget.y)[1], widget.to_window(widget.x, widget.top)[1]


@pytest.mark.kivy
@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_photo_buttons_are_whole_on_a_phone(
    app: tuple[kivy_driver.Driver, Any, dict[str, Any]], language: str
) -> None:
    # At 360 px the two buttons stood side by side: "Ajouter u..." and "Pas d’app...".
    driver, _backend, project = app
    driver.app.set_language(language)
    for size in (PHONE, TABLET):
        driver.resize(*size)
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        form.ids.scroll.scroll_to(form.ids.choose_photo, padding=20, animate=False)
        driver.step(4)
        choose, take = form.ids.choose_photo, form.ids.take_photo
        for button in (choose, take):
            assert not button.is_shortened, (size, button.text)
            left, right = button.to_window(button.x, 0)[0], button.to_window(button.right, 0)[0]
            assert left >= 0 and right <= size[0], (size, button.text)
        side_by_side = window_y(choose) == window_y(take)
        assert side_by_side == (size == TABLET), size
        driver.screenshot(DETAILS / f"form-photo-buttons-{language}-{size[0]}x{size[1]}.png")
        form._dirty = False


@pytest.mark.kivy
@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_measurements_photo_buttons_are_whole_on_a_phone(
    app: tuple[kivy_driver.Driver, Any, dict[str, Any]], language: str
) -> None:
    # The measurement form's buttons stood side by side too: "No camera here" was cut in French.
    driver, backend, project = app
    driver.app.set_language(language)
    demo = next(f for f in backend.form_versions if f["code"] == DEMO_PLOT_HARVEST["code"])
    for size in (PHONE, TABLET):
        driver.resize(*size)
        screen = driver.app.show("observation", project_id=project["id"], form_id=demo["id"])
        screen = on_screen(driver, "observation")
        buttons = screen.ids.photo_buttons
        screen.ids.scroll.scroll_to(buttons, padding=20, animate=False)
        driver.step(4)
        choose, take = buttons.children[1], buttons.children[0]
        for button in (choose, take):
            assert not button.is_shortened, (size, button.text)
            left, right = button.to_window(button.x, 0)[0], button.to_window(button.right, 0)[0]
            assert left >= 0 and right <= size[0], (size, button.text)
        assert (window_y(choose) == window_y(take)) == (size == TABLET), size
        driver.screenshot(DETAILS / f"observation-photo-buttons-{language}-{size[0]}x{size[1]}.png")
        driver.app.home()
        on_screen(driver, "home")


@pytest.mark.kivy
@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_forms_scroll_away_and_leave_the_phone_to_the_measurements(
    app: tuple[kivy_driver.Driver, Any, dict[str, Any]], language: str
) -> None:
    # The five "Record a measurement" buttons stood still and took 328 px of the phone: the
    # 85 measurements had a 94 px window.
    driver, _backend, project = app
    driver.app.set_language(language)
    driver.resize(*PHONE)
    driver.app.show("measurements", project_id=project["id"])
    screen = on_screen(driver, "measurements")
    driver.step(4)
    rows = screen.ids.rows
    bar = screen.ids.bar
    assert rows.height >= PHONE[1] - bar.height - 1  # the list has the screen below the bar
    top = screen.top()
    assert top is not None and len(top.ids.forms.children) == len(SHIPPED_FORMS)
    low, high = window_y(rows)
    for button in top.ids.forms.children:  # at first every form is in sight
        bottom, up = window_y(button)
        assert bottom >= low - 1 and up <= high + 1, button.text
    assert cut_labels(top) == []
    driver.screenshot(DETAILS / f"measurements-top-{language}-360x640.png")

    rows.scroll_y = 0.5  # a finger's scroll down the list
    driver.step(4)
    shown = [v for v in rows.layout_manager.children if getattr(v, "observation_id", "")]
    in_sight = [v for v in shown if window_y(v)[1] > low and window_y(v)[0] < high]
    assert len(in_sight) >= 5  # rows, not a 94 px window
    assert screen.top() is None or window_y(screen.top())[0] >= high  # scrolled away
    for view in in_sight:  # titles end at a word, and nothing on a row is cut
        title = next(w for w in view.walk() if type(w).__name__ == "WordEndLabel")
        full, text = title.full_text, title.text
        assert text == full or (
            text.endswith("…") and full.startswith(text[:-1]) and full[len(text) - 1] == " "
        ), text
        assert cut_labels(view) == []
    driver.screenshot(DETAILS / f"measurements-scrolled-{language}-360x640.png")

    rows.scroll_y = 1  # and back: the forms are there again, whole
    driver.step(4)
    top = screen.top()
    assert top is not None and window_y(top)[1] <= high + 1
    assert len(top.ids.forms.children) == len(SHIPPED_FORMS)


@pytest.mark.kivy
@pytest.mark.slow
def test_a_title_is_whole_where_it_fits(
    app: tuple[kivy_driver.Driver, Any, dict[str, Any]],
) -> None:
    # "Demonstration plot harvest" was cut in the middle ("Demonst...t harvest") on a phone.
    driver, _backend, project = app
    for size in (PHONE, TABLET):
        driver.resize(*size)
        driver.app.show("measurements", project_id=project["id"])
        screen = on_screen(driver, "measurements")
        driver.step(4)
        titles = [w for w in screen.walk(restrict=True) if type(w).__name__ == "WordEndLabel"]
        assert titles
        assert {t.text for t in titles} == {"Demonstration plot harvest"}, size
        driver.screenshot(DETAILS / f"measurements-{size[0]}x{size[1]}.png")


@pytest.mark.kivy
@pytest.mark.slow
def test_a_form_opens_from_its_button_after_scrolling_back(
    app: tuple[kivy_driver.Driver, Any, dict[str, Any]],
) -> None:
    driver, _backend, project = app
    driver.resize(*PHONE)
    driver.app.show("measurements", project_id=project["id"])
    screen = on_screen(driver, "measurements")
    screen.ids.rows.scroll_y = 0
    driver.step(4)
    screen.ids.rows.scroll_y = 1
    driver.step(4)
    button = driver.find_text(screen, "+ Demonstration plot harvest")
    driver.tap(button)
    observation = on_screen(driver, "observation")
    assert observation.form.title == "Demonstration plot harvest"
