"""Exports: CSV/XLSX read back equal the JSON values; DHIS2 and IATI are valid; scope holds."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from openpyxl import load_workbook
from sqlmodel import Session

from server.activities.service import write_activity
from server.errors import ConfigError
from server.exports.dhis2 import BUNDLED_MAPPING, load_mapping
from server.exports.iso2 import ISO2
from server.projects.models import Participant, Target
from shared.geography import COUNTRIES
from tests.factories import World, activity_data, detach

SCHEMA = Path(__file__).parent / "iati_2_03" / "iati-activities-schema.xsd"
COMBINATIONS = [
    ("PARTICIPANTS", "country,period:quarter,sex"),
    ("WOMEN_SHARE", "thematic_area,period:year"),
    ("ACTIVITIES", "region,modality,activity_type"),
    ("YOUTH_PARTICIPANTS", "sex,disability"),
    ("TARGET_ACHIEVEMENT", "project"),
    ("EXPERT_DAYS", ""),
]


@pytest.fixture
def world(session: Session) -> World:
    found = World(session)
    project_lso, project_ken = found.project_lso, found.project_ken
    session.add_all([project_lso, project_ken])
    person = Participant(
        project_id=project_lso.id,
        code="QR-7",
        sex="female",
        birth_year=1994,
        name="Palesa Secret-Name",
    )
    session.add(person)
    session.flush()
    for day, kind in (("2025-07-02", "farmer_training"), ("2025-08-20", "expert_deployment")):
        write_activity(
            session,
            data=activity_data(
                project_lso,
                start_date=day,
                end_date=day,
                type=kind,
                topic="S2.T3",
                modality="P",
                participant_ids=[str(person.id)],
                attendance=[
                    {
                        "sex": "female",
                        "age_band": "youth",
                        "category": "farmer",
                        "disability": True,
                        "count": 7,
                    },
                    {
                        "sex": "male",
                        "age_band": "senior",
                        "category": "official",
                        "disability": False,
                        "count": 3,
                    },
                ],
            ),
            existing=None,
            source="api",
            author_id=None,
            status="approved",
        )
    session.add(
        Target(project_id=project_lso.id, indicator="PARTICIPANTS", period="2025Q3", value=40)
    )
    session.add(
        Target(
            project_id=project_lso.id,
            indicator="PARTICIPANTS",
            period="2025",
            value=100,
            sex="female",
        )
    )
    session.commit()
    detach(session)
    return found


def _json_rows(
    client: TestClient, world: World, code: str, group_by: str, who: str = "hq"
) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/indicators/{code}/values", params={"group_by": group_by}, headers=world.auth(who)
    )
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_indicator_csv_reads_back_equal_to_json(client: TestClient, world: World) -> None:
    for code, group_by in COMBINATIONS:
        expected = _json_rows(client, world, code, group_by)
        response = client.get(
            "/api/v1/exports/indicators.csv",
            params={"indicator": code, "group_by": group_by},
            headers=world.auth("hq"),
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        text = response.content.decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows == [{k: _csv_text(v) for k, v in r.items()} for r in expected], code
        assert expected, code  # the world has data for every combination


def test_indicator_xlsx_reads_back_equal_to_json(client: TestClient, world: World) -> None:
    for code, group_by in COMBINATIONS:
        expected = _json_rows(client, world, code, group_by)
        response = client.get(
            "/api/v1/exports/indicators.xlsx",
            params={"indicator": code, "group_by": group_by},
            headers=world.auth("hq"),
        )
        assert response.status_code == 200, response.text
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        assert sheet.freeze_panes == "A2"
        header = [c.value for c in sheet[1]]
        assert all(c.font.bold for c in sheet[1])
        rows = [
            dict(zip(header, (c.value for c in row), strict=True))
            for row in sheet.iter_rows(min_row=2)
        ]
        assert rows == expected, code


def test_indicator_export_refuses_bad_keys(client: TestClient, world: World) -> None:
    response = client.get(
        "/api/v1/exports/indicators.csv",
        params={"indicator": "ACTIVITIES", "group_by": "sex"},
        headers=world.auth("hq"),
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "group_by"


def test_activity_exports_are_scoped_and_never_name_participants(
    client: TestClient, world: World
) -> None:
    for who, countries, count in (
        ("hq", {"LSO", "KEN"}, 4),
        ("officer_ken", {"KEN"}, 1),
        ("officer_lso", {"LSO"}, 3),
    ):
        response = client.get("/api/v1/exports/activities.csv", headers=world.auth(who))
        assert response.status_code == 200, response.text
        assert b"Secret-Name" not in response.content
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(rows) == count, who
        assert {r["country"] for r in rows} == countries, who
        workbook = client.get("/api/v1/exports/activities.xlsx", headers=world.auth(who))
        assert workbook.status_code == 200
        sheet = load_workbook(io.BytesIO(workbook.content)).active
        assert sheet is not None
        cells = [[c.value for c in row] for row in sheet.iter_rows()]
        assert len(cells) == count + 1
        assert not any("Secret-Name" in str(v) for row in cells for v in row)


def test_activity_export_columns_and_types(client: TestClient, world: World) -> None:
    response = client.get(
        "/api/v1/exports/activities.xlsx",
        params={"activity_type": "expert_deployment"},
        headers=world.auth("hq"),
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    [row] = [
        dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)
    ]
    assert row["country"] == "LSO" and row["region"] == "RBJ"
    assert row["thematic_area"] == "TA1" and row["solution"] == "S2"
    assert (row["participants"], row["women"], row["men"], row["youth"], row["pwd"]) == (
        10,
        7,
        3,
        7,
        7,
    )
    assert row["roster_participants"] == 1
    assert row["start_date"].year == 2025  # a real date cell, not text
    assert row["late"] is False
    bad = client.get(
        "/api/v1/exports/activities.csv", params={"country": "XXX"}, headers=world.auth("hq")
    )
    assert bad.status_code in (400, 422)
    assert bad.json()["detail"][0]["field"] == "country"


def test_activity_csv_times_carry_their_offset_on_every_backend(
    client: TestClient, world: World
) -> None:
    # On SQLite the activities CSV wrote updated_at as "2026-07-12T07:51:51.321344", with no
    # offset (docs/product.md: times are ISO 8601 with an offset), and on PostgreSQL with
    # "+00:00": the same file differed by backend and a reader could not tell it was UTC.
    listed = client.get(
        "/api/v1/activities",
        params={"activity_type": "expert_deployment"},
        headers=world.auth("hq"),
    ).json()
    [api] = listed["items"] if isinstance(listed, dict) else listed
    response = client.get(
        "/api/v1/exports/activities.csv",
        params={"activity_type": "expert_deployment"},
        headers=world.auth("hq"),
    )
    [row] = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    for column in ("captured_at", "updated_at"):
        assert row[column].endswith("+00:00"), (column, row[column])
    assert datetime.fromisoformat(row["updated_at"]) == datetime.fromisoformat(api["updated_at"])


def test_dhis2_data_values_follow_the_mapping(client: TestClient, world: World) -> None:
    mapping = load_mapping(BUNDLED_MAPPING)
    response = client.get(
        "/api/v1/exports/dhis2/dataValueSets.json",
        params={"period": "2025", "period_type": "quarterly"},
        headers=world.auth("hq"),
    )
    assert response.status_code == 200, response.text
    values = response.json()["dataValues"]
    assert set(response.json()) == {"dataValues"}
    assert values and all(
        set(v) == {"dataElement", "period", "orgUnit", "categoryOptionCombo", "value"}
        for v in values
    )
    lso = mapping.org_units["LSO"]
    activities = {
        v["period"]: v["value"]
        for v in values
        if v["dataElement"] == mapping.data_elements["ACTIVITIES"].uid and v["orgUnit"] == lso
    }
    assert activities == {"2025Q1": "1", "2025Q3": "2"}
    participants = mapping.data_elements["PARTICIPANTS"].uid
    combo = mapping.combos["sex|age_band"]["female|youth"]
    assert [
        v["value"]
        for v in values
        if v["dataElement"] == participants
        and v["orgUnit"] == lso
        and v["period"] == "2025Q3"
        and v["categoryOptionCombo"] == combo
    ] == ["14"]
    expert_days = [
        v for v in values if v["dataElement"] == mapping.data_elements["EXPERT_DAYS"].uid
    ]
    assert [(v["period"], v["value"]) for v in expert_days if v["orgUnit"] == lso] == [
        ("2025Q1", "0"),
        ("2025Q3", "2"),
    ]
    monthly = client.get(
        "/api/v1/exports/dhis2/dataValueSets.json",
        params={"period": "2025Q3", "period_type": "monthly"},
        headers=world.auth("officer_ken"),
    ).json()["dataValues"]
    assert monthly == []  # KEN has nothing in Q3, and LSO is out of the officer's scope


def test_dhis2_refuses_a_country_outside_scope_and_takes_a_lower_case_quarter(
    client: TestClient, world: World
) -> None:
    """As the values API, pull and the other exports: another country's figures are refused
    (400 out_of_scope), not answered as an empty set that reads "nothing happened there"; and
    2025q3 is the quarter 2025Q3."""
    url = "/api/v1/exports/dhis2/dataValueSets.json"
    refused = client.get(
        url, params={"period": "2025Q3", "country": "LSO"}, headers=world.auth("officer_ken")
    )
    assert refused.status_code == 400, refused.text
    [problem] = refused.json()["detail"]
    assert (problem["field"], problem["code"]) == ("country", "out_of_scope")
    # with a second problem, both in one answer
    both = client.get(
        url, params={"period": "Q3", "country": "LSO"}, headers=world.auth("officer_ken")
    )
    assert {(e["field"], e["code"]) for e in both.json()["detail"]} == {
        ("period", "bad_period"),
        ("country", "out_of_scope"),
    }
    # in scope, and for HQ, the same country is answered
    own = client.get(
        url, params={"period": "2025Q3", "country": "KEN"}, headers=world.auth("officer_ken")
    )
    assert own.status_code == 200, own.text
    upper = client.get(
        url, params={"period": "2025Q3", "country": "LSO"}, headers=world.auth("hq")
    ).json()["dataValues"]
    lower = client.get(
        url, params={"period": "2025q3", "country": "LSO"}, headers=world.auth("hq")
    ).json()["dataValues"]
    assert upper and lower == upper


def test_dhis2_bad_requests_and_unmapped_countries(
    client: TestClient, world: World, settings: Any, tmp_path: Path
) -> None:
    for params, field in (
        ({"period": "Q3"}, "period"),
        ({"period": "2025-07", "period_type": "yearly"}, "period_type"),
        ({"period": "2025", "indicators": "WOMEN_SHARE"}, "indicators"),
    ):
        response = client.get(
            "/api/v1/exports/dhis2/dataValueSets.json", params=params, headers=world.auth("hq")
        )
        assert response.status_code == 400, params
        assert response.json()["detail"][0]["field"] == field
    raw = json.loads(BUNDLED_MAPPING.read_text())
    del raw["orgUnits"]["KEN"]
    custom = tmp_path / "mapping.json"
    custom.write_text(json.dumps(raw))
    settings.dhis2_mapping = custom
    response = client.get(
        "/api/v1/exports/dhis2/dataValueSets.json",
        params={"period": "2025"},
        headers=world.auth("hq"),
    )
    assert response.headers["x-unmapped-countries"] == "KEN"
    assert {v["orgUnit"] for v in response.json()["dataValues"]} == {raw["orgUnits"]["LSO"]}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda m: m["dataElements"]["ACTIVITIES"].update(id="not-a-uid"),
            "dataElements.ACTIVITIES.id",
        ),
        (
            lambda m: m["categoryOptionCombos"]["sex"].pop("female"),
            "categoryOptionCombos.sex.female",
        ),
        (
            lambda m: m["dataElements"]["ACTIVITIES"].update(disaggregation=["sex"]),
            "only participant indicators",
        ),
        (lambda m: m["orgUnits"].update(XXX="a1234567890"), "orgUnits.XXX"),
        (lambda m: m["dataElements"].update(HAPPINESS={"id": "a1234567890"}), "HAPPINESS"),
    ],
)
def test_a_bad_mapping_file_says_what_is_wrong(tmp_path: Path, change: Any, words: str) -> None:
    raw = json.loads(BUNDLED_MAPPING.read_text())
    change(raw)
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        load_mapping(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not JSON"):
        load_mapping(path)


def test_bundled_mapping_covers_every_country() -> None:
    mapping = load_mapping(BUNDLED_MAPPING)
    assert set(mapping.org_units) == set(COUNTRIES)
    assert set(ISO2) == set(COUNTRIES)


def test_iati_refuses_a_country_or_project_outside_scope(client: TestClient, world: World) -> None:
    """As the DHIS2, CSV and activities exports: another country's projects are refused (400
    out_of_scope), not answered as an empty <iati-activities/> that reads "nothing there"; with
    another problem, all in one answer."""
    url = "/api/v1/exports/iati.xml"
    officer = world.auth("officer_lso")
    refused = client.get(url, params={"country": "KEN"}, headers=officer)
    assert refused.status_code == 400, refused.text
    [problem] = refused.json()["detail"]
    assert (problem["field"], problem["code"]) == ("country", "out_of_scope")
    every = client.get(
        url,
        params={"country": "KEN", "project": world.project_ken.code, "period_type": "weekly"},
        headers=officer,
    )
    assert every.status_code == 400, every.text
    assert {(e["field"], e["code"]) for e in every.json()["detail"]} == {
        ("period_type", "unknown_code"),
        ("country", "out_of_scope"),
        ("project", "out_of_scope"),
    }
    assert client.get(url, params={"country": "LSO"}, headers=officer).status_code == 200
    assert client.get(url, params={"country": "KEN"}, headers=world.auth("hq")).status_code == 200


def test_iati_export_is_valid_against_the_2_03_schema(client: TestClient, world: World) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    response = client.get("/api/v1/exports/iati.xml", headers=world.auth("hq"))
    assert response.status_code == 200, response.text
    document = etree.fromstring(response.content)
    schema.assertValid(document)
    activities = document.findall("iati-activity")
    assert len(activities) == 2
    lso = next(
        a
        for a in activities
        if a.findtext("iati-identifier") == f"XM-DAC-41140-{world.project_lso.code}"
    )
    assert lso.find("recipient-country").get("code") == "LS"
    participants = next(
        r for r in lso.findall("result") if r.findtext("title/narrative") == "Participants"
    )
    period = participants.find("indicator/period")
    assert period.find("period-start").get("iso-date") == "2025-01-01"
    targets = {
        (
            t.find("dimension").get("value") if t.find("dimension") is not None else None,
            t.get("value"),
        )
        for t in period.findall("target")
    }
    assert targets == {(None, "500"), ("female", "100")}
    by_sex = {
        a.find("dimension").get("value"): a.get("value")
        for a in period.findall("actual")
        if a.find("dimension") is not None
    }
    # submitted and approved by default, as every other count: the submitted one of March too
    assert by_sex == {"female": "26", "male": "14"}
    assert [a.get("value") for a in period.findall("actual") if a.find("dimension") is None] == [
        "40"
    ]
    approved = etree.fromstring(
        client.get(
            "/api/v1/exports/iati.xml", params={"status": "approved"}, headers=world.auth("hq")
        ).content
    )
    schema.assertValid(approved)
    period = next(
        r
        for a in approved.findall("iati-activity")
        if a.findtext("iati-identifier") == f"XM-DAC-41140-{world.project_lso.code}"
        for r in a.findall("result")
        if r.findtext("title/narrative") == "Participants"
    ).find("indicator/period")
    # approved only: the two Q3 activities
    assert [a.get("value") for a in period.findall("actual")] == ["20", "14", "6"]
    quarterly = client.get(
        "/api/v1/exports/iati.xml",
        params={"period_type": "quarterly", "status": "submitted,approved"},
        headers=world.auth("officer_ken"),
    )
    document = etree.fromstring(quarterly.content)
    schema.assertValid(document)
    assert [a.findtext("iati-identifier") for a in document.findall("iati-activity")] == [
        f"XM-DAC-41140-{world.project_ken.code}"
    ]


def test_grouped_by_site_the_files_name_each_site(client: TestClient, world: World) -> None:
    """People open these files: a site's id alone tells them nothing, so its name follows."""
    expected = _json_rows(client, world, "ACTIVITIES", "site,activity_type", who="officer_lso")
    assert any(r["site"] for r in expected)  # the world has activities at a site
    names = {str(world.site_lso.id): world.site_lso.name}
    named = [{"site": r["site"], "site_name": names.get(r["site"] or ""), **r} for r in expected]
    params = {"indicator": "ACTIVITIES", "group_by": "site,activity_type"}
    response = client.get(
        "/api/v1/exports/indicators.csv", params=params, headers=world.auth("officer_lso")
    )
    assert response.status_code == 200, response.text
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert reader.fieldnames == ["site", "site_name", "activity_type", "value"]
    assert list(reader) == [{k: _csv_text(v) for k, v in r.items()} for r in named]
    response = client.get(
        "/api/v1/exports/indicators.xlsx", params=params, headers=world.auth("officer_lso")
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    rows = [
        dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)
    ]
    assert header == ["site", "site_name", "activity_type", "value"] and rows == named
