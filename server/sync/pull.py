"""Pull: hand a tablet the changes since its cursor (docs/protocol.md#pull).

The cursor is opaque to the tablet: base64 of the last change-log ``seq`` it received, a digest
of its user's projects and a digest of the catalogue. The change log is appended in commit order
(``server.records.changes``), so ``seq > cursor`` never skips a change made by a concurrent writer.
When the user's projects change, the digest no longer matches and the tablet receives its whole
scope again from the start (applying a record twice is harmless); when the catalogue changes, it
receives the catalogue again.

Each change carries the record's current state, so a record changed several times in a page is
sent once, and a later change of it sends it again — harmless too.

A page is read in ONE snapshot (``_one_snapshot``): the change rows that set the cursor, the
records they name, and each record's attendance and review comments all describe the same
moment. On SQLite the reader's ``BEGIN`` (``server.db``) holds one WAL snapshot; on PostgreSQL
the default READ COMMITTED gives every statement its own, so a writer committing between two
reads would tear the page (a record at a version its cursor does not cover, or an activity at
version 1 carrying the comment of the review that made version 2), and the pull asks for
REPEATABLE READ instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.activities.models import Activity, Attachment, Review
from server.activities.service import activity_wire, attendance_by_activity
from server.columns import utcnow
from server.db import among
from server.errors import invalid
from server.projects.models import Participant, Project, Site, Target, site_wire
from server.records.models import Change as ChangeRow
from server.records.models import Receipt
from server.records.receipts import Signer, signed
from server.results.models import Form, Observation, ObservationReview
from server.results.observations import observation_wire
from server.scope import visible_project_ids
from server.sync.models import SyncConflict
from server.sync.wire import (
    attachment_wire,
    catalogue_digest,
    catalogue_wire,
    conflict_wire,
    participant_wire,
    project_wire,
    target_wire,
)
from shared.errors import ErrorCode
from shared.receipts import ENTITIES as RECEIPTED
from sync.protocol import Change, Op, PulledEntity, PullResponse

CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Cursor:
    seq: int
    scope: str
    catalogue: str

    def encode(self) -> str:
        raw = json.dumps(
            {"v": CURSOR_VERSION, "s": self.seq, "p": self.scope, "c": self.catalogue},
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> Cursor | None:
    """The cursor a tablet sent back, or None for "from the beginning"."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError("unknown cursor version")
        return Cursor(int(data["s"]), str(data["p"]), str(data["c"]))
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise invalid(
            "cursor",
            ErrorCode.BAD_CURSOR,
            "not a cursor this server issued; pull again without a cursor",
            status_code=400,
        ) from exc


def scope_digest(project_ids: Iterable[uuid.UUID]) -> str:
    text = ",".join(sorted(str(p) for p in project_ids))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pull_scope(session: Session, *, caller: Caller) -> list[uuid.UUID]:
    """The projects whose records this tablet receives: its user's projects."""
    return sorted(session.execute(visible_project_ids(caller)).scalars(), key=str)


