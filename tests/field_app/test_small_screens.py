"""The app on a phone (360 × 640) and on a tablet, in every language: every control in reach,
every text whole, or cut with "…" where a list row keeps to its lines. Screenshots land in
``artifacts/field-details/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.field_app import kivy_driver
from tests.field_app.fakes import MemoryBackend
from tests.field_app.test_ui import DETAILS, demo_session, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

PHONE, TABLET = (360, 640), (1280, 800)
LANGUAGES = ("en", "fr", "pt", "es")


def cut_labels(root: Any) -> list[str]:
    """The texts of the labels under ``root`` that show less than their text with no sign of
    it: lines beyond the label's height (Kivy keeps the lines on the valign side: a heading
    wrapped on a phone showed only its last word, "cible"), or one line wider than the label.
    A label that shortens with "…" is not cut: the reader sees that there is more."""
    from kivy.core.text import Label as CoreLabel
    from kivy.uix.label import Label

    cut = []
    for label in root.walk(restrict=True):
        if not isinstance(label, Label) or not label.text or label.is_shortened:
            continue
        if label.opacity <= 0 or label.height <= 0 or type(label).__name__ == "PMButton":
            continue  # hidden; a button fits its label itself (PMButton._fit_label)
        width = label.text_size[0]
        if width is None:
            if label.texture_size[0] > label.width + 1:
                cut.append(label.text)
            continue
        needed = CoreLabel(
            text=label.text,
            font_size=label.font_size,
            bold=label.bold,
            font_name=label.font_name,
            markup=label.markup,
            text_size=(width, None),
            padding=label.padding,
        )
        needed.refresh()
        lines = len(needed._cached_lines)
        if needed.texture.size[1] > label.height + 1 or (
            label.max_lines and lines > label.max_lines
        ):
            cut.append(label.text)
    return cut


@contextmanager
def phone_app(tmp_path: Path) -> Iterator[tuple[kivy_driver.Driver, MemoryBackend, Any]]:
    session, backend, project = demo_session(tmp_path)
    with kivy_driver.running(make_app(session)) as driver:
        try:
            yield driver, backend, project
        finally:
            driver.app.set_language("en")


# -- the activity form's attendance ---------------------------------------------------------------

CHIPS = ("cat_farmer", "cat_technician", "cat_official", "cat_other", "disability_no")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_attendance_chip_is_in_sight_and_reachable_on_a_phone(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # At 360 px the chips stood in one row: "Others" was off the screen, out of reach (and
    # "With a disability" half off it).
    with phone_app(tmp_path) as (driver, _backend, project):
        driver.app.set_language(language)
        for size in (PHONE, TABLET):
            driver.resize(*size)
            driver.app.show("form", project_id=project["id"])
            form = on_screen(driver, "form")
            card = form.ids.cat_farmer.parent.parent
            for name in (*CHIPS, "disability_yes"):
                chip = form.ids[name]
                left, _ = chip.to_window(chip.x, chip.y)
                right, _ = chip.to_window(chip.right, chip.y)
                assert left >= 0 and right <= size[0], (size, chip.text)
            driver.tap(form.ids.cat_other)
            assert form.category == "other" and form.ids.cat_other.state == "down"
            driver.tap(form.ids.disability_yes)
            assert form.disability
            assert form.grid_caption.endswith("with a disability") or language != "en"
            assert cut_labels(card) == [], size
            form.ids.scroll.scroll_to(form.ids.cat_farmer, padding=120, animate=False)
            driver.screenshot(DETAILS / f"attendance-chips-{language}-{size[0]}x{size[1]}.png")
            form._dirty = False


@pytest.mark.parametrize("size", [PHONE, TABLET])
def test_every_problem_of_the_attendance_cells_is_shown_whole(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    # One cell below 0, one not a number, one too large: the form said only "Some cells are
    # not whole numbers".
    with phone_app(tmp_path) as (driver, _backend, project):
        driver.resize(*size)
        driver.app.show("form", project_id=project["id"])
        form = on_screen(driver, "form")
        driver.type(form._cells[("female", "youth")], "-3")
        driver.type(form._cells[("female", "adult")], "-")
        driver.type(form._cells[("male", "adult")], "200000")
        summary = form.ids.summary
        assert summary.text.splitlines() == [
            "Use a whole number from 0 to 100,000",
            "Some cells are not whole numbers",
            "At most 100,000 in one cell",
        ]
        assert all(form._cells[c].has_error for c in [("female", "youth"), ("male", "adult")])
        assert cut_labels(summary.parent) == []
        form.ids.scroll.scroll_to(summary, padding=120, animate=False)
        driver.screenshot(DETAILS / f"attendance-problems-{size[0]}x{size[1]}.png")
        driver.type(form._cells[("female", "youth")], "3")
        assert summary.text.splitlines() == [
            "Some cells are not whole numbers",
            "At most 100,000 in one cell",
        ]
        form._dirty = False


# -- home ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_project_cards_show_their_headings_whole(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # On a phone in French a card's heading read "cible": "Avancement en … par rapport à la
    # cible" wrapped, and the label kept its last line, without "…".
    from field_app.screens.home import ProjectCardView

    with phone_app(tmp_path) as (driver, _backend, _project):
        driver.app.set_language(language)
        for size in (PHONE, TABLET):
            driver.resize(*size)
            driver.app.home()
            home = on_screen(driver, "home")
            driver.step(3)
            cards = [w for w in home.walk(restrict=True) if isinstance(w, ProjectCardView)]
            assert len(cards) == 2
            for card in cards:
                assert cut_labels(card) == [], (size, card.heading)
            home.ids.scroll.scroll_to(cards[0], animate=False)
            driver.screenshot(DETAILS / f"home-cards-{language}-{size[0]}x{size[1]}.png")


# -- activities ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_project_without_activities_says_how_to_record_one_and_a_search_what_to_do(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # An empty project said "No activities match" as if a filter hid them; and that line,
    # in one piece, was cut at both ends on a phone.
    with phone_app(tmp_path) as (driver, backend, project):
        empty = backend.add_project(code="LSO-NEW-03", name="A project just started")
        driver.app.set_language(language)
        for size in (PHONE, (400, 780), TABLET):
            driver.resize(*size)
            driver.app.show("activities", project_id=empty["id"])
            screen = on_screen(driver, "activities")
            message, new = screen.ids.nothing_shown, screen.ids.new_button.text
            driver.wait_until(lambda: screen.shown == "0", what="the empty list")  # noqa: B023
            driver.step(2)
            expected = {
                "en": f"No activities in this project yet. Press {new} to record the first.",
                "fr": f"Aucune activité dans ce projet pour l’instant. Appuyez sur {new} pour "
                "enregistrer la première.",
            }[language]
            assert message.text == expected and message.opacity == 1
            assert cut_labels(screen) == [], size
            driver.screenshot(DETAILS / f"activities-none-{language}-{size[0]}x{size[1]}.png")

            driver.app.show("activities", project_id=project["id"])
            screen = on_screen(driver, "activities")
            driver.type(screen.ids.search, "no such activity")
            driver.wait_until(lambda: screen.shown == "0", what="nothing found")  # noqa: B023
            driver.step(2)
            assert message.text.startswith(("No activities match.", "Aucune activité ne"))
            assert cut_labels(screen) == [], size
            driver.screenshot(DETAILS / f"activities-no-match-{language}-{size[0]}x{size[1]}.png")
            driver.type(screen.ids.search, "")


# -- needs attention -----------------------------------------------------------------------------


def _plain(text: str) -> str:
    return re.sub(r"\[/?b\]", "", text)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_attention_rows_end_with_an_ellipsis_and_the_conflict_never_breaks_a_word(
    kivy_window: None, tmp_path: Path, language: str
) -> None:
    # A title or a subtitle longer than two lines lost its end without "…", and on a phone the
    # conflict's three columns broke "demonstrat / ion".
    from field_app.screens.attention import AttentionRow, DiffCell
    from field_app.screens.widgets import text_width

    session, backend, _project = demo_session(tmp_path)
    long_title = (
        "Seed potato storage demonstration with the women's group of the Roma valley "
        "cooperative, second session after the harvest"
    )
    for record in backend.attention():
        record.data["title"] = long_title
    conflict = next(r.id for r in backend.attention() if r.state == "conflict")
    with kivy_driver.running(make_app(session)) as driver:
        try:
            driver.app.set_language(language)
            for size in (PHONE, TABLET):
                driver.resize(*size)
                driver.app.show("attention")
                attention = on_screen(driver, "attention")
                attention.select(conflict)
                driver.step(4)
                rows = [w for w in attention.ids.rows.walk() if isinstance(w, AttentionRow)]
                rows = [r for r in rows if r.title]
                assert rows
                for row in rows:
                    title = row.ids.title
                    assert title.text.endswith("…") and long_title.startswith(title.text[:-1])
                    assert cut_labels(row) == [], size
                cells = [w for w in attention.ids.differences.children if isinstance(w, DiffCell)]
                assert cells
                for cell in cells:
                    label = cell.ids.label
                    for word in _plain(label.text).split():
                        # A word wider than its cell is broken in the middle by Kivy.
                        assert text_width(word, label.font_size, True) <= label.width, word
                    assert cut_labels(cell) == []
                texts = " ".join(_plain(c.ids.label.text) for c in cells)
                assert "Seed potato storage demonstration, Roma valley" in texts
                driver.screenshot(DETAILS / f"attention-{language}-{size[0]}x{size[1]}.png")
        finally:
            driver.app.set_language("en")
