"""Users, their scope and logins, as keyword-only service functions (no FastAPI here)."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.models import (
    AccessToken,
    LoginFailure,
    ProjectRef,
    User,
    UserProject,
    UserPublic,
)
from server.accounts.security import hash_password, password_problem, verify_password
from server.api import like_contains
from server.audit import service as audit
from server.columns import as_utc, utcnow
from server.errors import Conflict, Forbidden, NotFound, PilotMonitorError, ValidationFailed
from server.projects.models import Project
from server.scope import JsonListOverlaps, project_scope, user_scope
from shared.catalogue import Role, codes
from shared.geography import COUNTRIES

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

# Login throttling: this many failures for one username within the window lock it for LOCKOUT.
MAX_LOGIN_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)

# What a country officer may create: people of its own countries, never HQ or admins.
OFFICER_MAY_CREATE = frozenset({Role.FIELD_EXPERT, Role.COUNTRY_OFFICER})


class LoginFailed(PilotMonitorError):
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class TooManyAttempts(PilotMonitorError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


def get_by_username(session: Session, *, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).one_or_none()


def project_ids_of(session: Session, *, user_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.exec(select(UserProject.project_id).where(UserProject.user_id == user_id)))


def audit_country(countries: Sequence[str]) -> str | None:
    """The country an audit entry about a person belongs to (None when not exactly one)."""
    return countries[0] if len(countries) == 1 else None


# --- creating and changing people ------------------------------------------------------------


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    countries: Sequence[str] = (),
    project_codes: Sequence[str] = (),
    full_name: str = "",
    email: str | None = None,
    actor_id: uuid.UUID | None = None,
    visible_projects: Any = None,
) -> User:
    """Create a user with a hashed password and a scope; raises ValidationFailed or Conflict.

    ``visible_projects`` (a condition over Project) limits which project codes resolve, so a
    country officer cannot learn that another country's project exists.
    """
    errors: list[dict[str, str]] = []
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        errors.append(
            {
                "field": "username",
                "message": "2–64 characters: lowercase letters, "
                "digits, '.', '_' or '-', starting with a letter or digit",
            }
        )
    if role not in codes(Role):
        errors.append(
            {
                "field": "role",
                "message": f"unknown role {role!r}; roles are " + ", ".join(codes(Role)),
            }
        )
    problem = password_problem(password)
    if problem:
        errors.append({"field": "password", "message": problem})
    countries = list(dict.fromkeys(c.strip().upper() for c in countries))
    for country in countries:
        if country not in COUNTRIES:
            errors.append(
                {
                    "field": "countries",
                    "message": f"unknown country {country!r}; use ISO 3166-1 alpha-3",
                }
            )
    projects: list[Project] = []
    for code in dict.fromkeys(project_codes):
        query = select(Project).where(Project.code == code)
        if visible_projects is not None:
            query = query.where(visible_projects)
        project = session.exec(query).one_or_none()
        if project is None:
            errors.append({"field": "projects", "message": f"no project with code {code!r}"})
        else:
            projects.append(project)
    if role == Role.COUNTRY_OFFICER and not countries:
        errors.append(
            {"field": "countries", "message": "a country officer needs at least one country"}
        )
    if (
        role == Role.FIELD_EXPERT
        and not projects
        and not any(e["field"] == "projects" for e in errors)
    ):
        errors.append({"field": "projects", "message": "a field expert needs at least one project"})
    if errors:
        raise ValidationFailed(errors)
    if get_by_username(session, username=username) is not None:
        raise Conflict(f"username {username!r} is taken")
    # A field expert's countries follow from their projects.
    if role == Role.FIELD_EXPERT:
        countries = sorted({*countries, *(p.country for p in projects)})
    user = User(
        username=username,
        full_name=full_name,
        email=email,
        password_hash=hash_password(password),
        role=role,
        countries=countries,
    )
    session.add(user)
    session.flush()
    for project in projects:
        session.add(UserProject(user_id=user.id, project_id=project.id))
    session.flush()
    audit.record(
        session,
        action="create",
        entity="user",
        entity_id=user.id,
        actor_id=actor_id,
        country=audit_country(countries),
        after={
            "username": username,
            "role": role,
            "countries": countries,
            "projects": [p.code for p in projects],
            "full_name": full_name,
            "email": email,
        },
    )
    return user


def create_user_as(session: Session, *, caller: Caller, data: Mapping[str, Any]) -> User:
    """Create a user on behalf of ``caller``: an admin anyone, a country officer field experts
    and officers of its own countries."""
    role = str(data["role"])
    countries = [str(c).strip().upper() for c in data.get("countries") or []]
    if caller.role != Role.ADMIN:
        if caller.role != Role.COUNTRY_OFFICER:
            raise Forbidden(f"your role ({caller.role}) may not create users")
        if role not in OFFICER_MAY_CREATE:
            raise Forbidden(
                f"role: a country officer may create field experts and country officers, not {role}"
            )
        outside = sorted(set(countries) - caller.countries)
        if outside:
            raise Forbidden(
                "countries: you may only create users of your countries ("
                + ", ".join(sorted(caller.countries))
                + "), not "
                + ", ".join(outside)
            )
        if role == Role.COUNTRY_OFFICER and not countries:
            raise ValidationFailed(
                [{"field": "countries", "message": "a country officer needs at least one country"}]
            )
    return create_user(
        session,
        username=str(data["username"]),
        password=str(data["password"]),
        role=role,
        countries=countries,
        project_codes=list(data.get("projects") or []),
        full_name=str(data.get("full_name") or ""),
        email=data.get("email"),
        actor_id=caller.user.id,
        visible_projects=None if caller.role == Role.ADMIN else project_scope(caller),
    )


def list_users(
    session: Session,
    *,
    caller: Caller,
    role: str | None = None,
    country: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[User], int]:
    conditions = [user_scope(caller)]
    if role:
        conditions.append(col(User.role) == role)
    if country:
        conditions.append(JsonListOverlaps(User.countries, {country.upper()}))
    if q:
        pattern = like_contains(q.lower())
        conditions.append(
            func.lower(User.username).like(pattern, escape="\\")
            | func.lower(User.full_name).like(pattern, escape="\\")
        )
    total = session.exec(select(func.count()).select_from(User).where(*conditions)).one()
    users = list(
        session.exec(
            select(User).where(*conditions).order_by(col(User.username)).limit(limit).offset(offset)
        )
    )
    return users, total


def get_user(session: Session, *, caller: Caller, user_id: uuid.UUID) -> User:
    """A user in the caller's scope, or NotFound (whether or not it exists elsewhere)."""
    user = session.exec(select(User).where(User.id == user_id, user_scope(caller))).one_or_none()
    if user is None:
        raise NotFound("no such user")
    return user


