"""Writing the demo world into the database, in the same shape as the everyday write paths.

Activities go in with Core ``INSERT … executemany`` in chunks (one transaction each) instead of
``write_activity`` row by row, because the large world has 100 000 of them. The rows are the
ones the everyday paths would leave: a push (``write_activity``: version 1, status submitted,
kept in the row) and, when the country office has reviewed it, a review (``review_activity``:
revision 1 as pushed, revision 2 with the new status, a ``review`` row and an audit entry), each
with its change-log entry.

Loading is idempotent. The first transaction writes projects, sites, targets, roster
participants, users and an audit entry ``demo/load_started`` holding the seed, size and date the
world was drawn for; activities follow; ``demo/load_finished`` closes it. A second run finds
that entry, draws the same world again, adds only the activities that are missing (so an
interrupted load resumes) and issues new passwords for the demo users: passwords are stored
only as hashes, so new ones are the only way to print working logins again.
"""

from __future__ import annotations

import functools
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import JSON, Engine, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col

from server.accounts.auth import Caller
from server.accounts.fleet import record_status
from server.accounts.models import (
    ENROLLED_WITH_CODE,
    ENROLLED_WITH_PASSWORD,
    REVOKED_PASSWORD_CHANGED,
    AccessToken,
    Device,
    User,
    UserProject,
)
from server.accounts.security import hash_password, new_token, token_hash
from server.accounts.service import create_user, forget_login_failures
from server.activities.models import (
    Activity,
    ActivityParticipant,
    ActivityRevision,
    AttendanceRow,
    Review,
)
from server.activities.shape import activity_wire, column_values
from server.columns import clock_at, utcnow
from server.db import check_reachable, session_scope
from server.demo.results import load_results
from server.demo.world import DemoActivity, DemoUser, World, build_world
from server.errors import Conflict, DatabaseError
from server.indicators.refresh import refresh_activities
from server.migrate import current_revision, head_revision
from server.projects.models import Participant, Project, Site, Target
from server.projects.service import update_site
from server.records import audit
from server.records.changes import ChangeRecord, record_changes
from server.records.models import AuditEntry, RecordRevision
from server.records.receipts import Signer
from server.sync.models import KeptMutation
from server.sync.service import push
from shared.catalogue import Role
from shared.geography import region_of
from sync.protocol import Entity, Mutation, Op, PushRequest, ResultStatus, TabletStatus

AUDIT_ENTITY = "demo"
STARTED = "load_started"
FINISHED = "load_finished"
# The revision source of a demo activity's first version (a push would say "push").
SOURCE = "demo"
CHUNK = 2_000  # activities per transaction
PASSWORD_BYTES = 12  # secrets.token_urlsafe(12): 16 characters
_REVIEW_NAMESPACE = uuid.UUID("5f1d3c2e-8a43-4a51-9c55-2f0d6c1b7a10")
_CONFLICT_NAMESPACE = uuid.UUID("0b6f2d47-3c1e-4f7a-9a0d-5e8c2b71d3a4")


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    role: str
    scope: str
    password: str


@dataclass
class LoadReport:
    seed: int
    size: str
    created: bool  # this run wrote the world (False: it was there already)
    resumed: bool  # an interrupted load was completed
    activities_added: int
    activities: int  # activities of the demo projects now in the database
    attendance_rows: int
    projects: int
    countries: int
    regions: int
    sites: int
    targets: int
    participants: int
    tablets: int = 0
    # results (server.demo.results): written by this run, and shipped forms not published here
    observations_added: int = 0
    result_targets_added: int = 0
    missing_forms: tuple[str, ...] = ()
    logins: list[Login] = field(default_factory=list)
    disabled_users: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # the sync conflict this run raised (conflict_plan): who settles it, on which site, whose tablet
    conflict: tuple[str, str, str] | None = None


def require_schema(engine: Engine) -> None:
    """Refuse, in one line, a database that ``pilotmon init-db`` has not brought up to date."""
    check_reachable(engine)
    where = engine.url.render_as_string(hide_password=True)
    revision, head = current_revision(engine), head_revision()
    if revision is None:
        raise DatabaseError(
            f"the database {where} is not initialised: run `pilotmon init-db` first"
        )
    if revision != head:
        raise DatabaseError(
            f"the database {where} is at schema revision {revision}, not the "
            f"latest {head}: run `pilotmon init-db` first"
        )


