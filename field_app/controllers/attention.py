"""Records that need the field expert: refused by the server, in conflict with someone else's
change, returned by the country office, or at a site it rejected — what happened, what differs,
and in which order they come."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from field_app.controllers import dates, labels
from field_app.controllers.attendance import AttendanceGrid, Cell, grid_order
from field_app.controllers.form import Photo, Save
from field_app.controllers.messages import rejected_site_message, server_reason
from field_app.i18n import N_, _, number

# An activity the server holds as the tablet does, at a site the country office rejected: the
# server refuses any change of it until another site is chosen.
SITE_REJECTED = "site_rejected"
# The most urgent first: a change the server refused is not on the server at all; a conflict
# kept the server's values over the expert's; then what the office asks to correct.
URGENCY: dict[str, int] = {"rejected": 0, "conflict": 1, "returned": 2, SITE_REJECTED: 3}
# A state only Needs attention shows, in words (the others are ``labels.RECORD_STATES``).
STATES: dict[str, str] = {SITE_REJECTED: N_("site rejected")}

FIELD_LABELS: dict[str, str] = {
    "type": N_("Type"),
    "title": N_("Title"),
    "start_date": N_("Start date"),
    "end_date": N_("End date"),
    "site_id": N_("Site"),
    "topic": N_("Topic"),
    "modality": N_("Modality"),
    "level": N_("Level"),
    "delivery": N_("Delivery"),
    "value_chain_stage": N_("Value-chain stage"),
    "facilitators": N_("Facilitators"),
    "experts_count": N_("Number of experts"),
    "location": N_("Location"),
    "notes": N_("Notes"),
    "attendance": N_("Attendance"),
    "participant_ids": N_("Roster"),
    # A photo the server refused, with its record (``photos[<id>].<field>``).
    "photos": N_("Photos"),
}


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    label: str
    mine: str
    theirs: str


@dataclass(frozen=True, slots=True)
class CellDifference:
    """One attendance cell whose count differs between this tablet and the server: its name
    in words and its counts (``base`` the count both started from, None when unknown)."""

    label: str
    mine: int
    theirs: int
    base: int | None


@dataclass(frozen=True, slots=True)
class AttentionItem:
    id: str
    title: str
    subtitle: str
    state: str
    reason: str
    differences: tuple[Difference, ...]
    errors: tuple[tuple[str, str], ...]
    # The attendance cells that differ, when attendance is in conflict (it merges as one
    # field on the server, docs/protocol.md#conflicts-and-the-three-way-merge).
    cells: tuple[CellDifference, ...] = ()
    # Both sides' attendance changes together, when they touched different cells since the
    # base: what "Keep both changes" writes. None when they overlap or the base is unknown.
    combined_attendance: tuple[dict[str, Any], ...] | None = None


def _counts(rows: Any) -> dict[Cell, int]:
    """Attendance wire rows as counts by cell (a cell given twice adds up, as the form's grid
    reads it); lenient, as a conflict's values are shown whatever they hold."""
    counts: dict[Cell, int] = {}
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict):
            continue
        cell = Cell(
            str(row.get("category")),
            bool(row.get("disability")),
            str(row.get("sex")),
            str(row.get("age_band")),
        )
        counts[cell] = counts.get(cell, 0) + int(row.get("count") or 0)
    return counts


def cell_label(cell: Cell) -> str:
    """ "Women · Youth 15–35 · Farmers", and "· with a disability" for those cells."""
    parts = [
        labels.label(labels.SEXES, cell.sex),
        labels.label(labels.AGE_BANDS, cell.age_band),
        labels.label(labels.CATEGORIES, cell.category),
    ]
    if cell.disability:
        parts.append(_("with a disability"))
    return " · ".join(parts)


def attendance_cells(mine: Any, theirs: Any, base: Any = None) -> tuple[CellDifference, ...]:
    """The cells whose count differs between this tablet's attendance and the server's, in
    the grid's order, with the count at the base when the conflict carries it."""
    mine_counts, theirs_counts = _counts(mine), _counts(theirs)
    base_counts = None if base is None else _counts(base)
    keys = sorted(
        (
            k
            for k in {*mine_counts, *theirs_counts}
            if mine_counts.get(k, 0) != theirs_counts.get(k, 0)
        ),
        key=grid_order,
    )
    return tuple(
        CellDifference(
            label=cell_label(k),
            mine=mine_counts.get(k, 0),
            theirs=theirs_counts.get(k, 0),
            base=None if base_counts is None else base_counts.get(k, 0),
        )
        for k in keys
    )


