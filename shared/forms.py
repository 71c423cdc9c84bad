"""A form definition (docs/results.md#forms) as typed data, and the rules it must follow.

``validate_form`` takes a definition as it travels (``{code, title, fields, indicators}``, plain
JSON) and returns a :class:`FormCheck`: the errors, each with a field path such as
``fields[3].choices[1].code`` and a stable ``ErrorCode``, and, when there are none, the
definition as a :class:`FormDefinition` whose ``as_dict()`` is the normalised wire form (every
key written, unused ones ``None``; but ``unit_label``, the author's translations of a unit,
written only when given, so that older definitions and tablets keep their shape). The server
runs it before storing a form, the XLSForm import runs it on what it read, and the tablet can
run it on what it pulled. Standard library and ``shared`` only: this runs on Android.

How a definition is read, decided here where docs/results.md is silent:

- Unknown keys are refused (``unknown_field``): nothing in a definition is silently dropped.
- Labels, hints and titles are ``{language: text}`` with two- or three-letter lower-case
  language codes; ``en`` is required for labels and titles, and for a hint that is not empty.
- ``min``/``max`` are whole numbers for ``integer``, numbers for ``decimal`` and ISO dates for
  ``date`` (normalised to ``YYYY-MM-DD``); other types may not have them. Either may instead
  name an earlier field as XLSForm writes it, ``${farmers_visited}``: a number field bounded by
  a number field, a date by a date; the answer is then checked against that field's answer
  (``bound_field``). A tablet that predates it reads no bound there and the server checks.
- A ``relevant`` condition names a select field **before** this one, so a form is always asked
  top to bottom; its codes must be that field's choices.
- Indicators: ``sum mean median min max`` need a numeric ``field``; ``count`` no field;
  ``share`` a boolean ``field``, or a select ``field`` and one of its codes as ``choice``;
  ``ratio`` a numeric ``numerator`` and ``denominator`` and a ``factor`` (1 by default).
  A key that does not apply to the aggregate is refused (``not_for_type``), not ignored.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.errors import ErrorCode, Issue
from shared.indicators import IndicatorCode

FIELD_TYPES: tuple[str, ...] = (
    "integer",
    "decimal",
    "text",
    "select_one",
    "select_multiple",
    "date",
    "boolean",
)
NUMERIC_TYPES = frozenset({"integer", "decimal"})
# A bound that names an earlier field: ``${farmers_visited}`` (XLSForm's reference).
FIELD_BOUND = re.compile(r"\$\{([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\}")
SELECT_TYPES = frozenset({"select_one", "select_multiple"})
BOUNDED_TYPES = NUMERIC_TYPES | {"date"}
AGGREGATES: tuple[str, ...] = ("sum", "mean", "median", "min", "max", "count", "share", "ratio")
NUMERIC_AGGREGATES = frozenset({"sum", "mean", "median", "min", "max"})
DIRECTIONS: tuple[str, ...] = ("increase", "decrease")
FORM_STATUSES: tuple[str, ...] = ("draft", "published", "retired")
LANGUAGES: tuple[str, ...] = ("en", "fr", "pt", "es")  # shown by the apps when present

# Limits: a definition travels to every tablet, so it stays small.
MAX_FIELDS = 200
MAX_CHOICES = 500
MAX_INDICATORS = 50
MAX_LANGUAGES = 20
MAX_CODE = 64
MAX_LABEL = 500
MAX_HINT = 2_000
MAX_UNIT = 32
MAX_BOUND = 1e15

UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
CHOICE_CODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
LANGUAGE = re.compile(r"[a-z]{2,3}")

# Result indicator codes share one namespace with the activity indicators (docs/results.md).
ACTIVITY_INDICATOR_CODES = frozenset(code.value for code in IndicatorCode)

_FORM_KEYS = frozenset({"code", "title", "fields", "indicators"})
_FIELD_KEYS = frozenset(
    {
        "name",
        "type",
        "label",
        "hint",
        "unit",
        "unit_label",
        "required",
        "min",
        "max",
        "choices",
        "relevant",
    }
)
_INDICATOR_KEYS = frozenset(
    {
        "code",
        "name",
        "unit",
        "unit_label",
        "aggregate",
        "field",
        "numerator",
        "denominator",
        "factor",
        "choice",
        "compare",
        "direction",
    }
)


# --- the typed definition -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    code: str
    label: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": dict(self.label)}


@dataclass(frozen=True, slots=True)
class Relevance:
    """Ask the field only when ``field`` (a select field) holds one of ``codes``."""

    field: str
    codes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "in": list(self.codes)}


Bound = int | float | str


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    type: str
    label: dict[str, str]
    hint: dict[str, str] = field(default_factory=dict)
    unit: str | None = None
    required: bool = False
    min: Bound | None = None
    max: Bound | None = None
    choices: tuple[Choice, ...] = ()
    relevant: Relevance | None = None
    # The author's translations of ``unit`` (docs/results.md#units); optional on the wire.
    unit_label: dict[str, str] = field(default_factory=dict)

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_select(self) -> bool:
        return self.type in SELECT_TYPES

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.choices)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": dict(self.label),
            "hint": dict(self.hint),
            "unit": self.unit,
            "required": self.required,
            "min": self.min,
            "max": self.max,
            "choices": [c.as_dict() for c in self.choices],
            "relevant": self.relevant.as_dict() if self.relevant else None,
            **({"unit_label": dict(self.unit_label)} if self.unit_label else {}),
        }


@dataclass(frozen=True, slots=True)
class FormIndicator:
    code: str
    name: dict[str, str]
    unit: str
    aggregate: str
    field: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    factor: float | int | None = None
    choice: str | None = None
    compare: str | None = None
    direction: str = "increase"
    # The author's translations of ``unit`` (docs/results.md#units); optional on the wire.
    unit_label: dict[str, str] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": dict(self.name),
            "unit": self.unit,
            **({"unit_label": dict(self.unit_label)} if self.unit_label else {}),
            "aggregate": self.aggregate,
            "field": self.field,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "factor": self.factor,
            "choice": self.choice,
            "compare": self.compare,
            "direction": self.direction,
        }


@dataclass(frozen=True, slots=True)
class FormDefinition:
    code: str
    title: dict[str, str]
    fields: tuple[FormField, ...]
    indicators: tuple[FormIndicator, ...] = ()

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": dict(self.title),
            "fields": [f.as_dict() for f in self.fields],
            "indicators": [i.as_dict() for i in self.indicators],
        }


@dataclass(slots=True)
class FormCheck:
    errors: list[Issue]
    definition: FormDefinition | None

    @property
    def ok(self) -> bool:
        return not self.errors


# --- validation -----------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[Issue] = []

    def add(self, path: str, code: ErrorCode, message: str) -> None:
        self.items.append(Issue(path, code, message))


def _kind(value: object) -> str:
    return type(value).__name__


def _text(value: Any, path: str, errors: _Errors, limit: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(path, ErrorCode.REQUIRED, "required")
        return None
    if not isinstance(value, str):
        errors.add(path, ErrorCode.NOT_TEXT, f"must be text, not {_kind(value)}")
        return None
    text = value.strip()
    if len(text) > limit:
        errors.add(path, ErrorCode.TOO_LONG, f"at most {limit} characters")
        return None
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        errors.add(path, ErrorCode.CONTROL_CHARACTER, "contains a control character")
        return None
    return text


def _labels(
    value: Any, path: str, errors: _Errors, limit: int, *, required: bool, english: bool = True
) -> dict[str, str]:
    """``{language: text}``; ``en`` required when ``required``, and whenever any text is given
    (a hint may be empty, but not French only), unless ``english`` is False."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        errors.add(path, ErrorCode.NOT_OBJECT, "must be an object of {language: text}")
        return {}
    if len(value) > MAX_LANGUAGES:
        errors.add(path, ErrorCode.TOO_MANY, f"at most {MAX_LANGUAGES} languages")
        return {}
    out: dict[str, str] = {}
    for lang, text in value.items():
        where = f"{path}.{lang}"
        if not isinstance(lang, str) or not LANGUAGE.fullmatch(lang):
            errors.add(where, ErrorCode.INVALID, "a language is a two- or three-letter code")
            continue
        clean = _text(text, where, errors, limit, required=False)
        if clean is not None:
            out[lang] = clean
    if (
        (required or (out and english))
        and "en" not in out
        and not any(i.field == f"{path}.en" for i in errors.items)
    ):
        errors.add(f"{path}.en", ErrorCode.REQUIRED, "an English text is required")
    return out


