"""Personal access tokens: long-lived, read-only passwords for the OData feed.

A person makes one for each tool (Excel, Power BI) and gives it, with their username, as the
HTTP Basic password, as ODK Central does. The token is shown once and stored as a hash; it reads
with its owner's scope and only on the OData routes (``current_caller`` never accepts it), so it
can never change anything. Revoking it, or disabling the account, stops it at once.

Failed Basic attempts count against the username like failed logins
(``server.accounts.service``): five within fifteen minutes lock it for fifteen minutes.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from server.accounts.auth import Caller, NotAuthenticated, _project_ids
from server.accounts.models import PersonalToken, User
from server.accounts.security import new_token, token_hash
from server.accounts.service import (
    USERNAME_RE,
    TooManyAttempts,
    count_failed_login,
    forget_login_failures,
    has_login_failures,
    refuse_if_locked,
)
from server.columns import utcnow
from server.errors import Conflict, NotFound
from shared.errors import ErrorCode

# A person rarely needs more than a handful; the cap keeps a script from filling the table.
MAX_TOKENS_PER_PERSON = 50
# A token's name, as long as its column (PersonalToken.name) and the API's body allow.
NAME_MAX_LENGTH = 100


class BasicAuthFailed(NotAuthenticated):
    headers = {"WWW-Authenticate": 'Basic realm="Pilot Monitor OData", charset="UTF-8"'}


def create_token(session: Session, *, caller: Caller, name: str) -> tuple[PersonalToken, str]:
    """A new token for the caller; returns the row and the secret (shown once)."""
    live = session.exec(
        select(PersonalToken.id).where(
            PersonalToken.user_id == caller.user.id, col(PersonalToken.revoked_at).is_(None)
        )
    ).all()
    if len(live) >= MAX_TOKENS_PER_PERSON:
        raise Conflict(
            f"you already have {MAX_TOKENS_PER_PERSON} tokens: revoke one you no longer use",
            code=ErrorCode.TOO_MANY,
            params={"limit": str(MAX_TOKENS_PER_PERSON)},
        )
    secret = new_token()
    row = PersonalToken(user_id=caller.user.id, name=name.strip(), token_hash=token_hash(secret))
    session.add(row)
    session.flush()
    return row, secret


def list_tokens(session: Session, *, caller: Caller) -> list[PersonalToken]:
    """The caller's own tokens, newest first (revoked ones too, marked)."""
    return list(
        session.exec(
            select(PersonalToken)
            .where(PersonalToken.user_id == caller.user.id)
            .order_by(col(PersonalToken.created_at).desc(), col(PersonalToken.id))
        )
    )


def revoke_token(session: Session, *, caller: Caller, token_id: uuid.UUID) -> PersonalToken:
    """Revoke one of the caller's own tokens; anyone else's is a 404."""
    row = session.get(PersonalToken, token_id)
    if row is None or row.user_id != caller.user.id:
        raise NotFound("no such token among yours")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def caller_from_basic(session: Session, *, username: str, token: str, source: str) -> Caller:
    """The person whose username and personal token these are (a read: nothing is written).

    Raises TooManyAttempts while the username is locked, and BasicAuthFailed otherwise; the
    caller then counts the failure with ``record_basic_failure`` in a write session.
    """
    username = username.strip().lower()
    now = utcnow()
    if not USERNAME_RE.match(username):
        raise BasicAuthFailed("wrong username or token")
    refuse_if_locked(session, username=username, source=source, now=now)
    row = session.exec(
        select(PersonalToken, User)
        .join(User, col(User.id) == PersonalToken.user_id)
        .where(PersonalToken.token_hash == token_hash(token), User.username == username)
    ).one_or_none()
    if row is None:
        raise BasicAuthFailed("wrong username or token")
    personal, user = row
    if personal.revoked_at is not None:
        raise BasicAuthFailed(
            "this token was revoked: make a new one on the dashboard's Access tokens page"
        )
    if not user.is_active:
        raise BasicAuthFailed("this account is disabled")
    return Caller(user=user, project_ids=_project_ids(session, user.id))


def record_basic_failure(session: Session, *, username: str, source: str) -> TooManyAttempts | None:
    """Count a failed Basic attempt from ``source`` like a failed login; the lock's error when
    this one locks the username for that address. The caller commits."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        return None  # nothing to lock: no account can have this name
    return count_failed_login(session, username=username, source=source, now=utcnow())


def has_failures(session: Session, *, username: str, source: str) -> bool:
    return has_login_failures(session, username=username.strip().lower(), source=source)


def clear_failures(session: Session, *, username: str, source: str) -> None:
    """A right token clears the failures counted from this address (as a login does)."""
    forget_login_failures(session, usernames=[username.strip().lower()], source=source)
