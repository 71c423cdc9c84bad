"""Units on the tablet's observation form read in the tablet's language (docs/results.md#units):
symbols stay symbols (m2 shows as m²), known words are translated with their plural (“1
agricultor”, “500 agregados familiares”), the form's own translations (``unit_label``, from an
XLSForm's ``unit::French (fr)``) come first, and a unit nobody translated shows as written."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from field_app.controllers import observations as obs
from field_app.i18n import set_language
from shared.validation import Issue
from tests.field_app import kivy_driver
from tests.field_app.test_observations import form_change, form_wire

PROJECT = "5d7e1a52-0f5c-4b0e-9a57-0c1f4e1f8a11"
TODAY = date(2025, 6, 10)

COUNT: dict[str, Any] = {
    "code": "HOUSEHOLD_COUNT",
    "title": {
        "en": "Household count",
        "fr": "Comptage des ménages",
        "pt": "Contagem de agregados",
        "es": "Conteo de hogares",
    },
    "fields": [
        {
            "name": "households",
            "type": "integer",
            "label": {"en": "Households"},
            "unit": "households",
            "min": 0,
            "max": 500,
        },
        {
            "name": "lead_farmers",
            "type": "integer",
            "label": {"en": "Lead farmers"},
            "unit": "farmers",
            "min": 1,
            "max": 1,
        },
        {"name": "area", "type": "decimal", "label": {"en": "Area"}, "unit": "m2", "min": 1},
        {
            "name": "sacks",
            "type": "integer",
            "label": {"en": "Sacks"},
            "unit": "sacks",
            "unit_label": {"fr": "sacs de jute", "pt": "sacos de juta"},
            "max": 20,
        },
        {
            "name": "bundles",
            "type": "integer",
            "label": {"en": "Bundles"},
            "unit": "bundles",
            "max": 9,
        },
    ],
    "indicators": [],
}

EXPECTED = {
    # language: (households bounds, one farmer, area, sacks, bundles)
    "en": (
        "0 – 500\u00a0households",
        "1 – 1\u00a0farmer",
        "≥ 1\u00a0m²",
        "≤ 20\u00a0sacks",
        "≤ 9\u00a0bundles",
    ),
    "fr": (
        "0 – 500\u00a0ménages",
        "1 – 1\u00a0agriculteur",
        "≥ 1\u00a0m²",
        "≤ 20\u00a0sacs de jute",
        "≤ 9\u00a0bundles",
    ),
    "pt": (
        "0 – 500\u00a0agregados familiares",
        "1 – 1\u00a0agricultor",
        "≥ 1\u00a0m²",
        "≤ 20\u00a0sacos de juta",
        "≤ 9\u00a0bundles",
    ),
    "es": (
        "0 – 500\u00a0hogares",
        "1 – 1\u00a0agricultor",
        "≥ 1\u00a0m²",
        "≤ 20\u00a0sacks",
        "≤ 9\u00a0bundles",
    ),
}
HEADINGS = {
    "en": ("households", "farmers", "m²", "sacks", "bundles"),
    "fr": ("ménages", "agriculteurs", "m²", "sacs de jute", "bundles"),
    "pt": ("agregados familiares", "agricultores", "m²", "sacos de juta", "bundles"),
    "es": ("hogares", "agricultores", "m²", "sacks", "bundles"),
}
NAMES = ("households", "lead_farmers", "area", "sacks", "bundles")


@pytest.fixture
def english() -> Iterator[None]:
    yield
    set_language("en")


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_a_fields_unit_and_bounds_read_in_the_tablet_language(english: None, language: str) -> None:
    set_language(language)
    form = obs.ObservationForm(form=form_wire(COUNT), project_id=PROJECT, today=TODAY)
    views = {v.name: v for v in form.views()}
    assert tuple(views[n].bounds for n in NAMES) == EXPECTED[language]
    assert tuple(views[n].unit for n in NAMES) == HEADINGS[language]


def test_a_range_message_counts_each_bound_in_its_own_number(english: None) -> None:
    """French takes the singular for 0 and 1 (“0 ménage”), Portuguese only for 1."""
    spec = COUNT["fields"][0]
    issue = Issue("values.households", "value_range", "out of range")
    set_language("fr")
    assert (
        obs.value_message(issue, spec) == "Utilisez une valeur de 0\u00a0ménage à 500\u00a0ménages"
    )
    set_language("pt")
    assert obs.value_message(issue, spec).endswith(
        "0\u00a0agregados familiares a 500\u00a0agregados familiares"
    )
    one = {**spec, "min": 1, "max": 1}
    assert "1\u00a0agregado familiar" in obs.value_message(issue, one)


def test_a_form_the_tablet_already_holds_without_unit_label_still_reads(english: None) -> None:
    """Forms pulled before ``unit_label`` existed have no such key."""
    old = form_wire(copy.deepcopy(COUNT))
    for f in old["fields"]:
        f.pop("unit_label", None)
    set_language("fr")
    views = {
        v.name: v for v in obs.ObservationForm(form=old, project_id=PROJECT, today=TODAY).views()
    }
    assert views["sacks"].bounds == "≤ 20\u00a0sacks"  # as the author wrote it
    assert views["households"].bounds == "0 – 500\u00a0ménages"


@pytest.mark.kivy
@pytest.mark.slow
def test_the_observation_screen_shows_units_in_portuguese(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession
    from sync.protocol import Change, Op
    from tests.field_app.test_ui import QUIET, SHOTS, make_app, on_screen, open_measurement

    backend = StoreBackend(tmp_path / "tablet", schedule_options=QUIET)
    backend.store.set_meta(
        server_url="http://127.0.0.1:9",
        device_token="t",
        username="amina",
        role="field_expert",
        label="tab",
    )
    project: dict[str, Any] = {
        "id": PROJECT,
        "code": "MOZ-CPP-01",
        "name": "Cassava",
        "kind": "CPP",
        "country": "MOZ",
        "thematic_area": "TA1",
        "solutions": ["S1"],
        "start_date": "2024-01-01",
        "end_date": "2027-12-31",
        "roster": False,
    }
    backend.store.apply_pull(
        [
            Change(entity="project", id=PROJECT, op=Op.UPSERT, version=1, data=project),
            form_change(form_wire(COUNT)),
        ],
        "c1",
    )
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    with kivy_driver.running(make_app(session)) as driver:
        try:
            driver.app.set_language("pt")
            driver.resize(800, 1280)
            home = on_screen(driver, "home")
            driver.tap(driver.find_text(home, "Medições"))
            screen = open_measurement(driver, "+ Contagem de agregados")
            assert screen._boxes["households"].label == "Households (agregados familiares)"
            assert screen._widgets["households"].hint_text == "0 – 500\u00a0agregados familiares"
            assert screen._boxes["sacks"].label == "Sacks (sacos de juta)"
            assert screen._widgets["area"].hint_text == "≥ 1\u00a0m²"
            driver.type(screen._widgets["households"], "900")
            assert screen._boxes["households"].error.endswith("a 500\u00a0agregados familiares")
            driver.screenshot(SHOTS / "observation-units-pt-portrait.png")
        finally:
            driver.app.set_language("en")
