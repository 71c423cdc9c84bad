"""Results in the demo world (docs/results.md): observations of the shipped forms, baselines
and targets, so that ``make demo`` shows yields, losses, adoption and sales.

- Every production project (thematic area TA1) harvests demonstration plots beside control plots
  of its priority product each season: potato 15–25 t/ha on a demonstration plot against 8–14
  on the farmer's usual practice, banana 25–40 against 12–20, cocoa 0.8–1.4 against 0.3–0.6.
- Every post-harvest project (TA2) checks its stores: hermetic bags lose about 1–3 % over the
  season, metal silos 1–4 %, warehouses 3–8 %, traditional storage 10–20 %.
- Every project follows up the farmers it trained (about half apply a practice, rising).
- The OCOP products with a market (potato in Lesotho, banana in Malawi, cocoa in Trinidad and
  Tobago) and the e-commerce projects record sales by channel.
- Disaster-risk projects (TA3) check household preparedness.

Drawn from the world's seed (``random.Random``), so the same seed gives the same results. The
loader writes each observation through ``write_version`` (version 1 kept in the row, as a push
keeps it; a change-log entry for the tablets) and refreshes the result roll-up in the same
transaction; it looks the forms up by code and skips a form that is not published in this
database (before ``init-db`` ships them).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.models import User
from server.db import session_scope
from server.demo.world import DemoProject, World
from server.projects.models import Target
from server.records.changes import record_target_change
from server.records.revisions import write_version
from server.results.models import Form, Observation
from server.results.rollup import refresh_observations
from server.results.shipped import SHIPPED_FORMS

HARVEST = "DEMO_PLOT_HARVEST"
STORAGE = "STORAGE_LOSS_CHECK"
ADOPTION = "ADOPTION_FOLLOW_UP"
SALES = "PRODUCT_SALES"
PREPAREDNESS = "PREPAREDNESS_CHECK"
FORMS: tuple[str, ...] = (HARVEST, STORAGE, ADOPTION, SALES, PREPAREDNESS)
# The crops a demonstration plot may grow, as the shipped DEMO_PLOT_HARVEST writes them.
SHIPPED_PRODUCTS = frozenset(
    choice["code"]
    for form in SHIPPED_FORMS
    if form["code"] == HARVEST
    for field in form["fields"]
    if field["name"] == "crop"
    for choice in field["choices"]
)

# crop -> (demonstration low, high, control low, high) in t/ha
YIELDS: dict[str, tuple[float, float, float, float]] = {
    "potato": (15, 25, 8, 14),
    "banana": (25, 40, 12, 20),
    "cocoa": (0.8, 1.4, 0.3, 0.6),
    "jackfruit": (20, 30, 10, 16),
    "date palm": (6, 9, 3, 5),
    "sweet cherry": (8, 12, 4, 7),
    "avocado": (8, 12, 4, 7),
}
DEFAULT_YIELD = (4.0, 6.5, 2.0, 3.5)
# storage -> loss share of the stored grain, in %
LOSSES: dict[str, tuple[float, float]] = {
    "hermetic_bag": (1, 3),
    "metal_silo": (1, 4),
    "warehouse": (3, 8),
    "traditional": (10, 20),
}
# product -> price in USD per kg at the farm gate
PRICES: dict[str, tuple[float, float]] = {
    "potato": (0.35, 0.6),
    "banana": (0.3, 0.5),
    "cocoa": (2.5, 3.5),
    "avocado": (0.8, 1.4),
    "spices": (3.0, 6.0),
}
SALES_PROJECTS: frozenset[str] = frozenset(
    {
        "LSO-OCOP-POTATO",
        "MWI-OCOP-BANANA",
        "TTO-OCOP-COCOA",
        "RWA-CPP-ECOMMERCE",
        "LKA-DAA-ECOMMERCE",
    }
)
CHANNELS: dict[str, float] = {
    "local_market": 0.45,
    "cooperative": 0.3,
    "e_commerce": 0.15,
    "export": 0.1,
}
# thematic area -> the practice its adoption follow-ups ask about (ADOPTION_FOLLOW_UP's codes)
PRACTICES: dict[str, str] = {
    "TA1": "improved_seed",
    "TA2": "hermetic_storage",
    "TA3": "conservation_agriculture",
    "TA4": "intercropping",
}
STORED_CROPS = ("maize", "rice", "beans", "sorghum", "wheat", "cassava", "potato")
HAZARDS = ("drought", "flood", "cyclone", "heat")
# observations per project and form, per size
PER_FORM: dict[str, int] = {"tiny": 6, "small": 24, "large": 120}


@dataclass(frozen=True, slots=True)
class DemoObservation:
    id: uuid.UUID
    project_id: uuid.UUID
    site_id: uuid.UUID | None
    form: str
    observed_on: date
    values: dict[str, Any]
    status: str
    author: str | None = None  # username of the field expert whose tablet sent it
    captured_at: datetime | None = None  # saved on that tablet (UTC)


@dataclass(frozen=True, slots=True)
class DemoResultTarget:
    id: uuid.UUID
    project_id: uuid.UUID
    indicator: str
    period: str
    value: float
    kind: str  # target | baseline


@dataclass(frozen=True)
class DemoResults:
    observations: list[DemoObservation]
    targets: list[DemoResultTarget]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _days(rng: random.Random, project: DemoProject, today: date, n: int) -> Iterator[date]:
    first = project.start_date
    last = min(project.end_date, today - timedelta(days=7))
    span = (last - first).days
    if span < 0:
        return
    for _ in range(n):
        yield first + timedelta(days=rng.randint(0, span))


def _captured_at(rng: random.Random, day: date, utc_offset: float) -> datetime:
    """Saved on the tablet in the afternoon of the day observed, local time."""
    zone = timezone(timedelta(hours=utc_offset))
    return datetime.combine(day, time(rng.randint(13, 17), rng.randint(0, 59)), zone)


def _status(rng: random.Random) -> str:
    return "approved" if rng.random() < 0.7 else "submitted"


def _code(product: str) -> str:
    """A priority product as the shipped forms' crop and product choices write it."""
    code = product.replace(" ", "_")
    return code if code in SHIPPED_PRODUCTS else "other"


