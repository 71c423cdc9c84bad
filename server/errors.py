"""The server's exceptions: every one carries an HTTP status, a CLI exit code and a stable error
code from ``shared.errors.ErrorCode``.

    PilotMonitorError            base; status 400, code ``invalid``
    ├── ConfigError              bad configuration (exit 2)
    ├── DatabaseError            database unreachable or schema out of date (exit 3)
    ├── DatabaseBusy             a lock another process held outlasted the wait allowed (exit 1)
    ├── NotFound                 404 ``not_found``
    ├── Forbidden                403 ``forbidden`` (or ``out_of_scope``, ``locked``, …)
    ├── Conflict                 409 ``state_conflict`` (or ``already_exists``, …)
    └── ValidationFailed         422/400 with field-level issues, each with its own code

Service functions raise these; routes and the CLI translate them, so no user ever sees a
traceback for their own mistake. Every 4xx answer is ``error_body``:
``{"detail": "…", "code": "…"}`` or ``{"detail": [{"field", "code", "message"}, …], "code": …}``
(the first issue's code), so that clients choose their words from the code, not the English.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import ErrorCode, Issue


class PilotMonitorError(Exception):
    status_code: int = 400
    exit_code: int = 1
    code: str = ErrorCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # Values a client may put into its own words for the code (``countries``: "KEN, MWI").
        self.params: dict[str, str] = dict(params or {})
        if code is not None:
            self.code = code

    def detail(self) -> Any:
        return self.message

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``detail`` (a message or field issues) and the error's ``code``."""
        return {"detail": self.detail(), "code": str(self.code)}


class ConfigError(PilotMonitorError):
    status_code = 500
    exit_code = 2


class DatabaseError(PilotMonitorError):
    status_code = 503
    exit_code = 3
    code = ErrorCode.UNAVAILABLE


class DatabaseBusy(PilotMonitorError):
    """A lock another process (a server, a scheduler) held outlasted the wait allowed
    (``server.db.bounded_transaction``); the transaction was rolled back whole."""

    status_code = 503
    code = ErrorCode.BUSY


