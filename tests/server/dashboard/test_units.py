"""Units read in the reader's language on the dashboard (docs/results.md#units): the form
preview, an indicator in words, an observation's answers (plural-aware: "1 ménage",
"6 agriculteurs"), a project's results, the overview and the quarterly report; the form's own
translations (``unit_label``, an XLSForm's ``unit::French (fr)``) from upload to page; and a
refused XLSForm's problems in the reader's words (docs/errors.md#body-shapes)."""

from __future__ import annotations

import html as html_lib
import io
import re
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.columns import utcnow
from server.dashboard import report
from server.dashboard.forms import PROBLEM_WORDS, WHY_WORDS
from server.dashboard.i18n import Translator
from server.dashboard.session import LANGUAGE_COOKIE
from server.dashboard.web import explain
from server.results import xlsform
from server.results.models import Form
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in, token_for
from tests.server.dashboard.test_forms_pages import _editor_post
from tests.server.dashboard.test_results import _bearer
from tests.server.dashboard.world import World

INDICATOR = "T_UNIT_HOUSEHOLDS"
# The form's one result indicator, counted in households.
INDICATORS: list[dict[str, Any]] = [
    {
        "code": INDICATOR,
        "name": {"en": "Households reached", "fr": "Ménages atteints"},
        "unit": "households",
        "aggregate": "sum",
        "field": "households",
    }
]
FIELDS: list[dict[str, Any]] = [
    {"name": "households", "type": "integer", "label": {"en": "Households"}, "unit": "households"},
    {"name": "lead_farmers", "type": "integer", "label": {"en": "Lead farmers"}, "unit": "farmers"},
    {"name": "area", "type": "decimal", "label": {"en": "Area"}, "unit": "m2"},
    {
        "name": "sacks",
        "type": "integer",
        "label": {"en": "Sacks"},
        "unit": "sacks",
        "unit_label": {"fr": "sacs de jute", "pt": "sacos de juta"},
    },
    {"name": "bundles", "type": "integer", "label": {"en": "Bundles"}, "unit": "bundles"},
]
# language: (households, farmers, sacks) as headings, then one household, six farmers (a
# no-break space between the number and its unit)
WORDS = {
    "en": ("households", "farmers", "sacks", "1\u00a0household", "6\u00a0farmers"),
    "fr": ("ménages", "agriculteurs", "sacs de jute", "1\u00a0ménage", "6\u00a0agriculteurs"),
    "pt": (
        "agregados familiares",
        "agricultores",
        "sacos de juta",
        "1\u00a0agregado familiar",
        "6\u00a0agricultores",
    ),
    "es": ("hogares", "agricultores", "sacks", "1\u00a0hogar", "6\u00a0agricultores"),
}


@dataclass
class Counted:
    form: Any
    observation: Any


@pytest.fixture
def counted(world: World, session: Session) -> Counted:
    counted = add_counted(session, world, french_title="Comptage")
    session.commit()
    return counted


def add_counted(session: Session, world: World, *, french_title: str) -> Counted:
    """A form of counts with an indicator in households, and one observation this quarter in
    Lesotho: 1 household, 6 lead farmers (in ``session``, not committed)."""
    form = make_observation_form(session, code="T_UNIT_COUNT", fields=FIELDS)
    form.title = {"en": "Count", "fr": french_title}
    form.indicators = [dict(i) for i in INDICATORS]
    session.add(form)
    session.flush()
    observation = make_observation(
        session,
        world.lso,
        form,
        observed_on=world.today.isoformat(),
        values={"households": 1, "lead_farmers": 6, "area": 120, "sacks": 3, "bundles": 2},
    )
    return Counted(form, observation)


def _page(client: TestClient, url: str, language: str) -> str:
    client.cookies.set(LANGUAGE_COOKIE, language)
    response = client.get(url)
    assert response.status_code == 200, response.text
    return html_lib.unescape(main_of(response.text))


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_the_preview_and_an_observation_show_units_in_the_readers_language(
    client: TestClient, engine: Engine, world: World, counted: Counted, language: str
) -> None:
    households, farmers, sacks, one_household, six_farmers = WORDS[language]
    sign_in(client, engine, world.officer)
    preview = _page(client, f"/forms/{counted.form.id}", language)
    units = re.findall(r'<span class="unit">([^<]*)</span>', preview)
    assert units == [households, farmers, "m²", sacks, "bundles"]
    assert f"({households}) = Σ households" in preview  # the indicator in words
    answers = _page(client, f"/observations/{counted.observation.id}", language)
    household, farmer = one_household.split("\u00a0")[1], six_farmers.split("\u00a0")[1]
    assert f'1\u00a0<span class="muted">{household}</span>' in answers  # never wrapped apart
    assert f'6\u00a0<span class="muted">{farmer}</span>' in answers
    assert '120\u00a0<span class="muted">m²</span>' in answers
    assert '2\u00a0<span class="muted">bundles</span>' in answers  # nobody translated it
    project = _page(client, f"/projects/{world.lso.id}", language)
    panel = project[project.index(f'id="result-{INDICATOR.lower()}"') :]
    latest = panel[: panel.index("</p>")]
    assert re.search(rf": {one_household}( ·|$)", latest), latest  # "1 ménage", singular
    assert households in panel[len(latest) :]  # the chart's axis names the unit


