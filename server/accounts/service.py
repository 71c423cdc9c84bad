"""Users, their scope and logins, as keyword-only service functions (no FastAPI here)."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.models import (
    ENROLLED_WITH_PASSWORD,
    REVOKED_PASSWORD_CHANGED,
    AccessToken,
    Device,
    EnrolmentCode,
    LoginFailure,
    PersonalToken,
    ProjectRef,
    User,
    UserProject,
    UserPublic,
)
from server.accounts.security import hash_password, password_problem, verify_password
from server.api import like_contains
from server.columns import utcnow
from server.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PilotMonitorError,
    ValidationFailed,
)
from server.projects.models import Project
from server.records import audit
from server.scope import JsonListOverlaps, country_scope_issue, project_scope, user_scope
from shared.catalogue import Role, codes
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# An e-mail address as people type one: something, one @, a domain with a dot; no spaces.
# (Whether it receives mail is not ours to judge; that it is one is.)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def email_issue(email: str | None) -> Issue | None:
    """The problem of an e-mail address that cannot be one (None or "" is no address)."""
    if not email or EMAIL_RE.match(email):
        return None
    return Issue("email", ErrorCode.INVALID, "is not an e-mail address: use name@example.org")


# Login throttling, so that guessing is slow but a stranger cannot lock the owner out:
# - per username AND client address: MAX_LOGIN_FAILURES failures within FAILURE_WINDOW lock
#   that address out of that username for LOCKOUT (the owner, elsewhere, is not affected);
# - per username from anywhere: past ACCOUNT_MAX_FAILURES failures within the window (guesses
#   from very many addresses), each further failure makes everyone wait ACCOUNT_DELAY — a
#   short delay, never a long lock-out. See docs/deployment.md#login-throttling.
MAX_LOGIN_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
ACCOUNT_MAX_FAILURES = 100
ACCOUNT_DELAY = timedelta(minutes=1)

# What a country officer may create: people of its own countries, never HQ or admins.
OFFICER_MAY_CREATE = frozenset({Role.FIELD_EXPERT, Role.COUNTRY_OFFICER})

# What each role's scope is made of (docs/roles.md#roles-and-scope): a field expert's projects
# (its countries follow from them), a country officer's countries. HQ analysts and admins see
# everything by their role: neither list would mean anything for them.
SCOPE_FIELDS: dict[str, str | None] = {
    Role.FIELD_EXPERT: "projects",
    Role.COUNTRY_OFFICER: "countries",
    Role.HQ_ANALYST: None,
    Role.ADMIN: None,
}


def scope_field(role: str) -> str | None:
    """The list a person of ``role`` is given: ``projects``, ``countries`` or None (all)."""
    return SCOPE_FIELDS.get(role)


class LoginFailed(PilotMonitorError):
    status_code = 401
    code = ErrorCode.BAD_CREDENTIALS
    headers = {"WWW-Authenticate": "Bearer"}


class TooManyAttempts(PilotMonitorError):
    status_code = 429
    code = ErrorCode.TOO_MANY_ATTEMPTS

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


def _user_problems(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    countries: Sequence[str],
    project_codes: Sequence[str],
    full_name: str,
    email: str | None,
    visible_projects: Any,
    refused: frozenset[str] = frozenset(),
) -> tuple[list[Issue], list[Project]]:
    """Every rule a new user breaks (all of them, for a form to show at once), and the projects
    its codes name (``refused``: countries the caller may not give, not judged again)."""
    errors: list[Issue] = []
    if not USERNAME_RE.match(username):
        errors.append(
            Issue(
                "username",
                ErrorCode.INVALID,
                "2–64 characters: lowercase letters, "
                "digits, '.', '_' or '-', starting with a letter or digit",
            )
        )
    if role not in codes(Role):
        errors.append(
            Issue(
                "role",
                ErrorCode.UNKNOWN_CODE,
                f"unknown role {role!r}; roles are " + ", ".join(codes(Role)),
            )
        )
    problem = password_problem(password, context=(username, full_name, email or ""))
    if problem:
        errors.append(problem)
    if bad_email := email_issue(email):
        errors.append(bad_email)
    scope_errors, projects = _scope_problems(
        session,
        role=role,
        countries=countries,
        project_codes=project_codes,
        visible_projects=visible_projects,
        refused=refused,
    )
    return errors + scope_errors, projects


def _scope_problems(
    session: Session,
    *,
    role: str,
    countries: Sequence[str],
    project_codes: Sequence[str],
    visible_projects: Any,
    refused: frozenset[str] = frozenset(),
) -> tuple[list[Issue], list[Project]]:
    """Every rule a person's scope breaks, when they are created or their scope changes (one
    rule set for both), and the projects its codes name (``visible_projects``: a condition over
    Project, so that a country officer learns nothing of another country's projects).

    A field expert is given projects (at least one; the countries it names must be theirs: its
    countries follow from them), a country officer countries (at least one, and no project), an
    HQ analyst or an admin neither (``SCOPE_FIELDS``). Unknown codes are named at their field;
    ``refused`` countries (the caller may not give them) are not judged again."""
    errors: list[Issue] = []
    known_role = role in SCOPE_FIELDS
    takes_countries = not known_role or role in (Role.COUNTRY_OFFICER, Role.FIELD_EXPERT)
    takes_projects = not known_role or role == Role.FIELD_EXPERT
    if countries and not takes_countries:
        errors.append(_not_applicable("countries", role))
    if project_codes and not takes_projects:
        errors.append(_not_applicable("projects", role))
    unknown = [c for c in countries if c not in COUNTRIES] if takes_countries else []
    for country in unknown:
        errors.append(
            Issue(
                "countries",
                ErrorCode.UNKNOWN_CODE,
                f"unknown country {country!r}; use ISO 3166-1 alpha-3",
            )
        )
    projects: list[Project] = []
    for code in dict.fromkeys(project_codes if takes_projects else ()):
        query = select(Project).where(Project.code == code)
        if visible_projects is not None:
            query = query.where(visible_projects)
        project = session.exec(query).one_or_none()
        if project is None:
            errors.append(Issue("projects", ErrorCode.NOT_FOUND, f"no project with code {code!r}"))
        else:
            projects.append(project)
    if role == Role.COUNTRY_OFFICER and not countries:
        errors.append(
            Issue("countries", ErrorCode.REQUIRED, "a country officer needs at least one country")
        )
    if role == Role.FIELD_EXPERT:
        projects_refused = any(e.field == "projects" for e in errors)
        if not projects and not projects_refused:
            errors.append(
                Issue("projects", ErrorCode.REQUIRED, "a field expert needs at least one project")
            )
        theirs = {p.country for p in projects}
        besides = [c for c in countries if c not in (*unknown, *refused, *theirs)]
        if besides and projects and not projects_refused:
            errors.append(
                Issue(
                    "countries",
                    ErrorCode.NOT_APPLICABLE,
                    "a field expert's countries follow from their projects: "
                    f"{', '.join(besides)} is the country of none of them; "
                    "give a project of it instead",
                    {"countries": ", ".join(besides)},
                )
            )
    return errors, projects


def _not_applicable(field: str, role: str) -> Issue:
    """A list that means nothing for ``role``'s scope (``SCOPE_FIELDS``)."""
    if role == Role.COUNTRY_OFFICER:
        reason = "a country officer's scope is its countries, with every project in them"
    else:
        reason = f"a {role} sees every country and project by their role"
    return Issue(field, ErrorCode.NOT_APPLICABLE, f"{reason}: give no {field}")


def countries_refused(caller: Caller, countries: Sequence[str]) -> list[Issue]:
    """A country officer gives people only its own countries: each known country outside them
    refused at ``countries`` (403 ``out_of_scope``; an unknown one is a rule's 422)."""
    if caller.role == Role.ADMIN:
        return []
    outside = [c for c in _country_codes(countries) if c in COUNTRIES and c not in caller.countries]
    if not outside:
        return []
    return [
        Issue(
            "countries",
            ErrorCode.OUT_OF_SCOPE,
            "you may only give people your countries ("
            + (", ".join(sorted(caller.countries)) or "none")
            + "), not "
            + ", ".join(outside),
            {"countries": ", ".join(outside)},
        )
    ]


def _refusal(refused: Sequence[Issue], problems: Sequence[Issue]) -> ValidationFailed:
    """One 403 naming the values refused at their fields, then the request's other problems,
    so that one answer says all that is wrong (docs/errors.md#body-shapes)."""
    return ValidationFailed([*refused, *problems], status_code=403)


def new_user_issues(
    session: Session,
    *,
    caller: Caller,
    data: Mapping[str, Any],
    refused: Sequence[Issue] = (),
) -> list[Issue]:
    """The rules ``create_user_as`` would find broken by ``data`` (not its permission checks),
    all of them: a form checks them alongside its own limits to name every problem at once."""
    errors, _ = _user_problems(
        session,
        username=str(data.get("username") or "").strip().lower(),
        password=str(data.get("password") or ""),
        role=str(data.get("role") or ""),
        countries=_country_codes(data.get("countries") or []),
        project_codes=[str(c) for c in data.get("projects") or []],
        full_name=str(data.get("full_name") or ""),
        email=data.get("email"),
        visible_projects=_projects_visible_to(caller),
        refused=_refused_countries(refused),
    )
    return errors


def _refused_countries(refused: Sequence[Issue]) -> frozenset[str]:
    return frozenset(
        c for issue in refused for c in issue.params.get("countries", "").split(", ") if c
    )


def new_user_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /users``'s rule checks (server.deps.rules), with the countries the caller may not
    give (the body failed its limits: one 422 names every problem)."""
    refused = countries_refused(caller, _country_codes(data.get("countries") or []))
    return refused + new_user_issues(session, caller=caller, data=data, refused=refused)


def _country_codes(countries: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(c).strip().upper() for c in countries))


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
    username = username.strip().lower()
    countries = _country_codes(countries)
    errors, projects = _user_problems(
        session,
        username=username,
        password=password,
        role=role,
        countries=countries,
        project_codes=project_codes,
        full_name=full_name,
        email=email,
        visible_projects=visible_projects,
    )
    if errors:
        raise ValidationFailed(errors)
    if get_by_username(session, username=username) is not None:
        raise Conflict(f"username {username!r} is taken", code=ErrorCode.ALREADY_EXISTS)
    # A field expert's countries are those of their projects.
    if role == Role.FIELD_EXPERT:
        countries = sorted({p.country for p in projects})
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
        # A country not theirs is refused at its field, with the body's other problems.
        if refused := countries_refused(caller, countries):
            raise _refusal(
                refused, new_user_issues(session, caller=caller, data=data, refused=refused)
            )
        # (an officer without a country is one of create_user's rules, named with the others)
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
        visible_projects=_projects_visible_to(caller),
    )


def user_list_issues(session: Session, caller: Caller | None, country: str | None) -> list[Issue]:
    """A country the catalogue does not know, or one outside the caller's scope: refused (400),
    as the other lists refuse theirs, since an empty list would read as "nobody there"."""
    if not country:
        return []
    problem = (
        Issue("country", ErrorCode.UNKNOWN_CODE, f"unknown country {country!r}")
        if country.upper() not in COUNTRIES
        else country_scope_issue(session, caller=caller, countries=[country.upper()])
    )
    return [] if problem is None else [problem]


def user_list_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``GET /users``' filter checks, beside FastAPI's limits (``server.deps.rules``)."""
    country = data.get("country")
    return user_list_issues(session, caller, country if isinstance(country, str) else None)


def _judge_country_filter(session: Session, caller: Caller, country: str | None) -> None:
    if problems := user_list_issues(session, caller, country):
        raise ValidationFailed(problems, status_code=400)


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
    _judge_country_filter(session, caller, country)
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
    """Change a person's name, e-mail, password, whether the account is active, or their scope
    (``projects`` codes, ``countries``), each replacing the list it names. A new scope holds
    from the person's next request on: every token and tablet of theirs reads it afresh."""
    user = get_user(session, caller=caller, user_id=user_id)
    refuse_unless_may_manage(session, caller=caller, user=user)
    refused = refuse_unless_may_change_scope(caller=caller, user=user, changes=changes)
    errors, scope = _change_problems(
        session, caller=caller, user=user, changes=changes, refused=refused
    )
    if refused:
        raise _refusal(refused, errors)
    if errors:
        raise ValidationFailed(errors)
    countries_before = list(user.countries or [])
    before, after = _apply_scope(session, user=user, scope=scope) if scope else ({}, {})
    for name in ("full_name", "email", "is_active"):
        if name in changes and changes[name] is not None and changes[name] != getattr(user, name):
            before[name], after[name] = getattr(user, name), changes[name]
            setattr(user, name, changes[name])
    if changes.get("password") is not None:
        user.password_hash = hash_password(changes["password"])
        user.password_changed_at = utcnow()
        # A new password ends the person's other sessions (a leaked one stops working now).
        others = [col(AccessToken.user_id) == user.id, col(AccessToken.revoked_at).is_(None)]
        if caller.access_token_id is not None:
            others.append(col(AccessToken.id) != caller.access_token_id)
        session.execute(
            sa_update(AccessToken).where(*others).values(revoked_at=user.password_changed_at)
        )
        # And every personal token: one made with a stolen password must not outlive it.
        revoked = _revoke_all(session, PersonalToken, user_id=user.id, now=user.password_changed_at)
        # And every tablet enrolled with the password (not with a code from the office, which
        # a stolen password cannot get): its person enrols it again with the new one.
        tablets_revoked = _revoke_all(
            session,
            Device,
            user_id=user.id,
            now=user.password_changed_at,
            only=col(Device.enrolled_with) == ENROLLED_WITH_PASSWORD,
            revoked_reason=REVOKED_PASSWORD_CHANGED,
        )
        after["password"] = "changed"  # noqa: S105
        if revoked:
            after["personal_tokens_revoked"] = revoked
        if tablets_revoked:
            after["tablets_revoked"] = tablets_revoked
    if after.get("is_active") is False:
        # Deactivating ends every way in for good: reactivating the account later does not
        # bring back a session or a tablet someone may have kept (they log in or enrol again).
        now = utcnow()
        for kind in (AccessToken, PersonalToken):
            _revoke_all(session, kind, user_id=user.id, now=now)
        after["tablets_revoked"] = after.get("tablets_revoked", 0) + _revoke_all(
            session, Device, user_id=user.id, now=now
        )
        # A tablet signed out earlier by a new password could come back with that password;
        # once the account is deactivated, only an enrolment code brings a tablet back.
        session.execute(
            sa_update(Device)
            .where(
                col(Device.user_id) == user.id,
                col(Device.revoked_reason) == REVOKED_PASSWORD_CHANGED,
            )
            .values(revoked_reason=None)
        )
        # An enrolment code not yet used is a way in too (a QR code on someone's desk).
        withdrawn = session.execute(
            sa_update(EnrolmentCode)
            .where(
                col(EnrolmentCode.user_id) == user.id,
                col(EnrolmentCode.used_at).is_(None),
                col(EnrolmentCode.expires_at) > now,
            )
            .values(expires_at=now)
        )
        if codes := _changed(withdrawn):
            after["enrolment_codes_withdrawn"] = codes
    _audit_change(
        session,
        user=user,
        actor_id=caller.user.id,
        countries_before=countries_before,
        before=before,
        after=after,
    )
    return user


def set_scope(
    session: Session,
    *,
    username: str,
    countries: Sequence[str] | None = None,
    project_codes: Sequence[str] | None = None,
) -> User:
    """Set a person's countries and/or projects as an administrator would, for the command
    line (no caller: any existing project or country); the same rules and audit entry as
    ``PATCH /users/{id}``."""
    user = get_by_username(session, username=username.strip().lower())
    if user is None:
        raise NotFound(f"no user {username!r}")
    changes = {"countries": countries, "projects": project_codes}
    errors, scope = _new_scope(session, user=user, changes=changes, visible_projects=None)
    if errors:
        raise ValidationFailed(errors)
    assert scope is not None  # one of the two was given
    countries_before = list(user.countries or [])
    before, after = _apply_scope(session, user=user, scope=scope)
    _audit_change(
        session,
        user=user,
        actor_id=None,
        countries_before=countries_before,
        before=before,
        after=after,
    )
    return user


def _audit_change(
    session: Session,
    *,
    user: User,
    actor_id: uuid.UUID | None,
    countries_before: Sequence[str],
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """The audit entry of a change of a person (none when nothing changed). A person moved
    between countries is filed under both (``audit_country`` of them all: none for two), so
    that neither country's officers lose sight of it."""
    if not after:
        return
    session.add(user)
    audit.record(
        session,
        action="update",
        entity="user",
        entity_id=user.id,
        actor_id=actor_id,
        country=audit_country(sorted({*countries_before, *(user.countries or [])})),
        before=before,
        after=after,
    )


def refuse_unless_may_change_scope(
    *, caller: Caller, user: User, changes: Mapping[str, Any]
) -> list[Issue]:
    """Forbidden unless ``caller`` may change ``user``'s scope: nobody changes their own (so
    nobody widens it). The countries ``changes`` give that the caller may not give (a country
    officer's are its own: ``countries_refused``), to be refused with the change's other
    problems; its own countries' projects are the only ones it can name (``visible_projects``)."""
    countries = changes.get("countries")
    if countries is None and changes.get("projects") is None:
        return []
    if user.id == caller.user.id:
        raise Forbidden(OWN_SCOPE_ADMIN if caller.role == Role.ADMIN else OWN_SCOPE)
    return _may_give(caller=caller, user=user, changes=changes)


OWN_SCOPE = "nobody changes their own projects or countries: ask an administrator"
OWN_SCOPE_ADMIN = (
    "nobody changes their own projects or countries: ask another administrator, or use "
    "`pilotmon users set-scope` on the server"
)


@dataclass(frozen=True, slots=True)
class _Scope:
    """A person's scope as a change would leave it."""

    countries: list[str]
    projects: list[Project]


def _change_problems(
    session: Session,
    *,
    caller: Caller,
    user: User,
    changes: Mapping[str, Any],
    refused: Sequence[Issue] = (),
) -> tuple[list[Issue], _Scope | None]:
    """Every rule a change of ``user`` breaks (not the permission checks), and the scope it
    gives them (None: it leaves their scope alone)."""
    errors: list[Issue] = []
    if bad_email := email_issue(changes.get("email")):
        errors.append(bad_email)
    if user.id == caller.user.id and changes.get("is_active") is False:
        errors.append(
            Issue("is_active", ErrorCode.FORBIDDEN, "you cannot deactivate your own account")
        )
    if changes.get("password") is not None:
        # checked against the name and e-mail the account will have
        full_name, email = (
            user.full_name if changes.get("full_name") is None else changes["full_name"],
            user.email if changes.get("email") is None else changes["email"],
        )
        problem = password_problem(
            changes["password"], context=(user.username, full_name, email or "")
        )
        if problem:
            errors.append(problem)
    scope_errors, scope = _new_scope(
        session,
        user=user,
        changes=changes,
        visible_projects=_projects_visible_to(caller),
        refused=_refused_countries(refused),
    )
    return errors + scope_errors, scope


def _new_scope(
    session: Session,
    *,
    user: User,
    changes: Mapping[str, Any],
    visible_projects: Any,
    refused: frozenset[str] = frozenset(),
) -> tuple[list[Issue], _Scope | None]:
    """The scope ``changes`` (``countries``, ``projects``: None leaves one as it is) give
    ``user``, checked by ``_scope_problems`` as at creation. A field expert's countries are
    those of their projects (the ``countries`` named must be among them); a list left out is
    not judged again, so a scope stored before these rules stays until it is changed."""
    countries, codes = changes.get("countries"), changes.get("projects")
    if countries is None and codes is None:
        return [], None
    current = _projects_of(session, user_id=user.id)
    expert = user.role == Role.FIELD_EXPERT
    if countries is not None:
        judged = _country_codes(countries)
    elif user.role == Role.COUNTRY_OFFICER:
        judged = list(user.countries or [])  # (what stays keeps its "at least one" rule)
    else:
        judged = []
    if codes is not None:
        project_codes = [str(c) for c in codes]
    else:
        project_codes = [p.code for p in current] if expert else []
    errors, projects = _scope_problems(
        session,
        role=user.role,
        countries=judged,
        project_codes=project_codes,
        visible_projects=visible_projects,
        refused=refused,
    )
    if expert:
        new_countries = [p.country for p in projects]
    else:
        new_countries = judged if countries is not None else list(user.countries or [])
    if not expert and codes is None:
        projects = current  # (none, but for a scope stored before these rules)
    return errors, _Scope(sorted(set(new_countries)), projects)


def _apply_scope(
    session: Session, *, user: User, scope: _Scope
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give ``user`` the checked ``scope``; what it was and is now (only what changed)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    current = {p.id: p for p in _projects_of(session, user_id=user.id)}
    wanted = {p.id: p for p in scope.projects}
    if current.keys() != wanted.keys():
        before["projects"] = sorted(p.code for p in current.values())
        after["projects"] = sorted(p.code for p in wanted.values())
        gone = [project_id for project_id in current if project_id not in wanted]
        if gone:
            session.execute(
                sa_delete(UserProject).where(
                    col(UserProject.user_id) == user.id, col(UserProject.project_id).in_(gone)
                )
            )
        session.add_all(
            UserProject(user_id=user.id, project_id=project_id)
            for project_id in wanted
            if project_id not in current
        )
    if sorted(user.countries or []) != scope.countries:
        before["countries"], after["countries"] = list(user.countries or []), scope.countries
        user.countries = scope.countries
    return before, after


def _projects_of(session: Session, *, user_id: uuid.UUID) -> list[Project]:
    return list(
        session.exec(
            select(Project)
            .join(UserProject, col(UserProject.project_id) == Project.id)
            .where(UserProject.user_id == user_id)
            .order_by(col(Project.code))
        )
    )


def _projects_visible_to(caller: Caller) -> Any:
    """The condition over Project limiting which codes a caller may name (None: any)."""
    return None if caller.role == Role.ADMIN else project_scope(caller)


def user_change_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``PATCH /users/{user_id}``'s rule checks (server.deps.rules)."""
    user = get_user(session, caller=caller, user_id=uuid.UUID(path["user_id"]))
    refused = _may_give(caller=caller, user=user, changes=data)
    errors, _ = _change_problems(session, caller=caller, user=user, changes=data, refused=refused)
    return refused + errors


def _may_give(*, caller: Caller, user: User, changes: Mapping[str, Any]) -> list[Issue]:
    """The countries a change gives that ``caller`` may not give (none for one's own scope,
    which is refused whole once the body is read)."""
    if user.id == caller.user.id:
        return []
    return countries_refused(caller, changes.get("countries") or [])


def reach_of(
    session: Session, users: Sequence[User | UserPublic]
) -> dict[uuid.UUID, frozenset[str]]:
    """Every country each person's account reaches: their own countries and their projects'
    (a project can move to another country after its people were given it). One query."""
    reach: dict[uuid.UUID, set[str]] = {u.id: set(u.countries or []) for u in users}
    if reach:
        rows = session.exec(
            select(UserProject.user_id, Project.country)
            .join(Project, col(Project.id) == UserProject.project_id)
            .where(col(UserProject.user_id).in_(list(reach)))
        )
        for user_id, country in rows:
            reach[user_id].add(country)
    return {user_id: frozenset(countries) for user_id, countries in reach.items()}


def may_manage_user(caller: Caller, user: User | UserPublic, *, reach: frozenset[str]) -> bool:
    """Whether ``caller`` may change ``user``'s account, issue codes for their tablets or revoke
    them: an admin anyone, a country officer the field experts and officers whose every country
    (``reach``, from ``reach_of``: their countries and their projects') is theirs. Whoever holds
    the account or a tablet of it reaches all of that, so managing it needs all of it."""
    if caller.role == Role.ADMIN:
        return True
    return (
        caller.role == Role.COUNTRY_OFFICER
        and user.role in OFFICER_MAY_CREATE
        and bool(reach)
        and reach <= caller.countries
    )


def _revoke_all(
    session: Session,
    kind: type[AccessToken] | type[Device] | type[PersonalToken],
    *,
    user_id: uuid.UUID,
    now: datetime,
    only: ColumnElement[bool] | None = None,
    **values: Any,
) -> int:
    """Revoke every live session, personal token or tablet of a person (``only`` those it
    holds, setting ``values`` besides); how many there were."""
    live = [col(kind.user_id) == user_id, col(kind.revoked_at).is_(None)]
    done = session.execute(
        sa_update(kind)
        .where(*live, *([only] if only is not None else []))
        .values(revoked_at=now, **values)
    )
    return _changed(done)


def _changed(result: Any) -> int:
    """How many rows an UPDATE changed."""
    return int(getattr(result, "rowcount", 0) or 0)


def refuse_unless_may_manage(session: Session, *, caller: Caller, user: User) -> None:
    """Forbidden (``person_out_of_scope``) unless ``may_manage_user``, naming what is not yours."""
    reach = reach_of(session, [user])[user.id]
    if may_manage_user(caller, user, reach=reach):
        return
    params: dict[str, str] = {}
    if caller.role != Role.COUNTRY_OFFICER:
        reason = f"your role ({caller.role}) may not manage people or tablets"
    elif user.role not in OFFICER_MAY_CREATE:
        reason = f"a country officer may not manage a {user.role}'s account or tablets"
    else:
        outside = ", ".join(sorted(reach - caller.countries)) or "no country"
        params["countries"] = outside
        reason = (
            f"{user.username} also works in {outside}, outside your countries "
            f"({', '.join(sorted(caller.countries))}): only an admin or an officer of all "
            "their countries may manage their account or tablets"
        )
    raise Forbidden(reason, code=ErrorCode.PERSON_OUT_OF_SCOPE, params=params)


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


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    source: str,
    now: datetime | None = None,
) -> User:
    """The user whose password this is, or LoginFailed / TooManyAttempts.

    ``source`` is the client's address: failures lock that address out of the username, not
    the username for everyone. A failure is written to the session before LoginFailed is
    raised: the caller commits it (it must count even though the login fails). Success clears
    the failures.
    """
    username = username.strip().lower()
    now = now or utcnow()
    if not USERNAME_RE.match(username):
        verify_password(password, None)  # same time as a real attempt
        raise LoginFailed("wrong username or password")
    refuse_if_locked(session, username=username, source=source, now=now)
    user = get_by_username(session, username=username)
    # An unknown name takes a hash's time too (against a dummy hash), or the answer's speed
    # would tell anyone which usernames exist.
    known = verify_password(password, user.password_hash if user is not None else None)
    if user is None or not known or not user.is_active:
        locked = count_failed_login(session, username=username, source=source, now=now)
        if user is not None:  # guesses at unknown names are counted, not written to the trail
            _audit_login(session, user, "login_locked" if locked else "login_failed")
        if locked is not None:
            raise locked
        raise LoginFailed("wrong username or password")
    forget_login_failures(session, usernames=[username], source=source)
    _audit_login(session, user, "login")
    return user


def refuse_if_locked(session: Session, *, username: str, source: str, now: datetime) -> None:
    """TooManyAttempts while ``username`` is locked for ``source`` or slowed for everyone."""
    keys = (source_key(username, source), username)
    for key, reason in zip(keys, (_FROM_HERE, _FROM_EVERYWHERE), strict=True):
        failure = session.get(LoginFailure, key)
        locked_until = failure.locked_until if failure is not None else None
        if locked_until is not None and locked_until > now:
            raise _too_many(locked_until, now, reason)


def count_failed_login(
    session: Session, *, username: str, source: str, now: datetime
) -> TooManyAttempts | None:
    """Count a failed sign-in (password or personal token) from ``source``; the lock's error
    when this failure locks the username for that address (or slows it for everyone)."""
    keys = (source_key(username, source), username)
    locked = [
        _record_failure(
            session, key=keys[0], now=now, limit=MAX_LOGIN_FAILURES, lock=LOCKOUT, restart=True
        ),
        _record_failure(
            session,
            key=keys[1],
            now=now,
            limit=ACCOUNT_MAX_FAILURES,
            lock=ACCOUNT_DELAY,
            restart=False,
        ),
    ]
    for locked_until, reason in zip(locked, (_FROM_HERE, _FROM_EVERYWHERE), strict=True):
        if locked_until is not None:
            return _too_many(locked_until, now, reason)
    return None


def has_login_failures(session: Session, *, username: str, source: str) -> bool:
    keys = [source_key(username, source), username]
    return (
        session.exec(
            select(LoginFailure.username).where(col(LoginFailure.username).in_(keys))
        ).first()
        is not None
    )


def source_key(username: str, source: str) -> str:
    """The throttling key of ``username`` from ``source``: ``@`` (never in a username), a hash
    of the username (so that all its keys share a prefix) and a hash of the address (which is
    not stored in clear)."""
    return "@" + _digest(username)[:31] + _digest(source)[:32]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def forget_login_failures(
    session: Session, *, usernames: Sequence[str], source: str | None = None
) -> None:
    """Clear the failure counts of ``usernames``: from ``source`` and everywhere, or (no
    source) from every address."""
    keys: list[Any] = [col(LoginFailure.username).in_(list(usernames))]
    if source is not None:
        keys.append(col(LoginFailure.username).in_([source_key(u, source) for u in usernames]))
    else:
        keys += [
            col(LoginFailure.username).startswith("@" + _digest(u)[:31], autoescape=True)
            for u in usernames
        ]
    session.execute(sa_delete(LoginFailure).where(or_(*keys)))


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


_FROM_HERE = "too many failed logins for this username from your address"
_FROM_EVERYWHERE = "many failed logins for this username from many addresses"


def _too_many(locked_until: datetime, now: datetime, reason: str) -> TooManyAttempts:
    seconds = max(1, math.ceil((locked_until - now).total_seconds()))
    wait = f"{math.ceil(seconds / 60)} minutes" if seconds > 90 else f"{seconds} seconds"
    return TooManyAttempts(f"{reason}: try again in {wait}", retry_after=seconds)


def _record_failure(
    session: Session, *, key: str, now: datetime, limit: int, lock: timedelta, restart: bool
) -> datetime | None:
    """Count a failed login under ``key``; returns the lock's end when this failure locks it.
    ``restart``: a lock that has passed starts a fresh count (per address); otherwise the count
    goes on for the window and each failure past ``limit`` locks again (account-wide delay)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Two failures at once for a new key must not collide on the primary key.
    session.execute(
        insert(LoginFailure)
        .values(username=key, failures=0, first_failed_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    failure = session.exec(
        select(LoginFailure).where(LoginFailure.username == key).with_for_update()
    ).one()
    session.refresh(failure)
    first, locked_until = failure.first_failed_at, failure.locked_until
    lock_passed = locked_until is not None and locked_until <= now
    if (first is not None and first + FAILURE_WINDOW <= now) or (restart and lock_passed):
        failure.failures, failure.first_failed_at = 0, now
    if lock_passed:
        failure.locked_until = None
    failure.failures += 1
    if failure.failures >= limit:
        failure.locked_until = now + lock
    session.add(failure)
    return failure.locked_until
