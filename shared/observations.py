"""Checking an observation against its form version (docs/results.md#observations), run alike
on the tablet and the server.

An observation is one filled form. ``validate_observation`` takes it as it travels on the wire
(dates as ISO strings, ids as UUID strings) together with the definition of the form version it
answers, as a plain dict in the shape of docs/results.md#forms::

    {"fields": [{"name": "harvest_kg", "type": "decimal", "required": true, "min": 0,
                 "max": 100000},
                {"name": "plot", "type": "select_one",
                 "choices": [{"code": "demo"}, {"code": "control"}]},
                {"name": "practice", "type": "text",
                 "relevant": {"field": "plot", "in": ["demo"]}}, …]}

and returns a ``shared.validation.Validation``. The values are checked field by field, each
issue named ``values.<name>``:

- a key the form version does not have: ``unknown_field``;
- a value of the wrong type: ``not_integer``, ``not_number``, ``not_text``, ``not_boolean``,
  ``not_list`` or ``bad_date``;
- a number or date outside the field's ``min``/``max``: ``value_range``;
- a choice the field does not list: ``unknown_code``;
- a value for a field the form does not ask, given the answers (its ``relevant`` select field
  does not hold one of the listed codes): ``not_asked``;
- a required field that is asked and left empty: ``required``.

``None`` (or blank text) is "not answered": it is never an error for an unasked or optional
field, and it is not stored. The clean copy's ``values`` hold only the asked, answered fields.

Pure and standard library only (this runs on Android); the definition is never trusted: a
malformed one makes its fields unanswerable rather than raising.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from shared.errors import ErrorCode, Issue
from shared.forms import bound_field
from shared.validation import (
    _CONTROL,
    _LOCATION,
    EARLIEST_DATE,
    FUTURE_DAYS,
    LATEST_DATE,
    TEXT_LIMITS,
    Checked,
    ProjectFacts,
    SiteFacts,
    Validation,
    _check_date,
    _check_datetime,
    _check_uuid,
    _Field,
    _finite,
    _is_blank,
    _kind,
    _object,
    _parse_date,
    _result,
    _show,
    _text,
    _whole,
    issue,
)

FIELD_TYPES: tuple[str, ...] = (
    "integer",
    "decimal",
    "text",
    "select_one",
    "select_multiple",
    "date",
    "boolean",
)
SELECT_TYPES = frozenset({"select_one", "select_multiple"})
MAX_TEXT_VALUE = 2_000  # one text answer
MAX_VALUES = 500  # keys of one observation's values
MAX_FORM_VERSION = 1_000_000
# Numbers an answer may hold when the form sets no bound (beyond them a value is a typo).
MAX_MAGNITUDE = 1e15

_OBSERVATION = (
    _Field("id", _check_uuid, required=True),
    _Field("project_id", _check_uuid, required=True),
    _Field("site_id", _check_uuid),
    _Field("activity_id", _check_uuid),
    _Field("form_id", _check_uuid, required=True),
    _Field("form_version", lambda v, f: _version(v, f), required=True),
    _Field("observed_on", _check_date, required=True),
    _Field("values", lambda v, f: _values_object(v, f), required=True),
    _Field("location", _object(_LOCATION)),
    _Field("notes", _text(TEXT_LIMITS["notes"])),
    _Field("captured_at", _check_datetime),
)


def _version(value: Any, field: str) -> Checked:
    number = _whole(value)
    if number is None:
        return None, [issue(field, ErrorCode.NOT_INTEGER, got=_kind(value))]
    if not 1 <= number <= MAX_FORM_VERSION:
        return None, [
            issue(field, ErrorCode.COUNT_RANGE, value=number, low=1, high=MAX_FORM_VERSION)
        ]
    return number, []


def _values_object(value: Any, field: str) -> Checked:
    # Checked against the form in ``validate_observation``; here only its shape.
    if not isinstance(value, Mapping):
        return None, [issue(field, ErrorCode.NOT_OBJECT, got=_kind(value))]
    if len(value) > MAX_VALUES:
        return None, [issue(field, ErrorCode.TOO_MANY, count=len(value), high=MAX_VALUES)]
    return dict(value), []


def form_fields(form: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, Mapping[str, Any]]:
    """The definition's fields by name (a definition dict, or its list of fields); entries
    that are not objects with a text ``name`` are left out."""
    if isinstance(form, Mapping):
        form = form.get("fields")
    if not isinstance(form, list | tuple):
        return {}
    return {
        f["name"]: f
        for f in form
        if isinstance(f, Mapping) and isinstance(f.get("name"), str) and f["name"]
    }


def _choice_codes(spec: Mapping[str, Any]) -> list[str]:
    choices = spec.get("choices")
    if not isinstance(choices, list | tuple):
        return []
    codes = []
    for choice in choices:
        code = choice.get("code") if isinstance(choice, Mapping) else choice
        if isinstance(code, str):
            codes.append(code)
    return codes


def asked_fields(
    fields: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]
) -> dict[str, bool]:
    """Which fields the form asks, given the answers: a field with ``relevant: {"field": f,
    "in": [codes]}`` is asked only when ``f`` is itself asked and holds one of the codes (one
    of them, for a ``select_multiple``). A relevance that points nowhere, or round in a
    circle, asks nothing."""
    asked: dict[str, bool] = {}

    def resolve(name: str, trail: frozenset[str]) -> bool:
        if name in asked:
            return asked[name]
        spec = fields.get(name)
        if spec is None or name in trail:
            return False
        rule = spec.get("relevant")
        if not rule:
            result = True
        elif not isinstance(rule, Mapping) or not isinstance(rule.get("field"), str):
            result = False
        else:
            parent = rule["field"]
            wanted = _codes_in(rule)
            answer = values.get(parent)
            held = answer if isinstance(answer, list | tuple) else [answer]
            result = resolve(parent, trail | {name}) and any(
                isinstance(h, str) and h.strip() in wanted for h in held
            )
        asked[name] = result
        return result

    for name in fields:
        resolve(name, frozenset())
    return asked


def _codes_in(rule: Mapping[str, Any]) -> list[str]:
    listed = rule.get("in")
    if not isinstance(listed, list | tuple):
        return []
    return [c for c in listed if isinstance(c, str)]


def _bound(spec: Mapping[str, Any], key: str, kind: str) -> Any:
    raw = spec.get(key)
    if kind == "date":
        return _parse_date(raw)
    number = _finite(raw)
    return None if number is None else number


def _bound_text(bound: Any) -> str:
    """A bound as a person reads it: a whole number without ``.0`` (and without an exponent:
    1000000000000000, not 1e+15), another number as Python writes it shortest."""
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return str(bound)


def _range_issue(field: str, value: Any, low: Any, high: Any) -> Issue:
    """The field's range as it is: its own minimum and maximum where set, the system's bound
    (``MAX_MAGNITUDE``) on a side it leaves open or sets beyond it."""
    low = -MAX_MAGNITUDE if low is None else max(low, -MAX_MAGNITUDE)
    high = MAX_MAGNITUDE if high is None else min(high, MAX_MAGNITUDE)
    low_text, high_text = _bound_text(low), _bound_text(high)
    return issue(
        field,
        ErrorCode.VALUE_RANGE,
        value=value,
        span=f"from {low_text} to {high_text}",
        low=low_text,
        high=high_text,
    )


def check_value(spec: Mapping[str, Any], value: Any, field: str) -> Checked:
    """One answer against its field's definition (``value`` is never None or blank)."""
    kind = spec.get("type")
    if kind in ("integer", "decimal"):
        number = _whole(value) if kind == "integer" else _finite(value)
        if number is None:
            code = ErrorCode.NOT_INTEGER if kind == "integer" else ErrorCode.NOT_NUMBER
            return None, [issue(field, code, got=_kind(value))]
        if kind == "decimal" and isinstance(number, float) and number.is_integer():
            number = int(number) if abs(number) < 2**53 else number
        low, high = _bound(spec, "min", kind), _bound(spec, "max", kind)
        outside = (low is not None and number < low) or (high is not None and number > high)
        if outside or abs(number) > MAX_MAGNITUDE:
            return None, [_range_issue(field, number, low, high)]
        return number, []
    if kind == "date":
        day = _parse_date(value)
        if day is None:
            return None, [issue(field, ErrorCode.BAD_DATE, value=_show(value))]
        low = _bound(spec, "min", kind) or EARLIEST_DATE
        high = _bound(spec, "max", kind) or LATEST_DATE
        if not low <= day <= high:
            return None, [
                issue(field, ErrorCode.DATE_IMPLAUSIBLE, value=day.isoformat(), low=low, high=high)
            ]
        return day.isoformat(), []
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, [issue(field, ErrorCode.NOT_BOOLEAN, got=_kind(value))]
        return value, []
    if kind == "text":
        return _text(MAX_TEXT_VALUE)(value, field)
    if kind == "select_one":
        return _choice(spec, value, field)
    if kind == "select_multiple":
        if not isinstance(value, list | tuple):
            return None, [issue(field, ErrorCode.NOT_LIST, got=_kind(value))]
        picked: list[str] = []
        errors: list[Issue] = []
        for index, entry in enumerate(value):
            code, entry_errors = _choice(spec, entry, f"{field}[{index}]")
            errors += entry_errors
            if not entry_errors and code not in picked:
                picked.append(code)
        return (None, errors) if errors else (picked, [])
    return None, [
        issue(
            field,
            ErrorCode.UNKNOWN_CODE,
            what="field type",
            value=_show(kind),
            choices="the form version defines this field wrongly; ask for the form to be fixed",
        )
    ]


