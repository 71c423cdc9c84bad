"""The three-way merge of a pushed mutation against the server's record (docs/protocol.md#push).

Pure functions over plain dicts: no database, no clock. The server hands in the record's
history from the revision the tablet last saw (``base_version``) up to the current one, each
revision marked ``own`` when the pushing tablet itself wrote it.

The rules, per field of the incoming data:

- the incoming value equals the current one: nothing to do;
- the incoming value equals what the tablet last saw of the field (its value at the base, or
  the one the tablet's own later push wrote): not a change by the tablet, so nothing to do and
  never a conflict; a client that sends the whole record therefore merges exactly like one that
  sends only the fields it changed;
- nobody else changed the field since the base: the tablet's value is applied;
- somebody else changed it too: the server keeps its value and the field is a conflict.

"Somebody else" means any revision after the base that the pushing tablet did not write. A
tablet's own earlier pushes are part of what it saw when it saved (its outbox is pushed in
order), so a second offline edit of the title never conflicts with the first one.

The outcome is ``applied`` when nobody else changed anything since the base, ``merged`` when
others changed only other fields, and ``conflict`` when at least one field collided (the
non-colliding fields are still applied). A delete against a record others changed since the
base is a conflict, as is an update of a record that was deleted. Attendance is one field:
two different attendance lists collide as a whole. Values are compared as data, not as text:
attendance rows and roster ids in any order, timestamps as instants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from sync.protocol import ResultStatus

# Keys the merge never takes from a tablet: identity and server-owned state.
SERVER_OWNED: frozenset[str] = frozenset({"id", "status", "version", "deleted"})
DELETED = "deleted"

# Fields whose value is a set of rows or ids (order carries no meaning).
_UNORDERED: frozenset[str] = frozenset({"attendance", "participant_ids"})


@dataclass(frozen=True, slots=True)
class Revision:
    """One version of a record: its data, and whether the pushing tablet wrote it."""

    data: Mapping[str, Any]
    own: bool = False


@dataclass(frozen=True, slots=True)
class FieldConflict:
    base: Any
    server: Any
    device: Any


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    status: ResultStatus
    # The tablet's values to write (empty when nothing changes).
    changes: dict[str, Any] = field(default_factory=dict)
    conflicts: dict[str, FieldConflict] = field(default_factory=dict)
    # True when the outcome removes the record (a delete that went through).
    delete: bool = False


def _canonical(name: str, value: Any) -> Any:
    if name in _UNORDERED and isinstance(value, list):
        return sorted(
            (repr(sorted(v.items())) if isinstance(v, Mapping) else repr(v)) for v in value
        )
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.timestamp() if moment.tzinfo else moment
    return value


def same_value(name: str, left: Any, right: Any) -> bool:
    """Whether two values of field ``name`` mean the same thing."""
    if left == right:
        return True
    return bool(_canonical(name, left) == _canonical(name, right))


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The fields whose value differs between two versions of a record."""
    return {
        name
        for name in before.keys() | after.keys()
        if not same_value(name, before.get(name), after.get(name))
    }


def changed_by_others(history: Sequence[Revision]) -> set[str]:
    """Fields that revisions not written by the pushing tablet changed after the base.

    ``history[0]`` is the base revision (the one the tablet last saw); the rest follow in
    version order up to the current revision.
    """
    changed: set[str] = set()
    for before, after in pairwise(history):
        if not after.own:
            changed |= changed_fields(before.data, after.data)
    return changed


def seen_by_tablet(history: Sequence[Revision]) -> dict[str, Any]:
    """The record as the pushing tablet knows it: the base, with the fields that the tablet's
    own later revisions changed set to what they wrote.

    A field whose incoming value equals this one is not a change made by the tablet, whether
    the client sent it or not.
    """
    seen = dict(history[0].data)
    for before, after in pairwise(history):
        if after.own:
            for name in changed_fields(before.data, after.data):
                seen[name] = after.data.get(name)
    return seen


def merge_upsert(*, history: Sequence[Revision], incoming: Mapping[str, Any]) -> MergeOutcome:
    """Merge the tablet's field values into the current record (``history[-1]``)."""
    if not history:
        raise ValueError("history needs at least the base revision")
    base, current = history[0].data, history[-1].data
    seen = seen_by_tablet(history)
    others = changed_by_others(history)
    if current.get(DELETED):
        return MergeOutcome(
            ResultStatus.CONFLICT,
            conflicts={DELETED: FieldConflict(base.get(DELETED, False), True, False)},
        )
    changes: dict[str, Any] = {}
    conflicts: dict[str, FieldConflict] = {}
    for name, value in incoming.items():
        if name in SERVER_OWNED or same_value(name, current.get(name), value):
            continue
        if name in seen and same_value(name, seen[name], value):
            continue  # the tablet sent back what it saw: the server's newer value stands
        if name in others:
            conflicts[name] = FieldConflict(base.get(name), current.get(name), value)
        else:
            changes[name] = value
    if conflicts:
        status = ResultStatus.CONFLICT
    elif others:
        status = ResultStatus.MERGED
    else:
        status = ResultStatus.APPLIED
    return MergeOutcome(status, changes=changes, conflicts=conflicts)


def merge_delete(*, history: Sequence[Revision]) -> MergeOutcome:
    """A delete goes through unless somebody else changed the record since the base."""
    if not history:
        raise ValueError("history needs at least the base revision")
    current = history[-1].data
    if current.get(DELETED):
        return MergeOutcome(ResultStatus.APPLIED)
    others = changed_by_others(history)
    if others:
        return MergeOutcome(
            ResultStatus.CONFLICT,
            conflicts={DELETED: FieldConflict(False, False, True)},
        )
    return MergeOutcome(ResultStatus.APPLIED, delete=True)
