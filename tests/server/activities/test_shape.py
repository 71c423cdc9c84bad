"""``new_activity`` (the bulk writer's columns of a new activity) gives what ``column_values``
gives, with the server's values in place of the data's."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.activities.shape import column_values, new_activity

_uuids = st.uuids().flatmap(
    lambda u: st.sampled_from([str(u), str(u).upper(), u.hex, u])  # what as_uuid takes
)
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
_moments = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 1, 1))
_FIELDS: dict[str, Any] = {
    "id": _uuids,
    "project_id": _uuids,
    "site_id": _uuids,
    "type": st.sampled_from(["demonstration", "field_day"]),
    "title": st.text(max_size=5),
    "start_date": _days.flatmap(lambda d: st.sampled_from([d, d.isoformat()])),
    "end_date": _days.map(date.isoformat),
    "topic": st.sampled_from(["S1.T1", "S2.T3"]),
    "modality": st.sampled_from(["T", "D"]),
    "level": st.just("L3"),
    "delivery": st.sampled_from(["in_person", "remote"]),
    "value_chain_stage": st.just("storage"),
    "facilitators": st.lists(st.text(max_size=4), max_size=3),
    "experts_count": st.integers(0, 9),
    "location": st.fixed_dictionaries(
        {"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)},
        optional={"accuracy_m": st.none() | st.integers(0, 50)},
    ),
    "notes": st.text(max_size=5),
    "participant_ids": st.lists(st.uuids().map(str), max_size=2),
    "status": st.sampled_from(["submitted", "draft"]),
    "captured_at": st.one_of(
        _moments.map(datetime.isoformat),
        st.builds(lambda m, z: m.replace(tzinfo=z).isoformat(), _moments, _offsets),
        st.builds(lambda m, z: m.replace(tzinfo=z), _moments, _offsets),
    ),
}


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, values in _FIELDS.items():
        presence = draw(st.sampled_from(["value", "value", "null", "absent"]))
        if presence == "value":
            record[name] = draw(values)
        elif presence == "null":
            record[name] = None
    return record


@settings(max_examples=300, deadline=None)
@given(record=_records(), status=st.sampled_from(["submitted", "returned"]))
def test_new_activity_is_column_values_with_the_server_s_values(
    record: dict[str, Any], status: str
) -> None:
    fixed = {"id": uuid.uuid4(), "project_id": uuid.uuid4(), "status": status}
    expected = {**column_values(record), **fixed}
    values = new_activity(record, fixed)
    assert values == expected
    assert list(values) == list(expected)
