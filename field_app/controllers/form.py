"""The activity form: what each field offers, what was typed, what is wrong with it, and the
records a save writes (the activity, perhaps a new site, and the photos' metadata).

Validation is ``shared.validation`` — the server's own rules — run on every change, so the app
never queues what the server would reject. Errors show next to a field once it has been touched,
and next to every field once the user presses Save.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from field_app.controllers import dates, labels
from field_app.controllers.attendance import (
    AttendanceError,
    AttendanceGrid,
    Cell,
    share_text,
    too_large_text,
)
from field_app.controllers.messages import field_message, rejected_site, rejected_site_message
from field_app.i18n import _, language, number
from shared.catalogue import SOLUTIONS, TOPICS, topics_of
from shared.errors import ErrorCode
from shared.typography import TypedNumberError, read_typed_number, typed_minus
from shared.validation import (
    FUTURE_DAYS,
    MAX_ATTENDANCE_TOTAL,
    MAX_COUNT,
    MAX_EXPERTS,
    MAX_FACILITATORS,
    MAX_PARTICIPANT_IDS,
    TEXT_LIMITS,
    Issue,
    ProjectFacts,
    SiteFacts,
    validate_activity,
    validate_attendance,
    validate_site,
)

NEW_SITE = "__new__"
NO_CHOICE = ""

# Form fields, in screen order. ``attendance``, ``participants`` and ``photos`` are widgets of
# their own; the rest are one text box or one picker each.
TEXT_FIELDS = (
    "title",
    "start_date",
    "end_date",
    "new_site_name",
    "new_site_admin_area",
    "facilitators",
    "experts_count",
    "lat",
    "lon",
    "accuracy",
    "notes",
)
CHOICE_FIELDS = ("type", "site", "topic", "modality", "level", "delivery", "value_chain_stage")
REQUIRED_FIELDS = frozenset({"type", "title", "start_date", "end_date"})
_LOCATION_FIELDS = ("lat", "lon", "accuracy")
_GROUPS: dict[str, tuple[str, ...]] = {
    **{name: _LOCATION_FIELDS for name in _LOCATION_FIELDS},
    "start_date": ("start_date", "end_date"),
    "end_date": ("start_date", "end_date"),
    "new_site_name": ("site", "new_site_name"),
    "new_site_admin_area": ("site", "new_site_admin_area"),
}


def project_facts(project: Mapping[str, Any]) -> ProjectFacts:
    """The facts ``shared.validation`` checks an activity against, from a pulled project."""
    return ProjectFacts(
        id=str(project["id"]).lower(),
        country=str(project["country"]),
        solutions=tuple(project.get("solutions") or ()),
        start_date=date.fromisoformat(str(project["start_date"])),
        end_date=date.fromisoformat(str(project["end_date"])),
    )


def site_facts(site: Mapping[str, Any]) -> SiteFacts:
    return SiteFacts(
        id=str(site["id"]).lower(),
        project_id=str(site["project_id"]).lower(),
        lat=site.get("lat"),
        lon=site.get("lon"),
    )


# The role whose tablet changes only the records its person recorded (docs/roles.md); the
# server refuses its change of another's with ``not_your_record``.
FIELD_EXPERT = "field_expert"


def refused_as_not_yours(errors: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the server refused the record's last change because another person recorded it."""
    return any(str(e.get("code") or "") == ErrorCode.NOT_YOUR_RECORD for e in errors)


def recorded_by_another(
    record: Mapping[str, Any],
    errors: Iterable[Mapping[str, Any]],
    *,
    role: str,
    user_id: str | None,
) -> bool:
    """Whether the server would refuse this tablet's change of ``record`` as another's, by the
    rule it applies (server.activities.service.refusal): a field expert changes only what they
    recorded; a country officer or an admin anything in scope. ``user_id`` is the tablet's
    person, None while unknown; a record the server has not yet taken (no ``created_by_id``)
    was recorded here."""
    if refused_as_not_yours(errors):
        return True
    created_by = str(record.get("created_by_id") or "").lower()
    if role != FIELD_EXPERT or not created_by or not user_id:
        return False
    return created_by != user_id.lower()


def recorded_by_text() -> str:
    """The banner of a record the tablet's person may not change. A pull names its author by
    id only (``created_by_id``), never by username, so the tablet says "a colleague"."""
    return _("Recorded by a colleague: only they can change it.")


@dataclass(frozen=True, slots=True)
class Photo:
    """A downscaled photo kept on the tablet, waiting to travel with its activity."""

    id: str
    path: str
    sha256: str
    size: int
    content_type: str
    caption: str = ""

    def metadata(self, activity_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "activity_id": activity_id,
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "caption": self.caption,
        }


