"""Materialised roll-ups behind the indicators: one fact row per activity, and cubes.

``indicator_activity_fact`` holds each counted-or-countable (not deleted) activity with its
dimensions resolved (country, region, thematic area from the topic, ...) and its measures:
the activity counters and its attendance pivoted into one column per attendance value
(``sex_female``, ``age_youth``, ``category_farmer``, ``disability_yes``, ...).

The cubes (``indicator_cube_<grain>``) sum those rows over everything but the activity, at a
few grains: all share the base dimensions (month, status, project, country, region, thematic
area) and each adds at most a couple more. A query reads the smallest table that has every
dimension it groups or filters by. Unknown codes are stored as '' (never NULL) so that a cube
cell has one key and ``ON CONFLICT`` finds it.

Distinct roster participants do not add up, so they get their own roll-ups: the roster links
of the activities with a fact row (``indicator_roster_fact``, the snapshot refreshes compare
against), and each participant's presence per base cell, by month
(``indicator_roster_month``) and over all time (``indicator_roster_all``), counting links.

All are kept current in the write's own transaction (``server.indicators.refresh``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from shared.catalogue import AgeBand, ParticipantCategory, Sex, codes

# Attendance pivoted into measure columns: key -> {value: column}.
PIVOTS: dict[str, dict[str | bool, str]] = {
    "sex": {v: f"sex_{v}" for v in codes(Sex)},
    "age_band": {v: f"age_{v}" for v in codes(AgeBand)},
    "category": {v: f"category_{v}" for v in codes(ParticipantCategory)},
    "disability": {True: "disability_yes", False: "disability_no"},
}
PIVOT_COLUMNS: tuple[str, ...] = tuple(c for cols in PIVOTS.values() for c in cols.values())
ACTIVITY_MEASURES: tuple[str, ...] = ("activities", "demonstrations", "trainings", "expert_days")
MEASURES: tuple[str, ...] = (*ACTIVITY_MEASURES, "participants", *PIVOT_COLUMNS)

# Dimensions every cube has; month is yyyymm of the activity's start date.
BASE_DIMS: tuple[str, ...] = ("month", "status", "project_id", "country", "region", "thematic_area")
# Extra dimensions per cube grain ("topic" carries its solution, which it determines).
GRAINS: dict[str, tuple[str, ...]] = {
    "base": (),
    "solution": ("solution",),
    "topic": ("solution", "topic"),
    "modality": ("modality",),
    "level": ("level",),
    "activity_type": ("activity_type",),
    "delivery": ("delivery",),
    "modality_type": ("modality", "activity_type"),
}
# Every dimension the fact row carries (the cubes' and the per-activity ones).
FACT_DIMS: tuple[str, ...] = (
    *BASE_DIMS,
    "solution",
    "topic",
    "modality",
    "level",
    "activity_type",
    "delivery",
    "site_id",
    "start_date",
)

_DIM_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "month": sa.Integer(),
    "status": sa.String(16),
    "project_id": sa.Uuid(),
    "country": sa.String(3),
    "region": sa.String(3),
    "thematic_area": sa.String(8),
    "solution": sa.String(8),
    "topic": sa.String(8),
    "modality": sa.String(1),
    "level": sa.String(2),
    "activity_type": sa.String(32),
    "delivery": sa.String(16),
}


def _measure_columns() -> list[sa.Column[int]]:
    return [sa.Column(m, sa.BigInteger(), nullable=False, server_default="0") for m in MEASURES]


activity_fact = sa.Table(
    "indicator_activity_fact",
    SQLModel.metadata,
    sa.Column(
        "activity_id", sa.Uuid(), sa.ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True
    ),
    *(sa.Column(d, _DIM_TYPES[d], nullable=False) for d in BASE_DIMS),
    *(
        sa.Column(d, _DIM_TYPES[d], nullable=False)
        for d in ("solution", "topic", "modality", "level", "activity_type", "delivery")
    ),
    sa.Column("site_id", sa.Uuid(), nullable=True),
    sa.Column("start_date", sa.Date(), nullable=False),
    *_measure_columns(),
    sa.Index("ix_indicator_activity_fact_month", "month"),
    sa.Index("ix_indicator_activity_fact_project", "project_id", "month"),
)


def _cube(grain: str, extra: tuple[str, ...]) -> sa.Table:
    dims = BASE_DIMS + extra
    return sa.Table(
        f"indicator_cube_{grain}",
        SQLModel.metadata,
        *(sa.Column(d, _DIM_TYPES[d], nullable=False) for d in dims),
        *_measure_columns(),
        sa.PrimaryKeyConstraint(*dims, name=f"pk_indicator_cube_{grain}"),
    )


CUBES: dict[str, sa.Table] = {grain: _cube(grain, extra) for grain, extra in GRAINS.items()}


def cube_dims(grain: str) -> tuple[str, ...]:
    return BASE_DIMS + GRAINS[grain]


# --- roster (distinct participants) ---------------------------------------------------------

# A participant's presence per cell; ``links`` counts the roster links behind it.
ROSTER_DIMS: tuple[str, ...] = (
    "status",
    "project_id",
    "country",
    "region",
    "thematic_area",
    "participant_id",
)
ROSTER_MONTH_DIMS: tuple[str, ...] = ("month", *ROSTER_DIMS)

roster_fact = sa.Table(
    "indicator_roster_fact",
    SQLModel.metadata,
    sa.Column("activity_id", sa.Uuid(), primary_key=True),
    sa.Column("participant_id", sa.Uuid(), primary_key=True),
)


def _roster_cube(name: str, dims: tuple[str, ...]) -> sa.Table:
    types = {**_DIM_TYPES, "participant_id": sa.Uuid()}
    return sa.Table(
        name,
        SQLModel.metadata,
        *(sa.Column(d, types[d], nullable=False) for d in dims),
        sa.Column("links", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(*dims, name=f"pk_{name}"),
    )


roster_month = _roster_cube("indicator_roster_month", ROSTER_MONTH_DIMS)
roster_all = _roster_cube("indicator_roster_all", ROSTER_DIMS)
ROSTER_CUBES: dict[sa.Table, tuple[str, ...]] = {
    roster_month: ROSTER_MONTH_DIMS,
    roster_all: ROSTER_DIMS,
}
