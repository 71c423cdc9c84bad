"""The pure three-way merge (sync.merge), table-driven, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from sync.merge import (
    Revision,
    changed_by_others,
    merge_delete,
    merge_upsert,
    same_value,
    seen_by_tablet,
)
from sync.protocol import ResultStatus

BASE: dict[str, Any] = {
    "title": "Demo",
    "notes": "",
    "experts_count": 2,
    "deleted": False,
    "attendance": [{"sex": "female", "count": 3}, {"sex": "male", "count": 4}],
}


def _history(*later: tuple[dict[str, Any], bool]) -> list[Revision]:
    revisions = [Revision(BASE)]
    current = dict(BASE)
    for changes, own in later:
        current = {**current, **changes}
        revisions.append(Revision(current, own=own))
    return revisions


@pytest.mark.parametrize(
    ("server_changes", "incoming", "status", "changes", "conflicts"),
    [
        # nobody else changed anything: applied
        ([], {"title": "Better"}, ResultStatus.APPLIED, {"title": "Better"}, []),
        # others changed another field: merged
        (
            [({"notes": "office"}, False)],
            {"title": "Better"},
            ResultStatus.MERGED,
            {"title": "Better"},
            [],
        ),
        # others changed the same field: conflict, server kept, other fields applied
        (
            [({"title": "Office"}, False)],
            {"title": "Tablet", "experts_count": 3},
            ResultStatus.CONFLICT,
            {"experts_count": 3},
            ["title"],
        ),
        # both sides set the same value: nothing to do, no conflict
        ([({"title": "Same"}, False)], {"title": "Same"}, ResultStatus.MERGED, {}, []),
        # the tablet's own earlier push changed the field: not a conflict
        (
            [({"title": "First"}, True)],
            {"title": "Second"},
            ResultStatus.APPLIED,
            {"title": "Second"},
            [],
        ),
        # own push, then someone else, on the same field: conflict
        (
            [({"title": "First"}, True), ({"title": "Office"}, False)],
            {"title": "Second"},
            ResultStatus.CONFLICT,
            {},
            ["title"],
        ),
        # attendance is one field: a different list collides as a whole
        (
            [({"attendance": [{"sex": "female", "count": 9}]}, False)],
            {"attendance": [{"sex": "male", "count": 1}]},
            ResultStatus.CONFLICT,
            {},
            ["attendance"],
        ),
        # the same attendance rows in another order are the same value
        (
            [],
            {"attendance": [{"sex": "male", "count": 4}, {"sex": "female", "count": 3}]},
            ResultStatus.APPLIED,
            {},
            [],
        ),
        # server-owned keys are never taken from a tablet
        ([], {"status": "approved", "id": "x", "version": 99}, ResultStatus.APPLIED, {}, []),
    ],
)
def test_merge_upsert(
    server_changes: list[tuple[dict[str, Any], bool]],
    incoming: dict[str, Any],
    status: ResultStatus,
    changes: dict[str, Any],
    conflicts: list[str],
) -> None:
    outcome = merge_upsert(history=_history(*server_changes), incoming=incoming)
    assert outcome.status == status
    assert outcome.changes == changes
    assert sorted(outcome.conflicts) == conflicts


def test_a_conflict_records_base_server_and_device_values() -> None:
    outcome = merge_upsert(
        history=_history(({"title": "Office"}, False)), incoming={"title": "Tablet"}
    )
    found = outcome.conflicts["title"]
    assert (found.base, found.server, found.device) == ("Demo", "Office", "Tablet")


def test_an_update_of_a_deleted_record_is_a_conflict() -> None:
    outcome = merge_upsert(
        history=_history(({"deleted": True}, False)), incoming={"title": "Edited offline"}
    )
    assert outcome.status == ResultStatus.CONFLICT
    assert list(outcome.conflicts) == ["deleted"]
    assert outcome.changes == {}


@pytest.mark.parametrize(
    ("server_changes", "status", "delete"),
    [
        ([], ResultStatus.APPLIED, True),
        ([({"title": "First"}, True)], ResultStatus.APPLIED, True),
        ([({"notes": "office"}, False)], ResultStatus.CONFLICT, False),
        ([({"deleted": True}, False)], ResultStatus.APPLIED, False),
    ],
)
def test_merge_delete(
    server_changes: list[tuple[dict[str, Any], bool]], status: ResultStatus, delete: bool
) -> None:
    outcome = merge_delete(history=_history(*server_changes))
    assert outcome.status == status
    assert outcome.delete is delete


def test_changed_by_others_ignores_own_revisions() -> None:
    history = _history(
        ({"title": "Mine"}, True), ({"notes": "office"}, False), ({"experts_count": 5}, True)
    )
    assert changed_by_others(history) == {"notes"}


@pytest.mark.parametrize(
    ("name", "left", "right", "same"),
    [
        ("captured_at", "2025-03-14T10:00:00+02:00", "2025-03-14T08:00:00+00:00", True),
        ("captured_at", "2025-03-14T10:00:00+02:00", "2025-03-14T10:00:00+00:00", False),
        ("participant_ids", ["a", "b"], ["b", "a"], True),
        ("facilitators", ["a", "b"], ["b", "a"], False),
        ("title", "2025-03-14", "2025-03-14", True),
        ("experts_count", 3, 3.0, True),
        ("notes", None, "", False),
    ],
)
def test_same_value_compares_meaning(name: str, left: Any, right: Any, same: bool) -> None:
    assert same_value(name, left, right) is same


def test_history_must_hold_the_base() -> None:
    with pytest.raises(ValueError, match="base"):
        merge_upsert(history=[], incoming={})


# --- a client that sends the whole record (docs/protocol.md#push) -----------------------------


def _whole(**changes: Any) -> dict[str, Any]:
    """The base record as a whole-record client sends it, with ``changes`` made on the tablet."""
    return {**BASE, **changes}


@pytest.mark.parametrize(
    ("server_changes", "incoming", "status", "changes", "conflicts"),
    [
        # the office changed the title, the tablet the notes: merged, both kept
        (
            [({"title": "Office"}, False)],
            _whole(notes="Rain"),
            ResultStatus.MERGED,
            {"notes": "Rain"},
            [],
        ),
        # the same field changed on both sides: a conflict on that field alone
        (
            [({"title": "Office", "notes": "office"}, False)],
            _whole(title="Tablet"),
            ResultStatus.CONFLICT,
            {},
            ["title"],
        ),
        # nothing changed on the tablet: the office's edits stand, nothing to write
        ([({"title": "Office"}, False)], _whole(), ResultStatus.MERGED, {}, []),
        # attendance sent back unchanged (in another order) never collides with the office's
        (
            [({"attendance": [{"sex": "female", "count": 9}]}, False)],
            _whole(attendance=list(reversed(BASE["attendance"])), experts_count=5),
            ResultStatus.MERGED,
            {"experts_count": 5},
            [],
        ),
        # the tablet's own earlier push set the title; the office changed it after; the tablet
        # sends the whole record again with what it had: the office's title stands
        (
            [({"title": "Mine"}, True), ({"title": "Office"}, False)],
            _whole(title="Mine", notes="Rain"),
            ResultStatus.MERGED,
            {"notes": "Rain"},
            [],
        ),
        # the tablet put back the base value after its own push changed it: that is a change
        (
            [({"title": "Mine"}, True), ({"notes": "office"}, False)],
            _whole(),
            ResultStatus.MERGED,
            {"title": "Demo"},
            [],
        ),
    ],
)
def test_a_whole_record_merges_like_a_diff(
    server_changes: list[tuple[dict[str, Any], bool]],
    incoming: dict[str, Any],
    status: ResultStatus,
    changes: dict[str, Any],
    conflicts: list[str],
) -> None:
    history = _history(*server_changes)
    outcome = merge_upsert(history=history, incoming=incoming)
    assert outcome.status == status
    assert outcome.changes == changes
    assert sorted(outcome.conflicts) == conflicts
    # the same edit sent as a diff (only the fields the tablet changed) merges the same way
    seen = seen_by_tablet(history)
    diff = {k: v for k, v in incoming.items() if not same_value(k, seen.get(k), v)}
    as_diff = merge_upsert(history=history, incoming=diff)
    assert (as_diff.status, as_diff.changes, sorted(as_diff.conflicts)) == (
        status,
        changes,
        conflicts,
    )


def test_a_whole_record_conflict_shows_base_server_and_tablet_values() -> None:
    outcome = merge_upsert(
        history=_history(({"title": "Office"}, False)), incoming=_whole(title="Tablet")
    )
    found = outcome.conflicts["title"]
    assert (found.base, found.server, found.device) == ("Demo", "Office", "Tablet")


def test_an_unknown_base_still_conflicts_on_every_field_others_hold() -> None:
    # Written where no revision was kept: the server cannot tell what the tablet saw.
    history = [Revision({}), Revision({**BASE, "title": "Office"})]
    outcome = merge_upsert(history=history, incoming=_whole())
    assert outcome.status == ResultStatus.CONFLICT
    assert "title" in outcome.conflicts
