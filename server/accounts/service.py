"""Users and their scope, as keyword-only service functions (no FastAPI here)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlmodel import select
from sqlmodel import Session

from server.accounts.models import User, UserProject
from server.accounts.security import hash_password, password_problem
from server.audit import service as audit
from server.errors import Conflict, ValidationFailed
from server.projects.models import Project
from shared.catalogue import Role, codes
from shared.geography import COUNTRIES

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def get_by_username(session: Session, *, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).one_or_none()


def project_ids_of(session: Session, *, user_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.exec(
        select(UserProject.project_id).where(UserProject.user_id == user_id)
    ))


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    countries: Sequence[str] = (),
    project_codes: Sequence[str] = (),
    full_name: str = "",
    actor_id: uuid.UUID | None = None,
) -> User:
    """Create a user with a hashed password and a scope; raises ValidationFailed or Conflict."""
    errors: list[dict[str, str]] = []
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        errors.append({"field": "username", "message": "2–64 characters: lowercase letters, "
                       "digits, '.', '_' or '-', starting with a letter or digit"})
    if role not in codes(Role):
        errors.append({"field": "role", "message": f"unknown role {role!r}; roles are "
                       + ", ".join(codes(Role))})
    problem = password_problem(password)
    if problem:
        errors.append({"field": "password", "message": problem})
    countries = [c.strip().upper() for c in countries]
    for country in countries:
        if country not in COUNTRIES:
            errors.append({"field": "countries",
                           "message": f"unknown country {country!r}; use ISO 3166-1 alpha-3"})
    projects: list[Project] = []
    for code in project_codes:
        project = session.exec(select(Project).where(Project.code == code)).one_or_none()
        if project is None:
            errors.append({"field": "projects", "message": f"no project with code {code!r}"})
        else:
            projects.append(project)
    if role == Role.COUNTRY_OFFICER and not countries:
        errors.append({"field": "countries",
                       "message": "a country officer needs at least one country"})
    if role == Role.FIELD_EXPERT and not projects:
        errors.append({"field": "projects", "message": "a field expert needs at least one project"})
    if errors:
        raise ValidationFailed(errors)
    if get_by_username(session, username=username) is not None:
        raise Conflict(f"username {username!r} is taken")
    # A field expert's countries follow from their projects.
    if role == Role.FIELD_EXPERT:
        countries = sorted({*countries, *(p.country for p in projects)})
    user = User(username=username, full_name=full_name, password_hash=hash_password(password),
                role=role, countries=countries)
    session.add(user)
    session.flush()
    for project in projects:
        session.add(UserProject(user_id=user.id, project_id=project.id))
    audit.record(session, action="create", entity="user", entity_id=user.id, actor_id=actor_id,
                 country=countries[0] if len(countries) == 1 else None,
                 after={"username": username, "role": role, "countries": countries,
                        "projects": [p.code for p in projects]})
    return user