def combined_attendance(mine: Any, theirs: Any, base: Any) -> list[dict[str, Any]] | None:
    """The attendance holding both sides' changes since ``base``: each cell as the side that
    changed it left it. None when both changed the same cell (only a person can say which
    count is right), when the base is unknown, or when the two already agree."""
    if base is None:
        return None
    mine_counts, theirs_counts = _counts(mine), _counts(theirs)
    base_counts = _counts(base)
    if mine_counts == theirs_counts:
        return None
    combined: dict[Cell, int] = {}
    for cell in {*mine_counts, *theirs_counts, *base_counts}:
        was = base_counts.get(cell, 0)
        ours, servers = mine_counts.get(cell, 0), theirs_counts.get(cell, 0)
        if ours != was and servers != was and ours != servers:
            return None
        combined[cell] = ours if ours != was else servers
    return AttendanceGrid.from_counts(combined).rows()


def keep_both(record: Any, item: AttentionItem, photos: Sequence[Photo]) -> Save | None:
    """What "Keep both changes" saves: the server's version (``record.data`` of a record in
    conflict) with the attendance holding both sides' changes, and the record's photos as they
    are; saved as an edit, it goes on top of the server's version, which applies it as an
    ordinary change and closes the conflict as superseded. None when both cannot be kept."""
    if item.combined_attendance is None:
        return None
    return Save(
        activity={**record.data, "attendance": [dict(r) for r in item.combined_attendance]},
        new_site=None,
        photos=tuple(photos),
        is_new=False,
    )


def cell_text(cell: CellDifference) -> str:
    """One differing cell in words: "Women · Youth 15–35 · Farmers: before 5, mine 5, server
    8"."""
    if cell.base is None:
        return _("{cell}: mine {mine}, server {theirs}").format(
            cell=cell.label, mine=number(cell.mine), theirs=number(cell.theirs)
        )
    return _("{cell}: before {base}, mine {mine}, server {theirs}").format(
        cell=cell.label,
        base=number(cell.base),
        mine=number(cell.mine),
        theirs=number(cell.theirs),
    )


def show_value(name: str, value: Any) -> str:
    """A field's value in words, for the side-by-side comparison."""
    if value is None or value == "" or value == []:
        return "–"
    if name == "attendance" and isinstance(value, list):
        total = sum(int(r.get("count") or 0) for r in value if isinstance(r, dict))
        women = sum(
            int(r.get("count") or 0)
            for r in value
            if isinstance(r, dict) and r.get("sex") == "female"
        )
        return _("{total} people, {women} women").format(total=total, women=women)
    if name == "type":
        return labels.label(labels.ACTIVITY_TYPES, str(value))
    if name == "modality":
        return labels.label(labels.MODALITIES, str(value))
    if name == "level":
        return labels.label(labels.LEVELS, str(value))
    if name == "delivery":
        return labels.label(labels.DELIVERIES, str(value))
    if name == "value_chain_stage":
        return labels.label(labels.VALUE_CHAIN_STAGES, str(value))
    if name == "topic":
        return labels.topic_label(str(value))
    if name == "location" and isinstance(value, dict):
        return f"{value.get('lat')}, {value.get('lon')}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def field_label(name: str) -> str:
    return labels.label(FIELD_LABELS, name)


def _head(wire_field: str) -> str:
    """ "attendance[2].count" -> "attendance"."""
    return wire_field.split("[", 1)[0].split(".", 1)[0]


def server_message(error: Any) -> str:
    """A server's reason in the tablet's language, chosen by its code; from a server that sends
    no code, its English message without the wire field name it may start with ("start_date:
    …"): the screen names the field in words already."""
    reason = server_reason(error)
    if reason is not None:
        return reason
    name, message = str(error.get("field") or ""), str(error.get("message") or "")
    return message[len(name) + 2 :] if name and message.startswith(f"{name}: ") else message


def state_label(state: str) -> str:
    """The badge of an item of Needs attention."""
    return labels.label(STATES if state in STATES else labels.RECORD_STATES, state)


def ordered(items: list[AttentionItem], records: Mapping[str, Any]) -> list[AttentionItem]:
    """The most urgent kind first (``URGENCY``), and within a kind the newest first by the
    record's own date (an activity's start date, a measurement's day), never by its words."""

    def day(item: AttentionItem) -> str:
        data = getattr(records.get(item.id), "data", None) or {}
        return str(data.get("start_date") or data.get("observed_on") or "")

    newest_first = sorted(items, key=lambda i: (day(i), i.title, i.id), reverse=True)
    return sorted(newest_first, key=lambda i: URGENCY.get(i.state, len(URGENCY)))


