"""The demo as a newcomer sees it: its tablets on the Tablets page, and every dashboard page of
every demo role (and the API docs) loading nothing from any host but the server itself."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.accounts.models import Device, DeviceStatus, User, UserProject
from server.activities.models import Activity
from server.app import create_app
from server.columns import as_utc
from server.config import Settings
from server.dashboard.routes import router as dashboard_router
from server.demo.load import LoadReport, conflict_plan, load_demo
from server.demo.world import build_world
from server.projects.models import Project, Site
from server.records.models import AuditEntry, RecordRevision
from server.results.forms import ensure_shipped_forms
from server.results.models import Observation
from server.results.shipped import SHIPPED_FORMS
from server.sync.models import KeptMutation, SyncConflict
from shared.catalogue import Role
from tests.conftest import seeded_module
from tests.server.dashboard.conftest import fresh, login, main_of, token_for

TODAY = date(2026, 11, 22)
SEED = 7
OWN_HOST = "testserver"  # the TestClient's host: the server itself

# GET routes of the dashboard that answer a file, not a page.
NOT_PAGES = {
    "/attachments/{attachment_id}",
    "/exports/download",
    "/observations/download",
    "/reports/quarterly.pdf",
    "/",
}


def _load(session: Session) -> LoadReport:
    ensure_shipped_forms(session, SHIPPED_FORMS)  # what `make demo`'s init-db publishes first
    session.commit()
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    return load_demo(engine, seed=SEED, size="tiny", today=TODAY)


# The tiny demo, loaded once per module and backend (some seconds each) and put back before
# each test; ``demo`` is what loading it reported (its logins and counts).
db_url, demo = seeded_module(_load, name="demo")


@pytest.fixture
def browser(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    settings.ensure_data_dir()
    with TestClient(create_app(settings, engine)) as client:
        yield client


def _password(report: LoadReport, username: str) -> str:
    return next(x.password for x in report.logins if x.username == username)


# --- the tablets -----------------------------------------------------------------------------


def test_demo_tablets_are_enrolled_for_field_experts_and_match_their_pushes(
    demo: LoadReport, engine: Engine
) -> None:
    world = build_world(seed=SEED, size="tiny", today=TODAY)
    plan = conflict_plan(world)
    assert plan is not None
    experts = {u.username for u in world.users if u.role == Role.FIELD_EXPERT}
    assert demo.tablets == len(world.devices) > len(experts) - 1
    with Session(engine) as session:
        users = {u.id: u for u in session.execute(select(User)).scalars()}
        devices = list(session.execute(select(Device)).scalars())
        pushed = {
            device_id: (count, as_utc(last), authors)
            for device_id, count, last, authors in session.execute(
                select(
                    col(Activity.device_id),
                    func.count(),
                    func.max(col(Activity.created_at)),
                    func.count(func.distinct(col(Activity.created_by_id))),
                ).group_by(col(Activity.device_id))
            ).all()
        }
        device_owner = {d.id: d.user_id for d in devices}
        for activity_id, device_id, author_id in session.execute(
            select(col(Activity.id), col(Activity.device_id), col(Activity.created_by_id))
        ).all():
            # Every demo activity came from a tablet of the expert who recorded it.
            assert device_id is not None, activity_id
            assert device_owner[device_id] == author_id, activity_id
    assert None not in pushed
    in_use = [d for d in devices if d.revoked_at is None]
    # Every field expert has exactly one tablet in use, and nobody else has one.
    assert sorted(users[d.user_id].username for d in in_use) == sorted(experts)
    revoked = [d for d in devices if d.revoked_at is not None]
    assert len(revoked) == 1
    for device in devices:
        count, last_push, authors = pushed.get(device.id, (0, None, 0))
        # one mutation per activity it pushed, and the two of the demo's sync conflict
        assert device.last_seq == count + (2 if device.id == plan.device_id else 0)
        assert authors <= 1
        assert device.label and device.app_version
        seen = as_utc(device.last_seen_at)
        enrolled = as_utc(device.enrolled_at)
        assert enrolled is not None and seen is not None
        assert enrolled <= seen
        # the conflict's pushes too are dated in the world, before the tablet's last pull
        assert seen.date() < TODAY
        if last_push is not None:
            assert seen >= last_push and last_push >= enrolled
    old = revoked[0]
    assert old.last_seq > 0
    assert as_utc(old.last_seen_at) <= as_utc(old.revoked_at)  # type: ignore[operator]
    # Tablets of finished projects went quiet, those of running projects synced lately.
    quiet = [d for d in in_use if (TODAY - as_utc(d.last_seen_at).date()).days > 14]  # type: ignore[union-attr]
    assert quiet and len(quiet) < len(in_use)


def test_a_country_officer_sees_the_country_tablets_on_the_tablets_page(
    demo: LoadReport, engine: Engine, browser: TestClient
) -> None:
    world = build_world(seed=SEED, size="tiny", today=TODAY)
    officer = next(u for u in world.users if u.username == "co.lso")
    login(browser, officer.username, _password(demo, officer.username))
    page = browser.get("/tablets")
    assert page.status_code == 200
    html = page.text
    own = [d for d in world.devices if d.username.startswith("fe.lso.")]
    others = [d for d in world.devices if not d.username.startswith("fe.lso.")]
    assert own and others
    for device in own:
        assert device.label in html
    for device in others:
        assert device.label not in html
    assert f"{len(own)} tablets enrolled" in html
    assert "Revoked" in html  # Lesotho's lost tablet
    # Each tablet in use reported at its last sync (the page showed "no report" for all, so
    # a newcomer never saw what the page tells): everything sent, its free storage; the lost
    # tablet never reports again.
    rows = re.findall(r"<tr data-device[^>]*>(.*?)</tr>", html, re.S)
    for device in own:
        row = next(r for r in rows if device.label in r)
        if device.revoked_at is None:
            assert "nothing" in row and "reported" in row and re.search(r"\d\sGB", row), row
        else:
            assert "no report" in row, row
    with Session(engine) as session:
        reports = {s.device_id: s for s in session.execute(select(DeviceStatus)).scalars()}
        for device in world.devices:
            report = reports.get(device.id)
            if device.revoked_at is not None:
                assert report is None
                continue
            assert report is not None and report.pending_mutations == 0
            stored = session.get(Device, device.id)
            assert stored is not None and report.received_at == stored.last_seen_at
    with Session(engine) as session:  # the fleet view shows each tablet's app version
        versions = session.execute(
            select(col(Device.app_version)).where(col(Device.id).in_([d.id for d in own]))
        ).scalars()
        for version in versions:
            assert version and f">{version}</td>" in html


# --- the sync conflict to settle ---------------------------------------------------------------


def test_the_country_officer_settles_the_demos_sync_conflict_which_loading_again_keeps(
    demo: LoadReport, engine: Engine, browser: TestClient
) -> None:
    """The demo holds a conflict as a tablet's push leaves it: a site the expert's tablet added,
    renamed on the dashboard by the officer and renamed otherwise on the tablet meanwhile."""
    world = build_world(seed=SEED, size="tiny", today=TODAY)
    plan = conflict_plan(world)
    assert plan is not None
    with Session(engine) as session:
        (conflict,) = session.execute(select(SyncConflict)).scalars()
        site = session.get(Site, plan.site_id)
        assert site is not None
        stamps = {
            "site": (as_utc(site.created_at), as_utc(site.updated_at)),
            "revisions": [
                as_utc(t)
                for t in session.execute(
                    select(col(RecordRevision.created_at))
                    .where(col(RecordRevision.entity_id) == plan.site_id)
                    .order_by(col(RecordRevision.version))
                ).scalars()
            ],
            "kept": [
                as_utc(t)
                for t in session.execute(
                    select(col(KeptMutation.received_at)).where(
                        col(KeptMutation.device_id) == plan.device_id
                    )
                ).scalars()
            ],
            "audit": [
                as_utc(t)
                for t in session.execute(
                    select(col(AuditEntry.at)).where(col(AuditEntry.entity_id) == str(plan.site_id))
                ).scalars()
            ],
        }
        revisions = session.execute(
            select(
                col(RecordRevision.version),
                col(RecordRevision.source),
                col(RecordRevision.device_id),
            )
            .where(col(RecordRevision.entity_id) == plan.site_id)
            .order_by(col(RecordRevision.version))
        ).all()
        session.expunge(conflict)
    assert (conflict.entity, conflict.entity_id, conflict.fields) == (
        "site",
        plan.site_id,
        ["name"],
    )
    assert conflict.device_id == plan.device_id and conflict.mutation_id is not None
    assert conflict.server_version == 2 and fresh(engine, Site, plan.site_id).version == 2
    assert revisions == [(1, "push", plan.device_id), (2, "api", None)]
    assert conflict.server_values == {"name": plan.officer_name}
    assert conflict.device_values == {"name": plan.tablet_name}
    # Dated in the demo's world, like its activities (it said "today" beside activities of
    # months ago, and moved in the lists from one load to the next): the site added, renamed
    # on the dashboard the next day, the tablet's rename pushed the day after, before its
    # last pull; every stamp the write paths put on them is the plan's.
    device = next(d for d in world.devices if d.id == plan.device_id)
    assert device.pulled_at is not None
    assert device.enrolled_at < plan.added_at < plan.renamed_at < plan.raised_at
    assert plan.raised_at < device.pulled_at and (TODAY - plan.added_at.date()).days >= 4
    assert as_utc(conflict.created_at) == plan.raised_at
    assert stamps == {
        "site": (plan.added_at, plan.renamed_at),
        "revisions": [plan.added_at, plan.renamed_at],
        "kept": [plan.raised_at],
        "audit": [plan.renamed_at],
    }

    # Loading again raises it no second time, and leaves the tablets as they are.
    def tablets() -> list[tuple[object, ...]]:
        with Session(engine) as session:
            return [
                (d.id, d.label, d.last_seq, d.last_seen_at, d.revoked_at, d.token_hash)
                for d in session.execute(select(Device).order_by(col(Device.id))).scalars()
            ]

    before = tablets()
    again = load_demo(engine, seed=SEED, size="tiny", today=TODAY)
    assert again.tablets == demo.tablets and tablets() == before
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(SyncConflict)).scalar_one() == 1

    login(browser, plan.officer, _password(again, plan.officer))
    assert "1 sync conflict to settle" in main_of(browser.get("/overview").text)
    page = f"/conflicts/{conflict.id}"
    assert f'href="{page}"' in main_of(browser.get("/review").text)
    html = main_of(browser.get(page).text)
    assert plan.officer_name in html and plan.tablet_name in html and 'name="keep"' in html
    done = browser.post(
        f"/conflicts/{conflict.id}/resolve",
        data={"csrf_token": token_for(browser, page), "keep": "device"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    site = fresh(engine, Site, plan.site_id)
    assert (site.name, site.version, site.status) == (plan.tablet_name, 3, "pending")
    assert fresh(engine, SyncConflict, conflict.id).status == "resolved"
    with Session(engine) as session:
        revision = session.execute(
            select(RecordRevision).where(
                col(RecordRevision.entity_id) == plan.site_id, col(RecordRevision.version) == 3
            )
        ).scalar_one()
        assert revision.source == "resolve" and revision.data["name"] == plan.tablet_name
        assert session.execute(
            select(AuditEntry).where(col(AuditEntry.entity_id) == str(conflict.id))
        ).scalar_one()
    assert "sync conflict" not in main_of(browser.get("/overview").text)


# --- nothing from another host ---------------------------------------------------------------

# (in CSS, inside a data: URL, the quotes may come escaped)
_XMLNS = re.compile(r"""\bxmlns(?::[\w-]+)?\s*=\s*\\?["'][^"'\\]*\\?["']""")
_ATTRIBUTE = re.compile(
    r"""\b(?:src|href|action|formaction|poster|srcset|data)\s*=\s*["']([^"']*)["']""", re.I
)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)""", re.I)
_ABSOLUTE = re.compile(r"""https?://[^\s"'<>)]+""", re.I)


