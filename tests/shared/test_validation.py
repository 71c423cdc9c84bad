"""Every docs/product.md#domain rule, each with a record that passes and one that fails."""

from __future__ import annotations

import math
import string
from datetime import date
from typing import Any

import pytest

from shared.validation import (
    INDICATOR_CODES,
    MESSAGES,
    WARNING_CODES,
    ErrorCode,
    Issue,
    ProjectFacts,
    SiteFacts,
    Validation,
    attendance_total,
    issue,
    quality_flags,
    validate_activity,
    validate_attachment,
    validate_attendance,
    validate_participant,
    validate_project,
    validate_site,
    validate_target,
)

TODAY = date(2025, 3, 20)
PROJECT_ID = "0b6f3c1e-6a51-4f7e-9c1a-2f3c4d5e6f70"
OTHER_ID = "9d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a"
SITE_ID = "5a5a5a5a-1b1b-4c2c-8d3d-4e4e4e4e4e4e"
FOREIGN_SITE_ID = "6b6b6b6b-1b1b-4c2c-8d3d-4e4e4e4e4e4e"
PROJECT = ProjectFacts(
    id=PROJECT_ID,
    country="LSO",
    solutions=("S1", "S2"),
    start_date=date(2024, 1, 1),
    end_date=date(2026, 12, 31),
)
SITE = SiteFacts(id=SITE_ID, project_id=PROJECT_ID, lat=-29.31, lon=27.48)  # Maseru
SITES = {
    SITE_ID: SITE,
    FOREIGN_SITE_ID: SiteFacts(id=FOREIGN_SITE_ID, project_id=OTHER_ID, lat=None, lon=None),
}
DROP = object()  # an override that removes the key