def refused_as_not_yours(record: Any) -> bool:
    """Whether the server refused the record's last change because someone else recorded it
    (``not_your_record``): no correction can go through, only discarding the change."""
    return record.state == "rejected" and any(
        str(e.get("code") or "") == "not_your_record" for e in record.errors
    )


def refused_as_locked(record: Any) -> bool:
    """Whether the server refused the record's last change because the record was approved
    (``locked``)."""
    return record.state == "rejected" and any(
        str(e.get("code") or "") == "locked" for e in record.errors
    )


def can_discard(record: Any) -> bool:
    """Whether the refused change of ``record`` may be discarded, keeping the server's version
    (``DeviceStore.discard_refused``): the server refused it and holds the record (a record
    it never took is deleted from its form instead)."""
    return record.state == "rejected" and int(record.version or 0) > 0


def refused_reason(record: Any) -> str | None:
    """Why a refused record cannot simply be corrected and sent again, when that is so: the
    office approved it (it is locked until they reopen it), or it was refused as approved and
    has been reopened since. None otherwise."""
    if record.state != "rejected":
        return None
    if refused_as_not_yours(record):
        return _(
            "The server refused your change: only the person who recorded this record may "
            "change it. Discard your change to keep the server's version."
        )
    if record.locked:
        return _(
            "The country office approved this record, so the server refused your change. "
            "To change it, ask them to reopen it; or discard your change and keep the "
            "approved version."
        )
    if refused_as_locked(record):
        return _(
            "The server refused your change because this record was approved. The country "
            "office has reopened it since: edit it and save again, or discard your change."
        )
    return None


def describe(
    record: Any,
    *,
    site_names: dict[str, str] | None = None,
    rejected_sites: Mapping[str, str] | None = None,
) -> AttentionItem:
    """``record`` is a :class:`~field_app.session.LocalRecord` in an attention state, or one
    the server holds as the tablet does at a site the office rejected (``rejected_sites``: the
    names of those sites by id)."""
    data = record.data
    state = record.state
    rejected_site = (rejected_sites or {}).get(str(data.get("site_id") or ""))
    if state in ("synced", "photos_pending") and rejected_site is not None:
        state = SITE_REJECTED
        reason = rejected_site_message(rejected_site)
    elif state == "returned":
        reason = _("Returned by the country office: {comment}").format(
            comment=record.comment or _("(no comment)")
        )
    elif state == "conflict":
        # The conflict does not say who changed the server's version: often the same
        # person on another tablet, so never "someone else".
        reason = _(
            "The server has another version of the same fields, changed since this tablet "
            "last synced. It kept its version; choose which to keep."
        )
    else:
        reason = refused_reason(record) or _(
            "The server refused the last change. Correct it and save again."
        )
    differences = []
    for name in record.conflict_fields:
        mine, theirs = record.mine.get(name), record.theirs.get(name)
        if name == "site_id" and site_names is not None:
            mine, theirs = site_names.get(str(mine), mine), site_names.get(str(theirs), theirs)
        differences.append(
            Difference(name, field_label(name), show_value(name, mine), show_value(name, theirs))
        )
    cells: tuple[CellDifference, ...] = ()
    combined: tuple[dict[str, Any], ...] | None = None
    if state == "conflict" and "attendance" in record.conflict_fields:
        # The conflict's base values (its ``base_values``, docs/protocol.md), when the record
        # carries them as ``base``: without them no one can tell which side changed a cell, so
        # the cells are listed but "Keep both changes" is not offered.
        base = record.base.get("attendance")
        mine_rows, theirs_rows = record.mine.get("attendance"), record.theirs.get("attendance")
        cells = attendance_cells(mine_rows, theirs_rows, base)
        both = combined_attendance(mine_rows, theirs_rows, base)
        combined = None if both is None else tuple(both)
    # Each reason under the field's name in words; a field the form does not show (status,
    # refused as approved) has no name the expert would know: its reason alone.
    errors = tuple(
        (field_label(head) if head in FIELD_LABELS else "", server_message(e))
        for e in record.errors
        for head in [_head(str(e.get("field") or ""))]
    )
    # What tells records of the same title apart: their date, type and site.
    site = (site_names or {}).get(str(data.get("site_id") or ""), "")
    subtitle = " · ".join(
        part
        for part in (
            dates.in_words(str(data.get("start_date") or "")),
            labels.label(labels.ACTIVITY_TYPES, str(data.get("type") or "")),
            site,
        )
        if part
    )
    return AttentionItem(
        id=record.id,
        title=str(data.get("title") or _("(no title)")),
        subtitle=subtitle,
        state=state,
        reason=reason,
        differences=tuple(differences),
        errors=errors,
        cells=cells,
        combined_attendance=combined,
    )