def update_user(
    session: Session, *, caller: Caller, user_id: uuid.UUID, changes: Mapping[str, Any]
) -> User:
    """Change a person's name, e-mail, password or whether the account is active."""
    user = get_user(session, caller=caller, user_id=user_id)
    if not may_manage_user(caller, user):
        raise Forbidden(
            "only an admin, or a country officer for people of their own "
            "countries, may change this account"
        )
    if user.id == caller.user.id and changes.get("is_active") is False:
        raise ValidationFailed(
            [{"field": "is_active", "message": "you cannot deactivate your own account"}]
        )
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in ("full_name", "email", "is_active"):
        if name in changes and changes[name] is not None and changes[name] != getattr(user, name):
            before[name], after[name] = getattr(user, name), changes[name]
            setattr(user, name, changes[name])
    if changes.get("password") is not None:
        problem = password_problem(changes["password"])
        if problem:
            raise ValidationFailed([{"field": "password", "message": problem}])
        user.password_hash = hash_password(changes["password"])
        user.password_changed_at = utcnow()
        # A new password ends the person's other sessions (a leaked one stops working now).
        others = [col(AccessToken.user_id) == user.id, col(AccessToken.revoked_at).is_(None)]
        if caller.access_token_id is not None:
            others.append(col(AccessToken.id) != caller.access_token_id)
        session.execute(
            sa_update(AccessToken).where(*others).values(revoked_at=user.password_changed_at)
        )
        after["password"] = "changed"  # noqa: S105
    if after.get("is_active") is False:
        from server.accounts.tokens import revoke_all_tokens  # tokens build on this module

        revoke_all_tokens(session, user_id=user.id)
    if after:
        session.add(user)
        audit.record(
            session,
            action="update",
            entity="user",
            entity_id=user.id,
            actor_id=caller.user.id,
            country=audit_country(user.countries),
            before=before,
            after=after,
        )
    return user


