"""An indicator's values as a table (the indicator CSV and XLSX of the API and the dashboard):
the row keys as columns, and a result indicator's ``compare`` as one column per compared choice
(``compare:demo``, ``compare:control``), as ``pilotmon pull`` writes it (docs/cli.md). Grouped by
site, the table names each site too (``site_name`` after ``site``, which is its id): people read
these files, and an id tells them nothing (docs/indicators.md#exports)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from server.indicators.service import IndicatorValues
from server.projects.models import Site

SITE_NAME = "site_name"


def site_names(session: Session, values: IndicatorValues) -> dict[str, str]:
    """The names of the sites ``values`` is grouped by, by id as its rows show it (the rows
    are in the caller's scope already, and so are their sites)."""
    if "site" not in values.columns:
        return {}
    ids = sorted({row["site"] for row in values.rows if row.get("site")})
    if not ids:
        return {}
    found = session.execute(
        select(col(Site.id), col(Site.name)).where(col(Site.id).in_([uuid.UUID(i) for i in ids]))
    )
    return {str(site_id): name for site_id, name in found}


def value_columns(values: IndicatorValues) -> tuple[str, ...]:
    """The row keys as columns; ``compare`` becomes one column per choice; ``site`` is
    followed by ``site_name``."""
    choices = next((list(r["compare"]) for r in values.rows if r.get("compare")), [])
    found: list[str] = []
    for c in values.columns:
        if c == "compare":
            found.extend([f"compare:{x}" for x in choices])
        elif c == "site":
            found.extend([c, SITE_NAME])
        else:
            found.append(c)
    return tuple(found)


def value_rows(values: IndicatorValues, names: Mapping[str, str]) -> Iterator[list[Any]]:
    """The rows, their cells in the order of ``value_columns``; ``names``: ``site_names``."""
    columns = value_columns(values)
    for row in values.rows:
        cells: list[Any] = []
        for c in columns:
            if c.startswith("compare:"):
                cells.append((row.get("compare") or {}).get(c.split(":", 1)[1]))
            elif c == SITE_NAME:
                cells.append(names.get(row["site"]) if row.get("site") else None)
            else:
                cells.append(row[c])
        yield cells
