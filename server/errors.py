"""The server's exceptions.

    PilotMonitorError            base; carries an HTTP status and a CLI exit code
    ├── ConfigError              bad configuration (exit 2)
    ├── DatabaseError            database unreachable or schema out of date (exit 3)
    ├── NotFound                 404
    ├── Forbidden                403
    ├── Conflict                 409
    └── ValidationFailed         422/400 with field-level errors

Service functions raise these; routes and the CLI translate them, so no user ever sees a
traceback for their own mistake. An error may carry a stable ``code`` (``person_out_of_scope``,
``weak_password``, …) that the answer gives beside ``detail``, for clients that branch on the
reason rather than on the wording.
"""

from __future__ import annotations

from typing import Any


class PilotMonitorError(Exception):
    status_code: int = 400
    exit_code: int = 1
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def detail(self) -> Any:
        return self.message

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``{"detail": …}`` plus ``"code"`` when the error has one."""
        answer: dict[str, Any] = {"detail": self.detail()}
        if self.code is not None:
            answer["code"] = self.code
        return answer


class ConfigError(PilotMonitorError):
    status_code = 500
    exit_code = 2


class DatabaseError(PilotMonitorError):
    status_code = 503
    exit_code = 3


class NotFound(PilotMonitorError):
    status_code = 404


class Forbidden(PilotMonitorError):
    status_code = 403


class Conflict(PilotMonitorError):
    status_code = 409


class ValidationFailed(PilotMonitorError):
    """Bad input, with one entry per field: ``[{"field": ..., "message": ...}]``."""

    status_code = 422

    def __init__(
        self, errors: list[dict[str, str]], status_code: int = 422, *, code: str | None = None
    ) -> None:
        self.errors = errors
        self.status_code = status_code
        first = errors[0] if errors else {"field": "", "message": "invalid input"}
        super().__init__(
            f"{first['field']}: {first['message']}" if first["field"] else first["message"],
            code=code,
        )

    def detail(self) -> Any:
        return self.errors
