"""Forms (docs/results.md#forms): scoped reads and validated, audited, versioned writes.

One ``Form`` row is one version of a form code. The life of a code:

- ``create``: a draft of version 1 (or, for a code that exists, of the next version: the
  same as editing the latest published version).
- ``update`` (PATCH) of a draft changes it in place. PATCH of a **published** version never
  changes it: it creates the draft of version n+1 from that version's definition with the
  changes applied, and returns the draft (a new id). If the code already has a draft, that is
  a 409 ``state_conflict``: edit the draft. A retired version is a 409 too.
- ``publish`` freezes the draft. Earlier published versions stay published, so observations
  already made with them (on tablets still offline) are accepted; tablets offer the latest.
- ``retire`` retires every published version of the code: no new observations. A later draft
  may still be published, which brings the code back.

Scope (docs/roles.md): a global form (``project_id`` None) is read by everyone and written by
admins; a project's form is read by whoever sees the project and written by admins and the
country officers of its country. Scope is in the query: a project form outside the caller's
scope is a 404.

Change log: publishing and retiring a version record a change of entity ``form`` (op ``upsert``,
``version`` = the form version, ``project_id`` = the form's project, or **None for a global
form**: pull serves those to every device). Drafts never reach a tablet.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.columns import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed, invalid
from server.projects.models import Project, Target
from server.records import audit
from server.records.changes import record_change
from server.results.models import Form
from server.results.rollup import refresh_form
from server.scope import can_write_project, in_visible_project, project_scope
from shared.catalogue import Role
from shared.errors import ErrorCode, Issue
from shared.forms import FormDefinition, validate_form
from shared.indicators import INDICATORS

DEFINITION_KEYS = ("code", "title", "fields", "indicators")
EDITABLE_KEYS = ("title", "fields", "indicators")


# --- reading --------------------------------------------------------------------------------


def form_scope(caller: Caller) -> sa.ColumnElement[bool]:
    """Forms the caller may read: global ones and those of the caller's projects."""
    return sa.or_(col(Form.project_id).is_(None), in_visible_project(col(Form.project_id), caller))


def list_forms(
    session: Session,
    *,
    caller: Caller,
    code: str | None = None,
    status: str | None = None,
    project_id: uuid.UUID | None = None,
    scope: str | None = None,
    latest: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Form], int]:
    conditions: list[Any] = [form_scope(caller)]
    if code:
        conditions.append(col(Form.code) == code)
    if status:
        conditions.append(col(Form.status) == status)
    if project_id is not None:
        conditions.append(col(Form.project_id) == project_id)
    if scope == "global":
        conditions.append(col(Form.project_id).is_(None))
    elif scope == "project":
        conditions.append(col(Form.project_id).is_not(None))
    if latest:  # each code's newest version (of the status asked, when one is)
        newer = sa.alias(Form.__table__, "newer")  # type: ignore[attr-defined]
        later = [newer.c.code == col(Form.code), newer.c.version > col(Form.version)]
        if status:
            later.append(newer.c.status == status)
        conditions.append(~sa.exists().where(*later))
    query = select(Form).where(*conditions)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Form.code), col(Form.version)).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def get_form(session: Session, *, caller: Caller, form_id: uuid.UUID) -> Form:
    form = session.exec(select(Form).where(Form.id == form_id, form_scope(caller))).one_or_none()
    if form is None:
        raise NotFound("no such form")
    return form


def form_public(form: Form) -> dict[str, Any]:
    return {
        "id": str(form.id),
        "code": form.code,
        "version": form.version,
        "title": form.title,
        "scope": "global" if form.project_id is None else str(form.project_id),
        "project_id": str(form.project_id) if form.project_id else None,
        "status": form.status,
        "fields": form.fields,
        "indicators": form.indicators,
        "created_at": form.created_at,
        "updated_at": form.updated_at,
        "published_at": form.published_at,
        "retired_at": form.retired_at,
    }


# --- who may write --------------------------------------------------------------------------


def resolve_project(session: Session, *, caller: Caller, ref: str | None) -> Project | None:
    """``project`` given as an id or a code; None for a global form. Out of scope is unknown."""
    if ref is None or not str(ref).strip():
        return None
    ref = str(ref).strip()
    try:
        condition = col(Project.id) == uuid.UUID(ref)
    except ValueError:
        condition = col(Project.code) == ref
    project = session.exec(select(Project).where(condition, project_scope(caller))).one_or_none()
    if project is None:
        raise invalid("project", ErrorCode.NOT_FOUND, f"no project {ref!r} in your scope")
    return project