def test_the_project_page_counts_the_latest_value_in_french(
    client: TestClient, engine: Engine, world: World, counted: Counted
) -> None:
    sign_in(client, engine, world.officer)
    project = _page(client, f"/projects/{world.lso.id}", "fr")
    panel = project[project.index(f'id="result-{INDICATOR.lower()}"') :]
    panel = panel[: panel.index("</p>")]
    assert re.search(r": 1\u00a0ménage( |$)", panel), panel
    overview = _page(client, "/overview", "fr")
    table = overview[overview.index('id="results-across-pilots"') :]
    assert "Ménages atteints" in table and "(ménages)" in table


def test_the_quarterly_report_names_the_unit_in_the_readers_language(
    session: Session, world: World, counted: Counted
) -> None:
    for language, households in (("fr", "ménages"), ("pt", "agregados familiares")):
        t = Translator(language)
        data = report.build_report(
            session,
            caller=Caller(user=world.officer, project_ids=frozenset()),
            t=t,
            quarter=report.quarter_of(world.today),
            scope=report.ReportScope(country="LSO"),
            now=utcnow(),
        )
        (section,) = [r for r in data.results if r.code == INDICATOR]
        assert section.unit == households
        assert f"({households})" in html_lib.unescape(report.render_html(data, t))


# --- XLSForm: unit::fr from upload to page; refusals in French ------------------------------


