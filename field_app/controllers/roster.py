"""The roster of a project (for unique counts): register participants by the code on their
card, typed or scanned, and tick who attended this activity."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from field_app.controllers import labels
from field_app.controllers.activities import fold
from field_app.controllers.attendance import AttendanceGrid, Cell
from field_app.controllers.messages import field_message
from field_app.i18n import _
from shared.indicators import age_band_at
from shared.validation import OLDEST_AGE_YEARS, TEXT_LIMITS, validate_participant


def code_from_scan(text: str) -> str:
    """The participant code in what a QR card holds: the bare code, or a
    ``pilotmon:participant?code=…`` link."""
    raw = text.strip()
    if raw.startswith("pilotmon:"):
        values = parse_qs(urlsplit(raw).query).get("code")
        return values[0].strip() if values else ""
    return raw


@dataclass(frozen=True, slots=True)
class RosterRow:
    id: str
    code: str
    details: str
    ticked: bool
    search: str


class Roster:
    def __init__(
        self,
        *,
        project_id: str,
        participants: Iterable[Mapping[str, Any]],
        ticked: Iterable[str],
        today: date,
    ) -> None:
        self.project_id = project_id
        self.people: dict[str, dict[str, Any]] = {
            str(p["id"]): dict(p) for p in participants if not p.get("deleted")
        }
        self.ticked: list[str] = [t for t in dict.fromkeys(ticked)]
        self.today = today
        self.query = ""

    def by_code(self, code: str) -> dict[str, Any] | None:
        wanted = code.strip().casefold()
        return next(
            (p for p in self.people.values() if str(p.get("code", "")).casefold() == wanted), None
        )

    def register(
        self, *, code: str, sex: str, birth_year: str, category: str, disability: bool
    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """A new participant (ticked at once), or the errors by field. A code already on the
        roster ticks that person instead."""
        code = code_from_scan(code)
        known = self.by_code(code) if code else None
        if known is not None:
            self.tick(str(known["id"]), True)
            return None, {}
        participant, errors = self.check(
            code=code, sex=sex, birth_year=birth_year, category=category, disability=disability
        )
        if participant is None:
            return None, errors
        self.people[participant["id"]] = participant
        self.tick(participant["id"], True)
        return participant, {}

    def check(
        self, *, code: str, sex: str, birth_year: str, category: str, disability: bool
    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The participant these entries make, or the errors by field in the current language
        (nothing registered: asked again after a language switch)."""
        code = code_from_scan(code)
        year: Any = birth_year.strip()
        year = int(year) if year.isdigit() else (year or None)
        data = {
            "id": str(uuid.uuid4()),
            "project_id": self.project_id,
            "code": code,
            "sex": sex or "unspecified",
            "birth_year": year,
            "category": category or "farmer",
            "disability": disability,
        }
        result = validate_participant(data, today=self.today)
        if not result.ok:
            params = {
                "high": TEXT_LIMITS["participant_code"],
                "low": self.today.year - OLDEST_AGE_YEARS,
            }
            errors: dict[str, str] = {}
            for item in result.errors:
                if item.field == "birth_year" and item.code == "birth_year_range":
                    params["high"] = self.today.year
                errors.setdefault(item.field, field_message(item, params))
            return None, errors
        return result.clean, {}

    def tick(self, participant_id: str, on: bool | None = None) -> None:
        now_on = participant_id not in self.ticked if on is None else on
        if now_on and participant_id not in self.ticked:
            self.ticked.append(participant_id)
        elif not now_on and participant_id in self.ticked:
            self.ticked.remove(participant_id)

    def rows(self) -> list[RosterRow]:
        terms = fold(self.query).split()
        found = []
        for person in sorted(self.people.values(), key=lambda p: str(p.get("code", ""))):
            details = self.details(person)
            search = fold(f"{person.get('code', '')} {details}")
            if all(t in search for t in terms):
                found.append(
                    RosterRow(
                        str(person["id"]),
                        str(person.get("code", "")),
                        details,
                        str(person["id"]) in self.ticked,
                        search,
                    )
                )
        return found

    def details(self, person: Mapping[str, Any]) -> str:
        parts = [labels.label(labels.SEXES, person.get("sex") or "unspecified")]
        if person.get("birth_year"):
            parts.append(_("born {year}").format(year=person["birth_year"]))
        parts.append(labels.label(labels.CATEGORIES, person.get("category") or "farmer"))
        if person.get("disability"):
            parts.append(_("with a disability"))
        return " · ".join(parts)

    def attendance(self, year: int) -> AttendanceGrid:
        """The attendance grid the ticked people make (age bands in the activity's year)."""
        grid = AttendanceGrid()
        for person_id in self.ticked:
            person = self.people.get(person_id)
            if person is None:
                continue
            cell = Cell(
                category=str(person.get("category") or "farmer"),
                disability=bool(person.get("disability")),
                sex=str(person.get("sex") or "unspecified"),
                age_band=age_band_at(person.get("birth_year"), year),
            )
            grid.set(cell, grid.get(cell) + 1)
        return grid
