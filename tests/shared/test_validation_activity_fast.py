"""The whole-activity fast path (fields already exactly clean taken as they are, the cross-field
rules checked in one pass) answers as the full check does: the same errors, warnings and clean
copy, for clean records and for records with anything wrong or merely unusual."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shared.validation as validation
from shared.validation import ProjectFacts, SiteFacts, validate_activity

TODAY = date(2025, 6, 1)
PROJECT = ProjectFacts(
    "6f1c2b1e-1111-4aaa-8bbb-000000000001", "LSO", ("S1", "S2"), date(2020, 1, 1), date(2026, 1, 1)
)
SITE = "6f1c2b1e-2222-4aaa-8bbb-000000000002"
SITES = {SITE: SiteFacts(SITE, PROJECT.id, -29.3, 27.5)}
OTHER_SITES = {SITE: SiteFacts(SITE, "6f1c2b1e-3333-4aaa-8bbb-000000000003", None, None)}
UPPER_SITES = {SITE.upper(): SiteFacts(SITE.upper(), PROJECT.id.upper(), -29.3, 27.5)}


def _record(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "6f1c2b1e-4444-4aaa-8bbb-000000000004",
        "project_id": PROJECT.id,
        "site_id": None,
        "type": "demonstration",
        "title": "Seed potato storage demonstration",
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "delivery": "in_person",
        "value_chain_stage": "storage",
        "facilitators": ["Mr Chen", "Ms Mokoena"],
        "experts_count": 2,
        "location": {"lat": -29.3, "lon": 27.4, "accuracy_m": 8},
        "notes": "",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 12,
            },
        ],
        "participant_ids": None,
        "captured_at": "2025-03-14T10:00:00+02:00",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not _GONE}


_GONE = object()
UPPER = "6F1C2B1E-4444-4AAA-8BBB-000000000004"

# Each: one field changed from the clean record (or removed), something the full check keeps,
# converts, warns about or refuses.
CHANGES: list[dict[str, Any]] = [
    {},
    {"id": UPPER},
    {"id": " " + _record()["id"]},
    {"id": "{" + _record()["id"] + "}"},
    {"id": "not-a-uuid"},
    {"id": _GONE},
    {"project_id": "6f1c2b1e-3333-4aaa-8bbb-000000000003"},  # another project
    {"project_id": PROJECT.id.upper()},
    {"site_id": SITE},
    {"site_id": ""},
    {"site_id": "6f1c2b1e-5555-4aaa-8bbb-000000000005"},  # not a site of the project
    {"site_id": SITE.upper()},
    {"site_id": SITE, "project_id": None},
    {"site_id": SITE, "project_id": "6f1c2b1e-3333-4aaa-8bbb-000000000003"},
    {"type": " demonstration"},
    {"type": "Demonstration"},
    {"type": None},
    {"type": 3},
    {"title": "  padded  "},
    {"title": "x" * 201},
    {"title": "x" * 200},
    {"title": "bell\x07"},
    {"title": "line\nbreak"},
    {"title": "   "},
    {"title": ""},
    {"title": "\x00"},
    {"title": _GONE},
    {"start_date": "20250314"},
    {"start_date": "2025-02-30"},
    {"start_date": "1999-12-31", "end_date": "1999-12-31"},
    {"start_date": "2019-12-31", "end_date": "2019-12-31"},  # before the project
    {"start_date": "2025-06-02", "end_date": "2025-06-02"},  # tomorrow: allowed
    {"start_date": "2025-06-03", "end_date": "2025-06-03"},  # in the future
    {"end_date": "2025-03-13"},  # before the start
    {"end_date": "2026-01-02"},  # after the project (and in the future)
    {"start_date": date(2025, 3, 14)},
    {"start_date": "٢٠٢٥-03-14"},
    {"topic": "S3.T1"},  # not a solution of the project: a warning
    {"topic": "S9.T9"},
    {"topic": None, "modality": "T"},
    {"modality": "Z"},
    {"modality": "F"},
    {"level": "L9"},
    {"delivery": _GONE},
    {"delivery": None},
    {"value_chain_stage": ""},
    {"facilitators": []},
    {"facilitators": ["", "Ms Mokoena"]},
    {"facilitators": [" Mr Chen"]},
    {"facilitators": ("Mr Chen",)},
    {"facilitators": ["x"] * 51},
    {"facilitators": [3]},
    {"facilitators": "Mr Chen"},
    {"experts_count": 2.0},
    {"experts_count": True},
    {"experts_count": -1},
    {"experts_count": 1001},
    {"experts_count": "2"},
    {"location": None},
    {"location": {"lat": -29.3, "lon": 27.4}},
    {"location": {"lat": -29.3, "lon": 27.4, "accuracy_m": None}},
    {"location": {"lat": -29.3, "lon": 27.4, "accuracy_m": math.inf}},
    {"location": {"lat": math.nan, "lon": 27.4}},
    {"location": {"lat": 91, "lon": 27.4}},
    {"location": {"lat": True, "lon": 27.4}},
    {"location": {"lat": -29.3}},
    {"location": {"lat": -29.3, "lon": 27.4, "extra": 1}},
    {"location": [1, 2]},
    {"notes": "seen"},
    {"notes": " seen "},
    {"notes": None},
    {"notes": ""},
    {"notes": " \n "},
    {"notes": "bell\x07"},
    {"notes": "x" * 5001},
    {"attendance": []},
    {"attendance": None},
    {"attendance": [_record()["attendance"][0]] * 2},  # the same key twice
    {"attendance": [{**_record()["attendance"][0], "disability": 0}]},
    {"attendance": [{**_record()["attendance"][0], "count": 3.0}]},
    {"attendance": [{**_record()["attendance"][0], "sex": ["female"]}]},
    {
        "attendance": [
            {"sex": s, "age_band": "adult", "category": c, "disability": d, "count": 100_000}
            for s in ("female", "male", "unspecified")
            for c in ("farmer", "technician", "official", "other")
            for d in (False, True)
        ]
    },  # over the total
    {"participant_ids": [_record()["id"], _record()["id"]]},
    {"participant_ids": [_record()["id"], SITE]},
    {"participant_ids": [UPPER, SITE]},
    {"participant_ids": [UPPER, _record()["id"]]},  # the same id in two cases
    {"participant_ids": []},
    {"participant_ids": ["", SITE]},
    {"participant_ids": (SITE,)},
    {"participant_ids": SITE},
    {"participant_ids": [SITE] * 10_001},
    {"status": "draft"},
    {"status": "approved"},
    {"status": "submitted"},
    {"status": " draft "},
    {"status": 1},
    {"captured_at": "2025-03-14T10:00:00"},
    {"captured_at": "2025-03-14 10:00:00+02:00"},
    {"captured_at": " 2025-03-14T10:00:00+02:00 "},
    {"captured_at": "2025-03-14T10:00:00Z"},
    {"captured_at": "2025-03-14T10:00:00.000000-00:00"},
    {"captured_at": "2025-03-14T10:00"},
    {"captured_at": "yesterday"},
    {"captured_at": 1741939200},
    {"unknown": "ignored"},
]


def _full(data: Any, sites: Any = SITES, project: Any = PROJECT) -> validation.Validation:
    return validation._full_activity(data, project=project, sites=sites, today=TODAY)


@pytest.mark.parametrize(
    "change", CHANGES, ids=[f"{n}:{','.join(c)}" for n, c in enumerate(CHANGES)]
)
@pytest.mark.parametrize(
    "sites", [SITES, OTHER_SITES, UPPER_SITES, None], ids=["sites", "other", "upper", "none"]
)
def test_the_fast_path_equals_the_full_check(change: dict[str, Any], sites: Any) -> None:
    data = _record(**change)
    fast = validate_activity(data, project=PROJECT, sites=sites, today=TODAY)
    assert fast == _full(data, sites)


def test_a_clean_record_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tablet's record is already clean: no field goes through the full field check (nulls
    and blank notes are "not given" at once), and the rules are not run one by one, even with
    a site of the project."""
    checked: list[str] = []
    full_field = validation._check_field

    def noting(data: Any, spec: Any, *args: Any, **kwargs: Any) -> None:
        checked.append(spec.name)
        full_field(data, spec, *args, **kwargs)

    monkeypatch.setattr(validation, "_check_field", noting)
    monkeypatch.setattr(validation, "_full_rules", _refuse)
    data = _record(notes="seen", site_id=SITE, participant_ids=[SITE], status="submitted")
    for record in (data, _record(notes="", participant_ids=None)):
        result = validate_activity(record, project=PROJECT, sites=SITES, today=TODAY)
        assert result.ok and not result.warnings
        assert result.clean == {
            **record,
            "notes": record["notes"] or None,
            "captured_at": "2025-03-14T10:00:00+02:00",
        }
    assert checked == []


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the rules ran one by one")