def _xlsx(
    survey: list[list[Any]],
    *,
    settings: list[Any] | None = None,
    extra_sheet: str | None = None,
) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "survey"
    for row in survey:
        sheet.append(row)
    book.create_sheet("settings").append(["form_id", "form_title"])
    book["settings"].append(settings or ["sack_count", "Sack count"])
    if extra_sheet:
        book.create_sheet(extra_sheet).append(["x"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _upload(client: TestClient, world: World, data: bytes, name: str = "form.xlsx") -> Any:
    csrf = token_for(client, "/forms")
    return client.post(
        "/forms/import",
        data={"csrf_token": csrf, "project": world.lso.code, "publish": "1"},
        files={"file": (name, data, XLSX)},
    )


def test_a_unit_translated_in_the_xlsform_reaches_the_page(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer)
    data = _xlsx(
        [
            [
                "type",
                "name",
                "label",
                "label::French (fr)",
                "unit",
                "unit::French (fr)",
                "unit::pt",
            ],
            ["integer", "sacks", "Sacks", "Sacs", "sacks", "sacs de jute", "sacos de juta"],
            ["integer", "farmers", "Farmers", "Agriculteurs", "farmers", "", ""],
        ]
    )
    done = _upload(client, world, data)
    assert done.status_code == 200, done.text
    with Session(engine) as reader:
        form = reader.exec(select(Form).where(col(Form.code) == "SACK_COUNT")).one()
        assert form.fields[0]["unit"] == "sacks"
        assert form.fields[0]["unit_label"] == {"fr": "sacs de jute", "pt": "sacos de juta"}
        assert "unit_label" not in form.fields[1]  # no translations: no key
        form_id = form.id
    french = _page(client, f"/forms/{form_id}", "fr")
    assert re.findall(r'<span class="unit">([^<]*)</span>', french) == [
        "sacs de jute",
        "agriculteurs",
    ]
    spanish = _page(client, f"/forms/{form_id}", "es")
    assert re.findall(r'<span class="unit">([^<]*)</span>', spanish) == ["sacks", "agricultores"]
    api = client.get(f"/api/v1/forms/{form_id}", headers=_bearer(engine, world.officer)).json()
    assert api["fields"][0]["unit_label"] == {"fr": "sacs de jute", "pt": "sacos de juta"}


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
REFUSALS: list[tuple[str, bytes, str]] = [
    (
        "a type outside the subset",
        _xlsx([["type", "name", "label"], ["integer", "n", "N"], ["geopoint", "where", "Where"]]),
        "Feuille «\u202fsurvey\u202f», ligne 3, colonne «\u202ftype\u202f»\u202f: "
        "Le type de question «\u202fgeopoint\u202f» n’est pas pris en charge.",
    ),
    (
        "a sheet we do not read",
        _xlsx([["type", "name", "label"], ["integer", "n", "N"]], extra_sheet="notes"),
        "Feuille «\u202fnotes\u202f»\u202f: Une feuille nommée «\u202fnotes\u202f» n’est pas lue",
    ),
    (
        "a constraint we do not read",
        _xlsx(
            [["type", "name", "label", "constraint"], ["integer", "n", "N", ". > 3"]],
        ),
        "Feuille «\u202fsurvey\u202f», ligne 2, colonne «\u202fconstraint\u202f»\u202f: "
        "La contrainte «\u202f. > 3\u202f» n’est pas écrite . >= a ou . <= b.",
    ),
    (
        "a column we do not read",
        _xlsx([["type", "name", "label", "appearance"], ["integer", "n", "N", "numbers"]]),
        "Feuille «\u202fsurvey\u202f», ligne 2, colonne «\u202fappearance\u202f»\u202f: "
        "La colonne «\u202fappearance\u202f» n’est pas prise en charge.",
    ),
    (
        "a picture instead of a workbook",
        PNG,
        "Ce fichier n’est pas un classeur Excel (.xlsx) lisible\u202f: c’est une image PNG.",
    ),
]


@pytest.mark.parametrize(("why", "data", "sentence"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_upload_says_why_in_french(
    client: TestClient, engine: Engine, world: World, why: str, data: bytes, sentence: str
) -> None:
    sign_in(client, engine, world.officer)
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    refused = _upload(client, world, data)
    assert refused.status_code == 422, why
    page = html_lib.unescape(main_of(refused.text))
    table = page[page.index('<table class="problems">') : page.index("</table>")]
    assert sentence in table, table
    # our English reasons are not shown to a French reader
    assert "is not supported" not in table and "not an Excel workbook" not in table
    with Session(engine) as reader:
        assert reader.exec(select(Form).where(col(Form.code) == "SACK_COUNT")).all() == []


def test_a_definition_error_is_worded_from_its_code_with_the_path_as_detail(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer)
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    data = _xlsx([["type", "name", "label"], ["integer", "Bad Name", "B"]])
    page = html_lib.unescape(main_of(_upload(client, world, data).text))
    table = page[page.index('<table class="problems">') : page.index("</table>")]
    french = Translator("fr")
    assert explain(french, "not_snake_case") in table
    assert "<code>fields[0].name</code>" in table


def test_pyxforms_own_message_stays_as_a_detail(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer)
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    data = _xlsx([["type", "name", "label", "label"], ["integer", "n", "N", "N"]])
    page = html_lib.unescape(main_of(_upload(client, world, data).text))
    table = page[page.index('<table class="problems">') : page.index("</table>")]
    assert "Les en-têtes de colonne n’ont pas pu être lus" in table
    assert re.search(r"\(<code>[^<]+</code>\)", table), table  # pyxform's words, kept


def test_every_problem_key_has_words() -> None:
    assert set(PROBLEM_WORDS) == set(xlsform.PROBLEMS) - {"definition"}
    assert set(WHY_WORDS) == set(xlsform.WHY)
    french = Translator("fr")
    for key, words in PROBLEM_WORDS.items():
        assert french.gettext(words) != words, key


def test_the_editor_keeps_and_edits_a_units_translations(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer)
    client.cookies.set(LANGUAGE_COOKIE, "en")
    csrf = token_for(client, "/forms/new")
    data = _editor_post(
        "SACK_CHECK",
        str(world.lso.id),
        csrf_token=csrf,
        **{
            "f1.unit": "sacks",
            "f1.unit_label.fr": "sacs",
            "f1.unit_label.pt": "sacos",
            "i0.unit": "sacks",
            "i0.unit_label.es": "sacos",
        },
    )
    saved = client.post("/forms/new", data=data)
    assert saved.status_code == 200, main_of(saved.text)[:2000]
    with Session(engine) as reader:
        form = reader.exec(select(Form).where(col(Form.code) == "SACK_CHECK")).one()
        assert form.fields[1]["unit_label"] == {"fr": "sacs", "pt": "sacos"}
        assert form.indicators[0]["unit_label"] == {"es": "sacos"}
        form_id = form.id
    editor = main_of(client.get(f"/forms/{form_id}/edit").text)
    assert re.search(r'id="f1\.unit_label\.fr"[^>]*value="sacs"', editor)
    assert re.search(r'id="i0\.unit_label\.es"[^>]*value="sacos"', editor)
    # saving the draft again keeps them (nothing the editor does not show is dropped)
    again = {**data, "action": "save"}
    assert client.post(f"/forms/{form_id}/edit", data=again).status_code == 200
    with Session(engine) as reader:
        saved = reader.get(Form, form_id)
        assert saved is not None and saved.fields[1]["unit_label"] == {"fr": "sacs", "pt": "sacos"}
    french = _page(client, f"/forms/{form_id}", "fr")
    assert '<span class="unit">sacs</span>' in french
    spanish = _page(client, f"/forms/{form_id}", "es")
    assert "(sacos) = Σ harvest_kg" in spanish