def _code(
    value: Any, path: str, errors: _Errors, pattern: re.Pattern[str], what: str
) -> str | None:
    text = _text(value, path, errors, MAX_CODE, required=True)
    if text is None:
        return None
    if not pattern.fullmatch(text):
        code = ErrorCode.NOT_UPPER_SNAKE if pattern is UPPER_SNAKE else ErrorCode.NOT_SNAKE_CASE
        if pattern is CHOICE_CODE:
            code = ErrorCode.INVALID
        errors.add(path, code, f"{what} {text!r} must be {_pattern_words(pattern)}")
        return None
    return text


def _pattern_words(pattern: re.Pattern[str]) -> str:
    if pattern is UPPER_SNAKE:
        return "upper snake case (DEMO_PLOT_HARVEST)"
    if pattern is SNAKE:
        return "snake case (harvest_kg)"
    return "letters, digits, '_', '.' or '-'"


def _unknown_keys(
    data: Mapping[str, Any], allowed: frozenset[str], path: str, errors: _Errors
) -> None:
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            errors.add(where, ErrorCode.UNKNOWN_FIELD, f"{key!r} is not part of a form definition")


def _list(value: Any, path: str, errors: _Errors, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, ErrorCode.NOT_LIST, f"must be a list, not {_kind(value)}")
        return []
    if len(value) > limit:
        errors.add(path, ErrorCode.TOO_MANY, f"at most {limit} entries")
        return []
    return value


