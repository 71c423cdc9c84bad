"""Route dependencies for authentication and roles: routes declare, never check by hand.

    CurrentCaller   a person with a bearer access token (dashboard, scripts, HQ)
    DeviceCaller    a tablet with its device token (sync routes)
    require_roles(...)  a dependency that refuses other roles with 403
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.accounts.auth import (
    Caller,
    NotAuthenticated,
    caller_from_access_token,
    caller_from_device_token,
)
from server.deps import SessionDep
from server.errors import Forbidden

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/token")
_device_bearer = HTTPBearer(auto_error=False, scheme_name="DeviceToken",
                            description="A device token from /api/v1/devices/enrol")


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("missing bearer token: log in first")
    return credentials.credentials


def current_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return caller_from_access_token(session, token=_token(credentials))


def device_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_device_bearer)],
) -> Caller:
    return caller_from_device_token(session, token=_token(credentials))


CurrentCaller = Annotated[Caller, Depends(current_caller)]
DeviceCaller = Annotated[Caller, Depends(device_caller)]


def require_roles(*roles: str) -> Callable[[Caller], Caller]:
    """``Depends(require_roles("admin", "country_officer"))`` on a route or router."""

    def check(caller: CurrentCaller) -> Caller:
        if caller.role not in roles:
            raise Forbidden(f"your role ({caller.role}) may not do this; allowed: "
                            + ", ".join(roles))
        return caller

    return check