def load_demo(
    engine: Engine,
    *,
    seed: int,
    size: str,
    today: date,
    reset_passwords: bool = True,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[World, int], None] | None = None,
    signer: Signer | None = None,
) -> LoadReport:
    """Load the demo world, or finish loading it, or (when present) only renew the passwords.

    ``seed``, ``size`` and ``today`` apply to a fresh database; a database that already holds
    the demo world keeps the one it has. ``on_plan(world, missing)`` is told how many activities
    will be written before the first one is; ``progress(n)`` after each chunk of ``n``.
    ``signer`` signs the custody receipts of the demo tablet's pushes (``_raise_conflict``;
    a key of its own when not given).
    """
    began = time.perf_counter()
    require_schema(engine)
    with session_scope(engine, write=False) as session:
        started = _started_entry(session)
        if started is not None:
            seed, size = int(started["seed"]), str(started["size"])
            today = date.fromisoformat(started["today"])
    world = build_world(seed=seed, size=size, today=today)
    logins: list[Login] = []
    created = started is None
    if created:
        logins = _write_structure(engine, world)
    else:
        _write_devices(engine, world)  # a world loaded before the demo had tablets
    with session_scope(engine, write=False) as session:
        finished = not created and _finished(session)
        existing = set() if created or finished else _existing_activities(session, world)
    # Activities people added to the demo projects since count as present here: an estimate
    # for the progress bar, not a decision (each demo activity is checked by id).
    missing = max(0, world.activity_total - len(existing))
    if on_plan is not None:
        on_plan(world, 0 if finished else missing)
    added = 0 if finished else _write_activities(engine, world, existing, progress)
    if not finished:
        with session_scope(engine) as session:
            audit.record(
                session,
                action=FINISHED,
                entity=AUDIT_ENTITY,
                entity_id="world",
                after={"activities": world.activity_total},
            )
    _settle_devices(engine, world)
    conflict_raised = _raise_conflict(engine, world, signer or Signer.generate())
    conflict = None
    if conflict_raised:
        _settle_devices(engine, world)  # the tablet's two pushes count in its last_seq
        plan = conflict_plan(world)
        if plan is not None:
            conflict = (plan.officer, str(plan.site["name"]), plan.expert)
    results = load_results(engine, world)
    disabled: list[str] = []
    if not created and reset_passwords:
        logins, disabled = _renew_passwords(engine, world)
    with session_scope(engine, write=False) as session:
        activities, rows = _counts(session, world)
    return LoadReport(
        seed=seed,
        size=size,
        created=created,
        resumed=not created and not finished,
        activities_added=added,
        activities=activities,
        attendance_rows=rows,
        projects=len(world.projects),
        countries=len({p.country for p in world.projects}),
        regions=len({region_of(p.country) for p in world.projects}),
        sites=len(world.sites),
        targets=len(world.targets),
        participants=len(world.participants),
        tablets=len(world.devices),
        observations_added=results.observations,
        result_targets_added=results.targets,
        missing_forms=results.missing_forms,
        logins=logins,
        disabled_users=disabled,
        seconds=time.perf_counter() - began,
        conflict=conflict,
    )


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined]


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


# --- state ------------------------------------------------------------------------------------


def _started_entry(session: Session) -> dict[str, Any] | None:
    entry = (
        session.execute(
            select(AuditEntry)
            .where(col(AuditEntry.entity) == AUDIT_ENTITY, col(AuditEntry.action) == STARTED)
            .order_by(col(AuditEntry.id))
        )
        .scalars()
        .first()
    )
    return dict(entry.after or {}) if entry is not None else None


def _finished(session: Session) -> bool:
    return (
        session.execute(
            select(col(AuditEntry.id)).where(
                col(AuditEntry.entity) == AUDIT_ENTITY, col(AuditEntry.action) == FINISHED
            )
        ).first()
        is not None
    )


def _project_ids(world: World) -> list[uuid.UUID]:
    return [p.id for p in world.projects]


def _existing_activities(session: Session, world: World) -> set[uuid.UUID]:
    return set(
        session.execute(
            select(col(Activity.id)).where(col(Activity.project_id).in_(_project_ids(world)))
        ).scalars()
    )


