"""The exports page: indicator tables as CSV and XLSX, DHIS2 data values, IATI activities —
the numbers of the API, the caller's scope, bad choices named next to their field."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import session as cookies
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only
from tests.server.dashboard.test_results import CODE as RESULT_CODE
from tests.server.dashboard.test_results import add_results
from tests.server.dashboard.world import World


def _api_rows(
    client: TestClient, engine: Engine, world: World, params: dict[str, str]
) -> list[dict[str, object]]:
    api = TestClient(client.app)
    sign_in(api, engine, world.officer)
    token = api.cookies.get(cookies.SESSION_COOKIE)
    answer = api.get(
        "/api/v1/indicators/PARTICIPANTS/values",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()["rows"]
    return rows


@sqlite_only
def test_the_form_offers_every_indicator_and_keeps_a_chosen_project(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get(f"/exports?project={world.lso.code}").text)
    for code in ("ACTIVITIES", "PARTICIPANTS", "WOMEN_SHARE", "TARGET_ACHIEVEMENT"):
        assert f'<option value="{code}"' in html
    assert f'<option value="{world.lso.code}" selected>' in html
    assert world.eth.code not in html  # another country's project is not offered
    for fmt in ("csv", "xlsx", "dhis2", "iati"):
        assert f'name="format" value="{fmt}"' in html
    assert 'href="/observations" id="observations-export"' in html  # where a form's are


def test_a_csv_holds_the_values_of_the_api(
    officer: TestClient, engine: Engine, world: World
) -> None:
    response = officer.get(
        "/exports/download",
        params={"indicator": "PARTICIPANTS", "group_by": "sex", "format": "csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="participants-' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    api = _api_rows(officer, engine, world, {"group_by": "sex"})
    assert {r["sex"]: int(r["value"]) for r in rows} == {r["sex"]: r["value"] for r in api}
    assert sum(int(r["value"]) for r in rows) > 0


@sqlite_only
def test_an_xlsx_has_the_same_table(officer: TestClient, world: World) -> None:
    response = officer.get(
        "/exports/download",
        params=[
            ("indicator", "ACTIVITIES"),
            ("group_by", "project"),
            ("group_by", "period:year"),
            ("format", "xlsx"),
            ("status", "approved"),
        ],
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == ["project", "period", "value"]
    projects = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert projects == {world.lso.code, world.lso_storage.code}


@sqlite_only
def test_dhis2_needs_a_period_and_then_sends_data_values(officer: TestClient, world: World) -> None:
    missing = officer.get("/exports/download", params={"format": "dhis2", "period": ""})
    assert missing.status_code == 400
    assert 'id="period-error"' in missing.text
    wrong = officer.get("/exports/download", params={"format": "dhis2", "period": "spring"})
    assert wrong.status_code == 400
    assert 'value="spring"' in wrong.text  # the typed value stays in the field
    response = officer.get(
        "/exports/download", params={"format": "dhis2", "period": str(world.today.year)}
    )
    assert response.status_code == 200
    values = json.loads(response.content)["dataValues"]
    assert values and all(v["period"].startswith(str(world.today.year)) for v in values)


@sqlite_only
def test_a_filter_the_file_cannot_apply_is_named_not_ignored(
    officer: TestClient, world: World
) -> None:
    """DHIS2's file is every mapped indicator per country, IATI's is per project: a project,
    thematic area, activity type or date they cannot apply is said next to it, not dropped."""
    year = str(world.today.year)
    for params, refused in (
        (
            {
                "format": "dhis2",
                "period": year,
                "project": world.lso.code,
                "activity_type": "demonstration",
            },
            ["activity_type", "project"],
        ),
        ({"format": "dhis2", "period": year, "from": f"{year}-01-01"}, ["from"]),
        ({"format": "iati", "thematic_area": "TA1"}, ["thematic_area"]),
    ):
        response = officer.get("/exports/download", params=params)
        assert response.status_code == 400, params
        html = main_of(response.text)
        assert sorted(re.findall(r'id="([a-z_]+)-error"', html)) == refused, params
        assert f"The {params['format'].upper()} file does not filter by this" in html
    # The filters they do apply still go through.
    assert (
        officer.get(
            "/exports/download", params={"format": "iati", "project": world.lso.code}
        ).status_code
        == 200
    )
    officer.cookies.set("pilotmon_lang", "fr")
    french = officer.get(
        "/exports/download", params={"format": "iati", "activity_type": "demonstration"}
    )
    assert "Le fichier IATI ne filtre pas par ce critère" in main_of(french.text)


def test_iati_lists_only_the_projects_in_scope(officer: TestClient, world: World) -> None:
    response = officer.get("/exports/download", params={"format": "iati"})
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314
    assert root.tag == "iati-activities"
    text = response.content.decode()
    assert world.lso.code in text and world.eth.code not in text
    # Another country is refused next to its field, as the other files refuse it, not answered
    # with an empty document.
    for fmt in ("iati", "csv", "activities-csv"):
        refused = officer.get("/exports/download", params={"format": fmt, "country": "ETH"})
        assert refused.status_code == 400, fmt
        assert re.findall(r'id="([a-z_]+)-error"', main_of(refused.text)) == ["country"], fmt


@sqlite_only
def test_bad_choices_are_named_next_to_their_field(officer: TestClient, world: World) -> None:
    response = officer.get(
        "/exports/download",
        params=[("indicator", "ACTIVITIES"), ("group_by", "sex"), ("format", "csv")],
    )
    assert response.status_code == 400
    html = main_of(response.text)
    assert 'id="group_by-error"' in html
    assert "This does not apply to the chosen indicator." in html
    assert 'value="sex" checked' in html
    # two period keys: said as the API says it, one period at most, in the reader's language
    periods = [("group_by", "period:quarter"), ("group_by", "period:month")]
    twice = officer.get(
        "/exports/download", params=[("indicator", "PARTICIPANTS"), ("format", "xlsx"), *periods]
    )
    assert twice.status_code == 400
    assert (
        '<p class="field-error" id="group_by-error">Group by one period at most: the month, the '
        "quarter or the year.</p>" in twice.text
    )
    officer.cookies.set("pilotmon_lang", "pt")
    twice = officer.get(
        "/exports/download", params=[("indicator", "PARTICIPANTS"), ("format", "xlsx"), *periods]
    )
    assert "Agrupe por um período no máximo: o mês, o trimestre ou o ano." in twice.text
    officer.cookies.delete("pilotmon_lang")
    dates = officer.get("/exports/download", params={"format": "csv", "from": "14/03/2025"})
    assert dates.status_code == 400 and 'id="from-error"' in dates.text
    unknown = officer.get("/exports/download", params={"format": "csv", "indicator": "HAPPINESS"})
    assert unknown.status_code == 400 and 'id="indicator-error"' in unknown.text
    nothing = officer.get("/exports/download", params={"format": "pdf"})
    assert nothing.status_code == 400 and 'id="format-error"' in nothing.text


def test_another_countrys_project_cannot_be_exported(officer: TestClient, world: World) -> None:
    response = officer.get(
        "/exports/download",
        params={"format": "csv", "indicator": "ACTIVITIES", "project": world.eth.code},
    )
    assert response.status_code == 400
    assert "in your scope" in response.text
    assert "Drought-tolerant" not in response.text


@sqlite_only
def test_downloads_need_a_session(client: TestClient, world: World) -> None:
    response = client.get("/exports/download?format=csv", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_the_activities_csv_lists_the_filtered_activities_in_scope(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get("/exports").text)
    assert 'name="format" value="activities-csv"' in html
    response = officer.get(
        "/exports/download",
        params={"format": "activities-csv", "project": world.lso.code, "status": "approved"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="activities-' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    expected = {str(a.id) for a in world.approved if a.project_id == world.lso.id}
    assert {r["id"] for r in rows} == expected
    assert {r["status"] for r in rows} == {"approved"}
    # The default count (submitted and approved) adds the queue, never another country's.
    both = officer.get("/exports/download", params={"format": "activities-csv"})
    listed = {r["id"] for r in csv.DictReader(io.StringIO(both.content.decode("utf-8-sig")))}
    assert str(world.submitted[0].id) in listed
    assert world.eth_activity is not None and str(world.eth_activity.id) not in listed
    assert world.returned is not None and str(world.returned.id) not in listed


@sqlite_only
def test_the_activities_xlsx_and_bad_filters(officer: TestClient, world: World) -> None:
    response = officer.get(
        "/exports/download", params={"format": "activities-xlsx", "activity_type": "workshop"}
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["id", "project", "country"]
    assert {row[header.index("type")] for row in sheet.iter_rows(min_row=2, values_only=True)} == {
        "workshop"
    }
    bad = officer.get(
        "/exports/download", params={"format": "activities-csv", "from": "14/03/2025"}
    )
    assert bad.status_code == 400
    assert 'id="from-error"' in bad.text


def test_result_indicators_are_offered_and_exported_like_the_api(
    officer: TestClient, engine: Engine, world: World, session: Session
) -> None:
    # The exports page offered the catalogue's indicators only, and a download of a result
    # indicator (yields, adoption rates) answered "Not found on the server" although
    # /api/v1/exports/indicators.csv gives it (docs/results.md#exports).
    add_results(session, world)
    officer.cookies.set("pilotmon_lang", "fr")
    try:
        html = main_of(officer.get("/exports").text)
    finally:
        officer.cookies.delete("pilotmon_lang")
    assert re.search(rf'<option value="{RESULT_CODE}"[^>]*>Rendement du tableau</option>', html)
    params = {"indicator": RESULT_CODE, "group_by": "project", "format": "csv"}
    response = officer.get("/exports/download", params=params)
    assert response.status_code == 200, main_of(response.text)
    api = TestClient(officer.app)
    sign_in(api, engine, world.officer)
    expected = api.get(
        "/api/v1/exports/indicators.csv",
        params={"indicator": RESULT_CODE, "group_by": "project"},
        headers={"Authorization": f"Bearer {api.cookies.get(cookies.SESSION_COOKIE)}"},
    )
    assert expected.status_code == 200, expected.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == list(csv.DictReader(io.StringIO(expected.content.decode("utf-8-sig"))))
    assert [r["project"] for r in rows] == [world.lso.code]  # Ethiopia's is out of scope
    assert rows[0]["uplift"]  # the compared yield: demonstration against control


UNIT_FIELDS: list[dict[str, Any]] = [
    {
        "name": "plot_area_m2",
        "type": "decimal",
        "label": {"en": "Plot area", "fr": "Surface de la parcelle"},
        "unit": "m2",
    },
    {
        "name": "farmers_met",
        "type": "integer",
        "label": {"en": "Farmers met", "fr": "Agriculteurs rencontrés"},
        "unit": "farmers",
    },
    {"name": "remark", "type": "text", "label": {"en": "Remark", "fr": "Remarque"}},
    {"name": "sown", "type": "date", "label": {"en": "Sown on", "fr": "Semé le"}},
]


def test_a_forms_observations_download_with_labels_in_the_readers_language(
    officer: TestClient, world: World, session: Session
) -> None:
    # A form's observations could only be had from the API, its label row English with the
    # unit's code ("Plot area (m2)"); the observations page now offers them in the reader's
    # language, scoped and formula-safe like every export.
    form = make_observation_form(session, code="T_DASH_UNITS", fields=UNIT_FIELDS)
    values = {
        "plot_area_m2": 1234.5,
        "farmers_met": 12,
        "remark": '=HYPERLINK("http://x")',
        "sown": "2025-02-03",
    }
    make_observation(session, world.lso, form, values=values)
    make_observation(session, world.eth, form, values={**values, "remark": "Ethiopia"})
    session.commit()
    officer.cookies.set("pilotmon_lang", "fr")
    try:
        page = main_of(officer.get("/observations", params={"form": "T_DASH_UNITS"}).text)
        xlsx = officer.get(
            "/observations/download", params={"form": "T_DASH_UNITS", "format": "xlsx"}
        )
        csv_file = officer.get(
            "/observations/download", params={"form": "t_dash_units", "format": "csv"}
        )
        bad = officer.get("/observations/download", params={"form": "NOPE"})
        # a status it does not know: refused next to the status, not a file of every status
        lost = officer.get(
            "/observations/download", params={"form": "T_DASH_UNITS", "status": "lost"}
        )
    finally:
        officer.cookies.delete("pilotmon_lang")
    assert "Télécharger en XLSX" in page
    assert (
        "/observations/download?form=T_DASH_UNITS&amp;project=&amp;status=&amp;format=xlsx" in page
    )
    assert lost.status_code == 400 and 'id="status-error"' in lost.text
    assert xlsx.status_code == 200, main_of(xlsx.text)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.title == "T_DASH_UNITS"
    header, labels, *rows = list(sheet.iter_rows(values_only=True))
    assert header == (
        "id", "project", "site_id", "observed_on", "form_version", "status",
        "plot_area_m2", "farmers_met", "remark", "sown",
        "notes", "captured_at", "created_at", "updated_at",
    )  # fmt: skip
    assert labels == (
        "Observation", "Projet", "Site", "Date d’observation", "Version du formulaire", "Statut",
        "Surface de la parcelle (m²)", "Agriculteurs rencontrés (agriculteurs)", "Remarque",
        "Semé le",
        "Notes", "Saisie sur la tablette", "Reçue par le serveur", "Dernière modification",
    )  # fmt: skip
    # each label is read whole without widening its column
    assert sheet.column_dimensions["H"].width >= len("Agriculteurs rencontrés (agriculteurs)")
    assert len(rows) == 1 and rows[0][1] == world.lso.code  # Ethiopia's is out of scope
    assert rows[0][6:9] == (1234.5, 12, '=HYPERLINK("http://x")')
    # dates Excel sorts and filters as dates: the observation's, and a date question's answer
    assert rows[0][3] == datetime(2025, 3, 14) and rows[0][9] == datetime(2025, 2, 3)
    assert sheet.cell(3, 10).number_format == "yyyy-mm-dd"
    assert sheet.cell(3, 9).data_type == "s"  # text, never a formula
    assert csv_file.status_code == 200
    read = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert read[0] == list(header)
    assert read[1][6:10] == ["1234.5", "12", '\'=HYPERLINK("http://x")', "2025-02-03"]
    assert bad.status_code == 400
    assert 'id="form-error"' in main_of(bad.text)


@sqlite_only
def test_by_site_the_download_names_each_site(officer: TestClient, world: World) -> None:
    response = officer.get(
        "/exports/download",
        params={"indicator": "ACTIVITIES", "group_by": "site", "format": "csv"},
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    named = {r["site"]: r["site_name"] for r in rows if r["site"]}
    sites = {str(s.id): s.name for s in world.sites}
    assert named and all(sites[i] == name for i, name in named.items())
