"""Who is calling: bearer access tokens for people, device tokens for tablets.

Plain functions over a session; ``server.accounts.deps`` turns them into route dependencies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, col, select

from server.accounts.models import (
    REVOKED_PASSWORD_CHANGED,
    AccessToken,
    Device,
    User,
    UserProject,
)
from server.accounts.security import new_token, token_hash
from server.columns import utcnow
from server.errors import PilotMonitorError
from shared.catalogue import Role
from shared.errors import ErrorCode


class NotAuthenticated(PilotMonitorError):
    status_code = 401
    code = ErrorCode.NOT_AUTHENTICATED
    headers = {"WWW-Authenticate": "Bearer"}


class DeviceRevoked(PilotMonitorError):
    status_code = 403
    code = ErrorCode.DEVICE_REVOKED


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated person (and tablet, for sync calls) behind a request."""

    user: User
    project_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    device: Device | None = None
    # The bearer token of this request (people only), so that logout can revoke it.
    access_token_id: uuid.UUID | None = None

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def countries(self) -> frozenset[str]:
        """The countries the caller's scope is made of: a country officer's. A field expert's
        scope is its projects (their countries come with them, ``server.scope``), so a country
        stored beside them before that rule held reaches nothing; HQ and admins see all."""
        if self.user.role == Role.FIELD_EXPERT:
            return frozenset()
        return frozenset(self.user.countries or [])


def _project_ids(session: Session, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset(
        session.exec(select(UserProject.project_id).where(UserProject.user_id == user_id))
    )


def issue_access_token(session: Session, *, user: User, minutes: int) -> tuple[str, int]:
    """A new bearer token for ``user``; returns (token, lifetime in seconds)."""
    token = new_token()
    session.add(
        AccessToken(
            token_hash=token_hash(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(minutes=minutes),
        )
    )
    return token, minutes * 60


def caller_from_access_token(session: Session, *, token: str) -> Caller:
    row = session.exec(
        select(AccessToken, User)
        .join(User, col(User.id) == AccessToken.user_id)
        .where(AccessToken.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        raise NotAuthenticated("unknown or expired token: log in again")
    access, user = row
    if access.revoked_at is not None:
        raise NotAuthenticated("this token was logged out: log in again")
    if access.expires_at <= utcnow():
        raise NotAuthenticated("token expired: log in again")
    if not user.is_active:
        raise NotAuthenticated("this account is disabled", code=ErrorCode.ACCOUNT_DISABLED)
    return Caller(user=user, project_ids=_project_ids(session, user.id), access_token_id=access.id)


def revoke_access_token(session: Session, *, token_id: uuid.UUID) -> None:
    """Log out: the token stops working at once (it stays, revoked, until it expires)."""
    access = session.get(AccessToken, token_id)
    if access is not None and access.revoked_at is None:
        access.revoked_at = utcnow()
        session.add(access)


NO_TABLET = (
    "an hq_analyst may not have a tablet: tablets are for recording, and HQ reads on the dashboard"
)


def may_have_tablet(user: User) -> bool:
    """Tablets are for recording: not for an HQ analyst (read only), since a tablet pulls its
    person's projects with the participants' names, which stay inside the country's scope
    (docs/roles.md). Enrolment and every device route ask this."""
    return user.role != Role.HQ_ANALYST


def caller_from_device_token(session: Session, *, token: str) -> Caller:
    row = session.exec(
        select(Device, User)
        .join(User, col(User.id) == Device.user_id)
        .where(Device.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        raise NotAuthenticated("unknown device token: enrol this tablet again")
    device, user = row
    if (
        device.revoked_at is not None
        and device.revoked_reason == REVOKED_PASSWORD_CHANGED
        and user.is_active
    ):
        raise DeviceRevoked(
            "this tablet was signed out because your password was changed; its unsent "
            "records stay on it — log in again on the tablet (Settings, Enrol again) with "
            "your new password",
            code=ErrorCode.DEVICE_PASSWORD_CHANGED,
        )
    if device.revoked_at is not None:
        raise DeviceRevoked(
            "this tablet was revoked; its unsent records stay on it — ask your "
            "country office to enrol it again"
        )
    if not user.is_active:
        raise DeviceRevoked(
            "the account this tablet belongs to is disabled", code=ErrorCode.ACCOUNT_DISABLED
        )
    if not may_have_tablet(user):
        # One enrolled before HQ was refused tablets reaches nothing.
        raise DeviceRevoked(NO_TABLET, code=ErrorCode.NO_TABLET)
    return Caller(user=user, project_ids=_project_ids(session, user.id), device=device)
