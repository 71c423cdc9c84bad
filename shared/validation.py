"""The docs/product.md#domain rules as pure functions over wire data, run alike on the tablet and
the server.

Every ``validate_*`` function takes a record as it arrives on the wire (dates as ISO strings, ids
as UUID strings) and returns a :class:`Validation`: field-level errors (the record must not be
saved), data-quality warnings (it may), and a normalised copy. ``quality_flags`` adds the warnings
that need facts only the server has looked up. Standard library and ``shared`` only: this runs on
Android.

How records are read, decided here where the design (docs/) is silent:

- ``None`` and blank strings count as "not given": an error for a required field, ``None`` in
  ``clean`` for an optional one. Keys we do not know are ignored and left out of ``clean``.
- Whole numbers may arrive as integral floats (``3.0`` becomes ``3``); ``3.5``, ``"3"`` and
  booleans are not whole numbers.
- Codes are case-sensitive and compared after stripping spaces; UUIDs are accepted in any case
  and normalised to lower case; dates in any ISO 8601 form and normalised to ``YYYY-MM-DD``.
- Blank entries of text lists (facilitators, partners) are dropped; duplicate solutions merged.
- ``partial=True`` checks only the keys present (for patches); a rule across fields runs when
  all of its fields are present and valid.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.catalogue import (
    MODALITY_NAMES,
    SOLUTIONS,
    THEMATIC_AREAS,
    TOPICS,
    ActivityStatus,
    ActivityType,
    AgeBand,
    Delivery,
    Level,
    Modality,
    ParticipantCategory,
    ProjectKind,
    Sex,
    ValueChainStage,
    codes,
)
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES, country_name, haversine_km, in_country_bbox

# Limits, public so that forms can show them.
MAX_COUNT = 100_000  # one attendance row
MAX_ATTENDANCE_TOTAL = 1_000_000  # all rows of one activity
MAX_EXPERTS = 1_000
MAX_PARTICIPANT_IDS = 10_000
MAX_FACILITATORS = 50
MAX_PARTNERS = 50
MAX_SOLUTION_ENTRIES = 50  # repeats are merged, so more than nine entries may still be valid
TEXT_LIMITS = {
    "title": 200,
    "notes": 5_000,
    "facilitator": 120,
    "caption": 500,
    "project_code": 50,
    "name": 200,
    "admin_area": 200,
    "partner": 120,
    "priority_product": 120,
    "participant_code": 64,
}
FUTURE_DAYS = 1  # activity dates may be at most this many days after the server's today
EARLIEST_DATE = date(2000, 1, 1)  # before this a date is a typo (the COE started in 2016)
LATEST_DATE = date(2100, 12, 31)
PROJECT_HORIZON_YEARS = 10  # a project may not end more than this after today
OLDEST_AGE_YEARS = 110
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # photos are downscaled on the tablet first
ATTACHMENT_CONTENT_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
)

GPS_FAR_KM = 5.0
ATTENDANCE_UNUSUAL_FACTOR = 3.0
REPORTING_LAG_DAYS = 30

INDICATOR_CODES: tuple[str, ...] = (
    "ACTIVITIES",
    "DEMONSTRATIONS",
    "TRAININGS",
    "PARTICIPANTS",
    "WOMEN_PARTICIPANTS",
    "WOMEN_SHARE",
    "YOUTH_PARTICIPANTS",
    "PWD_PARTICIPANTS",
    "UNIQUE_PARTICIPANTS",
    "COUNTRIES_REACHED",
    "EXPERT_DAYS",
    "TARGET_ACHIEVEMENT",
)
UNTARGETABLE_INDICATORS = frozenset({"TARGET_ACHIEVEMENT"})  # computed from the targets
SEX_SPLIT_INDICATORS: tuple[str, ...] = (
    "PARTICIPANTS",
    "YOUTH_PARTICIPANTS",
    "PWD_PARTICIPANTS",
    "UNIQUE_PARTICIPANTS",
)
PERCENT_INDICATORS = frozenset({"WOMEN_SHARE"})

FIELD_STATUSES: tuple[str, ...] = (ActivityStatus.DRAFT.value, ActivityStatus.SUBMITTED.value)


WARNING_CODES = frozenset(
    {
        ErrorCode.TOPIC_NOT_IN_PROJECT,
        ErrorCode.MODALITY_NOT_ALLOWED,
        ErrorCode.SOLUTION_OUTSIDE_AREA,
        ErrorCode.LIKELY_DUPLICATE,
        ErrorCode.GPS_FAR_FROM_SITE,
        ErrorCode.ATTENDANCE_UNUSUAL,
        ErrorCode.PHOTO_REUSED,
        ErrorCode.REPORTING_LAG,
        ErrorCode.NO_PARTICIPANTS,
    }
)

# The activity types that gather people: one submitted with nobody counted is flagged
# (``no_participants``). An expert's deployment, a high-level visit or research may count
# nobody.
GATHERING_TYPES = frozenset(
    {
        ActivityType.DEMONSTRATION,
        ActivityType.FARMER_TRAINING,
        ActivityType.FIELD_DAY,
        ActivityType.WORKSHOP,
        ActivityType.SEMINAR,
        ActivityType.WEBINAR,
        ActivityType.STUDY_TOUR,
        ActivityType.EXCHANGE_VISIT,
        ActivityType.FARMER_TO_FARMER,
        ActivityType.ROUNDTABLE,
    }
)

MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.REQUIRED: "{field} is required",
    ErrorCode.PAIR_REQUIRED: "{field} is required when {other} is given",
    ErrorCode.NOT_OBJECT: "{field} must be an object, not {got}",
    ErrorCode.NOT_LIST: "{field} must be a list, not {got}",
    ErrorCode.NOT_TEXT: "{field} must be text, not {got}",
    ErrorCode.NOT_INTEGER: "{field} must be a whole number, not {got}",
    ErrorCode.NOT_NUMBER: "{field} must be a number, not {got}",
    ErrorCode.NOT_BOOLEAN: "{field} must be true or false, not {got}",
    ErrorCode.TOO_LONG: "{field} is {length} characters long; at most {high} are allowed",
    ErrorCode.CONTROL_CHARACTER: (
        "{field} contains an invisible control character ({char}); remove it"
    ),
    ErrorCode.TOO_MANY: "{field} has {count} entries; at most {high} are allowed",
    ErrorCode.UNKNOWN_CODE: "{field}: unknown {what} '{value}'; {choices}",
    ErrorCode.BAD_UUID: (
        "{field}: '{value}' is not a UUID; ids look like 123e4567-e89b-12d3-a456-426614174000"
    ),
    ErrorCode.BAD_DATE: "{field}: '{value}' is not a date; write it as YYYY-MM-DD, e.g. 2025-03-14",
    ErrorCode.BAD_DATETIME: (
        "{field}: '{value}' is not a date and time with a UTC offset; write it as ISO 8601, "
        "e.g. 2025-03-14T09:30:00+02:00"
    ),
    ErrorCode.BAD_PERIOD: (
        "{field}: '{value}' is not a period; use a year (2025), a quarter (2025Q3) "
        "or a month (2025-07)"
    ),
    ErrorCode.BAD_SHA256: (
        "{field}: '{value}' is not a SHA-256 digest; use 64 hexadecimal characters"
    ),
    ErrorCode.DATE_IMPLAUSIBLE: "{field}: {value} is implausible; use a date from {low} to {high}",
    ErrorCode.COUNT_RANGE: "{field}: {value} is out of range; use a whole number {low} to {high}",
    ErrorCode.VALUE_RANGE: "{field}: {value} is out of range; use a number {span}",
    ErrorCode.ABOVE_FIELD: "{field}: {value} is more than the answer to {other} ({limit})",
    ErrorCode.BELOW_FIELD: "{field}: {value} is less than the answer to {other} ({limit})",
    ErrorCode.LAT_RANGE: "{field}: latitude {value} is out of range; use -90 to 90",
    ErrorCode.LON_RANGE: "{field}: longitude {value} is out of range; use -180 to 180",
    ErrorCode.ACCURACY_RANGE: "{field}: {value} is not an accuracy; use 0 metres or more",
    ErrorCode.BIRTH_YEAR_RANGE: "{field}: {value} is implausible; use a year from {low} to {high}",
    ErrorCode.STATUS_NOT_ALLOWED: (
        "{field}: '{value}' cannot be set from the field; use draft or submitted "
        "(approved and returned are set by review)"
    ),
    ErrorCode.NOT_TARGETABLE: (
        "{field}: {value} is computed from the targets and cannot have a target; choose one of "
        "{allowed}"
    ),
    ErrorCode.END_BEFORE_START: (
        "{field}: {end} is before start_date {start}; the end must be on or after the start"
    ),
    ErrorCode.IN_FUTURE: (
        "{field}: {value} is in the future; dates may be at most {days} day after today "
        "({today}), so on or before {limit}"
    ),
    ErrorCode.OUTSIDE_PROJECT_DATES: (
        "{field}: {value} is outside the project's dates; use a date from {start} to {end}"
    ),
    ErrorCode.PROJECT_MISMATCH: (
        "{field}: '{value}' is not the project this record is checked against ('{expected}')"
    ),
    ErrorCode.SITE_NOT_IN_PROJECT: (
        "{field}: '{value}' is not a site of project {project}; choose one of its sites "
        "or leave the site empty"
    ),
    ErrorCode.OUTSIDE_COUNTRY: (
        "{field}: ({lat}, {lon}) lies outside {country} ({iso3}), the project's country; "
        "check the coordinates and their signs"
    ),
    ErrorCode.DUPLICATE_ROW: (
        "{field} repeats the row ({key}) of {first}; put the whole count in one row"
    ),
    ErrorCode.DUPLICATE_ID: (
        "{field}: '{value}' is listed twice (first at {first}); list each participant once"
    ),
    ErrorCode.ATTENDANCE_TOTAL: (
        "{field}: the counts add up to {total}; one activity may count at most {high}"
    ),
    ErrorCode.SEX_NOT_APPLICABLE: (
        "{field}: {indicator} is not split by sex; leave sex empty or choose one of {allowed}"
    ),
    ErrorCode.NOT_ASKED: "{field}: the form does not ask this given the other answers ({rule})",
    ErrorCode.TOPIC_NOT_IN_PROJECT: (
        "{field}: {value} belongs to solution {solution}, which is not one of the project's "
        "solutions ({solutions}); check the topic"
    ),
    ErrorCode.MODALITY_NOT_ALLOWED: (
        "{field}: {value} ({name}) is not a modality of solution {solution}, which allows "
        "{allowed}; check the modality or the topic"
    ),
    ErrorCode.SOLUTION_OUTSIDE_AREA: (
        "{field}: {value} belongs to thematic area {its_area}, not to the project's {area}; "
        "check the thematic area"
    ),
    ErrorCode.LIKELY_DUPLICATE: (
        "{field}: the project already has {count} other {activities} of this type at this site "
        "on {value}; check that this one is not entered twice"
    ),
    ErrorCode.GPS_FAR_FROM_SITE: (
        "{field}: recorded {distance} km from the site, more than {limit} km away; "
        "check the site or the GPS fix"
    ),
    ErrorCode.ATTENDANCE_UNUSUAL: (
        "{field}: {total} participants is more than {factor} times the project's usual "
        "{usual}; check the counts"
    ),
    ErrorCode.PHOTO_REUSED: (
        "{field}: a photo is also attached to another activity; check that it belongs to this one"
    ),
    ErrorCode.REPORTING_LAG: (
        "{field}: received {lag} days after the activity ended ({value}); "
        "activities should reach the server within {limit} days"
    ),
    ErrorCode.NO_PARTICIPANTS: (
        "{field}: nobody is counted at this {value}; add who attended, or check the type"
    ),
}


def issue(field: str, code: ErrorCode, **params: object) -> Issue:
    """An issue for ``field`` with the message of ``code`` filled in from ``params``, which it
    keeps as text (what the message shows of each) for a flag to store."""
    texts = {name: format(value) for name, value in params.items()}
    # The message from the texts: a placeholder without a format spec shows format(value).
    return Issue(field, code.value, MESSAGES[code].format(field=field or "record", **texts), texts)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _message_pattern(template: str) -> re.Pattern[str]:
    parts, seen, at = [], set(), 0
    for found in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[at : found.start()]))
        name = found.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        at = found.end()
    parts.append(re.escape(template[at:]))
    return re.compile("".join(parts), re.DOTALL)


def message_params(code: str, message: str) -> dict[str, str] | None:
    """The values ``issue`` filled into ``code``'s message, read back from the message (the
    migration that gave the flags stored before ``params`` theirs); None when the message is
    not that template's (an older server's wording, another code)."""
    try:
        template = MESSAGES[ErrorCode(code)]
    except (ValueError, KeyError):
        return None
    found = _message_pattern(template).fullmatch(message)
    return found.groupdict() if found else None


def is_warning(item: Issue) -> bool:
    return item.code in WARNING_CODES


@dataclass(frozen=True, slots=True)
class Validation:
    errors: list[Issue]
    warnings: list[Issue]
    clean: dict[str, Any]  # normalised copy; only meaningful when there are no errors

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    id: str
    country: str
    solutions: tuple[str, ...]
    start_date: date
    end_date: date
    # What messages call the project: a person knows it by its code, not by its id. Empty where
    # the caller does not know it; messages then fall back to the id.
    code: str = ""

    @property
    def named(self) -> str:
        """The project as a message names it: its code, else its id."""
        return self.code or self.id


@dataclass(frozen=True, slots=True)
class SiteFacts:
    id: str
    project_id: str
    lat: float | None
    lon: float | None


# ---------------------------------------------------------------------------------------------
# Value checkers: (value, field) -> (clean value, errors). They never see None or blank text.

Checked = tuple[Any, list[Issue]]
Check = Callable[[Any, str], Checked]


def _kind(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{_show(value)}'"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _show(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fail(field: str, code: ErrorCode, **params: object) -> Checked:
    return None, [issue(field, code, **params)]


# C0 controls but tab and line breaks, DEL, and the bidirectional overrides and isolates
# (U+202A-U+202E, U+2066-U+2069): invisible, they make a title read otherwise than it is
# ("Trojan source"), in the dashboard and in an export's file names.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _text(limit: int) -> Check:
    def check(value: Any, field: str) -> Checked:
        if not isinstance(value, str):
            return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
        text = value.strip()
        if len(text) > limit:
            return _fail(field, ErrorCode.TOO_LONG, length=len(text), high=limit)
        # Line breaks and tabs are text; other control characters (NUL above all, which
        # PostgreSQL cannot store) are not.
        bad = _CONTROL.search(text)
        if bad:
            return _fail(field, ErrorCode.CONTROL_CHARACTER, char=f"U+{ord(bad.group()):04X}")
        return text, []

    return check


def _code(what: str, allowed: Sequence[str], choices: str | None = None) -> Check:
    hint = choices or "allowed: " + ", ".join(allowed)

    def check(value: Any, field: str) -> Checked:
        if not isinstance(value, str):
            return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
        code = value.strip()
        if code not in allowed:
            return _fail(field, ErrorCode.UNKNOWN_CODE, what=what, value=_show(code), choices=hint)
        return code, []

    return check


def _check_topic(value: Any, field: str) -> Checked:
    if not isinstance(value, str):
        return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
    code = value.strip()
    if code in TOPICS:
        return code, []
    solution = code.split(".", 1)[0]
    if solution in SOLUTIONS:
        siblings = ", ".join(t for t, topic in TOPICS.items() if topic.solution == solution)
        hint = f"topics of {solution} are {siblings}"
    else:
        hint = f"topic codes are a solution and a number, e.g. S1.T2 (solutions {_solution_span()})"
    return _fail(field, ErrorCode.UNKNOWN_CODE, what="topic", value=_show(code), choices=hint)


def _solution_span() -> str:
    names = list(SOLUTIONS)
    return f"{names[0]}…{names[-1]}"


_check_country = _code(
    "country",
    tuple(COUNTRIES),
    "use the ISO 3166-1 alpha-3 code of a country served by a WFP regional bureau, "
    "e.g. LSO, KEN or PER",
)


# A UUID already in its canonical form (lower case, hyphenated): what ``str(uuid.UUID(…))``
# gives back unchanged, so it is taken as it is (the usual case: tablets send ids so).
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _check_uuid(value: Any, field: str) -> Checked:
    if not isinstance(value, str):
        return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
    if _CANONICAL_UUID.fullmatch(value):
        return value, []
    text = value.strip()
    if len(text) != 36 or text.count("-") != 4:
        return _fail(field, ErrorCode.BAD_UUID, value=_show(text))
    try:
        return str(uuid.UUID(text)), []
    except ValueError:
        return _fail(field, ErrorCode.BAD_UUID, value=_show(text))


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _check_date(value: Any, field: str) -> Checked:
    day = _parse_date(value)
    if day is None:
        return _fail(field, ErrorCode.BAD_DATE, value=_show(value))
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        return _fail(
            field, ErrorCode.DATE_IMPLAUSIBLE, value=day, low=EARLIEST_DATE, high=LATEST_DATE
        )
    return day.isoformat(), []


def _check_datetime(value: Any, field: str) -> Checked:
    try:
        moment = datetime.fromisoformat(value.strip()) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return _fail(field, ErrorCode.BAD_DATETIME, value=_show(value))
    return moment.isoformat(), []


def _whole(value: Any) -> int | None:
    """An int for whole numbers (3 or 3.0); None for anything else, booleans included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _integer(low: int, high: int, code: ErrorCode = ErrorCode.COUNT_RANGE) -> Check:
    def check(value: Any, field: str) -> Checked:
        number = _whole(value)
        if number is None:
            return _fail(field, ErrorCode.NOT_INTEGER, got=_kind(value))
        if not low <= number <= high:
            return _fail(field, code, value=number, low=low, high=high)
        return number, []

    return check