def _counts(session: Session, world: World) -> tuple[int, int]:
    ids = _project_ids(world)
    activities = session.execute(
        select(func.count()).select_from(Activity).where(col(Activity.project_id).in_(ids))
    ).scalar_one()
    rows = session.execute(
        select(func.count())
        .select_from(AttendanceRow)
        .join(Activity, col(Activity.id) == col(AttendanceRow.activity_id))
        .where(col(Activity.project_id).in_(ids))
    ).scalar_one()
    return int(activities), int(rows)


def _user_ids(session: Session, usernames: Iterable[str]) -> dict[str, uuid.UUID]:
    return {
        name: user_id
        for name, user_id in session.execute(
            select(col(User.username), col(User.id)).where(col(User.username).in_(list(usernames)))
        ).all()
    }


# --- projects, sites, targets, participants, users ---------------------------------------------


def _write_structure(engine: Engine, world: World) -> list[Login]:
    """Everything but the activities, in one transaction; returns the new users' logins."""
    now = utcnow()
    try:
        with session_scope(engine) as session:
            if _started_entry(session) is not None:
                raise Conflict(
                    "another `pilotmon demo` loaded the demo world meanwhile; run "
                    "`pilotmon demo` again for fresh logins"
                )
            taken = (
                session.execute(
                    select(col(Project.code)).where(
                        col(Project.code).in_([p.code for p in world.projects])
                    )
                )
                .scalars()
                .first()
            )
            if taken is not None:
                raise Conflict(
                    f"the database already has a project {taken} that the demo did "
                    "not create; load the demo into a fresh database (set "
                    "PILOTMON_DATA_DIR or PILOTMON_DATABASE_URL)"
                )
            audit.record(
                session,
                action=STARTED,
                entity=AUDIT_ENTITY,
                entity_id="world",
                after={
                    "seed": world.seed,
                    "size": world.size,
                    "today": world.today.isoformat(),
                    "activities": world.activity_total,
                },
            )
            _insert_projects(session, world, now)
            session.flush()
            logins = [_create_user(session, user) for user in world.users]
            session.flush()
            _insert_devices(session, world)
            changes = [
                *(ChangeRecord("project", p.id, "upsert", 1, p.id) for p in world.projects),
                *(ChangeRecord("site", s.id, "upsert", 1, s.project_id) for s in world.sites),
                *(ChangeRecord("target", t.id, "upsert", 1, t.project_id) for t in world.targets),
                *(
                    ChangeRecord("participant", p.id, "upsert", 1, p.project_id)
                    for p in world.participants
                ),
            ]
            record_changes(session, changes)
    except IntegrityError as exc:
        raise Conflict(
            "another `pilotmon demo` is loading the demo world at the same time; "
            "let it finish, then run `pilotmon demo` again for fresh logins"
        ) from exc
    return logins


