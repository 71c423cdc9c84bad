"""An indicator's values as a table (the indicator CSV and XLSX of the API and the dashboard):
the row keys as columns, and a result indicator's ``compare`` as one column per compared choice
(``compare:demo``, ``compare:control``), as ``pilotmon pull`` writes it (docs/cli.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from server.indicators.service import IndicatorValues


def value_columns(values: IndicatorValues) -> tuple[str, ...]:
    """The row keys as columns; ``compare`` becomes one column per choice."""
    if "compare" not in values.columns:
        return values.columns
    choices = next((list(r["compare"]) for r in values.rows if r.get("compare")), [])
    found: list[str] = []
    for c in values.columns:
        found.extend([f"compare:{x}" for x in choices] if c == "compare" else [c])
    return tuple(found)


def value_rows(values: IndicatorValues) -> Iterator[list[Any]]:
    """The rows, their cells in the order of ``value_columns``."""
    columns = value_columns(values)
    for row in values.rows:
        cells: list[Any] = []
        for c in columns:
            if c.startswith("compare:"):
                cells.append((row.get("compare") or {}).get(c.split(":", 1)[1]))
            else:
                cells.append(row[c])
        yield cells
