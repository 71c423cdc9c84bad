"""Route dependencies for authentication and roles: routes declare, never check by hand.

CurrentCaller   a person with a bearer access token (dashboard, scripts, HQ)
DeviceCaller    a tablet with its device token (sync routes)
require_roles(...)  a dependency that refuses other roles with 403
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col

from server.accounts.auth import (
    Caller,
    NotAuthenticated,
    caller_from_access_token,
    caller_from_device_token,
)
from server.accounts.models import Device
from server.columns import utcnow
from server.db import write_engine
from server.deps import get_app_engine
from server.errors import Forbidden
from shared.catalogue import Role

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/token")
_device_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="DeviceToken",
    description="A device token from /api/v1/devices/enrol",
)


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("missing bearer token: log in first")
    return credentials.credentials


# Who is calling is looked up in a short read-only session of its own. Using the request's
# session would open its write transaction (BEGIN IMMEDIATE on SQLite) before the body is read,
# and with many tablets at once every worker thread could end up waiting for a lock whose holder
# has no thread left to finish on.


def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    token = _token(credentials)
    with Session(get_app_engine(request)) as session:
        caller = caller_from_access_token(session, token=token)
    request.state.caller = caller  # for the route's rule checks (server.deps.rules)
    return caller


# A tablet's last contact (the stale-tablets report) is noted on every authenticated request,
# at most once a minute per tablet, in a short write transaction of its own that commits at
# once: most requests write nothing, and none holds the write lock across its own work.
SEEN_EVERY = timedelta(minutes=1)


def note_device_seen(engine: Engine, caller: Caller) -> None:
    """Record that ``caller``'s tablet was in touch now, unless it was in the last minute."""
    device = caller.device
    if device is None:
        return
    now = utcnow()
    seen = device.last_seen_at
    if seen is not None and now - seen < SEEN_EVERY:
        return
    with Session(write_engine(engine)) as session:
        session.execute(
            update(Device)
            .where(
                col(Device.id) == device.id,
                or_(
                    col(Device.last_seen_at).is_(None), col(Device.last_seen_at) < now - SEEN_EVERY
                ),
            )
            .values(last_seen_at=now)
        )
        session.commit()
    # (The caller's Device is left as read: it may belong to the request's read session, where
    # a changed attribute would be flushed as a stray UPDATE.)


def device_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_device_bearer)],
) -> Caller:
    token = _token(credentials)
    engine = get_app_engine(request)
    with Session(engine) as session:
        caller = caller_from_device_token(session, token=token)
    note_device_seen(engine, caller)
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
DeviceCaller = Annotated[Caller, Depends(device_caller)]


def require_roles(*roles: str) -> Callable[[Caller], Caller]:
    """``Depends(require_roles("admin", "country_officer"))`` on a route or router."""

    def check(caller: CurrentCaller) -> Caller:
        if caller.role not in roles:
            raise Forbidden(
                f"your role ({caller.role}) may not do this; allowed: " + ", ".join(roles)
            )
        return caller

    return check


# The roles that review records, resolve conflicts, close quarters and write forms: the others
# are refused (403) before the route reads its body, as docs/errors.md promises; the route's
# own check then judges the record's country.
REVIEWERS = Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER))
