"""The XLSForm upload names each indicator code another form took, on its row, with the
workbook's other problems, in the reader's language (docs/results.md#dashboard-forms)."""

from __future__ import annotations

import io
import re

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import session as cookies
from server.results.forms import create_draft
from tests.server.dashboard.conftest import main_of, token_for
from tests.server.dashboard.world import World

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _workbook() -> bytes:
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    for row in (["type", "name", "label"], ["decimal", "kg", "Harvest"], ["geopoint", "g", "G"]):
        survey.append(row)
    book.create_sheet("settings").append(["form_id", "form_title"])
    book["settings"].append(["upload_taken", "Upload taken"])
    indicators = book.create_sheet("indicators")
    for row in (
        ["code", "name", "aggregate", "field"],
        ["REV_YIELD", "Yield", "sum", "kg"],
        ["PARTICIPANTS", "People", "sum", "kg"],
    ):
        indicators.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_each_taken_code_is_named_on_its_row_in_french(
    officer: TestClient, engine: Engine, world: World
) -> None:
    with Session(engine) as session:
        create_draft(
            session,
            data={
                "code": "REVENUE",
                "title": {"en": "Revenue"},
                "fields": [{"name": "kg", "type": "decimal", "label": {"en": "kg"}}],
                "indicators": [
                    {"code": "REV_YIELD", "name": {"en": "Y"}, "aggregate": "sum", "field": "kg"}
                ],
            },
            project=None,
            actor_id=None,
        )
        session.commit()
    officer.cookies.set(cookies.LANGUAGE_COOKIE, "fr")
    csrf = token_for(officer, "/forms")
    refused = officer.post(
        "/forms/import",
        data={"csrf_token": csrf, "project": world.lso.code},
        files={"file": ("taken.xlsx", _workbook(), XLSX)},
    )
    assert refused.status_code == 422
    main = main_of(refused.text)
    cells = re.findall(r"<tr><td>(\w+)</td><td class=\"num\">(\d+|–)</td><td><code>([^<]*)", main)
    assert cells == [
        ("survey", "3", "type"),
        ("indicators", "2", "code"),
        ("indicators", "3", "code"),
    ]
    for code in ("REV_YIELD", "PARTICIPANTS"):
        assert f"Un autre indicateur a déjà le code {code}" in main, main
