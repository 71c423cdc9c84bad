"""Projects, sites and targets: scoped reads and validated, audited writes (no FastAPI here).

Reads add the caller's scope to the query (``server.scope``): a record outside it is NotFound,
never Forbidden, so its existence is not revealed. Writes check the role (docs/roles.md), validate
with ``shared.validation`` (the same rules as the tablet), note a change for pull and write an
audit entry, all in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any, Protocol, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.api import like_contains
from server.columns import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.projects.models import (
    MAX_TARGET_VALUE,
    Project,
    ProjectPublic,
    Site,
    SiteStatus,
    Target,
    site_wire,
)
from server.records import audit
from server.records.changes import record_project_change, record_target_change
from server.records.revisions import write_version
from server.records.rollups import rollups
from server.scope import (
    can_manage_country,
    can_read_project,
    can_write_project,
    country_scope_issue,
    project_scope,
    site_scope,
    target_scope,
)
from shared.catalogue import THEMATIC_AREAS, ProjectKind, Role, codes
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES, REGIONS, region_of
from shared.indicators import INDICATORS, period_bounds, period_issue
from shared.validation import (
    INDICATOR_CODES,
    ProjectFacts,
    Validation,
    issue,
    validate_project,
    validate_site,
    validate_target,
)

PROJECT_FIELDS = (
    "code",
    "name",
    "kind",
    "country",
    "thematic_area",
    "solutions",
    "partners",
    "priority_product",
    "start_date",
    "end_date",
)
SITE_FIELDS = ("project_id", "name", "admin_area", "lat", "lon")

Row = TypeVar("Row", Project, Site, Target)


def _raise_if_invalid(result: Validation) -> None:
    if result.errors:
        raise ValidationFailed(result.errors)


def _wire(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def facts(project: Project) -> ProjectFacts:
    return ProjectFacts(
        id=str(project.id),
        country=project.country,
        solutions=tuple(project.solutions or ()),
        start_date=project.start_date,
        end_date=project.end_date,
    )


def _project_state(project: Project) -> dict[str, Any]:
    state = {name: _wire(getattr(project, name)) for name in PROJECT_FIELDS}
    state["roster"] = project.roster
    return state


# --- projects ----------------------------------------------------------------------------------


def project_public(project: Project) -> ProjectPublic:
    fields = {
        name: getattr(project, name) for name in ProjectPublic.model_fields if name != "region"
    }
    return ProjectPublic.model_validate({**fields, "region": region_of(project.country)})


def project_filter_issues(
    session: Session,
    *,
    caller: Caller | None,
    country: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    thematic_area: str | None = None,
) -> list[Issue]:
    """Every problem of the project list's filters, as the other lists judge theirs
    (docs/errors.md): a code the catalogue does not know, in any case, and a country outside
    the caller's scope, rather than an empty list that reads as "no such projects"."""
    found: list[Issue] = []
    known = (
        ("country", country, COUNTRIES, str.upper),
        ("region", region, REGIONS, str.upper),
        ("kind", kind, codes(ProjectKind), str.upper),
        ("thematic_area", thematic_area, THEMATIC_AREAS, str.upper),
    )
    for field, value, allowed, case in known:
        if value and case(value) not in allowed:
            found.append(Issue(field, ErrorCode.UNKNOWN_CODE, f"unknown {field} {value!r}"))
    if country and country.upper() in COUNTRIES:
        outside = country_scope_issue(session, caller=caller, countries=[country.upper()])
        if outside is not None:
            found.append(outside)
    return found