def test_without_a_project_both_ways_agree() -> None:
    data = _record(topic="S3.T1", project_id=str(uuid.uuid4()))
    fast = validate_activity(data, project=None, sites=None, today=TODAY)
    assert fast == _full(data, None, None)


_ID = st.sampled_from([SITE, SITE.upper(), PROJECT.id, "6f1c2b1e-5555-4aaa-8bbb-000000000005"])
_ROW = st.fixed_dictionaries(
    {
        "sex": st.sampled_from(["female", "male", " male", "Male"]),
        "age_band": st.sampled_from(["youth", "adult"]),
        "category": st.sampled_from(["farmer", "technician"]),
        "disability": st.sampled_from([False, True, 0, 1, None]),
        "count": st.one_of(st.integers(-1, 600_000), st.sampled_from([2.0, 2.5, True])),
    }
)
_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2000),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(
        ["demonstration", "S1.T2", "T", "L3", "in_person", "storage", "2025-03-14", " x", ""]
    ),
    st.sampled_from(["draft", "submitted", "approved", " draft"]),
    st.sampled_from(["2025-03-14T10:00:00+02:00", "2025-03-14T10:00:00Z", "2025-03-14T10:00:00"]),
    _ID,
    st.lists(_ID, max_size=3),
    st.lists(_ROW, max_size=3),
    st.lists(st.text(max_size=4), max_size=3),
    st.fixed_dictionaries({"lat": st.floats(), "lon": st.floats()}),
)
_KEYS = st.sampled_from(sorted({*_record(), "status"}))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_KEYS, _VALUE, max_size=4),
    st.sets(_KEYS, max_size=2),
    st.sampled_from([SITES, OTHER_SITES, UPPER_SITES, None]),
)
def test_any_record_gets_the_same_answer_both_ways(
    changes: dict[str, Any], removed: set[str], sites: Any
) -> None:
    data = {k: v for k, v in {**_record(), **changes}.items() if k not in removed}
    fast = validate_activity(data, project=PROJECT, sites=sites, today=TODAY)
    assert fast == _full(data, sites)