def foreign_references(text: str, own_host: str = OWN_HOST) -> list[str]:
    """Addresses in HTML or CSS that point at any host but ``own_host`` (XML namespace names
    are identifiers, never fetched, and are left out)."""
    text = _XMLNS.sub("", text)
    found = []
    for ref in [*_ATTRIBUTE.findall(text), *_CSS_URL.findall(text)]:
        ref = ref.strip()
        if ref.startswith(("data:", "#")) or not ref:
            continue
        parts = urlsplit(ref)
        if parts.scheme not in ("", "http", "https") or (
            parts.netloc and parts.hostname != own_host
        ):
            found.append(ref)
    found += [ref for ref in _ABSOLUTE.findall(text) if urlsplit(ref).hostname != own_host]
    return found


def test_the_check_finds_references_to_other_hosts() -> None:
    page = """<link href="https://cdn.jsdelivr.net/x.css"><script src="//unpkg.com/a.js"></script>
    <img src="/static/a.png"><a href="http://testserver/ok">x</a><p>see http://example.org</p>
    <svg xmlns="http://www.w3.org/2000/svg"></svg><div style="background:url(https://a.b/c)">"""
    assert foreign_references(page) == [
        "https://cdn.jsdelivr.net/x.css",
        "//unpkg.com/a.js",
        "https://a.b/c",
        "https://cdn.jsdelivr.net/x.css",
        "http://example.org",
        "https://a.b/c",
    ]
    assert foreign_references('<img src="/static/a.png"><a href="#top">') == []