def _insert_projects(session: Session, world: World, now: datetime) -> None:
    countries = {p.id: p.country for p in world.projects}
    session.execute(
        insert(_table(Project)),
        [
            {
                **_record_values(p.record()),
                "id": p.id,
                "start_date": p.start_date,
                "end_date": p.end_date,
                "roster": p.roster,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for p in world.projects
        ],
    )
    session.execute(
        insert(_table(Site)),
        [
            {
                "id": s.id,
                "project_id": s.project_id,
                "name": s.name,
                "admin_area": s.admin_area,
                "lat": s.lat,
                "lon": s.lon,
                "status": "approved",
                "created_by_id": None,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for s in world.sites
        ],
    )
    session.execute(
        insert(_table(Target)),
        [
            {
                "id": t.id,
                "project_id": t.project_id,
                "indicator": t.indicator,
                "period": t.period,
                "value": t.value,
                "sex": t.sex,
                "created_at": now,
                "updated_at": now,
            }
            for t in world.targets
        ],
    )
    if world.participants:
        session.execute(
            insert(_table(Participant)),
            [
                {
                    "id": p.id,
                    "project_id": p.project_id,
                    "code": p.code,
                    "sex": p.sex,
                    "birth_year": p.birth_year,
                    "category": p.category,
                    "disability": p.disability,
                    "name": None,
                    "version": 1,
                    "deleted": False,
                    "created_at": now,
                    "updated_at": now,
                    "deleted_at": None,
                }
                for p in world.participants
            ],
        )
    session.execute(
        insert(_table(AuditEntry)),
        [
            *(
                {
                    "at": now,
                    "actor_id": None,
                    "device_id": None,
                    "action": "create",
                    "entity": "project",
                    "entity_id": str(p.id),
                    "country": p.country,
                    "before": None,
                    "after": p.record(),
                }
                for p in world.projects
            ),
            *(
                {
                    "at": now,
                    "actor_id": None,
                    "device_id": None,
                    "action": "create",
                    "entity": "site",
                    "entity_id": str(s.id),
                    "country": countries[s.project_id],
                    "before": None,
                    "after": s.record(),
                }
                for s in world.sites
            ),
            *(
                {
                    "at": now,
                    "actor_id": None,
                    "device_id": None,
                    "action": "create",
                    "entity": "target",
                    "entity_id": str(t.id),
                    "country": countries[t.project_id],
                    "before": None,
                    "after": t.record(),
                }
                for t in world.targets
            ),
        ],
    )


def _record_values(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "start_date", "end_date")}


def _create_user(session: Session, user: DemoUser) -> Login:
    password = new_password()
    create_user(
        session,
        username=user.username,
        password=password,
        role=user.role,
        countries=user.countries,
        project_codes=user.projects,
        full_name=user.full_name,
    )
    return Login(user.username, user.role, user.scope, password)


def _renew_passwords(engine: Engine, world: World) -> tuple[list[Login], list[str]]:
    """New passwords for the demo users (recreating any that were deleted); lifts lockouts and
    logs out their old sessions. Disabled users stay disabled and get no new password."""
    logins: list[Login] = []
    disabled: list[str] = []
    now = utcnow()
    with session_scope(engine) as session:
        users = {
            u.username: u
            for u in session.execute(
                select(User).where(col(User.username).in_([u.username for u in world.users]))
            ).scalars()
        }
        renewed: list[uuid.UUID] = []
        for demo_user in world.users:
            user = users.get(demo_user.username)
            if user is None:
                logins.append(_create_user(session, demo_user))
                continue
            if not user.is_active:
                disabled.append(user.username)
                continue
            password = new_password()
            user.password_hash = hash_password(password)
            user.password_changed_at = now
            session.add(user)
            renewed.append(user.id)
            audit.record(
                session,
                action="reset_password",
                entity="user",
                entity_id=user.id,
                country=user.countries[0] if len(user.countries) == 1 else None,
                after={"username": user.username, "by": "pilotmon demo"},
            )
            logins.append(Login(demo_user.username, demo_user.role, demo_user.scope, password))
        if renewed:
            session.execute(
                update(AccessToken)
                .where(col(AccessToken.user_id).in_(renewed), col(AccessToken.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            # And the tablets enrolled with the old passwords, as a new password does
            # (docs/protocol.md#enrolment); the demo's own tablets used codes and sync on.
            session.execute(
                update(Device)
                .where(
                    col(Device.user_id).in_(renewed),
                    col(Device.revoked_at).is_(None),
                    col(Device.enrolled_with) == ENROLLED_WITH_PASSWORD,
                )
                .values(revoked_at=now, revoked_reason=REVOKED_PASSWORD_CHANGED)
            )
        forget_login_failures(session, usernames=[login.username for login in logins])
    order = {u.username: n for n, u in enumerate(world.users)}
    logins.sort(key=lambda login: order[login.username])
    return logins, disabled


# --- tablets ---------------------------------------------------------------------------------


def _write_devices(engine: Engine, world: World) -> None:
    with session_scope(engine) as session:
        _insert_devices(session, world)


def _insert_devices(session: Session, world: World) -> None:
    """The demo tablets that are not there yet, with the audit entries of their enrolment (and
    revocation) at the times they happened. Tokens are made and forgotten: none can sync."""
    present = set(
        session.execute(
            select(col(Device.id)).where(col(Device.id).in_([d.id for d in world.devices]))
        ).scalars()
    )
    missing = [d for d in world.devices if d.id not in present]
    if not missing:
        return
    users = {
        u.username: u
        for u in session.execute(
            select(User).where(col(User.username).in_({d.username for d in missing}))
        ).scalars()
    }
    missing = [d for d in missing if d.username in users]  # a demo user someone deleted
    if not missing:
        return
    _bulk_insert(
        session,
        _table(Device),
        [
            {
                "id": d.id,
                "user_id": users[d.username].id,
                "label": d.label,
                "app_version": d.app_version,
                "token_hash": token_hash(new_token()),
                "enrolled_at": d.enrolled_at,
                "last_seen_at": d.pulled_at,
                "last_seq": 0,
                "revoked_at": d.revoked_at,
                "enrolled_with": ENROLLED_WITH_CODE,  # as its audit entry says
            }
            for d in missing
        ],
    )
    entries = []
    for d in missing:
        user = users[d.username]
        country = user.countries[0] if len(user.countries) == 1 else None
        entries.append(
            {
                "at": d.enrolled_at,
                "actor_id": user.id,
                "device_id": d.id,
                "action": "enrol",
                "entity": "device",
                "entity_id": str(d.id),
                "country": country,
                "before": None,
                "after": {
                    "username": user.username,
                    "label": d.label,
                    "app_version": d.app_version,
                    "with": "enrolment_code",
                },
            }
        )
        if d.revoked_at is not None:
            entries.append(
                {
                    "at": d.revoked_at,
                    "actor_id": None,
                    "device_id": None,
                    "action": "revoke",
                    "entity": "device",
                    "entity_id": str(d.id),
                    "country": country,
                    "before": {"revoked": False},
                    "after": {"revoked": True, "label": d.label, "username": user.username},
                }
            )
    _bulk_insert(session, _table(AuditEntry), entries)


def _settle_devices(engine: Engine, world: World) -> None:
    """Each demo tablet's ``last_seq`` is the number of mutations it pushed (one per activity,
    plus those of ``_raise_conflict``) and it was last seen at its last push or its last pull,
    whichever came later."""
    ids = [d.id for d in world.devices]
    with session_scope(engine) as session:
        # Pushes of other records (the site of the demo's conflict, ``_raise_conflict``): one
        # mutation per revision the tablet wrote, and one per mutation the server kept.
        others: dict[uuid.UUID, tuple[int, Any]] = {}
        for device_id, count, last in [
            *session.execute(
                select(
                    col(RecordRevision.device_id),
                    func.count(),
                    func.max(col(RecordRevision.created_at)),
                )
                .where(col(RecordRevision.device_id).in_(ids))
                .group_by(col(RecordRevision.device_id))
            ).all(),
            *session.execute(
                select(
                    col(KeptMutation.device_id),
                    func.count(),
                    func.max(col(KeptMutation.received_at)),
                )
                .where(col(KeptMutation.device_id).in_(ids))
                .group_by(col(KeptMutation.device_id))
            ).all(),
        ]:
            had, before = others.get(device_id, (0, None))
            latest = max((t for t in (before, last) if t is not None), default=None)
            others[device_id] = (had + int(count), latest)
        pushed = {
            device_id: (int(count), last)
            for device_id, count, last in session.execute(
                select(col(Activity.device_id), func.count(), func.max(col(Activity.created_at)))
                .where(col(Activity.device_id).in_(ids))
                .group_by(col(Activity.device_id))
            ).all()
        }
        held = dict(
            session.execute(
                select(col(UserProject.user_id), func.count())
                .join(Activity, col(Activity.project_id) == col(UserProject.project_id))
                .group_by(col(UserProject.user_id))
            ).all()
        )
        for device in session.execute(select(Device).where(col(Device.id).in_(ids))).scalars():
            count, last_push = pushed.get(device.id, (0, None))
            more, last_other = others.get(device.id, (0, None))
            planned = next(d.pulled_at for d in world.devices if d.id == device.id)
            seen = [t for t in (last_push, last_other, planned) if t is not None]
            device.last_seq = count + more
            device.last_seen_at = max(seen) if seen else None
            session.add(device)
            if device.revoked_at is None and device.last_seen_at is not None:
                _report_status(session, device, records=int(held.get(device.user_id, 0)))


def _report_status(session: Session, device: Device, *, records: int) -> None:
    """The status report (docs/protocol.md, tablet status) the tablet in use sent at its last
    sync: everything sent (the demo's pushes all landed), the records of its projects held,
    and its free storage, drawn from its id so that loading again reports the same."""
    rng = random.Random(device.id.int)
    last_seen = device.last_seen_at
    assert last_seen is not None  # only tablets that synced report
    status = TabletStatus(
        pending_mutations=0,
        pending_uploads=0,
        pending_upload_bytes=0,
        oldest_pending_captured_at=None,
        records=records,
        photos=0,
        free_storage_bytes=rng.randint(1_200, 24_000) * 1_000_000,
        app_version=device.app_version or "",
        language=None,
        last_error=None,
        # Its clock a minute or so off the server's, as tablets drift: nothing to call about.
        tablet_time=last_seen + timedelta(seconds=rng.randint(-90, 90)),
    )
    record_status(session, device_id=device.id, status=status, now=last_seen)


# --- a sync conflict to settle ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConflictPlan:
    """Who raises the demo's conflict, on which new site, with which names."""

    project: Any  # DemoProject
    expert: str  # username of the field expert whose tablet pushes
    device_id: uuid.UUID  # that expert's tablet in use
    officer: str  # username of the country officer who renames the site on the dashboard
    site_id: uuid.UUID
    site: dict[str, Any]  # as the tablet first pushed it
    officer_name: str  # the officer's rename (the server's side)
    tablet_name: str  # the tablet's offline rename (the device's side)
    # When each step happened, drawn from the world like its other dates (the tablet's pushes
    # come before its last pull): the site added, renamed on the dashboard, the conflict raised.
    added_at: datetime
    renamed_at: datetime
    raised_at: datetime


def conflict_plan(world: World) -> ConflictPlan | None:
    """The demo's sync conflict: a field expert's tablet adds a site found in the field
    (pending); the country officer renames it on the dashboard; the tablet, offline, had
    renamed it too and pushes that change on version 1. In the first project (by code) of a
    country that has a demo country officer and an expert with a tablet in use."""
    officers = [u for u in world.users if u.role == Role.COUNTRY_OFFICER]
    for project in sorted(world.projects, key=lambda p: p.code):
        officer = next((u for u in officers if project.country in u.countries), None)
        if officer is None:
            continue
        for expert in world.users:
            if expert.role != Role.FIELD_EXPERT or project.code not in expert.projects:
                continue
            device = next(
                (
                    d
                    for d in world.devices
                    if d.username == expert.username and d.revoked_at is None
                ),
                None,
            )
            near = world.sites_of(project)
            if device is None or not near:
                continue
            site_id = uuid.uuid5(_CONFLICT_NAMESPACE, f"{world.seed}/{project.code}/site")
            area = near[0].admin_area
            added, renamed, raised = _conflict_times(world, device)
            return ConflictPlan(
                project=project,
                expert=expert.username,
                device_id=device.id,
                officer=officer.username,
                site_id=site_id,
                site={
                    "id": str(site_id),
                    "project_id": str(project.id),
                    "name": f"{area} school garden",
                    "admin_area": area,
                    "lat": near[0].lat,
                    "lon": near[0].lon,
                },
                officer_name=f"{area} primary school garden",
                tablet_name=f"{area} school vegetable garden",
                added_at=added,
                renamed_at=renamed,
                raised_at=raised,
            )
    return None


def _conflict_times(world: World, device: Any) -> tuple[datetime, datetime, datetime]:
    """The moments of the conflict's three writes, from the seed and the world's ``today``:
    the site added on a working morning 4 to 9 days before the tablet's last pull, renamed on
    the dashboard the next day, the tablet's offline rename pushed the day after; never before
    the tablet was enrolled."""
    rng = random.Random(f"pilotmon-demo:{world.seed}:conflict")  # apart: the rest stays as it was
    today = world.today
    end = device.pulled_at or datetime(today.year, today.month, today.day, tzinfo=UTC)
    day = end.date() - timedelta(days=rng.randint(4, 9))
    added = datetime(
        day.year, day.month, day.day, rng.randint(6, 10), rng.randint(0, 59), tzinfo=UTC
    )
    added = max(added, device.enrolled_at + timedelta(hours=1))
    renamed = added + timedelta(hours=rng.randint(22, 28), minutes=rng.randint(0, 59))
    raised = renamed + timedelta(hours=rng.randint(20, 26), minutes=rng.randint(0, 59))
    return added, renamed, raised


def _raise_conflict(engine: Engine, world: World, signer: Signer) -> bool:
    """Raise the demo's conflict (``conflict_plan``) through the everyday write paths: the
    tablet's pushes (``server.sync.service.push``) and the officer's ``update_site``. Once: a
    database where the site exists already keeps it, settled or not. Returns whether it ran."""
    plan = conflict_plan(world)
    if plan is None:
        return False
    with session_scope(engine) as session:
        if session.get(Site, plan.site_id) is not None:
            return False
        users = {
            u.username: u
            for u in session.execute(
                select(User).where(col(User.username).in_([plan.expert, plan.officer]))
            ).scalars()
        }
        device = session.get(Device, plan.device_id)
        if len(users) < 2 or device is None:
            return False  # a demo user or tablet someone deleted
        expert = users[plan.expert]
        tablet = Caller(
            user=expert,
            project_ids=frozenset(
                session.execute(
                    select(col(UserProject.project_id)).where(col(UserProject.user_id) == expert.id)
                ).scalars()
            ),
            device=device,
        )

        def send(mutation: dict[str, Any]) -> ResultStatus:
            seq = session.get(Device, plan.device_id).last_seq + 1  # type: ignore[union-attr]
            answer = push(
                session,
                caller=tablet,
                request=PushRequest(
                    protocol=1, device_id=plan.device_id, mutations=[Mutation(seq=seq, **mutation)]
                ),
                max_mutations=1,
                signer=signer,
            )
            return answer.results[0].status

        # Each write at its planned moment: every timestamp the write paths stamp (the site, its
        # revisions, the change log, the audit, the kept mutation, the conflict) is the world's.
        with clock_at(plan.added_at):
            added = send(
                {"entity": Entity.SITE, "op": Op.UPSERT, "id": plan.site_id, "data": plan.site}
            )
        assert added == ResultStatus.APPLIED, added
        with clock_at(plan.renamed_at):
            update_site(
                session,
                caller=Caller(user=users[plan.officer]),
                site_id=plan.site_id,
                changes={"name": plan.officer_name},
            )
        with clock_at(plan.raised_at):
            raised = send(
                {
                    "entity": Entity.SITE,
                    "op": Op.UPSERT,
                    "id": plan.site_id,
                    "base_version": 1,
                    "data": {"name": plan.tablet_name},
                }
            )
        assert raised == ResultStatus.CONFLICT, raised
    return True


# --- activities -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    user_ids: dict[str, uuid.UUID]
    countries: dict[str, str]  # project id (str) -> country


def _write_activities(
    engine: Engine, world: World, existing: set[uuid.UUID], progress: Callable[[int], None] | None
) -> int:
    with session_scope(engine, write=False) as session:
        context = _Context(
            user_ids=_user_ids(session, (u.username for u in world.users)),
            countries={str(p.id): p.country for p in world.projects},
        )
    written = 0
    batch: list[DemoActivity] = []
    for activity in world.activities():
        if uuid.UUID(activity.data["id"]) in existing:
            continue
        batch.append(activity)
        if len(batch) >= CHUNK:
            written += _write_chunk(engine, batch, context, progress)
            batch = []
    if batch:
        written += _write_chunk(engine, batch, context, progress)
    return written


def _write_chunk(
    engine: Engine,
    batch: Sequence[DemoActivity],
    context: _Context,
    progress: Callable[[int], None] | None,
) -> int:
    try:
        with session_scope(engine) as session:
            write_demo_activities(
                session, batch, user_ids=context.user_ids, countries=context.countries
            )
    except IntegrityError as exc:
        raise Conflict(
            "another `pilotmon demo` is loading the demo world at the same time; "
            "let it finish, then run `pilotmon demo` again for fresh logins"
        ) from exc
    if progress is not None:
        progress(len(batch))
    return len(batch)


def activity_row(activity: DemoActivity, *, author_id: uuid.UUID) -> dict[str, Any]:
    """The ``activity`` row as the push, then the review, leave it."""
    data = activity.data
    review = activity.review
    return {
        **column_values(data),  # the activity's shape, as the kernel stores it
        "status": activity.status,
        "version": 2 if review else 1,
        "deleted": False,
        "late": False,
        "flags": activity.flags,
        "created_by_id": author_id,
        "device_id": activity.device_id,
        "created_via": SOURCE,
        "created_at": activity.received_at,
        "updated_at": review.at if review else activity.received_at,
        "submitted_at": activity.received_at,
        "deleted_at": None,
    }


# Roster participants come back in activity after activity: parse each id once.
_participant_uuid = functools.lru_cache(maxsize=1 << 16)(uuid.UUID)


def review_id(activity_id: uuid.UUID) -> uuid.UUID:
    """Review ids are derived from the activity, so a reloaded world is the same world."""
    return uuid.uuid5(_REVIEW_NAMESPACE, str(activity_id))


def write_demo_activities(
    session: Session,
    activities: Sequence[DemoActivity],
    *,
    user_ids: dict[str, uuid.UUID],
    countries: dict[str, str],
) -> None:
    """Insert activities with everything the everyday paths keep beside them, in bulk.

    Per activity: the row (version 1 kept there, as the kernel keeps it), its attendance rows
    and roster links with a change-log entry, and for a reviewed one revision 1 (as pushed,
    status submitted, written as the kernel writes it when revision 2 supersedes it), revision 2
    (the new status), the review, its audit entry and a second change-log entry; then the
    indicator roll-ups.
    """
    rows, attendance, links, revisions, reviews, entries = [], [], [], [], [], []
    changes: list[ChangeRecord] = []
    for demo in activities:
        row = activity_row(demo, author_id=user_ids[demo.author])
        activity_id, project_id = row["id"], row["project_id"]
        rows.append(row)
        lines = [dict(line) for line in demo.data["attendance"]]
        attendance += [{"activity_id": activity_id, **line} for line in lines]
        links += [
            {"activity_id": activity_id, "participant_id": _participant_uuid(p)}
            for p in dict.fromkeys(demo.data["participant_ids"] or ())
        ]
        changes.append(ChangeRecord("activity", activity_id, "upsert", 1, project_id))
        review = demo.review
        if review is None:
            continue
        # activity_wire only reads attributes; a namespace spares building a model per row.
        pushed = activity_wire(
            cast(Activity, SimpleNamespace(**{**row, "status": "submitted"})), lines
        )
        revisions.append(
            {
                "activity_id": activity_id,
                "version": 1,
                "data": {**pushed, "deleted": False},
                "source": SOURCE,
                "author_id": row["created_by_id"],
                "device_id": demo.device_id,
                "created_at": demo.received_at,
            }
        )
        reviewer_id = user_ids[review.reviewer]
        revisions.append(
            {
                "activity_id": activity_id,
                "version": 2,
                "data": {**pushed, "status": row["status"], "deleted": False},
                "source": "review",
                "author_id": reviewer_id,
                "device_id": None,
                "created_at": review.at,
            }
        )
        reviews.append(
            {
                "id": review_id(activity_id),
                "activity_id": activity_id,
                "action": review.action,
                "comment": review.comment,
                "author_id": reviewer_id,
                "created_at": review.at,
            }
        )
        entries.append(
            {
                "at": review.at,
                "actor_id": reviewer_id,
                "device_id": None,
                "action": review.action,
                "entity": "activity",
                "entity_id": str(activity_id),
                "country": countries[demo.data["project_id"]],
                "before": {"status": "submitted"},
                "after": {"status": row["status"], "comment": review.comment, "version": 2},
            }
        )
        changes.append(ChangeRecord("activity", activity_id, "upsert", 2, project_id))
    for table, values in (
        (Activity, rows),
        (AttendanceRow, attendance),
        (ActivityParticipant, links),
        (ActivityRevision, revisions),
        (Review, reviews),
        (AuditEntry, entries),
    ):
        _bulk_insert(session, _table(table), values)
    refresh_activities(session, [row["id"] for row in rows])  # indicator roll-ups
    record_changes(session, changes)  # appended at commit, after every other write


def _bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many rows: executemany on SQLite; COPY on PostgreSQL, where psycopg's
    executemany still sends one statement per row (ten times slower here)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    import psycopg
    from psycopg.types.json import Jsonb

    names = list(rows[0])
    # JSON columns get the JSON document; None is SQL NULL, as an INSERT through the
    # columns' JSON type (none_as_null) stores it.
    documents = {c.name for c in table.c if isinstance(c.type, JSON)}
    columns = ", ".join(f'"{name}"' for name in names)
    connection = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    with (
        connection.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(
                [Jsonb(row[n]) if n in documents and row[n] is not None else row[n] for n in names]
            )