def _check_writer(caller: Caller, project: Project | None) -> None:
    if project is None:
        if caller.role != Role.ADMIN:
            raise Forbidden("only an admin may write global forms")
        return
    if not can_write_project(caller, project):
        raise Forbidden(
            "only an admin or a country officer of the project's country may write its forms"
        )


def _project_of(session: Session, form: Form) -> Project | None:
    return session.get(Project, form.project_id) if form.project_id else None


def _country(project: Project | None) -> str | None:
    return project.country if project else None


# --- validation -----------------------------------------------------------------------------


def taken_indicator_codes(session: Session, code: str) -> set[str]:
    """Codes a form's indicators may not take: the activity indicators' (docs/indicators.md)
    and those declared by forms of another code (any version, any scope)."""
    taken: set[str] = set(INDICATORS)
    for indicators in session.exec(select(Form.indicators).where(col(Form.code) != code)).all():
        taken.update(str(i.get("code")) for i in indicators or [] if isinstance(i, Mapping))
    return taken


def check_definition(session: Session, data: Mapping[str, Any]) -> FormDefinition:
    code = data.get("code")
    taken = taken_indicator_codes(session, code) if isinstance(code, str) else set()
    check = validate_form(data, taken_indicator_codes=taken)
    if check.definition is None:
        raise ValidationFailed(check.errors)
    return check.definition


def definition_issues(session: Session, data: Mapping[str, Any]) -> list[Issue]:
    """Every problem of a form definition (``check_definition``'s), without raising."""
    try:
        check_definition(session, data)
    except ValidationFailed as exc:
        return exc.issues
    return []


def new_form_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /forms``'s rule checks (server.deps.rules): an unknown project and every problem
    of the definition (not who may write it)."""
    try:
        resolve_project(session, caller=caller, ref=data.get("project"))
        issues: list[Issue] = []
    except ValidationFailed as exc:
        issues = list(exc.issues)
    return issues + definition_issues(session, {k: data.get(k) for k in DEFINITION_KEYS})


def form_project(session: Session, *, caller: Caller, data: Mapping[str, Any]) -> Project | None:
    """The project of a new form (``resolve_project``); an unknown one is named together with
    the definition's problems."""
    try:
        return resolve_project(session, caller=caller, ref=data.get("project"))
    except ValidationFailed as exc:
        raise ValidationFailed(new_form_rules(session, caller=caller, data=data, path={})) from exc


def form_change_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``PATCH /forms/{form_id}``'s rule checks: the changed definition's problems."""
    form = get_form(session, caller=caller, form_id=uuid.UUID(path["form_id"]))
    merged = {**_state(form), **{k: v for k, v in data.items() if k in EDITABLE_KEYS}}
    return definition_issues(session, {k: merged[k] for k in DEFINITION_KEYS})


def _state(form: Form) -> dict[str, Any]:
    return {
        "code": form.code,
        "version": form.version,
        "status": form.status,
        "project_id": str(form.project_id) if form.project_id else None,
        "title": form.title,
        "fields": form.fields,
        "indicators": form.indicators,
    }


# --- indicators that targets hold ----------------------------------------------------------


def _defined_codes(session: Session, code: str) -> set[str]:
    """The indicator codes form ``code`` defines now: its latest published or retired
    version's (``result_indicators``); none before its first publication."""
    latest = session.exec(
        select(Form.indicators)
        .where(col(Form.code) == code, col(Form.status).in_(("published", "retired")))
        .order_by(col(Form.version).desc())
        .limit(1)
    ).first()
    return {str(i.get("code")) for i in latest or [] if isinstance(i, Mapping) and i.get("code")}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def check_held_indicators(session: Session, code: str, indicators: Any) -> None:
    """Refuse (409 ``state_conflict`` on ``indicators``) a version of form ``code`` whose
    ``indicators`` drop or rename one the form defines now while targets or baselines hold it
    (any project's): their achievement would have nothing to count. Those targets are deleted
    (or made again for another indicator) first (docs/results.md#targets-of-result-indicators)."""
    kept = {str(i.get("code")) for i in indicators or [] if isinstance(i, Mapping)}
    dropped = _defined_codes(session, code) - kept
    if not dropped:
        return
    rows = session.exec(
        select(col(Target.indicator), col(Target.kind), func.count())
        .where(col(Target.indicator).in_(dropped))
        .group_by(col(Target.indicator), col(Target.kind))
    ).all()
    held: dict[str, dict[str, int]] = {}
    for indicator, kind, n in rows:
        held.setdefault(indicator, {})[kind] = int(n)
    if not held:
        return
    parts = []
    for indicator in sorted(held):
        counts = held[indicator]
        words = [_plural(counts[kind], kind) for kind in ("target", "baseline") if counts.get(kind)]
        parts.append(f"{indicator} ({' and '.join(words)})")
    names = ", ".join(sorted(held))
    message = (
        f"indicators: this version of {code} drops {', '.join(parts)}; delete those targets "
        "and baselines, or make them again for another indicator, before dropping or "
        "renaming the indicator"
    )
    raise ValidationFailed(
        [
            Issue(
                "indicators",
                ErrorCode.STATE_CONFLICT,
                message,
                {
                    "indicators": names,
                    "targets": str(sum(c.get("target", 0) for c in held.values())),
                    "baselines": str(sum(c.get("baseline", 0) for c in held.values())),
                },
            )
        ],
        status_code=409,
    )