def _with(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    record = {**base, **overrides}
    return {key: value for key, value in record.items() if value is not DROP}


def row(
    sex: str = "female",
    age: str = "adult",
    category: str = "farmer",
    disability: bool = False,
    count: Any = 10,
) -> dict[str, Any]:
    return {
        "sex": sex,
        "age_band": age,
        "category": category,
        "disability": disability,
        "count": count,
    }


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def make_activity(**overrides: Any) -> dict[str, Any]:
    """A valid, complete activity of PROJECT as it arrives on the wire."""
    base = {
        "id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "project_id": PROJECT_ID,
        "site_id": SITE_ID,
        "type": "demonstration",
        "title": "Seed potato storage demonstration",
        "start_date": "2025-03-14",
        "end_date": "2025-03-15",
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "delivery": "in_person",
        "value_chain_stage": "storage",
        "facilitators": ["Mr Chen", "Ms Mokoena"],
        "experts_count": 2,
        "location": {"lat": -29.30, "lon": 27.49, "accuracy_m": 8.5},
        "notes": "Good turnout despite rain.",
        "attendance": [row("female", count=12), row("male", "youth", count=8)],
        "participant_ids": [uid(1), uid(2)],
        "status": "submitted",
        "captured_at": "2025-03-14T10:00:00+02:00",
    }
    return _with(base, overrides)


def check_activity(
    data: Any, *, sites: Any = SITES, project: ProjectFacts | None = PROJECT, partial: bool = False
) -> Validation:
    return validate_activity(data, project=project, sites=sites, today=TODAY, partial=partial)


def pairs(issues: list[Issue]) -> set[tuple[str, str]]:
    return {(i.field, i.code) for i in issues}


def assert_fails(result: Validation, field: str, code: ErrorCode) -> None:
    assert not result.ok
    assert (field, code.value) in pairs(result.errors), result.errors
    found = next(i for i in result.errors if (i.field, i.code) == (field, code.value))
    assert found.message.startswith(field or "record"), found.message  # messages name the field


def assert_clean(result: Validation) -> None:
    assert result.ok, result.errors


# ---------------------------------------------------------------------------------------------
# Messages


def test_every_validation_code_is_one_of_the_error_codes() -> None:
    assert set(MESSAGES) <= set(ErrorCode)
    assert set(MESSAGES) >= WARNING_CODES


def test_unknown_topic_message_lists_the_topics_of_its_solution() -> None:
    result = check_activity(make_activity(topic="S1.T9"))
    assert [i.message for i in result.errors] == [
        "topic: unknown topic 'S1.T9'; topics of S1 are S1.T1, S1.T2, S1.T3"
    ]


def test_unknown_code_message_lists_the_allowed_codes() -> None:
    result = check_activity(make_activity(delivery="radio"))
    assert result.errors[0].message == (
        "delivery: unknown delivery 'radio'; allowed: in_person, online, hybrid"
    )


# ---------------------------------------------------------------------------------------------
# Activity: a valid record, and what clean looks like


def test_valid_activity_has_no_issues() -> None:
    result = check_activity(make_activity())
    assert result.errors == [] and result.warnings == [] and result.ok


def test_clean_is_normalised() -> None:
    result = check_activity(
        make_activity(
            id="3F2504E0-4F89-41D3-9A0C-0305E82C3301",
            title="  Seed potato demo  ",
            start_date="20250314",
            experts_count=3.0,
            attendance=[row(count=7.0)],
            facilitators=["  Mr Chen ", "", "   "],
            notes="   ",
            delivery=DROP,
            unknown_key="ignored",
        )
    )
    assert_clean(result)
    clean = result.clean
    assert clean["id"] == "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    assert clean["title"] == "Seed potato demo"
    assert clean["start_date"] == "2025-03-14"
    assert clean["experts_count"] == 3 and isinstance(clean["experts_count"], int)
    assert clean["attendance"][0]["count"] == 7 and isinstance(clean["attendance"][0]["count"], int)
    assert clean["facilitators"] == ["Mr Chen"]
    assert clean["notes"] is None
    assert clean["delivery"] == "in_person"  # the default when missing
    assert "unknown_key" not in clean


def test_optional_fields_may_be_null_or_absent() -> None:
    nulls = dict.fromkeys(
        [
            "site_id",
            "topic",
            "modality",
            "level",
            "delivery",
            "value_chain_stage",
            "facilitators",
            "experts_count",
            "location",
            "notes",
            "participant_ids",
            "status",
            "captured_at",
        ]
    )
    assert_clean(check_activity(make_activity(**nulls)))
    assert_clean(check_activity(make_activity(**dict.fromkeys(nulls, DROP))))


def test_attendance_may_be_empty() -> None:
    assert_clean(check_activity(make_activity(attendance=[])))


def test_not_a_mapping_is_one_error() -> None:
    result = check_activity(["not", "an", "activity"])
    assert_fails(result, "", ErrorCode.NOT_OBJECT)


# ---------------------------------------------------------------------------------------------
# Activity: one failing case per field rule (the passing case is the factory, plus boundaries)

ACTIVITY_FAILURES = [
    # required
    ({"id": DROP}, "id", ErrorCode.REQUIRED),
    ({"project_id": DROP}, "project_id", ErrorCode.REQUIRED),
    ({"type": None}, "type", ErrorCode.REQUIRED),
    ({"title": "   "}, "title", ErrorCode.REQUIRED),
    ({"start_date": DROP}, "start_date", ErrorCode.REQUIRED),
    ({"end_date": ""}, "end_date", ErrorCode.REQUIRED),
    ({"attendance": DROP}, "attendance", ErrorCode.REQUIRED),
    ({"attendance": None}, "attendance", ErrorCode.REQUIRED),
    # ids
    ({"id": "not-a-uuid"}, "id", ErrorCode.BAD_UUID),
    ({"id": "3f2504e04f8941d39a0c0305e82c3301"}, "id", ErrorCode.BAD_UUID),
    ({"id": 42}, "id", ErrorCode.NOT_TEXT),
    ({"project_id": "x" * 36}, "project_id", ErrorCode.BAD_UUID),
    ({"project_id": OTHER_ID}, "project_id", ErrorCode.PROJECT_MISMATCH),
    ({"site_id": "nope"}, "site_id", ErrorCode.BAD_UUID),
    ({"site_id": OTHER_ID}, "site_id", ErrorCode.SITE_NOT_IN_PROJECT),
    ({"site_id": FOREIGN_SITE_ID}, "site_id", ErrorCode.SITE_NOT_IN_PROJECT),
    # codes
    ({"type": "meeting"}, "type", ErrorCode.UNKNOWN_CODE),
    ({"type": "Demonstration"}, "type", ErrorCode.UNKNOWN_CODE),
    ({"topic": "S1.T9"}, "topic", ErrorCode.UNKNOWN_CODE),
    ({"topic": "S10.T1"}, "topic", ErrorCode.UNKNOWN_CODE),
    ({"topic": 12}, "topic", ErrorCode.NOT_TEXT),
    ({"modality": "Q"}, "modality", ErrorCode.UNKNOWN_CODE),
    ({"level": "L4"}, "level", ErrorCode.UNKNOWN_CODE),
    ({"delivery": "radio"}, "delivery", ErrorCode.UNKNOWN_CODE),
    ({"value_chain_stage": "retail"}, "value_chain_stage", ErrorCode.UNKNOWN_CODE),
    ({"status": "approved"}, "status", ErrorCode.STATUS_NOT_ALLOWED),
    ({"status": "returned"}, "status", ErrorCode.STATUS_NOT_ALLOWED),
    ({"status": "done"}, "status", ErrorCode.STATUS_NOT_ALLOWED),
    # dates
    ({"start_date": "14/03/2025"}, "start_date", ErrorCode.BAD_DATE),
    ({"start_date": "2025-02-30"}, "start_date", ErrorCode.BAD_DATE),
    ({"start_date": "2025-03-14T10:00:00"}, "start_date", ErrorCode.BAD_DATE),
    ({"end_date": 20250314}, "end_date", ErrorCode.BAD_DATE),
    (
        {"start_date": "1999-12-31", "end_date": "1999-12-31"},
        "start_date",
        ErrorCode.DATE_IMPLAUSIBLE,
    ),
    ({"end_date": "2025-03-13"}, "end_date", ErrorCode.END_BEFORE_START),
    ({"start_date": "2025-03-22", "end_date": "2025-03-22"}, "start_date", ErrorCode.IN_FUTURE),
    ({"end_date": "2025-03-22"}, "end_date", ErrorCode.IN_FUTURE),
    ({"start_date": "2023-12-31"}, "start_date", ErrorCode.OUTSIDE_PROJECT_DATES),
    ({"captured_at": "2025-03-14T10:00:00"}, "captured_at", ErrorCode.BAD_DATETIME),
    ({"captured_at": "yesterday"}, "captured_at", ErrorCode.BAD_DATETIME),
    ({"captured_at": 1710403200}, "captured_at", ErrorCode.BAD_DATETIME),
    # numbers
    ({"experts_count": -1}, "experts_count", ErrorCode.COUNT_RANGE),
    ({"experts_count": 1001}, "experts_count", ErrorCode.COUNT_RANGE),
    ({"experts_count": 2.5}, "experts_count", ErrorCode.NOT_INTEGER),
    ({"experts_count": True}, "experts_count", ErrorCode.NOT_INTEGER),
    ({"experts_count": "3"}, "experts_count", ErrorCode.NOT_INTEGER),
    # location
    ({"location": [1, 2]}, "location", ErrorCode.NOT_OBJECT),
    ({"location": {"lat": 90.5, "lon": 27.0}}, "location.lat", ErrorCode.LAT_RANGE),
    ({"location": {"lat": -90.5, "lon": 27.0}}, "location.lat", ErrorCode.LAT_RANGE),
    ({"location": {"lat": -29.0, "lon": 180.5}}, "location.lon", ErrorCode.LON_RANGE),
    ({"location": {"lat": -29.0, "lon": -181}}, "location.lon", ErrorCode.LON_RANGE),
    ({"location": {"lat": -29.0}}, "location.lon", ErrorCode.REQUIRED),
    ({"location": {"lat": math.nan, "lon": 27.0}}, "location.lat", ErrorCode.NOT_NUMBER),
    ({"location": {"lat": "-29", "lon": 27.0}}, "location.lat", ErrorCode.NOT_NUMBER),
    (
        {"location": {"lat": -29, "lon": 27, "accuracy_m": -1}},
        "location.accuracy_m",
        ErrorCode.ACCURACY_RANGE,
    ),
    # text lengths
    ({"title": "x" * 201}, "title", ErrorCode.TOO_LONG),
    ({"title": ["a title"]}, "title", ErrorCode.NOT_TEXT),
    ({"notes": "x" * 5001}, "notes", ErrorCode.TOO_LONG),
    ({"facilitators": "Mr Chen"}, "facilitators", ErrorCode.NOT_LIST),
    ({"facilitators": ["Mr Chen", "x" * 121]}, "facilitators[1]", ErrorCode.TOO_LONG),
    ({"facilitators": ["Mr Chen", 7]}, "facilitators[1]", ErrorCode.NOT_TEXT),
    ({"facilitators": [f"Expert {n}" for n in range(51)]}, "facilitators", ErrorCode.TOO_MANY),
    # participants
    ({"participant_ids": uid(1)}, "participant_ids", ErrorCode.NOT_LIST),
    ({"participant_ids": [uid(1), "P-001"]}, "participant_ids[1]", ErrorCode.BAD_UUID),
    ({"participant_ids": [uid(1), None]}, "participant_ids[1]", ErrorCode.REQUIRED),
    ({"participant_ids": [uid(1), uid(2), uid(1)]}, "participant_ids[2]", ErrorCode.DUPLICATE_ID),
    ({"participant_ids": [uid(1), uid(1).upper()]}, "participant_ids[1]", ErrorCode.DUPLICATE_ID),
    ({"participant_ids": [uid(n) for n in range(10_001)]}, "participant_ids", ErrorCode.TOO_MANY),
    # attendance (the rows themselves are covered below)
    ({"attendance": {"female": 12}}, "attendance", ErrorCode.NOT_LIST),
    ({"attendance": [row(count=-1)]}, "attendance[0].count", ErrorCode.COUNT_RANGE),
]


@pytest.mark.parametrize(("overrides", "field", "code"), ACTIVITY_FAILURES)
def test_activity_rule_fails(overrides: dict[str, Any], field: str, code: ErrorCode) -> None:
    assert_fails(check_activity(make_activity(**overrides)), field, code)


ACTIVITY_PASSES = [
    {"end_date": "2025-03-14"},  # end on the start day
    {"start_date": "2025-03-21", "end_date": "2025-03-21"},  # one day ahead (time zones)
    {"start_date": "2024-01-01"},  # first day of the project
    {"start_date": "2025-03-14", "end_date": "2025-03-20"},  # today
    {"id": "3F2504E0-4F89-41D3-9A0C-0305E82C3301"},
    {"type": " workshop "},
    {"topic": "S2.T3", "modality": "P"},
    {"level": "L1", "delivery": "hybrid", "value_chain_stage": "marketing"},
    {"status": "draft"},
    {"captured_at": "2025-03-14T08:00:00Z"},
    {"captured_at": "2025-03-14T10:00:00.123+02:00"},
    {"experts_count": 0},
    {"experts_count": 1000},
    {"experts_count": 4.0},
    {"location": {"lat": 90, "lon": 180}},
    {"location": {"lat": -90.0, "lon": -180.0, "accuracy_m": 0}},
    {"title": "x" * 200},
    {"notes": "x" * 5000},
    {"facilitators": ["x" * 120] * 50},
    {"facilitators": []},
    {"participant_ids": [uid(n) for n in range(10_000)]},
    {"participant_ids": []},
]


@pytest.mark.parametrize("overrides", ACTIVITY_PASSES)
def test_activity_rule_passes(overrides: dict[str, Any]) -> None:
    assert_clean(check_activity(make_activity(**overrides)))


def test_project_end_is_inclusive_and_later_is_outside() -> None:
    ending = ProjectFacts(PROJECT_ID, "LSO", ("S1",), date(2024, 1, 1), date(2025, 3, 14))
    on_end = make_activity(start_date="2025-03-14", end_date="2025-03-14")
    after = make_activity(start_date="2025-03-14", end_date="2025-03-15")
    assert_clean(check_activity(on_end, project=ending))
    assert_fails(check_activity(after, project=ending), "end_date", ErrorCode.OUTSIDE_PROJECT_DATES)


def test_future_is_judged_by_the_callers_today() -> None:
    data = make_activity(start_date="2025-03-25", end_date="2025-03-25")
    assert not validate_activity(data, project=None, today=TODAY).ok
    assert validate_activity(data, project=None, today=date(2025, 3, 24)).ok


def test_without_project_facts_project_rules_are_skipped() -> None:
    data = make_activity(project_id=OTHER_ID, start_date="2023-06-01", topic="S9.T1")
    result = check_activity(data, project=None, sites=None)
    assert_clean(result)
    assert result.warnings == []  # S9 allows T; no project, so no topic warning


def test_site_is_checked_only_when_sites_are_given() -> None:
    data = make_activity(site_id=OTHER_ID)
    assert_clean(check_activity(data, sites=None))
    assert_fails(check_activity(data, sites={}), "site_id", ErrorCode.SITE_NOT_IN_PROJECT)


def test_site_lookup_ignores_the_case_of_ids() -> None:
    sites = {SITE_ID.upper(): SITE}
    assert_clean(check_activity(make_activity(), sites=sites))


# ---------------------------------------------------------------------------------------------
# Activity warnings are not errors


def test_topic_outside_the_projects_solutions_is_a_warning() -> None:
    result = check_activity(make_activity(topic="S7.T2", modality="T"))
    assert result.ok
    assert pairs(result.warnings) == {("topic", ErrorCode.TOPIC_NOT_IN_PROJECT.value)}
    assert "S7" in result.warnings[0].message and "S1, S2" in result.warnings[0].message
    assert result.clean["topic"] == "S7.T2"


def test_topic_of_a_project_solution_gives_no_warning() -> None:
    assert check_activity(make_activity(topic="S2.T1")).warnings == []


def test_modality_not_allowed_by_the_topics_solution_is_a_warning() -> None:
    project = ProjectFacts(PROJECT_ID, "LSO", ("S3",), date(2024, 1, 1), date(2026, 12, 31))
    result = check_activity(make_activity(topic="S3.T1", modality="P"), project=project)
    assert result.ok
    assert pairs(result.warnings) == {("modality", ErrorCode.MODALITY_NOT_ALLOWED.value)}
    assert "T, K" in result.warnings[0].message
    assert (
        check_activity(make_activity(topic="S3.T1", modality="K"), project=project).warnings == []
    )


# ---------------------------------------------------------------------------------------------
# Partial mode


def test_partial_checks_only_the_keys_present() -> None:
    result = check_activity({"title": " New title "}, partial=True)
    assert_clean(result)
    assert result.clean == {"title": "New title"}  # no defaults either


def test_partial_still_rejects_bad_values_and_blank_required_fields() -> None:
    assert_fails(check_activity({"title": ""}, partial=True), "title", ErrorCode.REQUIRED)
    assert_fails(check_activity({"level": "L9"}, partial=True), "level", ErrorCode.UNKNOWN_CODE)


def test_partial_applies_cross_field_rules_when_both_fields_are_present() -> None:
    both = {"start_date": "2025-03-14", "end_date": "2025-03-10"}
    assert_fails(check_activity(both, partial=True), "end_date", ErrorCode.END_BEFORE_START)
    assert_clean(check_activity({"end_date": "2025-03-10"}, partial=True))


def test_partial_applies_single_field_rules_against_the_facts() -> None:
    future = {"end_date": "2025-04-30"}
    assert_fails(check_activity(future, partial=True), "end_date", ErrorCode.IN_FUTURE)
    topic = check_activity({"topic": "S8.T1"}, partial=True)
    assert topic.ok and pairs(topic.warnings) == {("topic", "topic_not_in_project")}


def test_full_mode_requires_what_partial_does_not() -> None:
    assert not check_activity({"title": "x"}).ok
    assert {i.field for i in check_activity({}).errors} == {
        "id",
        "project_id",
        "type",
        "title",
        "start_date",
        "end_date",
        "attendance",
    }


# ---------------------------------------------------------------------------------------------
# Attendance rows

ATTENDANCE_FAILURES = [
    ([None], "attendance[0]", ErrorCode.REQUIRED),
    (["12 women"], "attendance[0]", ErrorCode.NOT_OBJECT),
    ([row(sex="f")], "attendance[0].sex", ErrorCode.UNKNOWN_CODE),
    ([row(age="child")], "attendance[0].age_band", ErrorCode.UNKNOWN_CODE),
    ([row(category="student")], "attendance[0].category", ErrorCode.UNKNOWN_CODE),
    ([row(disability="no")], "attendance[0].disability", ErrorCode.NOT_BOOLEAN),  # type: ignore[arg-type]
    ([row(disability=0)], "attendance[0].disability", ErrorCode.NOT_BOOLEAN),  # type: ignore[arg-type]
    (
        [{k: v for k, v in row().items() if k != "disability"}],
        "attendance[0].disability",
        ErrorCode.REQUIRED,
    ),
    ([{k: v for k, v in row().items() if k != "count"}], "attendance[0].count", ErrorCode.REQUIRED),
    ([row(count=-1)], "attendance[0].count", ErrorCode.COUNT_RANGE),
    ([row(count=100_001)], "attendance[0].count", ErrorCode.COUNT_RANGE),
    ([row(count=True)], "attendance[0].count", ErrorCode.NOT_INTEGER),
    ([row(count=2.5)], "attendance[0].count", ErrorCode.NOT_INTEGER),
    ([row(count="3")], "attendance[0].count", ErrorCode.NOT_INTEGER),
    ([row(count=math.inf)], "attendance[0].count", ErrorCode.NOT_INTEGER),
    ([row(count=5), row("male"), row(count=7)], "attendance[2]", ErrorCode.DUPLICATE_ROW),
    (
        [
            row(sex, age, cat, count=100_000)
            for sex in ("female", "male")
            for age in ("youth", "adult", "senior")
            for cat in ("farmer", "technician")
        ],
        "attendance",
        ErrorCode.ATTENDANCE_TOTAL,
    ),
    ([row(count=n) for n in range(97)], "attendance", ErrorCode.TOO_MANY),
    ("female: 12", "attendance", ErrorCode.NOT_LIST),
]


@pytest.mark.parametrize(("rows", "field", "code"), ATTENDANCE_FAILURES)
def test_attendance_rule_fails(rows: Any, field: str, code: ErrorCode) -> None:
    found = validate_attendance(rows)
    assert (field, code.value) in pairs(found), found
    assert all(i.message.startswith(i.field) for i in found)


def every_key_row(count: int) -> list[dict[str, Any]]:
    return [
        row(sex, age, category, disability, count)
        for sex in ("female", "male", "unspecified")
        for age in ("youth", "adult", "senior", "unspecified")
        for category in ("farmer", "technician", "official", "other")
        for disability in (False, True)
    ]


ATTENDANCE_PASSES = [
    [],
    [row(count=0)],
    [row(count=100_000)],
    [row(count=3.0)],
    [row(disability=False), row(disability=True)],  # a different key
    [row(sex=" female ")],
    every_key_row(10_000),  # 96 rows, 960 000 in all
]


@pytest.mark.parametrize("rows", ATTENDANCE_PASSES)
def test_attendance_rule_passes(rows: list[dict[str, Any]]) -> None:
    assert validate_attendance(rows) == []


def test_attendance_field_name_is_configurable() -> None:
    found = validate_attendance([row(sex="x")], field="rows")
    assert pairs(found) == {("rows[0].sex", "unknown_code")}
    assert validate_attendance(None) == [Issue("attendance", "required", "attendance is required")]


def test_attendance_total_counts_only_sane_counts() -> None:
    assert (
        attendance_total([row(count=3), row(count=4.0), {"count": True}, "x", row(count=-2)]) == 7
    )
    assert attendance_total(None) == 0


# ---------------------------------------------------------------------------------------------
# Project


def make_project(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": PROJECT_ID,
        "code": "LSO-CPP-001",
        "name": "Potato value chain pilot",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "solutions": ["S1", "S2"],
        "partners": ["MARA", "NAFRA"],
        "priority_product": "potato",
        "start_date": "2024-01-01",
        "end_date": "2026-12-31",
    }
    return _with(base, overrides)


PROJECT_FAILURES = [
    ({"code": DROP}, "code", ErrorCode.REQUIRED),
    ({"code": "x" * 51}, "code", ErrorCode.TOO_LONG),
    ({"name": " "}, "name", ErrorCode.REQUIRED),
    ({"name": "x" * 201}, "name", ErrorCode.TOO_LONG),
    ({"id": "LSO-1"}, "id", ErrorCode.BAD_UUID),
    ({"kind": "PILOT"}, "kind", ErrorCode.UNKNOWN_CODE),
    ({"country": "XXX"}, "country", ErrorCode.UNKNOWN_CODE),
    ({"country": "lso"}, "country", ErrorCode.UNKNOWN_CODE),
    ({"country": DROP}, "country", ErrorCode.REQUIRED),
    ({"thematic_area": "TA5"}, "thematic_area", ErrorCode.UNKNOWN_CODE),
    ({"solutions": DROP}, "solutions", ErrorCode.REQUIRED),
    ({"solutions": []}, "solutions", ErrorCode.REQUIRED),
    ({"solutions": "S1"}, "solutions", ErrorCode.NOT_LIST),
    ({"solutions": ["S1", "S10"]}, "solutions[1]", ErrorCode.UNKNOWN_CODE),
    ({"partners": "MARA"}, "partners", ErrorCode.NOT_LIST),
    ({"partners": ["MARA", "x" * 121]}, "partners[1]", ErrorCode.TOO_LONG),
    ({"partners": [f"P{n}" for n in range(51)]}, "partners", ErrorCode.TOO_MANY),
    ({"priority_product": "x" * 121}, "priority_product", ErrorCode.TOO_LONG),
    ({"start_date": "2024-13-01"}, "start_date", ErrorCode.BAD_DATE),
    ({"end_date": "2023-12-31"}, "end_date", ErrorCode.END_BEFORE_START),
    ({"end_date": "2036-01-01"}, "end_date", ErrorCode.DATE_IMPLAUSIBLE),
]


@pytest.mark.parametrize(("overrides", "field", "code"), PROJECT_FAILURES)
def test_project_rule_fails(overrides: dict[str, Any], field: str, code: ErrorCode) -> None:
    assert_fails(validate_project(make_project(**overrides), today=TODAY), field, code)


PROJECT_PASSES = [
    {},
    {"id": DROP, "partners": DROP, "priority_product": DROP},
    {"kind": "DAA", "country": "TTO", "priority_product": "cocoa"},
    {"end_date": "2024-01-01"},
    {"end_date": "2035-12-31"},  # ten years ahead at most
    {"solutions": ["S1", "S1", "S2"]},
    {"partners": ["MARA", "", "  "]},
]


@pytest.mark.parametrize("overrides", PROJECT_PASSES)
def test_project_rule_passes(overrides: dict[str, Any]) -> None:
    result = validate_project(make_project(**overrides), today=TODAY)
    assert_clean(result)
    assert result.warnings == []


def test_project_clean_merges_repeats_and_drops_blanks() -> None:
    clean = validate_project(
        make_project(solutions=["S2", "S1", "S2"], partners=[" MARA ", ""])
    ).clean
    assert clean["solutions"] == ["S2", "S1"] and clean["partners"] == ["MARA"]


def test_project_horizon_needs_today() -> None:
    assert_clean(validate_project(make_project(end_date="2060-01-01")))


def test_solution_of_another_thematic_area_is_a_warning() -> None:
    result = validate_project(make_project(solutions=["S1", "S5"]))
    assert result.ok
    assert pairs(result.warnings) == {("solutions[1]", "solution_outside_area")}
    assert "TA2" in result.warnings[0].message and "TA1" in result.warnings[0].message


def test_project_partial() -> None:
    assert_clean(validate_project({"name": "Renamed"}, partial=True))
    assert_fails(
        validate_project({"start_date": "2025-01-01", "end_date": "2024-01-01"}, partial=True),
        "end_date",
        ErrorCode.END_BEFORE_START,
    )


# ---------------------------------------------------------------------------------------------
# Site


def make_site(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": SITE_ID,
        "project_id": PROJECT_ID,
        "name": "Ha Mohale demonstration plot",
        "admin_area": "Maseru",
        "lat": -29.31,
        "lon": 27.48,
    }
    return _with(base, overrides)


SITE_FAILURES = [
    ({"project_id": DROP}, "project_id", ErrorCode.REQUIRED),
    ({"project_id": OTHER_ID}, "project_id", ErrorCode.PROJECT_MISMATCH),
    ({"name": ""}, "name", ErrorCode.REQUIRED),
    ({"admin_area": "x" * 201}, "admin_area", ErrorCode.TOO_LONG),
    ({"lat": 91}, "lat", ErrorCode.LAT_RANGE),
    ({"lon": -180.01}, "lon", ErrorCode.LON_RANGE),
    ({"lat": "-29.31"}, "lat", ErrorCode.NOT_NUMBER),
    ({"lon": DROP}, "lon", ErrorCode.PAIR_REQUIRED),
    ({"lat": None}, "lat", ErrorCode.PAIR_REQUIRED),
    ({"lat": 29.31}, "lat", ErrorCode.OUTSIDE_COUNTRY),  # sign typed wrong: north of Egypt's
    ({"lat": -1.29, "lon": 36.82}, "lat", ErrorCode.OUTSIDE_COUNTRY),  # Nairobi
]


@pytest.mark.parametrize(("overrides", "field", "code"), SITE_FAILURES)
def test_site_rule_fails(overrides: dict[str, Any], field: str, code: ErrorCode) -> None:
    assert_fails(validate_site(make_site(**overrides), project=PROJECT), field, code)


SITE_PASSES = [
    {},
    {"lat": DROP, "lon": DROP},
    {"lat": None, "lon": None, "id": DROP, "admin_area": None},
    {"lat": -30.9, "lon": 27.2},  # just south of the box, within the 0.5 degree margin
]


@pytest.mark.parametrize("overrides", SITE_PASSES)
def test_site_rule_passes(overrides: dict[str, Any]) -> None:
    assert_clean(validate_site(make_site(**overrides), project=PROJECT))


def test_site_of_an_unknown_country_or_without_project_is_not_judged() -> None:
    nowhere = ProjectFacts(PROJECT_ID, "ZZZ", ("S1",), date(2024, 1, 1), date(2026, 1, 1))
    nairobi = make_site(lat=-1.29, lon=36.82)
    assert_clean(validate_site(nairobi, project=nowhere))
    assert_clean(validate_site(nairobi, project=None))


def test_site_partial_needs_no_pair() -> None:
    assert_clean(validate_site({"lat": -29.5}, project=PROJECT, partial=True))
    assert_fails(
        validate_site({"lat": -29.5, "lon": None}, project=PROJECT, partial=True),
        "lon",
        ErrorCode.PAIR_REQUIRED,
    )


# ---------------------------------------------------------------------------------------------
# Participant


def make_participant(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": uid(7),
        "project_id": PROJECT_ID,
        "code": "LSO-0007",
        "sex": "female",
        "birth_year": 1990,
        "category": "farmer",
        "disability": False,
    }
    return _with(base, overrides)


PARTICIPANT_FAILURES = [
    ({"code": DROP}, "code", ErrorCode.REQUIRED),
    ({"code": "x" * 65}, "code", ErrorCode.TOO_LONG),
    ({"project_id": DROP}, "project_id", ErrorCode.REQUIRED),
    ({"id": "7"}, "id", ErrorCode.BAD_UUID),
    ({"sex": "F"}, "sex", ErrorCode.UNKNOWN_CODE),
    ({"category": "student"}, "category", ErrorCode.UNKNOWN_CODE),
    ({"birth_year": TODAY.year - 111}, "birth_year", ErrorCode.BIRTH_YEAR_RANGE),
    ({"birth_year": TODAY.year + 1}, "birth_year", ErrorCode.BIRTH_YEAR_RANGE),
    ({"birth_year": 1990.5}, "birth_year", ErrorCode.NOT_INTEGER),
    ({"birth_year": "1990"}, "birth_year", ErrorCode.NOT_INTEGER),
    ({"disability": "yes"}, "disability", ErrorCode.NOT_BOOLEAN),
]


@pytest.mark.parametrize(("overrides", "field", "code"), PARTICIPANT_FAILURES)
def test_participant_rule_fails(overrides: dict[str, Any], field: str, code: ErrorCode) -> None:
    assert_fails(validate_participant(make_participant(**overrides), today=TODAY), field, code)


PARTICIPANT_PASSES = [
    {},
    {"birth_year": TODAY.year - 110},
    {"birth_year": TODAY.year},
    {"birth_year": 1990.0},
    {"sex": "unspecified", "category": "official", "disability": True},
    {"id": DROP, "sex": DROP, "birth_year": None, "category": DROP, "disability": DROP},
]


@pytest.mark.parametrize("overrides", PARTICIPANT_PASSES)
def test_participant_rule_passes(overrides: dict[str, Any]) -> None:
    assert_clean(validate_participant(make_participant(**overrides), today=TODAY))


def test_participant_partial() -> None:
    assert_clean(validate_participant({"birth_year": 1985}, today=TODAY, partial=True))


# ---------------------------------------------------------------------------------------------
# Target


def make_target(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": uid(9),
        "project_id": PROJECT_ID,
        "indicator": "PARTICIPANTS",
        "period": "2025",
        "value": 500,
        "sex": "female",
    }
    return _with(base, overrides)


TARGET_FAILURES = [
    ({"project_id": DROP}, "project_id", ErrorCode.REQUIRED),
    ({"indicator": DROP}, "indicator", ErrorCode.REQUIRED),
    ({"indicator": "HECTARES"}, "indicator", ErrorCode.UNKNOWN_CODE),
    ({"indicator": "TARGET_ACHIEVEMENT"}, "indicator", ErrorCode.NOT_TARGETABLE),
    ({"period": DROP}, "period", ErrorCode.REQUIRED),
    ({"period": "2025Q5"}, "period", ErrorCode.BAD_PERIOD),
    ({"period": "2025-13"}, "period", ErrorCode.BAD_PERIOD),
    ({"period": "2025-7"}, "period", ErrorCode.BAD_PERIOD),
    ({"period": "25"}, "period", ErrorCode.BAD_PERIOD),
    ({"period": 2025}, "period", ErrorCode.NOT_TEXT),
    ({"period": "1999"}, "period", ErrorCode.DATE_IMPLAUSIBLE),
    ({"value": DROP}, "value", ErrorCode.REQUIRED),
    ({"value": -1}, "value", ErrorCode.VALUE_RANGE),
    ({"value": "500"}, "value", ErrorCode.NOT_NUMBER),
    ({"value": True}, "value", ErrorCode.NOT_NUMBER),
    ({"value": math.inf}, "value", ErrorCode.NOT_NUMBER),
    ({"sex": "women"}, "sex", ErrorCode.UNKNOWN_CODE),
    ({"indicator": "ACTIVITIES", "sex": "female"}, "sex", ErrorCode.SEX_NOT_APPLICABLE),
    ({"indicator": "WOMEN_SHARE", "sex": None, "value": 100.5}, "value", ErrorCode.VALUE_RANGE),
]


@pytest.mark.parametrize(("overrides", "field", "code"), TARGET_FAILURES)
def test_target_rule_fails(overrides: dict[str, Any], field: str, code: ErrorCode) -> None:
    assert_fails(validate_target(make_target(**overrides)), field, code)


TARGET_PASSES = [
    {},
    {"period": "2025Q3"},
    {"period": "2025-07"},
    {"value": 0},
    {"value": 12.5},
    {"sex": DROP},
    {"indicator": "ACTIVITIES", "sex": None},
    {"indicator": "UNIQUE_PARTICIPANTS", "sex": "male"},
    {"indicator": "WOMEN_SHARE", "sex": None, "value": 100},
    {"indicator": "EXPERT_DAYS", "sex": None, "value": 120},
]


@pytest.mark.parametrize("overrides", TARGET_PASSES)
def test_target_rule_passes(overrides: dict[str, Any]) -> None:
    assert_clean(validate_target(make_target(**overrides)))


def test_every_indicator_but_target_achievement_takes_a_target() -> None:
    for code in INDICATOR_CODES:
        result = validate_target(make_target(indicator=code, sex=None, value=50))
        assert result.ok is (code != "TARGET_ACHIEVEMENT"), code


def test_target_indicators_can_be_passed_in() -> None:
    data = make_target(indicator="HECTARES", sex=None)
    assert_clean(validate_target(data, indicators=(*INDICATOR_CODES, "HECTARES")))


def test_target_partial() -> None:
    assert_clean(validate_target({"value": 10}, partial=True))


# ---------------------------------------------------------------------------------------------
# Attachment metadata


def make_attachment(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": uid(11),
        "activity_id": uid(12),
        "sha256": "ab" * 32,
        "size": 250_000,
        "content_type": "image/jpeg",
        "caption": "Storage shed after the demonstration",
    }
    return _with(base, overrides)


ATTACHMENT_FAILURES = [
    ({"activity_id": DROP}, "activity_id", ErrorCode.REQUIRED),
    ({"sha256": "ab" * 31}, "sha256", ErrorCode.BAD_SHA256),
    ({"sha256": "zz" * 32}, "sha256", ErrorCode.BAD_SHA256),
    ({"size": 0}, "size", ErrorCode.COUNT_RANGE),
    ({"size": 26 * 1024 * 1024}, "size", ErrorCode.COUNT_RANGE),
    ({"content_type": "application/x-msdownload"}, "content_type", ErrorCode.UNKNOWN_CODE),
    ({"caption": "x" * 501}, "caption", ErrorCode.TOO_LONG),
]


@pytest.mark.parametrize(("overrides", "field", "code"), ATTACHMENT_FAILURES)
def test_attachment_rule_fails(overrides: dict[str, Any], field: str, code: ErrorCode) -> None:
    assert_fails(validate_attachment(make_attachment(**overrides)), field, code)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"caption": "x" * 500}, {"caption": None}, {"sha256": "AB" * 32}, {"size": 1}],
)
def test_attachment_rule_passes(overrides: dict[str, Any]) -> None:
    result = validate_attachment(make_attachment(**overrides))
    assert_clean(result)
    assert result.clean["sha256"] == "ab" * 32


