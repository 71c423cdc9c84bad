"""The activity form without a window: choices, live validation from shared/, save."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from field_app import i18n
from field_app.controllers.attendance import Cell
from field_app.controllers.form import NEW_SITE, ActivityForm, FormInvalid, Photo
from shared.validation import validate_activity

TODAY = date(2025, 3, 14)


def project(**overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-01",
        "country": "LSO",
        "solutions": ["S1", "S2"],
        "start_date": "2024-01-01",
        "end_date": "2026-12-31",
        **overrides,
    }


def site(
    of: dict[str, Any], name: str = "Roma", lat: float = -29.45, lon: float = 27.72
) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "project_id": of["id"], "name": name, "lat": lat, "lon": lon}


def ready(form: ActivityForm) -> ActivityForm:
    form.set("type", "farmer_training")
    form.set("title", "Hermetic storage training")
    form.set_attendance(Cell("farmer", False, "female", "youth"), "10")
    return form


@pytest.fixture
def p() -> dict[str, Any]:
    return project()


def test_a_new_form_starts_today_and_names_the_required_fields(p: dict[str, Any]) -> None:
    form = ActivityForm(project=p, sites=[], today=TODAY)
    assert form.text("start_date") == "2025-03-14"
    assert form.check().errors == {"type": "Required", "title": "Required"}
    assert form.visible_errors() == {}  # nothing touched yet


def test_topics_are_those_of_the_project_solutions(p: dict[str, Any]) -> None:
    form = ActivityForm(project=p, sites=[], today=TODAY)
    codes = [code for code, _label in form.choices("topic")]
    assert codes[0] == "" and {c.split(".")[0] for c in codes[1:]} == {"S1", "S2"}


def test_modalities_follow_the_topic_and_a_misfit_is_cleared(p: dict[str, Any]) -> None:
    form = ActivityForm(project=project(solutions=["S3", "S1"]), sites=[], today=TODAY)
    form.set("modality", "P")
    form.set("topic", "S3.T1")  # S3 allows T and K only
    assert [c for c, _ in form.choices("modality")] == ["", "T", "K"]
    assert form.text("modality") == ""


def test_errors_appear_next_to_touched_fields_with_the_reason(p: dict[str, Any]) -> None:
    form = ActivityForm(project=p, sites=[], today=TODAY)
    form.set("end_date", "2025-03-01")
    assert form.visible_errors() == {"end_date": "The end is before the start"}
    form.set("start_date", "2023-12-31")
    form.set("end_date", "2024-01-02")
    assert (
        form.visible_errors()["start_date"]
        == "Outside the project's dates (1 January 2024 to 31 December 2026)"
    )
    form.set("start_date", "14/03/2025")
    assert "YYYY-MM-DD" in form.visible_errors()["start_date"]
    form.set("start_date", "2025-03-16")
    form.set("end_date", "2025-03-16")
    assert (
        form.visible_errors()["start_date"]
        == "This date is in the future; use 15 March 2025 or earlier"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lat", "-95", "Latitude goes from -90 to 90"),
        ("lon", "200", "Longitude goes from -180 to 180"),
        ("experts_count", "abc", "Type a whole number"),
        ("experts_count", "5000", "Use a whole number from 0 to 1000"),
        ("title", "x" * 201, "Too long: at most 200 characters"),
        ("accuracy", "-3", "Accuracy is 0 metres or more"),
    ],
)
def test_bad_values_are_caught_with_the_reason(
    p: dict[str, Any], field: str, value: str, message: str
) -> None:
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    if field in ("lat", "lon", "accuracy"):
        form.set("lat", "-29.3")
        form.set("lon", "27.5")
    form.set(field, value)
    assert form.visible_errors().get(field) == message


def test_half_a_location_names_the_missing_part(p: dict[str, Any]) -> None:
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    form.set("lat", "-29.3")
    assert form.visible_errors() == {"lon": "Required"}


def test_attendance_cell_that_is_not_a_number_blocks_saving(p: dict[str, Any]) -> None:
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    form.set_attendance(Cell("farmer", False, "male", "adult"), "ten")
    assert form.visible_errors()["attendance"] == "Some cells are not whole numbers"
    with pytest.raises(FormInvalid):
        form.save(captured_at=datetime.now(UTC))
    form.set_attendance(Cell("farmer", False, "male", "adult"), "10")
    assert "attendance" not in form.visible_errors()


def test_a_count_too_large_for_a_cell_says_so_and_is_not_counted(p: dict[str, Any]) -> None:
    # 999999 typed in a cell: the form said "Some cells are not whole numbers" (it is one)
    # and the totals kept 99,999, the count as it stood one keystroke earlier.
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    cell = Cell("farmer", False, "female", "adult")
    for typed in ("9", "99", "999", "9999", "99999", "999999"):
        form.set_attendance(cell, typed)
    assert form.visible_errors()["attendance"] == "At most 100,000 in one cell"
    assert form.attendance.total() == 10  # the other cell only
    assert form.totals_text() == "10 participants · 10 women (100\u00a0%)"
    with pytest.raises(FormInvalid):
        form.save(captured_at=datetime.now(UTC))
    form.set_attendance(cell, "99")
    assert "attendance" not in form.visible_errors()
    assert form.attendance.total() == 109


def test_every_problem_the_validation_finds_in_the_attendance_is_said_once(
    p: dict[str, Any],
) -> None:
    # One cell below 0, one not a number, one too large: only "Some cells are not whole
    # numbers" was said; and a total over a million hid every bad cell.
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    form.set_attendance(Cell("farmer", False, "male", "youth"), "-3")
    form.set_attendance(Cell("farmer", False, "male", "adult"), "-")
    form.set_attendance(Cell("official", True, "male", "adult"), "200000")
    form.set_attendance(Cell("other", False, "female", "adult"), "\u22125")  # a minus sign
    assert form.visible_errors()["attendance"].splitlines() == [
        "Use a whole number from 0 to 100,000",
        "Some cells are not whole numbers",
        "At most 100,000 in one cell",
    ]
    assert form.attendance.total() == 10  # the bad cells count for nothing
    with pytest.raises(FormInvalid):
        form.save(captured_at=datetime.now(UTC))
    for age_band in ("youth", "adult", "senior", "unspecified"):
        for sex in ("female", "male", "unspecified"):
            form.set_attendance(Cell("technician", False, sex, age_band), "100000")
    assert form.visible_errors()["attendance"].splitlines() == [
        "Use a whole number from 0 to 100,000",
        "Some cells are not whole numbers",
        "At most 100,000 in one cell",
        "At most 1,000,000 participants in one activity",
    ]
    for cell, count in [
        (Cell("farmer", False, "male", "youth"), "3"),
        (Cell("farmer", False, "male", "adult"), ""),
        (Cell("official", True, "male", "adult"), "2"),
        (Cell("other", False, "female", "adult"), "5"),
    ]:
        form.set_attendance(cell, count)
    assert form.visible_errors()["attendance"] == "At most 1,000,000 participants in one activity"


def test_dates_in_the_messages_are_written_in_words_in_the_language(p: dict[str, Any]) -> None:
    # "Hors des dates du projet (2024-01-01 au 2026-12-31)" under a box showing "1 mars 2019".
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    try:
        i18n.set_language("fr")
        form.set("start_date", "2019-03-01")
        assert form.visible_errors()["start_date"] == (
            "Hors des dates du projet (1er janvier 2024 au 31 décembre 2026)"
        )
        form.set("start_date", "2025-03-14")
        form.set("end_date", "2025-04-01")
        assert form.visible_errors()["end_date"] == (
            "Cette date est dans le futur\u00a0: utilisez le 15 mars 2025 ou avant"
        )
    finally:
        i18n.set_language("en")


def test_save_refuses_with_every_error_shown(p: dict[str, Any]) -> None:
    form = ActivityForm(project=p, sites=[], today=TODAY)
    with pytest.raises(FormInvalid, match="Correct the 2 highlighted fields") as caught:
        form.save(captured_at=datetime.now(UTC))
    assert set(caught.value.errors) == {"type", "title"}
    assert set(form.visible_errors()) == {"type", "title"}


def test_save_gives_what_the_server_accepts(p: dict[str, Any]) -> None:
    s = site(p)
    form = ready(ActivityForm(project=p, sites=[s], today=TODAY))
    form.set("site", s["id"])
    form.set("facilitators", "Mr Chen, Ms Mokoena\n  ,")
    form.set("experts_count", "2")
    form.set_location(-29.451234, 27.7234, 6.0)
    form.add_photo(
        Photo(
            id=str(uuid.uuid4()), path="/x.jpg", sha256="a" * 64, size=10, content_type="image/jpeg"
        )
    )
    saved = form.save(captured_at=datetime(2025, 3, 14, 9, tzinfo=UTC))
    data = saved.activity
    assert validate_activity(data, project=None, today=TODAY).ok
    assert data["facilitators"] == ["Mr Chen", "Ms Mokoena"]
    assert data["location"] == {"lat": -29.451234, "lon": 27.7234, "accuracy_m": 6}
    assert data["site_id"] == s["id"] and data["experts_count"] == 2
    assert data["captured_at"] == "2025-03-14T09:00:00+00:00"
    assert saved.new_site is None and saved.is_new and len(saved.photos) == 1


def test_a_new_site_needs_a_name_and_must_lie_in_the_country(p: dict[str, Any]) -> None:
    form = ready(ActivityForm(project=p, sites=[], today=TODAY))
    form.set("site", NEW_SITE)
    assert form.visible_errors() == {"new_site_name": "Required"}
    form.set("new_site_name", "Ha Mokhalinyane")
    form.set("lat", "29.3")  # the sign is wrong: that is Asia, not Lesotho
    form.set("lon", "27.5")
    assert "outside Lesotho" in form.visible_errors()["lat"]
    form.set("lat", "-29.3")
    saved = form.save(captured_at=datetime.now(UTC))
    assert saved.new_site is not None
    assert saved.new_site["id"] == saved.activity["site_id"] == form.new_site_id
    assert saved.new_site["name"] == "Ha Mokhalinyane"


def test_topic_outside_the_project_is_a_warning_not_an_error() -> None:
    p = project(solutions=["S1"])
    record = {
        "id": str(uuid.uuid4()),
        "project_id": p["id"],
        "type": "workshop",
        "title": "t",
        "start_date": "2025-03-10",
        "end_date": "2025-03-10",
        "topic": "S4.T1",
        "attendance": [],
    }
    form = ActivityForm(project=p, sites=[], today=TODAY, record=record)
    assert form.check().ok
    assert "not in the project's solutions" in form.warnings()["topic"]


def test_editing_a_record_keeps_its_id_and_values(p: dict[str, Any]) -> None:
    record = {
        "id": str(uuid.uuid4()),
        "project_id": p["id"],
        "type": "workshop",
        "title": "Old title",
        "start_date": "2025-03-10",
        "end_date": "2025-03-11",
        "facilitators": ["A", "B"],
        "experts_count": 3,
        "location": {"lat": -29.1, "lon": 27.2, "accuracy_m": 12},
        "attendance": [
            {
                "sex": "male",
                "age_band": "adult",
                "category": "official",
                "disability": True,
                "count": 4,
            }
        ],
        "participant_ids": [str(uuid.uuid4())],
        "status": "returned",
        "captured_at": "2025-03-11T08:00:00+02:00",
    }
    form = ActivityForm(project=p, sites=[], today=TODAY, record=record)
    assert not form.is_new and form.id == record["id"]
    assert form.text("facilitators") == "A, B" and form.text("accuracy") == "12"
    assert form.attendance.total(disability=True) == 4
    form.set("title", "New title")
    saved = form.save(captured_at=datetime.now(UTC))
    assert saved.activity["id"] == record["id"] and saved.activity["title"] == "New title"
    assert saved.activity["participant_ids"] == record["participant_ids"]
    assert saved.activity["captured_at"] == "2025-03-11T08:00:00+02:00"  # first capture kept


def test_totals_text_and_labels_follow_the_language(p: dict[str, Any]) -> None:
    form = ActivityForm(project=p, sites=[], today=TODAY)
    assert form.totals_text() == "No participants counted yet"
    form.set_attendance(Cell("farmer", False, "female", "youth"), "3")
    form.set_attendance(Cell("farmer", False, "male", "youth"), "1")
    assert form.totals_text() == "4 participants · 3 women (75\u00a0%)"
    try:
        i18n.set_language("fr")
        assert form.totals_text() == "4 participants · 3 femmes (75\u00a0%)"
        assert dict(form.choices("type"))["farmer_training"] == "Formation d’agriculteurs"
        form.set("end_date", "2025-03-01")
        assert form.visible_errors()["end_date"] == "La fin est avant le début"
    finally:
        i18n.set_language("en")