def _choice(spec: Mapping[str, Any], value: Any, field: str) -> Checked:
    if not isinstance(value, str):
        return None, [issue(field, ErrorCode.NOT_TEXT, got=_kind(value))]
    code, errors = _text(MAX_TEXT_VALUE)(value, field)
    if errors:
        return None, errors
    allowed = _choice_codes(spec)
    if code not in allowed:
        return None, [
            issue(
                field,
                ErrorCode.UNKNOWN_CODE,
                what="choice",
                value=_show(code),
                choices="allowed: " + (", ".join(allowed) or "none"),
            )
        ]
    return code, []


def validate_values(
    values: Mapping[str, Any],
    form: Mapping[str, Any] | Sequence[Any] | None,
    *,
    prefix: str = "values",
) -> tuple[dict[str, Any], list[Issue]]:
    """The answers checked against the form version: (clean answers, issues)."""
    fields = form_fields(form)
    plain = {k: (None if _is_blank(v) else v) for k, v in values.items()}
    asked = asked_fields(fields, plain)
    clean: dict[str, Any] = {}
    errors: list[Issue] = []
    for name in sorted(k for k in values if k not in fields):
        shown = _CONTROL.sub("\ufffd", _show(name, 64))
        errors.append(
            Issue(
                f"{prefix}.{shown}",
                ErrorCode.UNKNOWN_FIELD,
                f"{prefix}.{shown}: not a field of this form version; "
                "fields: " + _show(", ".join(fields) or "none", 300),
            )
        )
    for name, spec in fields.items():
        field = f"{prefix}.{name}"
        value = plain.get(name)
        if not asked[name]:
            if value is not None:
                errors.append(issue(field, ErrorCode.NOT_ASKED, rule=_rule_text(spec)))
            continue
        if value is None:
            if spec.get("required") is True:
                errors.append(issue(field, ErrorCode.REQUIRED))
            continue
        checked, field_errors = check_value(spec, value, field)
        if field_errors:
            errors += field_errors
        else:
            clean[name] = checked
    errors += _field_bounds(fields, clean, prefix)
    return clean, errors