def project_list_rules(
    session: Session, *, caller: Caller | None, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``GET /projects``'s filter checks, for one 400 with the parameters FastAPI refused
    (``server.deps.rules``)."""

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) and value else None

    return project_filter_issues(
        session,
        caller=caller,
        country=text("country"),
        region=text("region"),
        kind=text("kind"),
        thematic_area=text("thematic_area"),
    )


def list_projects(
    session: Session,
    *,
    caller: Caller,
    country: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    thematic_area: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Project], int]:
    problems = project_filter_issues(
        session,
        caller=caller,
        country=country,
        region=region,
        kind=kind,
        thematic_area=thematic_area,
    )
    if problems:
        raise ValidationFailed(problems, status_code=400)  # a bad query, as every list's
    conditions = [project_scope(caller)]
    if country:
        conditions.append(col(Project.country) == country.upper())
    if region:
        conditions.append(col(Project.country).in_(REGIONS[region.upper()].countries))
    if kind:
        conditions.append(col(Project.kind) == kind.upper())
    if thematic_area:
        conditions.append(col(Project.thematic_area) == thematic_area.upper())
    if q:
        pattern = like_contains(q.lower())
        conditions.append(
            func.lower(Project.code).like(pattern, escape="\\")
            | func.lower(Project.name).like(pattern, escape="\\")
        )
    return _page(session, Project, conditions, (col(Project.code),), limit=limit, offset=offset)


def get_project(session: Session, *, caller: Caller, project_id: uuid.UUID) -> Project:
    return _in_scope(session, Project, project_id, project_scope(caller), "project")


def _page(
    session: Session,
    table: type[Row],
    conditions: Sequence[Any],
    order_by: Sequence[Any],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """One page of a list (projects, sites, targets): the rows of ``table`` under ``conditions``
    in ``order_by`` order, from ``offset``, at most ``limit`` of them, and how many in all."""
    total = session.exec(select(func.count()).select_from(table).where(*conditions)).one()
    rows = session.exec(
        select(table).where(*conditions).order_by(*order_by).limit(limit).offset(offset)
    )
    return list(rows), total


def _in_scope(session: Session, table: type[Row], row_id: uuid.UUID, scope: Any, what: str) -> Row:
    """The row ``row_id`` of ``table`` if the caller's ``scope`` covers it; else NotFound, so
    that a record outside the scope is not revealed."""
    row = session.exec(select(table).where(col(table.id) == row_id, scope)).one_or_none()
    if row is None:
        raise NotFound(f"no such {what}")
    return row


def create_project(session: Session, *, caller: Caller, data: Mapping[str, Any]) -> Project:
    """A country officer creates projects of its countries; an admin any project."""
    if caller.role not in (Role.ADMIN, Role.COUNTRY_OFFICER):
        raise Forbidden(f"your role ({caller.role}) may not create projects")
    wire = {name: _wire(data.get(name)) for name in PROJECT_FIELDS}
    result = validate_project(wire, today=utcnow().date())
    _raise_if_invalid(result)  # every problem at once (new_project_rules)
    clean = result.clean
    if not can_manage_country(caller, clean["country"]):
        raise Forbidden(
            f"country: you may create projects only in "
            f"{_your_countries(caller)}, not {clean['country']}",
            code=ErrorCode.OUT_OF_SCOPE,
        )
    _code_is_free(session, clean["code"])
    project = Project(
        code=clean["code"],
        name=clean["name"],
        kind=clean["kind"],
        country=clean["country"],
        thematic_area=clean["thematic_area"],
        solutions=clean["solutions"],
        partners=clean.get("partners") or [],
        priority_product=clean.get("priority_product"),
        start_date=date.fromisoformat(clean["start_date"]),
        end_date=date.fromisoformat(clean["end_date"]),
        roster=bool(data.get("roster")),
    )
    session.add(project)
    session.flush()
    record_project_change(session, project=project)
    audit.record(
        session,
        action="create",
        entity="project",
        entity_id=project.id,
        actor_id=caller.user.id,
        country=project.country,
        after=_project_state(project),
    )
    return project


def new_project_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /projects``'s rule checks (server.deps.rules): those of ``create_project``."""
    wire = {name: _wire(data.get(name)) for name in PROJECT_FIELDS}
    return validate_project(wire, today=utcnow().date()).errors


def project_change_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``PATCH /projects/{project_id}``'s rule checks: those of ``update_project``."""
    project = get_project(session, caller=caller, project_id=uuid.UUID(path["project_id"]))
    return validate_project(_merged_project(project, data), today=utcnow().date()).errors


def _merged_project(project: Project, changes: Mapping[str, Any]) -> dict[str, Any]:
    # An explicit null clears an optional field and is refused for a required one.
    return {
        **_project_state(project),
        **{k: _wire(v) for k, v in changes.items() if k in PROJECT_FIELDS},
    }


def update_project(
    session: Session, *, caller: Caller, project_id: uuid.UUID, changes: Mapping[str, Any]
) -> Project:
    """Change a project: the merged record is validated as a whole (e.g. end after start)."""
    project = get_project(session, caller=caller, project_id=project_id)
    if not can_write_project(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may change it"
        )
    before = _project_state(project)
    result = validate_project(_merged_project(project, changes), today=utcnow().date())
    _raise_if_invalid(result)
    clean = result.clean
    if clean["country"] != project.country and not can_manage_country(caller, clean["country"]):
        raise Forbidden(
            f"country: you may move projects only to {_your_countries(caller)}",
            code=ErrorCode.OUT_OF_SCOPE,
        )
    if clean["code"] != project.code:
        _code_is_free(session, clean["code"])
    project.code, project.name, project.kind = clean["code"], clean["name"], clean["kind"]
    project.country, project.thematic_area = clean["country"], clean["thematic_area"]
    project.solutions, project.partners = clean["solutions"], clean.get("partners") or []
    project.priority_product = clean.get("priority_product")
    project.start_date = date.fromisoformat(clean["start_date"])
    project.end_date = date.fromisoformat(clean["end_date"])
    if changes.get("roster") is not None:
        project.roster = bool(changes["roster"])
    after = _project_state(project)
    diff_before = {k: v for k, v in before.items() if after[k] != v}
    if not diff_before:
        return project
    project.version += 1
    project.updated_at = utcnow()
    session.add(project)
    session.flush()
    record_project_change(session, project=project)
    if "country" in diff_before or "thematic_area" in diff_before:
        rollups().project_changed(session, project.id)  # its activities' numbers move with it
    audit.record(
        session,
        action="update",
        entity="project",
        entity_id=project.id,
        actor_id=caller.user.id,
        country=project.country,
        before=diff_before,
        after={k: after[k] for k in diff_before},
    )
    return project


def _code_is_free(session: Session, code: str) -> None:
    if session.exec(select(Project.id).where(Project.code == code)).first() is not None:
        raise Conflict(
            f"code: a project with code {code!r} already exists", code=ErrorCode.ALREADY_EXISTS
        )


def _your_countries(caller: Caller) -> str:
    return ", ".join(sorted(caller.countries)) or "no country"


# --- sites -------------------------------------------------------------------------------------


def list_sites(
    session: Session,
    *,
    caller: Caller,
    project_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Site], int]:
    conditions = [site_scope(caller)]
    if project_id is not None:
        conditions.append(col(Site.project_id) == project_id)
    if status:
        conditions.append(col(Site.status) == status)
    return _page(
        session, Site, conditions, (col(Site.name), col(Site.id)), limit=limit, offset=offset
    )