def _finite(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return value if math.isfinite(value) else None
    except OverflowError:  # an integer too large for any float: not a usable number
        return None


def _number(low: float, high: float, code: ErrorCode) -> Check:
    def check(value: Any, field: str) -> Checked:
        number = _finite(value)
        if number is None:
            return _fail(field, ErrorCode.NOT_NUMBER, got=_kind(value))
        if not low <= number <= high:
            return _fail(field, code, value=number, low=low, high=high, span=_span(low, high))
        return number, []

    return check


def _span(low: float, high: float) -> str:
    return f"from {low:g} to {high:g}" if math.isfinite(high) else f"of {low:g} or more"


def _check_bool(value: Any, field: str) -> Checked:
    if not isinstance(value, bool):
        return _fail(field, ErrorCode.NOT_BOOLEAN, got=_kind(value))
    return value, []


def _check_status(value: Any, field: str) -> Checked:
    if not isinstance(value, str):
        return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
    status = value.strip()
    if status not in FIELD_STATUSES:
        return _fail(field, ErrorCode.STATUS_NOT_ALLOWED, value=_show(status))
    return status, []


def validate_status(value: Any, field: str = "status") -> list[Issue]:
    """The problems of a record's ``status`` as a tablet sends it: only ``draft`` or
    ``submitted`` (the rest are the country office's to set)."""
    return _check_status(value, field)[1]


def _list_of(check: Check, limit: int, *, drop_blank: bool = False) -> Check:
    """A list whose entries each pass ``check``, at most ``limit`` of them."""

    def check_list(value: Any, field: str) -> Checked:
        if not isinstance(value, list | tuple):
            return _fail(field, ErrorCode.NOT_LIST, got=_kind(value))
        entries = [v for v in value if not (drop_blank and _is_blank(v))]
        if len(entries) > limit:
            return _fail(field, ErrorCode.TOO_MANY, count=len(entries), high=limit)
        clean: list[Any] = []
        errors: list[Issue] = []
        for index, entry in enumerate(entries):
            entry_field = f"{field}[{index}]"
            if _is_blank(entry):
                errors.append(issue(entry_field, ErrorCode.REQUIRED))
                continue
            item, item_errors = check(entry, entry_field)
            clean.append(item)
            errors += item_errors
        return clean, errors

    return check_list


def _distinct(check: Check) -> Check:
    """``check`` (a list check), then an error for each entry already listed."""

    def check_distinct(value: Any, field: str) -> Checked:
        entries, errors = check(value, field)
        if errors:
            return None, errors
        first: dict[Any, int] = {}
        for index, entry in enumerate(entries):
            if entry in first:
                errors.append(
                    issue(
                        f"{field}[{index}]",
                        ErrorCode.DUPLICATE_ID,
                        value=entry,
                        first=f"{field}[{first[entry]}]",
                    )
                )
            first.setdefault(entry, index)
        return entries, errors

    return check_distinct


def _unique(check: Check) -> Check:
    """``check`` (a list check), keeping the first of repeated entries."""

    def check_unique(value: Any, field: str) -> Checked:
        entries, errors = check(value, field)
        return (None, errors) if errors else (list(dict.fromkeys(entries)), [])

    return check_unique


def _object(fields: tuple[_Field, ...]) -> Check:
    """A nested object checked field by field (``location``, an attendance row)."""

    def check(value: Any, field: str) -> Checked:
        if not isinstance(value, Mapping):
            return _fail(field, ErrorCode.NOT_OBJECT, got=_kind(value))
        return _check_fields(value, fields, partial=False, prefix=f"{field}.")

    return check


# ---------------------------------------------------------------------------------------------
# Field tables and the loop that applies them.

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    check: Check
    required: bool = False
    default: Any = _MISSING  # put in clean when the key is absent from a full record


def _check_fields(
    data: Mapping[str, Any], fields: Sequence[_Field], *, partial: bool, prefix: str = ""
) -> tuple[dict[str, Any], list[Issue]]:
    clean: dict[str, Any] = {}
    errors: list[Issue] = []
    for spec in fields:
        _check_field(data, spec, clean, errors, partial=partial, prefix=prefix)
    return clean, errors


def _check_field(
    data: Mapping[str, Any],
    spec: _Field,
    clean: dict[str, Any],
    errors: list[Issue],
    *,
    partial: bool,
    prefix: str = "",
) -> None:
    """One field of ``_check_fields``: its clean value into ``clean``, or its errors."""
    name = prefix + spec.name
    if spec.name not in data:
        if partial:
            return
        if spec.required:
            errors.append(issue(name, ErrorCode.REQUIRED))
        elif spec.default is not _MISSING:
            clean[spec.name] = spec.default
        return
    value = data[spec.name]
    if _is_blank(value):
        if spec.required:
            errors.append(issue(name, ErrorCode.REQUIRED))
        else:
            clean[spec.name] = None
        return
    checked, field_errors = spec.check(value, name)
    if field_errors:
        errors += field_errors
    else:
        clean[spec.name] = checked


def _result(
    data: object,
    fields: Sequence[_Field],
    partial: bool,
    rules: Callable[[dict[str, Any]], list[Issue]],
) -> Validation:
    """Apply a field table, then the cross-field ``rules`` to what came out valid."""
    if not isinstance(data, Mapping):
        return Validation([issue("", ErrorCode.NOT_OBJECT, got=_kind(data))], [], {})
    clean, errors = _check_fields(data, fields, partial=partial)
    found = rules(clean)
    errors += [i for i in found if not is_warning(i)]
    return Validation(errors, [i for i in found if is_warning(i)], clean)


# ---------------------------------------------------------------------------------------------
# Attendance

ATTENDANCE_KEY = ("sex", "age_band", "category", "disability")
_ATTENDANCE_ROW = (
    _Field("sex", _code("sex", codes(Sex)), required=True),
    _Field("age_band", _code("age band", codes(AgeBand)), required=True),
    _Field("category", _code("participant category", codes(ParticipantCategory)), required=True),
    _Field("disability", _check_bool, required=True),
    _Field("count", _integer(0, MAX_COUNT), required=True),
)
# Each key may appear once, so a longer list cannot be valid.
MAX_ATTENDANCE_ROWS = len(Sex) * len(AgeBand) * len(ParticipantCategory) * 2


def _row_key(row: Mapping[str, Any]) -> str:
    sex, age_band, category, disability = (row[k] for k in ATTENDANCE_KEY)
    return f"{sex}, {age_band}, {category}, disability={'yes' if disability else 'no'}"


_check_attendance_rows = _list_of(_object(_ATTENDANCE_ROW), MAX_ATTENDANCE_ROWS)
# Every key a row may have, each with a bit of its own: one look-up checks a row's three codes
# and its flag at once (``0`` and ``1`` match ``False`` and ``True`` here; the row's check tells
# them apart), and the bits seen tell a key given twice.
_ROW_BITS = {
    key: 1 << n
    for n, key in enumerate(
        itertools.product(codes(Sex), codes(AgeBand), codes(ParticipantCategory), (False, True))
    )
}


def _plain_attendance(value: Any) -> list[dict[str, Any]] | None:
    """The clean rows when the rows are already exactly clean, each and together (the usual
    case: a tablet sends what it validated), else None and the rows take the full check. What it
    returns is what the full check returns for such rows: codes from the vocabularies, real
    booleans, whole counts in range, nothing to strip or convert, no key twice, a total within
    bounds. One pass: each row is read once."""
    if type(value) is not list or len(value) > MAX_ATTENDANCE_ROWS:
        return None
    clean = []
    seen = total = 0
    try:
        for row in value:
            if type(row) is not dict:
                return None
            key = (row["sex"], row["age_band"], row["category"], row["disability"])
            bit = _ROW_BITS.get(key)  # an unhashable value raises TypeError
            count = row["count"]
            if (
                bit is None
                or seen & bit
                or type(key[3]) is not bool
                or type(count) is not int
                or not 0 <= count <= MAX_COUNT
            ):
                return None
            seen |= bit
            total += count
            clean.append(
                {
                    "sex": key[0],
                    "age_band": key[1],
                    "category": key[2],
                    "disability": key[3],
                    "count": count,
                }
            )
    except (KeyError, TypeError):
        return None
    return clean if total <= MAX_ATTENDANCE_TOTAL else None


def _check_attendance(value: Any, field: str) -> Checked:
    plain = _plain_attendance(value)
    if plain is not None:
        return plain, []
    rows, errors = _check_attendance_rows(value, field)
    if errors:
        return None, errors
    first: dict[tuple[Any, ...], int] = {}
    for index, row in enumerate(rows):
        # The same key as _row_key's text (codes hold no ", "), without building the text.
        key = (row["sex"], row["age_band"], row["category"], bool(row["disability"]))
        if key in first:
            errors.append(
                issue(
                    f"{field}[{index}]",
                    ErrorCode.DUPLICATE_ROW,
                    key=_row_key(row),
                    first=f"{field}[{first[key]}]",
                )
            )
        first.setdefault(key, index)
    total = sum(row["count"] for row in rows)
    if total > MAX_ATTENDANCE_TOTAL:
        errors.append(
            issue(field, ErrorCode.ATTENDANCE_TOTAL, total=total, high=MAX_ATTENDANCE_TOTAL)
        )
    return (None, errors) if errors else (rows, [])


def validate_attendance(rows: Any, field: str = "attendance") -> list[Issue]:
    """The errors in a list of attendance rows ``{sex, age_band, category, disability, count}``."""
    if rows is None:
        return [issue(field, ErrorCode.REQUIRED)]
    return _check_attendance(rows, field)[1]


def attendance_total(rows: Any) -> int:
    """The sum of the whole-number counts of attendance rows; anything malformed counts 0."""
    if not isinstance(rows, list | tuple):
        return 0
    total = 0
    for row in rows:
        count = row.get("count") if type(row) is dict else None
        if type(count) is not int:  # the usual int takes no detour
            if not isinstance(row, Mapping):
                continue
            count = _whole(row.get("count"))
            if count is None:
                continue
        if count > 0:
            total += count
    return total


# ---------------------------------------------------------------------------------------------
# Activity

_LOCATION = (
    _Field("lat", _number(-90, 90, ErrorCode.LAT_RANGE), required=True),
    _Field("lon", _number(-180, 180, ErrorCode.LON_RANGE), required=True),
    _Field("accuracy_m", _number(0, math.inf, ErrorCode.ACCURACY_RANGE)),
)

_ACTIVITY = (
    _Field("id", _check_uuid, required=True),
    _Field("project_id", _check_uuid, required=True),
    _Field("site_id", _check_uuid),
    _Field("type", _code("activity type", codes(ActivityType)), required=True),
    _Field("title", _text(TEXT_LIMITS["title"]), required=True),
    _Field("start_date", _check_date, required=True),
    _Field("end_date", _check_date, required=True),
    _Field("topic", _check_topic),
    _Field("modality", _code("modality", codes(Modality))),
    _Field("level", _code("level", codes(Level))),
    _Field("delivery", _code("delivery", codes(Delivery)), default=Delivery.IN_PERSON.value),
    _Field("value_chain_stage", _code("value-chain stage", codes(ValueChainStage))),
    _Field(
        "facilitators",
        _list_of(_text(TEXT_LIMITS["facilitator"]), MAX_FACILITATORS, drop_blank=True),
    ),
    _Field("experts_count", _integer(0, MAX_EXPERTS)),
    _Field("location", _object(_LOCATION)),
    _Field("notes", _text(TEXT_LIMITS["notes"])),
    _Field("attendance", _check_attendance, required=True),
    _Field("participant_ids", _distinct(_list_of(_check_uuid, MAX_PARTICIPANT_IDS))),
    _Field("status", _check_status),
    _Field("captured_at", _check_datetime),
)


def validate_activity(
    data: Mapping[str, Any],
    *,
    project: ProjectFacts | None,
    sites: Mapping[str, SiteFacts] | None = None,
    today: date,
    partial: bool = False,
) -> Validation:
    """Check an activity. ``today`` is the server's date (never the device clock); ``sites``,
    when given, are the sites the activity may use (keyed by id).

    A whole record (``partial=False``) takes the fast path (``_plain_activity``): each field
    already exactly clean is taken as it is, and only the others go through their full check;
    the cross-field rules are checked in one pass and, if any of them might fire, applied in
    full. The result is the one the full checks give (tests/shared/test_validation_activity_fast.py
    and, for the attendance, test_validation_fast_path.py)."""
    if not partial and type(data) is dict:
        return _plain_activity(data, project, sites, today)
    return _full_activity(data, project=project, sites=sites, today=today, partial=partial)


def _full_activity(
    data: Mapping[str, Any],
    *,
    project: ProjectFacts | None,
    sites: Mapping[str, SiteFacts] | None = None,
    today: date,
    partial: bool = False,
) -> Validation:
    """``validate_activity`` the long way: every field through its check, every rule run."""

    def rules(clean: dict[str, Any]) -> list[Issue]:
        return [
            *_date_order(clean),
            *_not_in_future(clean, today),
            *_within_project_dates(clean, project),
            *_same_project(clean, project),
            *_site_of_project(clean, project, sites),
            *_topic_in_project(clean, project),
            *_modality_of_topic(clean),
        ]

    return _result(data, _ACTIVITY, partial, rules)


# --- the fast path of a whole activity ------------------------------------------------------
# For each field, a function that returns the field's clean value when the value given is
# already exactly what its full check would return (so that check could not find anything to
# say), or ``_NOT_PLAIN``; then the field takes its full check. Fields without one always do.

_NOT_PLAIN = object()
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EARLIEST_TEXT, _LATEST_TEXT = EARLIEST_DATE.isoformat(), LATEST_DATE.isoformat()


def _plain_uuid(value: Any) -> Any:
    # Lower-case canonical text: str(uuid.UUID(value)) gives it back unchanged.
    if type(value) is str and _UUID_TEXT.fullmatch(value) is not None:
        return value
    return _NOT_PLAIN


def _plain_code(allowed: Sequence[str]) -> Callable[[Any], Any]:
    known = frozenset(allowed)
    assert all(c == c.strip() and c for c in known), known  # a code in the set is stripped

    def plain(value: Any) -> Any:
        return value if type(value) is str and value in known else _NOT_PLAIN

    return plain


def _plain_text(limit: int, *, blank: Any = _NOT_PLAIN) -> Callable[[Any], Any]:
    """Text already stripped, within ``limit``, without control characters; blank text gives
    ``blank`` (None for an optional field, as the full check gives: "not given")."""

    def plain(value: Any) -> Any:
        if type(value) is not str:
            return _NOT_PLAIN
        if value and len(value) <= limit and value.strip() == value:
            return value if _CONTROL.search(value) is None else _NOT_PLAIN
        return blank if not value.strip() else _NOT_PLAIN

    return plain


def _plain_day(value: Any) -> Any:
    # YYYY-MM-DD within the plausible years: date.isoformat() gives it back unchanged.
    if (
        type(value) is str
        and _DAY_TEXT.fullmatch(value) is not None
        and _EARLIEST_TEXT <= value <= _LATEST_TEXT
    ):
        try:
            date.fromisoformat(value)
        except ValueError:
            return _NOT_PLAIN
        return value
    return _NOT_PLAIN


def _plain_number(value: Any, low: float, high: float) -> bool:
    if type(value) is float:
        return math.isfinite(value) and low <= value <= high
    return type(value) is int and low <= value <= high


def _plain_location(value: Any) -> Any:
    if type(value) is not dict:
        return _NOT_PLAIN
    lat, lon = value.get("lat"), value.get("lon")
    if not (_plain_number(lat, -90, 90) and _plain_number(lon, -180, 180)):
        return _NOT_PLAIN  # NaN fails the range test too
    clean: dict[str, Any] = {"lat": lat, "lon": lon}
    if "accuracy_m" in value:
        accuracy = value["accuracy_m"]
        if accuracy is None:
            clean["accuracy_m"] = None
        elif _plain_number(accuracy, 0, math.inf):
            clean["accuracy_m"] = accuracy
        else:
            return _NOT_PLAIN
    return clean


_plain_facilitator = _plain_text(TEXT_LIMITS["facilitator"])


def _plain_facilitators(value: Any) -> Any:
    if type(value) is not list or len(value) > MAX_FACILITATORS:
        return _NOT_PLAIN
    for entry in value:
        if _plain_facilitator(entry) is _NOT_PLAIN:
            return _NOT_PLAIN
    return list(value)


def _plain_experts(value: Any) -> Any:
    return value if type(value) is int and 0 <= value <= MAX_EXPERTS else _NOT_PLAIN


def _plain_rows(value: Any) -> Any:
    rows = _plain_attendance(value)
    return _NOT_PLAIN if rows is None else rows


def _plain_participant_ids(value: Any) -> Any:
    # Canonical ids, none twice: the full check's list, nothing converted, nothing to report.
    if type(value) is not list or len(value) > MAX_PARTICIPANT_IDS:
        return _NOT_PLAIN
    for entry in value:
        if type(entry) is not str or _UUID_TEXT.fullmatch(entry) is None:
            return _NOT_PLAIN
    return list(value) if len(set(value)) == len(value) else _NOT_PLAIN


# A moment as ``datetime.isoformat()`` writes one with whole seconds and an offset, each part
# in its range: once it parses, that is what _check_datetime gives back (but for "-00:00",
# written "+00:00"). Out of range, a part may be carried over (an offset "-00:60" is
# "-01:00"; a later Python may read the hour 24 as the next day's midnight).
_MOMENT_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]"
)