# ---------------------------------------------------------------------------------------------
# Data-quality flags


def flags(activity: dict[str, Any] | None = None, **facts: Any) -> list[Issue]:
    given: dict[str, Any] = {
        "site": SITE,
        "same_day_duplicates": 0,
        "usual_attendance": 20.0,
        "reused_photo": False,
        "received_on": date(2025, 3, 16),
    }
    given.update(facts)
    return quality_flags(activity or make_activity(), **given)


def test_a_plain_activity_raises_no_flag() -> None:
    assert flags() == []


@pytest.mark.parametrize(
    ("activity", "facts", "field", "code"),
    [
        ({}, {"same_day_duplicates": 1}, "start_date", ErrorCode.LIKELY_DUPLICATE),
        ({"location": {"lat": -29.40, "lon": 27.48}}, {}, "location", ErrorCode.GPS_FAR_FROM_SITE),
        ({"attendance": [row(count=61)]}, {}, "attendance", ErrorCode.ATTENDANCE_UNUSUAL),
        ({}, {"reused_photo": True}, "attachments", ErrorCode.PHOTO_REUSED),
        ({}, {"received_on": date(2025, 4, 15)}, "end_date", ErrorCode.REPORTING_LAG),
        (
            {"attendance": [], "participant_ids": []},
            {},
            "attendance",
            ErrorCode.NO_PARTICIPANTS,
        ),
        (
            {"attendance": [row(count=0)], "participant_ids": None, "type": "farmer_training"},
            {},
            "attendance",
            ErrorCode.NO_PARTICIPANTS,
        ),
        (
            {"attendance": [], "participant_ids": [], "status": "approved", "type": "webinar"},
            {},
            "attendance",
            ErrorCode.NO_PARTICIPANTS,
        ),
    ],
)
def test_flag_raised(
    activity: dict[str, Any], facts: dict[str, Any], field: str, code: ErrorCode
) -> None:
    found = flags(make_activity(**activity), **facts)
    assert pairs(found) == {(field, code.value)}
    assert code in WARNING_CODES
    assert found[0].message.startswith(field)