def get_site(session: Session, *, caller: Caller, site_id: uuid.UUID) -> Site:
    return _in_scope(session, Site, site_id, site_scope(caller), "site")


def _readable_project(session: Session, *, caller: Caller, project_id: Any) -> Project | None:
    """The project a new site or target names, or None (no such project in the caller's
    scope, or not an id at all: that is the ``project_id`` field's own problem)."""
    try:
        key = project_id if isinstance(project_id, uuid.UUID) else uuid.UUID(str(project_id))
    except ValueError:
        return None
    project = session.get(Project, key)
    return project if project is not None and can_read_project(caller, project) else None


_NO_SUCH_PROJECT = Issue("project_id", ErrorCode.NOT_FOUND, "no such project")


class ResultKind(Protocol):
    """What the targets need of a result indicator (``server.results.indicators``: this
    domain does not import that one): whether it is a percentage, at most 100, and its
    aggregate (a ``count`` of observations takes whole numbers)."""

    @property
    def percentage(self) -> bool: ...

    @property
    def aggregate(self) -> str: ...

    def applies_to(self, project_id: uuid.UUID) -> bool:
        """Whether ``project_id`` may have a target of it (a global form's, or its own)."""
        ...


_NO_RESULTS: Mapping[str, ResultKind] = {}


def _applying(results: Mapping[str, ResultKind], project_id: uuid.UUID) -> dict[str, ResultKind]:
    """The result indicators a target of ``project_id`` may name: the global forms' and the
    project's own forms' (another project's form's is as unknown, whoever asks)."""
    return {code: kind for code, kind in results.items() if kind.applies_to(project_id)}


def held_indicator_codes(
    session: Session, caller: Caller | None, indicator: str | None
) -> frozenset[str]:
    """``indicator`` when a target or baseline in the caller's scope holds it, whatever
    defines it now: one of an indicator a form no longer defines stays listable, so that it
    can be found and deleted (docs/results.md#targets-of-result-indicators)."""
    code = (indicator or "").strip().upper()
    if not code or caller is None:
        return frozenset()
    found = session.exec(
        select(Target.id).where(col(Target.indicator) == code, target_scope(caller)).limit(1)
    ).first()
    return frozenset({code}) if found is not None else frozenset()


