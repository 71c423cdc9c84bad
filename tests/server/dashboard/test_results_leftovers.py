"""The results features' leftovers from the M&E officer's review (docs/results.md), as the
dashboard shows them: the form editor's words for a reference to a later field; a result's
target and baseline with their unit on the project page, and a sum's year to date on its chart;
the quarterly report's sum to date when the projects' targets are of different periods; the
observations download checking its filters as the page does; a taken form or indicator code
explained as one namespace for every country."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller
from server.columns import utcnow
from server.dashboard import report
from server.dashboard.i18n import Translator
from server.dashboard.session import LANGUAGE_COOKIE
from server.projects.models import Target
from server.results.forms import create_draft
from shared.errors import EXPLANATIONS, ErrorCode
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in, token_for
from tests.server.dashboard.test_forms_pages import _editor_post, _stored
from tests.server.dashboard.test_results import results_year
from tests.server.dashboard.world import World

HOUSEHOLDS = "T_LEFT_HOUSEHOLDS"
HARVEST = "T_LEFT_HARVEST"


def _facts(html: str, name: str) -> str:
    """The line of figures under a result's heading on the project page, as text."""
    start = html.index(f"<h3>{name}")
    block = html[start : html.index("</p>", start)]
    return unescape(re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", block)).strip())


def test_a_relevance_naming_a_later_field_says_to_move_it_up_in_each_language(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Field 1 shown only when field 2 holds a choice: the editor says the field comes later
    (not that the form lacks it), under the relevance input, in the reader's language."""
    csrf = token_for(officer, "/forms/new")
    later = _editor_post(
        "ORDER_CHECK",
        str(world.lso.id),
        csrf_token=csrf,
        nindicators="0",
        **{
            "f0.rel_field": "harvest_kg",
            "f0.rel_in": "x",
            "f1.rel_field": "",
            "f1.rel_in": "",
            "f1.type": "select_one",
            "f1.choices": "x | X",
            "f1.min": "",
            "f1.max": "",
            "f1.unit": "",
        },
    )
    said = {
        "en": "This refers to a field that comes later in the form: choose an earlier field, "
        "or move that one up.",
        "fr": "Ceci renvoie à un champ qui vient plus loin dans le formulaire\u202f: choisissez "
        "un champ précédent, ou remontez celui-là.",
        "pt": "Isto refere-se a um campo que vem mais à frente no formulário: escolha um campo "
        "anterior ou mova esse campo para cima.",
        "es": "Esto se refiere a un campo que viene más adelante en el formulario: elija un "
        "campo anterior o suba ese campo.",
    }
    for language, words in said.items():
        officer.cookies.set(LANGUAGE_COOKIE, language)
        refused = officer.post("/forms/new", data=later)
        assert refused.status_code == 422, language
        html = re.sub(r"[ \n]+", " ", main_of(refused.text))  # as wrapped in the page
        assert words in html, (language, html[:3000])
        lacking = Translator(language).gettext(EXPLANATIONS[ErrorCode.UNKNOWN_FIELD_REF])
        assert lacking not in html
    assert _stored(engine, "ORDER_CHECK") == []


def test_a_results_target_and_baseline_carry_its_unit_as_its_value_does(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    """ "Latest quarter: 2 households · target 1 · baseline 3" left the reader to guess what 1
    and 3 count; each figure now says its unit, in the number's grammar and the reader's
    language, and so does the year's target a sum to date is set against."""
    year = results_year(world)
    form = make_observation_form(session, code="T_LEFT_FORM")
    form.indicators = [
        {"code": HOUSEHOLDS, "name": {"en": "Households reached"}, "unit": "households",
         "aggregate": "count"},
        {"code": HARVEST, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
         "field": "harvest_kg"},
    ]  # fmt: skip
    session.add(form)
    session.flush()
    for kg in (600, 700):
        make_observation(
            session,
            world.lso,
            form,
            observed_on=f"{year}-08-10",
            values={"plot": "demo", "harvest_kg": kg, "plot_area_m2": 1000, "practice": "CA"},
        )
    for code, kind, period, value in (
        (HOUSEHOLDS, "target", f"{year}Q3", 1),
        (HOUSEHOLDS, "baseline", str(year - 1), 3),
        (HARVEST, "target", str(year), 1500),
        (HARVEST, "baseline", str(year - 1), 800),
    ):
        session.add(
            Target(project_id=world.lso.id, indicator=code, kind=kind, period=period, value=value)
        )
    session.commit()
    sign_in(client, engine, world.officer)
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    households = _facts(page, "Households reached").replace("\N{NO-BREAK SPACE}", "_")
    assert "2_households · target 1_household · baseline 3_households" in households
    harvest = _facts(page, "Harvest total").replace("\N{NO-BREAK SPACE}", "_")
    assert "1,300_kg · target 1,500_kg" in harvest
    assert f"{year} to date: 1,300 of 1,500_kg · baseline 800_kg" in harvest
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    households = _facts(page, "Households reached").replace("\N{NO-BREAK SPACE}", "_")
    assert "2_ménages · cible 1_ménage · référence 3_ménages" in households


def _report_facts(session: Session, world: World, quarter: str, language: str) -> str:
    data = report.build_report(
        session,
        caller=Caller(user=world.hq),
        t=Translator(language),
        quarter=quarter,
        scope=report.ReportScope(country="LSO"),
        now=utcnow(),
    )
    html = report.render_html(data, Translator(language))
    return _facts(html, "Harvest total")


def test_the_report_sets_a_sum_to_date_against_targets_of_different_periods(
    session: Session, world: World
) -> None:
    """One project's target is the year's (1 000), the other's the quarter's (300): the report
    printed no figure to set the combined 1 300 against. Each project is now judged over its own
    target's period, as the overview does, and the figures added: the first project's year to
    date (600 + 600) and the second's quarter (200), 1 400 of 1 300."""
    year = results_year(world)
    form = make_observation_form(session, code="T_LEFT_SUM_FORM")
    form.indicators = [
        {"code": HARVEST, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
         "field": "harvest_kg"},
    ]  # fmt: skip
    session.add(form)
    session.flush()
    for project, day, kg in (
        (world.lso, f"{year}-05-10", 600),
        (world.lso, f"{year}-08-10", 600),
        (world.lso_storage, f"{year}-05-10", 50),  # before the quarter its target is of
        (world.lso_storage, f"{year}-08-10", 200),
    ):
        make_observation(
            session,
            project,
            form,
            observed_on=day,
            values={"plot": "demo", "harvest_kg": kg, "plot_area_m2": 1000, "practice": "CA"},
        )
    for project, period, value in (
        (world.lso, str(year), 1000),
        (world.lso_storage, f"{year}Q3", 300),
    ):
        session.add(
            Target(
                project_id=project.id, indicator=HARVEST, kind="target", period=period, value=value
            )
        )
    session.commit()
    facts = _report_facts(session, world, f"{year}Q3", "en")
    assert "Target: 1,300" in facts
    assert (
        f"To date, each project over its own target’s period ({year}, {year}Q3): 1,400 of 1,300"
        in facts
    )
    facts = _report_facts(session, world, f"{year}Q3", "fr")
    assert f"({year}, {year}Q3)\u202f: 1\u202f400 sur 1\u202f300" in facts
    # The same period for both (the year's): that period to date, summed over the projects.
    session.add(
        Target(
            project_id=world.lso_storage.id, indicator=HARVEST, kind="target",
            period=str(year), value=500,
        )
    )  # fmt: skip
    session.commit()
    facts = _report_facts(session, world, f"{year}Q4", "en")
    assert f"{year} to date: 1,450 of 1,500" in facts


def _chart_rows(html: str, code: str) -> list[list[str]]:
    """The rows of a result panel's line chart's "Show the numbers" table, cells as text."""
    panel = html[html.index(f'id="result-{code.lower()}"') :]
    table = panel[panel.index("<table") : panel.index("</table>")]
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


def test_a_sums_chart_draws_the_year_to_date_it_is_judged_by(
    client: TestClient, engine: Engine, session: Session, world: World
) -> None:
    """A sum against its year's target is judged by the year to date (docs/results.md), but its
    chart drew the quarters alone under the year's target line, which no quarter reaches. The
    year to date is drawn too, meeting the target where the verdict is read; a ratio, not
    additive, gets no such line."""
    year = results_year(world)
    form = make_observation_form(session, code="T_LEFT_CHART_FORM")
    form.indicators = [
        {"code": HARVEST, "name": {"en": "Harvest total"}, "unit": "kg", "aggregate": "sum",
         "field": "harvest_kg"},
        {"code": "T_LEFT_YIELD", "name": {"en": "Harvest yield"}, "unit": "kg/ha",
         "aggregate": "ratio", "numerator": "harvest_kg", "denominator": "plot_area_m2",
         "factor": 10000},
    ]  # fmt: skip
    session.add(form)
    session.flush()
    for day, kg in ((f"{year - 1}-11-10", 900), (f"{year}-05-10", 600), (f"{year}-08-10", 700)):
        make_observation(
            session,
            world.lso,
            form,
            observed_on=day,
            values={"plot": "demo", "harvest_kg": kg, "plot_area_m2": 1000, "practice": "CA"},
        )
    for code, value in ((HARVEST, 1000), ("T_LEFT_YIELD", 7000)):
        session.add(
            Target(
                project_id=world.lso.id,
                indicator=code,
                kind="target",
                period=str(year),
                value=value,
            )
        )
    session.commit()
    sign_in(client, engine, world.officer)
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    rows = _chart_rows(page, HARVEST)
    assert rows[0] == ["Quarter", "Harvest total", "Year to date", "Target"]
    by_quarter = {r[0]: r[1:] for r in rows[1:]}
    # the year before has no target of its own: no year to date there
    assert by_quarter[f"{year - 1}Q4"] == ["900", "–", "–"]
    assert by_quarter[f"{year}Q1"] == ["–", "–", "1,000"]
    assert by_quarter[f"{year}Q2"] == ["600", "600", "1,000"]
    assert by_quarter[f"{year}Q3"] == ["700", "1,300", "1,000"]
    assert "Year to date" not in _chart_rows(page, "T_LEFT_YIELD")[0]
    client.cookies.set(LANGUAGE_COOKIE, "pt")
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    assert "Acumulado do ano" in _chart_rows(page, HARVEST)[0]


def test_the_download_names_every_filter_it_cannot_apply_as_the_page_does(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """The download checked the status alone, then the form, and showed the list (with its
    download links) under the one problem; it now answers as the page: every problem at once,
    no list, no download (400)."""
    with Session(engine) as session:
        make_observation_form(session, project=world.lso, code="LSO_LEFT_FORM")
        session.commit()
    asked = {"form": "NO_SUCH_FORM", "project": "NO-SUCH-PROJECT", "status": "bogus"}
    page = officer.get("/observations", params=asked)
    download = officer.get("/observations/download", params={**asked, "format": "csv"})
    for response in (page, download):
        assert response.status_code == 400
        main = main_of(response.text)
        for name in ("form", "project", "status"):
            assert f'id="{name}-error"' in main, (response.url, name)
        assert "/observations/download?" not in main and "observations match" not in main
    assert main_of(download.text) == main_of(page.text)
    # a good form and status still download, the status as typed with spaces around it
    good = officer.get(
        "/observations/download",
        params={"form": " lso_left_form ", "status": " approved ", "format": "csv"},
    )
    assert good.status_code == 200 and good.headers["content-type"].startswith("text/csv")


def test_a_code_another_country_holds_is_said_to_be_shared_by_every_country(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Form and indicator codes are one namespace for every scope (HQ compares indicators
    across countries): "This already exists." left a country officer, whose list lacks the
    code, looking for it. The editor says the code is taken and why, in the reader's words."""
    with Session(engine) as session:
        create_draft(
            session,
            data={
                "code": "PLOT_CHECK",
                "title": {"en": "Someone else's"},
                "fields": [{"name": "kg", "type": "decimal", "label": {"en": "kg"}}],
                "indicators": [
                    {"code": "TAKEN_KG", "name": {"en": "Y"}, "aggregate": "sum", "field": "kg"}
                ],
            },
            project=world.eth,
            actor_id=None,
        )
        session.commit()
    csrf = token_for(officer, "/forms/new")
    same_code = officer.post(
        "/forms/new", data=_editor_post("PLOT_CHECK", str(world.lso.id), csrf_token=csrf)
    )
    assert same_code.status_code == 409
    html = re.sub(r"[ \n]+", " ", main_of(same_code.text))
    assert (
        "The code PLOT_CHECK is taken: form and indicator codes are shared by every country and "
        "project, so choose another one." in html
    )
    officer.cookies.set(LANGUAGE_COOKIE, "pt")
    taken_indicator = officer.post(
        "/forms/new",
        data=_editor_post(
            "LSO_CHECK", str(world.lso.id), csrf_token=csrf, **{"i0.code": "TAKEN_KG"}
        ),
    )
    assert taken_indicator.status_code == 422
    html = re.sub(r"[ \n]+", " ", main_of(taken_indicator.text))
    assert (
        'id="i0.code-error">Outro indicador já tem este código: os códigos de indicador são '
        "comuns a todos os países e projetos" in html
    )
    assert _stored(engine, "LSO_CHECK") == []
