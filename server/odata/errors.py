"""OData's error shape, ``{"error": {"code", "message", "target"}}``, for every answer under
/api/v1/odata/ (Power BI and Excel show ``message`` to the analyst)."""

from __future__ import annotations

from typing import Any

from server.errors import PilotMonitorError, ValidationFailed

ODATA_PREFIX = "/api/v1/odata"

# Stable codes for the errors other packages raise (authentication, lock-out, ...).
_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "bad_request",
    429: "too_many_attempts",
}


class ODataError(PilotMonitorError):
    """A request the feed cannot answer: a bad or unsupported option, an unknown property."""

    def __init__(
        self, message: str, *, code: str, target: str | None = None, status_code: int = 400
    ) -> None:
        super().__init__(message)
        self.code = code
        self.target = target
        self.status_code = status_code


def is_odata_path(path: str) -> bool:
    return path == ODATA_PREFIX or path.startswith(ODATA_PREFIX + "/")


def error_body(
    status_code: int, message: str, *, code: str | None = None, target: Any = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code or _CODES.get(status_code, "error"),
            "message": message,
            "target": target,
        }
    }


def odata_error_body(exc: PilotMonitorError) -> dict[str, Any]:
    """Any of the server's errors in OData's shape."""
    if isinstance(exc, ODataError):
        return error_body(exc.status_code, exc.message, code=exc.code, target=exc.target)
    if isinstance(exc, ValidationFailed):
        first = exc.errors[0] if exc.errors else {}
        # a 422 from a reused service is still the analyst's input: OData says 400
        return error_body(400, exc.message, target=first.get("field") or None)
    return error_body(exc.status_code, exc.message)