def _one_snapshot(session: Session) -> None:
    """Make every read of this pull see the same snapshot (see the module's docstring)."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the transaction server.db begins holds one snapshot already
    if session.in_transaction():
        raise RuntimeError(
            "pull needs a session with no transaction yet: it reads the page "
            "in one REPEATABLE READ snapshot"
        )
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def pull(
    session: Session, *, caller: Caller, cursor: str | None, limit: int, signer: Signer
) -> PullResponse:
    """A page of changes; ``signer`` signs the custody receipts it hands out."""
    _one_snapshot(session)
    project_ids = pull_scope(session, caller=caller)
    scope = scope_digest(project_ids)
    catalogue = catalogue_digest()
    previous = decode_cursor(cursor)
    after = previous.seq if previous is not None and previous.scope == scope else 0
    changes: list[Change] = []
    if previous is None or previous.catalogue != catalogue or after == 0:
        changes.append(
            Change(
                entity=PulledEntity.CATALOGUE,
                id="catalogue",
                op=Op.UPSERT,
                version=1,
                data=catalogue_wire(),
            )
        )
    frame = _frame(session, project_ids, caller=caller) if after == 0 and project_ids else []

    rows: Sequence[Any] = []
    if project_ids:
        # The changes of its projects, and of the global forms (logged without a project); a
        # change for one tablet (a custody receipt) reaches that tablet only.
        device_id = caller.device.id if caller.device else None
        for_this_device: ColumnElement[bool] = col(ChangeRow.device_id).is_(None)
        if device_id is not None:
            for_this_device = or_(for_this_device, col(ChangeRow.device_id) == device_id)
        rows = session.execute(
            select(
                col(ChangeRow.seq),
                col(ChangeRow.entity),
                col(ChangeRow.entity_id),
                col(ChangeRow.op),
                col(ChangeRow.version),
                col(ChangeRow.project_id),
            )
            .where(
                or_(
                    col(ChangeRow.project_id).in_(project_ids),
                    and_(
                        col(ChangeRow.project_id).is_(None),
                        col(ChangeRow.entity) == PulledEntity.FORM,
                    ),
                ),
                col(ChangeRow.seq) > after,
                for_this_device,
            )
            .order_by(col(ChangeRow.seq))
            .limit(limit + 1)
        ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].seq if rows else after
    if not rows and after == 0:
        # Nothing of its scope logged yet: the cursor moves to the end of the log as this
        # snapshot sees it (commit order is cursor order), or the next pull would start again,
        # with the frame once more.
        last = session.execute(select(func.max(col(ChangeRow.seq)))).scalar_one() or 0
    changes += _once(frame, _current_state(session, rows, caller=caller, signer=signer))
    if previous is not None and after == 0:
        changes += _left_behind_receipts(session, project_ids, caller=caller, signer=signer)
    return PullResponse(
        changes=changes,
        cursor=Cursor(last, scope, catalogue).encode(),
        has_more=has_more,
        server_time=utcnow(),
        projects=[str(p) for p in project_ids] if after == 0 else None,
    )


def _left_behind_receipts(
    session: Session, project_ids: list[uuid.UUID], *, caller: Caller, signer: Signer
) -> list[Change]:
    """On the page that restarts a tablet after its person's projects changed: the receipts of
    what it pushed to projects it no longer serves. Their changes no longer reach it, and a
    record the server took just before its project was taken away would otherwise stay *not
    yet safe* there for good; with its receipt, the tablet can forget it. A receipt says only
    what the tablet sent (ids, versions, photo checksums). Read without an index on the
    device (a scan of the receipts), as it happens only when a person's projects change."""
    if caller.device is None:
        return []
    query = select(Receipt).where(
        col(Receipt.device_id) == caller.device.id,
        col(Receipt.issued_at).is_not(None),
        col(Receipt.project_id).is_not(None),
    )
    if project_ids:
        query = query.where(col(Receipt.project_id).not_in(project_ids))
    found = session.execute(query.order_by(col(Receipt.entity_id))).scalars()
    return [_receipt_change(r, signer) for r in found]


def _once(frame: list[Change], logged: list[Change]) -> list[Change]:
    """The frame, then the logged changes, each record once: one the frame carries already
    (logged when it was made) is left out of the logged ones, and its receipt moves up to
    follow it there."""
    if not frame:
        return logged
    framed = {(change.entity, change.id) for change in frame}
    receipts: dict[tuple[str, str], Change] = {}
    rest: list[Change] = []
    for change in logged:
        if (change.entity, change.id) in framed:
            continue
        if change.entity == PulledEntity.RECEIPT:
            assert change.data is not None
            of = (str(change.data["entity"]), change.id)
            if of in framed:
                receipts[of] = change
                continue
        rest.append(change)
    ordered: list[Change] = []
    for change in frame:
        ordered.append(change)
        if (receipt := receipts.get((change.entity, change.id))) is not None:
            ordered.append(receipt)
    return ordered + rest


