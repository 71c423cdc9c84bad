"""Conflicts raised by pushes: listed for the country office, resolved by it
(docs/protocol.md#push).

A conflict records, for the fields both sides changed, the value at the base, the server's value
(which was kept) and the tablet's value (kept with the whole mutation in ``KeptMutation``).
Resolving takes the server's values, the tablet's values or custom ones; a resolution that
changes the record writes a new version (source ``resolve``) that tablets pull, and closes the
conflict, which tablets pull too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import Device
from server.activities.flags import FlagFacts, project_facts
from server.activities.models import Activity, Attachment
from server.activities.review import is_locked
from server.activities.service import ActivityWrite, Writer, load_wire, write_activities
from server.columns import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed, invalid
from server.projects.models import Participant, Project, Site, site_wire
from server.records import audit
from server.records.revisions import write_version
from server.results.models import Observation
from server.results.observations import (
    EDITABLE_FIELDS as OBSERVATION_FIELDS,
)
from server.results.observations import (
    VALUE_PREFIX,
    check_observation,
    flatten,
    observation_wire,
    unflatten,
    write_observation,
)
from server.results.observations import (
    is_locked as observation_locked,
)
from server.scope import can_review, in_visible_project
from server.sync.models import KeptMutation, SyncConflict
from server.sync.records import (
    PARTICIPANT_FIELDS,
    SITE_FIELDS,
    Outcome,
    PushContext,
    Rejected,
    check_activity,
    check_participant,
)
from server.sync.service import close_conflict
from server.sync.wire import attachment_wire, conflict_wire, participant_wire
from shared.catalogue import ActivityStatus
from shared.errors import ErrorCode, Issue
from shared.validation import validate_attachment, validate_site
from sync.merge import SERVER_OWNED
from sync.protocol import ConflictResolution, Mutation, Op, ResultStatus

STATUSES = ("open", "resolved", "superseded")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: Literal["server", "device", "custom"] = Field(
        description="server: keep what the server has; device: take the tablet's values; "
        "custom: take `values`"
    )
    values: dict[str, Any] | None = Field(
        default=None, description="For `custom`: a value for every conflicting field"
    )


def _status_issues(status: str | None) -> list[Issue]:
    if status is None or status in STATUSES:
        return []
    return [
        Issue(
            "status",
            ErrorCode.UNKNOWN_CODE,
            f"unknown status {status!r}; use " + ", ".join(STATUSES),
        )
    ]


def list_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``GET /conflicts``'s filter checks, for one 400 with the parameters FastAPI refused
    (``server.deps.rules``): an unknown status beside a limit out of range."""
    status = data.get("status")
    return _status_issues(status if isinstance(status, str) and status else None)