def _field_bounds(
    fields: Mapping[str, Mapping[str, Any]], clean: Mapping[str, Any], prefix: str
) -> list[Issue]:
    """Answers bounded by another answer (``"max": "${farmers_visited}"``): judged when both
    were given and passed their own checks."""
    found: list[Issue] = []
    for name, spec in fields.items():
        value = clean.get(name)
        if value is None:
            continue
        for key, code in (("min", ErrorCode.BELOW_FIELD), ("max", ErrorCode.ABOVE_FIELD)):
            other = bound_field(spec.get(key))
            limit = clean.get(other) if other is not None else None
            if limit is None or isinstance(limit, bool) or type(limit) is list:
                continue
            try:
                broken = value < limit if key == "min" else value > limit
            except TypeError:  # a number bounded by a date: a definition no server accepts
                continue
            if broken:
                field = f"{prefix}.{name}"
                found.append(issue(field, code, value=value, other=other, limit=limit))
    return found


def _rule_text(spec: Mapping[str, Any]) -> str:
    rule = spec.get("relevant")
    if isinstance(rule, Mapping) and isinstance(rule.get("field"), str):
        wanted = _codes_in(rule)
        return f"it is asked only when {rule['field']} is " + " or ".join(str(w) for w in wanted)
    return "the form does not ask it"


def validate_observation(
    data: Mapping[str, Any],
    *,
    form: Mapping[str, Any] | Sequence[Any] | None,
    today: date,
    project: ProjectFacts | None = None,
    sites: Mapping[str, SiteFacts] | None = None,
) -> Validation:
    """Check a whole observation against the definition of its form version.

    ``today`` is the server's date (never the tablet's clock): ``observed_on`` may be at most
    ``FUTURE_DAYS`` after it. ``project`` and ``sites``, when given, check ``project_id`` and
    that ``site_id`` is one of the project's sites. Keys that are not observation fields
    (``status``, ``version``…) are ignored and left out of ``clean``.
    """

    def rules(clean: dict[str, Any]) -> list[Issue]:
        found: list[Issue] = []
        if "values" in clean:
            values, errors = validate_values(clean["values"], form)
            clean["values"] = values
            found += errors
        found += _observed_on_rules(clean, today)
        if project is not None and clean.get("project_id") not in (None, project.id):
            found.append(
                issue(
                    "project_id",
                    ErrorCode.PROJECT_MISMATCH,
                    value=clean["project_id"],
                    expected=project.id,
                )
            )
        site_id = clean.get("site_id")
        if project is not None and sites is not None and site_id and site_id not in sites:
            found.append(
                issue(
                    "site_id", ErrorCode.SITE_NOT_IN_PROJECT, value=site_id, project=project.named
                )
            )
        return found

    return _result(data, _OBSERVATION, False, rules)


def _observed_on_rules(clean: Mapping[str, Any], today: date) -> list[Issue]:
    if not clean.get("observed_on"):
        return []
    day = date.fromisoformat(clean["observed_on"])
    limit = today + timedelta(days=FUTURE_DAYS)
    if day > limit:
        return [
            issue(
                "observed_on",
                ErrorCode.IN_FUTURE,
                value=day,
                days=FUTURE_DAYS,
                today=today,
                limit=limit,
            )
        ]
    return []


__all__ = [
    "FIELD_TYPES",
    "MAX_MAGNITUDE",
    "asked_fields",
    "check_value",
    "form_fields",
    "validate_observation",
    "validate_values",
]