def _plain_datetime(value: Any) -> Any:
    if (
        type(value) is str
        and _MOMENT_TEXT.fullmatch(value) is not None
        and not value.endswith("-00:00")
    ):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return _NOT_PLAIN
        return value
    return _NOT_PLAIN


_PLAIN_ACTIVITY: dict[str, Callable[[Any], Any]] = {
    "id": _plain_uuid,
    "project_id": _plain_uuid,
    "site_id": _plain_uuid,
    "type": _plain_code(codes(ActivityType)),
    "title": _plain_text(TEXT_LIMITS["title"]),
    "start_date": _plain_day,
    "end_date": _plain_day,
    "topic": _plain_code(tuple(TOPICS)),
    "modality": _plain_code(codes(Modality)),
    "level": _plain_code(codes(Level)),
    "delivery": _plain_code(codes(Delivery)),
    "value_chain_stage": _plain_code(codes(ValueChainStage)),
    "facilitators": _plain_facilitators,
    "experts_count": _plain_experts,
    "location": _plain_location,
    "notes": _plain_text(TEXT_LIMITS["notes"], blank=None),
    "attendance": _plain_rows,
    "participant_ids": _plain_participant_ids,
    "status": _plain_code(FIELD_STATUSES),
    "captured_at": _plain_datetime,
}
_ACTIVITY_PLAIN = tuple((spec.name, _PLAIN_ACTIVITY.get(spec.name), spec) for spec in _ACTIVITY)