@pytest.mark.parametrize(
    ("activity", "facts"),
    [
        ({}, {"same_day_duplicates": 0}),
        ({"location": {"lat": -29.34, "lon": 27.48}}, {}),  # about 3.3 km away
        ({"location": None}, {}),
        ({}, {"site": None}),
        ({}, {"site": SiteFacts(SITE_ID, PROJECT_ID, None, None)}),
        ({"attendance": [row(count=60)]}, {}),  # exactly three times the usual
        ({"attendance": [row(count=500)]}, {"usual_attendance": None}),
        ({"attendance": [row(count=500)]}, {"usual_attendance": 0}),
        ({}, {"reused_photo": False}),
        ({}, {"received_on": date(2025, 4, 14)}),  # exactly 30 days after the end
        # nobody counted at a kind of activity that may count nobody
        ({"attendance": [], "participant_ids": [], "type": "expert_deployment"}, {}),
        ({"attendance": [], "participant_ids": [], "type": "research"}, {}),
        # counted one way or the other
        ({"attendance": [row(count=1)], "participant_ids": []}, {}),
        ({"attendance": [], "participant_ids": [uid(1)]}, {}),
    ],
)
def test_flag_not_raised(activity: dict[str, Any], facts: dict[str, Any]) -> None:
    assert flags(make_activity(**activity), **facts) == []


