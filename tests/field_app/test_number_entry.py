"""Numbers typed in a measurement follow the tablet's language (shared.typography): "2,500" kg
is 2500 in English, "1.234" is 1234 in Portuguese and unclear in French, and an entry the
language does not write that way is refused with a message whose example fits the field —
never guessed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from field_app.controllers import observations as obs
from field_app.i18n import set_language
from server.results.shipped import ADOPTION_FOLLOW_UP, DEMO_PLOT_HARVEST
from shared.typography import TypedNumberError, read_typed_number
from tests.field_app.test_observations import form_wire

TODAY = date(2025, 6, 10)
PROJECT = str(uuid.uuid4())
NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def harvest_form(record: dict[str, Any] | None = None) -> obs.ObservationForm:
    form = obs.ObservationForm(
        form=form_wire(DEMO_PLOT_HARVEST), project_id=PROJECT, today=TODAY, record=record
    )
    return form


def filled(form: obs.ObservationForm) -> obs.ObservationForm:
    form.choose("crop", "potato")
    form.choose("plot", "control")
    form.set_text("plot_area_m2", "100")
    form.set_text("harvest_date", "2025-06-01")
    return form


@pytest.mark.parametrize(
    ("language", "typed", "stored"),
    [
        ("en", "2,500", 2500),  # was stored as 2.5 kg, without a word
        ("en", "2500", 2500),
        ("en", "2.5", 2.5),
        ("en", "1.234", 1.234),
        ("pt", "1.234", 1234),  # was 1.234 in every language
        ("es", "1.234", 1234),
        ("fr", "1,234", 1.234),
        ("fr", "2,5", 2.5),
        ("fr", f"1{NBSP}234,5", 1234.5),
        ("fr", "1 234,5", 1234.5),
        ("fr", "1.5", 1.5),  # a keypad's decimal point: it cannot group thousands
        ("fr", "1.234,5", 1234.5),
        ("pt", "1.234,5", 1234.5),
        ("es", "1.234,5", 1234.5),
    ],
)
def test_a_weight_is_stored_as_the_language_writes_it(
    language: str, typed: str, stored: float
) -> None:
    set_language(language)
    form = filled(harvest_form())
    form.set_text("harvest_kg", typed)
    assert "harvest_kg" not in form.check()
    save = form.to_save()
    assert save is not None
    assert save.observation["values"]["harvest_kg"] == stored


@pytest.mark.parametrize(
    ("language", "typed", "message"),
    [
        ("en", "2,5", "Unclear: write 2.5 for a decimal, or group thousands by three"),
        (
            # 1234 as the tablet read it, 1.234 as the dashboard did: neither is guessed
            "fr",
            "1.234",
            f"Pas clair{NBSP}: écrivez 1{NBSP}234 pour un nombre entier, ou 1,234 pour un "
            "nombre décimal",
        ),
        (
            "pt",
            "1.5",
            "Pouco claro: escreva 1,5 para um número decimal, ou agrupe os milhares de três "
            "em três",
        ),
        (
            "es",
            "1.5",
            "Poco claro: escriba 1,5 para un número decimal, o agrupe los miles de tres en tres",
        ),
    ],
)
def test_an_unclear_number_is_refused_and_the_decimal_shown(
    language: str, typed: str, message: str
) -> None:
    set_language(language)
    form = filled(harvest_form())
    form.set_text("harvest_kg", typed)
    assert form.shown_errors()["harvest_kg"] == message
    assert form.to_save() is None  # nothing guessed, nothing saved


def test_a_french_point_that_may_group_thousands_offers_the_whole_number_in_a_whole_field() -> None:
    # The dashboard says both readings (server/dashboard/targets.py); a whole field has one.
    set_language("fr")
    adoption = form_wire(ADOPTION_FOLLOW_UP)
    fields = {f["name"]: f for f in adoption["fields"]}
    with pytest.raises(TypedNumberError) as refused:
        read_typed_number("1.234", "fr")
    assert obs.typed_number_message(refused.value, fields["farmers_visited"]) == (
        f"Pas clair{NBSP}: écrivez 1{NBSP}234 pour ce nombre entier"
    )


@pytest.mark.parametrize(
    ("language", "typed", "message"),
    [
        ("en", "1,23,456", f"Write the number as in English, e.g. 1,250.5{NBSP}kg"),
        ("en", "2.500.5", f"Write the number as in English, e.g. 1,250.5{NBSP}kg"),
        ("fr", "1,234.5", f"Écrivez le nombre comme en français, p. ex. 1{NBSP}250,5{NBSP}kg"),
        ("pt", "1,2,3", f"Escreva o número como em português, p. ex. 1{NBSP}250,5{NBSP}kg"),
        ("es", "1,2,3", f"Escriba el número como en español, p. ej. 1250,5{NBSP}kg"),
    ],
)
def test_a_malformed_number_is_refused_with_an_example_of_the_field(
    language: str, typed: str, message: str
) -> None:
    set_language(language)
    form = filled(harvest_form())
    form.set_text("harvest_kg", typed)
    assert form.shown_errors()["harvest_kg"] == message
    assert form.to_save() is None


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", f"Type a number, e.g. 12.5{NBSP}kg"),
        ("fr", f"Saisissez un nombre, p. ex. 12,5{NBSP}kg"),
        ("pt", f"Escreva um número, p. ex. 12,5{NBSP}kg"),
        ("es", f"Escriba un número, p. ej. 12,5{NBSP}kg"),
    ],
)
def test_the_example_for_a_weight_is_a_weight_not_a_latitude(language: str, message: str) -> None:
    # "Type a number, e.g. −29.31" under a harvest in kilograms.
    set_language(language)
    form = filled(harvest_form())
    form.set_text("harvest_kg", "lots")
    assert form.shown_errors()["harvest_kg"] == message
    assert "29" not in message


def test_an_example_keeps_within_the_field_s_bounds_and_kind() -> None:
    adoption = form_wire(ADOPTION_FOLLOW_UP)
    fields = {f["name"]: f for f in adoption["fields"]}
    assert obs.example_value(fields["farmers_visited"]) == 12  # 1–10 000 farmers, whole
    assert obs.example_value(fields["months_since_training"], grouped=True) == 12  # 0–60
    assert obs.example_value({"type": "decimal", "min": 0, "max": 1}) == 0.5
    assert obs.example_value({"type": "decimal", "min": 2000, "max": 2100}) == 2000
    assert obs.example_value({"type": "integer", "min": -40, "max": -10}) == -40
    assert obs.example_value({"type": "decimal", "max": "${other}"}) == 12.5
    assert obs.example_value({"type": "text"}) is None


def test_a_whole_number_field_refuses_a_decimal() -> None:
    form = obs.ObservationForm(form=form_wire(ADOPTION_FOLLOW_UP), project_id=PROJECT, today=TODAY)
    form.set_text("farmers_visited", "2.5")
    assert form.shown_errors()["farmers_visited"] == "Type a whole number"
    form.set_text("farmers_visited", "1,250")
    assert "farmers_visited" not in form.shown_errors()
    assert form.values["farmers_visited"] == 1250
    form.set_text("farmers_visited", "2,5")  # neither a thousand nor a whole number
    assert form.shown_errors()["farmers_visited"] == (
        f"Write the number as in English, e.g. 1{NBSP}250{NBSP}farmers"
    )


def test_a_stored_decimal_shows_and_saves_back_as_the_same_number_in_french() -> None:
    # The box showed "42.5" to a French tablet, which now reads a dot as grouping.
    first = filled(harvest_form())
    first.set_text("harvest_kg", "42.5")
    save = first.to_save()
    assert save is not None
    set_language("fr")
    again = harvest_form(record=save.observation)
    assert again.texts["harvest_kg"] == "42,5"
    again.set_text("harvest_kg", again.texts["harvest_kg"])
    corrected = again.to_save()
    assert corrected is not None
    assert corrected.observation["values"]["harvest_kg"] == 42.5


def test_a_corrected_number_clears_its_message() -> None:
    form = filled(harvest_form())
    form.set_text("harvest_kg", "2,5")
    assert "harvest_kg" in form.shown_errors()
    form.set_text("harvest_kg", "2.5")
    assert "harvest_kg" not in form.shown_errors()
    form.set_text("harvest_kg", "")
    assert form.shown_errors()["harvest_kg"] == "Required"
