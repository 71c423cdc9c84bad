"""The activity's shape, derived from its one description (``models.ActivityBase``).

Everything that lists the activity's fields is computed here from the model: the wire fields
and their order (``WIRE_FIELDS``), the fields a client may set (``EDITABLE_FIELDS``), the
activity table's columns in insert order (``ACTIVITY_COLUMNS``), the wire form of a stored
activity (``activity_wire``), and the conversion of validated wire values into column values
(``apply_fields``, ``column_values``). A new field added to ``ActivityBase`` (with its migration
and its rule in ``shared.validation``) travels, is stored, revised, pulled and shown in the
API without touching this module.
"""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic_core import PydanticUndefined

from server.activities.models import Activity, ActivityBase, AttendanceRow
from server.columns import as_datetime, as_utc

# The attendance rows travel inside the activity, right after this field.
_ATTENDANCE_AFTER = "notes"
# Set by the server, never by a client: the id and project are fixed at birth, the status moves
# through review.
_FIXED = ("id", "project_id", "status")

_SHAPE: tuple[str, ...] = tuple(ActivityBase.model_fields)
WIRE_FIELDS: tuple[str, ...] = tuple(
    name
    for field in _SHAPE
    for name in ((field, "attendance") if field == _ATTENDANCE_AFTER else (field,))
)
EDITABLE_FIELDS: tuple[str, ...] = tuple(f for f in WIRE_FIELDS if f not in _FIXED)
ATTENDANCE_KEYS: tuple[str, ...] = ("sex", "age_band", "category", "disability", "count")
ACTIVITY_COLUMNS: tuple[str, ...] = tuple(c.name for c in Activity.__table__.columns)  # type: ignore[attr-defined]
ATTENDANCE_COLUMNS: tuple[str, ...] = ("activity_id", *ATTENDANCE_KEYS)
assert set(ATTENDANCE_KEYS) < set(AttendanceRow.model_fields)


def _kind(annotation: Any) -> type:
    """The one non-None type of a field's annotation (``uuid.UUID | None`` → ``uuid.UUID``)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (kind,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = kind
    origin = typing.get_origin(annotation)
    return origin if origin is not None else annotation


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # type: ignore[union-attr]
    return value.isoformat()


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _list_or_none(value: Any) -> list[Any] | None:
    return None if value is None else list(value)


def _same(value: Any) -> Any:
    return value


# Stored value → wire value, and wire value → stored value, by the field's type.
_TO_WIRE: dict[type, Callable[[Any], Any]] = {
    uuid.UUID: _str_or_none,
    date: _iso,
    datetime: _iso,
    list: _list_or_none,
}
_FROM_WIRE: dict[type, Callable[[Any], Any]] = {
    uuid.UUID: as_uuid,
    date: lambda v: None if v is None else as_date(v),
    datetime: as_datetime,
}


def _default(name: str) -> Any:
    """What a field not given (or given as null where null is not allowed) is stored as."""
    info = ActivityBase.model_fields[name]
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def _nullable(name: str) -> bool:
    annotation = ActivityBase.model_fields[name].annotation
    return type(None) in typing.get_args(annotation)


# (name, stored → wire) in wire order, the attendance left out (a table of its own).
_WIRE_OF: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
    (name, _TO_WIRE.get(_kind(ActivityBase.model_fields[name].annotation), _same))
    for name in _SHAPE
)
# (name, wire → stored, value for a null where none is allowed) for every field a client sets.
_STORE_OF: tuple[tuple[str, Callable[[Any], Any], bool], ...] = tuple(
    (
        name,
        _FROM_WIRE.get(_kind(ActivityBase.model_fields[name].annotation), _same),
        _nullable(name),
    )
    for name in _SHAPE
)
_DEFAULTS: dict[str, Any] = {name: _default(name) for name in _SHAPE if name != "id"}


def activity_wire(activity: Any, attendance: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The activity as it travels (docs/product.md#domain names, JSON types). ``activity`` has
    the activity's columns as attributes (the model, a row, a namespace)."""
    wire: dict[str, Any] = {}
    for name, convert in _WIRE_OF:
        wire[name] = convert(getattr(activity, name))
        if name == _ATTENDANCE_AFTER:
            wire["attendance"] = [dict(row) for row in attendance]
    return wire


def attendance_wire(rows: Iterable[AttendanceRow]) -> list[dict[str, Any]]:
    return [
        {
            "sex": r.sex,
            "age_band": r.age_band,
            "category": r.category,
            "disability": r.disability,
            "count": r.count,
        }
        for r in rows
    ]


def stored_value(name: str, value: Any) -> Any:
    """A validated wire value as the column stores it (a null where none is allowed → the
    field's default: no notes is ``""``, no facilitators ``[]``)."""
    for field, convert, nullable in _STORE_OF:
        if field == name:
            if value is None and not nullable:
                return _default(name)
            return convert(value)
    raise KeyError(name)


def apply_fields(activity: Activity, data: Mapping[str, Any]) -> None:
    """Set the editable fields present in ``data`` (validated wire values) on ``activity``."""
    for name, convert, nullable in _STORE_OF:
        if name in _FIXED or name not in data:
            continue
        value = data[name]
        setattr(
            activity, name, _default(name) if value is None and not nullable else convert(value)
        )


def column_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The shape's columns of a new activity from its validated wire data (every field a
    client may leave out gets its default)."""
    values: dict[str, Any] = {}
    for name, convert, nullable in _STORE_OF:
        value = data.get(name)
        if value is None and (name not in data or not nullable):
            value = _DEFAULTS.get(name) if name != "id" else None
            if isinstance(value, list):
                value = list(value)
            values[name] = value
        else:
            values[name] = convert(value)
    return values


# (name, wire → stored, nullable) in wire order, for ``new_activity``; None where the value is
# kept as it is.
_NEW_OF: tuple[tuple[str, Callable[[Any], Any] | None, bool], ...] = tuple(
    (name, None if to_store is _same else to_store, nullable)
    for name, to_store, nullable in _STORE_OF
)


def new_activity(data: Mapping[str, Any], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """A new activity's columns for the bulk writer: ``column_values(data)`` with the ``fixed``
    values set by the server in place of the data's, without a call for a value kept as it is."""
    values: dict[str, Any] = {}
    for name, to_store, nullable in _NEW_OF:
        if name in fixed:
            stored = fixed[name]
        else:
            stored = data.get(name)
            if stored is None and (name not in data or not nullable):
                stored = _DEFAULTS.get(name)
                if isinstance(stored, list):
                    stored = list(stored)
            elif to_store is not None:
                stored = to_store(stored)
        values[name] = stored
    return values
