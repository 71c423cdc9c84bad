"""Forms over the API (docs/results.md#forms): scope, versions, publish, retire, change log,
audit, XLSForm import, and init-db's shipped forms."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.records.models import AuditEntry, Change
from server.results import xlsform
from server.results.models import Form
from server.results.shipped import SHIPPED_FORMS
from tests.factories import World, rows
from tests.server.test_cli import run_cli


def _definition(code: str = "PLOT_CHECK", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "title": {"en": "Plot check", "fr": "Contrôle de parcelle"},
        "fields": [
            {
                "name": "plot",
                "type": "select_one",
                "label": {"en": "Plot"},
                "required": True,
                "choices": [
                    {"code": "demo", "label": {"en": "Demo"}},
                    {"code": "control", "label": {"en": "Control"}},
                ],
            },
            {"name": "harvest_kg", "type": "decimal", "label": {"en": "Harvest"}, "min": 0},
        ],
        "indicators": [
            {
                "code": f"{code}_KG",
                "name": {"en": "Harvest"},
                "unit": "kg",
                "aggregate": "sum",
                "field": "harvest_kg",
                "compare": "plot",
            }
        ],
    }
    body.update(overrides)
    return body


def _create(client: TestClient, world: World, who: str, **body: Any) -> Any:
    base = _definition(body.get("code", "PLOT_CHECK"))
    return client.post("/api/v1/forms", json={**base, **body}, headers=world.auth(who))


def test_a_form_goes_from_draft_to_published_to_version_two_to_retired(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    created = _create(client, world, "officer_lso", project=world.project_lso.code)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["version"], draft["status"], draft["scope"]) == (
        1,
        "draft",
        str(world.project_lso.id),
    )
    form_id = draft["id"]

    patched = client.patch(
        f"/api/v1/forms/{form_id}",
        json={"title": {"en": "Plot harvest"}},
        headers=world.auth("officer_lso"),
    )
    assert patched.status_code == 200 and patched.json()["id"] == form_id
    assert patched.json()["title"] == {"en": "Plot harvest"}
    # drafts never reach tablets
    assert not rows(session, select(Change).where(col(Change.entity) == "form"))

    published = client.post(f"/api/v1/forms/{form_id}/publish", headers=world.auth("officer_lso"))
    assert published.status_code == 200 and published.json()["status"] == "published"
    again = client.post(f"/api/v1/forms/{form_id}/publish", headers=world.auth("officer_lso"))
    assert again.status_code == 409 and again.json()["code"] == "state_conflict"

    # PATCH of a published version makes the draft of version 2; version 1 is untouched
    fields = _definition()["fields"] + [{"name": "note", "type": "text", "label": {"en": "Note"}}]
    v2 = client.patch(
        f"/api/v1/forms/{form_id}", json={"fields": fields}, headers=world.auth("officer_lso")
    )
    assert v2.status_code == 200, v2.text
    assert (v2.json()["version"], v2.json()["status"]) == (2, "draft") and v2.json()[
        "id"
    ] != form_id
    v1 = client.get(f"/api/v1/forms/{form_id}", headers=world.auth("expert_lso")).json()
    assert v1["title"] == {"en": "Plot harvest"} and len(v1["fields"]) == 2
    twice = client.patch(
        f"/api/v1/forms/{form_id}", json={"fields": fields}, headers=world.auth("officer_lso")
    )
    assert twice.status_code == 409  # the draft of version 2 exists: edit that one
    assert (
        client.post(
            f"/api/v1/forms/{v2.json()['id']}/publish", headers=world.auth("admin")
        ).status_code
        == 200
    )

    latest = client.get(
        "/api/v1/forms", params={"code": "PLOT_CHECK", "latest": "true"}, headers=world.auth("hq")
    ).json()
    assert [f["version"] for f in latest["items"]] == [2]
    retired = client.post(f"/api/v1/forms/{form_id}/retire", headers=world.auth("officer_lso"))
    assert retired.status_code == 200
    statuses = [
        f["status"]
        for f in client.get(
            "/api/v1/forms", params={"code": "PLOT_CHECK"}, headers=world.auth("hq")
        ).json()["items"]
    ]
    assert statuses == ["retired", "retired"]
    assert (
        client.patch(
            f"/api/v1/forms/{form_id}", json={"title": {"en": "x"}}, headers=world.auth("admin")
        ).status_code
        == 409
    )

    changes = rows(
        session, select(Change).where(col(Change.entity) == "form").order_by(col(Change.seq))
    )
    assert [(c.version, c.op, c.project_id) for c in changes] == [
        (1, "upsert", world.project_lso.id),
        (2, "upsert", world.project_lso.id),
        (1, "upsert", world.project_lso.id),
        (2, "upsert", world.project_lso.id),
    ]
    audit = rows(
        session,
        select(AuditEntry).where(col(AuditEntry.entity) == "form").order_by(col(AuditEntry.id)),
    )
    assert sorted(a.action for a in audit) == sorted(
        ["create", "update", "publish", "create", "publish", "retire", "retire"]
    )
    assert all(a.country == "LSO" for a in audit)


def test_scope_of_reading_and_writing(client: TestClient, session: Session) -> None:
    world = World(session)
    assert (
        _create(
            client, world, "officer_lso", project=world.project_lso.code, code="LSO_FORM"
        ).status_code
        == 201
    )
    assert (
        _create(
            client, world, "officer_ken", project=str(world.project_ken.id), code="KEN_FORM"
        ).status_code
        == 201
    )
    glob = _create(client, world, "admin", code="GLOBAL_FORM")
    assert glob.status_code == 201 and glob.json()["scope"] == "global"
    # only admins write global forms; officers only their countries' projects
    assert _create(client, world, "officer_lso", code="MINE").status_code == 403
    assert _create(client, world, "hq", code="MINE").status_code == 403
    assert (
        _create(
            client, world, "expert_lso", project=world.project_lso.code, code="MINE"
        ).status_code
        == 403
    )
    outside = _create(client, world, "officer_lso", project=world.project_ken.code, code="MINE")
    assert outside.status_code == 422 and outside.json()["detail"][0]["field"] == "project"

    def codes(who: str) -> set[str]:
        return {
            f["code"] for f in client.get("/api/v1/forms", headers=world.auth(who)).json()["items"]
        }

    assert codes("expert_lso") == {"LSO_FORM", "GLOBAL_FORM"}
    assert codes("officer_ken") == {"KEN_FORM", "GLOBAL_FORM"}
    assert codes("hq") == {"LSO_FORM", "KEN_FORM", "GLOBAL_FORM"}
    ken_id = session.exec(select(Form.id).where(Form.code == "KEN_FORM")).one()
    session.rollback()  # end the read: the API writes next
    assert (
        client.get(f"/api/v1/forms/{ken_id}", headers=world.auth("officer_lso")).status_code == 404
    )
    assert (
        client.post(
            f"/api/v1/forms/{ken_id}/publish", headers=world.auth("officer_lso")
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/forms/{glob.json()['id']}/publish", headers=world.auth("officer_lso")
        ).status_code
        == 403
    )


def test_codes_and_indicator_codes_are_unique(client: TestClient, session: Session) -> None:
    world = World(session)
    assert _create(client, world, "admin").status_code == 201
    draft_twice = _create(client, world, "admin")
    assert draft_twice.status_code == 409
    other_scope = _create(client, world, "admin", project=world.project_lso.code)
    assert other_scope.status_code == 409 and other_scope.json()["code"] == "already_exists"
    clash = _create(client, world, "admin", code="OTHER", indicators=_definition()["indicators"])
    assert clash.status_code == 422
    assert clash.json()["detail"][0] == {
        "field": "indicators[0].code",
        "code": "indicator_code_taken",
        "message": "'PLOT_CHECK_KG' is already the code of another indicator; indicator codes "
        "are shared by every form, country and project, so choose another code",
    }
    bad = _create(client, world, "admin", code="bad code")
    assert bad.status_code == 422 and bad.json()["detail"][0]["code"] == "not_upper_snake"


# --- XLSForm --------------------------------------------------------------------------------


def _workbook(
    survey: list[list[Any]],
    choices: list[list[Any]] | None = None,
    settings: list[list[Any]] | None = None,
    indicators: list[list[Any]] | None = None,
    extra_sheet: str | None = None,
) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "survey"
    for row in survey:
        sheet.append(row)
    for name, data in (("choices", choices), ("settings", settings), ("indicators", indicators)):
        if data is not None:
            other = book.create_sheet(name)
            for row in data:
                other.append(row)
    if extra_sheet:
        book.create_sheet(extra_sheet).append(["x"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SURVEY_HEADER = [
    "type",
    "name",
    "label::English (en)",
    "label::French (fr)",
    "hint::English (en)",
    "required",
    "constraint",
    "relevant",
]


def _odk_form() -> bytes:
    """An XLSForm as an ODK user writes one, within the supported subset."""
    return _workbook(
        survey=[
            SURVEY_HEADER,
            ["select_one crops", "crop", "Crop", "Culture", None, "yes", None, None],
            ["select_one plots", "plot", "Plot", "Parcelle", None, "yes", None, None],
            [
                "select_multiple practices",
                "practices",
                "Practices",
                "Pratiques",
                None,
                "no",
                None,
                "${plot} = 'demo'",
            ],
            [
                "decimal",
                "area_m2",
                "Plot area",
                "Surface",
                "In square metres",
                "yes",
                ". >= 1 and . <= 100000",
                None,
            ],
            [
                "integer",
                "harvest_kg",
                "Harvest",
                "Récolte",
                None,
                "yes",
                ". >= 0",
                "selected(${plot}, 'demo') or ${plot} = 'control'",
            ],
            [
                "date",
                "harvest_date",
                "Harvest date",
                "Date de récolte",
                None,
                "yes",
                ". >= date('2020-01-01')",
                None,
            ],
            [
                "acknowledge",
                "consent",
                "Farmer agrees",
                "L'agriculteur accepte",
                None,
                None,
                None,
                None,
            ],
            ["text", "remarks", "Remarks", "Remarques", None, None, None, None],
        ],
        choices=[
            ["list_name", "name", "label::English (en)", "label::French (fr)"],
            ["crops", "maize", "Maize", "Maïs"],
            ["crops", "potato", "Potato", "Pomme de terre"],
            ["plots", "demo", "Demonstration", "Démonstration"],
            ["plots", "control", "Control", "Témoin"],
            ["practices", "ridges", "Ridges", "Billons"],
            ["practices", "mulch", "Mulch", "Paillage"],
        ],
        settings=[
            ["form_id", "version", "form_title"],
            ["odk_plot_harvest", "2024061201", "Plot harvest"],
        ],
        indicators=[
            [
                "code",
                "name::English (en)",
                "unit",
                "aggregate",
                "numerator",
                "denominator",
                "factor",
                "compare",
            ],
            ["ODK_YIELD", "Yield", "kg/ha", "ratio", "harvest_kg", "area_m2", 10000, "plot"],
        ],
    )


def _import(client: TestClient, world: World, data: bytes, who: str = "admin", **form: str) -> Any:
    return client.post(
        "/api/v1/forms/import",
        files={
            "file": (
                "form.xlsx",
                data,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
        data=form,
        headers=world.auth(who),
    )


def test_an_odk_style_xlsform_imports_and_round_trips(client: TestClient, session: Session) -> None:
    world = World(session)
    response = _import(
        client, world, _odk_form(), who="officer_lso", project=world.project_lso.code
    )
    assert response.status_code == 201, response.text
    form = client.get(
        f"/api/v1/forms/{response.json()['id']}", headers=world.auth("expert_lso")
    ).json()
    assert (form["code"], form["version"], form["status"]) == ("ODK_PLOT_HARVEST", 1, "draft")
    assert form["title"] == {"en": "Plot harvest"}
    fields = {f["name"]: f for f in form["fields"]}
    assert list(fields) == [
        "crop",
        "plot",
        "practices",
        "area_m2",
        "harvest_kg",
        "harvest_date",
        "consent",
        "remarks",
    ]
    assert fields["crop"]["type"] == "select_one" and fields["crop"]["required"] is True
    assert fields["crop"]["choices"] == [
        {"code": "maize", "label": {"en": "Maize", "fr": "Maïs"}},
        {"code": "potato", "label": {"en": "Potato", "fr": "Pomme de terre"}},
    ]
    assert fields["practices"]["type"] == "select_multiple"
    assert fields["practices"]["relevant"] == {"field": "plot", "in": ["demo"]}
    assert fields["harvest_kg"]["relevant"] == {"field": "plot", "in": ["demo", "control"]}
    assert (fields["area_m2"]["min"], fields["area_m2"]["max"]) == (1, 100000)
    assert fields["area_m2"]["hint"] == {"en": "In square metres"}
    assert fields["area_m2"]["label"] == {"en": "Plot area", "fr": "Surface"}
    assert (
        fields["harvest_kg"]["type"],
        fields["harvest_kg"]["min"],
        fields["harvest_kg"]["max"],
    ) == ("integer", 0, None)
    assert fields["harvest_date"]["min"] == "2020-01-01"
    assert fields["consent"]["type"] == "boolean" and fields["consent"]["required"] is False
    assert form["indicators"] == [
        {
            "code": "ODK_YIELD",
            "name": {"en": "Yield"},
            "unit": "kg/ha",
            "aggregate": "ratio",
            "field": None,
            "numerator": "harvest_kg",
            "denominator": "area_m2",
            "factor": 10000,
            "choice": None,
            "compare": "plot",
            "direction": "increase",
        }
    ]
    # importing again makes the next version's draft (after publishing this one)
    assert (
        client.post(
            f"/api/v1/forms/{form['id']}/publish", headers=world.auth("officer_lso")
        ).status_code
        == 200
    )
    again = _import(client, world, _odk_form(), who="officer_lso", project=world.project_lso.code)
    assert again.status_code == 201 and again.json()["version"] == 2


@pytest.mark.parametrize(
    ("row", "column", "needle"),
    [
        (["geopoint", "where", "Where", None, None, None, None, None], "type", "geopoint"),
        (["integer", "n", "N", None, None, None, ". > 3", None], "constraint", ". > 3"),
        (["integer", "n", "N", None, None, None, ". >= 0 or . <= 9", None], "constraint", "or"),
        (["integer", "n", "N", None, None, None, "regex(., '[0-9]')", None], "constraint", "regex"),
        (["integer", "n", "N", None, None, None, None, "${plot} != 'demo'"], "relevant", "!="),
        (
            [
                "integer",
                "n",
                "N",
                None,
                None,
                None,
                None,
                "${plot} = 'demo' and ${plot} = 'control'",
            ],
            "relevant",
            "and",
        ),
        (["integer", "n", "N", None, None, "maybe", None, None], "required", "maybe"),
        (["text", "n", "N", None, None, None, ". >= 3", None], "constraint", "text"),
        (["begin_group", "g", "G", None, None, None, None, None], "type", "begin_group"),
    ],
)
def test_an_xlsform_outside_the_subset_is_refused_with_its_row(
    client: TestClient, session: Session, row: list[Any], column: str, needle: str
) -> None:
    world = World(session)
    data = _workbook(
        survey=[
            SURVEY_HEADER,
            ["select_one plots", "plot", "Plot", None, None, "yes", None, None],
            row,
        ],
        choices=[
            ["list_name", "name", "label"],
            ["plots", "demo", "Demo"],
            ["plots", "control", "Control"],
        ],
        settings=[["form_id", "form_title"], ["refused", "Refused"]],
    )
    response = _import(client, world, data)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert (problem["sheet"], problem["row"], problem["column"]) == ("survey", 3, column)
    assert needle in problem["reason"] and problem["code"] == "xlsform_unsupported"
    assert not rows(session, select(Form))


def test_unknown_columns_sheets_and_definition_errors_are_placed(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    column = _workbook(
        survey=[["type", "name", "label", "appearance"], ["integer", "n", "N", "numbers"]],
        settings=[["form_id", "form_title"], ["x_form", "X"]],
    )
    detail = _import(client, world, column).json()["detail"]
    assert (detail[0]["sheet"], detail[0]["row"], detail[0]["column"]) == (
        "survey",
        2,
        "appearance",
    )
    sheet = _workbook(
        survey=[["type", "name", "label"], ["integer", "n", "N"]],
        settings=[["form_id", "form_title"], ["x_form", "X"]],
        extra_sheet="external_choices",
    )
    assert _import(client, world, sheet).json()["detail"][0]["sheet"] == "external_choices"
    translated_name = _workbook(
        survey=[["type", "name", "label", "name::French (fr)"], ["integer", "n", "N", "n_fr"]],
        settings=[["form_id", "form_title"], ["x_form", "X"]],
    )
    problem = _import(client, world, translated_name).json()["detail"][0]
    assert (problem["row"], problem["column"]) == (2, "name::French (fr)")
    bad_name = _workbook(
        survey=[["type", "name", "label"], ["integer", "n", "N"], ["integer", "Bad Name", "B"]],
        settings=[["form_id", "form_title"], ["x_form", "X"]],
    )
    problem = _import(client, world, bad_name).json()["detail"][0]
    assert (problem["sheet"], problem["row"], problem["column"], problem["code"]) == (
        "survey",
        3,
        "name",
        "not_snake_case",
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a spreadsheet at all",
        b"PK\x03\x04garbage" + b"\x00" * 100,
    ],
    ids=["empty", "text", "broken-zip"],
)
def test_a_corrupt_file_is_a_4xx(client: TestClient, session: Session, data: bytes) -> None:
    world = World(session)
    response = _import(client, world, data)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "xlsform_unreadable"


def _not_workbooks() -> dict[str, bytes]:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("hello.txt", "hi")
    no_workbook = io.BytesIO()  # an .xlsx's parts list, but no workbook part
    with zipfile.ZipFile(no_workbook, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
    whole = _odk_form()
    return {
        "empty": b"",
        "png": png,
        "zip": plain.getvalue(),
        "no-workbook": no_workbook.getvalue(),
        "truncated": whole[: len(whole) // 2],
    }


@pytest.mark.parametrize("kind", ["empty", "png", "zip", "no-workbook", "truncated"])
def test_a_file_that_is_not_a_workbook_is_explained_without_python_names(
    client: TestClient, session: Session, tmp_path: Path, db_url: str, kind: str
) -> None:
    """The admin reads the message on the dashboard and on the command line: it says what to
    upload instead, never a Python exception class such as "(KeyError)"."""
    world = World(session)
    data = _not_workbooks()[kind]
    response = _import(client, world, data)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "xlsform_unreadable"
    for message in [text for p in body["detail"] for text in (p["message"], p["reason"])]:
        assert not re.search(r"(Error|Exception|Warning)\b|\([A-Z]\w+\)", message), message
        assert "Excel workbook (.xlsx)" in message, message
    if kind in ("png", "truncated"):
        path = tmp_path / "form.xlsx"
        path.write_bytes(data)
        env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
        refused = run_cli("forms", "import", str(path), env=env)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        (line,) = refused.stderr.strip().splitlines()
        assert "Excel workbook (.xlsx)" in line and not re.search(r"Error\b|Exception", line)


def test_a_zip_that_is_not_a_workbook_and_a_zip_bomb_are_refused(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert _import(client, world, plain.getvalue()).json()["code"] == "xlsform_unreadable"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (70 * 1024 * 1024))
    response = _import(client, world, bomb.getvalue())
    assert response.status_code == 422 and "unzips" in response.json()["detail"][0]["reason"]


def test_a_row_of_too_many_cells_is_refused_before_it_is_read(
    client: TestClient, session: Session
) -> None:
    """Security audit: openpyxl builds a row's every cell before we can stop at MAX_COLUMNS,
    so a small upload of one row of a million cells (under the upload and unzipped limits)
    took minutes and GiBs. The cells are counted first: more in a row than Excel's columns
    (or in a sheet than MAX_ROWS x MAX_COLUMNS) is refused."""
    world = World(session)
    plain = _workbook(survey=[["type", "name", "label"]], settings=[["form_id"], ["big"]])
    source = zipfile.ZipFile(io.BytesIO(plain))
    wide = io.BytesIO()
    with zipfile.ZipFile(wide, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                row = b'<x:row r="2">' + b'<x:c s="0"/>' * (xlsform.MAX_ROW_CELLS + 1) + b"</x:row>"
                data = data.replace(b"</sheetData>", row.replace(b"x:", b"") + b"</sheetData>")
            archive.writestr(entry.filename, data)
    response = _import(client, world, wide.getvalue())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "xlsform_unreadable"
    (problem,) = response.json()["detail"]
    assert (problem["problem"], problem["params"]) == (
        "too_many_cells",
        {"limit": str(xlsform.MAX_ROW_CELLS)},
    )
    # a form at the limits is read as before
    assert _import(client, world, plain).json()["detail"][0]["problem"] != "too_many_cells"


def test_a_file_over_the_limit_is_413(client: TestClient, session: Session) -> None:
    world = World(session)
    response = _import(client, world, b"x" * (2 * 1024 * 1024 + 1))
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


def test_too_many_rows_are_refused(client: TestClient, session: Session) -> None:
    world = World(session)
    survey = [["type", "name", "label"]] + [["integer", f"n{i}", "N"] for i in range(2_001)]
    response = _import(client, world, _workbook(survey=survey, settings=[["form_id"], ["big"]]))
    assert response.status_code == 422 and response.json()["code"] == "too_many"


def test_the_import_route_follows_the_write_rules(client: TestClient, session: Session) -> None:
    world = World(session)
    assert _import(client, world, _odk_form(), who="officer_lso").status_code == 403  # global
    assert _import(client, world, _odk_form(), who="hq").status_code == 403
    assert (
        _import(
            client, world, _odk_form(), who="expert_lso", project=world.project_lso.code
        ).status_code
        == 403
    )
    outside = _import(client, world, _odk_form(), who="officer_lso", project=world.project_ken.code)
    assert outside.status_code == 422 and outside.json()["detail"][0]["field"] == "project"


# --- command line and init-db ---------------------------------------------------------------


def test_init_db_publishes_the_shipped_forms_once(
    db_url: str, tmp_path: Path, session: Session
) -> None:
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    first = run_cli("init-db", env=env)
    assert first.returncode == 0, first.stderr
    for shipped in SHIPPED_FORMS:
        assert f"form {shipped['code']}: published version 1" in first.stdout
    second = run_cli("init-db", env=env)
    assert second.returncode == 0 and "form " not in second.stdout
    forms = rows(session, select(Form).order_by(col(Form.code)))
    assert sorted(f.code for f in forms) == sorted(f["code"] for f in SHIPPED_FORMS)
    assert all(f.status == "published" and f.version == 1 and f.project_id is None for f in forms)
    by_code = {f.code: f for f in forms}
    for shipped in SHIPPED_FORMS:
        form = by_code[shipped["code"]]
        assert (form.title, form.fields, form.indicators) == (
            shipped["title"],
            shipped["fields"],
            shipped["indicators"],
        )
    changes = rows(session, select(Change).where(col(Change.entity) == "form"))
    assert len(changes) == 5 and all(c.project_id is None for c in changes)


def test_a_changed_shipped_definition_publishes_the_next_version(session: Session) -> None:
    from server.results.forms import ensure_shipped_forms

    shipped = SHIPPED_FORMS[0]
    assert ensure_shipped_forms(session, [shipped]) == [f"{shipped['code']}: published version 1"]
    session.commit()
    changed = {**shipped, "title": {**shipped["title"], "en": "Demonstration plot harvest (v2)"}}
    assert ensure_shipped_forms(session, [changed]) == [f"{shipped['code']}: published version 2"]
    assert ensure_shipped_forms(session, [changed]) == []
    session.commit()
    versions = rows(
        session, select(Form).where(Form.code == shipped["code"]).order_by(col(Form.version))
    )
    assert [(f.version, f.status) for f in versions] == [(1, "published"), (2, "published")]
    assert versions[0].title == shipped["title"]


def test_forms_import_and_list_on_the_command_line(
    db_url: str, tmp_path: Path, session: Session
) -> None:
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    World(session)
    path = tmp_path / "odk.xlsx"
    path.write_bytes(_odk_form())
    imported = run_cli("forms", "import", str(path), "--publish", env=env)
    assert imported.returncode == 0, imported.stderr
    assert (
        "ODK_PLOT_HARVEST version 1: published (global, 8 fields, 1 indicators)" in imported.stdout
    )
    listed = run_cli("forms", "list", env=env)
    assert "ODK_PLOT_HARVEST\tv1\tpublished\tglobal\t8 fields\tODK_YIELD" in listed.stdout
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"nope")
    refused = run_cli("forms", "import", str(bad), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "pilotmon: bad.xlsx: file: this file is not an Excel workbook (.xlsx) that pyxform can"
        " read: it is not a zip archive, or it is cut short; open the form in Excel or"
        " LibreOffice and save it as Excel Workbook (.xlsx)"
    ]
    unknown = run_cli("forms", "import", str(path), "--project", "NOPE", env=env)
    assert unknown.returncode == 1 and "no project 'NOPE'" in unknown.stderr


def test_an_xlsform_unit_takes_languages_like_a_label(client: TestClient, session: Session) -> None:
    """``unit::French (fr)`` (docs/results.md#units): the translations land in ``unit_label``,
    on questions and indicators; a unit with no translation has no ``unit_label``."""
    world = World(session)
    data = _workbook(
        survey=[
            ["type", "name", "label", "unit", "unit::French (fr)", "unit::pt"],
            ["integer", "sacks", "Sacks", "sacks", "sacs", "sacos"],
            ["integer", "farmers", "Farmers", "farmers", None, None],
        ],
        settings=[["form_id", "form_title"], ["sack_units", "Sacks"]],
        indicators=[
            ["code", "name", "unit", "unit::Español (es)", "aggregate", "field"],
            ["SACKS_TOTAL", "Sacks", "sacks", "sacos", "sum", "sacks"],
        ],
    )
    response = _import(client, world, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["fields"][0]["unit"] == "sacks"
    assert body["fields"][0]["unit_label"] == {"fr": "sacs", "pt": "sacos"}
    assert "unit_label" not in body["fields"][1]
    assert body["indicators"][0]["unit_label"] == {"es": "sacos"}
    # without a plain unit column, the English one is the unit
    english_only = _workbook(
        survey=[["type", "name", "label", "unit::English (en)"], ["integer", "n", "N", "bags"]],
        settings=[["form_id", "form_title"], ["bag_units", "Bags"]],
    )
    response = _import(client, world, english_only)
    assert response.status_code == 201, response.text
    assert response.json()["fields"][0]["unit"] == "bags"


def test_each_refusal_carries_its_problem_key_and_params(
    client: TestClient, session: Session
) -> None:
    """A client words a refusal from ``problem`` and ``params`` (docs/errors.md#body-shapes),
    never from the English ``reason``."""
    world = World(session)
    data = _workbook(
        survey=[
            ["type", "name", "label", "constraint"],
            ["geopoint", "where", "Where", None],
            ["integer", "n", "N", ". > 3"],
        ],
        settings=[["form_id", "form_title"], ["x_form", "X"]],
    )
    detail = _import(client, world, data).json()["detail"]
    assert [(d["problem"], d["params"]) for d in detail] == [
        ("type_unsupported", {"type": "geopoint"}),
        ("constraint_form", {"constraint": ". > 3"}),
    ]
    png = _import(client, world, b"\x89PNG\r\n\x1a\n" + b"\0" * 32).json()["detail"][0]
    assert (png["code"], png["problem"], png["params"]) == (
        "xlsform_unreadable",
        "not_a_workbook",
        {"why": "png"},
    )
    bad_name = _workbook(
        survey=[["type", "name", "label"], ["integer", "Bad Name", "B"]],
        settings=[["form_id", "form_title"], ["x_form", "X"]],
    )
    problem = _import(client, world, bad_name).json()["detail"][0]
    assert (problem["code"], problem["problem"], problem["params"]) == (
        "not_snake_case",
        "definition",
        {"path": "fields[0].name"},
    )


def test_an_xlsform_constraint_may_name_an_earlier_field(
    client: TestClient, session: Session
) -> None:
    """``. <= ${visited}`` as ODK writes it: the answer is bounded by the visited count."""
    world = World(session)
    survey: list[list[Any]] = [
        SURVEY_HEADER,
        ["integer", "visited", "Farmers visited", None, None, "yes", ". >= 0", None],
        ["integer", "applying", "Applying", None, None, "yes", ". >= 0 and . <= ${visited}", None],
        ["date", "sown", "Sown", None, None, "no", None, None],
        ["date", "harvested", "Harvested", None, None, "no", ". >= ${sown}", None],
    ]
    settings = [["form_id", "form_title"], ["adoption_check", "Adoption check"]]
    response = _import(client, world, _workbook(survey=survey, settings=settings))
    assert response.status_code == 201, response.text
    fields = {f["name"]: f for f in response.json()["fields"]}
    assert (fields["applying"]["min"], fields["applying"]["max"]) == (0, "${visited}")
    assert fields["harvested"]["min"] == "${sown}"

    # a later field, or one of another kind, is refused on its row
    refusals: list[tuple[list[Any], str]] = [
        (["integer", "early", "Early", None, None, "no", ". <= ${later}", None], "later"),
        (["date", "when", "When", None, None, "no", ". <= ${visited}", None], "visited"),
    ]
    for row, reason in refusals:
        bad: list[list[Any]] = [
            *survey[:2],
            row,
            ["integer", "later", "Later", None, None, "no", None, None],
        ]
        refused = _import(client, world, _workbook(survey=bad, settings=settings))
        assert refused.status_code == 422, refused.text
        problem = refused.json()["detail"][0]
        assert (problem["sheet"], problem["row"], problem["column"]) == ("survey", 3, "constraint")
        assert reason in problem["message"]