def _bool(value: Any, path: str, errors: _Errors) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(path, ErrorCode.NOT_BOOLEAN, "must be true or false")
        return False
    return value


def _in_bounds(value: int | float) -> bool:
    """Finite and at most ``MAX_BOUND`` (a huge JSON integer must not reach ``float()``)."""
    if isinstance(value, int):
        return abs(value) <= MAX_BOUND
    return math.isfinite(value) and abs(value) <= MAX_BOUND


def bound_field(bound: Any) -> str | None:
    """The field a ``min`` or ``max`` names (``${farmers_visited}``), or None for a value."""
    if not isinstance(bound, str):
        return None
    found = FIELD_BOUND.fullmatch(bound.strip())
    return found.group(1) if found else None


def _no_earlier_field(path: str, name: str, errors: _Errors, later: Collection[str]) -> None:
    """A reference to a field that is not before this one: one that comes later in the form is
    a matter of order (``later_field_ref``: move it up), any other a name the form lacks."""
    if name in later:
        errors.add(
            path,
            ErrorCode.LATER_FIELD_REF,
            f"field {name!r} comes after this one; name an earlier field, or move {name!r} up",
        )
    else:
        errors.add(path, ErrorCode.UNKNOWN_FIELD_REF, f"no field {name!r} before this one")