class NotFound(PilotMonitorError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class Forbidden(PilotMonitorError):
    status_code = 403
    code = ErrorCode.FORBIDDEN


class Conflict(PilotMonitorError):
    status_code = 409
    code = ErrorCode.STATE_CONFLICT


class ValidationFailed(PilotMonitorError):
    """Bad input, with every issue found (a field may have several): ``[{"field", "code",
    "message"}]`` on the wire. Raise them all at once, before anything is written."""

    status_code = 422

    def __init__(self, issues: Sequence[Issue], status_code: int = 422) -> None:
        self.issues = list(issues) or [Issue("", ErrorCode.INVALID, "invalid input")]
        self.status_code = status_code
        first = self.issues[0]
        super().__init__(
            f"{first.field}: {first.message}" if first.field else first.message,
            code=ErrorCode(first.code),
        )

    @property
    def errors(self) -> list[dict[str, str]]:
        return [i.as_dict() for i in self.issues]

    def detail(self) -> Any:
        return self.errors


def invalid(
    field: str, code: ErrorCode, message: str, *, status_code: int = 422
) -> ValidationFailed:
    """One field's issue as an exception: ``raise invalid("to", ErrorCode.END_BEFORE_START, …)``."""
    return ValidationFailed([Issue(field, code, message)], status_code=status_code)


# --- pydantic's errors as issues -----------------------------------------------------------------

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie", "form"})

# pydantic error types -> our codes (https://docs.pydantic.dev/latest/errors/validation_errors/);
# a type not listed here is ``invalid``.
PYDANTIC_CODES: dict[str, ErrorCode] = {
    "missing": ErrorCode.REQUIRED,
    "string_type": ErrorCode.NOT_TEXT,
    "string_too_long": ErrorCode.TOO_LONG,
    "string_too_short": ErrorCode.TOO_SHORT,
    "int_type": ErrorCode.NOT_INTEGER,
    "int_parsing": ErrorCode.NOT_INTEGER,
    "int_from_float": ErrorCode.NOT_INTEGER,
    "float_type": ErrorCode.NOT_NUMBER,
    "float_parsing": ErrorCode.NOT_NUMBER,
    "finite_number": ErrorCode.NOT_NUMBER,
    "bool_type": ErrorCode.NOT_BOOLEAN,
    "bool_parsing": ErrorCode.NOT_BOOLEAN,
    "dict_type": ErrorCode.NOT_OBJECT,
    "model_type": ErrorCode.NOT_OBJECT,
    "model_attributes_type": ErrorCode.NOT_OBJECT,
    "list_type": ErrorCode.NOT_LIST,
    "tuple_type": ErrorCode.NOT_LIST,
    "set_type": ErrorCode.NOT_LIST,
    "too_long": ErrorCode.TOO_MANY,
    "too_short": ErrorCode.TOO_SHORT,
    "uuid_type": ErrorCode.BAD_UUID,
    "uuid_parsing": ErrorCode.BAD_UUID,
    "uuid_version": ErrorCode.BAD_UUID,
    "date_type": ErrorCode.BAD_DATE,
    "date_parsing": ErrorCode.BAD_DATE,
    "date_from_datetime_parsing": ErrorCode.BAD_DATE,
    "date_from_datetime_inexact": ErrorCode.BAD_DATE,
    "datetime_type": ErrorCode.BAD_DATETIME,
    "datetime_parsing": ErrorCode.BAD_DATETIME,
    "datetime_from_date_parsing": ErrorCode.BAD_DATETIME,
    "timezone_aware": ErrorCode.BAD_DATETIME,
    "greater_than": ErrorCode.VALUE_RANGE,
    "greater_than_equal": ErrorCode.VALUE_RANGE,
    "less_than": ErrorCode.VALUE_RANGE,
    "less_than_equal": ErrorCode.VALUE_RANGE,
    "multiple_of": ErrorCode.VALUE_RANGE,
    "enum": ErrorCode.UNKNOWN_CODE,
    "literal_error": ErrorCode.UNKNOWN_CODE,
    "extra_forbidden": ErrorCode.UNKNOWN_FIELD,
    "json_invalid": ErrorCode.BAD_BODY,
    "control_character": ErrorCode.CONTROL_CHARACTER,
    "json_type": ErrorCode.BAD_BODY,
}


def _field_of(loc: Sequence[object]) -> str:
    # ("body", "attendance", 0, "count") -> "attendance.0.count"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts)


def pydantic_code(error: Any) -> ErrorCode:
    """Our code for one of pydantic's error dicts."""
    kind = str(error.get("type", ""))
    if kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        # an optional text's length limit reports the generic type ("… items"): still text
        return ErrorCode.TOO_LONG if kind == "too_long" else ErrorCode.TOO_SHORT
    return PYDANTIC_CODES.get(kind, ErrorCode.INVALID)


def pydantic_issues(errors: Sequence[Any]) -> list[Issue]:
    """pydantic's (or FastAPI's request) validation errors as issues with our codes."""
    return [
        Issue(_field_of(err.get("loc", ())), pydantic_code(err), _message_of(err), _params_of(err))
        if err.get("type") != "json_invalid"
        else Issue("body", ErrorCode.BAD_BODY, _not_json_message(err))
        for err in errors
    ]


def _params_of(error: Any) -> dict[str, str]:
    """A text's length limit as ``shared.validation.issue`` names it (``high``, ``low``), for
    a reader's words ("Use at most 200 characters.")."""
    limits = error.get("ctx") or {}
    if not isinstance(error.get("input"), str):
        return {}
    found = {}
    if "max_length" in limits:
        found["high"] = str(limits["max_length"])
    if "min_length" in limits:
        found["low"] = str(limits["min_length"])
    return found


def _not_json_message(error: Any) -> str:
    """A body that is not JSON, named as the body (FastAPI's error is at the decoder's
    position: ``("body", 1)``), with the decoder's reason and where."""
    reason = (error.get("ctx") or {}).get("error")
    loc = error.get("loc", ())
    where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    detail = f"{reason}{where}" if reason else str(error.get("msg", ""))
    return f"the body is not valid JSON ({detail})" if detail else "the body is not valid JSON"


def _message_of(error: Any) -> str:
    """pydantic's message, but for a text's length: "at most 200 characters", where an
    optional text's limit says "Value should have at most 200 items after validation"."""
    limits = error.get("ctx") or {}
    if isinstance(error.get("input"), str) and error.get("type") in ("too_long", "too_short"):
        if "max_length" in limits:
            return f"at most {limits['max_length']} characters"
        if "min_length" in limits:
            return f"at least {limits['min_length']} characters"
    return str(error.get("msg", "invalid"))