_OFFSETS = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=2)),
        timezone(-timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=23, minutes=59)),
        timezone(-timedelta(minutes=1)),
    ]
)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.from_regex(validation._MOMENT_TEXT, fullmatch=True),
        st.datetimes(timezones=_OFFSETS).map(datetime.isoformat),
        st.datetimes(timezones=_OFFSETS).map(lambda moment: moment.isoformat(sep=" ")),
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9:]{5}", fullmatch=True),
        st.sampled_from(
            [
                "2025-03-14T10:00:00-00:00",
                "2025-03-14T24:00:00+02:00",
                "2025-03-14T10:00:00Z",
                "0001-01-01T00:00:00-00:60",
                "2025-03-14T10:00:00+05:99",
            ]
        ),
    )
)
def test_a_timestamp_is_taken_as_it_is_only_when_its_full_check_gives_it_back(text: str) -> None:
    plain = validation._plain_datetime(text)
    assert plain is validation._NOT_PLAIN or (plain, []) == validation._check_datetime(text, "t")


@settings(max_examples=100, deadline=None)
@given(st.datetimes(timezones=_OFFSETS))
def test_a_timestamp_as_a_tablet_writes_it_takes_the_fast_path(moment: datetime) -> None:
    text = moment.replace(microsecond=0).isoformat()
    assert validation._plain_datetime(text) == text


def test_the_same_project_checked_on_another_day_answers_for_that_day() -> None:
    """The fast path remembers the last project's bounds; a new day is a new limit."""
    data = _record(start_date="2025-06-02", end_date="2025-06-02")
    for today, ok in ((TODAY, True), (date(2025, 5, 30), False), (TODAY, True)):
        found = validate_activity(data, project=PROJECT, sites=SITES, today=today)
        assert found.ok == ok
        assert found == validation._full_activity(data, project=PROJECT, sites=SITES, today=today)