def _bound(
    value: Any,
    path: str,
    errors: _Errors,
    type_: str,
    earlier: Mapping[str, FormField],
    later: Collection[str],
) -> Bound | None:
    if value is None:
        return None
    if type_ not in BOUNDED_TYPES:
        errors.add(path, ErrorCode.NOT_FOR_TYPE, f"a {type_} field has no min or max")
        return None
    if (name := bound_field(value)) is not None:
        target = earlier.get(name)
        if target is None:
            _no_earlier_field(path, name, errors, later)
            return None
        if (target.type == "date") != (type_ == "date") or target.type not in BOUNDED_TYPES:
            wants = "a date field" if type_ == "date" else "a number field"
            errors.add(
                path,
                ErrorCode.WRONG_FIELD_TYPE,
                f"{name!r} is a {target.type} field; this bound needs {wants}",
            )
            return None
        return f"${{{name}}}"
    if type_ == "date":
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        errors.add(path, ErrorCode.BAD_DATE, "must be a date, YYYY-MM-DD")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.add(path, ErrorCode.NOT_NUMBER, f"must be a number, not {_kind(value)}")
        return None
    if not _in_bounds(value):
        errors.add(path, ErrorCode.VALUE_RANGE, "must be a finite number")
        return None
    if type_ == "integer":
        if value != int(value):
            errors.add(path, ErrorCode.NOT_INTEGER, "an integer field's bounds are whole numbers")
            return None
        return int(value)
    return int(value) if isinstance(value, int) else float(value)


def _check_choices(value: Any, path: str, errors: _Errors, type_: str) -> tuple[Choice, ...]:
    if type_ not in SELECT_TYPES:
        if value not in (None, []):
            errors.add(path, ErrorCode.NOT_FOR_TYPE, f"a {type_} field has no choices")
        return ()
    items = _list(value, path, errors, MAX_CHOICES)
    if not items and not any(i.field == path for i in errors.items):
        errors.add(path, ErrorCode.TOO_FEW_CHOICES, "a select field needs at least one choice")
        return ()
    out: list[Choice] = []
    seen: set[str] = set()
    for j, raw in enumerate(items):
        where = f"{path}[{j}]"
        if not isinstance(raw, Mapping):
            errors.add(where, ErrorCode.NOT_OBJECT, "a choice is {code, label}")
            continue
        _unknown_keys(raw, frozenset({"code", "label"}), where, errors)
        code = _code(raw.get("code"), f"{where}.code", errors, CHOICE_CODE, "a choice code")
        label = _labels(raw.get("label"), f"{where}.label", errors, MAX_LABEL, required=True)
        if code is None:
            continue
        if code in seen:
            errors.add(f"{where}.code", ErrorCode.DUPLICATE_NAME, f"choice {code!r} twice")
            continue
        seen.add(code)
        out.append(Choice(code, label))
    return tuple(out)


def _check_relevance(
    value: Any,
    path: str,
    errors: _Errors,
    earlier: Mapping[str, FormField],
    later: Collection[str],
) -> Relevance | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors.add(path, ErrorCode.NOT_OBJECT, 'relevant is {"field": name, "in": [codes]}')
        return None
    _unknown_keys(value, frozenset({"field", "in"}), path, errors)
    name = _text(value.get("field"), f"{path}.field", errors, MAX_CODE, required=True)
    codes = _list(value.get("in"), f"{path}.in", errors, MAX_CHOICES)
    if name is None:
        return None
    target = earlier.get(name)
    if target is None:
        _no_earlier_field(f"{path}.field", name, errors, later)
        return None
    if not target.is_select:
        errors.add(
            f"{path}.field",
            ErrorCode.WRONG_FIELD_TYPE,
            f"{name!r} is a {target.type} field; relevance needs a select field",
        )
        return None
    if not codes:
        if not any(i.field == f"{path}.in" for i in errors.items):
            errors.add(f"{path}.in", ErrorCode.REQUIRED, "name at least one choice code")
        return None
    ok = True
    for j, code in enumerate(codes):
        if code not in target.codes:
            errors.add(
                f"{path}.in[{j}]", ErrorCode.UNKNOWN_CODE, f"{code!r} is not a choice of {name!r}"
            )
            ok = False
    return Relevance(name, tuple(dict.fromkeys(codes))) if ok else None


