"""The value an officer types when settling a sync conflict is read by the tablet's rules
(``shared.typography.read_typed_number``) in the reader's language: the same typed text is the
same number on the tablet and the dashboard. The conflict form read French "1.234" as 1.234 and
Portuguese "1.5" as 1.5 (babel's reading, then English's), where the tablet refuses the first
as unclear and the second too. A number that does not read is refused at its field in the
target form's words, what was typed kept and nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import conflicts
from server.dashboard.i18n import Translator
from server.results.models import Observation
from server.sync.models import SyncConflict
from shared.typography import TypedNumberError, read_typed_number
from tests.factories import make_observation_form, observation_data
from tests.server.dashboard.conftest import fresh, main_of
from tests.server.dashboard.test_conflict_list import Tablets, _open_conflict, _settle
from tests.server.dashboard.world import World

HARVEST = "values.harvest_kg"


def _harvest_conflict(
    officer: TestClient, engine: Engine, world: World, session: Session
) -> tuple[uuid.UUID, str]:
    """Two tablets weighed the same harvest otherwise: the conflict's id and its page."""
    form = make_observation_form(session)
    session.commit()
    data = observation_data(world.lso, form)
    Tablets(officer, world).clash(
        "observation",
        data,
        {"values": {**data["values"], "harvest_kg": 450}},
        {"values": {**data["values"], "harvest_kg": 470}},
    )
    conflict = _open_conflict(engine, data["id"])
    assert conflict.fields == [HARVEST]
    return conflict.id, f"/observations/{data['id']}"


def _custom(officer: TestClient, page: str, conflict_id: uuid.UUID, typed: str) -> Any:
    return _settle(
        officer,
        page,
        conflict_id,
        on="record",
        keep="custom",
        **{f"choice.{HARVEST}": "custom", f"value.{HARVEST}": typed},
    )


@pytest.mark.parametrize(
    ("language", "typed", "said"),
    [
        # a point that may group thousands in French: neither reading guessed, both shown
        (
            "fr",
            "1.234",
            "Pas clair\u202f: saisissez 1\u202f234 pour un nombre entier, ou 1,234 pour un "
            "nombre décimal.",
        ),
        # a mark that groups nothing: the decimal it may be, written the reader's way
        ("en", "1,5", "Unclear: type 1.5 for a decimal, or group thousands by three."),
        (
            "pt",
            "1.5",
            "Pouco claro: introduza 1,5 para um número decimal, ou agrupe os milhares de três "
            "em três.",
        ),
        # no number at all: an example written the reader's way
        ("es", "1.2.3", "Escriba un número, por ejemplo 1.234,5."),
        ("en", "465 kg", "Type a number, like 1,234.5."),
        # longer than any number a field takes: no number (and never read digit by digit)
        pytest.param("en", "9" * 5000, "Type a number, like 1,234.5.", id="en-5000-digits"),
    ],
)
def test_a_typed_value_that_is_no_clear_number_is_refused_in_the_target_forms_words(
    officer: TestClient,
    engine: Engine,
    world: World,
    session: Session,
    language: str,
    typed: str,
    said: str,
) -> None:
    conflict_id, page = _harvest_conflict(officer, engine, world, session)
    observation_id = uuid.UUID(page.rsplit("/", 1)[1])
    version = fresh(engine, Observation, observation_id).version
    officer.cookies.set("pilotmon_lang", language)
    refused = _custom(officer, page, conflict_id, typed)
    assert refused.status_code == 422, refused.text[:500]
    shown = main_of(refused.text)
    assert f'class="field-error" id="c{conflict_id.hex[:8]}-1-error">{said}</p>' in shown
    assert f'value="{typed}"' in shown  # kept as typed
    assert fresh(engine, SyncConflict, conflict_id).status == "open"
    assert fresh(engine, Observation, observation_id).version == version  # nothing written


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [
        # grouped by points, with a decimal comma: one reading in French, refused here before
        ("fr", "1.234,5", 1234.5),
        ("es", "12.345,5", 12345.5),
        ("fr", "1.5", 1.5),  # a keypad's point, where it cannot group thousands
        ("pt", "1.234", 1234),
        ("en", "1,234.5", 1234.5),
    ],
)
def test_a_typed_value_is_the_number_the_tablet_reads(
    officer: TestClient,
    engine: Engine,
    world: World,
    session: Session,
    language: str,
    typed: str,
    read: float,
) -> None:
    conflict_id, page = _harvest_conflict(officer, engine, world, session)
    officer.cookies.set("pilotmon_lang", language)
    done = _custom(officer, page, conflict_id, typed)
    assert done.status_code == 303, main_of(done.text)[:2000]
    stored = fresh(engine, Observation, uuid.UUID(page.rsplit("/", 1)[1]))
    assert stored.values["harvest_kg"] == read
    assert fresh(engine, SyncConflict, conflict_id).status == "resolved"


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
@pytest.mark.parametrize(
    "typed",
    [
        "1.234",
        "1,234",
        "1.5",
        "1,5",
        "1 234",
        "1\u202f234,5",
        "1.234,5",
        "1,234.5",
        "0.500",
        "−2.75",
        "-29,35",
        "12.345.678",
    ],
)
def test_the_conflict_form_reads_a_typed_number_as_the_tablet_does(
    language: str, typed: str
) -> None:
    try:
        tablet: object = read_typed_number(typed, language)
    except TypedNumberError:
        tablet = typed  # refused: passed on as typed, never as a number
    assert conflicts._read(Translator(language), "number", typed) == tablet
