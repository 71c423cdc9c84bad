"""A small seeded world for the dashboard's tests: two countries, three projects, people of
every role, a year of activities in every review state, targets, sites and tablets.

Dates are relative to today (server time) so that "this quarter" and "last 12 months" always
hold data. Everything is written through the same service functions the API uses.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from server.accounts.models import Device, User
from server.accounts.security import token_hash
from server.activities.models import Activity, Attachment
from server.activities.service import write_activity
from server.columns import utcnow
from server.projects.models import Project, Site, Target
from server.records.receipts import Signer
from server.sync.attachments import AttachmentFiles, store_complete
from server.sync.models import SyncConflict
from tests.factories import activity_data, make_project, make_site, make_user


@dataclass
class World:
    today: date
    lso: Project
    lso_storage: Project
    eth: Project
    sites: list[Site]
    officer: User  # country officer for Lesotho
    officer_eth: User
    expert: User  # field expert on the Lesotho projects
    hq: User
    admin: User
    submitted: list[Activity] = field(default_factory=list)  # Lesotho, waiting for review
    approved: list[Activity] = field(default_factory=list)
    returned: Activity | None = None
    late: Activity | None = None
    eth_activity: Activity | None = None
    tablets: dict[str, Device] = field(default_factory=dict)
    tablet_tokens: dict[str, str] = field(default_factory=dict)  # label -> device token
    conflict: SyncConflict | None = None


def field_photo(width: int = 240, height: int = 160) -> bytes:
    """A small PNG (sky over a green field) standing in for a photo from the tablet."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            if y < height * 0.45:
                row += bytes((150 + y // 3, 190 + y // 4, 230))
            else:
                stripe = 20 if (x + 2 * y) // 12 % 2 else 0
                row += bytes((70 + stripe, 130 + stripe + y // 8, 60))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _months_back(today: date, months: int, day: int = 10) -> date:
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, min(day, 28))


def _attendance(women: int, men: int, youth_share: float = 0.4) -> list[dict[str, Any]]:
    rows = []
    for sex, total in (("female", women), ("male", men)):
        youth = round(total * youth_share)
        senior = total // 8
        adult = total - youth - senior
        for band, count in (("youth", youth), ("adult", adult), ("senior", senior)):
            if count:
                rows.append(
                    {
                        "sex": sex,
                        "age_band": band,
                        "category": "farmer",
                        "disability": False,
                        "count": count,
                    }
                )
    return rows


def _activity(
    session: Session,
    world: World,
    project: Project,
    *,
    title: str,
    day: date,
    kind: str = "demonstration",
    women: int = 12,
    men: int = 10,
    status: str = "submitted",
    site: Site | None = None,
    topic: str = "S1.T2",
    author: User | None = None,
    **extra: Any,
) -> Activity:
    data = activity_data(
        project,
        title=title,
        type=kind,
        start_date=day.isoformat(),
        end_date=day.isoformat(),
        attendance=_attendance(women, men),
        site_id=str(site.id) if site else None,
        topic=topic,
        captured_at=f"{day.isoformat()}T10:00:00+00:00",
        **extra,
    )
    # Seeded straight into its review state: one write (and one revision) per activity.
    return write_activity(
        session,
        data=data,
        existing=None,
        source="api",
        author_id=(author or world.expert).id,
        status=None if status == "submitted" else status,
    )


def add_photo(session: Session, world: World, attachments_dir: Path) -> Attachment:
    """A photo of the first submitted activity, its bytes stored as after a finished upload."""
    data = field_photo()
    photo = Attachment(
        id=uuid.uuid4(),
        activity_id=world.submitted[0].id,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type="image/png",
        caption="Sorting seed potatoes before storage",
    )
    session.add(photo)
    session.flush()
    refused = store_complete(
        session,
        files=AttachmentFiles(attachments_dir),
        attachment=photo,
        data=data,
        project_id=world.lso.id,
        signer=Signer.generate(),
    )
    assert refused is None, refused
    session.commit()
    return photo


def build_world(session: Session, *, today: date | None = None) -> World:
    today = today or utcnow().date()
    start = date(today.year - 2, 1, 1)
    end = date(today.year + 2, 12, 31)
    lso = make_project(
        session,
        code="LSO-CPP-POTATO",
        name="Potato value chain pilot",
        country="LSO",
        thematic_area="TA1",
        solutions=["S1", "S2"],
        partners=["MAFSN", "NAFRA"],
        priority_product="potato",
        start_date=start,
        end_date=end,
    )
    storage = make_project(
        session,
        code="LSO-DAA-STORE",
        name="Grain storage demonstration",
        kind="DAA",
        country="LSO",
        thematic_area="TA2",
        solutions=["S4", "S5"],
        partners=["MAFSN"],
        priority_product="maize",
        start_date=start,
        end_date=end,
    )
    eth = make_project(
        session,
        code="ETH-CPP-CLIMATE",
        name="Climate adaptation pilot",
        country="ETH",
        thematic_area="TA3",
        solutions=["S6", "S7"],
        partners=["MoA"],
        priority_product="teff",
        start_date=start,
        end_date=end,
    )
    sites = [
        make_site(
            session,
            lso,
            name="Maseru demonstration plot",
            admin_area="Maseru",
            lat=-29.316,
            lon=27.486,
        ),
        make_site(
            session, lso, name="Leribe farmers' field", admin_area="Leribe", lat=-28.872, lon=28.046
        ),
        make_site(
            session,
            lso,
            name="Mohale's Hoek store",
            admin_area="Mohale's Hoek",
            lat=-30.151,
            lon=27.477,
        ),
        make_site(
            session,
            storage,
            name="Mafeteng warehouse",
            admin_area="Mafeteng",
            lat=-29.823,
            lon=27.237,
        ),
        make_site(session, eth, name="Hawassa plot", admin_area="Sidama", lat=7.05, lon=38.48),
    ]
    officer = make_user(session, role="country_officer", countries=["LSO"], username="officer.lso")
    officer.full_name = "Palesa Mokoena"
    officer_eth = make_user(
        session, role="country_officer", countries=["ETH"], username="officer.eth"
    )
    expert = make_user(session, role="field_expert", projects=[lso, storage], username="expert.lso")
    expert.full_name = "Chen Wei"
    hq = make_user(session, role="hq_analyst", countries=[], username="hq.analyst")
    admin = make_user(session, role="admin", countries=[], username="admin")
    session.add_all([officer, expert])
    world = World(
        today=today,
        lso=lso,
        lso_storage=storage,
        eth=eth,
        sites=sites,
        officer=officer,
        officer_eth=officer_eth,
        expert=expert,
        hq=hq,
        admin=admin,
    )

    kinds = ["demonstration", "farmer_training", "field_day", "farmer_training", "workshop"]
    # A year of approved Lesotho activities, more in recent months.
    for months in range(11, -1, -1):
        for n in range(1 + (11 - months) // 6):
            kind = kinds[(months + n) % len(kinds)]
            project = lso if (months + n) % 3 else storage
            topic = "S1.T2" if project is lso else "S5.T1"
            site = sites[(months + n) % 3] if project is lso else sites[3]
            world.approved.append(
                _activity(
                    session,
                    world,
                    project,
                    title=f"{kind.replace('_', ' ').capitalize()} {months}-{n}",
                    day=min(today, _months_back(today, months, 5 + 7 * n)),
                    kind=kind,
                    women=10 + (months * 3 + n * 5) % 14,
                    men=14 - (months + n) % 6,
                    status="approved",
                    site=site,
                    topic=topic,
                )
            )
    # Waiting for review.
    for title, days, kind in (
        ("Seed potato storage demonstration", 3, "demonstration"),
        ("Farmer training on late blight", 6, "farmer_training"),
        ("Field day at the Leribe plot", 9, "field_day"),
    ):
        world.submitted.append(
            _activity(
                session,
                world,
                lso,
                title=title,
                day=today - timedelta(days=days),
                kind=kind,
                site=sites[1],
                women=18,
                men=11,
            )
        )
    world.late = _activity(
        session,
        world,
        lso,
        title="Cooperative marketing workshop",
        day=_months_back(today, 4),
        kind="workshop",
        women=9,
        men=15,
        site=sites[2],
    )
    world.late.late = True
    world.late.flags = [
        {
            "code": "reporting_lag",
            "field": "start_date",
            "message": "reported more than 30 days after it happened",
        }
    ]
    session.add(world.late)
    world.submitted.append(world.late)
    world.returned = _activity(
        session,
        world,
        lso,
        title="Storage bag distribution",
        day=today - timedelta(days=20),
        kind="other",
        status="returned",
        site=sites[0],
    )
    world.eth_activity = _activity(
        session,
        world,
        eth,
        title="Drought-tolerant teff trial",
        day=today - timedelta(days=5),
        kind="demonstration",
        topic="S7.T1",
        site=sites[4],
        author=officer_eth,
    )

    year, quarter = str(today.year), f"{today.year}Q{(today.month - 1) // 3 + 1}"
    for indicator, period, value in (
        ("ACTIVITIES", year, 30),
        ("PARTICIPANTS", year, 600),
        ("WOMEN_SHARE", year, 50),
        ("ACTIVITIES", quarter, 8),
        ("TRAININGS", year, 10),
    ):
        session.add(Target(project_id=lso.id, indicator=indicator, period=period, value=value))
    session.add(Target(project_id=storage.id, indicator="ACTIVITIES", period=year, value=6))
    session.add(Target(project_id=eth.id, indicator="ACTIVITIES", period=year, value=12))

    now = utcnow()
    for n, (name, seen_days, revoked) in enumerate(
        (
            ("Tablet A — Maseru", 1, False),
            ("Tablet B — Leribe", 12, False),
            ("Old tablet", 40, True),
        )
    ):
        world.tablet_tokens[name] = f"device-token-{n}-for-dashboard-tests"
        device = Device(
            id=uuid.uuid4(),
            user_id=expert.id,
            label=name,
            app_version="1.0.3",
            token_hash=token_hash(world.tablet_tokens[name]),
            enrolled_at=now - timedelta(days=60),
            last_seen_at=now - timedelta(days=seen_days),
            last_seq=40 + seen_days,
            revoked_at=now - timedelta(days=30) if revoked else None,
        )
        session.add(device)
        world.tablets[name] = device
    # The tablet renamed the second submission while the office corrected its title.
    disputed = world.submitted[1]
    world.conflict = SyncConflict(
        entity="activity",
        entity_id=disputed.id,
        project_id=lso.id,
        device_id=world.tablets["Tablet A — Maseru"].id,
        fields=["title"],
        base_values={"title": "Farmer training on blight"},
        server_values={"title": disputed.title},
        device_values={"title": "Farmer training on late blight (Leribe)"},
    )
    session.add(world.conflict)
    session.commit()
    return world