def _unit_label(value: Any, path: str, unit: str | None, errors: _Errors) -> dict[str, str]:
    """The author's translations of the unit: ``{language: text}``, any languages (the unit
    itself is the text of the others), only with a unit."""
    labels = _labels(value, path, errors, MAX_UNIT, required=False, english=False)
    if labels and not unit:
        errors.add(path, ErrorCode.NOT_FOR_TYPE, "translations of a unit need the unit itself")
    return labels


def _check_field(
    raw: Any,
    path: str,
    errors: _Errors,
    earlier: Mapping[str, FormField],
    later: Collection[str],
) -> FormField | None:
    if not isinstance(raw, Mapping):
        errors.add(path, ErrorCode.NOT_OBJECT, "a field is an object")
        return None
    before = len(errors.items)
    _unknown_keys(raw, _FIELD_KEYS, path, errors)
    name = _code(raw.get("name"), f"{path}.name", errors, SNAKE, "a field name")
    if name is not None and name in earlier:
        errors.add(f"{path}.name", ErrorCode.DUPLICATE_NAME, f"field {name!r} twice")
    type_ = _text(raw.get("type"), f"{path}.type", errors, MAX_CODE, required=True)
    if type_ is not None and type_ not in FIELD_TYPES:
        errors.add(
            f"{path}.type",
            ErrorCode.UNKNOWN_CODE,
            f"{type_!r} is not one of {', '.join(FIELD_TYPES)}",
        )
        type_ = None
    label = _labels(raw.get("label"), f"{path}.label", errors, MAX_LABEL, required=True)
    hint = _labels(raw.get("hint"), f"{path}.hint", errors, MAX_HINT, required=False)
    unit = _text(raw.get("unit"), f"{path}.unit", errors, MAX_UNIT, required=False)
    unit_label = _unit_label(raw.get("unit_label"), f"{path}.unit_label", unit, errors)
    required = _bool(raw.get("required"), f"{path}.required", errors)
    low = high = None
    choices: tuple[Choice, ...] = ()
    if type_ is not None:
        low = _bound(raw.get("min"), f"{path}.min", errors, type_, earlier, later)
        high = _bound(raw.get("max"), f"{path}.max", errors, type_, earlier, later)
        fixed = bound_field(low) is None and bound_field(high) is None
        if low is not None and high is not None and fixed and _above(low, high):
            errors.add(f"{path}.min", ErrorCode.MIN_ABOVE_MAX, f"min {low} is above max {high}")
        choices = _check_choices(raw.get("choices"), f"{path}.choices", errors, type_)
    relevant = _check_relevance(raw.get("relevant"), f"{path}.relevant", errors, earlier, later)
    if len(errors.items) > before or name is None or type_ is None:
        return None
    return FormField(
        name, type_, label, hint, unit, required, low, high, choices, relevant, unit_label
    )


def _above(low: Bound, high: Bound) -> bool:
    if isinstance(low, str) or isinstance(high, str):
        return str(low) > str(high)
    return low > high


def _field_ref(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    errors: _Errors,
    fields: Mapping[str, FormField],
    *,
    wants: frozenset[str],
    words: str,
) -> FormField | None:
    name = _text(raw.get(key), f"{path}.{key}", errors, MAX_CODE, required=True)
    if name is None:
        return None
    target = fields.get(name)
    if target is None:
        errors.add(f"{path}.{key}", ErrorCode.UNKNOWN_FIELD_REF, f"the form has no field {name!r}")
        return None
    if target.type not in wants:
        errors.add(
            f"{path}.{key}",
            ErrorCode.WRONG_FIELD_TYPE,
            f"{name!r} is a {target.type} field; this needs {words}",
        )
        return None
    return target


def _not_for(
    raw: Mapping[str, Any], keys: tuple[str, ...], path: str, errors: _Errors, what: str
) -> None:
    for key in keys:
        if raw.get(key) is not None:
            errors.add(f"{path}.{key}", ErrorCode.NOT_FOR_TYPE, f"{key} does not apply to {what}")


