"""The form editor's numbers (a field's minimum and maximum, a ratio's factor) are read by the
tablet's rules (``shared.typography.read_typed_number``) in the reader's language, so a bound
typed on the dashboard is the number the tablet reads from the same text. The editor read the
point as the decimal mark in every language: Portuguese "1.234" was 1.234 there (1234 on the
tablet), French "1.234" 1.234 (unclear on the tablet), and Portuguese "2,5" no number at all.
A bound that does not read is refused at its input in the target form's words, what was typed
kept and nothing saved; a stored bound is written in the editor the reader's way, so that it
reads back as itself."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.dashboard import forms
from server.db import write_engine
from server.results.forms import create_draft
from server.results.models import Form
from shared.typography import TypedNumberError, read_typed_number
from tests.server.dashboard.conftest import main_of, sqlite_only, token_for
from tests.server.dashboard.test_forms_pages import _editor_post
from tests.server.dashboard.world import World


def _stored(engine: Engine, code: str) -> list[Form]:
    with Session(engine) as reader:
        rows = reader.exec(select(Form).where(col(Form.code) == code)).all()
        for row in rows:
            reader.expunge(row)
        return list(rows)


def _post(officer: TestClient, language: str, code: str, world: World, **changes: str) -> Any:
    """A new form of the Lesotho project saved from the editor (``_editor_post``'s inputs)."""
    officer.cookies.set("pilotmon_lang", language)
    csrf = token_for(officer, "/forms/new")
    data = _editor_post(code, str(world.lso.id), csrf_token=csrf, **changes)
    return officer.post("/forms/new", data=data)


@sqlite_only
@pytest.mark.parametrize(
    ("language", "key", "typed", "said"),
    [
        # a point that may group thousands in French: neither reading guessed, both shown
        (
            "fr",
            "f1.min",
            "1.234",
            "Pas clair\u202f: saisissez 1\u202f234 pour un nombre entier, ou 1,234 pour un "
            "nombre décimal.",
        ),
        # a mark that groups nothing: the decimal it may be, written the reader's way
        ("en", "f1.max", "1,5", "Unclear: type 1.5 for a decimal, or group thousands by three."),
        (
            "es",
            "f1.max",
            "2.5",
            "Poco claro: escriba 2,5 para un número decimal, o agrupe los miles de tres en tres.",
        ),
        # no number at all: an example written the reader's way
        ("pt", "f1.min", "1,2,3", "Introduza um número, por exemplo 1.234,5."),
    ],
)
def test_a_bound_that_is_no_clear_number_is_refused_in_the_target_forms_words(
    officer: TestClient,
    engine: Engine,
    world: World,
    language: str,
    key: str,
    typed: str,
    said: str,
) -> None:
    code = f"BOUND_{language.upper()}"
    refused = _post(officer, language, code, world, **{key: typed})
    assert refused.status_code == 422, main_of(refused.text)[:2000]
    html = main_of(refused.text)
    assert f'id="{key}-error">{said}</p>' in html
    assert f'name="{key}" type="text" maxlength="40" value="{typed}"' in html  # kept as typed
    assert _stored(engine, code) == []


@sqlite_only
def test_a_factor_that_is_no_clear_number_is_refused_in_the_target_forms_words(
    officer: TestClient, engine: Engine, world: World
) -> None:
    refused = _post(
        officer,
        "fr",
        "FACTOR_FR",
        world,
        **{"i0.aggregate": "ratio", "i0.field": "", "i0.numerator": "harvest_kg"},
        **{"i0.denominator": "harvest_kg", "i0.compare": "", "i0.factor": "1.500"},
    )
    assert refused.status_code == 422
    assert (
        'id="i0.factor-error">Pas clair\u202f: saisissez 1\u202f500 pour un nombre entier, ou '
        "1,5 pour un nombre décimal.</p>"
    ) in main_of(refused.text)
    assert _stored(engine, "FACTOR_FR") == []


@pytest.mark.parametrize(
    ("language", "low", "high", "read"),
    [
        ("pt", "2,5", "1.234", (2.5, 1234)),  # Portuguese groups thousands with a point
        ("fr", "0.5", "1.234,5", (0.5, 1234.5)),  # a keypad's point; grouped by points
        ("en", "−0.5", "1,234.5", (-0.5, 1234.5)),  # as the preview writes them
    ],
)
def test_a_bound_is_the_number_the_tablet_reads(
    officer: TestClient,
    engine: Engine,
    world: World,
    language: str,
    low: str,
    high: str,
    read: tuple[float, float],
) -> None:
    code = f"BOUNDS_{language.upper()}"
    saved = _post(officer, language, code, world, **{"f1.min": low, "f1.max": high})
    assert saved.status_code == 200, main_of(saved.text)[:2000]
    (draft,) = _stored(engine, code)
    assert (draft.fields[1]["min"], draft.fields[1]["max"]) == read


def test_a_stored_bound_is_shown_the_readers_way_and_saves_back_as_itself(
    officer: TestClient, engine: Engine, world: World
) -> None:
    # The editor wrote 2.5 as "2.5" in every language: saved again unchanged in Portuguese it
    # would now be unclear (a point groups thousands there), and 1234.5 as "1234.5" no number.
    with Session(write_engine(engine)) as writer:
        form = create_draft(
            writer,
            data={
                "code": "STORED_BOUNDS",
                "title": {"en": "Stored bounds"},
                "fields": [
                    {"name": "area", "type": "decimal", "label": {"en": "Area"}, "min": 2.5},
                    {
                        "name": "harvest_kg",
                        "type": "decimal",
                        "label": {"en": "Harvest"},
                        "min": -0.5,
                        "max": 1234.5,
                    },
                ],
                "indicators": [
                    {
                        "code": "STORED_YIELD",
                        "name": {"en": "Yield"},
                        "aggregate": "ratio",
                        "numerator": "harvest_kg",
                        "denominator": "area",
                        "factor": 0.001,
                    }
                ],
            },
            project=world.lso,
            actor_id=None,
        )
        writer.commit()
        form_id = form.id
    officer.cookies.set("pilotmon_lang", "pt")
    html = main_of(officer.get(f"/forms/{form_id}/edit").text)
    shown = dict(re.findall(r'name="([^"]+)" type="text" maxlength="\d+" value="([^"]*)"', html))
    assert (shown["f0.min"], shown["f1.min"], shown["f1.max"]) == ("2,5", "−0,5", "1234,5")
    assert shown["i0.factor"] == "0,001"
    # Saved as shown: the same numbers.
    data = {
        **shown,
        "csrf_token": token_for(officer, f"/forms/{form_id}/edit"),
        "nfields": "2",
        "nindicators": "1",
        "f0.type": "decimal",
        "f1.type": "decimal",
        "i0.aggregate": "ratio",
        "i0.numerator": "harvest_kg",
        "i0.denominator": "area",
        "action": "save",
    }
    saved = officer.post(f"/forms/{form_id}/edit", data=data)
    assert saved.status_code == 200, main_of(saved.text)[:2000]
    (stored,) = _stored(engine, "STORED_BOUNDS")
    assert stored.id == form_id and isinstance(form_id, uuid.UUID)
    assert [(f.get("min"), f.get("max")) for f in stored.fields] == [(2.5, None), (-0.5, 1234.5)]
    assert stored.indicators[0]["factor"] == 0.001


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
@pytest.mark.parametrize(
    "typed",
    [
        "1.234",
        "1,234",
        "1.5",
        "1,5",
        "1 234",
        "100\u202f000",
        "1.234,5",
        "1,234.5",
        "0.500",
        "−2.75",
        "-2,75",
        "12.345.678",
        "1e3",
    ],
)
def test_the_editor_reads_a_typed_bound_as_the_tablet_does(language: str, typed: str) -> None:
    try:
        tablet: object = read_typed_number(typed, language)
    except TypedNumberError:
        tablet = typed  # refused: passed on as typed, for the rules to call it not_number
    assert forms._bound_value(typed, "decimal", language) == tablet
    assert forms._bound_value("${visited}", "integer", language) == "${visited}"