def _round(value: float, places: int = 1) -> float:
    return round(value, places)


def draw_results(world: World) -> DemoResults:
    """The results of every demo project (deterministic for the world's seed)."""
    rng = random.Random(f"pilotmon-demo-results:{world.seed}")
    n = PER_FORM.get(world.size, PER_FORM["small"])
    observations: list[DemoObservation] = []
    targets: list[DemoResultTarget] = []

    def add(project: DemoProject, form: str, day: date, values: dict[str, Any]) -> None:
        sites = world.sites_of(project)
        site = rng.choice(sites).id if sites else None
        observation_id, status = _uuid(rng), _status(rng)
        # Who sent it and when, drawn apart: the values above stay those of the seed.
        who = random.Random(f"pilotmon-demo-results:{world.seed}:{observation_id}")
        authors = [u.username for u in world.users if project.code in u.projects]
        observations.append(
            DemoObservation(
                observation_id,
                project.id,
                site,
                form,
                day,
                values,
                status,
                author=who.choice(authors) if authors else None,
                captured_at=_captured_at(who, day, world.utc_offset(project)),
            )
        )

    def target(project: DemoProject, indicator: str, period: str, value: float, kind: str) -> None:
        targets.append(
            DemoResultTarget(_uuid(rng), project.id, indicator, period, _round(value, 1), kind)
        )

    for project in world.projects:
        product = project.priority_product or "maize"
        years = range(project.start_date.year, min(project.end_date.year, world.today.year) + 1)
        before = str(project.start_date.year - 1)
        if project.thematic_area == "TA1":
            demo_low, demo_high, control_low, control_high = YIELDS.get(product, DEFAULT_YIELD)
            for day in _days(rng, project, world.today, n):
                for plot, low, high in (
                    ("demo", demo_low, demo_high),
                    ("control", control_low, control_high),
                ):
                    area = rng.choice((400, 500, 800, 1000, 1200, 2000))
                    t_ha = rng.uniform(low, high)
                    harvest: dict[str, Any] = {
                        "crop": _code(product),
                        "plot": plot,
                        "plot_area_m2": area,
                        "harvest_kg": _round(t_ha * 1000 * area / 10000),
                        "harvest_date": day.isoformat(),
                    }
                    if plot == "demo":  # the form asks the practice of demonstration plots
                        harvest["practice"] = "improved_seed"
                    add(project, HARVEST, day, harvest)
            control_kg_ha = (control_low + control_high) / 2 * 1000
            target(project, "YIELD_KG_HA", before, control_kg_ha, "baseline")
            for step, year in enumerate(years, start=1):
                target(
                    project, "YIELD_KG_HA", str(year), control_kg_ha * (1 + 0.15 * step), "target"
                )
        if project.thematic_area == "TA2":
            for day in _days(rng, project, world.today, n):
                storage = rng.choices(list(LOSSES), weights=(4, 1, 1, 3))[0]
                low, high = LOSSES[storage]
                stored = rng.choice((200, 300, 500, 800, 1000, 1500, 2000))
                add(
                    project,
                    STORAGE,
                    day,
                    {
                        "crop": product if product in STORED_CROPS else rng.choice(STORED_CROPS),
                        "storage": storage,
                        "stored_kg": stored,
                        "lost_kg": _round(stored * rng.uniform(low, high) / 100),
                        "weeks_stored": rng.randint(8, 30),
                    },
                )
            target(project, "LOSS_PCT", before, 15, "baseline")
            for year in years:
                target(project, "LOSS_PCT", str(year), 5, "target")
        for index, day in enumerate(sorted(_days(rng, project, world.today, max(2, n // 2)))):
            visited = rng.randint(10, 40)
            share = min(0.9, 0.35 + 0.02 * index + rng.uniform(-0.05, 0.1))
            applying = round(visited * share)
            add(
                project,
                ADOPTION,
                day,
                {
                    "practice": PRACTICES.get(project.thematic_area, "improved_seed"),
                    "farmers_visited": visited,
                    "farmers_applying": applying,
                    "women_applying": round(applying * rng.uniform(0.35, 0.6)),
                },
            )
        target(project, "ADOPTION_RATE", before, 20, "baseline")
        for year in years:
            target(project, "ADOPTION_RATE", str(year), 60, "target")
        if project.code in SALES_PROJECTS:
            low, high = PRICES.get(product, (0.4, 0.8))
            total = 0.0
            for day in _days(rng, project, world.today, n):
                channel = rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]
                volume = rng.choice((50, 100, 200, 500, 1000, 2000))
                premium = 1.25 if channel in ("e_commerce", "export") else 1.0
                value = _round(volume * rng.uniform(low, high) * premium, 2)
                total += value
                add(
                    project,
                    SALES,
                    day,
                    {
                        "product": _code(product),
                        "channel": channel,
                        "volume_kg": volume,
                        "value_usd": value,
                    },
                )
            for year in years:
                target(
                    project, "SALES_USD", str(year), max(1000.0, total / len(years) * 1.2), "target"
                )
        if project.thematic_area == "TA3":
            for day in _days(rng, project, world.today, n):
                households = rng.randint(20, 80)
                add(
                    project,
                    PREPAREDNESS,
                    day,
                    {
                        "hazard": rng.choice(HAZARDS),
                        "households": households,
                        "households_with_plan": round(households * rng.uniform(0.3, 0.85)),
                        "early_warning_received": rng.random() < 0.7,
                    },
                )
            target(project, "PREPARED_SHARE", before, 25, "baseline")
            for year in years:
                target(project, "PREPARED_SHARE", str(year), 70, "target")
    return DemoResults(observations, targets)


def observation_wire(observation: Observation) -> dict[str, Any]:
    """An observation's full state, as its revisions keep it."""
    return {
        "id": str(observation.id),
        "project_id": str(observation.project_id),
        "site_id": str(observation.site_id) if observation.site_id else None,
        "activity_id": None,
        "form_id": str(observation.form_id),
        "form_version": observation.form_version,
        "observed_on": observation.observed_on.isoformat(),
        "values": observation.values,
        "location": observation.location,
        "notes": observation.notes,
        "status": observation.status,
        "deleted": observation.deleted,
    }


@dataclass(frozen=True, slots=True)
class ResultsReport:
    observations: int  # written now
    targets: int  # written now
    missing_forms: tuple[str, ...]  # shipped forms not published in this database


def load_results(engine: Engine, world: World) -> ResultsReport:
    """Write the demo results that are not there yet (idempotent)."""
    drawn = draw_results(world)
    with session_scope(engine) as session:
        forms = _published(session)
        missing = tuple(code for code in FORMS if code not in forms)
        existing = set(
            session.execute(
                sa.select(Observation.id).where(  # type: ignore[call-overload]
                    Observation.id.in_([o.id for o in drawn.observations])  # type: ignore[attr-defined]
                )
            ).scalars()
        )
        authors = {
            name: user_id
            for name, user_id in session.execute(
                sa.select(User.username, User.id).where(  # type: ignore[call-overload]
                    User.username.in_({o.author for o in drawn.observations if o.author})  # type: ignore[attr-defined]
                )
            )
        }
        written: list[uuid.UUID] = []
        for o in drawn.observations:
            if o.id in existing or o.form not in forms:
                continue
            form_id, version = forms[o.form]
            observation = Observation(
                id=o.id,
                project_id=o.project_id,
                site_id=o.site_id,
                form_id=form_id,
                form_version=version,
                observed_on=o.observed_on,
                values=o.values,
                status=o.status,
                captured_at=o.captured_at,
                created_by_id=authors.get(o.author) if o.author else None,
            )
            write_version(
                session,
                observation,
                entity="observation",
                wire=observation_wire,
                project_id=o.project_id,
                source="demo",
                author_id=observation.created_by_id,
                new=True,
                first_in_row=True,
            )
            written.append(o.id)
        refresh_observations(session, written)
        known = set(
            session.execute(
                sa.select(Target.id).where(  # type: ignore[call-overload]
                    Target.id.in_([t.id for t in drawn.targets])  # type: ignore[attr-defined]
                )
            ).scalars()
        )
        added = 0
        for t in drawn.targets:
            if t.id in known:
                continue
            row = Target(
                id=t.id,
                project_id=t.project_id,
                indicator=t.indicator,
                period=t.period,
                value=t.value,
                kind=t.kind,
            )
            session.add(row)
            session.flush()
            record_target_change(session, target=row)
            added += 1
    return ResultsReport(len(written), added, missing)


def _published(session: Session) -> dict[str, tuple[uuid.UUID, int]]:
    """Form code -> (id, version) of its latest published version."""
    found: dict[str, tuple[uuid.UUID, int]] = {}
    for row in session.execute(
        sa.select(Form.id, Form.code, Form.version)  # type: ignore[call-overload]
        .where(Form.code.in_(FORMS), Form.status == "published")  # type: ignore[attr-defined]
        .order_by(Form.code, Form.version)
    ):
        found[row.code] = (row.id, row.version)
    return found
