"""The same photo added twice to an activity or a measurement: the form says so, and the second
downscaled copy leaves the tablet's photos folder (it stayed there, about 1 MB, nobody's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.results.shipped import DEMO_PLOT_HARVEST
from tests.field_app import kivy_driver
from tests.field_app.photo_samples import field_photo
from tests.field_app.test_observations import form_wire
from tests.field_app.test_ui import DETAILS, demo_session, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

ALREADY = {
    "en": "This photo is already on the form.",
    "fr": "Cette photo figure déjà sur le formulaire.",
    "pt": "Esta fotografia já está no formulário.",
    "es": "Esta foto ya está en el formulario.",
}


@pytest.fixture
def app(kivy_window: None, tmp_path: Path) -> Iterator[tuple[kivy_driver.Driver, Any, Any]]:
    session, backend, project = demo_session(tmp_path)
    backend.form_versions = [form_wire(DEMO_PLOT_HARVEST)]
    with kivy_driver.running(make_app(session)) as driver:
        try:
            yield driver, session, project
        finally:
            driver.app.set_language("en")


def picture(tmp_path: Path) -> Path:
    path = tmp_path / "plot.jpg"
    field_photo(800, 600).save(path, "JPEG", quality=90)
    return path


def kept(session: Any) -> list[Path]:
    return sorted(session.photos_dir.glob("*.jpg"))


def add_twice(driver: kivy_driver.Driver, screen: Any, source: Path) -> None:
    screen._add_photo(source)
    driver.wait_until(lambda: len(screen.photos) == 1 and not screen.preparing, what="the photo")
    assert screen.busy == ""
    screen._add_photo(source)
    driver.wait_until(lambda: not screen.preparing, what="the second copy")
    driver.step(2)


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_the_same_photo_twice_on_an_activity_is_said_and_leaves_no_file(
    app: tuple[kivy_driver.Driver, Any, Any], tmp_path: Path, language: str
) -> None:
    driver, session, project = app
    driver.app.set_language(language)
    driver.app.show("form", project_id=project["id"])
    form = on_screen(driver, "form")
    add_twice(driver, form, picture(tmp_path))
    assert len(form.form.photos) == 1 and len(form.photos) == 1
    assert form.busy == ALREADY[language]
    assert kept(session) == [Path(form.form.photos[0].path)]  # no orphan copy
    driver.resize(360, 640)
    form.ids.scroll.scroll_to(form.ids.choose_photo, padding=20, animate=False)
    driver.screenshot(DETAILS / f"photo-twice-{language}-360x640.png")
    driver.app.set_language("en" if language != "en" else "fr")  # said again in the new one
    assert form.busy == ALREADY["en" if language != "en" else "fr"]
    form._dirty = False
    form.can_leave()  # leaving drops the photo added and its file
    assert kept(session) == []


def test_the_same_photo_twice_on_a_measurement_is_said_and_leaves_no_file(
    app: tuple[kivy_driver.Driver, Any, Any], tmp_path: Path
) -> None:
    driver, session, project = app
    form_id = session.backend.form_versions[0]["id"]
    driver.app.show("observation", project_id=project["id"], form_id=form_id)
    screen = on_screen(driver, "observation")
    add_twice(driver, screen, picture(tmp_path))
    assert len(screen.form.photos) == 1
    assert screen.busy == ALREADY["en"]
    assert kept(session) == [Path(screen.form.photos[0].path)]
    screen._dirty = False


def test_a_different_photo_is_added_after_the_message(
    app: tuple[kivy_driver.Driver, Any, Any], tmp_path: Path
) -> None:
    driver, session, project = app
    driver.app.show("form", project_id=project["id"])
    form = on_screen(driver, "form")
    add_twice(driver, form, picture(tmp_path))
    other = tmp_path / "other.jpg"
    field_photo(800, 600, seed=3).save(other, "JPEG", quality=90)
    form._add_photo(other)
    driver.wait_until(lambda: len(form.photos) == 2, what="the other photo")
    assert form.busy == ""
    assert len(kept(session)) == 2
    form._dirty = False
