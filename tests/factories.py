"""Test data factories: valid records with sensible defaults, overridable per test."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, SQLModel

from server.accounts.models import User, UserProject
from server.projects.models import Project, Site

_counter = itertools.count(1)
PASSWORD = "correct horse battery"
# Every factory user's password hash: a real argon2id hash, checked by the real
# verify_password, but with small parameters (as tests/server/demo does). The production ones
# (hash_password) cost 0.2 s of CPU and 64 MiB per login, and the suite logs in very many
# times; what is under test there is the login, not argon2's cost.
_PASSWORD_HASH = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def _password_hash() -> str:
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
        # Two years on from today whatever the day: tests record activities "three days ago".
        "end_date": date(datetime.now(UTC).year + 2, 12, 31),
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
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 12,
            },
            {
                "sex": "male",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 8,
            },
        ],
        "participant_ids": None,
        "status": "submitted",
        "captured_at": "2025-03-14T10:00:00+02:00",
    }
    values.update(overrides)
    return values


# --- accounts, activities and a two-country world (helper-3) ---------------------------------


def make_access_token(session: Session, user: User, *, minutes: int = 60) -> str:
    """A bearer token for ``user`` without going through the (slow, throttled) login."""
    from server.accounts.auth import issue_access_token

    token, _ = issue_access_token(session, user=user, minutes=minutes)
    session.flush()
    return token


def make_device(session: Session, user: User, **overrides: Any) -> tuple[Any, str]:
    """An enrolled tablet of ``user``; returns (device, device token)."""
    from server.accounts.models import Device
    from server.accounts.security import new_token, token_hash

    token = new_token()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": user.id,
        "label": "Tablet",
        "app_version": "1.0.0",
        "token_hash": token_hash(token),
    }
    values.update(overrides)
    device = Device(**values)
    session.add(device)
    session.flush()
    return device, token


def make_activity(
    session: Session,
    project: Project,
    *,
    author: User | None = None,
    status: str | None = None,
    **overrides: Any,
) -> Any:
    """An activity written through the shared write path (revision and change log included)."""
    from server.activities.service import write_activity

    data = activity_data(project, **overrides)
    return write_activity(
        session,
        data=data,
        existing=None,
        source="api",
        author_id=author.id if author else None,
        status=status or data.get("status") or "submitted",
    )


def office_edit(
    engine: Any, activity_id: str | uuid.UUID, *, status: str | None = None, **fields: Any
) -> int:
    """A change the country office makes on the server (the dashboard or the API), not a
    tablet: ``fields`` edited and/or the review ``status`` moved, committed. Returns the
    activity's new version."""
    from server.activities.models import Activity
    from server.activities.service import write_activity

    with Session(engine) as session:
        activity = session.get(Activity, uuid.UUID(str(activity_id)))
        assert activity is not None
        write_activity(
            session, data=fields, existing=activity, source="api", author_id=None, status=status
        )
        session.commit()
        return activity.version


class World:
    """Two countries side by side (LSO and KEN), each with a project, a site, a target, an
    activity, a field expert and a country officer; plus an HQ analyst and an admin.

    ``tokens[name]`` is a bearer token for each person: admin, hq, officer_lso, officer_ken,
    expert_lso, expert_ken.
    """

    def __init__(self, session: Session) -> None:
        from server.projects.models import Target

        self.project_lso = make_project(session, country="LSO")
        self.project_ken = make_project(
            session,
            country="KEN",
            code=f"KEN-CPP-{next(_counter):03d}",
            name="Grain storage pilot",
            thematic_area="TA2",
            solutions=["S4", "S5"],
            priority_product="maize",
        )
        self.site_lso = make_site(session, self.project_lso)
        self.site_ken = make_site(
            session, self.project_ken, name="Kitui store", admin_area="Kitui", lat=-1.37, lon=38.01
        )
        self.target_lso = Target(
            project_id=self.project_lso.id, indicator="PARTICIPANTS", period="2025", value=500
        )
        self.target_ken = Target(
            project_id=self.project_ken.id, indicator="PARTICIPANTS", period="2025", value=300
        )
        session.add_all([self.target_lso, self.target_ken])
        self.users = {
            "admin": make_user(session, role="admin", countries=[]),
            "hq": make_user(session, role="hq_analyst", countries=[]),
            "officer_lso": make_user(session, role="country_officer", countries=["LSO"]),
            "officer_ken": make_user(session, role="country_officer", countries=["KEN"]),
            "expert_lso": make_user(session, role="field_expert", projects=[self.project_lso]),
            "expert_ken": make_user(session, role="field_expert", projects=[self.project_ken]),
        }
        self.activity_lso = make_activity(
            session,
            self.project_lso,
            author=self.users["expert_lso"],
            site_id=str(self.site_lso.id),
        )
        self.activity_ken = make_activity(
            session,
            self.project_ken,
            author=self.users["expert_ken"],
            topic="S4.T1",
            modality="K",
            title="Hermetic bag training",
        )
        self.tokens = {name: make_access_token(session, user) for name, user in self.users.items()}
        session.commit()
        detach(session)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def detach(session: Session) -> None:
    """Load every object of the session, detach them and end the transaction.

    On SQLite a test session that keeps a transaction open holds the write lock and the app
    under test would wait for it; detached objects keep their values without touching the
    database again.
    """
    objects = list(session.identity_map.values())
    for obj in objects:
        session.refresh(obj)
    session.expunge_all()
    session.rollback()


