"""Reading the audit trail, scoped by ``server.scope.audit_scope``."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.models import Device, User
from server.api import UtcDateTime
from server.columns import as_utc
from server.errors import ValidationFailed, invalid
from server.records import audit
from server.records.models import AuditEntry
from server.scope import audit_scope, device_scope, user_scope
from shared.catalogue import Role
from shared.errors import ErrorCode, Issue


class AuditEntryPublic(BaseModel):
    id: int
    at: UtcDateTime
    actor_id: uuid.UUID | None
    actor: str | None
    device_id: uuid.UUID | None
    action: str
    entity: str
    entity_id: str
    country: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def entity_issues(entity: str | None) -> list[Issue]:
    """An entity the trail does not name is a bad query (400), not an empty trail."""
    if not entity or entity in audit.ENTITIES:
        return []
    message = f"unknown entity {entity!r}: one of {', '.join(audit.ENTITIES)}"
    return [Issue("entity", ErrorCode.UNKNOWN_CODE, message)]


def audit_list_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``GET /audit``'s filter checks, beside FastAPI's limits (``server.deps.rules``)."""
    entity = data.get("entity")
    return entity_issues(entity if isinstance(entity, str) else None)


def list_entries(
    session: Session,
    *,
    caller: Caller,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    without_actions: Collection[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEntryPublic], int]:
    """The entries the caller may read, newest first; ``without_actions`` leaves those out
    (a person's page: their sign-ins)."""
    conditions: list[ColumnElement[bool]] = [_scope(session, caller)]
    if without_actions:
        conditions.append(col(AuditEntry.action).not_in(sorted(without_actions)))
    if entity:
        if problems := entity_issues(entity):
            raise ValidationFailed(problems, status_code=400)
        conditions.append(col(AuditEntry.entity) == entity)
    if entity_id:
        conditions.append(col(AuditEntry.entity_id) == entity_id)
    if actor:
        try:
            conditions.append(col(AuditEntry.actor_id) == uuid.UUID(actor))
        except ValueError:
            conditions.append(
                col(AuditEntry.actor_id).in_(
                    select(User.id).where(User.username == actor.strip().lower())
                )
            )
    if date_from is not None and date_to is not None and date_from > date_to:
        raise invalid("to", ErrorCode.END_BEFORE_START, "must not be before 'from'")
    if date_from is not None:
        conditions.append(col(AuditEntry.at) >= _midnight(date_from))
    if date_to is not None:
        conditions.append(col(AuditEntry.at) < _midnight(date_to + timedelta(days=1)))
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*conditions)).one()
    rows = session.exec(
        select(AuditEntry, User.username)
        .outerjoin(User, col(User.id) == AuditEntry.actor_id)
        .where(*conditions)
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        AuditEntryPublic(
            id=e.id or 0,
            at=e.at,
            actor_id=e.actor_id,
            actor=username,
            device_id=e.device_id,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            country=e.country,
            before=e.before,
            after=e.after,
        )
        for e, username in rows
    ], total


def _scope(session: Session, caller: Caller) -> ColumnElement[bool]:
    """``audit_scope``, plus, for a country officer, the entries about a person of theirs who
    works in several countries: those carry no country (``audit_country``), so they are found
    through the person and their tablets."""
    scope = audit_scope(caller)
    if caller.role != Role.COUNTRY_OFFICER or not caller.countries:
        return scope
    people = [str(i) for i in session.exec(select(User.id).where(user_scope(caller)))]
    tablets = list(session.exec(select(Device.id).where(device_scope(caller))))
    return sa.or_(
        scope,
        sa.and_(
            col(AuditEntry.country).is_(None),
            sa.or_(
                sa.and_(col(AuditEntry.entity) == "user", col(AuditEntry.entity_id).in_(people)),
                col(AuditEntry.device_id).in_(tablets),
            ),
        ),
    )


def _midnight(day: date) -> datetime:
    return as_utc(datetime.combine(day, time.min)) or datetime.combine(day, time.min)
