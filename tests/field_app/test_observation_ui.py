"""Record a measurement in the real app, headless, on the real device store (no server: the
project, its site and the form arrive as a pull page in the server's shapes). Screenshots of
the new screens in portrait and landscape land in ``artifacts/screenshots/field/``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.results.shipped import DEMO_PLOT_HARVEST, SHIPPED_FORMS
from sync.protocol import Change, Op
from tests.field_app import kivy_driver
from tests.field_app.photo_samples import field_photo
from tests.field_app.test_observations import form_change, form_wire
from tests.field_app.test_ui import (
    QUIET,
    SHOTS,
    assert_field_labels_whole,
    make_app,
    on_screen,
    open_measurement,
)

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

PORTRAIT, LANDSCAPE = (800, 1280), (1280, 800)


@pytest.fixture
def tablet(kivy_window: None, tmp_path: Path) -> Iterator[tuple[kivy_driver.Driver, Any, dict]]:
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "tablet"
    backend = StoreBackend(data_dir, schedule_options=QUIET)
    backend.store.set_meta(
        server_url="http://127.0.0.1:9",
        device_token="t",
        username="amina",
        role="field_expert",
        label="tab",
    )
    project = {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-01",
        "name": "Potato value chain",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "solutions": ["S1"],
        "start_date": "2024-01-01",
        "end_date": "2027-12-31",
        "roster": False,
    }
    site = {
        "id": str(uuid.uuid4()),
        "project_id": project["id"],
        "name": "Ha Mokhalinyane",
        "admin_area": "",
        "lat": None,
        "lon": None,
    }
    form = form_wire(DEMO_PLOT_HARVEST)
    backend.store.apply_pull(
        [
            Change(entity="project", id=project["id"], op=Op.UPSERT, version=1, data=project),
            Change(entity="site", id=site["id"], op=Op.UPSERT, version=1, data=site),
            form_change(form),
        ],
        "c1",
    )
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    with kivy_driver.running(make_app(session)) as driver:
        yield driver, backend, {"project": project, "site": site, "form": form}


def chip(screen: Any, name: str, label: str) -> Any:
    stack = screen._widgets[name]
    return next(c for c in stack.children if c.text == label)


def record_one(
    driver: kivy_driver.Driver,
    *,
    plot: str,
    area_first: str,
    harvest: str,
    shots: str = "",
    photo: Path | None = None,
    site: str = "",
) -> Any:
    screen = open_measurement(driver, "+ Demonstration plot harvest")
    if site:
        driver.choose(screen.ids.site, site)
    assert "practice" not in screen.form.visible_names()
    driver.tap(chip(screen, "crop", "Potato"))
    driver.tap(chip(screen, "plot", plot))
    asked = "practice" in screen.form.visible_names()
    assert asked == (plot == "Demonstration")
    # The practice box is on screen only when asked.
    assert (screen._boxes["practice"].parent is not None) == asked
    if asked:
        driver.tap(chip(screen, "practice", "Ridge planting"))
    area = screen._widgets["plot_area_m2"]
    assert area.hint_text == "1 – 100\u00a0000\u00a0m²"
    driver.type(area, area_first)
    assert (
        screen._boxes["plot_area_m2"].error == "Use a value from 1\u00a0m² to 100\u00a0000\u00a0m²"
    )
    if shots:
        for name, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
            driver.resize(*size)
            driver.scroll_into_view(area)
            driver.screenshot(SHOTS / f"observation-{shots}-{name}.png")
    driver.type(area, "120")
    assert screen._boxes["plot_area_m2"].error == ""
    driver.type(screen._widgets["harvest_kg"], harvest)
    driver.pick_date(screen._widgets["harvest_date"], date.today() - timedelta(days=2))
    if photo is not None:
        # The activity form's photo flow: downscaled on a worker thread, shown with a caption.
        screen._add_photo(photo)
        driver.wait_until(lambda: screen.photos, what="the photo to be ready")
        driver.step(3)
        if shots:
            screen.ids.scroll.scroll_y = 0  # the photos and Save, at the bottom
            driver.step(3)
            driver.screenshot(SHOTS / f"observation-{shots}-photo.png")
    driver.tap(screen.ids.save_bottom)
    driver.wait_until(lambda: driver.app.manager.current == "measurements", what="the save")
    return on_screen(driver, "measurements")


def test_record_a_demo_plot_harvest_for_the_demo_and_the_control_plot(
    tablet: tuple[kivy_driver.Driver, Any, dict], tmp_path: Path
) -> None:
    driver, backend, facts = tablet
    driver.resize(*LANDSCAPE)
    home = on_screen(driver, "home")
    driver.tap(driver.find_text(home, "Measurements"))
    measurements = on_screen(driver, "measurements")
    assert measurements.offered and measurements.count == 0
    for name, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        driver.resize(*size)
        driver.screenshot(SHOTS / f"measurements-empty-{name}.png")

    picture = tmp_path / "plot.jpg"
    field_photo(1200, 900).save(picture, "JPEG")
    record_one(
        driver,
        plot="Demonstration",
        area_first="0",
        harvest="48.5",  # an English tablet: "48,5" is unclear there
        shots="demo",
        photo=picture,
    )
    measurements = record_one(driver, plot="Control (usual practice)", area_first="0", harvest="31")
    assert measurements.count == 2
    for name, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        driver.resize(*size)
        driver.screenshot(SHOTS / f"measurements-{name}.png")

    saved = {r.data["values"]["plot"]: r for r in backend.observations(facts["project"]["id"])}
    assert {k: r.state for k, r in saved.items()} == {"demo": "pending", "control": "pending"}
    assert saved["demo"].data["values"]["practice"] == "ridge_planting"
    assert saved["demo"].data["values"]["harvest_kg"] == 48.5
    assert "practice" not in saved["control"].data["values"]
    assert saved["control"].data["values"]["plot_area_m2"] == 120
    assert saved["control"].data["form_id"] == facts["form"]["id"]
    assert [m.entity for m in backend.store.pending()] == [
        "observation",
        "attachment",
        "observation",
    ]
    [photo] = backend.observation_photos(saved["demo"].id)
    assert Path(photo.path).parent == backend.store.files_dir
    assert backend.store.pending()[1].data["observation_id"] == saved["demo"].id
    assert backend.store.waiting().photos == 1


def test_a_returned_observation_shows_the_comment_and_is_corrected(
    tablet: tuple[kivy_driver.Driver, Any, dict],
) -> None:
    driver, backend, facts = tablet
    observation = {
        "id": str(uuid.uuid4()),
        "project_id": facts["project"]["id"],
        "site_id": facts["site"]["id"],
        "activity_id": None,
        "form_id": facts["form"]["id"],
        "form_version": 1,
        "observed_on": (date.today() - timedelta(days=3)).isoformat(),
        "values": {
            "crop": "potato",
            "plot": "control",
            "plot_area_m2": 100,
            "harvest_kg": 3,
            "harvest_date": (date.today() - timedelta(days=3)).isoformat(),
        },
        "location": None,
        "notes": "",
        "status": "returned",
        "captured_at": None,
        "deleted": False,
        "version": 2,
        "flags": [],
        "reviews": [{"action": "return", "comment": "3 kg from 100 m2? Weigh again."}],
        "created_by_id": str(uuid.uuid4()),
    }
    backend.store.apply_pull(
        [
            Change(
                entity="observation",
                id=observation["id"],
                op=Op.UPSERT,
                version=2,
                data=observation,
            )
        ],
        "c2",
    )
    driver.app.changed()
    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.title == "Demonstration plot harvest" and attention.is_observation
    assert "3 kg from 100 m2? Weigh again." in attention.reason
    for name, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        driver.resize(*size)
        driver.screenshot(SHOTS / f"attention-observation-{name}.png")
    driver.app.show("measurements", project_id=facts["project"]["id"])
    measurements = on_screen(driver, "measurements")
    driver.step(3)
    row = driver.find(measurements, lambda w: getattr(w, "observation_id", "") == observation["id"])
    assert row.state_label == "Returned" and "Weigh again" in row.comment
    driver.tap(row)
    screen = on_screen(driver, "observation")
    assert "Weigh again" in screen.banner
    for name, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        driver.resize(*size)
        driver.screenshot(SHOTS / f"observation-returned-{name}.png")
    driver.type(screen._widgets["harvest_kg"], "30")
    driver.tap(screen.ids.save_bottom)
    driver.wait_until(lambda: driver.app.manager.current == "measurements", what="the save")
    [mutation] = backend.store.pending()
    assert mutation.base_version == 2 and mutation.data["values"]["harvest_kg"] == 30
    assert backend.observation_attention() == []


def test_record_a_measurement_from_a_saved_activity(
    tablet: tuple[kivy_driver.Driver, Any, dict],
) -> None:
    driver, backend, facts = tablet
    day = (date.today() - timedelta(days=5)).isoformat()
    activity = {
        "id": str(uuid.uuid4()),
        "project_id": facts["project"]["id"],
        "site_id": facts["site"]["id"],
        "type": "demonstration",
        "title": "Ridge planting field day",
        "start_date": day,
        "end_date": day,
        "attendance": [],
        "status": "submitted",
        "version": 1,
        "reviews": [],
    }
    backend.store.apply_pull(
        [Change(entity="activity", id=activity["id"], op=Op.UPSERT, version=1, data=activity)],
        "c3",
    )
    driver.app.show("form", activity_id=activity["id"])
    form = on_screen(driver, "form")
    driver.tap(form.ids.measure_button)
    measurements = on_screen(driver, "measurements")
    assert "Ridge planting field day" in measurements.context
    assert "Ha Mokhalinyane" in measurements.context
    driver.tap(driver.find_text(measurements, "+ Demonstration plot harvest"))
    screen = on_screen(driver, "observation")
    assert screen.form.record["activity_id"] == activity["id"]
    assert screen.form.record["site_id"] == facts["site"]["id"]
    assert screen.ids.site.text == "Ha Mokhalinyane"


@pytest.mark.parametrize("size", [(360, 640), (400, 780), PORTRAIT, LANDSCAPE])
def test_the_five_shipped_forms_all_show_on_a_tablet_and_a_phone(
    tablet: tuple[kivy_driver.Driver, Any, dict], size: tuple[int, int]
) -> None:
    # Held upright, the list of forms was a 200 dp band: three of five showed, and nothing said
    # the other two were there.
    driver, backend, facts = tablet
    backend.store.apply_pull(
        [form_change(form_wire(f)) for f in SHIPPED_FORMS if f is not DEMO_PLOT_HARVEST], "c2"
    )
    driver.resize(*size)
    driver.app.show("measurements", project_id=facts["project"]["id"])
    measurements = on_screen(driver, "measurements")
    driver.step(3)
    # The forms are the list's first item and scroll with it (measurements_layout tests it).
    forms = measurements.top().ids.forms
    assert len(forms.children) == len(SHIPPED_FORMS)
    rows = measurements.ids.rows
    bottom, top = rows.to_window(rows.x, rows.y)[1], rows.to_window(rows.x, rows.top)[1]
    for button in forms.children:  # every one in sight
        assert button.to_window(button.x, button.y)[1] >= bottom - 1
        assert button.to_window(button.x, button.top)[1] <= top + 1
    driver.screenshot(SHOTS / f"measurements-five-forms-{size[0]}x{size[1]}.png")


def test_a_tablet_without_a_camera_says_so_on_the_measurement_as_on_the_activity(
    tablet: tuple[kivy_driver.Driver, Any, dict],
) -> None:
    # The measurement's disabled button said "Take a photo"; the activity's "No camera here".
    driver, _, facts = tablet
    assert not driver.app.session.device.has_camera()  # a computer, as in these tests
    driver.app.show("observation", project_id=facts["project"]["id"], form_id=facts["form"]["id"])
    screen = on_screen(driver, "observation")
    assert driver.find_text(screen, "No camera here").disabled


def test_an_answer_above_the_answer_bounding_it_is_told_on_the_form(
    tablet: tuple[kivy_driver.Driver, Any, dict],
) -> None:
    # 12 farmers applying a practice of 5 visited was saved, and made a 240 % adoption rate.
    driver, backend, facts = tablet
    adoption = next(f for f in SHIPPED_FORMS if f["code"] == "ADOPTION_FOLLOW_UP")
    backend.store.apply_pull([form_change(form_wire(adoption))], "c2")
    driver.app.show("measurements", project_id=facts["project"]["id"])
    screen = open_measurement(driver, "+ Adoption follow-up")
    applying = screen._widgets["farmers_applying"]
    assert applying.hint_text == "0\u00a0farmers – Trained farmers visited"
    driver.tap(chip(screen, "practice", next(c.text for c in screen._widgets["practice"].children)))
    driver.type(screen._widgets["farmers_visited"], "5")
    driver.type(applying, "12")
    assert screen._boxes["farmers_applying"].error == (
        "At most the answer to “Trained farmers visited”: 5"
    )
    for name, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        driver.resize(*size)
        driver.scroll_into_view(applying)
        driver.screenshot(SHOTS / f"observation-bounded-by-another-{name}.png")
    driver.tap(screen.ids.save_bottom)
    # The form scrolls to its first problem, animated: a finger waits for the page to stop.
    from kivy.animation import Animation

    driver.wait_until(lambda: not Animation._instances, what="the scroll to the problem")
    assert driver.app.manager.current == "observation"  # not saved
    driver.scroll_into_view(applying)
    driver.type(applying, "4")
    women = screen._widgets["women_applying"]
    driver.scroll_into_view(women)
    driver.type(women, "3")
    assert screen._boxes["farmers_applying"].error == ""
    driver.tap(screen.ids.save_bottom)
    driver.wait_until(lambda: driver.app.manager.current == "measurements", what="the save")


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_every_question_shows_all_its_lines_on_a_small_phone(
    tablet: tuple[kivy_driver.Driver, Any, dict], language: str
) -> None:
    # On a 360 px phone in Spanish the preparedness check's question read only "temprana *":
    # its label kept the last of its lines.
    from server.results.shipped import PREPAREDNESS_CHECK

    driver, backend, facts = tablet
    form = form_wire(PREPAREDNESS_CHECK)
    backend.store.apply_pull([form_change(form)], "c2")
    driver.app.set_language(language)
    driver.resize(360, 640)
    screen = driver.app.show("observation", project_id=facts["project"]["id"], form_id=form["id"])
    driver.step(4)
    assert_field_labels_whole(screen, language)