def fresh(session: Session, model: type[Any], key: Any) -> Any:
    """The row as the database has it now, detached, with the session's transaction ended."""
    session.expire_all()
    row = session.get(model, key)
    if row is not None:
        session.refresh(row)
        session.expunge(row)
    session.rollback()
    return row


def rows(session: Session, statement: Any) -> list[Any]:
    """Run a SELECT and end the transaction; ORM objects come back detached with their values."""
    session.expire_all()
    found = list(session.exec(statement))
    for item in found:
        for obj in item if isinstance(item, tuple) else (item,):
            if isinstance(obj, SQLModel) and obj in session:
                session.expunge(obj)
    session.rollback()
    return found


# --- observations (docs/results.md#observations) -------------------------------------------

HARVEST_FIELDS: list[dict[str, Any]] = [
    {
        "name": "plot",
        "type": "select_one",
        "required": True,
        "label": {"en": "Plot"},
        "choices": [
            {"code": "demo", "label": {"en": "Demonstration"}},
            {"code": "control", "label": {"en": "Control"}},
        ],
    },
    {"name": "harvest_kg", "type": "decimal", "required": True, "min": 0, "max": 100000},
    {"name": "plot_area_m2", "type": "integer", "min": 1, "max": 1000000},
    {
        "name": "practice",
        "type": "text",
        "required": True,
        "relevant": {"field": "plot", "in": ["demo"]},
    },
    {"name": "harvest_date", "type": "date", "min": "2020-01-01"},
    {"name": "irrigated", "type": "boolean"},
]


def make_observation_form(
    session: Session,
    *,
    project: Project | None = None,
    code: str | None = None,
    version: int = 1,
    status: str = "published",
    fields: list[dict[str, Any]] | None = None,
) -> Any:
    """A form version as the forms service stores it (a global one unless ``project``)."""
    from server.results.models import Form

    form = Form(
        code=code or f"HARVEST_{next(_counter)}",
        version=version,
        title={"en": "Harvest"},
        project_id=project.id if project is not None else None,
        status=status,
        fields=fields if fields is not None else HARVEST_FIELDS,
    )
    session.add(form)
    session.flush()
    return form


def observation_data(project: Project, form: Any, **overrides: Any) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "project_id": str(project.id),
        "form_id": str(form.id),
        "form_version": form.version,
        "observed_on": "2025-03-14",
        "values": {"plot": "demo", "harvest_kg": 420.5, "plot_area_m2": 1000, "practice": "CA"},
        "notes": "",
    }
    values.update(overrides)
    return values


def make_observation(
    session: Session,
    project: Project,
    form: Any,
    *,
    author: User | None = None,
    status: str = "submitted",
    **overrides: Any,
) -> Any:
    """An observation written through its one write path (revision, change log, audit)."""
    from server.results.observations import write_observation

    data = observation_data(project, form, **overrides)
    return write_observation(
        session,
        existing=None,
        project=project,
        changes=data,
        source="api",
        author_id=author.id if author else None,
        status=status,
        new_id=uuid.UUID(data["id"]),
    )


def activity_versions(session: Session, activity_id: uuid.UUID) -> list[Any]:
    """Every version of an activity as its history keeps it, oldest first: its revision rows,
    and version 1 from its own rows while no later version has superseded it
    (docs/architecture.md#revisions). Each has the revision's attributes (version, data,
    source, author_id, device_id, created_at)."""
    from sqlmodel import col, select

    from server.activities.models import Activity, ActivityRevision
    from server.activities.service import first_revision

    activity = session.get(Activity, activity_id)
    assert activity is not None
    rows = list(
        session.exec(
            select(ActivityRevision)
            .where(col(ActivityRevision.activity_id) == activity_id)
            .order_by(col(ActivityRevision.version))
        ).all()
    )
    first = first_revision(session, activity)
    if first is not None and not rows:
        return [first]
    return rows


def versions_by_device(session: Session, device_id: uuid.UUID) -> int:
    """How many activity versions a device wrote, as the histories keep them: its revisions,
    and the versions 1 still kept in their activity's row (``activity_versions``)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from server.activities.models import Activity, ActivityRevision

    revisions = session.execute(
        select(func.count())
        .select_from(ActivityRevision)
        .where(col(ActivityRevision.device_id) == device_id)
    ).scalar_one()
    in_rows = session.execute(
        select(func.count())
        .select_from(Activity)
        .where(
            col(Activity.device_id) == device_id,
            col(Activity.version) == 1,
            col(Activity.created_via).is_not(None),
        )
    ).scalar_one()
    return int(revisions) + int(in_rows)


def attendance_lists(*, min_size: int = 0) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Valid attendance rows for Hypothesis: farmers by sex, age band and disability, each
    combination at most once, 0 to 60 people each."""
    return st.lists(
        st.fixed_dictionaries(
            {
                "sex": st.sampled_from(["female", "male"]),
                "age_band": st.sampled_from(["youth", "adult"]),
                "category": st.just("farmer"),
                "disability": st.booleans(),
                "count": st.integers(0, 60),
            }
        ),
        min_size=min_size,
        max_size=3,
        unique_by=lambda r: (r["sex"], r["age_band"], r["disability"]),
    )