def _plain_activity(
    data: dict[str, Any],
    project: ProjectFacts | None,
    sites: Mapping[str, SiteFacts] | None,
    today: date,
) -> Validation:
    """``_full_activity(data, partial=False)``, faster for fields that are already clean: a
    null is "not given" (as in ``_check_field``), a key left out matters only to a required
    field or one with a default."""
    clean: dict[str, Any] = {}
    errors: list[Issue] = []
    get = data.get
    for name, plain, spec in _ACTIVITY_PLAIN:
        value = get(name, _NOT_PLAIN)
        if value is None:
            if spec.required:
                errors.append(issue(name, ErrorCode.REQUIRED))
            else:
                clean[name] = None
            continue
        if value is _NOT_PLAIN:
            if spec.required or spec.default is not _MISSING:
                _check_field(data, spec, clean, errors, partial=False)
            continue
        if plain is not None:
            value = plain(value)
            if value is not _NOT_PLAIN:
                clean[name] = value
                continue
        _check_field(data, spec, clean, errors, partial=False)
    if _rules_pass(clean, project, sites, today):
        return Validation(errors, [], clean)
    return _full_rules(clean, errors, project, sites, today)


def _full_rules(
    clean: dict[str, Any],
    errors: list[Issue],
    project: ProjectFacts | None,
    sites: Mapping[str, SiteFacts] | None,
    today: date,
) -> Validation:
    found = [
        *_date_order(clean),
        *_not_in_future(clean, today),
        *_within_project_dates(clean, project),
        *_same_project(clean, project),
        *_site_of_project(clean, project, sites),
        *_topic_in_project(clean, project),
        *_modality_of_topic(clean),
    ]
    errors += [i for i in found if not is_warning(i)]
    return Validation(errors, [i for i in found if is_warning(i)], clean)


