"""Applying one pushed mutation to one record: permissions, merge, validation, write.

Each ``apply_*`` function either returns an ``Outcome`` (applied, merged or conflict) or raises
``Rejected`` with field-level reasons; the caller runs it inside a savepoint, so a rejection
leaves nothing behind, and keeps the mutation. Activity writes go through
``server.activities.service``, observation writes through
``server.results.observations.write_observation``; the other records get a ``RecordRevision``
per version so that their merges have a base too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import Device
from server.activities.flags import FlagFacts, photo_reused, project_facts
from server.activities.models import Activity, ActivityRevision, Attachment
from server.activities.review import closed_period_for, is_locked
from server.activities.service import (
    ActivityWrite,
    Writer,
    first_revision,
    load_wire,
    may_write,
    refusal,
    write_activities,
)
from server.columns import utcnow
from server.projects.models import Participant, Project, Site, site_wire
from server.records.models import RecordRevision
from server.records.revisions import first_revision as first_revision_of
from server.records.revisions import write_version
from server.results.models import Observation
from server.results.observations import (
    EDITABLE_FIELDS as OBSERVATION_FIELDS,
)
from server.results.observations import (
    FormCache,
    NewObservation,
    check_observation,
    flatten,
    observation_wire,
    unflatten,
    value_names,
    write_new_observations,
    write_observation,
)
from server.results.observations import (
    is_locked as observation_locked,
)
from server.sync.wire import attachment_wire, participant_wire
from shared.catalogue import ActivityStatus, Role
from shared.errors import ErrorCode
from shared.validation import (
    Issue,
    SiteFacts,
    Validation,
    validate_activity,
    validate_attachment,
    validate_participant,
    validate_site,
    validate_status,
)
from sync.merge import MergeOutcome, Revision, merge_delete, merge_upsert
from sync.protocol import Entity, Mutation, Op, ResultStatus


def closed_period_of(session: Session, *, country: str, day: date) -> bool:
    """Whether ``day`` falls in a reporting period ``country`` has closed."""
    return closed_period_for(session, country, day) is not None


class Rejected(Exception):
    """The mutation cannot be applied; ``errors`` says why, field by field."""

    def __init__(self, issues: list[Issue], *, version: int | None = None) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues
        self.version = version

    @property
    def errors(self) -> list[dict[str, str]]:
        return [i.as_dict() for i in self.issues]


# A record outside the caller's projects is answered exactly as one that does not exist, with
# no version: a push must not tell whether an id is in use in someone else's project.
NOT_YOUR_PROJECT = (
    "not one of your projects: the tablet may only record for the projects its user works on"
)
NO_SUCH_ACTIVITY = "no such activity on the server: push the activity before its photos"


def _reject(
    field_name: str, code: ErrorCode, message: str, *, version: int | None = None
) -> Rejected:
    return Rejected([Issue(field_name, code, message)], version=version)


def _nothing_to_delete(noun: str) -> Rejected:
    return _reject(
        "id",
        ErrorCode.NOT_FOUND,
        f"no {noun} with this id among your projects' records, so there is nothing to delete",
    )


def _out_of_scope(mutation: Mutation, noun: str) -> Rejected:
    """The answer for a record that exists but not in the caller's projects: the same as for
    one that does not exist (a delete), or one claiming a project not theirs (an upsert)."""
    if mutation.op == Op.DELETE:
        return _nothing_to_delete(noun)
    return _reject("project_id", ErrorCode.OUT_OF_SCOPE, NOT_YOUR_PROJECT)


@dataclass(slots=True)
class Outcome:
    status: ResultStatus
    version: int | None
    project_id: uuid.UUID | None
    merge: MergeOutcome | None = None
    # The server's version the merge was made against (for conflicts).
    server_version: int | None = None


@dataclass
class PushContext:
    """What one push knows and caches while it applies its mutations."""

    session: Session
    caller: Caller
    device: Device
    today: date
    source: str = "push"
    # Projects, sites, usual attendance, closed periods: looked up once per push, shared with
    # the activity kernel's flags.
    facts: FlagFacts = field(init=False)
    forms: FormCache = field(default_factory=FormCache)

    def __post_init__(self) -> None:
        self.facts = FlagFacts(self.session, self.today)

    @property
    def writer(self) -> Writer:
        return Writer.of(self.caller, source=self.source, device_id=self.device.id)

    # --- scope ---------------------------------------------------------------------------

    def project(self, project_id: Any) -> Project | None:
        return self.facts.project(project_id)

    def may_write(self, project: Project) -> bool:
        return may_write(self.caller, project)

    def writable_project(self, project_id: Any, *, field_name: str = "project_id") -> Project:
        project = self.project(project_id)
        if project is None or not self.may_write(project):
            raise _reject(field_name, ErrorCode.OUT_OF_SCOPE, NOT_YOUR_PROJECT)
        return project

    def owns(self, created_by_id: uuid.UUID | None) -> bool:
        """Field experts change only their own records; officers and admins any in scope."""
        return self.caller.role != Role.FIELD_EXPERT or created_by_id == self.caller.user.id

    # --- facts for validation --------------------------------------------------------------

    def sites(self, project: Project) -> dict[str, SiteFacts]:
        return self.facts.sites(project)

    def forget_sites(self, project_id: uuid.UUID) -> None:
        self.facts.forget_sites(project_id)


def _project_of(ctx: PushContext, project_id: uuid.UUID) -> Project:
    project = ctx.project(project_id)
    assert project is not None  # a foreign key guarantees it
    return project


# --- history for the merge ---------------------------------------------------------------


def _history(
    rows: list[Any],
    *,
    base_version: int,
    current: Mapping[str, Any],
    current_version: int,
    device_id: uuid.UUID,
) -> list[Revision]:
    """Revisions from the base to the current one; ``rows`` are (version, data, device_id)."""
    if base_version == current_version:
        return [Revision(current)]
    by_version = {r.version: r for r in rows}
    if base_version == 0:
        history = [Revision({})]
    elif base_version in by_version:
        history = [Revision(by_version[base_version].data)]
    else:
        # The base is unknown (written where no revision was kept): assume everything changed.
        return [Revision({}), Revision(current, own=False)]
    for version in range(base_version + 1, current_version + 1):
        row = by_version.get(version)
        if row is None:
            return [history[0], Revision(current, own=False)]
        history.append(Revision(row.data, own=row.device_id == device_id))
    return history


def activity_history(
    session: Session, activity: Activity, *, base_version: int, device_id: uuid.UUID
) -> list[Revision]:
    rows = session.execute(
        select(
            col(ActivityRevision.version),
            col(ActivityRevision.data),
            col(ActivityRevision.device_id),
        )
        .where(
            col(ActivityRevision.activity_id) == activity.id,
            col(ActivityRevision.version) >= base_version,
        )
        .order_by(col(ActivityRevision.version))
    ).all()
    history: list[Any] = list(rows)
    first = None if rows else first_revision(session, activity)
    if rows and rows[-1].version == activity.version:
        current = rows[-1].data
    elif first is not None:
        # Version 1 lives in the activity's rows (no later version yet): it is the current one.
        history, current = [first], first.data
    else:
        current = {**load_wire(session, activity), "deleted": activity.deleted}
    return _history(
        history,
        base_version=base_version,
        current=current,
        current_version=activity.version,
        device_id=device_id,
    )


def record_history(
    session: Session,
    *,
    entity: str,
    entity_id: uuid.UUID,
    current: Mapping[str, Any],
    current_version: int,
    base_version: int,
    device_id: uuid.UUID,
    first: Any = None,
) -> list[Revision]:
    """The revisions of a record from ``base_version`` to now. ``first``: its version 1 built
    from its row (``server.records.revisions.first_revision``) while it lives there."""
    rows = session.execute(
        select(col(RecordRevision.version), col(RecordRevision.data), col(RecordRevision.device_id))
        .where(
            col(RecordRevision.entity) == entity,
            col(RecordRevision.entity_id) == entity_id,
            col(RecordRevision.version) >= base_version,
        )
        .order_by(col(RecordRevision.version))
    ).all()
    history: list[Any] = list(rows)
    if not rows and first is not None:
        history = [first]  # version 1, the current one, lives in the row
    return _history(
        history,
        base_version=base_version,
        current=current,
        current_version=current_version,
        device_id=device_id,
    )


def _check_base(mutation: Mutation, version: int) -> None:
    if mutation.base_version > version:
        raise _reject(
            "base_version",
            ErrorCode.BASE_AHEAD,
            f"base_version {mutation.base_version} is ahead of the server's version {version}",
            version=version,
        )


def _incoming(mutation: Mutation) -> dict[str, Any]:
    data = dict(mutation.data or {})
    data.pop("id", None)
    return data


def _new_record(mutation: Mutation, *, status: bool = False) -> dict[str, Any]:
    """The data of a record the server does not hold yet. Its base can only be version 0
    (docs/protocol.md: a base ahead of the server's is refused), and a ``status``, for
    activities and observations, only one a tablet may set (``draft`` or ``submitted``):
    a new record sent as approved is refused, not stored as submitted without a word."""
    if mutation.base_version > 0:
        raise _reject(
            "base_version",
            ErrorCode.BASE_AHEAD,
            f"base_version {mutation.base_version} is ahead of the server's: it has no such record",
            version=0,
        )
    data = {**_incoming(mutation), "id": str(mutation.id)}
    if status and data.get("status") is not None:
        refused = validate_status(data["status"])
        if refused:
            raise Rejected(refused)
    return data


# --- activities ----------------------------------------------------------------------------


def check_activity(
    session: Session, facts: FlagFacts, record: Mapping[str, Any], project: Project
) -> Validation:
    """Every check a pushed activity passes, each problem at once: its fields against the
    project (dates, enumerations, bounds, free text), its site among the project's sites, its
    participants on the project's roster. Settling a conflict calls it too
    (``server.sync.conflicts``), so the two cannot drift apart."""
    # The status is the server's to set; other keys validation does not know (``deleted``) it
    # leaves out of ``clean`` by itself.
    data = record if "status" not in record else {k: v for k, v in record.items() if k != "status"}
    known, sites = facts.for_validation(project)
    checked = validate_activity(data, project=known, sites=sites, today=facts.today)
    # Participant ids with an error of their own are not in ``clean``: no roster look-up then.
    participant_ids = checked.clean.get("participant_ids")
    if not participant_ids:
        return checked
    errors = [*checked.errors, *_roster_issues(session, project, participant_ids)]
    return Validation(errors=errors, warnings=checked.warnings, clean=checked.clean)


def _roster_issues(session: Session, project: Project, participant_ids: list[str]) -> list[Issue]:
    if not participant_ids:
        return []
    known = set(
        session.execute(
            select(col(Participant.id)).where(
                col(Participant.project_id) == project.id,
                col(Participant.id).in_([uuid.UUID(p) for p in participant_ids]),
            )
        ).scalars()
    )
    missing = [p for p in participant_ids if uuid.UUID(p) not in known]
    if not missing:
        return []
    return [
        Issue(
            "participant_ids",
            ErrorCode.NOT_ON_ROSTER,
            f"{len(missing)} participant(s) are not on this "
            f"project's roster (first: {missing[0]}); push the participants first",
        )
    ]


def _validated_activity(
    ctx: PushContext, data: Mapping[str, Any], project: Project
) -> tuple[dict[str, Any], list[Issue]]:
    checked = check_activity(ctx.session, ctx.facts, data, project)
    if checked.errors:
        raise Rejected(checked.errors)
    return checked.clean, checked.warnings


def apply_activity(ctx: PushContext, mutation: Mutation, existing: Activity | None) -> Outcome:
    session = ctx.session
    if existing is None:
        if mutation.op == Op.DELETE:
            raise _nothing_to_delete("activity")
        data = _new_record(mutation, status=True)
        project = ctx.writable_project(data.get("project_id"))
        clean, warnings = _validated_activity(ctx, data, project)
        write_activities(
            session,
            [ActivityWrite(data=clean, status=ActivityStatus.SUBMITTED, warnings=warnings)],
            writer=ctx.writer,
            facts=ctx.facts,
        )
        return Outcome(ResultStatus.APPLIED, 1, project.id)

    project = _project_of(ctx, existing.project_id)
    version = existing.version
    refused = refusal(ctx.caller, project, existing)
    if refused is not None and refused.code == ErrorCode.OUT_OF_SCOPE:
        raise _out_of_scope(mutation, "activity")
    if refused is not None:
        raise Rejected([refused], version=version)
    if is_locked(existing):
        raise _reject(
            "status",
            ErrorCode.LOCKED,
            "this activity was approved and is locked: ask the country "
            "office to reopen it, then edit it again",
            version=version,
        )
    _check_base(mutation, version)
    history = activity_history(
        session, existing, base_version=mutation.base_version, device_id=ctx.device.id
    )
    if mutation.op == Op.DELETE:
        outcome = merge_delete(history=history)
        if outcome.delete:
            write_activities(
                session,
                [ActivityWrite(existing=existing, delete=True)],
                writer=ctx.writer,
                facts=ctx.facts,
            )
        return Outcome(outcome.status, existing.version, project.id, outcome, version)

    incoming = _incoming(mutation)
    moved = incoming.pop("project_id", None)
    if moved is not None and str(moved) != str(existing.project_id):
        raise _reject(
            "project_id",
            ErrorCode.NOT_CHANGEABLE,
            "an activity cannot move to another project; record it again under the right project",
            version=version,
        )
    outcome = merge_upsert(history=history, incoming=incoming)
    if outcome.changes:
        record = {**history[-1].data, **outcome.changes}
        clean, warnings = _validated_activity(ctx, record, project)
        write_activities(
            session,
            [
                ActivityWrite(
                    data={name: clean.get(name) for name in outcome.changes},
                    existing=existing,
                    status=_status_after_edit(existing, mutation),
                    warnings=warnings,
                    record=clean,
                )
            ],
            writer=ctx.writer,
            facts=ctx.facts,
        )
    return Outcome(outcome.status, existing.version, project.id, outcome, version)


def _status_after_edit(existing: Activity, mutation: Mutation) -> ActivityStatus:
    """An edit resubmits the activity, except when it was made before the tablet saw the
    country office return it: then it stays returned, so the comment still reaches the expert
    and the officer does not get back a record that ignores it."""
    if existing.status == ActivityStatus.RETURNED and mutation.base_version < existing.version:
        return ActivityStatus.RETURNED
    return ActivityStatus.SUBMITTED


# --- many new activities at once ----------------------------------------------------------


def is_plain_create(mutation: Mutation, existing: Any) -> bool:
    """A new activity without a roster: it can go in bulk with the others of its batch."""
    return (
        mutation.entity == Entity.ACTIVITY
        and mutation.op == Op.UPSERT
        and existing is None
        and not (mutation.data or {}).get("participant_ids")
    )


def apply_new_activities(
    ctx: PushContext, mutations: list[Mutation]
) -> dict[int, Outcome | Rejected]:
    """Validate new activities one by one, then write the valid ones together through the
    activity kernel: the same checks, rows and flags as ``apply_activity`` gives each."""
    answers: dict[int, Outcome | Rejected] = {}
    accepted: list[tuple[Mutation, Project]] = []
    writes: list[ActivityWrite] = []
    for mutation in mutations:
        try:
            data = _new_record(mutation, status=True)
            project = ctx.writable_project(data.get("project_id"))
            clean, warnings = _validated_activity(ctx, data, project)
        except Rejected as exc:
            answers[mutation.seq] = exc
            continue
        accepted.append((mutation, project))
        writes.append(ActivityWrite(data=clean, status=ActivityStatus.SUBMITTED, warnings=warnings))
    if not accepted:
        return answers
    write_activities(ctx.session, writes, writer=ctx.writer, facts=ctx.facts)
    for mutation, project in accepted:
        answers[mutation.seq] = Outcome(ResultStatus.APPLIED, 1, project.id)
    return answers


# --- participants (roster mode) ------------------------------------------------------------


def apply_participant(
    ctx: PushContext, mutation: Mutation, existing: Participant | None
) -> Outcome:
    session = ctx.session
    if existing is None:
        if mutation.op == Op.DELETE:
            raise _nothing_to_delete("participant")
        data = _new_record(mutation)
        project = ctx.writable_project(data.get("project_id"))
        checked = check_participant(
            session, data, project_id=project.id, own_id=mutation.id, today=ctx.today
        )
        if checked.errors:
            raise Rejected(checked.errors)
        clean = checked.clean
        now = utcnow()
        participant = Participant(
            id=mutation.id,
            project_id=project.id,
            code=clean["code"],
            name=clean.get("name"),
            sex=clean.get("sex") or "unspecified",
            birth_year=clean.get("birth_year"),
            category=clean.get("category") or "farmer",
            disability=bool(clean.get("disability") or False),
            version=1,
            created_at=now,
            updated_at=now,
        )
        _participant_written(ctx, participant, new=True)
        return Outcome(ResultStatus.APPLIED, 1, project.id)

    project = _project_of(ctx, existing.project_id)
    version = existing.version
    if not ctx.may_write(project):
        raise _out_of_scope(mutation, "participant")
    _check_base(mutation, version)
    current = participant_wire(existing)
    history = record_history(
        session,
        entity=Entity.PARTICIPANT,
        entity_id=existing.id,
        current=current,
        current_version=version,
        base_version=mutation.base_version,
        device_id=ctx.device.id,
    )
    if mutation.op == Op.DELETE:
        outcome = merge_delete(history=history)
        if outcome.delete:
            existing.deleted = True
            existing.deleted_at = utcnow()
            _participant_written(ctx, existing)
        return Outcome(outcome.status, existing.version, project.id, outcome, version)
    incoming = _incoming(mutation)
    incoming.pop("project_id", None)
    outcome = merge_upsert(history=history, incoming=incoming)
    if outcome.changes:
        record = {**current, **outcome.changes}
        checked = check_participant(
            session,
            record,
            project_id=project.id,
            own_id=existing.id,
            today=ctx.today,
            code_changed="code" in outcome.changes,
        )
        if checked.errors:
            raise Rejected(checked.errors)
        for name in outcome.changes:
            if name in PARTICIPANT_FIELDS:
                setattr(existing, name, checked.clean.get(name))
        _participant_written(ctx, existing)
    return Outcome(outcome.status, existing.version, project.id, outcome, version)


# What a push (or a settled conflict) may change of a participant.
PARTICIPANT_FIELDS = ("code", "name", "sex", "birth_year", "category", "disability")


def check_participant(
    session: Session,
    record: Mapping[str, Any],
    *,
    project_id: uuid.UUID,
    own_id: uuid.UUID,
    today: date,
    code_changed: bool = True,
) -> Validation:
    """Every check a pushed participant passes, each problem at once: its fields, and its code
    unique in its project. Settling a conflict calls it too."""
    checked = validate_participant(record, today=today)
    errors = list(checked.errors)
    code = checked.clean.get("code")
    if code_changed and code and not any(e.field == "code" for e in errors):
        other = session.execute(
            select(col(Participant.id)).where(
                col(Participant.project_id) == project_id,
                col(Participant.code) == code,
                col(Participant.id) != own_id,
            )
        ).first()
        if other is not None:
            errors.append(
                Issue(
                    "code",
                    ErrorCode.ALREADY_EXISTS,
                    f"code {code!r} is already used by another participant of this "
                    "project; scan the card again or use another code",
                )
            )
    return Validation(errors=errors, warnings=checked.warnings, clean=checked.clean)


def _participant_written(ctx: PushContext, participant: Participant, *, new: bool = False) -> None:
    write_version(
        ctx.session,
        participant,
        entity=Entity.PARTICIPANT,
        wire=participant_wire,
        project_id=participant.project_id,
        source=ctx.source,
        author_id=ctx.caller.user.id,
        device_id=ctx.device.id,
        new=new,
    )


# --- sites found in the field --------------------------------------------------------------

# What a tablet may change of a site it added (and a settled conflict, of any site).
SITE_FIELDS = ("name", "admin_area", "lat", "lon")


def apply_site(ctx: PushContext, mutation: Mutation, existing: Site | None) -> Outcome:
    session = ctx.session
    mine = existing is not None and ctx.may_write(_project_of(ctx, existing.project_id))
    if mutation.op == Op.DELETE:
        raise _reject(
            "id",
            ErrorCode.FORBIDDEN,
            "sites are removed by the country office, not from a tablet",
            version=existing.version if existing is not None and mine else None,
        )
    if existing is None:
        data = _new_record(mutation)
        project = ctx.writable_project(data.get("project_id"))
        checked = validate_site(data, project=project_facts(project))
        if checked.errors:
            raise Rejected(checked.errors)
        clean = checked.clean
        now = utcnow()
        site = Site(
            id=mutation.id,
            project_id=project.id,
            name=clean["name"],
            admin_area=clean.get("admin_area") or "",
            lat=clean.get("lat"),
            lon=clean.get("lon"),
            status="pending",
            created_by_id=ctx.caller.user.id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        _site_written(ctx, site, project, new=True)
        return Outcome(ResultStatus.APPLIED, 1, project.id)

    project = _project_of(ctx, existing.project_id)
    version = existing.version
    if not mine:
        raise _out_of_scope(mutation, "site")
    if existing.status != "pending" or existing.created_by_id != ctx.caller.user.id:
        raise _reject(
            "id",
            ErrorCode.NOT_YOUR_RECORD,
            "only a pending site you added can be changed from the tablet; "
            "ask the country office to change this one",
            version=version,
        )
    _check_base(mutation, version)
    current = site_wire(existing)
    history = record_history(
        session,
        entity=Entity.SITE,
        entity_id=existing.id,
        current=current,
        current_version=version,
        base_version=mutation.base_version,
        device_id=ctx.device.id,
    )
    incoming = {k: v for k, v in _incoming(mutation).items() if k in SITE_FIELDS}
    outcome = merge_upsert(history=history, incoming=incoming)
    if outcome.changes:
        record = {**current, **outcome.changes}
        checked = validate_site(record, project=project_facts(project))
        if checked.errors:
            raise Rejected(checked.errors)
        for name in outcome.changes:
            value = checked.clean.get(name)
            setattr(existing, name, "" if name == "admin_area" and value is None else value)
        _site_written(ctx, existing, project)
    return Outcome(outcome.status, existing.version, project.id, outcome, version)


def _site_written(ctx: PushContext, site: Site, project: Project, *, new: bool = False) -> None:
    write_version(
        ctx.session,
        site,
        entity=Entity.SITE,
        wire=site_wire,
        project_id=project.id,
        source=ctx.source,
        author_id=ctx.caller.user.id,
        device_id=ctx.device.id,
        new=new,
    )
    ctx.forget_sites(project.id)


# --- attachment metadata -------------------------------------------------------------------


NO_SUCH_OBSERVATION = "no such observation on the server: push the observation before its photos"


@dataclass(frozen=True, slots=True)
class _PhotoOwner:
    """The record a photo belongs to: an activity or an observation."""

    field: str  # activity_id | observation_id
    activity: Activity | None
    observation: Observation | None
    project: Project


def _owner_id(clean: Mapping[str, Any]) -> tuple[str, Any]:
    if clean.get("observation_id"):
        return "observation_id", clean["observation_id"]
    return "activity_id", clean.get("activity_id")


def _attachment_owner(ctx: PushContext, field_name: str, owner_id: Any) -> _PhotoOwner:
    """The activity or observation a photo is added to, if the tablet may add photos to it."""
    try:
        key = uuid.UUID(str(owner_id))
    except ValueError as exc:
        raise _reject(field_name, ErrorCode.BAD_UUID, "not a UUID") from exc
    observation = field_name == "observation_id"
    noun = "observation" if observation else "activity"
    record: Activity | Observation | None = (
        ctx.session.get(Observation, key) if observation else ctx.session.get(Activity, key)
    )
    project = ctx.project(record.project_id) if record is not None else None
    if record is None or record.deleted or project is None or not ctx.may_write(project):
        raise _reject(
            field_name,
            ErrorCode.NOT_FOUND,
            NO_SUCH_OBSERVATION if observation else NO_SUCH_ACTIVITY,
        )
    if not ctx.owns(record.created_by_id):
        raise _reject(
            field_name,
            ErrorCode.NOT_YOUR_RECORD,
            f"photos can only be added to your own {noun}s",
        )
    if record.status == ActivityStatus.APPROVED:
        raise _reject(
            field_name,
            ErrorCode.LOCKED,
            f"this {noun} was approved and is locked: ask the country office to reopen it",
        )
    if isinstance(record, Observation):
        return _PhotoOwner(field_name, None, record, project)
    return _PhotoOwner(field_name, record, None, project)


def _existing_owner(ctx: PushContext, attachment: Attachment) -> _PhotoOwner:
    if attachment.observation_id is not None:
        return _attachment_owner(ctx, "observation_id", attachment.observation_id)
    return _attachment_owner(ctx, "activity_id", attachment.activity_id)


def _photo_in_scope(ctx: PushContext, attachment: Attachment) -> bool:
    record: Activity | Observation | None
    if attachment.observation_id is not None:
        record = ctx.session.get(Observation, attachment.observation_id)
    else:
        record = ctx.session.get(Activity, attachment.activity_id)
    project = ctx.project(record.project_id) if record is not None else None
    return project is not None and ctx.may_write(project)


_PHOTO_FIXED = ("activity_id", "observation_id", "sha256", "size", "content_type")


def apply_attachment(ctx: PushContext, mutation: Mutation, existing: Attachment | None) -> Outcome:
    session = ctx.session
    if existing is None:
        if mutation.op == Op.DELETE:
            raise _nothing_to_delete("photo")
        data = _new_record(mutation)
        checked = validate_attachment(data)
        if checked.errors:
            raise Rejected(checked.errors)
        clean = checked.clean
        owner = _attachment_owner(ctx, *_owner_id(clean))
        now = utcnow()
        attachment = Attachment(
            id=mutation.id,
            activity_id=owner.activity.id if owner.activity is not None else None,
            observation_id=owner.observation.id if owner.observation is not None else None,
            sha256=clean["sha256"],
            size=clean["size"],
            content_type=clean["content_type"],
            caption=clean.get("caption") or "",
            version=1,
            created_at=now,
            updated_at=now,
        )
        _attachment_written(ctx, attachment, owner.project, new=True)
        if owner.activity is not None and photo_reused(session, activity_id=owner.activity.id):
            _flag_reused_photo(owner.activity)
        return Outcome(ResultStatus.APPLIED, 1, owner.project.id)

    if mutation.op == Op.DELETE and not _photo_in_scope(ctx, existing):
        raise _nothing_to_delete("photo")
    owner = _existing_owner(ctx, existing)
    project = owner.project
    version = existing.version
    _check_base(mutation, version)
    current = attachment_wire(existing)
    history = record_history(
        session,
        entity=Entity.ATTACHMENT,
        entity_id=existing.id,
        current=current,
        current_version=version,
        base_version=mutation.base_version,
        device_id=ctx.device.id,
    )
    if mutation.op == Op.DELETE:
        outcome = merge_delete(history=history)
        if outcome.delete:
            existing.deleted = True
            _attachment_written(ctx, existing, project)
        return Outcome(outcome.status, existing.version, project.id, outcome, version)
    incoming = _incoming(mutation)
    for fixed in _PHOTO_FIXED:
        if fixed not in incoming:
            continue
        given, held = incoming.pop(fixed), current.get(fixed)
        if str(given or "").lower() != str(held or "").lower():
            raise _reject(
                fixed,
                ErrorCode.NOT_CHANGEABLE,
                "a photo's bytes and the record it belongs to are fixed: add a new photo instead",
                version=version,
            )
    incoming = {k: v for k, v in incoming.items() if k == "caption"}
    outcome = merge_upsert(history=history, incoming=incoming)
    if outcome.changes:
        checked = validate_attachment({**current, **outcome.changes})
        if checked.errors:
            raise Rejected(checked.errors)
        existing.caption = checked.clean.get("caption") or ""
        _attachment_written(ctx, existing, project)
    return Outcome(outcome.status, existing.version, project.id, outcome, version)


def _flag_reused_photo(activity: Activity) -> None:
    flags = list(activity.flags or [])
    if not any(f.get("code") == "photo_reused" for f in flags):
        flags.append(
            {
                "code": "photo_reused",
                "field": "attachments",
                "message": "attachments: the same photo is attached to another activity",
                "params": {},
            }
        )
        activity.flags = flags


def _attachment_written(
    ctx: PushContext, attachment: Attachment, project: Project, *, new: bool = False
) -> None:
    write_version(
        ctx.session,
        attachment,
        entity=Entity.ATTACHMENT,
        wire=attachment_wire,
        project_id=project.id,
        source=ctx.source,
        author_id=ctx.caller.user.id,
        device_id=ctx.device.id,
        new=new,
    )


# --- observations (docs/results.md#observations) -------------------------------------------


def _observation_clean(
    ctx: PushContext, record: Mapping[str, Any], project: Project, *, new: bool
) -> dict[str, Any]:
    checked = check_observation(
        ctx.session,
        record,
        project=project,
        today=ctx.today,
        new=new,
        cache=ctx.forms,
        sites=ctx.sites(project),
    )
    if checked.errors:
        raise Rejected(checked.errors)
    return checked.clean


def observation_history(
    ctx: PushContext, observation: Observation, *, base_version: int
) -> list[Revision]:
    """The revisions from the tablet's base to now, each answer of ``values`` a field of its
    own (``values.<name>``), so the merge treats each key as one field."""
    history = record_history(
        ctx.session,
        entity=Entity.OBSERVATION,
        entity_id=observation.id,
        current=observation_wire(observation),
        current_version=observation.version,
        base_version=base_version,
        device_id=ctx.device.id,
        first=first_revision_of(observation, entity=Entity.OBSERVATION, wire=observation_wire),
    )
    # Every revision names every answer any of them holds (None where it holds none), so that
    # an answer the tablet leaves out is compared with what it saw, not taken as unknown.
    names = value_names(*(r.data for r in history))
    return [Revision(flatten(r.data, names=names), own=r.own) for r in history]


def apply_observation(
    ctx: PushContext, mutation: Mutation, existing: Observation | None
) -> Outcome:
    """A pushed observation: the same rules as an activity (scope, author, lock, base,
    three-way merge, tombstone), checked against its form version, written through
    ``server.results.observations.write_observation``."""
    session, caller, device = ctx.session, ctx.caller, ctx.device
    if existing is None:
        if mutation.op == Op.DELETE:
            raise _nothing_to_delete("observation")
        data = _new_record(mutation, status=True)
        project = ctx.writable_project(data.get("project_id"))
        clean = _observation_clean(ctx, data, project, new=True)
        write_observation(
            session,
            existing=None,
            project=project,
            changes=clean,
            source=ctx.source,
            author_id=caller.user.id,
            device_id=device.id,
            status=ActivityStatus.SUBMITTED,
            new_id=mutation.id,
        )
        return Outcome(ResultStatus.APPLIED, 1, project.id)

    project = _project_of(ctx, existing.project_id)
    version = existing.version
    if not ctx.may_write(project):
        raise _out_of_scope(mutation, "observation")
    if not ctx.owns(existing.created_by_id):
        raise _reject(
            "id",
            ErrorCode.NOT_YOUR_RECORD,
            "only the expert who recorded this observation may change it",
            version=version,
        )
    if observation_locked(existing):
        raise _reject(
            "status",
            ErrorCode.LOCKED,
            "this observation was approved and is locked: ask the country "
            "office to reopen it, then edit it again",
            version=version,
        )
    _check_base(mutation, version)
    history = observation_history(ctx, existing, base_version=mutation.base_version)
    if mutation.op == Op.DELETE:
        outcome = merge_delete(history=history)
        if outcome.delete:
            write_observation(
                session,
                existing=existing,
                project=project,
                changes={},
                source=ctx.source,
                author_id=caller.user.id,
                device_id=device.id,
                deleted=True,
            )
        return Outcome(outcome.status, existing.version, project.id, outcome, version)

    incoming = _incoming(mutation)
    moved = incoming.pop("project_id", None)
    if moved is not None and str(moved) != str(existing.project_id):
        raise _reject(
            "project_id",
            ErrorCode.NOT_CHANGEABLE,
            "an observation cannot move to another project; record it again under the right "
            "project",
            version=version,
        )
    names = list(_flat_values(history))
    outcome = merge_upsert(history=history, incoming=flatten(incoming, names=names))
    if outcome.changes:
        record = unflatten({**history[-1].data, **outcome.changes})
        clean = _observation_clean(ctx, record, project, new=False)
        touched = {VALUES_KEY if n.startswith("values.") else n for n in outcome.changes}
        write_observation(
            session,
            existing=existing,
            project=project,
            changes={n: clean.get(n) for n in touched if n in OBSERVATION_FIELDS},
            source=ctx.source,
            author_id=caller.user.id,
            device_id=device.id,
            status=_observation_status_after_edit(existing, mutation),
        )
    return Outcome(outcome.status, existing.version, project.id, outcome, version)


def is_plain_new_observation(mutation: Mutation, existing: Any) -> bool:
    """A new observation: it can go in bulk with the others of its batch."""
    return mutation.entity == Entity.OBSERVATION and mutation.op == Op.UPSERT and existing is None


def apply_new_observations(
    ctx: PushContext, mutations: list[Mutation]
) -> dict[int, Outcome | Rejected]:
    """Check new observations one by one, then write the valid ones together through
    ``write_new_observations``: the same checks and rows as ``apply_observation`` gives each
    new one, with one roll-up delta for all of them."""
    answers: dict[int, Outcome | Rejected] = {}
    accepted: list[tuple[Mutation, Project]] = []
    batch: list[NewObservation] = []
    for mutation in mutations:
        try:
            data = _new_record(mutation, status=True)
            project = ctx.writable_project(data.get("project_id"))
            clean = _observation_clean(ctx, data, project, new=True)
        except Rejected as exc:
            answers[mutation.seq] = exc
            continue
        accepted.append((mutation, project))
        batch.append(NewObservation(project, clean, mutation.id, ActivityStatus.SUBMITTED))
    if not accepted:
        return answers
    write_new_observations(
        ctx.session,
        batch,
        source=ctx.source,
        author_id=ctx.caller.user.id,
        device_id=ctx.device.id,
    )
    for mutation, project in accepted:
        answers[mutation.seq] = Outcome(ResultStatus.APPLIED, 1, project.id)
    return answers


VALUES_KEY = "values"


def _flat_values(history: list[Revision]) -> dict[str, None]:
    """Every answer name any revision from the base on holds (an answer the tablet's whole
    ``values`` leaves out is one it cleared, or never saw)."""
    names: dict[str, None] = {}
    for revision in history:
        for key in revision.data:
            if key.startswith("values."):
                names[key[len("values.") :]] = None
    return names


def _observation_status_after_edit(existing: Observation, mutation: Mutation) -> str:
    """As for activities: an edit resubmits, unless it was made before the tablet saw the
    office return the observation."""
    if existing.status == ActivityStatus.RETURNED and mutation.base_version < existing.version:
        return ActivityStatus.RETURNED
    return ActivityStatus.SUBMITTED