def _pages() -> list[str]:
    paths = sorted(
        route.path
        for route in dashboard_router.routes
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or ())
        and route.path not in NOT_PAGES
    )
    assert "/tablets" in paths and "/activities/{activity_id}" in paths
    return paths


def _fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{path}: say which {name} to open in this test"
        return values[name]

    return re.sub(r"\{(\w+)\}", value, path)


def _in_scope(session: Session, user: User) -> dict[str, str]:
    """A project, an activity of it, a conflict on it and a person this user may open."""
    query = select(Project).order_by(col(Project.code))
    if user.role == Role.FIELD_EXPERT:
        query = query.join(UserProject, col(UserProject.project_id) == col(Project.id)).where(
            col(UserProject.user_id) == user.id
        )
    elif user.role == Role.COUNTRY_OFFICER:
        query = query.where(col(Project.country).in_(user.countries))
    project = session.execute(query).scalars().first()
    assert project is not None, user.username
    activity = session.execute(
        select(col(Activity.id)).where(col(Activity.project_id) == project.id).limit(1)
    ).scalar_one()
    observation = session.execute(
        select(col(Observation.id)).where(col(Observation.project_id) == project.id).limit(1)
    ).scalar_one()
    # The demo's own conflict when it is in this user's scope, so that the conflict page is
    # opened too; otherwise one on this activity's title, as two tablets raise it.
    in_scope = select(col(Project.id)).where(col(Project.country).in_(user.countries))
    if user.role == Role.FIELD_EXPERT:
        in_scope = select(col(UserProject.project_id)).where(col(UserProject.user_id) == user.id)
    # (the demo's, raised by a push, before one this test inserted for another role)
    conflicts = (
        select(col(SyncConflict.id))
        .order_by(col(SyncConflict.mutation_id).is_(None), col(SyncConflict.id))
        .limit(1)
    )
    if user.role in (Role.FIELD_EXPERT, Role.COUNTRY_OFFICER):
        conflicts = conflicts.where(col(SyncConflict.project_id).in_(in_scope))
    own = session.execute(conflicts).scalar()
    if own is not None:
        return {
            "conflict_id": str(own),
            "project_id": str(project.id),
            "activity_id": str(activity),
            "observation_id": str(observation),
            "user_id": str(user.id),
        }
    conflict = SyncConflict(
        entity="activity",
        entity_id=activity,
        project_id=project.id,
        fields=["title"],
        server_version=2,
        base_values={"title": "Field day"},
        server_values={"title": "Field day at the demonstration plot"},
        device_values={"title": "Field day (maize)"},
    )
    session.add(conflict)
    session.commit()
    return {
        "conflict_id": str(conflict.id),
        "project_id": str(project.id),
        "activity_id": str(activity),
        "observation_id": str(observation),
        "user_id": str(user.id),
    }


