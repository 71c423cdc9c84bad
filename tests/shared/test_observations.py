"""An observation against its form version (shared/observations.py): the rules the tablet and
the server both run."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.observations import asked_fields, form_fields, validate_observation, validate_values
from shared.validation import ProjectFacts, SiteFacts

TODAY = date(2025, 6, 1)
FORM: dict[str, Any] = {
    "fields": [
        {
            "name": "plot",
            "type": "select_one",
            "required": True,
            "choices": [{"code": "demo"}, {"code": "control"}],
        },
        {"name": "harvest_kg", "type": "decimal", "required": True, "min": 0, "max": 1000},
        {"name": "bags", "type": "integer", "min": 1},
        {
            "name": "practice",
            "type": "select_multiple",
            "required": True,
            "choices": [{"code": "mulch"}, {"code": "rotation"}, {"code": "none"}],
            "relevant": {"field": "plot", "in": ["demo"]},
        },
        {
            "name": "mulch_kg",
            "type": "decimal",
            "required": True,
            "relevant": {"field": "practice", "in": ["mulch"]},
        },
        {"name": "sown_on", "type": "date", "min": "2024-01-01", "max": "2025-12-31"},
        {"name": "irrigated", "type": "boolean"},
        {"name": "remark", "type": "text"},
    ]
}


def _errors(values: dict[str, Any]) -> set[tuple[str, str]]:
    _, errors = validate_values(values, FORM)
    return {(e.field, str(e.code)) for e in errors}


def test_a_good_observation_is_cleaned() -> None:
    project_id = str(uuid.uuid4())
    site_id = str(uuid.uuid4())
    data = {
        "id": str(uuid.uuid4()).upper(),
        "project_id": project_id,
        "site_id": site_id,
        "form_id": str(uuid.uuid4()),
        "form_version": 2.0,
        "observed_on": "2025-05-30",
        "values": {
            "plot": " demo ",
            "harvest_kg": 12.0,
            "practice": ["mulch", "rotation", "mulch"],
            "mulch_kg": 3.5,
            "sown_on": "2025-01-05",
            "irrigated": False,
            "remark": "  fine ",
            "bags": None,
        },
        "notes": "ok",
        "status": "approved",  # not the tablet's to set: ignored
        "captured_at": "2025-05-30T10:00:00+02:00",
    }
    checked = validate_observation(
        data,
        form=FORM,
        today=TODAY,
        project=ProjectFacts(project_id, "LSO", (), date(2024, 1, 1), date(2026, 1, 1)),
        sites={site_id: SiteFacts(site_id, project_id, None, None)},
    )
    assert checked.errors == []
    assert checked.clean["form_version"] == 2 and "status" not in checked.clean
    assert checked.clean["values"] == {
        "plot": "demo",
        "harvest_kg": 12,
        "practice": ["mulch", "rotation"],
        "mulch_kg": 3.5,
        "sown_on": "2025-01-05",
        "irrigated": False,
        "remark": "fine",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"plot": "control", "harvest_kg": 1, "colour": "red"}, ("values.colour", "unknown_field")),
        ({"plot": "control", "harvest_kg": "1"}, ("values.harvest_kg", "not_number")),
        ({"plot": "control", "harvest_kg": True}, ("values.harvest_kg", "not_number")),
        ({"plot": "control", "harvest_kg": 1, "bags": 2.5}, ("values.bags", "not_integer")),
        ({"plot": "control", "harvest_kg": 1001}, ("values.harvest_kg", "value_range")),
        ({"plot": "control", "harvest_kg": 1, "bags": 0}, ("values.bags", "value_range")),
        (
            {"plot": "control", "harvest_kg": 1, "practice": ["mulch"]},
            ("values.practice", "not_asked"),
        ),
        ({"plot": "demo", "harvest_kg": 1}, ("values.practice", "required")),
        (
            {"plot": "demo", "harvest_kg": 1, "practice": ["none"], "mulch_kg": 2},
            ("values.mulch_kg", "not_asked"),
        ),
        ({"plot": "demo", "harvest_kg": 1, "practice": ["mulch"]}, ("values.mulch_kg", "required")),
        ({"plot": "demo", "harvest_kg": 1, "practice": "mulch"}, ("values.practice", "not_list")),
        (
            {"plot": "demo", "harvest_kg": 1, "practice": ["straw"]},
            ("values.practice[0]", "unknown_code"),
        ),
        ({"plot": "mixed", "harvest_kg": 1}, ("values.plot", "unknown_code")),
        ({"plot": 1, "harvest_kg": 1}, ("values.plot", "not_text")),
        ({"harvest_kg": 1}, ("values.plot", "required")),
        (
            {"plot": "control", "harvest_kg": 1, "sown_on": "2023-12-31"},
            ("values.sown_on", "date_implausible"),
        ),
        ({"plot": "control", "harvest_kg": 1, "sown_on": "soon"}, ("values.sown_on", "bad_date")),
        ({"plot": "control", "harvest_kg": 1, "irrigated": 1}, ("values.irrigated", "not_boolean")),
        (
            {"plot": "control", "harvest_kg": 1, "remark": "a\x00b"},
            ("values.remark", "control_character"),
        ),
        ({"plot": "control", "harvest_kg": 10**400}, ("values.harvest_kg", "not_number")),
    ],
)
def test_each_rule_names_the_answer_and_its_code(
    values: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in _errors(values)


def test_an_unasked_field_left_empty_is_fine_and_not_stored() -> None:
    clean, errors = validate_values(
        {"plot": "control", "harvest_kg": 1, "practice": None, "mulch_kg": ""}, FORM
    )
    assert errors == [] and clean == {"plot": "control", "harvest_kg": 1}


def test_the_envelope_is_checked_too() -> None:
    checked = validate_observation(
        {
            "id": "x",
            "project_id": str(uuid.uuid4()),
            "form_id": str(uuid.uuid4()),
            "form_version": 0,
            "observed_on": "2025-06-03",
            "values": [],
        },
        form=FORM,
        today=TODAY,
    )
    assert {(e.field, str(e.code)) for e in checked.errors} == {
        ("id", "bad_uuid"),
        ("form_version", "count_range"),
        ("observed_on", "in_future"),
        ("values", "not_object"),
    }


def test_relevance_that_points_nowhere_or_in_a_circle_asks_nothing() -> None:
    fields = form_fields(
        [
            {"name": "a", "type": "text", "relevant": {"field": "b", "in": ["x"]}},
            {"name": "b", "type": "select_one", "relevant": {"field": "a", "in": ["x"]}},
            {"name": "c", "type": "text", "relevant": {"field": "missing", "in": ["x"]}},
            {"name": "d", "type": "text", "relevant": "yes"},
            {"name": "e", "type": "text"},
            "not a field",
            {"type": "text"},
        ]
    )
    assert asked_fields(fields, {"a": "x", "b": "x"}) == {
        "a": False,
        "b": False,
        "c": False,
        "d": False,
        "e": True,
    }


def test_a_malformed_definition_never_raises() -> None:
    for form in (None, {}, {"fields": "x"}, {"fields": [{"name": "n", "type": "money"}]}):
        _, errors = validate_values({"n": 1}, form)
        assert errors and errors[0].field == "values.n"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(st.sampled_from([f["name"] for f in FORM["fields"]] + ["x"]), JSON))
def test_any_answers_give_issues_never_an_exception(values: dict[str, Any]) -> None:
    clean, errors = validate_values(values, FORM)
    assert all(e.field.startswith("values.") and e.code for e in errors)
    if not errors:
        assert set(clean) <= {f["name"] for f in FORM["fields"]}


BOUNDED: dict[str, Any] = {
    "fields": [
        {"name": "visited", "type": "integer", "min": 0},
        {"name": "applying", "type": "integer", "min": 0, "max": "${visited}"},
        {"name": "sown_on", "type": "date"},
        {"name": "harvested_on", "type": "date", "min": "${sown_on}"},
    ]
}


def test_an_answer_bounded_by_another_answer() -> None:
    """12 applying a practice of 5 farmers visited made a 240 % adoption rate."""
    _, errors = validate_values({"visited": 5, "applying": 12}, BOUNDED)
    assert [(e.field, e.code, e.params) for e in errors] == [
        ("values.applying", "above_field", {"value": "12", "other": "visited", "limit": "5"})
    ]
    _, errors = validate_values({"sown_on": "2025-03-01", "harvested_on": "2025-02-01"}, BOUNDED)
    assert [(e.field, e.code) for e in errors] == [("values.harvested_on", "below_field")]
    assert errors[0].params["limit"] == "2025-03-01"
    # equal is within the bound; a bound whose answer is missing or refused is not judged
    for values in (
        {"visited": 5, "applying": 5},
        {"applying": 12},
        {"visited": "many", "applying": 12},
        {"sown_on": "2025-03-01", "harvested_on": "2025-03-01"},
    ):
        _, errors = validate_values(values, BOUNDED)
        assert not [e for e in errors if e.code in ("above_field", "below_field")], values
