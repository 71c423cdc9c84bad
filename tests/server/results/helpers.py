"""Result-indicator test worlds: forms built here in the docs' shape, observations written
through ``refresh_observations`` (the delta the observation writer calls), and a naive
computation of every result indicator straight from the observation records."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from server.projects.models import Project
from server.results.models import Form, Observation
from server.results.rollup import refresh_observations
from shared.geography import region_of


def choices(*codes: str) -> list[dict[str, Any]]:
    return [{"code": c, "label": {"en": c.title()}} for c in codes]


HARVEST_FIELDS: list[dict[str, Any]] = [
    {
        "name": "crop",
        "type": "select_one",
        "label": {"en": "Crop"},
        "required": True,
        "choices": choices("potato", "maize"),
    },
    {
        "name": "plot",
        "type": "select_one",
        "label": {"en": "Plot"},
        "required": True,
        "choices": choices("demo", "control"),
    },
    {
        "name": "plot_area_m2",
        "type": "decimal",
        "label": {"en": "Plot area"},
        "unit": "m2",
        "min": 0,
        "max": 100000,
    },
    {
        "name": "harvest_kg",
        "type": "decimal",
        "label": {"en": "Harvest"},
        "unit": "kg",
        "min": 0,
        "max": 100000,
    },
    {"name": "irrigated", "type": "boolean", "label": {"en": "Irrigated"}},
    {
        "name": "pests",
        "type": "select_multiple",
        "label": {"en": "Pests"},
        "choices": choices("aphid", "blight"),
    },
]


def indicator(code: str, aggregate: str, **rest: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": {"en": code.title(), "fr": code.lower()},
        "unit": "",
        "aggregate": aggregate,
        **rest,
    }


HARVEST_INDICATORS: list[dict[str, Any]] = [
    indicator(
        "T_YIELD",
        "ratio",
        numerator="harvest_kg",
        denominator="plot_area_m2",
        factor=10000,
        compare="plot",
        unit="kg/ha",
    ),
    indicator("T_HARVEST_SUM", "sum", field="harvest_kg", unit="kg"),
    indicator("T_HARVEST_MEAN", "mean", field="harvest_kg", unit="kg"),
    indicator("T_HARVEST_MEDIAN", "median", field="harvest_kg", unit="kg", compare="plot"),
    indicator("T_HARVEST_MIN", "min", field="harvest_kg", unit="kg"),
    indicator("T_HARVEST_MAX", "max", field="harvest_kg", unit="kg"),
    indicator("T_PLOTS", "count", unit="plots"),
    indicator("T_IRRIGATED", "share", field="irrigated", unit="%"),
    indicator("T_DEMO_SHARE", "share", field="plot", choice="demo", unit="%"),
    indicator("T_BLIGHT", "share", field="pests", choice="blight", unit="%"),
    indicator(
        "T_LOSS",
        "ratio",
        numerator="harvest_kg",
        denominator="plot_area_m2",
        factor=100,
        unit="%",
        direction="decrease",
    ),
]
# Version 2 adds a select field: observations of version 1 have no value for it.
VARIETY: dict[str, Any] = {
    "name": "variety",
    "type": "select_one",
    "label": {"en": "Variety"},
    "choices": choices("early", "late"),
}


def make_form(
    session: Session,
    *,
    code: str = "T_HARVEST",
    version: int = 1,
    fields: list[dict[str, Any]] | None = None,
    indicators: list[dict[str, Any]] | None = None,
    status: str = "published",
    project: Project | None = None,
) -> Form:
    form = Form(
        code=code,
        version=version,
        title={"en": code.title()},
        project_id=project.id if project else None,
        status=status,
        fields=fields if fields is not None else HARVEST_FIELDS,
        indicators=indicators if indicators is not None else HARVEST_INDICATORS,
    )
    session.add(form)
    session.flush()
    return form


def observe(
    session: Session,
    form: Form,
    project: Project,
    values: Mapping[str, Any],
    *,
    observed_on: date = date(2025, 3, 14),
    status: str = "submitted",
    site_id: uuid.UUID | None = None,
) -> Observation:
    observation = Observation(
        project_id=project.id,
        site_id=site_id,
        form_id=form.id,
        form_version=form.version,
        observed_on=observed_on,
        values=dict(values),
        status=status,
    )
    session.add(observation)
    session.flush()
    refresh_observations(session, [observation.id])
    return observation


def edit(session: Session, observation: Observation, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(observation, name, value)
    session.add(observation)
    session.flush()
    refresh_observations(session, [observation.id])


# --- the naive computation ------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _r(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def naive_value(definition: Mapping[str, Any], observations: Sequence[Mapping[str, Any]]) -> Any:
    aggregate = definition["aggregate"]
    if aggregate == "count":
        return len(observations)
    if aggregate == "ratio":
        pairs = [
            (_number(v.get(definition["numerator"])), _number(v.get(definition["denominator"])))
            for v in observations
        ]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        bottom = sum(b for _, b in pairs)  # type: ignore[misc]
        if not pairs or not bottom:
            return None
        return _r(definition.get("factor", 1) * sum(a for a, _ in pairs) / bottom)  # type: ignore[misc]
    if aggregate == "share":
        answered = [
            v.get(definition["field"])
            for v in observations
            if v.get(definition["field"]) not in (None, "", [])
        ]
        if not answered:
            return None
        yes = [
            a
            for a in answered
            if (a is True)
            or (isinstance(a, list) and definition.get("choice") in a)
            or (isinstance(a, str) and a == definition.get("choice"))
        ]
        return _r(100 * len(yes) / len(answered))
    numbers = [n for v in observations if (n := _number(v.get(definition["field"]))) is not None]
    if not numbers:
        return None
    return {
        "sum": lambda: _r(sum(numbers), 4),
        "mean": lambda: _r(sum(numbers) / len(numbers)),
        "median": lambda: _r(statistics.median(numbers)),
        "min": lambda: _r(min(numbers), 4),
        "max": lambda: _r(max(numbers), 4),
    }[aggregate]()


def _period(key: str, day: date) -> str:
    if key == "period:month":
        return f"{day.year:04d}-{day.month:02d}"
    if key == "period:quarter":
        return f"{day.year:04d}Q{(day.month + 2) // 3}"
    return f"{day.year:04d}"


Records = tuple[dict[uuid.UUID, Form], dict[uuid.UUID, Project], list[Observation]]


def read_records(session: Session) -> Records:
    """What ``naive_rows`` computes from: every form and project by id, every observation."""
    return (
        {f.id: f for f in session.exec(select(Form)).all()},
        {p.id: p for p in session.exec(select(Project)).all()},
        list(session.execute(sa.select(Observation)).scalars()),
    )


def naive_rows(
    session: Session,
    code: str,
    keys: Sequence[str],
    *,
    statuses: Sequence[str] = ("submitted", "approved"),
    projects: set[uuid.UUID] | None = None,
    countries: set[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    records: Records | None = None,
) -> dict[tuple[Any, ...], Any]:
    """{keys: value} (with compare: {keys: (value, compare, uplift)}) from the records.

    ``records``: the forms, projects and observations read once (``read_records``) by a test
    that asks many questions of an unchanging world; by default they are read again."""
    forms, by_project, observations = records or read_records(session)
    latest: dict[str, Form] = {}
    for f in sorted(forms.values(), key=lambda f: f.version):
        if f.status in ("published", "retired"):
            latest[f.code] = f
    definition = next((i, f) for f in latest.values() for i in f.indicators if i["code"] == code)
    ind, form = definition
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for o in observations:
        f = forms[o.form_id]
        if o.deleted or f.code != form.code or o.status not in statuses:
            continue
        p = by_project[o.project_id]
        if projects is not None and p.id not in projects:
            continue
        if countries is not None and p.country not in countries:
            continue
        if date_from is not None and o.observed_on < date_from:
            continue
        if date_to is not None and o.observed_on > date_to:
            continue
        row: list[Any] = []
        for k in keys:
            if k == "project":
                row.append(p.code)
            elif k == "site":
                row.append(str(o.site_id) if o.site_id else None)
            elif k == "country":
                row.append(p.country)
            elif k == "region":
                row.append(region_of(p.country))
            elif k == "thematic_area":
                row.append(p.thematic_area)
            elif k.startswith("period:"):
                row.append(_period(k, o.observed_on))
            else:
                name = k.split(":", 1)[1]
                selects = {x["name"] for x in f.fields if x["type"] == "select_one"}
                value = o.values.get(name) if name in selects else None
                row.append(None if value is None else str(value))
        groups[tuple(row)].append(o.values)
    found: dict[tuple[Any, ...], Any] = {}
    compare = ind.get("compare")
    for key, members in groups.items():
        value = naive_value(ind, members)
        if not compare:
            found[key] = value
            continue
        order = [c["code"] for x in form.fields if x["name"] == compare for c in x["choices"]]
        side = {
            c: (
                naive_value(ind, picked)
                if (picked := [m for m in members if m.get(compare) == c])
                else None
            )
            for c in order
        }
        first, second = side[order[0]], side[order[1]]
        up = (
            None
            if first is None or second is None or not second
            else _r(100 * (first - second) / second)
        )
        found[key] = (value, side, up)
    return found


# --- the five shipped forms, in the shape of docs/results.md "Shipped forms" ------------------
# (test-only stand-ins until server/results/shipped.py is in this branch)


def _f(name: str, kind: str, *codes: str, unit: str | None = None) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "type": kind, "label": {"en": name.replace("_", " ")}}
    if codes:
        field["choices"] = choices(*codes)
    if unit:
        field["unit"] = unit
    return field


SHIPPED: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "DEMO_PLOT_HARVEST": (
        [
            _f("crop", "select_one", "potato", "banana", "cocoa", "maize"),
            _f("plot", "select_one", "demo", "control"),
            _f("practice", "text"),
            _f("plot_area_m2", "decimal", unit="m2"),
            _f("harvest_kg", "decimal", unit="kg"),
            _f("harvest_date", "date"),
        ],
        [
            indicator(
                "YIELD_KG_HA",
                "ratio",
                numerator="harvest_kg",
                denominator="plot_area_m2",
                factor=10000,
                compare="plot",
                unit="kg/ha",
            ),
        ],
    ),
    "STORAGE_LOSS_CHECK": (
        [
            _f("storage", "select_one", "traditional", "hermetic_bag", "metal_silo", "warehouse"),
            _f("stored_kg", "decimal", unit="kg"),
            _f("lost_kg", "decimal", unit="kg"),
            _f("weeks_stored", "integer", unit="weeks"),
        ],
        [
            indicator(
                "LOSS_PCT",
                "ratio",
                numerator="lost_kg",
                denominator="stored_kg",
                factor=100,
                compare="storage",
                direction="decrease",
                unit="%",
            ),
        ],
    ),
    "ADOPTION_FOLLOW_UP": (
        [
            _f("practice", "text"),
            _f("farmers_visited", "integer", unit="farmers"),
            _f("farmers_applying", "integer", unit="farmers"),
            _f("women_applying", "integer", unit="farmers"),
        ],
        [
            indicator(
                "ADOPTION_RATE",
                "ratio",
                numerator="farmers_applying",
                denominator="farmers_visited",
                factor=100,
                unit="%",
            ),
            indicator("WOMEN_ADOPTERS", "sum", field="women_applying", unit="farmers"),
        ],
    ),
    "PRODUCT_SALES": (
        [
            _f("product", "text"),
            _f("channel", "select_one", "local_market", "cooperative", "e_commerce", "export"),
            _f("volume_kg", "decimal", unit="kg"),
            _f("value_usd", "decimal", unit="USD"),
        ],
        [
            indicator("SALES_USD", "sum", field="value_usd", unit="USD"),
            indicator(
                "PRICE_USD_KG",
                "ratio",
                numerator="value_usd",
                denominator="volume_kg",
                unit="USD/kg",
            ),
        ],
    ),
    "PREPAREDNESS_CHECK": (
        [
            _f("households", "integer", unit="households"),
            _f("households_with_plan", "integer", unit="households"),
            _f("early_warning_received", "boolean"),
        ],
        [
            indicator(
                "PREPARED_SHARE",
                "ratio",
                numerator="households_with_plan",
                denominator="households",
                factor=100,
                unit="%",
            ),
            indicator("EARLY_WARNING_SHARE", "share", field="early_warning_received", unit="%"),
        ],
    ),
}


def publish_shipped(session: Session) -> None:
    for code, (fields, indicators) in SHIPPED.items():
        make_form(session, code=code, fields=fields, indicators=indicators)