def _check_indicator(
    raw: Any,
    path: str,
    errors: _Errors,
    fields: Mapping[str, FormField],
    taken: Collection[str],
    seen: set[str],
) -> FormIndicator | None:
    if not isinstance(raw, Mapping):
        errors.add(path, ErrorCode.NOT_OBJECT, "an indicator is an object")
        return None
    before = len(errors.items)
    _unknown_keys(raw, _INDICATOR_KEYS, path, errors)
    code = _code(raw.get("code"), f"{path}.code", errors, UPPER_SNAKE, "an indicator code")
    if code is not None:
        if code in seen:
            errors.add(f"{path}.code", ErrorCode.DUPLICATE_NAME, f"indicator {code!r} twice")
        elif code in ACTIVITY_INDICATOR_CODES or code in taken:
            errors.add(
                f"{path}.code",
                ErrorCode.INDICATOR_CODE_TAKEN,
                f"{code!r} is already the code of another indicator; indicator codes are "
                "shared by every form, country and project, so choose another code",
            )
        seen.add(code)
    name = _labels(raw.get("name"), f"{path}.name", errors, MAX_LABEL, required=True)
    unit = _text(raw.get("unit"), f"{path}.unit", errors, MAX_UNIT, required=False) or ""
    unit_label = _unit_label(raw.get("unit_label"), f"{path}.unit_label", unit, errors)
    aggregate = _text(raw.get("aggregate"), f"{path}.aggregate", errors, MAX_CODE, required=True)
    direction = _text(raw.get("direction"), f"{path}.direction", errors, MAX_CODE, required=False)
    if direction is not None and direction not in DIRECTIONS:
        errors.add(f"{path}.direction", ErrorCode.UNKNOWN_CODE, "increase or decrease")
    field_name = numerator = denominator = choice = None
    factor: float | int | None = None
    numeric = frozenset(NUMERIC_TYPES)
    if aggregate is not None and aggregate not in AGGREGATES:
        errors.add(
            f"{path}.aggregate",
            ErrorCode.UNKNOWN_CODE,
            f"{aggregate!r} is not one of {', '.join(AGGREGATES)}",
        )
    elif aggregate in NUMERIC_AGGREGATES:
        _not_for(raw, ("numerator", "denominator", "factor", "choice"), path, errors, aggregate)
        target = _field_ref(raw, "field", path, errors, fields, wants=numeric, words="a number")
        field_name = target.name if target else None
    elif aggregate == "count":
        _not_for(
            raw, ("field", "numerator", "denominator", "factor", "choice"), path, errors, "count"
        )
    elif aggregate == "share":
        _not_for(raw, ("numerator", "denominator", "factor"), path, errors, "share")
        target = _field_ref(
            raw,
            "field",
            path,
            errors,
            fields,
            wants=frozenset({"boolean"}) | SELECT_TYPES,
            words="a boolean or select field",
        )
        if target is not None:
            field_name = target.name
            if target.type == "boolean":
                _not_for(raw, ("choice",), path, errors, "a share of a boolean field")
            else:
                choice = _text(raw.get("choice"), f"{path}.choice", errors, MAX_CODE, required=True)
                if choice is not None and choice not in target.codes:
                    errors.add(
                        f"{path}.choice",
                        ErrorCode.UNKNOWN_CODE,
                        f"{choice!r} is not a choice of {target.name!r}",
                    )
    elif aggregate == "ratio":
        _not_for(raw, ("field", "choice"), path, errors, "ratio")
        top = _field_ref(raw, "numerator", path, errors, fields, wants=numeric, words="a number")
        bottom = _field_ref(
            raw, "denominator", path, errors, fields, wants=numeric, words="a number"
        )
        numerator = top.name if top else None
        denominator = bottom.name if bottom else None
        value = raw.get("factor")
        if value is None:
            factor = 1
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not _in_bounds(value)
            or value == 0
            or abs(value) > MAX_BOUND
        ):
            errors.add(f"{path}.factor", ErrorCode.NOT_NUMBER, "a non-zero finite number")
        else:
            factor = value
    compare = None
    if raw.get("compare") is not None:
        target = _field_ref(
            raw,
            "compare",
            path,
            errors,
            fields,
            wants=frozenset({"select_one"}),
            words="a select_one field",
        )
        if target is not None:
            if len(target.choices) < 2:
                errors.add(
                    f"{path}.compare",
                    ErrorCode.TOO_FEW_CHOICES,
                    f"{target.name!r} needs two or more choices to compare",
                )
            compare = target.name
    if len(errors.items) > before or code is None or aggregate is None:
        return None
    return FormIndicator(
        code=code,
        name=name,
        unit=unit,
        aggregate=aggregate,
        field=field_name,
        numerator=numerator,
        denominator=denominator,
        factor=factor,
        choice=choice,
        compare=compare,
        direction=direction or "increase",
        unit_label=unit_label,
    )


