"""Result indicators through the API: the catalogue, values by role and scope, the 400s that
name the field, baselines and targets with achievement in both directions, and the exports
(indicator values and observations as CSV/XLSX) read back equal to the API."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from openpyxl import load_workbook
from sqlmodel import Session

from server.accounts.auth import Caller
from server.dashboard.i18n import translations
from server.errors import ConfigError
from server.exports.dhis2 import BUNDLED_MAPPING, data_value_set, load_mapping
from server.exports.observations import observation_table
from server.projects.models import Project
from tests.conftest import seeded_module
from tests.factories import World, detach
from tests.server.exports.test_exports import SCHEMA
from tests.server.results.helpers import indicator, make_form, observe

URL = "/api/v1/indicators"
LOSS = indicator(
    "T_LOSS_PCT",
    "ratio",
    numerator="lost_kg",
    denominator="stored_kg",
    factor=100,
    unit="%",
    compare="storage",
    direction="decrease",
)
STORAGE_FIELDS: list[dict[str, Any]] = [
    {
        "name": "storage",
        "type": "select_one",
        "label": {"en": "Storage", "fr": "Stockage"},
        "choices": [
            {"code": "hermetic_bag", "label": {"en": "Hermetic bag"}},
            {"code": "traditional", "label": {"en": "Traditional"}},
        ],
    },
    {"name": "stored_kg", "type": "decimal", "label": {"en": "Stored"}, "unit": "kg"},
    {"name": "lost_kg", "type": "decimal", "label": {"en": "Lost"}, "unit": "kg"},
    {"name": "remark", "type": "text", "label": {"en": "Remark"}},
]


def _world(session: Session) -> World:
    made = World(session)
    form = make_form(
        session,
        code="T_STORAGE",
        fields=STORAGE_FIELDS,
        indicators=[LOSS, indicator("T_CHECKS", "count", unit="checks")],
    )
    lso = session.get(Project, made.project_lso.id)
    ken = session.get(Project, made.project_ken.id)
    assert lso is not None and ken is not None
    for project, storage, stored, lost, day in [
        (lso, "hermetic_bag", 1000, 20, date(2025, 2, 1)),
        (lso, "traditional", 1000, 150, date(2025, 2, 3)),
        (ken, "hermetic_bag", 500, 5, date(2025, 5, 1)),
        (ken, "traditional", 500, 100, date(2025, 5, 2)),
    ]:
        observe(
            session,
            form,
            project,
            {"storage": storage, "stored_kg": stored, "lost_kg": lost, "remark": "=1+1"},
            observed_on=day,
        )
    session.commit()
    detach(session)
    return made


# The module's world, built once per backend and put back before each test: its tests only
# read it (tests/conftest.py seeded_module).
db_url, world = seeded_module(_world)


def values(client: TestClient, world: World, who: str, code: str, **params: str) -> Any:
    response = client.get(f"{URL}/{code}/values", params=params, headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_catalogue_lists_result_indicators_with_form_and_unit(
    client: TestClient, world: World
) -> None:
    response = client.get(URL, headers=world.auth("expert_lso"))
    assert response.status_code == 200
    body = {i["code"]: i for i in response.json()}
    loss = body["T_LOSS_PCT"]
    assert (loss["kind"], loss["form"], loss["unit"], loss["direction"]) == (
        "result",
        "T_STORAGE",
        "%",
        "decrease",
    )
    assert "choice:storage" in loss["group_by"]
    assert loss["additive"] is False and body["T_CHECKS"]["additive"] is True


def test_values_by_scope_with_compare(client: TestClient, world: World) -> None:
    hq = values(client, world, "hq", "T_LOSS_PCT", group_by="country")
    assert hq["rows"] == [
        {
            "country": "KEN",
            "value": 10.5,
            "compare": {"hermetic_bag": 1, "traditional": 20},
            "uplift": -95,
        },
        {
            "country": "LSO",
            "value": 8.5,
            "compare": {"hermetic_bag": 2, "traditional": 15},
            "uplift": pytest.approx(-86.67),
        },
    ]
    mine = values(client, world, "expert_lso", "T_LOSS_PCT", group_by="country,period:quarter")
    assert [(r["country"], r["period"]) for r in mine["rows"]] == [("LSO", "2025Q1")]
    only = values(client, world, "officer_ken", "T_CHECKS", group_by="choice:storage")
    assert only["rows"] == [
        {"choice:storage": "hermetic_bag", "value": 1},
        {"choice:storage": "traditional", "value": 1},
    ]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"group_by": "sex"}, "group_by", "not_applicable"),
        ({"group_by": "activity_type"}, "group_by", "not_applicable"),
        ({"group_by": "choice:remark"}, "group_by", "unknown_code"),
        ({"topic": "S1.T2"}, "topic", "not_applicable"),
        ({"status": "lost"}, "status", "unknown_code"),
        ({"from": "2025-13-01"}, "from", "bad_date"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    client: TestClient, world: World, params: dict[str, str], field: str, code: str
) -> None:
    response = client.get(f"{URL}/T_LOSS_PCT/values", params=params, headers=world.auth("hq"))
    assert response.status_code == 400, response.text
    errors = response.json()["detail"]
    assert any(e["field"] == field and e["code"] == code for e in errors), errors


def _post_target(client: TestClient, world: World, who: str, **body: Any) -> Any:
    return client.post("/api/v1/targets", json=body, headers=world.auth(who))


def test_baselines_targets_and_achievement(client: TestClient, world: World) -> None:
    lso = str(world.project_lso.id)
    ken = str(world.project_ken.id)
    for project, kind, period, value in [
        (lso, "baseline", "2024", 15),
        (lso, "target", "2025", 5),
        (ken, "target", "2025", 4),  # no baseline: a decrease cannot be measured
    ]:
        response = _post_target(
            client,
            world,
            "admin",
            project_id=project,
            indicator="T_LOSS_PCT",
            period=period,
            value=value,
            kind=kind,
        )
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == kind
    response = _post_target(
        client, world, "admin", project_id=lso, indicator="T_CHECKS", period="2025", value=4
    )
    assert response.status_code == 201
    duplicate = _post_target(
        client,
        world,
        "admin",
        project_id=lso,
        indicator="T_LOSS_PCT",
        period="2024",
        value=14,
        kind="baseline",
    )
    assert duplicate.status_code == 409
    bad = _post_target(
        client,
        world,
        "admin",
        project_id=lso,
        indicator="T_LOSS_PCT",
        period="2025",
        value=1,
        kind="forecast",
    )
    assert bad.status_code == 422  # as every invalid target
    assert [(e["field"], e["code"]) for e in bad.json()["detail"]] == [("kind", "unknown_code")]
    other = _post_target(
        client, world, "officer_ken", project_id=lso, indicator="T_CHECKS", period="2026", value=1
    )
    assert other.status_code == 422  # a project out of scope is "no such project"
    assert other.json()["detail"][0]["field"] == "project_id"

    body = values(client, world, "hq", "TARGET_ACHIEVEMENT", group_by="project")
    rows = {
        (r["project"], r["indicator"]): r for r in body["rows"] if r["indicator"].startswith("T_")
    }
    lso_code, ken_code = world.project_lso.code, world.project_ken.code
    # decrease: 100 × (15 − 8.5) / (15 − 5)
    assert rows[(lso_code, "T_LOSS_PCT")]["actual"] == 8.5
    assert rows[(lso_code, "T_LOSS_PCT")]["value"] == 65
    assert rows[(ken_code, "T_LOSS_PCT")]["value"] is None
    # increase: 100 × 2 / 4
    assert rows[(lso_code, "T_CHECKS")]["value"] == 50
    assert (lso_code, "T_LOSS_PCT") in rows and len([r for r in rows if r[1] == "T_LOSS_PCT"]) == 2


def test_a_percentage_target_or_baseline_is_at_most_100(client: TestClient, world: World) -> None:
    """A loss in % (a result indicator whose unit is %) cannot be 400 %; a count can be."""
    lso = str(world.project_lso.id)
    for kind, value in (("baseline", 400), ("target", 100.5)):
        refused = _post_target(
            client,
            world,
            "admin",
            project_id=lso,
            indicator="T_LOSS_PCT",
            period="2025",
            value=value,
            kind=kind,
        )
        assert refused.status_code == 422, refused.text
        assert [(e["field"], e["code"]) for e in refused.json()["detail"]] == [
            ("value", "value_range")
        ]
        assert "from 0 to 100" in refused.json()["detail"][0]["message"]
    made = _post_target(
        client, world, "admin", project_id=lso, indicator="T_LOSS_PCT", period="2025", value=100
    )
    assert made.status_code == 201, made.text
    changed = client.patch(
        f"/api/v1/targets/{made.json()['id']}", json={"value": 150}, headers=world.auth("admin")
    )
    assert changed.status_code == 422 and changed.json()["code"] == "value_range", changed.text
    counted = _post_target(
        client, world, "admin", project_id=lso, indicator="T_CHECKS", period="2025", value=400
    )
    assert counted.status_code == 201, counted.text


def test_indicator_exports_read_back_equal_the_api(client: TestClient, world: World) -> None:
    api = values(client, world, "hq", "T_LOSS_PCT", group_by="country")["rows"]
    response = client.get(
        "/api/v1/exports/indicators.csv",
        params={"indicator": "T_LOSS_PCT", "group_by": "country"},
        headers=world.auth("hq"),
    )
    assert response.status_code == 200
    read = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [
        (r["country"], float(r["value"]), float(r["compare:hermetic_bag"]), float(r["uplift"]))
        for r in read
    ] == [
        (r["country"], r["value"], r["compare"]["hermetic_bag"], pytest.approx(r["uplift"]))
        for r in api
    ]
    response = client.get(
        "/api/v1/exports/indicators.xlsx",
        params={"indicator": "T_LOSS_PCT", "group_by": "country"},
        headers=world.auth("hq"),
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    table = list(sheet.iter_rows(values_only=True))
    assert table[0] == ("country", "value", "compare:hermetic_bag", "compare:traditional", "uplift")
    assert [r[:2] for r in table[1:]] == [(r["country"], r["value"]) for r in api]


UNIT_FIELDS: list[dict[str, Any]] = [
    {"name": "area", "type": "decimal", "label": {"en": "Area", "fr": "Surface"}, "unit": "m2"},
    {
        "name": "met",
        "type": "integer",
        "label": {"en": "Met", "fr": "Rencontrés"},
        "unit": "farmers",
    },
    {
        "name": "bags",
        "type": "integer",
        "label": {"en": "Bags", "fr": "Sacs"},
        "unit": "PICS",
        "unit_label": {"fr": "sacs PICS"},
    },
    {"name": "visits", "type": "integer", "label": "Visits", "unit": "visits"},
]


def test_observation_exports(client: TestClient, world: World, session: Session) -> None:
    response = client.get(
        "/api/v1/exports/observations.csv",
        params={"form": "T_STORAGE"},
        headers=world.auth("expert_lso"),
    )
    assert response.status_code == 200, response.text
    read = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["project"], r["storage"], r["stored_kg"], r["lost_kg"]) for r in read] == [
        (world.project_lso.code, "hermetic_bag", "1000", "20"),
        (world.project_lso.code, "traditional", "1000", "150"),
    ]
    assert read[0]["remark"] == "'=1+1"  # never a formula
    response = client.get(
        "/api/v1/exports/observations.xlsx",
        params={"form": "t_storage", "status": "submitted,approved"},
        headers=world.auth("hq"),
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    table = list(sheet.iter_rows(values_only=True))
    header, labels = table[0], table[1]
    assert header[6:10] == ("storage", "stored_kg", "lost_kg", "remark")
    assert labels[6:10] == ("Storage", "Stored (kg)", "Lost (kg)", "Remark")
    assert len(table) == 6
    assert table[2][9] == "=1+1" and sheet.cell(3, 10).data_type == "s"
    bad = client.get(
        "/api/v1/exports/observations.csv",
        params={"form": "NOPE"},
        headers=world.auth("hq"),
    )
    assert bad.status_code == 400
    assert bad.json()["detail"][0]["field"] == "form"
    assert (
        client.get("/api/v1/exports/observations.csv", params={"form": "T_STORAGE"}).status_code
        == 401
    )

    # The XLSX label row showed the unit's code ("Area (m2)", "Met (farmers)" in a French
    # workbook) where every page shows its words in the reader's language.
    make_form(session, code="T_UNITS", fields=UNIT_FIELDS)
    session.commit()
    hq = Caller(user=world.users["hq"])
    english = observation_table(session, caller=hq, form="T_UNITS")
    assert english.labels[6:10] == (
        "Area (m²)",
        "Met (farmers)",
        "Bags (PICS)",
        "Visits (visits)",
    )
    french = observation_table(
        session, caller=hq, form="T_UNITS", lang="fr", ngettext=translations("fr").ngettext
    )
    assert french.labels[6:10] == (
        "Surface (m²)",
        "Rencontrés (agriculteurs)",
        "Sacs (sacs PICS)",
        "Visits (visites)",
    )
    assert french.columns[6:10] == ("area", "met", "bags", "visits")  # codes stay codes


def test_iati_outcome_results_validate_against_the_schema(client: TestClient, world: World) -> None:
    lso = str(world.project_lso.id)
    for kind, period, value in [("baseline", "2024", 15), ("target", "2025", 5)]:
        response = _post_target(
            client,
            world,
            "admin",
            project_id=lso,
            indicator="T_LOSS_PCT",
            period=period,
            value=value,
            kind=kind,
        )
        assert response.status_code == 201
    response = client.get("/api/v1/exports/iati.xml", headers=world.auth("hq"))
    assert response.status_code == 200, response.text
    document = etree.fromstring(response.content)
    etree.XMLSchema(etree.parse(str(SCHEMA))).assertValid(document)
    activity = next(
        a
        for a in document.findall("iati-activity")
        if a.findtext("iati-identifier", "").endswith(world.project_lso.code)
    )
    outcome = next(
        r
        for r in activity.findall("result")
        if r.get("type") == "2" and r.findtext("title/narrative") == "T_Loss_Pct"
    )
    element = outcome.find("indicator")
    assert element is not None
    assert (element.get("measure"), element.get("ascending")) == ("2", "0")
    baseline = element.find("baseline")
    assert baseline is not None
    assert (baseline.get("year"), baseline.get("value")) == ("2024", "15")
    [period] = element.findall("period")
    assert period.find("period-start").get("iso-date") == "2025-01-01"
    assert period.find("target").get("value") == "5"
    # the actual equals the API's value for the project and year
    api = values(client, world, "hq", "T_LOSS_PCT", group_by="project,period:year")["rows"]
    mine = next(r for r in api if r["project"] == world.project_lso.code)
    assert float(period.find("actual").get("value")) == mine["value"] == 8.5
    counts = next(
        r for r in activity.findall("result") if r.findtext("title/narrative") == "T_Checks"
    )
    assert counts.find("indicator").get("measure") == "1"


def test_dhis2_result_data_elements_equal_the_api(
    client: TestClient, world: World, session: Session, tmp_path: Path
) -> None:
    mapping = json.loads(BUNDLED_MAPPING.read_text(encoding="utf-8"))
    mapping["resultDataElements"] = {
        "T_LOSS_PCT": {"id": "Rloss000001"},
        "UNPUBLISHED": {"id": "Rnone000001"},
    }
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    loaded = load_mapping(path)
    found = data_value_set(
        session, caller=None, mapping=loaded, period="2025", period_type="quarterly"
    )
    sent = {
        (v["orgUnit"], v["period"]): float(v["value"])
        for v in found.data_values
        if v["dataElement"] == "Rloss000001"
    }
    api = values(client, world, "hq", "T_LOSS_PCT", group_by="country,period:quarter")["rows"]
    assert sent == {(loaded.org_units[r["country"]], r["period"]): r["value"] for r in api}
    assert len(sent) == 2
    bad = dict(mapping, resultDataElements={"PARTICIPANTS": {"id": "Rloss000001"}})
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ConfigError):
        load_mapping(path)


def test_a_baseline_is_for_result_indicators_only(client: TestClient, world: World) -> None:
    response = _post_target(
        client,
        world,
        "admin",
        project_id=str(world.project_lso.id),
        indicator="TRAININGS",
        period="2024",
        value=3,
        kind="baseline",
    )
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["detail"]] == [
        ("kind", "not_applicable")
    ]