def list_conflicts(
    session: Session, *, caller: Caller, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    if issues := _status_issues(status):
        raise ValidationFailed(issues, status_code=400)  # a bad query, as every list's
    conditions = [in_visible_project(SyncConflict.project_id, caller)]
    if status is not None:
        conditions.append(col(SyncConflict.status) == status)
    total = session.execute(
        select(func.count()).select_from(SyncConflict).where(*conditions)
    ).scalar_one()
    rows = (
        session.execute(
            select(SyncConflict)
            .where(*conditions)
            .order_by(col(SyncConflict.created_at).desc(), col(SyncConflict.id))
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return [conflict_wire(c) for c in rows], int(total)


def get_conflict(session: Session, *, caller: Caller, conflict_id: uuid.UUID) -> SyncConflict:
    conflict = session.execute(
        select(SyncConflict).where(
            col(SyncConflict.id) == conflict_id, in_visible_project(SyncConflict.project_id, caller)
        )
    ).scalar_one_or_none()
    if conflict is None:
        raise NotFound("no such conflict")
    return conflict


def resolve(
    session: Session, *, caller: Caller, conflict_id: uuid.UUID, request: ResolveRequest
) -> SyncConflict:
    """Settle a conflict in the caller's transaction (the caller commits)."""
    conflict = get_conflict(session, caller=caller, conflict_id=conflict_id)
    project = session.get(Project, conflict.project_id) if conflict.project_id else None
    if project is None or not can_review(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may resolve its conflicts"
        )
    if conflict.status != "open":
        raise Conflict(f"this conflict is already {conflict.status}")
    values, pending = _chosen_values(conflict, request)
    if values is not None:
        kept = session.get(KeptMutation, conflict.mutation_id) if conflict.mutation_id else None
        _apply_resolution(
            session,
            caller=caller,
            conflict=conflict,
            project=project,
            values=values,
            pending=pending,
            kept=kept,
        )
    audit.record(
        session,
        action="resolve",
        entity="conflict",
        entity_id=conflict.id,
        actor_id=caller.user.id,
        country=project.country,
        before={
            "fields": conflict.fields,
            "server": conflict.server_values,
            "device": conflict.device_values,
        },
        after={"keep": request.keep, "values": values},
    )
    close_conflict(
        session,
        conflict=conflict,
        status="resolved",
        resolution={"keep": request.keep, "values": values, "by": caller.user.username},
        resolved_by_id=caller.user.id,
        at=utcnow(),
    )
    return conflict


# At most this many fields not in conflict are named in an answer (hostile input stays small).
_MAX_NAMED = 20


def _chosen_values(
    conflict: SyncConflict, request: ResolveRequest
) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The values to write (None: keep the server's) and the problems of the choice itself,
    reported with those of the values (every problem at once, not one per round)."""
    if request.keep in ("server", "device") and request.values:
        raise invalid("values", ErrorCode.INVALID, "give values only with keep=custom")
    if request.keep == "server":
        return None, []
    if request.keep == "device":
        return dict(conflict.device_values or {}), []
    given = dict(request.values or {})
    wanted = list(conflict.fields or [])
    pending = [
        Issue(f"values.{name}", ErrorCode.REQUIRED, "give a value for this conflicting field")
        for name in wanted
        if name not in given
    ]
    extra = [name for name in given if name not in wanted]
    pending += [
        Issue(
            f"values.{name[:64]}",
            ErrorCode.UNKNOWN_FIELD,
            "not a field in conflict; give a value for each of these and no other: "
            + ", ".join(wanted),
        )
        for name in extra[:_MAX_NAMED]
    ]
    return {k: v for k, v in given.items() if k in wanted}, pending


def _refuse(pending: list[Issue], issues: list[Issue] | None = None) -> None:
    """Refuse the resolution with every problem found, the choice's and the values'."""
    problems = pending + [i for i in issues or [] if i.field not in {p.field for p in pending}]
    if problems:
        raise ValidationFailed(problems)


def _apply_resolution(
    session: Session,
    *,
    caller: Caller,
    conflict: SyncConflict,
    project: Project,
    values: dict[str, Any],
    pending: list[Issue],
    kept: KeptMutation | None,
) -> None:
    entity_id = conflict.entity_id
    if conflict.entity == "activity":
        activity = session.get(Activity, entity_id)
        if activity is None:
            raise NotFound(
                "the activity of this conflict no longer exists", code=ErrorCode.DELETED_ON_SERVER
            )
        _resolve_activity(
            session,
            caller=caller,
            activity=activity,
            project=project,
            values=values,
            pending=pending,
            kept=kept,
        )
    elif conflict.entity == "participant":
        participant = session.get(Participant, entity_id)
        if participant is None:
            raise NotFound(
                "the participant of this conflict no longer exists",
                code=ErrorCode.DELETED_ON_SERVER,
            )
        _resolve_participant(
            session, caller=caller, participant=participant, values=values, pending=pending
        )
    elif conflict.entity == "attachment":
        attachment = session.get(Attachment, entity_id)
        if attachment is None:
            raise NotFound(
                "the photo of this conflict no longer exists", code=ErrorCode.DELETED_ON_SERVER
            )
        _resolve_attachment(
            session,
            caller=caller,
            attachment=attachment,
            project=project,
            values=values,
            pending=pending,
        )
    elif conflict.entity == "site":
        site = session.get(Site, entity_id)
        if site is None:
            raise NotFound(
                "the site of this conflict no longer exists", code=ErrorCode.DELETED_ON_SERVER
            )
        _resolve_site(
            session, caller=caller, site=site, project=project, values=values, pending=pending
        )
    elif conflict.entity == "observation":
        observation = session.get(Observation, entity_id)
        if observation is None:
            raise NotFound(
                "the observation of this conflict no longer exists",
                code=ErrorCode.DELETED_ON_SERVER,
            )
        _resolve_observation(
            session,
            caller=caller,
            observation=observation,
            project=project,
            values=values,
            pending=pending,
            kept=kept,
        )
    else:
        raise Conflict(
            f"{conflict.entity} conflicts can only be resolved by keeping the server's values"
        )


def _under_values(issues: list[Issue]) -> list[Issue]:
    """Issues of a resolution's values, named as the request names them (``values.title``)."""
    return [Issue(f"values.{i.field}", i.code, i.message) for i in issues]


def _editable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in SERVER_OWNED}


def _resolve_activity(
    session: Session,
    *,
    caller: Caller,
    activity: Activity,
    project: Project,
    values: dict[str, Any],
    pending: list[Issue],
    kept: KeptMutation | None,
) -> None:
    if is_locked(activity):
        raise Conflict(
            "this activity was approved since: reopen it before resolving", code=ErrorCode.LOCKED
        )
    writer = Writer.of(caller, source="resolve")
    if values.get("deleted") is True:
        _refuse(pending)
        if not activity.deleted:
            write_activities(
                session, [ActivityWrite(existing=activity, delete=True)], writer=writer
            )
        return
    changes = _editable(values)
    restore = values.get("deleted") is False and activity.deleted
    if restore:
        # The tablet edited what the server had deleted: restore it with the tablet's edit.
        changes = {**_editable(dict(kept.data or {}) if kept else {}), **changes}
    moved = _moved(changes, project, "activity")
    record = {k: v for k, v in {**load_wire(session, activity), **changes}.items() if k != "status"}
    # Every check a push makes (the same function): fields, the project's sites, its roster.
    checked = check_activity(session, FlagFacts(session, utcnow().date()), record, project)
    _refuse(pending, moved + _under_values(checked.errors))
    write_activities(
        session,
        [
            ActivityWrite(
                data={k: checked.clean.get(k) for k in changes},
                existing=activity,
                restore=restore,
                warnings=checked.warnings,
                record=checked.clean,
            )
        ],
        writer=writer,
    )


def _moved(changes: dict[str, Any], project: Project, noun: str) -> list[Issue]:
    """A record stays in its project, as a push keeps it (the value is dropped from
    ``changes``; the issue, if it named another project, refuses the resolution)."""
    given = changes.pop("project_id", None)
    if given is None or str(given) == str(project.id):
        return []
    return [
        Issue(
            "values.project_id",
            ErrorCode.NOT_CHANGEABLE,
            f"an {noun} cannot move to another project; record it again under the right project",
        )
    ]


def _resolve_observation(
    session: Session,
    *,
    caller: Caller,
    observation: Observation,
    project: Project,
    values: dict[str, Any],
    pending: list[Issue],
    kept: KeptMutation | None,
) -> None:
    """Take the tablet's (or custom) values of an observation: each answer is a field of its
    own (``values.<name>``), checked against the form version like a push, then written
    through ``write_observation``."""
    if observation_locked(observation):
        raise Conflict(
            "this observation was approved since: reopen it before resolving",
            code=ErrorCode.LOCKED,
        )
    if values.get("deleted") is True:
        _refuse(pending)
        if not observation.deleted:
            write_observation(
                session,
                existing=observation,
                project=project,
                changes={},
                source="resolve",
                author_id=caller.user.id,
                deleted=True,
            )
        return
    changes = _editable(values)
    restoring = values.get("deleted") is False and observation.deleted
    if restoring:
        # The tablet edited what the server had deleted: restore it with the tablet's edit.
        changes = {**_editable(flatten(dict(kept.data or {}) if kept else {})), **changes}
    moved = _moved(changes, project, "observation")
    record = unflatten({**flatten(observation_wire(observation)), **changes})
    checked = check_observation(session, record, project=project, today=utcnow().date(), new=False)
    _refuse(pending, moved + _under_values(checked.errors))
    touched = {"values" if k.startswith(VALUE_PREFIX) else k for k in changes}
    write_observation(
        session,
        existing=observation,
        project=project,
        changes={n: checked.clean.get(n) for n in touched if n in OBSERVATION_FIELDS},
        source="resolve",
        author_id=caller.user.id,
        deleted=False if restoring else None,
    )


def _resolve_participant(
    session: Session,
    *,
    caller: Caller,
    participant: Participant,
    values: dict[str, Any],
    pending: list[Issue],
) -> None:
    """Take the tablet's (or custom) values of a participant: checked by the push's own
    function (fields, the code unique in the project); only the fields a push may change."""
    if values.get("deleted") is True:
        _refuse(pending)
        participant.deleted = True
        participant.deleted_at = utcnow()
    else:
        changes = _editable(values)
        unknown = _not_changeable(changes, PARTICIPANT_FIELDS, "participant")
        known = {k: v for k, v in changes.items() if k in PARTICIPANT_FIELDS}
        checked = check_participant(
            session,
            {**participant_wire(participant), **known},
            project_id=participant.project_id,
            own_id=participant.id,
            today=utcnow().date(),
            code_changed="code" in known,
        )
        _refuse(pending, unknown + _under_values(checked.errors))
        participant.deleted = False if values.get("deleted") is False else participant.deleted
        for name in known:
            setattr(participant, name, checked.clean.get(name))
    write_version(
        session,
        participant,
        entity="participant",
        wire=participant_wire,
        project_id=participant.project_id,
        source="resolve",
        author_id=caller.user.id,
    )


def _not_changeable(changes: dict[str, Any], fields: tuple[str, ...], noun: str) -> list[Issue]:
    return [
        Issue(
            f"values.{k[:64]}",
            ErrorCode.UNKNOWN_FIELD,
            f"not a field of a {noun} a tablet may change (" + ", ".join(fields) + ")",
        )
        for k in sorted(k for k in changes if k not in fields)[:_MAX_NAMED]
    ]


def _resolve_site(
    session: Session,
    *,
    caller: Caller,
    site: Site,
    project: Project,
    values: dict[str, Any],
    pending: list[Issue],
) -> None:
    """Take the tablet's (or custom) values of a site: validated like a pushed site, then a new
    version with its revision and change-log entry, so tablets pull it."""
    if site.status == "rejected":
        raise Conflict("this site was rejected since: there is nothing to keep values for")
    unknown = _not_changeable(values, SITE_FIELDS, "site")
    known = {k: v for k, v in values.items() if k in SITE_FIELDS}
    checked = validate_site({**site_wire(site), **known}, project=project_facts(project))
    _refuse(pending, unknown + _under_values(checked.errors))  # every problem at once
    for name in known:
        value = checked.clean.get(name)
        setattr(site, name, "" if name == "admin_area" and value is None else value)
    write_version(
        session,
        site,
        entity="site",
        wire=site_wire,
        project_id=project.id,
        source="resolve",
        author_id=caller.user.id,
    )


def _resolve_attachment(
    session: Session,
    *,
    caller: Caller,
    attachment: Attachment,
    project: Project,
    values: dict[str, Any],
    pending: list[Issue],
) -> None:
    """Take the tablet's (or custom) caption: the whole photo record checked as a push checks
    it (text, its length, no control character), refused at ``values.caption`` rather than
    stored as anything given; a photo of an approved activity or observation is locked with
    it, and one of a deleted activity or observation is not found (at ``activity_id`` or
    ``observation_id``), as for a push."""
    on_observation = attachment.observation_id is not None
    noun = "observation" if on_observation else "activity"
    owner: Activity | Observation | None = (
        session.get(Observation, attachment.observation_id)
        if on_observation
        else session.get(Activity, attachment.activity_id)
    )
    gone: list[Issue] = []
    if owner is None or owner.deleted:
        gone = [
            Issue(
                f"{noun}_id",
                ErrorCode.NOT_FOUND,
                f"this photo's {noun} was deleted since: keep the server's values to close "
                "the conflict",
            )
        ]
    elif owner.status == ActivityStatus.APPROVED:
        raise Conflict(
            f"this photo's {noun} was approved since: reopen it before resolving",
            code=ErrorCode.LOCKED,
        )
    unknown = gone + _not_changeable(_editable(values), ("caption",), "photo")
    caption = None
    issues: list[Issue] = []
    if "caption" in values:
        checked = validate_attachment({**attachment_wire(attachment), "caption": values["caption"]})
        issues = _under_values(checked.errors)
        caption = checked.clean.get("caption") or ""
    _refuse(pending, unknown + issues)
    if values.get("deleted") is True:
        attachment.deleted = True
    elif values.get("deleted") is False:
        attachment.deleted = False
    if caption is not None:
        attachment.caption = caption
    write_version(
        session,
        attachment,
        entity="attachment",
        wire=attachment_wire,
        project_id=project.id,
        source="resolve",
        author_id=caller.user.id,
    )


def apply_device_resolution(
    ctx: PushContext, mutation: Mutation, conflict: SyncConflict | None
) -> Outcome:
    """A tablet settles one of its conflicts through its outbox (push or offline bundle).

    The mutation is ``{"entity": "conflict", "op": "upsert", "id": <conflict id>,
    "base_version": 0, "data": {"resolution": "keep_server"}}``: keep the server's values. An
    open conflict closes as ``resolved`` (resolution ``{"keep": "server", "by": <username>,
    "device_id", "seq", "source"}``), with an audit entry and a change-log entry, so the office
    and every tablet of the project see it closed; the answer is ``applied``. A conflict
    already closed (by the office, or by an earlier delivery) changes nothing and is answered
    ``duplicate``: keeping the server's values is already what holds. Refused (``rejected``):
    another operation or resolution, and a conflict outside the tablet's scope — a project its
    user may not record for, or raised by another user's tablet unless that user reviews the
    project — answered as if it did not exist. Runs in the push's savepoint.
    """
    if mutation.op != Op.UPSERT:
        raise Rejected(
            [
                Issue(
                    "op",
                    ErrorCode.INVALID,
                    "a conflict cannot be deleted: settle it with an upsert of data.resolution",
                )
            ]
        )
    data = mutation.data or {}
    if data.get("resolution") != ConflictResolution.KEEP_SERVER or set(data) != {"resolution"}:
        raise Rejected(
            [
                Issue(
                    "data.resolution",
                    ErrorCode.UNKNOWN_CODE,
                    "the only resolution a tablet sends is 'keep_server' "
                    "(to keep its own values it saves them again)",
                )
            ]
        )
    project = ctx.project(conflict.project_id) if conflict is not None else None
    if (
        conflict is None
        or project is None
        or not ctx.may_write(project)
        or not (_raised_by_user(ctx, conflict) or can_review(ctx.caller, project))
    ):
        raise Rejected(
            [
                Issue(
                    "id",
                    ErrorCode.NOT_FOUND,
                    "no conflict with this id that this tablet's user may settle",
                )
            ]
        )
    if conflict.status != "open":
        return Outcome(status=ResultStatus.DUPLICATE, version=2, project_id=project.id)
    user = ctx.caller.user
    audit.record(
        ctx.session,
        action="resolve",
        entity="conflict",
        entity_id=conflict.id,
        actor_id=user.id,
        device_id=ctx.device.id,
        country=project.country,
        before={
            "fields": conflict.fields,
            "server": conflict.server_values,
            "device": conflict.device_values,
        },
        after={"keep": "server", "values": None, "by": "device", "seq": mutation.seq},
    )
    close_conflict(
        ctx.session,
        conflict=conflict,
        status="resolved",
        resolution={
            "keep": "server",
            "values": None,
            "by": user.username,
            "device_id": str(ctx.device.id),
            "seq": mutation.seq,
            "source": ctx.source,
        },
        resolved_by_id=user.id,
    )
    return Outcome(status=ResultStatus.APPLIED, version=2, project_id=project.id)


def _raised_by_user(ctx: PushContext, conflict: SyncConflict) -> bool:
    """Whether one of the caller's own tablets pushed the change that conflicted."""
    if conflict.device_id is None:
        return False
    if conflict.device_id == ctx.device.id:
        return True
    device = ctx.session.get(Device, conflict.device_id)
    return device is not None and device.user_id == ctx.caller.user.id