def _rules_pass(
    clean: Mapping[str, Any],
    project: ProjectFacts | None,
    sites: Mapping[str, SiteFacts] | None,
    today: date,
) -> bool:
    """Whether none of validate_activity's cross-field rules can fire (False: run them)."""
    start, end = clean.get("start_date"), clean.get("end_date")
    if start is None or end is None or not start <= end:  # clean days compare as text
        return False
    future, first, last = _bounds(today, project)
    if end > future or (first is not None and not first <= start) or (last and end > last):
        return False
    if project is not None:
        given = clean.get("project_id")
        if given is not None and given != str(project.id).lower():
            return False
    site_id = clean.get("site_id")
    if site_id is not None and sites is not None:
        site = sites.get(site_id)  # else the rule looks further (ids in another case)
        if site is None:
            return False
        project_id = clean.get("project_id") or (str(project.id).lower() if project else None)
        if project_id is not None and str(site.project_id).lower() != project_id:
            return False
    topic = clean.get("topic")
    if topic is not None:
        solution = TOPICS[topic].solution
        if project is not None and solution not in project.solutions:
            return False
        modality = clean.get("modality")
        if modality is not None and modality not in SOLUTIONS[solution].modalities:
            return False
    return True


_bounds_cache: dict[tuple[date, ProjectFacts | None], tuple[str, str | None, str | None]] = {}
# The last (today, project, bounds): a batch asks again for the same project object, and
# telling it by identity spares hashing its facts.
_last_bounds: tuple[date | None, ProjectFacts | None, tuple[str, str | None, str | None]] = (
    None,
    None,
    ("", None, None),
)