def test_flag_messages_carry_the_numbers() -> None:
    far = flags(make_activity(location={"lat": -29.40, "lon": 27.48}))[0].message
    assert "10.0 km" in far and "5 km" in far
    lag = flags(received_on=date(2025, 4, 15))[0].message
    assert "31 days" in lag and "30 days" in lag
    duplicate = flags(same_day_duplicates=2)[0].message
    assert "2 other activities" in duplicate and "2025-03-14" in duplicate
    nobody = flags(make_activity(attendance=[], participant_ids=[], type="field_day"))[0]
    assert nobody.params == {"value": "field_day"} and "field_day" in nobody.message


def test_a_message_shows_each_value_as_its_params_keep_it() -> None:
    """``issue`` writes a message from its params' texts: that is the same message only while
    no placeholder formats its value (a spec such as ``{total:,}``, a conversion ``!r``)."""
    for code, template in MESSAGES.items():
        for _, name, spec, conversion in string.Formatter().parse(template):
            assert name is None or (spec == "" and conversion is None), (code, name)
    found = issue("start_date", ErrorCode.LIKELY_DUPLICATE, count=2, activities="x", value=TODAY)
    assert found.params == {"count": "2", "activities": "x", "value": "2025-03-20"}
    assert "2 other x" in found.message and "on 2025-03-20;" in found.message


