"""Column types and defaults that every table uses, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

# Monotonic integer keys: BIGINT on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# Set by ``clock_at``: the moment every ``utcnow`` of this context (thread, task) reads.
_pinned_now: ContextVar[datetime | None] = ContextVar("pilotmon_pinned_now", default=None)


def utcnow() -> datetime:
    return _pinned_now.get() or datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Within the block (this thread or task only) ``utcnow()``, and so every timestamp the
    write paths stamp, reads ``moment`` (UTC). For a writer that replays events of a drawn past
    through the everyday write paths: the demo's sync conflict (``server.demo.load``)."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _pinned_now.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _pinned_now.reset(token)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_datetime(value: Any) -> datetime | None:
    """A time to store, from a datetime or ISO 8601 text (its offset kept: ``UtcTime``
    stores the instant)."""
    if value is None:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


class UtcTime(sa.TypeDecorator[datetime]):
    """Every timestamp column: the instant, in UTC, on both backends.

    ``DateTime(timezone=True)`` alone keeps the offset on PostgreSQL but not on SQLite, which
    stores the wall time as written: 23:30-05:00 would read back as 23:30 UTC. Bound through
    this type, from the ORM, a bulk insert (``server.records.bulk``) or a comparison in a
    query, an aware time is converted to UTC first; a naive one is UTC already (the project's
    convention). Read back, a time is aware and in UTC on both backends."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if not isinstance(value, datetime) or value.tzinfo is None or value.tzinfo is UTC:
            return value  # None, UTC, or what the impl takes or refuses as it would
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def stamp() -> Any:
    """A required timestamp that defaults to now (UTC)."""
    return Field(default_factory=utcnow, sa_type=UtcTime, nullable=False)


def optional_time(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcTime, nullable=True, index=index)


def json_list() -> Any:
    return Field(default_factory=list, sa_type=JSONDoc, nullable=False)


def json_doc(*, nullable: bool = True) -> Any:
    if nullable:
        return Field(default=None, sa_type=JSONDoc, nullable=True)
    return Field(default_factory=dict, sa_type=JSONDoc, nullable=False)