def may_manage_user(caller: Caller, user: User | UserPublic) -> bool:
    """Whether ``caller`` may change ``user``'s account: an admin anyone, a country officer
    the field experts and officers whose countries are all theirs."""
    if caller.role == Role.ADMIN:
        return True
    return (
        caller.role == Role.COUNTRY_OFFICER
        and user.role in OFFICER_MAY_CREATE
        and bool(user.countries)
        and set(user.countries) <= caller.countries
    )


def user_publics(session: Session, users: Sequence[User]) -> list[UserPublic]:
    """The API shape of users, with their projects loaded in one query."""
    projects: dict[uuid.UUID, list[ProjectRef]] = {u.id: [] for u in users}
    if users:
        rows = session.exec(
            select(UserProject.user_id, Project)
            .join(Project, col(Project.id) == UserProject.project_id)
            .where(col(UserProject.user_id).in_(list(projects)))
            .order_by(col(Project.code))
        )
        for user_id, project in rows:
            projects[user_id].append(
                ProjectRef(id=project.id, code=project.code, name=project.name)
            )
    return [
        UserPublic(
            id=u.id,
            username=u.username,
            full_name=u.full_name,
            email=u.email,
            role=u.role,
            countries=list(u.countries or []),
            projects=projects[u.id],
            is_active=u.is_active,
            created_at=u.created_at,
        )
        for u in users
    ]


# --- logging in ------------------------------------------------------------------------------


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The user whose password this is, or LoginFailed / TooManyAttempts.

    A failure is written to the session before LoginFailed is raised: the caller commits it
    (it must count even though the login fails). Success clears the failures.
    """
    username = username.strip().lower()
    now = utcnow()
    if not USERNAME_RE.match(username):
        verify_password(password, None)  # same time as a real attempt
        raise LoginFailed("wrong username or password")
    failure = session.get(LoginFailure, username)
    if failure is not None:
        locked_until = as_utc(failure.locked_until)
        if locked_until is not None and locked_until > now:
            raise _too_many(locked_until, now)
    user = get_by_username(session, username=username)
    if user is None or not verify_password(password, user.password_hash) or not user.is_active:
        locked_until = _record_failure(session, username=username, now=now)
        if user is not None:  # guesses at unknown names are counted, not written to the trail
            _audit_login(session, user, "login_locked" if locked_until else "login_failed")
        if locked_until is not None:
            raise _too_many(locked_until, now)
        raise LoginFailed("wrong username or password")
    if failure is not None:
        session.delete(failure)
    _audit_login(session, user, "login")
    return user


def _audit_login(session: Session, user: User, action: str) -> None:
    """A login, failed login or lock-out in the audit trail, where the user's country offices
    see it."""
    audit.record(
        session,
        action=action,
        entity="user",
        entity_id=user.id,
        actor_id=user.id if action == "login" else None,
        country=audit_country(user.countries),
    )


def _too_many(locked_until: datetime, now: datetime) -> TooManyAttempts:
    seconds = max(1, math.ceil((locked_until - now).total_seconds()))
    return TooManyAttempts(
        f"too many failed logins for this username: try again in {math.ceil(seconds / 60)} minutes",
        retry_after=seconds,
    )


def _record_failure(session: Session, *, username: str, now: datetime) -> datetime | None:
    """Count a failed login; returns the lock's end when this failure locks the username."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Two failures at once for a new username must not collide on the primary key.
    session.execute(
        insert(LoginFailure)
        .values(username=username, failures=0, first_failed_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    failure = session.exec(
        select(LoginFailure).where(LoginFailure.username == username).with_for_update()
    ).one()
    session.refresh(failure)
    first, locked_until = as_utc(failure.first_failed_at), as_utc(failure.locked_until)
    if (first is not None and first + FAILURE_WINDOW <= now) or (
        locked_until is not None and locked_until <= now
    ):
        failure.failures, failure.first_failed_at, failure.locked_until = 0, now, None
    failure.failures += 1
    if failure.failures >= MAX_LOGIN_FAILURES:
        failure.locked_until = now + LOCKOUT
    session.add(failure)
    return failure.locked_until