def validate_form(data: Any, *, taken_indicator_codes: Collection[str] = ()) -> FormCheck:
    """Check a form definition; ``taken_indicator_codes`` are result indicator codes that other
    forms already use (the server passes them; the activity indicator codes are always taken)."""
    errors = _Errors()
    if not isinstance(data, Mapping):
        errors.add("", ErrorCode.NOT_OBJECT, "a form definition is an object")
        return FormCheck(errors.items, None)
    _unknown_keys(data, _FORM_KEYS, "", errors)
    code = _code(data.get("code"), "code", errors, UPPER_SNAKE, "a form code")
    title = _labels(data.get("title"), "title", errors, MAX_LABEL, required=True)
    raw_fields = _list(data.get("fields"), "fields", errors, MAX_FIELDS)
    if not raw_fields and not any(i.field == "fields" for i in errors.items):
        errors.add("fields", ErrorCode.REQUIRED, "a form has at least one field")
    fields: dict[str, FormField] = {}
    ok_fields = True
    # Each field's name, so that a reference to a field further down says so.
    names = [raw.get("name") if isinstance(raw, Mapping) else None for raw in raw_fields]
    for i, raw in enumerate(raw_fields):
        later = {name for name in names[i + 1 :] if isinstance(name, str)}
        checked = _check_field(raw, f"fields[{i}]", errors, fields, later)
        if checked is None:
            ok_fields = False
            # Keep the name known, so later references say what is wrong with them.
            if isinstance(raw, Mapping) and isinstance(raw.get("name"), str):
                fields.setdefault(raw["name"], _placeholder(raw))
            continue
        fields[checked.name] = checked
    indicators: list[FormIndicator] = []
    seen: set[str] = set()
    for i, raw in enumerate(_list(data.get("indicators"), "indicators", errors, MAX_INDICATORS)):
        indicator = _check_indicator(
            raw, f"indicators[{i}]", errors, fields, set(taken_indicator_codes), seen
        )
        if indicator is not None:
            indicators.append(indicator)
    if errors.items or code is None or not ok_fields:
        return FormCheck(errors.items, None)
    definition = FormDefinition(code, title, tuple(fields.values()), tuple(indicators))
    return FormCheck([], definition)


def _placeholder(raw: Mapping[str, Any]) -> FormField:
    """A stand-in for a field with errors, typed as declared, so references to it are not also
    reported as unknown (its own errors are already listed)."""
    type_ = raw.get("type") if raw.get("type") in FIELD_TYPES else "text"
    found = raw.get("choices")
    choices: list[Any] = found if isinstance(found, list) else []
    codes = tuple(Choice(str(c.get("code")), {}) for c in choices if isinstance(c, Mapping))
    return FormField(str(raw.get("name")), str(type_), {}, choices=codes)


def definition_from_dict(data: Mapping[str, Any]) -> FormDefinition:
    """A stored (already validated) definition as typed data; raises ``ValueError`` if it is
    not valid after all."""
    check = validate_form(data)
    if check.definition is None:
        raise ValueError("; ".join(f"{i.field}: {i.message}" for i in check.errors))
    return check.definition