def test_flags_tolerate_a_malformed_activity() -> None:
    odd = {"start_date": "soon", "end_date": None, "location": "here", "attendance": "many"}
    assert flags(odd) == []


@pytest.mark.parametrize(
    "text",
    [
        "Line one\nline two\twith a tab",
        "Ça va, Mokoena? 你好",
        "يوم ميداني Field day",  # right-to-left script needs no override
        "किसान",  # joiners and combining marks are text
    ],
)
def test_text_with_line_breaks_and_any_script_is_accepted(text: str) -> None:
    result = validate_activity(make_activity(notes=text), project=PROJECT, today=TODAY)
    assert result.ok, result.errors


@pytest.mark.parametrize(
    "text",
    [
        "nul\x00byte",
        "bell\x07",
        "escape\x1b[31m",
        "Field day \u202egpj.exe",  # right-to-left override
        "Training \u2066isolated\u2069",  # isolates
    ],
)
def test_text_with_control_characters_is_refused(text: str) -> None:
    result = validate_activity(make_activity(title=text), project=PROJECT, today=TODAY)
    assert [e.field for e in result.errors] == ["title"]
    assert result.errors[0].code == ErrorCode.CONTROL_CHARACTER


@pytest.mark.parametrize(
    "text",
    [
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301",  # canonical: taken as it is
        "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
        " 3f2504e0-4f89-41d3-9a0c-0305e82c3301\n",
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301\n",
        "3f2504e0-4f89-41d3-9A0c-0305e82c3301",
    ],
)
def test_an_id_is_stored_in_canonical_form_however_it_was_written(text: str) -> None:
    """The canonical form is taken without parsing; every other spelling of the same id
    comes out the same."""
    clean = check_activity({"id": text}, partial=True).clean
    assert clean["id"] == "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
