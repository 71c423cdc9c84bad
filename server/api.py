"""Shared pieces of the HTTP API: the one error shape, list pages, safe text inputs.

Plain pydantic (and SQLModel's config type), so models and services may import it; only
``install_openapi`` touches FastAPI.

Every error the API returns is ``{"detail": "…", "code": "…"}`` or
``{"detail": [{"field", "code", "message"}], "code": "…"}`` (see ``server.errors`` and
``server.app``); codes are ``shared.errors.ErrorCode``. Routes declare the errors they can
answer with ``error_responses(...)`` so the OpenAPI schema documents them, and
``install_openapi`` makes FastAPI's automatic 422 entries describe that same shape instead of
FastAPI's default one.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError
from sqlmodel.main import SQLModelConfig

# NUL and other C0 controls (except tab, newline, carriage return) are never meaningful in our
# text, and PostgreSQL refuses NUL outright; refusing them here keeps that a 422, not a 500.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        # Its own error type, so that the answer's code is control_character (docs/errors.md).
        raise PydanticCustomError("control_character", "must not contain control characters")
    return value


Text = Annotated[str, AfterValidator(_printable)]

# A management body (users, projects, sites, targets, tokens, reviews…) refuses a key it does not
# know: 422 ``unknown_field`` on that key, so that a misspelt optional key ("full_nmae") is not
# dropped without a word (docs/errors.md#body-shapes). The tablet's protocol bodies (sync,
# enrolment) ignore unknown keys instead, so that an older server takes a newer app's requests
# (docs/protocol.md).
UNKNOWN_KEYS_REFUSED = SQLModelConfig(extra="forbid")  # a pydantic ConfigDict, as SQLModel types it

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    # pydantic's lax dates also take a number as a Unix time ("from=1735689600" read as
    # 2025-01-01, "from=0" as 1970): a query's date is written YYYY-MM-DD, as the indicator
    # values require.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value.strip()):
        raise PydanticCustomError(
            "date_parsing", "'{value}' is not a date: use YYYY-MM-DD", {"value": value[:40]}
        )
    return value


# A date in a query string: YYYY-MM-DD only (then checked as a date: no 2025-13-01).
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time we store is UTC (server.columns.as_utc).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# A time in a response: always ISO 8601 with an offset.
UtcDateTime = Annotated[datetime, AfterValidator(_aware)]


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending input, e.g. `attendance.0.count`")
    code: str = Field(description="Stable error code (docs/errors.md), e.g. `too_long`")
    message: str = Field(description="What is wrong and what would be accepted, in English")


class ErrorResponse(BaseModel):
    """The body of every 4xx answer."""

    detail: str | list[FieldError]
    code: str = Field(description="Stable error code (docs/errors.md); of the first field error")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` in order and the ``total`` number matching the filters."""

    items: list[T]
    total: int


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated: missing, unknown, expired or logged-out token",
    403: "Authenticated, but this role or device may not do this",
    404: "No such record in your scope",
    408: "The request body went silent: what arrived is kept (Upload-Offset)",
    409: "Conflicts with the current state",
    422: "Invalid input: every problem found (limits and rules), one entry each",
    429: "Too many attempts: wait for the seconds in Retry-After",
    503: "The server is busy or restarting: wait for the seconds in Retry-After",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the shared error shape for ``codes``."""
    return {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(code, "Error")}
        for code in codes
    }


def client_address(request: Any) -> str:
    """The caller's address (the real one behind nginx: uvicorn reads X-Forwarded-For from the
    proxies in FORWARDED_ALLOW_IPS)."""
    client = getattr(request, "client", None)
    return str(client.host) if client is not None and client.host else "unknown"


def like_contains(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching values that contain ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


BAD_QUERY_RESPONSE = {
    "description": "Bad query parameters, every one named",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


def install_openapi(app: Any) -> None:
    """Make the generated schema describe our error shape for FastAPI's automatic 422s, and the
    400 that bad query parameters get instead."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "required": ["detail", "code"],
                "properties": {
                    "detail": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "code", "message"],
                            "properties": {
                                "field": {"type": "string"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                    "code": {"type": "string"},
                },
            }
            schemas.pop("ValidationError", None)
        # A bad query parameter is a 400 in the field errors' shape (docs/errors.md#statuses).
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                params = operation.get("parameters", [])
                if any(p.get("in") == "query" for p in params):
                    operation.setdefault("responses", {}).setdefault("400", BAD_QUERY_RESPONSE)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