def _frame(session: Session, project_ids: list[uuid.UUID], *, caller: Caller) -> list[Change]:
    """A tablet starting from scratch gets its projects, sites and targets up front, whether or
    not their writers logged them (records loaded in bulk, for instance)."""
    frame: list[Change] = []
    queries = (
        (PulledEntity.PROJECT, select(col(Project.id)).where(col(Project.id).in_(project_ids))),
        (PulledEntity.SITE, select(col(Site.id)).where(col(Site.project_id).in_(project_ids))),
        (
            PulledEntity.TARGET,
            select(col(Target.id)).where(col(Target.project_id).in_(project_ids)),
        ),
        (
            PulledEntity.FORM,
            select(col(Form.id)).where(
                or_(col(Form.project_id).is_(None), col(Form.project_id).in_(project_ids)),
                col(Form.status) != "draft",
            ),
        ),
    )
    for entity, query in queries:
        ids = list(session.execute(query).scalars())
        for start in range(0, len(ids), 500):
            frame += _LOADERS[entity](session, ids[start : start + 500], caller)
    return frame


def _current_state(
    session: Session, rows: Sequence[Any], *, caller: Caller, signer: Signer
) -> list[Change]:
    """The records the change rows name, once each, in the order they last changed. A record
    removed for good (a target) is gone from its table: its last change, a delete, becomes its
    tombstone."""
    last_position: dict[tuple[str, uuid.UUID], int] = {}
    for position, row in enumerate(rows):
        last_position[(row.entity, row.entity_id)] = position
    wanted: dict[str, list[uuid.UUID]] = defaultdict(list)
    for entity, entity_id in last_position:
        wanted[entity].append(entity_id)

    found: dict[tuple[str, uuid.UUID], Change] = {}
    for entity, ids in wanted.items():
        loader = _LOADERS.get(entity)
        if entity == PulledEntity.RECEIPT:
            loader = partial(_receipts, signer=signer)
        if loader is None:
            continue
        for start in range(0, len(ids), 500):
            for change in loader(session, ids[start : start + 500], caller):
                found[(entity, uuid.UUID(change.id))] = change
    logged = {(row.entity, row.entity_id, row.version) for row in rows}
    _with_receipts(session, found, last_position, logged, caller=caller, signer=signer)
    for key, position in last_position.items():
        row = rows[position]
        if key not in found and row.op == Op.DELETE and key[0] in _REMOVED_FOR_GOOD:
            found[key] = Change(
                entity=row.entity,
                id=str(row.entity_id),
                op=Op.DELETE,
                version=row.version,
                data={"id": str(row.entity_id), "project_id": str(row.project_id)},
            )
    # a receipt right after its record
    ordered = sorted(
        found.items(),
        key=lambda item: (last_position[item[0]], item[0][0] == PulledEntity.RECEIPT),
    )
    return [change for _, change in ordered]


def _with_receipts(
    session: Session,
    found: dict[tuple[str, uuid.UUID], Change],
    last_position: dict[tuple[str, uuid.UUID], int],
    logged: set[tuple[str, uuid.UUID, int]],
    *,
    caller: Caller,
    signer: Signer,
) -> None:
    """The device's receipts issued with a change this page carries (``logged``: entity, id,
    version): a push logs a record's change, not its receipt's as well
    (``server.records.receipts.write_receipts``), so the receipt travels with that change,
    once, unless the record is deleted since. Each goes right after its record."""
    if caller.device is None:
        return

    def place(receipt: Change) -> None:
        key = (PulledEntity.RECEIPT, uuid.UUID(receipt.id))
        assert receipt.data is not None
        position = last_position[(receipt.data["entity"], key[1])]
        last_position[key] = max(last_position.get(key, position), position)
        found[key] = receipt

    live = {
        key: None for key, change in found.items() if key[0] in RECEIPTED and change.op == Op.UPSERT
    }
    # Receipts the page already holds through their own entries (a photo's upload issued
    # them) are the same rows: placed after their record, not read and signed again.
    held = {key[1]: change for key, change in found.items() if key[0] == PulledEntity.RECEIPT}
    for receipt in list(held.values()):
        assert receipt.data is not None
        record = (receipt.data["entity"], uuid.UUID(receipt.id))
        if record in live and (*record, receipt.version) in logged:
            place(receipt)
    ids = [key[1] for key in live if key[1] not in held]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for receipt in _receipts(session, chunk, caller, signer=signer, logged=logged):
            place(receipt)