def _bounds(today: date, project: ProjectFacts | None) -> tuple[str, str | None, str | None]:
    """The latest day allowed, and the project's first and last days, as ISO text."""
    global _last_bounds
    last = _last_bounds  # one read: another thread may replace it meanwhile
    if last[1] is project and last[0] == today:
        return last[2]
    key = (today, project)
    found = _bounds_cache.get(key)
    if found is None:
        if len(_bounds_cache) > 256:
            _bounds_cache.clear()
        found = (
            (today + timedelta(days=FUTURE_DAYS)).isoformat(),
            project.start_date.isoformat() if project else None,
            project.end_date.isoformat() if project else None,
        )
        _bounds_cache[key] = found
    _last_bounds = (today, project, found)
    return found


def _dates(clean: Mapping[str, Any], *names: str) -> list[tuple[str, date]]:
    return [(n, date.fromisoformat(clean[n])) for n in names if clean.get(n)]


def _date_order(clean: Mapping[str, Any]) -> list[Issue]:
    found = dict(_dates(clean, "start_date", "end_date"))
    if len(found) == 2 and found["end_date"] < found["start_date"]:
        return [
            issue(
                "end_date",
                ErrorCode.END_BEFORE_START,
                end=found["end_date"],
                start=found["start_date"],
            )
        ]
    return []


def _not_in_future(clean: Mapping[str, Any], today: date) -> list[Issue]:
    limit = today + timedelta(days=FUTURE_DAYS)
    return [
        issue(name, ErrorCode.IN_FUTURE, value=day, days=FUTURE_DAYS, today=today, limit=limit)
        for name, day in _dates(clean, "start_date", "end_date")
        if day > limit
    ]


def _within_project_dates(clean: Mapping[str, Any], project: ProjectFacts | None) -> list[Issue]:
    if project is None:
        return []
    return [
        issue(
            name,
            ErrorCode.OUTSIDE_PROJECT_DATES,
            value=day,
            start=project.start_date,
            end=project.end_date,
        )
        for name, day in _dates(clean, "start_date", "end_date")
        if not project.start_date <= day <= project.end_date
    ]


def _same_project(clean: Mapping[str, Any], project: ProjectFacts | None) -> list[Issue]:
    given = clean.get("project_id")
    if project is None or given is None or given == str(project.id).lower():
        return []
    return [issue("project_id", ErrorCode.PROJECT_MISMATCH, value=given, expected=project.id)]


def _site_of_project(
    clean: Mapping[str, Any],
    project: ProjectFacts | None,
    sites: Mapping[str, SiteFacts] | None,
) -> list[Issue]:
    site_id = clean.get("site_id")
    if sites is None or site_id is None:
        return []
    project_id = clean.get("project_id") or (str(project.id).lower() if project else None)
    site = sites.get(site_id) or next(
        (facts for key, facts in sites.items() if str(key).lower() == site_id), None
    )
    if site is not None and (project_id is None or str(site.project_id).lower() == project_id):
        return []
    named = project_id or "unknown"
    if project is not None and str(project.id).lower() == project_id:
        named = project.named
    return [issue("site_id", ErrorCode.SITE_NOT_IN_PROJECT, value=site_id, project=named)]


def _topic_in_project(clean: Mapping[str, Any], project: ProjectFacts | None) -> list[Issue]:
    topic = clean.get("topic")
    if project is None or topic is None:
        return []
    solution = TOPICS[topic].solution
    if solution in project.solutions:
        return []
    return [
        issue(
            "topic",
            ErrorCode.TOPIC_NOT_IN_PROJECT,
            value=topic,
            solution=solution,
            solutions=", ".join(project.solutions) or "none",
        )
    ]


def _modality_of_topic(clean: Mapping[str, Any]) -> list[Issue]:
    topic, modality = clean.get("topic"), clean.get("modality")
    if topic is None or modality is None:
        return []
    solution = SOLUTIONS[TOPICS[topic].solution]
    if modality in solution.modalities:
        return []
    return [
        issue(
            "modality",
            ErrorCode.MODALITY_NOT_ALLOWED,
            value=modality,
            name=MODALITY_NAMES[Modality(modality)].lower(),
            solution=solution.code,
            allowed=", ".join(m.value for m in solution.modalities),
        )
    ]