# --- writing --------------------------------------------------------------------------------


def _versions(session: Session, code: str) -> Sequence[Form]:
    return session.exec(select(Form).where(Form.code == code).order_by(col(Form.version))).all()


def create_form(
    session: Session, *, caller: Caller, data: Mapping[str, Any], project: Project | None
) -> Form:
    """A draft: version 1 of a new code, or version n+1 of an existing code of the same scope
    (409 if the code belongs to another scope or already has a draft). Codes are one namespace
    for every scope, so that HQ compares a form's indicators across countries: a code another
    scope holds is taken, and the message says so plainly, with the code in ``params``."""
    _check_writer(caller, project)
    return create_draft(session, data=data, project=project, actor_id=caller.user.id)


def create_draft(
    session: Session,
    *,
    data: Mapping[str, Any],
    project: Project | None,
    actor_id: uuid.UUID | None,
) -> Form:
    """``create_form`` without the caller's checks: for the command line and init-db, where
    the operator acts as an administrator (``actor_id`` None)."""
    definition = check_definition(session, {k: data.get(k) for k in DEFINITION_KEYS})
    clean = definition.as_dict()
    versions = _versions(session, definition.code)
    if versions:
        owner = versions[-1].project_id
        if owner != (project.id if project else None):
            raise Conflict(
                f"code: the form code {definition.code!r} is taken; form and indicator codes "
                "are shared by every country and project, so choose another code",
                code=ErrorCode.ALREADY_EXISTS,
                params={"code": definition.code},
            )
        draft = next((f for f in versions if f.status == "draft"), None)
        if draft is not None:
            raise Conflict(
                f"form {definition.code!r} already has a draft (version {draft.version}, "
                f"id {draft.id}): change that one"
            )
        check_held_indicators(session, definition.code, clean["indicators"])
    now = utcnow()
    form = Form(
        code=definition.code,
        version=(versions[-1].version + 1) if versions else 1,
        title=clean["title"],
        project_id=project.id if project else None,
        status="draft",
        fields=clean["fields"],
        indicators=clean["indicators"],
        created_by_id=actor_id,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(form)
            session.flush()
    except IntegrityError as exc:  # another request made the same version at the same time
        raise Conflict(
            f"version {form.version} of {form.code} was just created by someone else; try again"
        ) from exc
    audit.record(
        session,
        action="create",
        entity="form",
        entity_id=form.id,
        actor_id=actor_id,
        country=_country(project),
        after=_state(form),
    )
    return form


def update_form(
    session: Session, *, caller: Caller, form_id: uuid.UUID, changes: Mapping[str, Any]
) -> Form:
    """Change a draft in place; for a published version, make the draft of version n+1."""
    form = get_form(session, caller=caller, form_id=form_id)
    project = _project_of(session, form)
    _check_writer(caller, project)
    for key in changes:
        if key not in EDITABLE_KEYS:
            raise invalid(key, ErrorCode.NOT_CHANGEABLE, f"{key} cannot be changed")
    if form.status == "retired":
        raise Conflict("a retired version cannot be changed; create a new draft of the form")
    merged = {**_state(form), **dict(changes)}
    if form.status == "published":
        data = {k: merged[k] for k in DEFINITION_KEYS}
        return create_form(session, caller=caller, data=data, project=project)
    definition = check_definition(session, {k: merged[k] for k in DEFINITION_KEYS})
    clean = definition.as_dict()
    check_held_indicators(session, form.code, clean["indicators"])
    before = _state(form)
    form.title, form.fields, form.indicators = clean["title"], clean["fields"], clean["indicators"]
    after = _state(form)
    diff = {k: v for k, v in before.items() if after[k] != v}
    if not diff:
        return form
    form.updated_at = utcnow()
    session.add(form)
    session.flush()
    audit.record(
        session,
        action="update",
        entity="form",
        entity_id=form.id,
        actor_id=caller.user.id,
        country=_country(project),
        before=diff,
        after={k: after[k] for k in diff},
    )
    return form


def _log(session: Session, form: Form) -> None:
    record_change(
        session,
        entity="form",
        entity_id=form.id,
        op="upsert",
        version=form.version,
        project_id=form.project_id,
    )


def publish_form(session: Session, *, caller: Caller, form_id: uuid.UUID) -> Form:
    form = get_form(session, caller=caller, form_id=form_id)
    project = _project_of(session, form)
    _check_writer(caller, project)
    return publish(session, form, actor_id=caller.user.id, country=_country(project))


def publish(
    session: Session, form: Form, *, actor_id: uuid.UUID | None, country: str | None
) -> Form:
    """Freeze a draft as its version (re-validated: another form may have taken an indicator
    code meanwhile) and log it for the tablets."""
    if form.status != "draft":
        raise Conflict(f"version {form.version} of {form.code} is {form.status}, not a draft")
    check_definition(session, _definition_of(form))
    check_held_indicators(session, form.code, form.indicators)
    now = utcnow()
    form.status, form.published_at, form.updated_at = "published", now, now
    session.add(form)
    session.flush()
    _log(session, form)
    refresh_form(session, form.code)  # its latest version now defines the result indicators
    audit.record(
        session,
        action="publish",
        entity="form",
        entity_id=form.id,
        actor_id=actor_id,
        country=country,
        before={"status": "draft"},
        after={"status": "published", "version": form.version},
    )
    return form


def retire_form(session: Session, *, caller: Caller, form_id: uuid.UUID) -> Form:
    """Retire every published version of the form's code; answers with the one asked for."""
    form = get_form(session, caller=caller, form_id=form_id)
    project = _project_of(session, form)
    _check_writer(caller, project)
    published = [f for f in _versions(session, form.code) if f.status == "published"]
    if not published:
        raise Conflict(f"{form.code} has no published version to retire")
    now = utcnow()
    for version in published:
        version.status, version.retired_at, version.updated_at = "retired", now, now
        session.add(version)
        _log(session, version)
        audit.record(
            session,
            action="retire",
            entity="form",
            entity_id=version.id,
            actor_id=caller.user.id,
            country=_country(project),
            before={"status": "published"},
            after={"status": "retired", "version": version.version},
        )
    session.flush()
    refresh_form(session, form.code)
    return form


# --- the shipped forms (init-db) ------------------------------------------------------------


def _definition_of(form: Form) -> dict[str, Any]:
    return {
        "code": form.code,
        "title": form.title,
        "fields": form.fields,
        "indicators": form.indicators,
    }


def ensure_shipped_forms(session: Session, definitions: Sequence[Mapping[str, Any]]) -> list[str]:
    """Publish each shipped definition as a global form: version 1 when the code is new, the
    next version when the definition in code differs from the latest published one. A code an
    admin retired stays retired, and one with a draft under way is left alone (the draft
    would take the version number). Returns one line per form that changed."""
    done: list[str] = []
    for data in definitions:
        code = str(data["code"])
        versions = _versions(session, code)
        wanted = check_definition(session, data).as_dict()
        if versions:
            if versions[-1].project_id is not None:
                done.append(f"{code}: skipped, a project form has this code")
                continue
            if any(f.status == "draft" for f in versions):
                done.append(f"{code}: skipped, a draft is under way")
                continue
            latest = versions[-1]
            if latest.status == "retired" or _definition_of(latest) == wanted:
                continue
            try:
                check_held_indicators(session, code, wanted["indicators"])
            except ValidationFailed as held:
                done.append(f"{code}: skipped, {held.issues[0].message}")
                continue
        form = create_draft(session, data=wanted, project=None, actor_id=None)
        publish(session, form, actor_id=None, country=None)
        done.append(f"{code}: published version {form.version}")
    return done