def _activities(session: Session, ids: list[uuid.UUID], _caller: Caller) -> list[Change]:
    activities = (
        session.execute(select(Activity).where(among(session, col(Activity.id), ids)))
        .scalars()
        .all()
    )
    attendance = attendance_by_activity(session, [a.id for a in activities])
    return _reviewed_changes(
        PulledEntity.ACTIVITY,
        activities,
        _review_trails(session, col(Review.activity_id), ids),
        lambda activity: activity_wire(activity, attendance[activity.id]),
        after_flags=("late",),
    )


def _review_trails(
    session: Session, record_column: Any, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The reviews of the records ``ids`` (``record_column``: the review table's column naming
    the record: an activity's or an observation's), oldest first, as a tablet shows them."""
    review = record_column.class_
    trails: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(
        select(review).where(among(session, record_column, ids)).order_by(col(review.created_at))
    ).scalars():
        trails[getattr(row, record_column.key)].append(
            {
                "action": row.action,
                "comment": row.comment,
                "at": row.created_at.isoformat() if row.created_at else None,
            }
        )
    return trails


def _reviewed_changes(
    entity: PulledEntity,
    records: Sequence[Any],
    reviews: dict[uuid.UUID, list[dict[str, Any]]],
    wire: Callable[[Any], dict[str, Any]],
    *,
    after_flags: tuple[str, ...] = (),
) -> list[Change]:
    """The changes of reviewed records (activities, observations): a deleted one as a tombstone
    naming its project; another as its ``wire`` form with the fields only the server sets
    (version, flags, the record's ``after_flags``, its reviews and its author)."""
    changes = []
    for record in records:
        data: dict[str, Any]
        if record.deleted:
            op, data = Op.DELETE, {"id": str(record.id), "project_id": str(record.project_id)}
        else:
            op, data = Op.UPSERT, wire(record)
            data.update(version=record.version, flags=record.flags or [])
            data.update({name: getattr(record, name) for name in after_flags})
            data.update(
                reviews=reviews.get(record.id, []),
                created_by_id=str(record.created_by_id) if record.created_by_id else None,
            )
        changes.append(
            Change(entity=entity, id=str(record.id), op=op, version=record.version, data=data)
        )
    return changes


def _simple(entity: PulledEntity, table: Any, wire: Any, *, deleted: bool = False) -> Loader:
    def load(session: Session, ids: list[uuid.UUID], _caller: Caller) -> list[Change]:
        records = (
            session.execute(select(table).where(among(session, table.id, ids))).scalars().all()
        )
        return [
            Change(
                entity=entity,
                id=str(r.id),
                op=Op.DELETE if deleted and r.deleted else Op.UPSERT,
                version=int(getattr(r, "version", 1) or 1),
                data=wire(r),
            )
            for r in records
        ]

    return load


def _conflicts(session: Session, ids: list[uuid.UUID], caller: Caller) -> list[Change]:
    # A tablet receives the conflicts its own pushes raised.
    device_id = caller.device.id if caller.device else None
    conflicts = (
        session.execute(
            select(SyncConflict).where(
                col(SyncConflict.id).in_(ids), col(SyncConflict.device_id) == device_id
            )
        )
        .scalars()
        .all()
    )
    return [
        Change(
            entity=PulledEntity.CONFLICT,
            id=str(c.id),
            op=Op.UPSERT,
            version=1 if c.status == "open" else 2,
            data=conflict_wire(c),
        )
        for c in conflicts
    ]


def form_wire(form: Form) -> dict[str, Any]:
    """A published (or retired) form version as a tablet receives it."""
    return {
        "id": str(form.id),
        "code": form.code,
        "version": form.version,
        "title": form.title,
        "project_id": str(form.project_id) if form.project_id else None,
        "status": form.status,
        "fields": form.fields or [],
        "indicators": form.indicators or [],
        "published_at": form.published_at.isoformat() if form.published_at else None,
        "retired_at": form.retired_at.isoformat() if form.retired_at else None,
    }


def _forms(session: Session, ids: list[uuid.UUID], caller: Caller) -> list[Change]:
    """Forms that apply to the tablet's projects (global ones and its projects' own), once
    published: a draft never travels; a retired one does, so the tablet stops offering it."""
    project_ids = set(pull_scope(session, caller=caller))
    forms = session.execute(select(Form).where(col(Form.id).in_(ids))).scalars().all()
    return [
        Change(
            entity=PulledEntity.FORM,
            id=str(f.id),
            op=Op.UPSERT,
            version=f.version,
            data=form_wire(f),
        )
        for f in forms
        if f.status != "draft" and (f.project_id is None or f.project_id in project_ids)
    ]


def _observations(session: Session, ids: list[uuid.UUID], _caller: Caller) -> list[Change]:
    observations = (
        session.execute(select(Observation).where(among(session, col(Observation.id), ids)))
        .scalars()
        .all()
    )
    return _reviewed_changes(
        PulledEntity.OBSERVATION,
        observations,
        _review_trails(session, col(ObservationReview.observation_id), ids),
        observation_wire,
    )


def _receipts(
    session: Session,
    ids: list[uuid.UUID],
    caller: Caller,
    *,
    signer: Signer,
    logged: set[tuple[str, uuid.UUID, int]] | None = None,
) -> list[Change]:
    """A tablet receives the custody receipts of the versions it pushed, signed now (the
    same bytes each time under the same key: Ed25519 is deterministic). ``logged``: only
    those of these versions (entity, id, version), the others not even signed."""
    if caller.device is None:
        return []
    receipts = session.execute(device_receipts(session, ids, caller.device.id)).scalars()
    return [
        _receipt_change(r, signer)
        for r in receipts
        if logged is None or (r.entity, r.entity_id, r.version) in logged
    ]


def _receipt_change(receipt: Receipt, signer: Signer) -> Change:
    """A receipt as the pull hands it out: signed now, for the record it covers."""
    return Change(
        entity=PulledEntity.RECEIPT,
        id=str(receipt.entity_id),
        op=Op.UPSERT,
        version=receipt.version,
        data=signed(receipt, signer),
    )


def device_receipts(
    session: Session, ids: list[uuid.UUID], device_id: uuid.UUID
) -> Select[Receipt]:
    """The issued receipts of these records that are this device's: found through their key,
    (entity_id, entity), however many receipts the device holds (migration 0018); which
    device, and whether issued, are read from the receipts found."""
    return select(Receipt).where(
        among(session, col(Receipt.entity_id), ids),
        col(Receipt.device_id) == device_id,
        col(Receipt.issued_at).is_not(None),
    )


# Records whose delete removes the row (no tombstone column): targets.
_REMOVED_FOR_GOOD = frozenset({PulledEntity.TARGET})

Loader = Callable[[Session, list[uuid.UUID], Caller], list[Change]]
_LOADERS: dict[str, Loader] = {
    PulledEntity.ACTIVITY: _activities,
    PulledEntity.PROJECT: _simple(PulledEntity.PROJECT, Project, project_wire),
    PulledEntity.SITE: _simple(PulledEntity.SITE, Site, site_wire),
    PulledEntity.TARGET: _simple(PulledEntity.TARGET, Target, target_wire),
    PulledEntity.PARTICIPANT: _simple(
        PulledEntity.PARTICIPANT, Participant, participant_wire, deleted=True
    ),
    PulledEntity.ATTACHMENT: _simple(
        PulledEntity.ATTACHMENT, Attachment, attachment_wire, deleted=True
    ),
    PulledEntity.CONFLICT: _conflicts,
    PulledEntity.FORM: _forms,
    PulledEntity.OBSERVATION: _observations,
}
