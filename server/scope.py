"""Who may see and change what (docs/roles.md), as SQL conditions that every query adds.

One place turns a ``Caller`` into WHERE clauses, so lists, details, exports, pull and indicators
all apply the same scope in the database instead of filtering in Python:

    field_expert      its projects (``UserProject``)
    country_officer   the projects of its countries
    hq_analyst        everything, read only
    admin             everything

Reading (conditions to put in ``.where(...)``):

    project_scope(caller)                  over Project
    visible_project_ids(caller)            a ``select(Project.id)`` of the caller's projects
    in_visible_project(column, caller)     any ``project_id`` column (Activity, Site, Target, ...)
    activity_scope / site_scope / target_scope / participant_scope(caller)
    user_scope(caller)                     over User (people in the caller's countries)
    device_scope(caller)                   over Device (tablets of the users above)
    audit_scope(caller)                    over AuditEntry (entries of the caller's countries)

Changing (plain predicates on loaded rows; a record out of reading scope is a 404, one in
reading scope but not writable a 403):

    can_read_project(caller, project)      can_write_project(caller, project)
    can_review(caller, project)            can_manage_country(caller, country)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from server.accounts.auth import Caller
from server.accounts.models import Device, User
from server.activities.models import Activity
from server.projects.models import Participant, Project, Site, Target
from server.records.models import AuditEntry
from shared.catalogue import Role
from shared.errors import ErrorCode, Issue

READ_ALL_ROLES: frozenset[str] = frozenset({Role.HQ_ANALYST, Role.ADMIN})


def sees_everything(caller: Caller) -> bool:
    return caller.role in READ_ALL_ROLES


# --- reading -------------------------------------------------------------------------------


def project_scope(caller: Caller) -> ColumnElement[bool]:
    """The projects the caller may see, as a condition over ``Project``."""
    if sees_everything(caller):
        return sa.true()
    if caller.role == Role.COUNTRY_OFFICER:
        return _in(Project.country, caller.countries)
    if caller.role == Role.FIELD_EXPERT:
        return _in(Project.id, caller.project_ids)
    return sa.false()


def countries_outside_scope(
    session: OrmSession, *, caller: Caller | None, countries: Sequence[str]
) -> list[str]:
    """The countries among ``countries`` the caller may not see: a country officer's are its
    countries, a field expert's its projects' (HQ analysts and admins see every country)."""
    if caller is None or sees_everything(caller) or not countries:
        return []
    statement = sa.select(col(Project.country)).where(project_scope(caller)).distinct()
    theirs = set(caller.countries) | set(session.execute(statement).scalars().all())
    return [c for c in countries if c not in theirs]


def country_scope_issue(
    session: OrmSession, *, caller: Caller | None, countries: Sequence[str]
) -> Issue | None:
    """A country filter naming countries outside the caller's scope would count nothing: an
    empty answer that reads as "nothing happened there". The problem to refuse it with, like a
    project outside the scope, or None."""
    outside = countries_outside_scope(session, caller=caller, countries=countries)
    if not outside:
        return None
    return Issue(
        "country",
        ErrorCode.OUT_OF_SCOPE,
        f"{', '.join(outside)} is not one of the countries in your scope",
    )


def find_projects(
    session: OrmSession, *, caller: Caller | None, values: Sequence[str]
) -> tuple[list[uuid.UUID], Issue | None]:
    """The ids of the projects ``values`` (codes or ids) name within the caller's scope (None:
    every project), and the problem to refuse the others with (unknown or outside it), or None."""
    if not values:
        return [], None
    ids: list[uuid.UUID] = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    statement = sa.select(col(Project.id), col(Project.code)).where(
        sa.or_(col(Project.code).in_(values), col(Project.id).in_(ids))
    )
    if caller is not None:
        statement = statement.where(project_scope(caller))
    found = session.execute(statement).all()
    known = {str(row.id) for row in found} | {row.code for row in found}
    missing = [v for v in values if v not in known]
    issue = (
        Issue("project", ErrorCode.OUT_OF_SCOPE, f"no project {', '.join(missing)} in your scope")
        if missing
        else None
    )
    return [row.id for row in found], issue


def visible_project_ids(caller: Caller) -> SelectOfScalar[uuid.UUID]:
    """``SELECT project.id`` of the caller's projects, to use as ``column.in_(...)``."""
    return select(Project.id).where(project_scope(caller))


