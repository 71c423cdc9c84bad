"""The demo world: grounded, valid, deterministic, loaded idempotently with working logins."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, Table, func, select
from sqlmodel import Session, SQLModel, col

import server.demo.load
from server.accounts.auth import Caller
from server.accounts.models import User
from server.accounts.security import verify_password
from server.activities.models import (
    Activity,
    ActivityParticipant,
    ActivityRevision,
    AttendanceRow,
    Review,
)
from server.activities.review import review_activity
from server.activities.service import write_activity
from server.cli import main
from server.config import get_settings
from server.db import dispose_engines, session_scope
from server.demo.load import Login, load_demo, write_demo_activities
from server.demo.world import SIZES, DemoActivity, build_world
from server.indicators.models import activity_fact
from server.projects.models import Participant, Project, Site, Target
from server.records.models import AuditEntry, Change
from shared.catalogue import SOLUTIONS, TOPICS, Role
from shared.geography import COUNTRIES, REGIONS, in_country_bbox, region_of
from shared.validation import (
    validate_activity,
    validate_participant,
    validate_project,
    validate_site,
    validate_target,
)
from tests.factories import activity_versions

TODAY = date(2026, 11, 22)
SEED = 7


def _count(session: Session, model: type[SQLModel]) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        counts = {
            m.__name__: _count(session, m)
            for m in (
                Project,
                Site,
                Target,
                Participant,
                User,
                Activity,
                AttendanceRow,
                ActivityParticipant,
                ActivityRevision,
                Review,
                Change,
            )
        }
        counts["facts"] = session.execute(
            select(func.count()).select_from(activity_fact)
        ).scalar_one()
        return counts


def _logins_work(engine: Engine, logins: list[Login]) -> None:
    with Session(engine) as session:
        hashes = dict(session.execute(select(col(User.username), col(User.password_hash))).all())
    for login in logins:
        assert len(login.password) >= 12
        assert verify_password(login.password, hashes[login.username]), login.username


# --- the world as data -------------------------------------------------------------------------


def test_world_is_grounded_and_valid() -> None:
    world = build_world(seed=SEED, size="small", today=TODAY)

    assert 12 <= len(world.projects) <= 16
    assert {p.kind for p in world.projects} == {"CPP", "DAA"}
    assert {region_of(p.country) for p in world.projects} == set(REGIONS)
    products = {(p.country, p.priority_product) for p in world.projects}
    assert {
        ("LSO", "potato"),
        ("MWI", "banana"),
        ("BGD", "jackfruit"),
        ("TTO", "cocoa"),
        ("EGY", "date palm"),
    } <= products
    assert {"S1", "S4", "S5", "S6", "S7"} <= {s for p in world.projects for s in p.solutions}
    for project in world.projects:
        result = validate_project(project.record(), today=TODAY)
        assert result.ok and not result.warnings, (project.code, result.errors, result.warnings)
        sites = world.sites_of(project)
        assert 2 <= len(sites) <= 6
        for site in sites:
            assert validate_site(site.record(), project=project.facts()).ok
            assert in_country_bbox(project.country, site.lat, site.lon, margin_deg=0), site
    for target in world.targets:
        assert validate_target(target.record()).ok, target
    assert {t.indicator for t in world.targets} >= {
        "ACTIVITIES",
        "PARTICIPANTS",
        "TRAININGS",
        "DEMONSTRATIONS",
        "WOMEN_PARTICIPANTS",
    }
    assert any("Q" in t.period for t in world.targets)
    assert any(t.sex == "female" for t in world.targets)
    for participant in world.participants:
        assert validate_participant(participant.record(), today=TODAY).ok

    roles = {u.role for u in world.users}
    assert roles == {r.value for r in Role}
    assert sum(u.role == Role.HQ_ANALYST for u in world.users) == 2
    for user in world.users:
        assert set(user.countries) <= set(COUNTRIES)
        if user.role == Role.FIELD_EXPERT:
            assert user.projects and all(world.project(code) for code in user.projects)


def test_activities_are_valid_and_plausible() -> None:
    world = build_world(seed=SEED, size="small", today=TODAY)
    activities = list(world.activities())
    assert len(activities) == SIZES["small"].activities == world.activity_total

    women: dict[str, list[int]] = {}
    for project in world.projects:
        sites = {str(s.id): s.facts() for s in world.sites_of(project)}
        roster = {str(p.id) for p in world.participants_of(project)}
        for activity in world.project_activities(project):
            data = activity.data
            result = validate_activity(data, project=project.facts(), sites=sites, today=TODAY)
            assert result.ok and not result.warnings, (
                data["title"],
                result.errors,
                result.warnings,
            )
            assert date.fromisoformat(data["end_date"]) < TODAY
            solution = SOLUTIONS[TOPICS[data["topic"]].solution]
            assert data["modality"] in solution.modalities
            if data["type"] == "webinar":
                assert data["delivery"] == "online" and data["location"] is None
            total = sum(r["count"] for r in data["attendance"])
            if data["participant_ids"] is not None:
                assert set(data["participant_ids"]) <= roster
                assert len(data["participant_ids"]) == total
            tally = women.setdefault(project.code, [0, 0])
            tally[0] += sum(r["count"] for r in data["attendance"] if r["sex"] == "female")
            tally[1] += total
            assert activity.received_at.date() <= TODAY
            if activity.review is not None:
                assert activity.review.at > activity.received_at
                assert activity.review.action == "approve" or activity.review.comment
    shares = [100 * f / t for f, t in women.values()]
    assert min(shares) < 35 and max(shares) > 55  # women's share varies between projects
    statuses = {a.status for a in activities}
    assert statuses == {"approved", "submitted", "returned"}
    assert sum(a.status == "approved" for a in activities) > len(activities) / 2
    types = {a.data["type"] for a in activities}
    assert {"demonstration", "farmer_training", "study_tour", "roundtable"} <= types
    assert any(a.data["participant_ids"] for a in activities)
    assert any(a.flags for a in activities)  # e.g. reporting lag


def test_same_seed_same_world_other_seed_other_world() -> None:
    def fingerprint(seed: int) -> tuple[Any, ...]:
        world = build_world(seed=seed, size="tiny", today=TODAY)
        return (
            [p.id for p in world.projects],
            [s.id for s in world.sites],
            [u.username for u in world.users],
            world.activity_counts,
            [(a.data["id"], a.data["attendance"], a.status) for a in world.activities()],
        )

    assert fingerprint(SEED) == fingerprint(SEED)
    assert fingerprint(SEED)[0] != fingerprint(SEED + 1)[0]


# --- loading -----------------------------------------------------------------------------------


def test_load_then_load_again(engine: Engine) -> None:
    report = load_demo(engine, seed=SEED, size="tiny", today=TODAY)
    assert report.created and report.activities == report.activities_added == 200
    assert report.regions == 6
    counts = _counts(engine)
    world = build_world(seed=SEED, size="tiny", today=TODAY)
    assert counts["Project"] == len(world.projects)
    assert counts["Activity"] == counts["facts"] == 200
    assert counts["AttendanceRow"] == sum(len(a.data["attendance"]) for a in world.activities())
    reviewed = sum(a.review is not None for a in world.activities())
    # Version 1 stays in the row until the review supersedes it: then two revisions.
    assert counts["ActivityRevision"] == 2 * reviewed
    assert counts["Review"] == reviewed
    with Session(engine) as session:
        countries = session.execute(select(col(Project.country))).scalars().all()
        assert {region_of(c) for c in countries} == set(REGIONS)
        roles = set(session.execute(select(col(User.role))).scalars())
        assert roles == {r.value for r in Role}
    assert {login.username for login in report.logins} == {u.username for u in world.users}
    _logins_work(engine, report.logins)

    again = load_demo(engine, seed=SEED, size="tiny", today=TODAY)
    assert not again.created and not again.resumed and again.activities_added == 0
    assert _counts(engine) == counts  # nothing duplicated, nothing added
    _logins_work(engine, again.logins)  # new passwords that work...
    first = {x.username: x.password for x in report.logins}
    with Session(engine) as session:
        admin = session.execute(select(User).where(col(User.username) == "admin")).scalar_one()
        assert not verify_password(first["admin"], admin.password_hash)  # ...the old ones not

    kept = load_demo(engine, seed=SEED + 1, size="small", today=TODAY, reset_passwords=False)
    assert kept.logins == [] and (kept.seed, kept.size) == (SEED, "tiny")
    _logins_work(engine, again.logins)


def test_interrupted_load_is_completed(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.demo.load, "CHUNK", 40)
    written: list[int] = []

    def stop_after_two_chunks(count: int) -> None:
        written.append(count)
        if len(written) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_demo(engine, seed=SEED, size="tiny", today=TODAY, progress=stop_after_two_chunks)
    assert _counts(engine)["Activity"] == 80

    report = load_demo(engine, seed=SEED, size="tiny", today=date(2027, 1, 5))
    assert report.resumed and report.activities_added == 120 and report.activities == 200
    world = build_world(seed=SEED, size="tiny", today=TODAY)  # the date of the first run
    with Session(engine) as session:
        ids = set(session.execute(select(col(Activity.id))).scalars())
    assert ids == {uuid.UUID(a.data["id"]) for a in world.activities()}
    _logins_work(engine, report.logins)


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined]


def _snapshot(session: Session, activity_id: uuid.UUID) -> dict[str, Any]:
    """What one activity left in every table, without ids and times (which always differ)."""
    skip = {
        "id",
        "activity_id",
        "entity_id",
        "created_at",
        "updated_at",
        "submitted_at",
        "at",
        "seq",
    }

    def rows(statement: Any) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in dict(r._mapping).items() if k not in skip}
            for r in session.execute(statement)
        ]

    def of_activity(model: type[SQLModel], *order: str) -> list[dict[str, Any]]:
        table = _table(model)
        key = table.c.entity_id if "entity_id" in table.c else table.c.activity_id
        value = str(activity_id) if model is AuditEntry else activity_id
        return rows(select(table).where(key == value).order_by(*(table.c[o] for o in order)))

    activity = _table(Activity)
    revisions = of_activity(ActivityRevision, "version")
    for revision in revisions:
        revision["data"] = {k: v for k, v in revision["data"].items() if k != "id"}
    # SQL NULL and JSON null read back alike; ask the database which one it holds.
    documents = [c for c in activity.c if isinstance(c.type, JSON)]
    sql_nulls = session.execute(
        select(*(c.is_(None) for c in documents)).where(activity.c.id == activity_id)
    ).one()
    return {
        "sql_nulls": dict(zip([c.name for c in documents], sql_nulls, strict=True)),
        "activity": {
            k: v
            for k, v in rows(select(activity).where(activity.c.id == activity_id))[0].items()
            if k != "flags"
        },
        "attendance": of_activity(AttendanceRow, "id"),
        "participants": sorted(str(r["participant_id"]) for r in of_activity(ActivityParticipant)),
        "revisions": revisions,
        "reviews": of_activity(Review),
        "audit": of_activity(AuditEntry),
        "changes": of_activity(Change, "seq"),
        "facts": rows(select(activity_fact).where(activity_fact.c.activity_id == activity_id)),
    }


def _copy(activity: DemoActivity) -> DemoActivity:
    return DemoActivity(
        data={**activity.data, "id": str(uuid.uuid4())},
        author=activity.author,
        received_at=activity.received_at,
        flags=activity.flags,
        review=activity.review,
    )


@pytest.mark.parametrize("which", ["approved roster", "returned", "submitted"])
def test_bulk_load_matches_the_everyday_write_paths(engine: Engine, which: str) -> None:
    """One activity written by the demo loader and by write_activity + review_activity leaves
    the same rows everywhere (activity, attendance, roster, revisions, review, audit, change
    log, indicator facts)."""
    load_demo(engine, seed=SEED, size="tiny", today=TODAY)
    world = build_world(seed=SEED, size="tiny", today=TODAY)
    wanted = {
        "approved roster": lambda a: a.status == "approved" and a.data["participant_ids"],
        "returned": lambda a: a.status == "returned",
        "submitted": lambda a: a.status == "submitted",
    }[which]
    original = next(a for a in world.activities() if wanted(a))
    bulk, generic = _copy(original), _copy(original)

    with session_scope(engine) as session:
        users = {u.username: u for u in session.execute(select(User)).scalars()}
        user_ids = {name: u.id for name, u in users.items()}
        countries = {str(p.id): p.country for p in world.projects}
        write_demo_activities(session, [bulk], user_ids=user_ids, countries=countries)
    with session_scope(engine) as session:
        users = {u.username: u for u in session.execute(select(User)).scalars()}
        write_activity(
            session,
            data=generic.data,
            existing=None,
            source="demo",
            author_id=users[generic.author].id,
            status="submitted",
        )
    if generic.review is not None:
        with session_scope(engine) as session:
            reviewer = session.execute(
                select(User).where(col(User.username) == generic.review.reviewer)
            ).scalar_one()
            review_activity(
                session,
                caller=Caller(user=reviewer),
                activity_id=uuid.UUID(generic.data["id"]),
                action=generic.review.action,
                comment=generic.review.comment,
            )

    with Session(engine) as session:
        made_in_bulk = _snapshot(session, uuid.UUID(bulk.data["id"]))
        made_one_by_one = _snapshot(session, uuid.UUID(generic.data["id"]))
    assert made_in_bulk == made_one_by_one
    assert made_in_bulk["attendance"] and made_in_bulk["facts"]
    assert len(made_in_bulk["revisions"]) == (2 if original.review else 0)
    assert made_in_bulk["activity"]["created_via"] == "demo"
    with Session(engine) as session:
        history = activity_versions(session, uuid.UUID(bulk.data["id"]))
    assert [(r.version, r.source, r.data["status"]) for r in history] == [
        (1, "demo", "submitted"),
        *([(2, "review", made_in_bulk["activity"]["status"])] if original.review else []),
    ]


# --- the command -------------------------------------------------------------------------------


@pytest.fixture
def configured(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """PILOTMON_* pointing at the test database, for commands run through ``main``."""
    monkeypatch.setenv("PILOTMON_DATABASE_URL", db_url)
    monkeypatch.setenv("PILOTMON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    dispose_engines()
    yield db_url
    get_settings.cache_clear()
    dispose_engines()


def _printed_logins(text: str) -> list[Login]:
    rows = re.findall(
        r"^  (\S+)\s+(admin|hq_analyst|country_officer|field_expert)\s+(.+?)\s+"
        r"(\S{16})$",
        text,
        re.MULTILINE,
    )
    return [Login(*row) for row in rows]


def test_demo_command_twice(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "Loaded the demo world (size tiny" in out
    assert "http://127.0.0.1:8000" in out
    first = _printed_logins(out)
    assert {x.role for x in first} == {r.value for r in Role}
    assert (first[0].username, first[0].role, first[0].scope) == ("admin", "admin", "all countries")
    # the conflict the demo raised, and who settles it: a login printed above
    assert (
        "A sync conflict to settle: sign in as co.bgd and open Review (the site "
        "'Gazipur school garden' was renamed on the dashboard and, offline, on fe.bgd.1's tablet)."
    ) in out
    assert "co.bgd" in {x.username for x in first}

    assert main(["demo", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "already loaded" in out and "Nothing was added" in out
    assert "sync conflict" not in out  # raised once: it may have been settled since
    second = _printed_logins(out)
    assert [x.username for x in second] == [x.username for x in first]
    assert all(a.password != b.password for a, b in zip(first, second, strict=True))
    from server.db import get_engine

    engine = get_engine()
    _logins_work(engine, second)
    assert _counts(engine)["Activity"] == 200

    assert main(["demo", "--keep-passwords"]) == 0
    out = capsys.readouterr().out
    assert "Passwords unchanged" in out and not _printed_logins(out)
    _logins_work(engine, second)


def test_demo_command_needs_an_initialised_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PILOTMON_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    get_settings.cache_clear()
    dispose_engines()
    try:
        assert main(["demo"]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "run `pilotmon init-db` first" in err
        assert main(["demo", "--size", "huge"]) == 2
        assert "huge" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
        dispose_engines()
