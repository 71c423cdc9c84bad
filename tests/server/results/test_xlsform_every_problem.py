"""An XLSForm's problems all in one answer, each on its sheet and row (docs/results.md#forms):
the reader's, the form rules' and the indicator codes other forms took; on the API and on the
command line, one line per problem in the workbook's order (docs/cli.md#pilotmon-forms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.results.forms import create_draft
from server.results.models import Form
from tests.factories import World, rows
from tests.server.results.test_forms_api import _import, _workbook
from tests.server.test_cli import run_cli

SETTINGS = [["form_id", "form_title"], ["every_problem", "Every problem"]]
INDICATOR_HEADER = ["code", "name", "unit", "aggregate", "field"]


def _taken_by_another_form(session: Session) -> None:
    create_draft(
        session,
        data={
            "code": "REVENUE",
            "title": {"en": "Revenue"},
            "fields": [{"name": "kg", "type": "decimal", "label": {"en": "kg"}}],
            "indicators": [
                {"code": "REV_YIELD", "name": {"en": "Yield"}, "aggregate": "sum", "field": "kg"}
            ],
        },
        project=None,
        actor_id=None,
    )
    session.commit()


def _taken_codes_workbook(*, other_error: bool) -> bytes:
    indicators: list[list[Any]] = [
        INDICATOR_HEADER,
        ["REV_YIELD", "Yield", "kg", "sum", "kg"],
        ["PARTICIPANTS", "People", "", "sum", "kg"],  # an activity indicator's code
    ]
    if other_error:
        indicators.append(["OWN_CODE", "Own", "", "bogus", "kg"])
    return _workbook(
        survey=[["type", "name", "label"], ["decimal", "kg", "Harvest"]],
        settings=SETTINGS,
        indicators=indicators,
    )


def _where(detail: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["sheet"], p["row"], p["column"], p["code"]) for p in detail]


def test_every_taken_indicator_code_is_named_on_its_row_with_the_other_problems(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    _taken_by_another_form(session)
    detail = _import(client, world, _taken_codes_workbook(other_error=False)).json()["detail"]
    assert _where(detail) == [
        ("indicators", 2, "code", "indicator_code_taken"),
        ("indicators", 3, "code", "indicator_code_taken"),
    ]
    assert [(p["problem"], p["params"]["code"]) for p in detail] == [
        ("indicator_code_taken", "REV_YIELD"),
        ("indicator_code_taken", "PARTICIPANTS"),
    ]
    assert "REV_YIELD" in detail[0]["reason"]

    response = _import(client, world, _taken_codes_workbook(other_error=True))
    assert response.status_code == 422, response.text
    assert _where(response.json()["detail"]) == [
        ("indicators", 2, "code", "indicator_code_taken"),
        ("indicators", 3, "code", "indicator_code_taken"),
        ("indicators", 4, "aggregate", "unknown_code"),
    ]
    assert [f.code for f in rows(session, select(Form))] == ["REVENUE"]


def _two_rounds_workbook() -> bytes:
    """The reader's problems (a constraint and a relevance outside the subset, an unknown
    type) and the form rules' (a choice code twice, min above max) in one workbook."""
    return _workbook(
        survey=[
            ["type", "name", "label", "constraint", "relevant"],
            ["select_one yn", "a", "A", None, None],
            ["select_one yn", "b", "B", None, None],
            ["date", "d", "D", ". <= today()", None],
            ["integer", "n", "N", ". >= 10 and . <= 1", None],
            ["text", "t", "T", None, "${a} = 'yes' or ${b} = 'yes'"],
            ["geopoint", "g", "G", None, None],
            # names the row left out: its own problem is enough
            ["text", "k", "K", None, "${g} = 'x'"],
        ],
        choices=[
            ["list_name", "name", "label"],
            ["yn", "yes", "Yes"],
            ["yn", "no", "No"],
            ["yn", "yes", "Yes again"],
        ],
        settings=SETTINGS,
    )


def test_the_readers_problems_and_the_form_rules_come_in_one_answer(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    response = _import(client, world, _two_rounds_workbook())
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [(p["sheet"], p["row"], p["column"], p["problem"]) for p in detail] == [
        ("survey", 4, "constraint", "constraint_form"),
        ("survey", 5, "constraint", "definition"),
        ("survey", 6, "relevant", "relevant_one_field"),
        ("survey", 7, "type", "type_unsupported"),
        ("choices", 4, "name", "definition"),
    ]
    assert detail[4]["code"] == "duplicate_name"


def test_too_many_questions_are_placed_on_the_survey_sheet(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    survey: list[list[Any]] = [["type", "name", "label"]]
    survey += [["integer", f"q{i}", f"Q{i}"] for i in range(201)]
    data = _workbook(
        survey=survey,
        settings=SETTINGS,
        indicators=[INDICATOR_HEADER, ["MANY_SUM", "Sum", "", "sum", "q0"]],
    )
    detail = _import(client, world, data).json()["detail"]
    assert [(p["sheet"], p["row"], p["column"], p["code"]) for p in detail] == [
        ("survey", 202, None, "too_many")  # the 201st question's row
    ]


def test_the_command_line_names_every_problem_on_a_line_of_its_own_in_row_order(
    db_url: str, tmp_path: Path, session: Session
) -> None:
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    World(session)
    _taken_by_another_form(session)
    taken = tmp_path / "taken.xlsx"
    taken.write_bytes(_taken_codes_workbook(other_error=True))
    result = run_cli("forms", "import", str(taken), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ", 3)[:3] for line in lines] == [
        ["pilotmon", "taken.xlsx", "indicators row 2 column code"],
        ["pilotmon", "taken.xlsx", "indicators row 3 column code"],
        ["pilotmon", "taken.xlsx", "indicators row 4 column aggregate"],
    ]
    assert "REV_YIELD" in lines[0] and "PARTICIPANTS" in lines[1]

    rounds = tmp_path / "rounds.xlsx"
    rounds.write_bytes(_two_rounds_workbook())
    result = run_cli("forms", "import", str(rounds), "--project", "NOPE", env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and all(
        line.startswith("pilotmon: rounds.xlsx: ") for line in lines
    ), lines
    assert [line.split(": ")[2] for line in lines] == [
        "no project 'NOPE'",
        "survey row 4 column constraint",
        "survey row 5 column constraint",
        "survey row 6 column relevant",
        "survey row 7 column type",
        "choices row 4 column name",
    ]
    assert [f.code for f in rows(session, select(Form))] == ["REVENUE"]