def _assets_of(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html)


def test_no_page_of_any_demo_role_nor_the_api_docs_loads_from_another_host(
    demo: LoadReport, engine: Engine, browser: TestClient
) -> None:
    world = build_world(seed=SEED, size="tiny", today=TODAY)
    one_per_role = {u.role: u.username for u in reversed(world.users)}
    assert set(one_per_role) == {r.value for r in Role}
    checked: dict[str, str] = {}  # address -> its content type

    def check(address: str, *, expect: tuple[int, ...] = (200,)) -> str:
        response = browser.get(address)
        assert response.status_code in expect, (address, response.status_code)
        kind = response.headers["content-type"]
        checked[address] = kind
        # Pages and style sheets name what the browser fetches; a script's strings are data
        # (Swagger UI's bundle quotes JSON Schema URIs it never loads).
        if not kind.startswith("text/javascript"):
            wrong = foreign_references(response.text)
            assert not wrong, (address, wrong)
        for asset in _assets_of(response.text):
            if asset not in checked:
                check(asset)
        return response.text

    check("/login")
    docs = check("/api/v1/docs")
    assert "swagger-ui" in docs
    for username in one_per_role.values():
        browser.cookies.clear()
        login(browser, username, _password(demo, username))
        with Session(engine) as session:
            user = session.execute(select(User).where(col(User.username) == username)).scalar_one()
            values = _in_scope(session, user)
        pages = [_fill(path, values) for path in _pages()]
        for address in pages:
            # A page this role may not open still answers a page (403), which is checked too.
            check(address, expect=(200, 403))
        check(f"/activities/{uuid.uuid4()}", expect=(404,))  # the error page
    assets = [a for a, kind in checked.items() if a.startswith("/static/")]
    assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
    assert any(a.startswith("/static/api-docs/") for a in assets)