# ---------------------------------------------------------------------------------------------
# Project

_PROJECT = (
    _Field("id", _check_uuid),
    _Field("code", _text(TEXT_LIMITS["project_code"]), required=True),
    _Field("name", _text(TEXT_LIMITS["name"]), required=True),
    _Field("kind", _code("project kind", codes(ProjectKind)), required=True),
    _Field("country", _check_country, required=True),
    _Field("thematic_area", _code("thematic area", tuple(THEMATIC_AREAS)), required=True),
    _Field(
        "solutions",
        _unique(_list_of(_code("solution", tuple(SOLUTIONS)), MAX_SOLUTION_ENTRIES)),
        required=True,
    ),
    _Field(
        "partners",
        _list_of(_text(TEXT_LIMITS["partner"]), MAX_PARTNERS, drop_blank=True),
    ),
    _Field("priority_product", _text(TEXT_LIMITS["priority_product"])),
    _Field("start_date", _check_date, required=True),
    _Field("end_date", _check_date, required=True),
)


def validate_project(
    data: Mapping[str, Any], *, today: date | None = None, partial: bool = False
) -> Validation:
    """Check a project. With ``today``, dates more than PROJECT_HORIZON_YEARS ahead are refused.

    An unknown solution is an error; a known solution of another thematic area only a warning
    (a pilot may well combine, say, a value chain with post-harvest storage).
    """

    def rules(clean: dict[str, Any]) -> list[Issue]:
        return [
            *_at_least_one_solution(clean),
            *_solutions_in_area(clean),
            *_date_order(clean),
            *_within_horizon(clean, today),
        ]

    return _result(data, _PROJECT, partial, rules)


def _at_least_one_solution(clean: Mapping[str, Any]) -> list[Issue]:
    if clean.get("solutions") == []:
        return [issue("solutions", ErrorCode.REQUIRED)]
    return []


def _solutions_in_area(clean: Mapping[str, Any]) -> list[Issue]:
    area = clean.get("thematic_area")
    if area is None:
        return []
    return [
        issue(
            f"solutions[{index}]",
            ErrorCode.SOLUTION_OUTSIDE_AREA,
            value=code,
            its_area=SOLUTIONS[code].thematic_area,
            area=area,
        )
        for index, code in enumerate(clean.get("solutions") or ())
        if SOLUTIONS[code].thematic_area != area
    ]


def _within_horizon(clean: Mapping[str, Any], today: date | None) -> list[Issue]:
    if today is None:
        return []
    high = date(today.year + PROJECT_HORIZON_YEARS, 12, 31)
    return [
        issue(name, ErrorCode.DATE_IMPLAUSIBLE, value=day, low=EARLIEST_DATE, high=high)
        for name, day in _dates(clean, "start_date", "end_date")
        if day > high
    ]


# ---------------------------------------------------------------------------------------------
# Site

_SITE = (
    _Field("id", _check_uuid),
    _Field("project_id", _check_uuid, required=True),
    _Field("name", _text(TEXT_LIMITS["name"]), required=True),
    _Field("admin_area", _text(TEXT_LIMITS["admin_area"])),
    _Field("lat", _number(-90, 90, ErrorCode.LAT_RANGE)),
    _Field("lon", _number(-180, 180, ErrorCode.LON_RANGE)),
)


def validate_site(
    data: Mapping[str, Any], *, project: ProjectFacts | None, partial: bool = False
) -> Validation:
    """Check a site. Coordinates are optional but come in pairs; with ``project``, a site outside
    the project's country (its bounding box, with a small margin) is refused."""

    def rules(clean: dict[str, Any]) -> list[Issue]:
        return [
            *_same_project(clean, project),
            *_coordinates_paired(data, clean, partial),
            *_inside_country(clean, project),
        ]

    return _result(data, _SITE, partial, rules)


def _coordinates_paired(
    data: Mapping[str, Any], clean: Mapping[str, Any], partial: bool
) -> list[Issue]:
    found = []
    for name, other in (("lat", "lon"), ("lon", "lat")):
        given = not _is_blank(data.get(other))
        missing = _is_blank(data.get(name)) and (name in data or not partial)
        if given and missing:
            found.append(issue(name, ErrorCode.PAIR_REQUIRED, other=other))
    return found


def _inside_country(clean: Mapping[str, Any], project: ProjectFacts | None) -> list[Issue]:
    lat, lon = clean.get("lat"), clean.get("lon")
    if project is None or lat is None or lon is None or in_country_bbox(project.country, lat, lon):
        return []
    return [
        issue(
            "lat",
            ErrorCode.OUTSIDE_COUNTRY,
            lat=lat,
            lon=lon,
            country=country_name(project.country),
            iso3=project.country,
        )
    ]


# ---------------------------------------------------------------------------------------------
# Participant (roster mode)


def _participant_fields(today: date) -> tuple[_Field, ...]:
    return (
        _Field("id", _check_uuid),
        _Field("project_id", _check_uuid, required=True),
        _Field("code", _text(TEXT_LIMITS["participant_code"]), required=True),
        _Field("name", _text(TEXT_LIMITS["name"])),
        _Field("sex", _code("sex", codes(Sex))),
        _Field(
            "birth_year",
            _integer(today.year - OLDEST_AGE_YEARS, today.year, ErrorCode.BIRTH_YEAR_RANGE),
        ),
        _Field("category", _code("participant category", codes(ParticipantCategory))),
        _Field("disability", _check_bool),
    )


def validate_participant(
    data: Mapping[str, Any], *, today: date, partial: bool = False
) -> Validation:
    """Check a roster participant: a project and a code are required, the rest optional."""
    return _result(data, _participant_fields(today), partial, lambda clean: [])


# ---------------------------------------------------------------------------------------------
# Target

_PERIOD = re.compile(r"(?P<year>\d{4})(?:Q[1-4]|-(?:0[1-9]|1[0-2]))?")


def _check_period(value: Any, field: str) -> Checked:
    if not isinstance(value, str):
        return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
    period = value.strip()
    match = _PERIOD.fullmatch(period)
    if match is None:
        return _fail(field, ErrorCode.BAD_PERIOD, value=_show(period))
    if not EARLIEST_DATE.year <= int(match["year"]) <= LATEST_DATE.year:
        return _fail(
            field, ErrorCode.DATE_IMPLAUSIBLE, value=period, low=EARLIEST_DATE, high=LATEST_DATE
        )
    return period, []


def _indicator(indicators: Collection[str]) -> Check:
    allowed = [code for code in indicators if code not in UNTARGETABLE_INDICATORS]
    plain = _code("indicator", allowed)

    def check(value: Any, field: str) -> Checked:
        if isinstance(value, str) and value.strip() in UNTARGETABLE_INDICATORS:
            return _fail(
                field, ErrorCode.NOT_TARGETABLE, value=value.strip(), allowed=", ".join(allowed)
            )
        return plain(value, field)

    return check


TARGET_KINDS: tuple[str, ...] = ("target", "baseline")


