"""A conflict on attendance, which merges as one field on the server (docs/protocol.md): the
tablet's Needs attention lists the cells that differ, in the tablet's language, and when the two
sides changed different cells it keeps both changes at once, as an edit on top of the server's
version. The reviewer's case: one expert, two tablets; men 60+ set to 4 on one while women
15–35 went from 5 to 8 on the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from field_app.controllers.attendance import Cell
from field_app.controllers.attention import (
    attendance_cells,
    cell_text,
    combined_attendance,
    describe,
    keep_both,
)
from field_app.controllers.form import ActivityForm
from field_app.i18n import set_language
from field_app.session import FieldSession, LocalRecord
from tests.field_app.conftest import LiveServer
from tests.field_app.test_backend import filled_form, two_tablets

NBSP = "\u00a0"


def row(sex: str, age_band: str, count: int, *, category: str = "farmer") -> dict[str, Any]:
    return {
        "sex": sex,
        "age_band": age_band,
        "category": category,
        "disability": False,
        "count": count,
    }


BASE = [row("female", "youth", 5), row("female", "adult", 12), row("male", "senior", 3)]
# This tablet: men 60+ from 3 to 4. The server (the other tablet): women 15–35 from 5 to 8.
MINE = [row("female", "youth", 5), row("female", "adult", 12), row("male", "senior", 4)]
THEIRS = [row("female", "youth", 8), row("female", "adult", 12), row("male", "senior", 3)]


def in_conflict(*, base: list[dict[str, Any]] | None) -> LocalRecord:
    data = {"id": "a1", "title": "Hermetic storage training", "attendance": THEIRS}
    values = dict(
        data=data,
        state="conflict",
        conflict_fields=["attendance"],
        mine={"attendance": MINE},
        theirs={"attendance": THEIRS},
    )
    if base is None:
        return LocalRecord(**values)  # type: ignore[arg-type]
    return LocalRecord(**values, base={"attendance": base})  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def english() -> Any:
    set_language("en")
    yield
    set_language("en")


def test_the_cells_that_differ_are_listed_with_the_count_each_side_holds() -> None:
    cells = attendance_cells(MINE, THEIRS, BASE)
    assert [cell_text(c) for c in cells] == [
        "Women · Youth 15–35 · Farmers: before 5, mine 5, server 8",
        "Men · Senior 60+ · Farmers: before 3, mine 4, server 3",
    ]
    # Without the base, the two sides only.
    assert [cell_text(c) for c in attendance_cells(MINE, THEIRS)] == [
        "Women · Youth 15–35 · Farmers: mine 5, server 8",
        "Men · Senior 60+ · Farmers: mine 4, server 3",
    ]


def test_a_cell_only_one_side_has_and_a_disability_cell_are_named() -> None:
    with_disability = {**row("male", "adult", 2, category="technician"), "disability": True}
    cells = attendance_cells([with_disability], [], [])
    assert [cell_text(c) for c in cells] == [
        "Men · Adult 36–59 · Technicians · with a disability: before 0, mine 2, server 0"
    ]


def test_the_cells_in_portuguese_and_french() -> None:
    set_language("pt")
    assert next(cell_text(c) for c in attendance_cells(MINE, THEIRS, BASE)) == (
        "Mulheres · Jovem 15–35 · Agricultores: antes 5, a minha 5, servidor 8"
    )
    set_language("fr")
    assert [cell_text(c) for c in attendance_cells(MINE, THEIRS)][1] == (
        f"Hommes · Aîné 60+ · Agriculteurs{NBSP}: la mienne 4, serveur 3"
    )


def test_changes_to_different_cells_combine_and_the_same_cell_does_not() -> None:
    assert combined_attendance(MINE, THEIRS, BASE) == [
        row("female", "youth", 8),
        row("female", "adult", 12),
        row("male", "senior", 4),
    ]
    # Both changed women 15–35: only a person can say which count is right.
    clash = [row("female", "youth", 6), row("female", "adult", 12), row("male", "senior", 4)]
    assert combined_attendance(clash, THEIRS, BASE) is None
    # Without the base no one can tell which side changed a cell.
    assert combined_attendance(MINE, THEIRS, None) is None
    # A cell one side emptied stays empty (no row of count 0 is written).
    emptied = [row("female", "youth", 5), row("female", "adult", 12)]
    assert combined_attendance(emptied, THEIRS, BASE) == [
        row("female", "youth", 8),
        row("female", "adult", 12),
    ]


def test_the_conflict_never_says_someone_else_and_offers_both_only_with_the_base() -> None:
    item = describe(in_conflict(base=BASE))
    assert item.reason == (
        "The server has another version of the same fields, changed since this tablet last "
        "synced. It kept its version; choose which to keep."
    )
    assert "Someone else" not in item.reason
    assert [(d.label, d.mine, d.theirs) for d in item.differences] == [
        ("Attendance", "21 people, 17 women", "23 people, 20 women")
    ]
    assert len(item.cells) == 2 and item.combined_attendance is not None

    without_base = describe(in_conflict(base=None))
    assert len(without_base.cells) == 2 and without_base.combined_attendance is None
    assert keep_both(in_conflict(base=None), without_base, ()) is None

    set_language("pt")
    assert describe(in_conflict(base=BASE)).reason == (
        "O servidor tem outra versão dos mesmos campos, alterada desde a última sincronização "
        "deste tablet. Manteve a sua versão; escolha qual manter."
    )


def test_keep_both_saves_the_servers_version_with_both_attendance_changes() -> None:
    record = in_conflict(base=BASE)
    save = keep_both(record, describe(record), ())
    assert save is not None and not save.is_new and save.new_site is None
    assert save.activity["title"] == "Hermetic storage training"
    assert sorted((r["sex"], r["age_band"], r["count"]) for r in save.activity["attendance"]) == [
        ("female", "adult", 12),
        ("female", "youth", 8),
        ("male", "senior", 4),
    ]


# -- against a live server --------------------------------------------------------------------


def _edit_attendance(session: FieldSession, activity_id: str, cell: Cell, count: str) -> None:
    record = session.backend.activity(activity_id)
    assert record is not None
    project = session.project(str(record.data["project_id"]))
    assert project is not None
    form = ActivityForm(
        project=project,
        sites=session.backend.sites(str(project["id"])),
        today=session.today(),
        record=record.data,
    )
    form.set_attendance(cell, count)
    session.save(form)


def _with_base(session: FieldSession, activity_id: str) -> LocalRecord:
    """The record in conflict, with its conflict's base values as the server sent them
    (``base_values``, read by the backend as ``base``)."""
    record = session.backend.activity(activity_id)
    assert record is not None and record.state == "conflict"
    assert record.base, "the backend carries the conflict's base"
    return record


def _cells(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    return {(r["sex"], r["age_band"]): r["count"] for r in rows if r["category"] == "farmer"}


def test_keep_both_reaches_the_server_as_an_ordinary_change(
    live_server: LiveServer, tmp_path: Path
) -> None:
    other, this = two_tablets(live_server, tmp_path)  # the same expert's two tablets
    form = filled_form(other, live_server.project_id)
    form.set_attendance(Cell("farmer", False, "female", "youth"), "5")
    form.set_attendance(Cell("farmer", False, "male", "senior"), "3")
    other.save(form)
    other.backend.sync_once()
    this.backend.sync_once()
    # Offline on this tablet: men 60+ to 4; on the other: women 15–35 to 8, synced first.
    _edit_attendance(this, form.id, Cell("farmer", False, "male", "senior"), "4")
    _edit_attendance(other, form.id, Cell("farmer", False, "female", "youth"), "8")
    other.backend.sync_once()
    this.backend.sync_once()
    this.backend.sync_once()  # the conflict itself comes with the next pull

    record = _with_base(this, form.id)
    item = describe(record)
    assert [cell_text(c) for c in item.cells] == [
        "Women · Youth 15–35 · Farmers: before 5, mine 5, server 8",
        "Men · Senior 60+ · Farmers: before 3, mine 4, server 3",
    ]
    [conflict_id] = record.conflict_ids
    save = keep_both(record, item, this.backend.photos(form.id))
    assert save is not None
    this.backend.save_activity(save)
    this.backend.sync_once()
    this.backend.sync_once()

    on_server = _cells(live_server.activity(form.id)["attendance"])
    assert on_server[("female", "youth")] == 8 and on_server[("male", "senior")] == 4
    assert on_server[("female", "adult")] == 12  # an untouched cell stays
    assert live_server.api("GET", f"/conflicts/{conflict_id}").json()["status"] != "open"
    found = this.backend.activity(form.id)
    assert found is not None and found.state == "synced" and this.backend.attention() == []
    # The other tablet receives both changes.
    other.backend.sync_once()
    theirs = other.backend.activity(form.id)
    assert theirs is not None
    assert _cells(theirs.data["attendance"])[("male", "senior")] == 4
    other.close()
    this.close()