@dataclass(frozen=True, slots=True)
class Save:
    """What one press of Save writes to the device store, in one transaction."""

    activity: dict[str, Any]
    new_site: dict[str, Any] | None
    photos: tuple[Photo, ...]
    is_new: bool


@dataclass
class FieldState:
    text: str = ""
    touched: bool = False


@dataclass
class Check:
    """The outcome of validating the whole form."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _split_names(text: str) -> list[str]:
    parts = [p.strip() for line in text.splitlines() for p in line.split(",")]
    return [p for p in parts if p]


def coordinate_keys(typed: str, _from_undo: bool = False) -> str:
    """What a coordinate box keeps of what was typed (its ``input_filter``): digits, one kind of
    sign and a decimal point, a decimal comma read as a point. The boxes use the full keyboard
    (``input_type: "text"``): Android's number keyboard may have no minus and no decimal key,
    and latitudes south of the equator and longitudes west of Greenwich are negative; a minus
    sign pasted from a page (U+2212, as the app writes "−29,31") is kept as the minus."""
    typed = typed_minus(typed)
    return "".join("." if ch == "," else ch for ch in typed if ch.isdigit() or ch in "-.,")


def _number(text: str) -> Any:
    """A typed number as the wire wants it; text that is not one goes through unchanged so that
    the shared validation names the problem."""
    cleaned = text.strip().replace(",", ".")
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return text.strip()
    return int(value) if value.is_integer() and "." not in cleaned else value


def _whole(text: str) -> Any:
    """A typed count as the wire wants it: a whole number, read as the tablet's language writes
    it ("1,200" in English, "1 200" in French, "1.200" in Portuguese); anything else goes
    through as typed ("2.5", or French "1.200", which may be 1.2), for the shared rules to
    refuse — never another number."""
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        value = read_typed_number(cleaned, language())
    except TypedNumberError:
        return cleaned
    return value if isinstance(value, int) else cleaned


def count_text(text: str) -> str:
    """What an attendance cell holds, for :func:`~field_app.controllers.attendance.parse_count`:
    a whole number's digits when the text is one as the language writes it ("1,200" in
    English), else the text as typed, which the grid refuses ("2.5" is not 25)."""
    value = _whole(text)
    if value is None:
        return ""
    return str(value) if isinstance(value, int) and value >= 0 else text


def form_field(wire_field: str) -> str:
    """The form field a validation issue belongs to ("location.lat" -> "lat")."""
    head = wire_field.split("[", 1)[0].split(".", 1)[0]
    if head == "location":
        tail = wire_field.split(".", 1)[1] if "." in wire_field else "lat"
        return {"lat": "lat", "lon": "lon", "accuracy_m": "accuracy"}.get(tail, "lat")
    return {
        "site_id": "site",
        "participant_ids": "participants",
        "experts_count": "experts_count",
    }.get(head, head)


class ActivityForm:
    """One activity being written or corrected. ``today`` is the best estimate of the server's
    date (the tablet clock corrected by the offset seen at the last sync)."""

    def __init__(
        self,
        *,
        project: Mapping[str, Any],
        sites: Sequence[Mapping[str, Any]],
        today: date,
        record: Mapping[str, Any] | None = None,
        photos: Iterable[Photo] = (),
    ) -> None:
        self.project = dict(project)
        self.facts = project_facts(project)
        # A site the office rejected is not offered nor valid (the server refuses an activity
        # at it); kept by name to say so of a record still at it.
        self.sites = [dict(s) for s in sites if not rejected_site(s)]
        self.rejected_sites = {
            str(s["id"]).lower(): str(s.get("name") or "") for s in sites if rejected_site(s)
        }
        self.today = today
        self.is_new = record is None
        self.values: dict[str, FieldState] = {
            name: FieldState() for name in (*TEXT_FIELDS, *CHOICE_FIELDS)
        }
        self.values["delivery"].text = "in_person"
        self.attendance = AttendanceGrid()
        # The cells whose text is not a count, each with what the shared validation says of it.
        self.attendance_errors: dict[Cell, str] = {}
        self.participant_ids: list[str] = []
        self.photos: list[Photo] = list(photos)
        self.submitted = False  # Save was pressed: show every error, touched or not
        self.new_site_id = str(uuid.uuid4())  # used only if the user picks "New site…"
        self._captured_at: str | None = None
        if record is not None:
            self.id = str(record["id"])
            self._load(record)
        else:
            self.id = str(uuid.uuid4())
            self.values["start_date"].text = today.isoformat()
            self.values["end_date"].text = today.isoformat()
        self._last = self.check()

    # -- choices ---------------------------------------------------------------------------

    def choices(self, name: str) -> list[tuple[str, str]]:
        """``(code, label)`` pairs a picker offers, in the current language."""
        if name == "type":
            return labels.choices(labels.ACTIVITY_TYPES)
        if name == "site":
            sites = sorted(self.sites, key=lambda s: str(s.get("name", "")).lower())
            return (
                [(NO_CHOICE, _("No site"))]
                + [(str(s["id"]), str(s["name"])) for s in sites]
                + [(NEW_SITE, _("New site…"))]
            )
        if name == "topic":
            return [(NO_CHOICE, _("No topic"))] + [
                (t.code, labels.topic_label(t.code)) for t in topics_of(self.facts.solutions)
            ]
        if name == "modality":
            topic = TOPICS.get(self.values["topic"].text)
            allowed = [m.value for m in SOLUTIONS[topic.solution].modalities] if topic else None
            return [(NO_CHOICE, _("Not set")), *labels.choices(labels.MODALITIES, allowed)]
        table = {
            "level": labels.LEVELS,
            "delivery": labels.DELIVERIES,
            "value_chain_stage": labels.VALUE_CHAIN_STAGES,
        }[name]
        empty = [] if name == "delivery" else [(NO_CHOICE, _("Not set"))]
        return empty + labels.choices(table)

    def choice_label(self, name: str) -> str:
        code = self.values[name].text
        return next((text for value, text in self.choices(name) if value == code), code)

    # -- editing ---------------------------------------------------------------------------

    def set(self, name: str, text: str) -> Check:
        """Set a text box or a picker; returns the fresh check of the whole form."""
        if name not in self.values:
            raise KeyError(f"the activity form has no field {name!r}")
        state = self.values[name]
        state.text = text
        state.touched = True
        if name == "topic":
            # A modality the new topic's solution does not use would only earn a warning;
            # clear it so the picker shows what fits.
            allowed = {code for code, _label in self.choices("modality")}
            if self.values["modality"].text not in allowed:
                self.values["modality"].text = NO_CHOICE
        return self._refresh()

    def text(self, name: str) -> str:
        return self.values[name].text

    def set_attendance(self, cell: Cell, text: str) -> Check:
        """Set one cell of the grid from what was typed."""
        try:
            self.attendance.set_text(cell, count_text(text))
            self.attendance_errors.pop(cell, None)
        except AttendanceError:
            # What the cell shows is not a count: it counts for nothing (not the value it
            # held a keystroke earlier) until it is fixed, and the shared rules say why.
            self.attendance.set(cell, 0)
            self.attendance_errors[cell] = self._cell_problem(cell, text)
        return self._refresh()

    def _cell_problem(self, cell: Cell, text: str) -> str:
        """What the shared validation says of a cell holding ``text``, in the form's words:
        not a whole number, below 0, or more than one cell may hold."""
        typed = typed_minus(text).strip()
        try:
            count: Any = int(typed)
        except ValueError:
            count = typed
        row = {
            "sex": cell.sex,
            "age_band": cell.age_band,
            "category": cell.category,
            "disability": cell.disability,
            "count": count,
        }
        issues = validate_attendance([row])
        if not issues:  # parse_count and the shared rules disagree: a bug, said plainly
            return _("Some cells are not whole numbers")
        return self._attendance_message(issues[0])

    def _attendance_message(self, item: Issue) -> str:
        if item.code == ErrorCode.NOT_INTEGER:
            return _("Some cells are not whole numbers")
        if item.code == ErrorCode.COUNT_RANGE and int(item.params.get("value", 0)) > MAX_COUNT:
            return too_large_text()
        if item.code == ErrorCode.COUNT_RANGE:
            return field_message(item, {"low": 0, "high": number(MAX_COUNT)})
        return field_message(item, self._params("attendance"))

    def set_location(self, lat: float, lon: float, accuracy_m: float | None) -> Check:
        """A GPS fix fills the three location boxes."""
        self.values["lat"].text = f"{lat:.6f}"
        self.values["lon"].text = f"{lon:.6f}"
        self.values["accuracy"].text = "" if accuracy_m is None else f"{accuracy_m:.0f}"
        for name in ("lat", "lon", "accuracy"):
            self.values[name].touched = True
        return self._refresh()

    def set_participants(self, ids: Iterable[str]) -> Check:
        self.participant_ids = list(dict.fromkeys(str(i) for i in ids))
        return self._refresh()

    def add_photo(self, photo: Photo) -> bool:
        """Add a photo; False (and nothing added) when the same photo is already on the form."""
        if any(p.sha256 == photo.sha256 for p in self.photos):
            return False
        self.photos.append(photo)
        return True

    def remove_photo(self, photo_id: str) -> None:
        self.photos = [p for p in self.photos if p.id != photo_id]

    # -- checking --------------------------------------------------------------------------

    @property
    def new_site(self) -> bool:
        return self.values["site"].text == NEW_SITE

    def wire(self) -> dict[str, Any]:
        """The activity as the protocol carries it (``shared.validation`` normalises it)."""
        v = {name: state.text for name, state in self.values.items()}
        site = v["site"]
        data: dict[str, Any] = {
            "id": self.id,
            "project_id": self.facts.id,
            "site_id": (self.new_site_id if site == NEW_SITE else site) or None,
            "type": v["type"] or None,
            "title": v["title"],
            "start_date": v["start_date"],
            "end_date": v["end_date"],
            "topic": v["topic"] or None,
            "modality": v["modality"] or None,
            "level": v["level"] or None,
            "delivery": v["delivery"] or "in_person",
            "value_chain_stage": v["value_chain_stage"] or None,
            "facilitators": _split_names(v["facilitators"]),
            "experts_count": _whole(v["experts_count"]) if v["experts_count"].strip() else 0,
            "location": self._location(v),
            "notes": v["notes"].strip(),
            "attendance": self.attendance.rows(),
            "status": "submitted",
        }
        if self.participant_ids:
            data["participant_ids"] = list(self.participant_ids)
        return data

    def _location(self, v: Mapping[str, str]) -> dict[str, Any] | None:
        lat, lon, accuracy = (_number(v[k]) for k in ("lat", "lon", "accuracy"))
        if lat is None and lon is None and accuracy is None:
            return None
        # A half-given location reaches validation with the missing part blank, so the
        # message names it.
        location = {"lat": "" if lat is None else lat, "lon": "" if lon is None else lon}
        if accuracy is not None:
            location["accuracy_m"] = accuracy
        return location

    def site_wire(self) -> dict[str, Any] | None:
        if not self.new_site:
            return None
        lat, lon = _number(self.values["lat"].text), _number(self.values["lon"].text)
        return {
            "id": self.new_site_id,
            "project_id": self.facts.id,
            "name": self.values["new_site_name"].text,
            "admin_area": self.values["new_site_admin_area"].text,
            "lat": lat if isinstance(lat, int | float) else None,
            "lon": lon if isinstance(lon, int | float) else None,
        }

    def check(self) -> Check:
        """Validate the whole form with the shared rules; messages keyed by form field."""
        sites = {str(s["id"]).lower(): site_facts(s) for s in self.sites}
        new_site = self.site_wire()
        if new_site is not None:
            sites[new_site["id"]] = SiteFacts(new_site["id"], self.facts.id, None, None)
        result = validate_activity(self.wire(), project=self.facts, sites=sites, today=self.today)
        check = Check()
        # Every problem of the attendance is said, each once: a cell not a number, another
        # below 0, a third too large, the total too large (one message hid the others).
        attendance = list(dict.fromkeys(self.attendance_errors.values()))
        for item in result.errors:
            if form_field(item.field) == "attendance":
                attendance.append(self._attendance_message(item))
            else:
                self._note(check.errors, item)
        for item in result.warnings:
            self._note(check.warnings, item)
        if new_site is not None:
            site_check = validate_site(new_site, project=self.facts)
            for item in site_check.errors:
                name = {"name": "new_site_name", "admin_area": "new_site_admin_area"}.get(
                    item.field, item.field if item.field in ("lat", "lon") else "new_site_name"
                )
                check.errors.setdefault(name, field_message(item, self._params(name)))
        rejected = self.rejected_sites.get(self.values["site"].text.lower())
        if rejected is not None:
            check.errors["site"] = rejected_site_message(rejected)
        if attendance:
            check.errors["attendance"] = "\n".join(dict.fromkeys(attendance))
        if len(_split_names(self.values["facilitators"].text)) > MAX_FACILITATORS:
            check.errors.setdefault(
                "facilitators", _("Too many entries: at most {high}").format(high=MAX_FACILITATORS)
            )
        return check

    def _note(self, into: dict[str, str], item: Issue) -> None:
        name = form_field(item.field)
        into.setdefault(name, field_message(item, self._params(name)))

    def _params(self, name: str) -> dict[str, object]:
        limit = self.today.toordinal() + FUTURE_DAYS
        params: dict[str, object] = {
            # In words, as the date boxes show them ("1 janvier 2024").
            "start": dates.in_words(self.facts.start_date.isoformat()),
            "end": dates.in_words(self.facts.end_date.isoformat()),
            "limit": dates.in_words(date.fromordinal(limit).isoformat()),
            "country": labels.label(labels.COUNTRY_NAMES, self.facts.country),
            "high": {
                "title": TEXT_LIMITS["title"],
                "notes": TEXT_LIMITS["notes"],
                "new_site_name": TEXT_LIMITS["name"],
                "new_site_admin_area": TEXT_LIMITS["admin_area"],
                "facilitators": TEXT_LIMITS["facilitator"],
                "experts_count": MAX_EXPERTS,
                "attendance": number(MAX_ATTENDANCE_TOTAL),
                "participants": MAX_PARTICIPANT_IDS,
            }.get(name, ""),
            "low": 0,
        }
        return params

    def _refresh(self) -> Check:
        self._last = self.check()
        return self._last

    def visible_errors(self) -> dict[str, str]:
        """The errors to show now: for touched fields, or all of them after Save."""
        errors = self._last.errors
        if self.submitted:
            return dict(errors)
        return {
            k: v
            for k, v in errors.items()
            if k in ("attendance", "participants") or self._touched(k)
        }

    def warnings(self) -> dict[str, str]:
        return dict(self._last.warnings)

    def _touched(self, name: str) -> bool:
        # A field belongs to a group whose other members can make it wrong: typing a latitude
        # makes a missing longitude an error to show, choosing "New site…" a missing name.
        group = _GROUPS.get(name, (name,))
        return any(self.values[n].touched for n in group if n in self.values)

    # -- saving ----------------------------------------------------------------------------

    def save(self, *, captured_at: datetime) -> Save:
        """The records to write, or :class:`FormInvalid` with every error shown."""
        self.submitted = True
        check = self._refresh()
        if not check.ok:
            raise FormInvalid(check.errors)
        activity = validate_activity(self.wire(), project=self.facts, today=self.today).clean
        # No notes are "" on the server (validation cleans them to None): sent as None, every
        # later save of an unchanged record would queue a change of them.
        activity["notes"] = activity.get("notes") or ""
        # When it was first captured: a correction keeps it (and so does not touch the field,
        # which two tablets correcting different fields would otherwise both change).
        activity["captured_at"] = self._captured_at or captured_at.isoformat()
        site = self.site_wire()
        new_site = validate_site(site, project=self.facts).clean if site else None
        return Save(
            activity=activity, new_site=new_site, photos=tuple(self.photos), is_new=self.is_new
        )

    # -- summaries for the screen ------------------------------------------------------------

    def totals_text(self) -> str:
        total = self.attendance.total()
        women = self.attendance.total(sex="female")
        share = self.attendance.women_share()
        if share is None:
            return _("No participants counted yet")
        return _("{total} participants · {women} women ({share})").format(
            total=number(total), women=number(women), share=share_text(share)
        )

    # -- loading a record to correct it ----------------------------------------------------

    def _load(self, record: Mapping[str, Any]) -> None:
        def put(name: str, value: Any) -> None:
            self.values[name].text = "" if value is None else str(value)

        for name in (
            "type",
            "title",
            "start_date",
            "end_date",
            "topic",
            "modality",
            "level",
            "value_chain_stage",
            "notes",
        ):
            put(name, record.get(name))
        put("delivery", record.get("delivery") or "in_person")
        put("site", record.get("site_id"))
        experts = record.get("experts_count")
        put("experts_count", experts if experts else "")
        self.values["facilitators"].text = ", ".join(record.get("facilitators") or [])
        location = record.get("location") or {}
        put("lat", location.get("lat"))
        put("lon", location.get("lon"))
        put("accuracy", location.get("accuracy_m"))
        self.attendance = AttendanceGrid.from_rows(record.get("attendance") or [])
        self.participant_ids = [str(i) for i in record.get("participant_ids") or []]
        captured = record.get("captured_at")
        self._captured_at = str(captured) if captured else None
        # A record pulled from the server is the truth; mark everything touched so that a
        # problem it already has (e.g. the project's dates changed) shows at once.
        for state in self.values.values():
            state.touched = True


class FormInvalid(ValueError):
    """Save refused: the form still has errors (keyed by form field)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(
            _("Correct the {n} highlighted fields").format(n=len(errors))
            if len(errors) != 1
            else _("Correct the highlighted field")
        )
        self.errors = dict(errors)
