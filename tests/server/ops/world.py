"""A small but complete world for operations tests: every kind of row, named people, photos."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import server.models  # noqa: F401
from server.activities.models import Attachment, Review
from server.activities.service import tombstone_activity, write_activity
from server.columns import as_utc
from server.db import write_engine
from server.projects.models import Participant, Target
from server.records.audit import record
from server.records.changes import ChangeRecord, record_changes
from tests.factories import activity_data, make_project, make_site, make_user

# Names that must never leave their country scope nor appear in any export.
PARTICIPANT_NAMES = ("Mpho Zanele Letsie", "Palesa Thakane Mokhothu")


@dataclass
class World:
    project_ids: list[uuid.UUID] = field(default_factory=list)
    activity_ids: list[uuid.UUID] = field(default_factory=list)
    usernames: dict[str, str] = field(default_factory=dict)
    photo_paths: list[Path] = field(default_factory=list)


def photo_bytes(seed: int, size: int = 48_000) -> bytes:
    """A JPEG-looking blob (JPEG magic, then deterministic noise that gzip cannot shrink)."""
    body = b""
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(body) < size:
        block = hashlib.sha256(block).digest()
        body += block
    return b"\xff\xd8\xff\xe0" + body[: size - 6] + b"\xff\xd9"


def load_world(engine: Engine, attachments_dir: Path) -> World:
    """Two countries, roster participants with names, activities (one deleted), photos."""
    world = World()
    with Session(write_engine(engine)) as session:
        lesotho = make_project(session, country="LSO", roster=True)
        kenya = make_project(
            session,
            country="KEN",
            code=f"KEN-DAA-{uuid.uuid4().hex[:6]}",
            kind="DAA",
            thematic_area="TA2",
            solutions=["S4", "S5"],
        )
        world.project_ids = [lesotho.id, kenya.id]
        site = make_site(session, lesotho, name="Ha Matela plot", lat=-29.2, lon=27.9)
        expert = make_user(session, role="field_expert", projects=[lesotho])
        officer = make_user(session, role="country_officer", countries=["LSO"])
        make_user(session, role="hq_analyst", countries=[])
        world.usernames = {"field_expert": expert.username, "country_officer": officer.username}
        people = []
        for n, name in enumerate(PARTICIPANT_NAMES):
            person = Participant(
                project_id=lesotho.id,
                code=f"QR-{n:04d}",
                sex="female",
                birth_year=1990 + n,
                category="farmer",
                name=name,
            )
            session.add(person)
            people.append(person)
        session.add(
            Target(project_id=lesotho.id, indicator="PARTICIPANTS", period="2025", value=500.0)
        )
        session.flush()
        record_changes(
            session, [ChangeRecord("participant", p.id, "upsert", 1, lesotho.id) for p in people]
        )
        first = write_activity(
            session,
            data=activity_data(
                lesotho,
                site_id=str(site.id),
                participant_ids=[str(p.id) for p in people],
                location={"lat": -29.21, "lon": 27.91, "accuracy_m": 8.5},
                notes="Storage demonstration — ñandú, 土豆, emoji 🥔",
            ),
            existing=None,
            source="push",
            author_id=expert.id,
        )
        write_activity(
            session,
            data={"title": "Seed potato storage, second day"},
            existing=first,
            source="api",
            author_id=expert.id,
        )
        second = write_activity(
            session,
            data=activity_data(kenya, type="farmer_training", topic="S5.T1", modality="K"),
            existing=None,
            source="api",
            author_id=officer.id,
        )
        doomed = write_activity(
            session, data=activity_data(lesotho), existing=None, source="push", author_id=expert.id
        )
        tombstone_activity(session, activity=doomed, source="push", author_id=expert.id)
        session.add(
            Review(
                activity_id=first.id, action="approve", comment="Good photos", author_id=officer.id
            )
        )
        record(
            session,
            action="approve",
            entity="activity",
            entity_id=first.id,
            actor_id=officer.id,
            country="LSO",
            before={"status": "submitted"},
            after={"status": "approved"},
        )
        world.activity_ids = [first.id, second.id, doomed.id]
        for n, activity_id in enumerate((first.id, first.id, second.id)):
            blob = photo_bytes(n)
            attachment = Attachment(
                id=uuid.uuid4(),
                activity_id=activity_id,
                sha256=hashlib.sha256(blob).hexdigest(),
                size=len(blob),
                content_type="image/jpeg",
                caption=f"photo {n}",
                received=len(blob),
                complete=True,
            )
            session.add(attachment)
            path = attachments_dir / str(attachment.id)[:2] / str(attachment.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
            world.photo_paths.append(path)
        session.commit()
    return world


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value)
    if (
        isinstance(value, date | uuid.UUID | bool | int | float | str | dict | list)
        or value is None
    ):
        return value
    return str(value)


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every model table in the database: UTC times, primary-key order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in present:
                continue
            order = list(table.primary_key.columns)
            result = conn.execute(sa.select(table).order_by(*order))
            rows[table.name] = [tuple(_normal(v) for v in row) for row in result]
    return rows


def files_under(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
