"""One entity set per published form: its observations, with their system properties and one
typed property per field of the form (docs/odata.md#observations), as ODK Central serves a
form's submissions; adapted to this feed's one service, where each form is a set of its own.

    observation_sets(session, caller=...)   the sets of the forms the caller may read, made
                                            for this request (forms are added at run time)

A set is named ``Observations_<code>``. Its properties are the union of the fields of every
published (or retired) version of the form, so that one table keeps every observation whatever
version it answered; a field's type is its newest version's, a number that was ``integer`` in
one version and ``decimal`` in another is a decimal. Answers are read from the JSON ``values``
in SQL (``server.odata.answers``): an answer of another type than its property reads as null.
Rows are those of the observation list: the caller's scope, every status, deleted ones left out
(as the Activities set lists activities).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import User
from server.odata.answers import MEMBER_NAME, JsonMember
from server.odata.entities import EntitySet, FromWhere, Property
from server.projects.models import Project
from server.results.models import Form, Observation
from server.results.observation_queries import ObservationFilters, filter_conditions
from server.scope import in_visible_project

SET_PREFIX = "Observations_"
TYPE_PREFIX = "Observation_"
# Versions whose fields make a set's properties: those observations can answer.
LISTED_STATUSES = ("published", "retired")
# A code that is an identifier names its set as it is; any other gets a stable suffix.
_IDENTIFIER_TAIL = re.compile(r"[A-Za-z0-9_]+")

# A field's type → its Edm type and how its answer is read from the JSON (answers.KINDS).
FIELD_TYPES: dict[str, tuple[str, str]] = {
    "integer": ("Edm.Int64", "integer"),
    "decimal": ("Edm.Double", "number"),
    "text": ("Edm.String", "text"),
    "select_one": ("Edm.String", "text"),
    "select_multiple": ("Edm.String", "choices"),  # codes joined by spaces, as ODK
    "date": ("Edm.Date", "date"),
    "boolean": ("Edm.Boolean", "boolean"),
}


def _p(name: str, edm: str, column: Any, *, nullable: bool = True) -> Property:
    return Property(name, edm, column, nullable)


# An observation's own properties (ODK's ``__id`` and ``__system``), before its answers.
SYSTEM_PROPERTIES: tuple[Property, ...] = (
    _p("Id", "Edm.Guid", col(Observation.id), nullable=False),
    _p("FormVersion", "Edm.Int32", col(Observation.form_version), nullable=False),
    _p("ProjectId", "Edm.Guid", col(Observation.project_id), nullable=False),
    _p("ProjectCode", "Edm.String", col(Project.code), nullable=False),
    _p("Country", "Edm.String", col(Project.country), nullable=False),
    _p("SiteId", "Edm.Guid", col(Observation.site_id)),
    _p("ActivityId", "Edm.Guid", col(Observation.activity_id)),
    _p("ObservedOn", "Edm.Date", col(Observation.observed_on), nullable=False),
    _p("Status", "Edm.String", col(Observation.status), nullable=False),
    _p("SubmittedBy", "Edm.String", col(User.username)),
    _p("Lat", "Edm.Double", JsonMember(col(Observation.location), "lat", "number")),
    _p("Lon", "Edm.Double", JsonMember(col(Observation.location), "lon", "number")),
    _p("Notes", "Edm.String", col(Observation.notes), nullable=False),
    _p("Version", "Edm.Int32", col(Observation.version), nullable=False),
    _p("CapturedAt", "Edm.DateTimeOffset", col(Observation.captured_at)),
    _p("CreatedAt", "Edm.DateTimeOffset", col(Observation.created_at), nullable=False),
    _p("UpdatedAt", "Edm.DateTimeOffset", col(Observation.updated_at), nullable=False),
)
_SYSTEM_NAMES = frozenset(p.name for p in SYSTEM_PROPERTIES)


def set_suffix(code: str) -> str:
    """What follows ``Observations_`` in the set of form ``code``: the code itself when it is
    made of ASCII letters, digits and underscores (every code the forms service accepts), else
    those characters with the others as ``_`` and 8 hex digits of the code's SHA-256, so that
    the name is a valid OData identifier, the same on every request, and two codes never meet."""
    if _IDENTIFIER_TAIL.fullmatch(code):
        return code
    kept = re.sub(r"[^A-Za-z0-9_]", "_", code)
    return f"{kept}_{hashlib.sha256(code.encode()).hexdigest()[:8]}"


@dataclass(frozen=True, slots=True)
class AnswerField:
    name: str
    type: str  # a key of FIELD_TYPES


def merged_fields(versions: Iterable[Sequence[Any]]) -> list[AnswerField]:
    """The fields of a form's versions (``fields`` lists, newest version first) as one list:
    the newest version's in its order, then those only older versions had. A field keeps its
    newest version's type, but a number that is ``decimal`` in any version is a decimal (its
    answers stay readable). Fields of unknown type or whose name is not an identifier (none the
    forms service stores) are left out."""
    found: dict[str, AnswerField] = {}
    for fields in versions:
        for spec in fields:
            if not isinstance(spec, Mapping):
                continue
            name, kind = spec.get("name"), spec.get("type")
            if (
                not isinstance(name, str)
                or not MEMBER_NAME.fullmatch(name)
                or name in _SYSTEM_NAMES
                or kind not in FIELD_TYPES
            ):
                continue
            known = found.get(name)
            if known is None:
                found[name] = AnswerField(name, str(kind))
            elif {known.type, kind} == {"integer", "decimal"}:
                found[name] = AnswerField(name, "decimal")
    return list(found.values())


def _from_where(form_ids: Sequence[uuid.UUID]) -> Any:
    def from_where(caller: Caller) -> FromWhere:
        joined = sa.join(Observation, Project, col(Observation.project_id) == col(Project.id))
        joined = joined.outerjoin(User, col(Observation.created_by_id) == col(User.id))
        return joined, [
            in_visible_project(Observation.project_id, caller),
            *filter_conditions(ObservationFilters()),  # deleted observations left out
            col(Observation.form_id).in_(form_ids),
        ]

    return from_where


@dataclass(frozen=True, slots=True)
class FormVersion:
    id: uuid.UUID
    fields: Sequence[Any]


def observation_set(code: str, versions: Sequence[FormVersion]) -> EntitySet:
    """The set of form ``code`` from its listed versions, newest first."""
    answers = tuple(
        _p(f.name, FIELD_TYPES[f.type][0], JsonMember(col(Observation.values), *_read(f)))
        for f in merged_fields(v.fields for v in versions)
    )
    suffix = set_suffix(code)
    return EntitySet(
        SET_PREFIX + suffix,
        TYPE_PREFIX + suffix,
        ("Id",),
        (*SYSTEM_PROPERTIES, *answers),
        from_where=_from_where([v.id for v in versions]),
    )


def _read(field: AnswerField) -> tuple[str, str]:
    return field.name, FIELD_TYPES[field.type][1]


def observation_sets(session: Session, *, caller: Caller) -> list[EntitySet]:
    """A set per form the caller may read (global ones and those of projects in scope) with
    a published or retired version, in the order of their names; one query over the forms,
    made per request."""
    rows = session.execute(
        sa.select(col(Form.code), col(Form.id), col(Form.fields))
        .where(
            col(Form.status).in_(LISTED_STATUSES),
            sa.or_(
                col(Form.project_id).is_(None), in_visible_project(col(Form.project_id), caller)
            ),
        )
        .order_by(col(Form.code), col(Form.version).desc())
    )
    by_code: dict[str, list[FormVersion]] = {}
    for code, form_id, fields in rows:
        by_code.setdefault(code, []).append(FormVersion(form_id, fields or []))
    sets = [observation_set(code, versions) for code, versions in by_code.items()]
    return sorted(sets, key=lambda s: s.name)