def in_visible_project(column: Any, caller: Caller) -> ColumnElement[bool]:
    """A condition that ``column`` (a project id) names one of the caller's projects."""
    if sees_everything(caller):
        return sa.true()
    if caller.role == Role.FIELD_EXPERT:
        return _in(column, caller.project_ids)
    if caller.role == Role.COUNTRY_OFFICER:
        if not caller.countries:
            return sa.false()
        in_scope: ColumnElement[bool] = column.in_(visible_project_ids(caller))
        return in_scope
    return sa.false()


def activity_scope(caller: Caller) -> ColumnElement[bool]:
    return in_visible_project(Activity.project_id, caller)


def site_scope(caller: Caller) -> ColumnElement[bool]:
    return in_visible_project(Site.project_id, caller)


def target_scope(caller: Caller) -> ColumnElement[bool]:
    return in_visible_project(Target.project_id, caller)


def participant_scope(caller: Caller) -> ColumnElement[bool]:
    return in_visible_project(Participant.project_id, caller)


def user_scope(caller: Caller) -> ColumnElement[bool]:
    """People the caller may see: everyone for HQ/admin, their countries' people for a
    country officer, only themselves for a field expert."""
    if sees_everything(caller):
        return sa.true()
    if caller.role == Role.COUNTRY_OFFICER and caller.countries:
        return JsonListOverlaps(User.countries, caller.countries)
    return col(User.id) == caller.user.id


def device_scope(caller: Caller) -> ColumnElement[bool]:
    """Tablets of the people the caller may see."""
    if sees_everything(caller):
        return sa.true()
    return col(Device.user_id).in_(select(User.id).where(user_scope(caller)))


def audit_scope(caller: Caller) -> ColumnElement[bool]:
    """Audit entries: all for HQ/admin, their countries' for a country officer, none else."""
    if sees_everything(caller):
        return sa.true()
    if caller.role == Role.COUNTRY_OFFICER:
        return _in(AuditEntry.country, caller.countries)
    return sa.false()


# --- changing ------------------------------------------------------------------------------


def can_read_project(caller: Caller, project: Project) -> bool:
    if sees_everything(caller):
        return True
    if caller.role == Role.COUNTRY_OFFICER:
        return project.country in caller.countries
    if caller.role == Role.FIELD_EXPERT:
        return project.id in caller.project_ids
    return False


def can_manage_country(caller: Caller, country: str | None) -> bool:
    """Projects, sites, targets, users, devices and periods of ``country``."""
    if caller.role == Role.ADMIN:
        return True
    return caller.role == Role.COUNTRY_OFFICER and country in caller.countries


def can_write_project(caller: Caller, project: Project) -> bool:
    return can_manage_country(caller, project.country)


def can_review(caller: Caller, project: Project) -> bool:
    return can_manage_country(caller, project.country)


# --- a JSON list column sharing a value with a given set (User.countries) -------------------


class JsonListOverlaps(ColumnElement[bool]):
    """True when the JSON array in ``column`` holds any of ``values`` (SQLite and PostgreSQL)."""

    inherit_cache = False
    type = sa.Boolean()

    def __init__(self, column: Any, values: frozenset[str] | set[str] | list[str]) -> None:
        self.column = column
        self.values = sorted(values)


@compiles(JsonListOverlaps, "sqlite")
def _overlaps_sqlite(element: JsonListOverlaps, compiler: SQLCompiler, **kw: Any) -> str:
    each = sa.func.json_each(element.column).table_valued("value")
    return compiler.process(_exists_in(each, element.values), **kw)


@compiles(JsonListOverlaps, "postgresql")
def _overlaps_postgresql(element: JsonListOverlaps, compiler: SQLCompiler, **kw: Any) -> str:
    each = sa.func.jsonb_array_elements_text(element.column).table_valued("value")
    return compiler.process(_exists_in(each, element.values), **kw)


def _exists_in(each: Any, values: list[str]) -> ColumnElement[bool]:
    if not values:
        return sa.false()
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value.in_(values)))


def _in(column: Any, values: frozenset[Any]) -> ColumnElement[bool]:
    # An empty IN would be valid SQL in SQLAlchemy 2, but false() reads more plainly.
    if not values:
        return sa.false()
    in_values: ColumnElement[bool] = column.in_(sorted(values, key=str))
    return in_values