def _new_site_problems(project: Project | None, data: Mapping[str, Any]) -> list[Issue]:
    """Every rule a new site breaks; without its project (unknown), the rules that need it
    (inside the project's country) are skipped and ``project_id`` is named."""
    wire = {name: _wire(data.get(name)) for name in SITE_FIELDS}
    if project is None:
        found = validate_site(wire, project=None).errors
        return [_NO_SUCH_PROJECT, *(i for i in found if i.field != "project_id")]
    return validate_site(wire, project=facts(project)).errors


def new_site_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /sites``'s rule checks (server.deps.rules): those of ``create_site``."""
    project = _readable_project(session, caller=caller, project_id=data.get("project_id"))
    return _new_site_problems(project, data)


def site_change_rules(
    session: Session, *, caller: Caller, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``PATCH /sites/{site_id}``'s rule checks: those of ``update_site``."""
    site = get_site(session, caller=caller, site_id=uuid.UUID(path["site_id"]))
    project = session.get(Project, site.project_id)
    assert project is not None  # a foreign key
    return validate_site(_merged_site(site, data), project=facts(project)).errors


def _merged_site(site: Site, changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = {
        **{name: _wire(getattr(site, name)) for name in SITE_FIELDS},
        **{k: v for k, v in changes.items() if k in SITE_FIELDS},
    }
    return {k: merged[k] for k in SITE_FIELDS}


def _writable_project(
    session: Session, caller: Caller, project_id: uuid.UUID, what: str
) -> Project:
    """The project of a site or target the caller changes; Forbidden unless the caller may
    write it (``what``: what they may not do, for the message)."""
    project = session.get(Project, project_id)
    assert project is not None  # a foreign key
    if not can_write_project(caller, project):
        raise Forbidden(f"only a country officer of this project's country or an admin may {what}")
    return project


def site_name_key(name: str) -> str:
    """What two names of one project's sites must not share: the name without its case and
    with its spaces collapsed ("Bhaluka  Orchard" is "bhaluka orchard")."""
    return " ".join(name.split()).casefold()


def same_named_site(
    session: Session, *, project_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
) -> Site | None:
    """A live site (pending or approved; a rejected one is gone) of the project whose name is
    ``name`` but for case and spaces, other than ``other_than``; None when there is none."""
    key = site_name_key(name)
    live = session.exec(
        select(Site)
        .where(col(Site.project_id) == project_id, col(Site.status) != SiteStatus.REJECTED)
        .order_by(col(Site.created_at), col(Site.id))
    ).all()
    return next((s for s in live if s.id != other_than and site_name_key(s.name) == key), None)


def _refuse_same_name(
    session: Session, *, project_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
) -> None:
    """A 409 ``already_exists`` on ``name`` when the project has a live site of that name: two
    rows of one place split its activities. A tablet's site is never refused so (sync: it was
    made offline); the office sees it pending and decides."""
    taken = same_named_site(session, project_id=project_id, name=name, other_than=other_than)
    if taken is not None:
        raise ValidationFailed(
            [
                Issue(
                    "name",
                    ErrorCode.ALREADY_EXISTS,
                    f"this project already has a site named {taken.name!r} (id {taken.id}, "
                    f"{taken.status}): use that site, or give this one another name",
                    params={"site_id": str(taken.id), "name": taken.name},
                )
            ],
            status_code=409,
        )


def create_site(session: Session, *, caller: Caller, data: Mapping[str, Any]) -> Site:
    """Officers and admins add approved sites; a field expert of the project adds a pending one
    (a site found in the field) that a country officer then approves or rejects."""
    project = _readable_project(session, caller=caller, project_id=data.get("project_id"))
    if project is None:  # every problem at once, the unknown project among them
        raise ValidationFailed(_new_site_problems(None, data))
    if can_write_project(caller, project):
        status = SiteStatus.APPROVED
    elif caller.role == Role.FIELD_EXPERT:
        status = SiteStatus.PENDING
    else:
        raise Forbidden(f"your role ({caller.role}) may not add sites")
    wire = {name: _wire(data.get(name)) for name in SITE_FIELDS}
    result = validate_site(wire, project=facts(project))
    _raise_if_invalid(result)
    clean = result.clean
    _refuse_same_name(session, project_id=project.id, name=clean["name"])
    site = Site(
        project_id=project.id,
        name=clean["name"],
        admin_area=clean.get("admin_area") or "",
        lat=clean.get("lat"),
        lon=clean.get("lon"),
        status=status,
        created_by_id=caller.user.id,
    )
    write_version(
        session,
        site,
        entity="site",
        wire=site_wire,
        project_id=project.id,
        source="api",
        author_id=caller.user.id,
        new=True,
    )
    audit.record(
        session,
        action="create",
        entity="site",
        entity_id=site.id,
        actor_id=caller.user.id,
        country=project.country,
        after={**{k: _wire(v) for k, v in clean.items()}, "status": status},
    )
    return site


def update_site(
    session: Session, *, caller: Caller, site_id: uuid.UUID, changes: Mapping[str, Any]
) -> Site:
    """Edit a site, or approve / reject one found in the field (``status``)."""
    site = get_site(session, caller=caller, site_id=site_id)
    project = _writable_project(session, caller, site.project_id, "change or approve sites")
    before = {name: _wire(getattr(site, name)) for name in (*SITE_FIELDS, "status")}
    result = validate_site(_merged_site(site, changes), project=facts(project))
    _raise_if_invalid(result)
    clean = result.clean
    if site_name_key(clean["name"]) != site_name_key(site.name):  # a renaming, not approving
        _refuse_same_name(session, project_id=project.id, name=clean["name"], other_than=site.id)
    site.name, site.admin_area = clean["name"], clean.get("admin_area") or ""
    site.lat, site.lon = clean.get("lat"), clean.get("lon")
    if changes.get("status") is not None:
        site.status = str(changes["status"])
    after = {name: _wire(getattr(site, name)) for name in (*SITE_FIELDS, "status")}
    diff_before = {k: v for k, v in before.items() if after[k] != v}
    if not diff_before:
        return site
    write_version(
        session,
        site,
        entity="site",
        wire=site_wire,
        project_id=project.id,
        source="api",
        author_id=caller.user.id,
    )
    action = (
        {"approved": "approve", "rejected": "reject"}.get(after["status"], "update")
        if "status" in diff_before
        else "update"
    )
    audit.record(
        session,
        action=action,
        entity="site",
        entity_id=site.id,
        actor_id=caller.user.id,
        country=project.country,
        before=diff_before,
        after={k: after[k] for k in diff_before},
    )
    return site


# --- targets -----------------------------------------------------------------------------------


def list_targets(
    session: Session,
    *,
    caller: Caller,
    project_id: uuid.UUID | None = None,
    indicator: str | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Target], int]:
    """The targets in the caller's scope. The route judges the filters first, the period and
    the indicator at once with the result indicators the caller may name
    (``target_list_issues``); the dashboard's pages pass no period."""
    conditions = [target_scope(caller)]
    if project_id is not None:
        conditions.append(col(Target.project_id) == project_id)
    if indicator:
        conditions.append(col(Target.indicator) == indicator.strip().upper())
    if period:
        conditions.append(col(Target.period) == period)
    order = (Target.project_id, Target.indicator, Target.period, Target.sex, Target.id)
    return _page(session, Target, conditions, [col(c) for c in order], limit=limit, offset=offset)


def target_list_issues(
    period: str | None,
    indicator: str | None = None,
    results: Mapping[str, ResultKind] = _NO_RESULTS,
    held: Collection[str] = (),
) -> list[Issue]:
    """The targets' filters: a label that is not a period, or an indicator neither the
    catalogue nor ``results`` knows (any case) and no target in scope ``held``s, is a bad
    query, not an empty list."""
    found = []
    if period and (problem := period_issue(period)) is not None:
        found.append(problem)
    code = (indicator or "").strip().upper()
    if code and code not in INDICATORS and code not in results and code not in held:
        found.append(Issue("indicator", ErrorCode.UNKNOWN_CODE, f"unknown indicator {code!r}"))
    return found


def target_list_rules(
    session: Session,
    *,
    caller: Caller | None,
    data: Mapping[str, Any],
    path: Mapping[str, str],
    results: Mapping[str, ResultKind] = _NO_RESULTS,
) -> list[Issue]:
    """``GET /targets``'s filter checks, beside FastAPI's limits (``server.deps.rules``), with
    the result indicators ``results`` the caller may name."""
    period, indicator = data.get("period"), data.get("indicator")
    code = indicator if isinstance(indicator, str) else None
    return target_list_issues(
        period if isinstance(period, str) else None,
        code,
        results,
        held_indicator_codes(session, caller, code),
    )


def get_target(session: Session, *, caller: Caller, target_id: uuid.UUID) -> Target:
    return _in_scope(session, Target, target_id, target_scope(caller), "target")


def create_target(
    session: Session,
    *,
    caller: Caller,
    data: Mapping[str, Any],
    results: Mapping[str, ResultKind] = _NO_RESULTS,
) -> Target:
    """A target (or, with ``kind`` "baseline", a baseline) for a catalogue indicator or one of
    the ``results`` indicator codes (the published forms', looked up by the caller)."""
    project = _readable_project(session, caller=caller, project_id=data.get("project_id"))
    if project is None:  # every problem at once, the unknown project among them
        raise ValidationFailed(_new_target_problems(None, data, results))
    if not can_write_project(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may set targets"
        )
    results = _applying(results, project.id)
    errors = _new_target_problems(project, data, results)
    if errors:
        raise ValidationFailed(errors)
    clean = _target_validation(data, results).clean
    kind = clean.get("kind") or "target"
    existing = session.exec(
        select(Target.id).where(
            Target.project_id == project.id,
            Target.indicator == clean["indicator"],
            Target.period == clean["period"],
            col(Target.sex).is_(None) if clean.get("sex") is None else Target.sex == clean["sex"],
            Target.kind == kind,
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"a {kind} for {clean['indicator']} in {clean['period']} already exists "
            f"for this project (id {existing}): change its value instead",
            code=ErrorCode.ALREADY_EXISTS,
        )
    target = Target(
        project_id=project.id,
        indicator=clean["indicator"],
        period=clean["period"],
        value=float(clean["value"]),
        sex=clean.get("sex"),
        kind=kind,
    )
    session.add(target)
    session.flush()
    record_target_change(session, target=target)
    audit.record(
        session,
        action="create",
        entity="target",
        entity_id=target.id,
        actor_id=caller.user.id,
        country=project.country,
        after={k: _wire(v) for k, v in clean.items()},
    )
    return target


def _percentages(results: Mapping[str, ResultKind]) -> frozenset[str]:
    return frozenset(code for code, kind in results.items() if kind.percentage)


def _target_validation(data: Mapping[str, Any], results: Mapping[str, ResultKind]) -> Validation:
    wire = {
        name: _wire(data.get(name))
        for name in ("project_id", "indicator", "period", "value", "sex", "kind")
    }
    if wire["kind"] is None:
        del wire["kind"]
    return validate_target(
        wire, indicators=(*INDICATOR_CODES, *results), percent=_percentages(results)
    )


def _new_target_problems(
    project: Project | None, data: Mapping[str, Any], results: Mapping[str, ResultKind]
) -> list[Issue]:
    """Every rule a new target breaks (``project``: None when unknown)."""
    result = _target_validation(data, results)
    errors = list(result.errors)
    if project is None:
        errors = [_NO_SUCH_PROJECT, *(i for i in errors if i.field != "project_id")]
    clean = result.clean
    errors += _too_large(clean)
    errors += _not_whole(clean, results)
    if project is not None:
        errors += _period_problems(project, clean)
    indicator = clean.get("indicator")
    if clean.get("kind") == "baseline" and indicator is not None and indicator not in results:
        # tablets take every target row of a catalogue indicator as a target to reach
        errors.append(
            Issue(
                "kind",
                ErrorCode.NOT_APPLICABLE,
                "baselines are for result indicators (those of the published forms)",
            )
        )
    return errors


def _too_large(clean: Mapping[str, Any]) -> list[Issue]:
    """The API's body refuses a value above MAX_TARGET_VALUE; the dashboard's forms get the
    same rule here."""
    value = clean.get("value")
    if value is None or value <= MAX_TARGET_VALUE:
        return []
    return [
        Issue(
            "value",
            ErrorCode.VALUE_RANGE,
            f"value: {value:g} is above the largest target or baseline, {MAX_TARGET_VALUE:g}",
        )
    ]


# The catalogue's units that count whole things: a target of 1234.5 participants could never
# be met exactly nor read as anything a count gives. Expert days (person-days) may be halves.
COUNT_UNITS = frozenset({"activities", "participations", "people", "countries"})
COUNT_INDICATORS = frozenset(code for code, i in INDICATORS.items() if i.unit in COUNT_UNITS)


def _not_whole(clean: Mapping[str, Any], results: Mapping[str, ResultKind]) -> list[Issue]:
    """A target or baseline of a count (the catalogue's counts, a result indicator counting
    observations) is a whole number."""
    value, indicator = clean.get("value"), clean.get("indicator")
    if value is None or indicator is None or float(value).is_integer():
        return []
    result = results.get(indicator)
    counts = result.aggregate == "count" if result is not None else indicator in COUNT_INDICATORS
    if not counts:
        return []
    return [
        Issue(
            "value",
            ErrorCode.NOT_INTEGER,
            f"value: {indicator} is a count, so its target is a whole number, not {value:g}",
            params={"value": f"{value:g}", "indicator": indicator},
        )
    ]


def _period_problems(project: Project, clean: Mapping[str, Any]) -> list[Issue]:
    """A target's period must meet the project's dates; a baseline's (the value before or
    during the project) must not start after the project's end."""
    period = clean.get("period")
    if period is None:
        return []
    first, last = period_bounds(period)
    if clean.get("kind") == "baseline":
        if first <= project.end_date:
            return []
        return [
            Issue(
                "period",
                ErrorCode.OUTSIDE_PROJECT_DATES,
                f"period: {period} starts after the project's end ({project.end_date}); a "
                "baseline is the value before or during the project",
            )
        ]
    if first <= project.end_date and last >= project.start_date:
        return []
    return [
        issue(
            "period",
            ErrorCode.OUTSIDE_PROJECT_DATES,
            value=period,
            start=project.start_date,
            end=project.end_date,
        )
    ]


def new_target_rules(
    session: Session,
    *,
    caller: Caller,
    data: Mapping[str, Any],
    results: Mapping[str, ResultKind] = _NO_RESULTS,
) -> list[Issue]:
    """``POST /targets``'s rule checks (server.deps.rules, with the published forms' result
    indicator codes): those of ``create_target``."""
    project = _readable_project(session, caller=caller, project_id=data.get("project_id"))
    if project is not None:
        results = _applying(results, project.id)
    return _new_target_problems(project, data, results)


def update_target(
    session: Session,
    *,
    caller: Caller,
    target_id: uuid.UUID,
    value: float,
    results: Mapping[str, ResultKind] = _NO_RESULTS,
) -> Target:
    target = get_target(session, caller=caller, target_id=target_id)
    project = _writable_project(session, caller, target.project_id, "change targets")
    results = _applying(results, project.id)
    # a target of an indicator no form defines any more keeps its own code (changeable, then
    # deletable), read as a plain number
    known = (*INDICATOR_CODES, *results, target.indicator)
    result = validate_target(
        {
            "project_id": str(target.project_id),
            "indicator": target.indicator,
            "period": target.period,
            "value": value,
            "sex": target.sex,
        },
        indicators=known,
        percent=_percentages(results),
    )
    _raise_if_invalid(result)
    if problems := _too_large(result.clean) + _not_whole(result.clean, results):
        raise ValidationFailed(problems)
    if float(result.clean["value"]) == target.value:
        return target
    before = target.value
    target.value = float(result.clean["value"])
    target.version += 1
    target.updated_at = utcnow()
    session.add(target)
    session.flush()
    record_target_change(session, target=target)
    audit.record(
        session,
        action="update",
        entity="target",
        entity_id=target.id,
        actor_id=caller.user.id,
        country=project.country,
        before={"value": before},
        after={"value": target.value},
    )
    return target


def _target_state(target: Target) -> dict[str, Any]:
    return {
        "project_id": str(target.project_id),
        "indicator": target.indicator,
        "kind": target.kind,
        "period": target.period,
        "sex": target.sex,
        "value": target.value,
    }


def delete_target(session: Session, *, caller: Caller, target_id: uuid.UUID) -> Target:
    """Remove a target or baseline (a mistyped one, say): the row goes, its key is free again,
    an audit entry keeps what it was, and tablets receive its tombstone (docs/protocol.md#pull)."""
    target = get_target(session, caller=caller, target_id=target_id)
    project = _writable_project(session, caller, target.project_id, "remove targets")
    before = _target_state(target)
    target.version += 1
    record_target_change(session, target=target, op="delete")
    audit.record(
        session,
        action="delete",
        entity="target",
        entity_id=target.id,
        actor_id=caller.user.id,
        country=project.country,
        before=before,
    )
    session.delete(target)
    session.flush()
    return target
