"""Test data factories: valid records with sensible defaults, overridable per test."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

from sqlmodel import Session

from server.accounts.models import User, UserProject
from server.accounts.security import hash_password
from server.projects.models import Project, Site

_counter = itertools.count(1)
PASSWORD = "correct horse battery"
_PASSWORD_HASH: str | None = None


def _password_hash() -> str:
    # Hashing with argon2 is deliberately slow; one hash serves every factory user.
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = hash_password(PASSWORD)
    return _PASSWORD_HASH


def make_project(session: Session, **overrides: Any) -> Project:
    n = next(_counter)
    values: dict[str, Any] = {
        "code": f"LSO-CPP-{n:03d}",
        "name": f"Potato value chain pilot {n}",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "solutions": ["S1", "S2"],
        "partners": ["MAFSN"],
        "priority_product": "potato",
        "start_date": date(2024, 1, 1),
        "end_date": date(2027, 12, 31),
    }
    values.update(overrides)
    project = Project(**values)
    session.add(project)
    session.flush()
    return project


def make_site(session: Session, project: Project, **overrides: Any) -> Site:
    values: dict[str, Any] = {
        "project_id": project.id,
        "name": f"Demonstration plot {next(_counter)}",
        "admin_area": "Maseru",
        "lat": -29.31,
        "lon": 27.48,
    }
    values.update(overrides)
    site = Site(**values)
    session.add(site)
    session.flush()
    return site


def make_user(
    session: Session,
    *,
    role: str = "field_expert",
    countries: list[str] | None = None,
    projects: list[Project] = (),  # type: ignore[assignment]
    username: str | None = None,
) -> User:
    user = User(
        username=username or f"{role.replace('_', '')}{next(_counter)}",
        password_hash=_password_hash(),
        role=role,
        countries=countries if countries is not None else sorted({p.country for p in projects}),
    )
    session.add(user)
    session.flush()
    for project in projects:
        session.add(UserProject(user_id=user.id, project_id=project.id))
    session.flush()
    return user


def activity_data(project: Project, **overrides: Any) -> dict[str, Any]:
    """A valid activity as it travels on the wire."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(project.id),
        "site_id": None,
        "type": "demonstration",
        "title": "Seed potato storage demonstration",
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "delivery": "in_person",
        "value_chain_stage": "storage",
        "facilitators": ["Mr Chen", "Ms Mokoena"],
        "experts_count": 2,
        "location": None,
        "notes": "",
        "attendance": [
            {"sex": "female", "age_band": "adult", "category": "farmer", "disability": False,
             "count": 12},
            {"sex": "male", "age_band": "youth", "category": "farmer", "disability": False,
             "count": 8},
        ],
        "participant_ids": None,
        "status": "submitted",
        "captured_at": "2025-03-14T10:00:00+02:00",
    }
    values.update(overrides)
    return values