def validate_target(
    data: Mapping[str, Any],
    *,
    partial: bool = False,
    indicators: Collection[str] = INDICATOR_CODES,
    percent: Collection[str] = (),
) -> Validation:
    """Check a target: indicator, period (2025, 2025Q3 or 2025-07), value ≥ 0, optional sex;
    at most 100 for a percentage (``PERCENT_INDICATORS`` and the result indicators in
    ``percent``)."""
    fields = (
        _Field("id", _check_uuid),
        _Field("project_id", _check_uuid, required=True),
        _Field("indicator", _indicator(indicators), required=True),
        _Field("period", _check_period, required=True),
        _Field("value", _number(0, math.inf, ErrorCode.VALUE_RANGE), required=True),
        _Field("sex", _code("sex", codes(Sex))),
        # "baseline": the value before the project, for result indicators (docs/results.md)
        _Field("kind", _code("kind", TARGET_KINDS)),
    )

    percentages = PERCENT_INDICATORS | frozenset(percent)

    def rules(clean: dict[str, Any]) -> list[Issue]:
        return [*_sex_applies(clean), *_percent_at_most_100(clean, percentages)]

    return _result(data, fields, partial, rules)


def _sex_applies(clean: Mapping[str, Any]) -> list[Issue]:
    indicator = clean.get("indicator")
    if indicator is None or clean.get("sex") is None or indicator in SEX_SPLIT_INDICATORS:
        return []
    return [
        issue(
            "sex",
            ErrorCode.SEX_NOT_APPLICABLE,
            indicator=indicator,
            allowed=", ".join(SEX_SPLIT_INDICATORS),
        )
    ]


def _percent_at_most_100(clean: Mapping[str, Any], percentages: Collection[str]) -> list[Issue]:
    value = clean.get("value")
    if clean.get("indicator") not in percentages or value is None or value <= 100:
        return []
    # ``low`` and ``high`` as the number check gives them, for a reader's words
    return [issue("value", ErrorCode.VALUE_RANGE, value=value, low=0, high=100, span=_span(0, 100))]


# ---------------------------------------------------------------------------------------------
# Attachment (metadata; the bytes travel separately)

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _check_sha256(value: Any, field: str) -> Checked:
    if not isinstance(value, str):
        return _fail(field, ErrorCode.NOT_TEXT, got=_kind(value))
    digest = value.strip()
    if _SHA256.fullmatch(digest) is None:
        return _fail(field, ErrorCode.BAD_SHA256, value=_show(digest))
    return digest.lower(), []


_ATTACHMENT = (
    _Field("id", _check_uuid, required=True),
    _Field("activity_id", _check_uuid),
    _Field("observation_id", _check_uuid),
    _Field("sha256", _check_sha256, required=True),
    _Field("size", _integer(1, MAX_ATTACHMENT_BYTES), required=True),
    _Field("content_type", _code("content type", ATTACHMENT_CONTENT_TYPES), required=True),
    _Field("caption", _text(TEXT_LIMITS["caption"])),
)


def validate_attachment(data: Mapping[str, Any], *, partial: bool = False) -> Validation:
    """Check attachment metadata: id, activity or observation (exactly one of them), sha256,
    size, content type, caption."""

    def rules(clean: dict[str, Any]) -> list[Issue]:
        if partial:
            return []
        owners = [name for name in ("activity_id", "observation_id") if clean.get(name)]
        if not owners and not _owner_errors(data):
            return [issue("activity_id", ErrorCode.REQUIRED)]
        if len(owners) == 2:
            return [
                Issue(
                    "observation_id",
                    ErrorCode.INVALID,
                    "observation_id: a photo belongs to an activity or to an observation, "
                    "not both; leave activity_id out",
                )
            ]
        return []

    return _result(data, _ATTACHMENT, partial, rules)


def _owner_errors(data: Mapping[str, Any]) -> bool:
    """Whether an owner id was given but malformed (its own error already says so)."""
    return any(not _is_blank(data.get(name)) for name in ("activity_id", "observation_id"))


# ---------------------------------------------------------------------------------------------
# Data-quality flags: warnings from facts the server has looked up.


def quality_flags(
    activity: Mapping[str, Any],
    *,
    site: SiteFacts | None,
    same_day_duplicates: int,
    usual_attendance: float | None,
    reused_photo: bool,
    received_on: date,
) -> list[Issue]:
    """The data-quality warnings of an (already validated) activity.

    ``same_day_duplicates``: other live activities of the same project, site, type and start
    date; ``usual_attendance``: the project's usual attendance total (e.g. its median);
    ``reused_photo``: an attachment's sha256 is also on another activity; ``received_on``: the
    server's date when the activity arrived.
    """
    found = _likely_duplicate(activity, same_day_duplicates)
    if site is not None:
        found += _gps_far_from_site(activity, site)
    if usual_attendance is not None:
        found += _attendance_unusual(activity, usual_attendance)
    if reused_photo:
        found.append(issue("attachments", ErrorCode.PHOTO_REUSED))
    found += _reporting_lag(activity, received_on)
    found += _no_participants(activity)
    return found


def _likely_duplicate(activity: Mapping[str, Any], count: int) -> list[Issue]:
    if count <= 0:
        return []
    day = _parse_date(activity.get("start_date")) or "the same day"
    activities = "activity" if count == 1 else "activities"
    return [
        issue(
            "start_date", ErrorCode.LIKELY_DUPLICATE, count=count, activities=activities, value=day
        )
    ]


def _gps_far_from_site(activity: Mapping[str, Any], site: SiteFacts | None) -> list[Issue]:
    location = activity.get("location")
    if site is None or site.lat is None or site.lon is None or not isinstance(location, Mapping):
        return []
    lat, lon = _finite(location.get("lat")), _finite(location.get("lon"))
    if lat is None or lon is None:
        return []
    distance = haversine_km(lat, lon, site.lat, site.lon)
    if distance <= GPS_FAR_KM:
        return []
    return [
        issue(
            "location",
            ErrorCode.GPS_FAR_FROM_SITE,
            distance=f"{distance:.1f}",
            limit=f"{GPS_FAR_KM:g}",
        )
    ]


def _attendance_unusual(activity: Mapping[str, Any], usual: float | None) -> list[Issue]:
    if usual is None or usual <= 0:
        return []
    total = attendance_total(activity.get("attendance"))
    if total <= ATTENDANCE_UNUSUAL_FACTOR * usual:
        return []
    return [
        issue(
            "attendance",
            ErrorCode.ATTENDANCE_UNUSUAL,
            total=total,
            factor=f"{ATTENDANCE_UNUSUAL_FACTOR:g}",
            usual=f"{usual:g}",
        )
    ]


def _no_participants(activity: Mapping[str, Any]) -> list[Issue]:
    """An activity of a type that gathers people, with no attendance counted and no participant
    of the roster: most likely the counts were forgotten. (Whatever reaches the server is
    submitted: a tablet keeps its drafts.)"""
    kind = activity.get("type")
    if kind not in GATHERING_TYPES:
        return []
    if attendance_total(activity.get("attendance")) > 0 or activity.get("participant_ids"):
        return []
    return [issue("attendance", ErrorCode.NO_PARTICIPANTS, value=kind)]


def _reporting_lag(activity: Mapping[str, Any], received_on: date) -> list[Issue]:
    end = _parse_date(activity.get("end_date"))
    if end is None or (received_on - end).days <= REPORTING_LAG_DAYS:
        return []
    return [
        issue(
            "end_date",
            ErrorCode.REPORTING_LAG,
            lag=(received_on - end).days,
            value=end,
            limit=REPORTING_LAG_DAYS,
        )
    ]
