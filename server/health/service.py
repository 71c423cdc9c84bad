"""Health checks as plain functions."""

from __future__ import annotations

from sqlalchemy import Engine

from server.db import check_reachable
from server.migrate import schema_status


def database_health(*, engine: Engine) -> dict[str, str | bool | None]:
    """Raise DatabaseError when unreachable; otherwise the schema revision and whether current."""
    check_reachable(engine)
    return schema_status(engine)
