"""Writing observations: the one write path (docs/results.md#observations).

``write_observation`` is the only function that changes an observation row. Push
(``server.sync.records.apply_observation``), review (``review_observation``) and conflict
resolution (``server.sync.conflicts``) all call it, in the caller's transaction. One call keeps
together:

- the row (created, changed, status moved or tombstoned);
- a new version with its ``record_revision`` (entity ``observation``: the full state, the base
  of later three-way merges) and its change-log entry, through
  ``server.records.revisions.write_version``; a new observation's version 1 stays in its row
  (``created_via``) and its revision is written when the next version supersedes it
  (``keep_first_version``, docs/architecture.md#revisions);
- an audit entry (what changed, who, from which tablet);
- the **after-write hooks** (below), called last with the row as it was before and after.

The caller checks first (``check_observation``: the form version and ``shared.observations``)
and commits after.

After-write hooks
-----------------
Code that keeps something derived from observations up to date in the writer's transaction —
the result-indicator roll-ups — registers a callable once at start-up::

    from server.results.observations import register_after_write

    def observations_changed(session, before_rows, after_rows): ...

    register_after_write(observations_changed)

Each call passes two lists of the same length, one entry per observation written:
``before_rows[i]`` is the observation's state before the write (``None`` for a new one) and
``after_rows[i]`` its state after it (a tombstone has ``deleted: True``). Each state is the
dict of ``observation_row``: the wire fields (``observation_wire``) plus ``version``. The hook
runs inside the writer's transaction, after the row is flushed; an exception rolls the write
back with it. Registering the same callable twice keeps one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.activities.models import Activity
from server.activities.review import checked_review
from server.api import UNKNOWN_KEYS_REFUSED, Text
from server.columns import as_datetime, as_utc, utcnow
from server.errors import Forbidden, NotFound
from server.projects.models import Project, Site
from server.records import audit
from server.records.bulk import insert_rows
from server.records.changes import ChangeRecord, record_changes
from server.records.models import AuditEntry
from server.records.revisions import keep_first_version, write_version
from server.results.models import Form, Observation, ObservationReview
from server.scope import can_read_project, can_review
from shared.catalogue import ActivityStatus, ReviewAction
from shared.errors import ErrorCode, Issue
from shared.observations import validate_observation
from shared.validation import ProjectFacts, SiteFacts, Validation

ENTITY = "observation"

# The observation's fields on the wire (docs/results.md#observations), in order.
WIRE_FIELDS: tuple[str, ...] = (
    "id",
    "project_id",
    "site_id",
    "activity_id",
    "form_id",
    "form_version",
    "observed_on",
    "values",
    "location",
    "notes",
    "status",
    "captured_at",
    "deleted",
)
# What a tablet (or a resolution) may set; id and project are fixed at birth, status moves
# through review, deleted through a tombstone.
EDITABLE_FIELDS: tuple[str, ...] = (
    "site_id",
    "activity_id",
    "form_id",
    "form_version",
    "observed_on",
    "values",
    "location",
    "notes",
    "captured_at",
)
VALUES = "values"
VALUE_PREFIX = "values."


# --- the after-write hooks ---------------------------------------------------------------------

AfterWrite = Callable[[Session, list[dict[str, Any] | None], list[dict[str, Any]]], None]
_AFTER_WRITE: list[AfterWrite] = []


def register_after_write(hook: AfterWrite) -> None:
    """Call ``hook(session, before_rows, after_rows)`` after every observation write (see the
    module's docstring). Idempotent."""
    if hook not in _AFTER_WRITE:
        _AFTER_WRITE.append(hook)


def unregister_after_write(hook: AfterWrite) -> None:
    if hook in _AFTER_WRITE:
        _AFTER_WRITE.remove(hook)


def after_write_hooks() -> tuple[AfterWrite, ...]:
    return tuple(_AFTER_WRITE)


# --- shapes ------------------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = as_utc(value)
        return moment.isoformat() if moment is not None else None
    return value.isoformat()


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def observation_wire(observation: Observation) -> dict[str, Any]:
    """The observation as it travels and as its revisions store it."""
    return {
        "id": str(observation.id),
        "project_id": str(observation.project_id),
        "site_id": _id(observation.site_id),
        "activity_id": _id(observation.activity_id),
        "form_id": str(observation.form_id),
        "form_version": observation.form_version,
        "observed_on": _iso(observation.observed_on),
        "values": dict(observation.values or {}),
        "location": dict(observation.location) if observation.location else None,
        "notes": observation.notes or "",
        "status": observation.status,
        "captured_at": _iso(observation.captured_at),
        "deleted": bool(observation.deleted),
    }


def observation_row(observation: Observation) -> dict[str, Any]:
    """What an after-write hook receives: the wire fields and the version."""
    return {**observation_wire(observation), "version": observation.version}


def flatten(data: Mapping[str, Any], *, names: Sequence[str] = ()) -> dict[str, Any]:
    """A record with each key of ``values`` as a field of its own (``values.<name>``): the
    three-way merge treats every answer as one field. ``names`` are value keys to include
    even when ``data`` lacks them (as ``None``: an answer the record does not hold)."""
    flat = {k: v for k, v in data.items() if k != VALUES}
    values = data.get(VALUES)
    if VALUES not in data:
        return flat
    if not isinstance(values, Mapping):
        flat[VALUES] = values  # malformed: validation names it
        return flat
    for name in names:
        flat[VALUE_PREFIX + name] = None
    for name, value in values.items():
        flat[VALUE_PREFIX + str(name)] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``flatten``: answers that are ``None`` are left out."""
    record: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, value in flat.items():
        if key.startswith(VALUE_PREFIX):
            if value is not None:
                values[key[len(VALUE_PREFIX) :]] = value
        elif key != VALUES:
            record[key] = value
    record[VALUES] = flat[VALUES] if VALUES in flat and not values else values
    return record


def value_names(*records: Mapping[str, Any]) -> list[str]:
    """Every answer name the records hold."""
    names: dict[str, None] = {}
    for record in records:
        values = record.get(VALUES)
        if isinstance(values, Mapping):
            names.update(dict.fromkeys(str(k) for k in values))
    return list(names)


# --- checking against the form version ---------------------------------------------------------


@dataclass
class FormCache:
    """Form rows a run of checks looks up, each once (a push holds one)."""

    rows: dict[uuid.UUID, Form | None] = field(default_factory=dict)
    versions: dict[tuple[str, int], Form | None] = field(default_factory=dict)
    retired: dict[str, bool] = field(default_factory=dict)
    sites: dict[uuid.UUID, dict[str, SiteFacts]] = field(default_factory=dict)
    # a project's facts and the form ids as sent, each made once for a run of checks
    projects: dict[uuid.UUID, ProjectFacts] = field(default_factory=dict)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)


def _form_row(session: Session, cache: FormCache, form_id: uuid.UUID) -> Form | None:
    if form_id not in cache.rows:
        cache.rows[form_id] = session.get(Form, form_id)
    return cache.rows[form_id]


def _form_version(session: Session, cache: FormCache, code: str, version: int) -> Form | None:
    key = (code, version)
    if key not in cache.versions:
        cache.versions[key] = session.execute(
            select(Form).where(col(Form.code) == code, col(Form.version) == version)
        ).scalar_one_or_none()
    return cache.versions[key]


def form_retired(session: Session, code: str, cache: FormCache | None = None) -> bool:
    """A form is retired when its latest version that left draft is retired."""
    cache = cache or FormCache()
    if code not in cache.retired:
        latest = session.execute(
            select(col(Form.status))
            .where(col(Form.code) == code, col(Form.status) != "draft")
            .order_by(col(Form.version).desc())
            .limit(1)
        ).scalar_one_or_none()
        cache.retired[code] = latest == "retired"
    return cache.retired[code]


def find_form_version(
    session: Session,
    *,
    form_id: str | None,
    version: int | None,
    project: Project,
    new: bool,
    cache: FormCache | None = None,
) -> tuple[Form | None, list[Issue]]:
    """The form row an observation answers: the form named by ``form_id`` (any version of it)
    at ``version``. Refused: a form that is neither global nor the project's
    (``unknown_form``), a version that does not exist or is still a draft
    (``unknown_form_version``), and, for a new observation, a retired form (``form_retired``)."""
    cache = cache or FormCache()
    key = cache.ids.get(form_id) if isinstance(form_id, str) else None
    if key is None:
        try:
            key = uuid.UUID(str(form_id))
        except ValueError:
            key = None
        if isinstance(form_id, str) and key is not None:
            cache.ids[form_id] = key
    if key is None:
        return None, []  # the field check already says so
    row = _form_row(session, cache, key)
    if row is None or (row.project_id is not None and row.project_id != project.id):
        return None, [
            Issue(
                "form_id",
                ErrorCode.UNKNOWN_FORM,
                f"form_id: no form {form_id} for this project; sync to get the project's forms",
            )
        ]
    if version is None:
        return None, []
    if row.version != version:
        row = _form_version(session, cache, row.code, version)
    if row is None or row.status == "draft":
        return None, [
            Issue(
                "form_version",
                ErrorCode.UNKNOWN_FORM_VERSION,
                f"form_version: version {version} of this form is not published on the server",
            )
        ]
    if new and form_retired(session, row.code, cache):
        return None, [
            Issue(
                "form_id",
                ErrorCode.FORM_RETIRED,
                f"form_id: form {row.code} was retired and takes no new observations",
            )
        ]
    return row, []


def project_facts(project: Project) -> ProjectFacts:
    return ProjectFacts(
        str(project.id),
        project.country,
        tuple(project.solutions or ()),
        project.start_date,
        project.end_date,
        code=project.code,
    )


def _project_facts(cache: FormCache, project: Project) -> ProjectFacts:
    facts = cache.projects.get(project.id)
    if facts is None:
        facts = cache.projects[project.id] = project_facts(project)
    return facts


def _sites(session: Session, cache: FormCache, project: Project) -> dict[str, SiteFacts]:
    if project.id not in cache.sites:
        rows = session.execute(
            select(col(Site.id), col(Site.lat), col(Site.lon)).where(
                col(Site.project_id) == project.id, col(Site.status) != "rejected"
            )
        ).all()
        cache.sites[project.id] = {
            str(r.id): SiteFacts(str(r.id), str(project.id), r.lat, r.lon) for r in rows
        }
    return cache.sites[project.id]


def check_observation(
    session: Session,
    record: Mapping[str, Any],
    *,
    project: Project,
    today: date,
    new: bool,
    cache: FormCache | None = None,
    sites: Mapping[str, SiteFacts] | None = None,
) -> Validation:
    """A whole observation (wire data) checked against its project and its form version."""
    cache = cache or FormCache()
    version = record.get("form_version")
    row, form_issues = find_form_version(
        session,
        form_id=record.get("form_id"),
        version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        project=project,
        new=new,
        cache=cache,
    )
    data = {k: v for k, v in record.items() if k not in ("status", "deleted", "version")}
    checked = validate_observation(
        data,
        form={"fields": row.fields} if row is not None else None,
        today=today,
        project=_project_facts(cache, project),
        sites=sites if sites is not None else _sites(session, cache, project),
    )
    errors = list(form_issues)
    if row is None:
        # Without its form version the answers cannot be checked: say only what is wrong
        # with the rest.
        errors += [e for e in checked.errors if not e.field.startswith(VALUE_PREFIX)]
    else:
        errors += checked.errors
    activity_id = checked.clean.get("activity_id")
    if activity_id and not errors:
        found = session.execute(
            select(col(Activity.id)).where(
                col(Activity.id) == uuid.UUID(activity_id),
                col(Activity.project_id) == project.id,
                col(Activity.deleted) == False,  # noqa: E712
            )
        ).first()
        if found is None:
            errors.append(
                Issue(
                    "activity_id",
                    ErrorCode.NOT_FOUND,
                    "activity_id: no such activity of this project on the server; push the "
                    "activity first, or leave it empty",
                )
            )
    clean = dict(checked.clean)
    if row is not None:
        clean["form_id"] = str(row.id)
    return Validation(errors, checked.warnings, clean)


# --- the write -------------------------------------------------------------------------------


def _set_fields(observation: Observation, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if name not in EDITABLE_FIELDS:
            continue
        if name in ("site_id", "activity_id", "form_id"):
            setattr(observation, name, uuid.UUID(str(value)) if value else None)
        elif name == "observed_on":
            observation.observed_on = date.fromisoformat(str(value))
        elif name == "captured_at":
            # SQLite keeps no offset: the instant in UTC, so that it reads back as the same one.
            observation.captured_at = as_datetime(value) if value else None
        elif name == "values":
            observation.values = dict(value or {})
        elif name == "notes":
            observation.notes = value or ""
        else:
            setattr(observation, name, value)


def _diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> tuple[dict, dict]:
    if before is None:
        return {}, {k: v for k, v in after.items() if v not in (None, "", {}, False)}
    names = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in names}, {k: after.get(k) for k in names}


def write_observation(
    session: Session,
    *,
    existing: Observation | None,
    project: Project,
    changes: Mapping[str, Any],
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
    status: str | None = None,
    deleted: bool | None = None,
    new_id: uuid.UUID | None = None,
    action: str | None = None,
    comment: str | None = None,
) -> Observation:
    """Create or change one observation from checked wire data (see the module's docstring).

    ``changes`` holds the fields to set (all of them for a new observation; ``values`` always
    whole); ``status`` moves the review state; ``deleted`` tombstones (or restores) it.
    ``action`` names the audit entry (default: create, update or delete).
    """
    before = observation_row(existing) if existing is not None else None
    if existing is not None:
        keep_first_version(session, existing, entity=ENTITY, wire=observation_wire)
    if existing is None:
        if new_id is None:
            raise ValueError("a new observation needs its id")
        observation = Observation(
            id=new_id,
            project_id=project.id,
            form_id=uuid.UUID(str(changes["form_id"])),
            form_version=int(changes["form_version"]),
            observed_on=date.fromisoformat(str(changes["observed_on"])),
            values={},
            status=ActivityStatus.SUBMITTED,
            created_by_id=author_id,
            device_id=device_id,
            created_at=utcnow(),
        )
    else:
        observation = existing
    _set_fields(observation, changes)
    if status is not None:
        observation.status = status
    if deleted is not None and deleted != observation.deleted:
        observation.deleted = deleted
        observation.deleted_at = utcnow() if deleted else None
    write_version(
        session,
        observation,
        entity=ENTITY,
        wire=observation_wire,
        project_id=project.id,
        source=source,
        author_id=author_id,
        device_id=device_id,
        new=existing is None,
        first_in_row=True,
    )
    after = observation_row(observation)
    old, new = _diff(before, after)
    audit.record(
        session,
        action=action or ("create" if before is None else "delete" if deleted else "update"),
        entity=ENTITY,
        entity_id=observation.id,
        actor_id=author_id,
        device_id=device_id,
        country=project.country,
        before=old if before is not None else None,
        after={
            **new,
            "version": observation.version,
            **({"comment": comment} if comment is not None else {}),
        },
    )
    # The hook point: result-indicator roll-ups (and anything else derived from observations)
    # follow the write here, in the same transaction.
    for hook in _AFTER_WRITE:
        hook(session, [before], [after])
    return observation


# --- many new observations at once -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewObservation:
    """One new observation for ``write_new_observations``: checked wire data (as
    ``check_observation`` cleans it), its project and its id."""

    project: Project
    changes: Mapping[str, Any]
    new_id: uuid.UUID
    status: str = ActivityStatus.SUBMITTED


# The observation table's columns, from the model (a column added there without a value in
# ``write_new_observations``'s row fails loudly there).
OBSERVATION_COLUMNS: tuple[str, ...] = tuple(c.name for c in Observation.__table__.columns)  # type: ignore[attr-defined]
_AUDIT_COLUMNS = (
    "at",
    "actor_id",
    "device_id",
    "action",
    "entity",
    "entity_id",
    "country",
    "before",
    "after",
)


def write_new_observations(
    session: Session,
    batch: Sequence[NewObservation],
    *,
    source: str,
    author_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Many new observations with every duty ``write_observation`` gives each one, in a few
    multi-row inserts: the rows (version 1 kept there, ``created_via`` the source: no revision
    until a later version supersedes it) and their change-log entries, the audit entries, then
    the after-write hooks called **once** with the whole batch (so the result roll-up makes one
    set-based delta). Returns the ids, in order.

    The caller checks first (``check_observation``, the writer's scope) and commits after; an
    ``IntegrityError`` (an id already taken, say) leaves it to retry them one by one."""
    if not batch:
        return []
    now = utcnow()
    rows: list[list[Any]] = []
    entries: list[tuple[Any, ...]] = []
    changes: list[ChangeRecord] = []
    after_rows: list[dict[str, Any]] = []
    no_flags: list[str] = []  # one object for every row: its JSON is made once
    for write in batch:
        changes_ = write.changes
        # The row as ``write_observation`` builds it, without an ORM object: the same field
        # conversions (``_set_fields``), so its wire form (hooks, audit) is the same.
        row = SimpleNamespace(
            id=write.new_id,
            project_id=write.project.id,
            site_id=None,
            activity_id=None,
            form_id=uuid.UUID(str(changes_["form_id"])),
            form_version=int(changes_["form_version"]),
            observed_on=date.fromisoformat(str(changes_["observed_on"])),
            values={},
            location=None,
            notes="",
            status=write.status,
            version=1,
            captured_at=None,
            deleted=False,
            flags=no_flags,
            created_by_id=author_id,
            device_id=device_id,
            created_via=source,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        _set_fields(row, changes_)  # type: ignore[arg-type]
        rows.append([getattr(row, name) for name in OBSERVATION_COLUMNS])
        wire = observation_wire(row)  # type: ignore[arg-type]
        changes.append(ChangeRecord(ENTITY, row.id, "upsert", 1, row.project_id))
        after = {**wire, "version": 1}
        _, new = _diff(None, after)
        entries.append(
            (
                now,
                author_id,
                device_id,
                "create",
                ENTITY,
                str(row.id),
                write.project.country,
                None,
                {**new, "version": 1},
            )
        )
        after_rows.append(after)
    insert_rows(session, _table(Observation), OBSERVATION_COLUMNS, rows)
    insert_rows(session, _table(AuditEntry), _AUDIT_COLUMNS, entries)
    record_changes(session, changes)
    befores: list[dict[str, Any] | None] = [None] * len(after_rows)
    for hook in _AFTER_WRITE:
        hook(session, befores, after_rows)
    return [write.new_id for write in batch]


def _table(model: Any) -> Any:
    return model.__table__


# --- review ------------------------------------------------------------------------------------


class ReviewRequest(BaseModel):
    model_config = UNKNOWN_KEYS_REFUSED
    action: ReviewAction = Field(description="approve | return | reopen")
    comment: Text = Field(
        default="",
        max_length=2000,
        description="Required to return: what the field expert should fix",
    )


def is_locked(observation: Observation) -> bool:
    """An approved observation takes no field edits until a country officer reopens it."""
    return observation.status == ActivityStatus.APPROVED


def observation_in_scope(
    session: Session, *, caller: Caller, observation_id: uuid.UUID
) -> tuple[Observation, Project]:
    row = session.execute(
        select(Observation, Project)
        .join(Project, col(Project.id) == col(Observation.project_id))
        .where(col(Observation.id) == observation_id)
    ).one_or_none()
    if row is None or not can_read_project(caller, row[1]):
        raise NotFound("no such observation")
    return row[0], row[1]


def review_observation(
    session: Session,
    *,
    caller: Caller,
    observation_id: uuid.UUID,
    action: str,
    comment: str = "",
) -> tuple[Observation, ObservationReview]:
    """Approve, return (comment required) or reopen an observation, in the caller's
    transaction: a new version (tablets pull the status and the comment), the review, an
    audit entry."""
    observation, project = observation_in_scope(
        session, caller=caller, observation_id=observation_id
    )
    if not can_review(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may review observations"
        )
    comment, new_status = checked_review(
        noun="observation",
        status=observation.status,
        deleted=observation.deleted,
        action=action,
        comment=comment,
    )
    review = ObservationReview(
        observation_id=observation.id, action=action, comment=comment, author_id=caller.user.id
    )
    session.add(review)
    write_observation(
        session,
        existing=observation,
        project=project,
        changes={},
        source="review",
        author_id=caller.user.id,
        status=new_status,
        action=str(action),
        comment=comment,
    )
    return observation, review
