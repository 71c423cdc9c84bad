"""The attendance grid: sex × age band counts for each participant category, with and without a
disability, with the live totals and the women's share the form shows.

Counts are absolute (docs/product.md#domain): the grid turns into one wire row per non-zero cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from field_app.controllers import labels
from field_app.i18n import _, decimal, number, percent
from shared.catalogue import AgeBand, ParticipantCategory, Sex, codes
from shared.units import with_unit
from shared.validation import MAX_ATTENDANCE_TOTAL, MAX_COUNT

SEXES = codes(Sex)
AGE_BANDS = codes(AgeBand)
CATEGORIES = codes(ParticipantCategory)


@dataclass(frozen=True, slots=True)
class Cell:
    category: str
    disability: bool
    sex: str
    age_band: str


def grid_order(cell: Cell) -> tuple[int, bool, int, int]:
    """The grid's order: category, without a disability first, sex, age band (a code the
    catalogue lacks goes last)."""

    def index(known: list[str], code: str) -> int:
        return known.index(code) if code in known else len(known)

    return (
        index(CATEGORIES, cell.category),
        cell.disability,
        index(SEXES, cell.sex),
        index(AGE_BANDS, cell.age_band),
    )


class AttendanceError(ValueError):
    """A cell's text is not a count; the message says what to type instead."""


class CountTooLarge(AttendanceError):
    """A whole number, but more than one cell may hold."""


def too_large_text() -> str:
    return _("At most {high} in one cell").format(high=number(MAX_COUNT))


def parse_count(text: str) -> int:
    """The count typed in a cell: blank is 0; anything but a whole number 0…MAX_COUNT fails."""
    cleaned = text.strip()
    if not cleaned:
        return 0
    if not cleaned.isdigit():
        raise AttendanceError(_("Type a whole number, e.g. 12"))
    value = int(cleaned)
    if value > MAX_COUNT:
        raise CountTooLarge(too_large_text())
    return value


class AttendanceGrid:
    """Counts by cell; every total is computed from the cells, so they are never out of step."""

    def __init__(self) -> None:
        self._counts: dict[Cell, int] = {}

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> AttendanceGrid:
        grid = cls()
        for row in rows:
            cell = Cell(
                str(row["category"]), bool(row["disability"]), str(row["sex"]), str(row["age_band"])
            )
            grid._counts[cell] = grid._counts.get(cell, 0) + int(row["count"])
        return grid

    @classmethod
    def from_counts(cls, counts: Mapping[Cell, int]) -> AttendanceGrid:
        """The grid of ``counts`` (a cell of 0 is left out, as ``set`` leaves it)."""
        grid = cls()
        grid._counts = {cell: n for cell, n in counts.items() if n}
        return grid

    def get(self, cell: Cell) -> int:
        return self._counts.get(cell, 0)

    def set(self, cell: Cell, count: int) -> None:
        if (
            cell.sex not in SEXES
            or cell.age_band not in AGE_BANDS
            or cell.category not in CATEGORIES
        ):
            raise AttendanceError(f"no such cell: {cell}")
        if not 0 <= count <= MAX_COUNT:
            raise CountTooLarge(too_large_text())
        if count:
            self._counts[cell] = count
        else:
            self._counts.pop(cell, None)

    def set_text(self, cell: Cell, text: str) -> int:
        """Set a cell from what was typed; raises :class:`AttendanceError` with the reason."""
        count = parse_count(text)
        self.set(cell, count)
        return count

    def total(
        self,
        *,
        category: str | None = None,
        disability: bool | None = None,
        sex: str | None = None,
        age_band: str | None = None,
    ) -> int:
        """The sum over the cells that match every given key."""
        return sum(
            n
            for c, n in self._counts.items()
            if (category is None or c.category == category)
            and (disability is None or c.disability == disability)
            and (sex is None or c.sex == sex)
            and (age_band is None or c.age_band == age_band)
        )

    def women_share(self, **keys: Any) -> float | None:
        """100 × women / everyone over the matching cells; None when nobody is counted."""
        everyone = self.total(**keys)
        if everyone == 0:
            return None
        return 100.0 * self.total(sex="female", **keys) / everyone

    def too_many(self) -> bool:
        return self.total() > MAX_ATTENDANCE_TOTAL

    def rows(self) -> list[dict[str, Any]]:
        """The wire rows, one per non-zero cell, in the grid's order (``grid_order``)."""
        cells = sorted(self._counts, key=grid_order)
        return [
            {
                "sex": c.sex,
                "age_band": c.age_band,
                "category": c.category,
                "disability": c.disability,
                "count": self._counts[c],
            }
            for c in cells
        ]


def chip_counts(grid: AttendanceGrid, category: str) -> dict[str, str]:
    """The count on every chip above the grid: each category's total, and the shown
    category's people without and with a disability."""
    counts = {c: number(grid.total(category=c)) for c in CATEGORIES}
    counts["without"] = number(grid.total(category=category, disability=False))
    counts["with"] = number(grid.total(category=category, disability=True))
    return counts


def grid_caption(category: str, disability: bool) -> str:
    """Which part of the attendance the grid shows, in words ("Farmers without a disability")."""
    name = labels.label(labels.CATEGORIES, category)
    if disability:
        return _("Counting: {category} with a disability").format(category=name)
    return _("Counting: {category} without a disability").format(category=name)


def share_text(share: float) -> str:
    """A share in per cent as the tablet writes every share: whole ("47 %", no-break,
    i18n.percent), but never "100 %" or "0 %" unless it is exactly that: 12 345 women of 12 355
    people read "99.9 %", one woman of 2 000 "0.1 %" (a whole percent claimed that no man, or
    no woman, was there)."""
    if share != round(share) and round(share) in (0, 100):
        nearest = min(max(round(share, 1), 0.1), 99.9)
        return with_unit(decimal(nearest, 1), "%")
    return percent(share)


def format_share(share: float | None) -> str:
    """A women's share for display (:func:`share_text`), or an en dash when nobody is
    counted."""
    return "–" if share is None else share_text(share)
