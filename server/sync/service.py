"""Applying a push exactly once (docs/protocol.md#push).

A batch and the device's ``last_seq`` commit together in the caller's transaction, with the
device row locked, so two deliveries of the same batch cannot both apply it:

- mutations with ``seq <= last_seq`` are answered ``duplicate`` and change nothing;
- a batch whose first new seq is not ``last_seq + 1`` is refused whole (409 ``expected_seq``);
- every other mutation gets a final answer — applied, merged, conflict or rejected — and a
  rejected or conflicting one is kept (``KeptMutation``, ``SyncConflict``), never dropped, so
  nothing blocks the queue.

Each mutation runs in a savepoint: a rejection rolls back only that mutation's writes.
"""

from __future__ import annotations

import gc
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import Device
from server.activities.models import Activity, Attachment
from server.columns import utcnow
from server.config import Settings
from server.db import among
from server.errors import Forbidden
from server.projects.models import Participant, Site
from server.receipts.service import issue_after_push
from server.records.changes import record_change
from server.records.receipts import Held, Signer
from server.results.models import Observation
from server.results.observations import flatten
from server.sync.errors import PayloadTooLarge, ProtocolNotSupported, SeqGap
from server.sync.models import KeptMutation, SyncConflict
from server.sync.records import (
    Outcome,
    PushContext,
    Rejected,
    apply_activity,
    apply_attachment,
    apply_new_activities,
    apply_new_observations,
    apply_observation,
    apply_participant,
    apply_site,
    is_plain_create,
    is_plain_new_observation,
)
from shared.errors import ErrorCode, Issue
from sync.merge import DELETED, MergeOutcome
from sync.protocol import (
    MAX_CHUNK_BYTES,
    MAX_PULL_LIMIT,
    SUPPORTED_PROTOCOLS,
    Entity,
    FieldError,
    Mutation,
    MutationResult,
    Op,
    PushRequest,
    PushResponse,
    ReceiptKeyInfo,
    ResultStatus,
    SyncInfo,
)

_TABLES: dict[Entity, Any] = {
    Entity.ACTIVITY: Activity,
    Entity.PARTICIPANT: Participant,
    Entity.SITE: Site,
    Entity.ATTACHMENT: Attachment,
    Entity.CONFLICT: SyncConflict,
    Entity.OBSERVATION: Observation,
}


def _apply_conflict(context: PushContext, mutation: Mutation, conflict: Any) -> Outcome:
    """A tablet settling one of its conflicts (logic in server.sync.conflicts, which imports
    this module: imported here, when first used)."""
    from server.sync.conflicts import apply_device_resolution

    return apply_device_resolution(context, mutation, conflict)


_APPLY: dict[Entity, Callable[[PushContext, Mutation, Any], Outcome]] = {
    Entity.ACTIVITY: apply_activity,
    Entity.PARTICIPANT: apply_participant,
    Entity.SITE: apply_site,
    Entity.ATTACHMENT: apply_attachment,
    Entity.CONFLICT: _apply_conflict,
    Entity.OBSERVATION: apply_observation,
}


def sync_info(*, settings: Settings, receipt_keys: list[dict[str, str]]) -> SyncInfo:
    return SyncInfo(
        receipt_keys=[ReceiptKeyInfo(**key) for key in receipt_keys],
        protocols=list(SUPPORTED_PROTOCOLS),
        max_batch_bytes=settings.max_request_bytes,
        max_batch_mutations=settings.max_push_mutations,
        max_chunk_bytes=MAX_CHUNK_BYTES,
        max_pull_limit=MAX_PULL_LIMIT,
        server_time=utcnow(),
    )


def check_protocol(protocol: object) -> None:
    if protocol not in SUPPORTED_PROTOCOLS:
        raise ProtocolNotSupported(protocol, SUPPORTED_PROTOCOLS)


def lock_device(session: Session, *, device_id: uuid.UUID) -> Device:
    """The device row, locked until the transaction ends (SQLite: BEGIN IMMEDIATE does it)."""
    device = session.execute(
        select(Device)
        .where(col(Device.id) == device_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    return device


def push(
    session: Session,
    *,
    caller: Caller,
    request: PushRequest,
    max_mutations: int,
    signer: Signer,
    source: str = "push",
    app_version: str | None = None,
) -> PushResponse:
    """Apply a batch in the caller's transaction (the caller commits), with the custody
    receipts of what it completed (``signer`` signs them)."""
    check_protocol(request.protocol)
    if caller.device is None:
        raise Forbidden("pushes come from an enrolled tablet: use its device token")
    if request.device_id != caller.device.id:
        raise Forbidden("this batch names another tablet than the one the token belongs to")
    if len(request.mutations) > max_mutations:
        raise PayloadTooLarge(
            f"the batch holds {len(request.mutations)} mutations; the limit is {max_mutations}",
            limit=max_mutations,
        )
    device = lock_device(session, device_id=caller.device.id)
    last_seq = device.last_seq
    fresh = [m for m in request.mutations if m.seq > last_seq]
    if fresh and fresh[0].seq != last_seq + 1:
        raise SeqGap(expected_seq=last_seq + 1, got=fresh[0].seq)

    with collector_paused():
        results = _duplicates(
            session, device.id, [m for m in request.mutations if m.seq <= last_seq]
        )
        context = PushContext(
            session=session, caller=caller, device=device, today=utcnow().date(), source=source
        )
        existing = _existing(session, fresh)
        new = {(m.entity, m.id) for m in fresh if (m.entity, m.id) not in existing}
        for run, bulk in _runs(fresh, existing):
            if bulk is not None:
                results += _apply_in_bulk(context, run, existing, bulk)
            else:
                results += [_apply_one(context, mutation, existing) for mutation in run]
        _issue_receipts(session, signer, device_id=device.id, fresh=fresh, results=results, new=new)

    now = utcnow()
    if fresh:
        device.last_seq = fresh[-1].seq
    device.last_seen_at = now
    if app_version:
        device.app_version = app_version[:40]
    session.add(device)
    session.flush()
    return PushResponse(last_seq=device.last_seq, server_time=now, results=results)


_WRITTEN = (ResultStatus.APPLIED, ResultStatus.MERGED)


def _issue_receipts(
    session: Session,
    signer: Signer,
    *,
    device_id: uuid.UUID,
    fresh: Sequence[Mutation],
    results: Sequence[MutationResult],
    new: set[tuple[Entity, uuid.UUID]],
) -> None:
    """Custody receipts for the records the batch applied (docs/protocol.md#custody-receipts):
    in the push's transaction, once per record, for its version after the whole batch.

    A record the batch created, in a batch that carried no photo, cannot have a photo nor a
    receipt yet: its receipt is made from the batch's own answers, without reading it back
    (the bulk path of new activities stays a few statements per batch)."""
    written = {r.seq: r for r in results if r.status in _WRITTEN}
    last: dict[tuple[Entity, uuid.UUID], tuple[Mutation, MutationResult]] = {}
    for mutation in fresh:
        result = written.get(mutation.seq)
        if result is not None:
            last[(mutation.entity, mutation.id)] = (mutation, result)
    photos = {key[1] for key in last if key[0] == Entity.ATTACHMENT}
    touched: dict[str, set[uuid.UUID]] = {}
    created: list[Held] = []
    projects: dict[str, uuid.UUID] = {}  # a batch's records share a few projects: parsed once
    for key, (mutation, result) in last.items():
        entity, record_id = key
        if entity in (Entity.ATTACHMENT, Entity.CONFLICT):
            continue
        project_id = (mutation.data or {}).get("project_id")
        if (
            not photos
            and project_id is not None
            and result.version is not None
            and mutation.op == Op.UPSERT
            and key in new
        ):
            project = projects.get(text := str(project_id))
            if project is None:
                project = projects[text] = uuid.UUID(text)
            created.append(Held(str(entity), record_id, result.version, project, []))
        else:
            touched.setdefault(str(entity), set()).add(record_id)
    issue_after_push(
        session, signer, device_id=device_id, touched=touched, photos=photos, created=created
    )


# --- the cyclic garbage collector -------------------------------------------------------------

# While a batch is applied, thousands of its objects (parsed records, clean copies, rows) stay
# alive until it ends; each time the collector runs it scans them all again, and a 2 000-record
# batch triggers several full collections: a third of the push's time went there. Nearly all of
# that memory is freed by reference counting as soon as the batch ends, so the collector is
# paused while a batch is applied and resumes when the last running batch ends. Batches are
# bounded (``max_push_mutations``, ``max_request_bytes``); and if overlapping pushes keep the
# collector paused while cyclic garbage piles up past ``_COLLECT_AFTER`` objects, the batch that
# ends collects then and there.
_COLLECT_AFTER = 250_000
_pause_lock = threading.Lock()
_pause = {"holders": 0, "resume": False}


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration (nestable, thread-safe)."""
    with _pause_lock:
        if _pause["holders"] == 0:
            _pause["resume"] = gc.isenabled()
            gc.disable()
        _pause["holders"] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause["holders"] -= 1
            if _pause["holders"] == 0:
                if _pause["resume"]:
                    gc.enable()
            elif gc.get_count()[0] > _COLLECT_AFTER:
                gc.collect()


# Plain new records of these entities go in bulk, one run per entity (``_runs``).
_BULK: dict[Entity, Callable[[PushContext, list[Mutation]], dict[int, Outcome | Rejected]]] = {
    Entity.ACTIVITY: apply_new_activities,
    Entity.OBSERVATION: apply_new_observations,
}


def _bulk_entity(mutation: Mutation, existing: Any) -> Entity | None:
    """The entity whose bulk path takes ``mutation`` (None: it goes one by one)."""
    if is_plain_create(mutation, existing) or is_plain_new_observation(mutation, existing):
        return mutation.entity
    return None


def _runs(
    mutations: Sequence[Mutation], existing: dict[tuple[Entity, uuid.UUID], Any]
) -> list[tuple[list[Mutation], Entity | None]]:
    """Split a batch, in order, into runs of plain new activities or new observations (each
    written in bulk) and runs of everything else (applied one by one). A record touched twice
    in the batch goes one by one."""
    seen = Counter((m.entity, m.id) for m in mutations)
    runs: list[tuple[list[Mutation], Entity | None]] = []
    for mutation in mutations:
        key = (mutation.entity, mutation.id)
        bulk = _bulk_entity(mutation, existing.get(key)) if seen[key] == 1 else None
        if runs and runs[-1][1] == bulk:
            runs[-1][0].append(mutation)
        else:
            runs.append(([mutation], bulk))
    return runs


def _apply_in_bulk(
    context: PushContext,
    run: list[Mutation],
    existing: dict[tuple[Entity, uuid.UUID], Any],
    entity: Entity = Entity.ACTIVITY,
) -> list[MutationResult]:
    try:
        with context.session.begin_nested():
            answers = _BULK[entity](context, run)
    except (IntegrityError, DataError):
        # One of them cannot be stored after all: take them one by one to find which.
        return [_apply_one(context, mutation, existing) for mutation in run]
    results = []
    for mutation in run:
        answer = answers[mutation.seq]
        if isinstance(answer, Rejected):
            _keep(context, mutation, status=ResultStatus.REJECTED, errors=answer.errors)
            results.append(
                MutationResult(
                    seq=mutation.seq,
                    id=mutation.id,
                    status=ResultStatus.REJECTED,
                    errors=[FieldError(**e) for e in answer.errors],
                )
            )
        else:
            results.append(
                MutationResult(
                    seq=mutation.seq, id=mutation.id, status=answer.status, version=answer.version
                )
            )
    return results


def _existing(
    session: Session, mutations: Sequence[Mutation]
) -> dict[tuple[Entity, uuid.UUID], Any]:
    """The records a batch touches, loaded in one query per entity."""
    found: dict[tuple[Entity, uuid.UUID], Any] = {}
    touched: dict[Entity, dict[uuid.UUID, None]] = {entity: {} for entity in _TABLES}
    for m in mutations:  # one pass over the batch, each entity's ids in their first order
        touched[m.entity][m.id] = None
    for entity, table in _TABLES.items():
        ids = list(touched[entity])
        for start in range(0, len(ids), 500):
            rows = session.execute(
                select(table).where(among(session, table.id, ids[start : start + 500]))
            ).scalars()
            for row in rows:
                found[(entity, row.id)] = row
    return found


def _apply_one(
    context: PushContext, mutation: Mutation, existing: dict[tuple[Entity, uuid.UUID], Any]
) -> MutationResult:
    session = context.session
    key = (mutation.entity, mutation.id)
    record = existing.get(key)
    if record is None:
        record = session.get(_TABLES[mutation.entity], mutation.id)
    try:
        with session.begin_nested():
            outcome = _APPLY[mutation.entity](context, mutation, record)
    except Rejected as exc:
        _keep(context, mutation, status=ResultStatus.REJECTED, errors=exc.errors)
        return MutationResult(
            seq=mutation.seq,
            id=mutation.id,
            status=ResultStatus.REJECTED,
            version=exc.version,
            errors=[FieldError(**e) for e in exc.errors],
        )
    except (IntegrityError, DataError) as exc:
        # Validation should have caught it; keep the mutation rather than block the queue.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        issue = Issue(
            "", ErrorCode.NOT_STORABLE, f"the server could not store this record: {reason}"
        )
        _keep(context, mutation, status=ResultStatus.REJECTED, errors=[issue.as_dict()])
        return MutationResult(
            seq=mutation.seq,
            id=mutation.id,
            status=ResultStatus.REJECTED,
            errors=[FieldError(**issue.as_dict())],
        )
    existing.pop(key, None)
    errors: list[dict[str, str]] = []
    if outcome.status == ResultStatus.CONFLICT:
        assert outcome.merge is not None
        errors = [i.as_dict() for i in conflict_issues(outcome.merge)]
        kept = _keep(context, mutation, status=ResultStatus.CONFLICT, errors=errors)
        _record_conflict(context, mutation, outcome, kept)
    elif mutation.data:
        _supersede_conflicts(context, mutation, outcome)
    return MutationResult(
        seq=mutation.seq,
        id=mutation.id,
        status=outcome.status,
        version=outcome.version,
        errors=[FieldError(**e) for e in errors],
    )


def conflict_issues(merge: MergeOutcome) -> list[Issue]:
    """What a ``conflict`` answer says, field by field: changed on both sides (the server kept
    its value), or a record deleted on one side and changed on the other."""
    found = []
    for name, values in sorted(merge.conflicts.items()):
        if name == DELETED and values.server:
            found.append(
                Issue(name, ErrorCode.DELETED_ON_SERVER, "the record was deleted on the server")
            )
        elif name == DELETED:
            found.append(
                Issue(
                    name,
                    ErrorCode.CHANGED_ON_SERVER,
                    "the record was changed on the server since your version, so it was not "
                    "deleted",
                )
            )
        else:
            found.append(
                Issue(
                    name,
                    ErrorCode.EDIT_CONFLICT,
                    f"{name}: changed on the server too since your version; the server kept "
                    "its value",
                )
            )
    return found


def storable(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The incoming data as a database can keep it: PostgreSQL refuses NUL in text and JSON, so
    a NUL becomes U+FFFD (the rejection's errors already name the field that held it)."""
    if data is None:
        return None
    try:
        if "\\u0000" not in json.dumps(data):
            return data
    except RecursionError:
        pass  # too deep to encode at once: walk it below
    copy: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(data, copy)]
    while stack:  # iterative: the data may nest as deep as the JSON parser allowed
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            clean_key = key.replace("\x00", "\ufffd") if isinstance(key, str) else key
            if isinstance(value, dict | list):
                child: Any = {} if isinstance(value, dict) else [None] * len(value)
                stack.append((value, child))
                value = child
            elif isinstance(value, str):
                value = value.replace("\x00", "\ufffd")
            if isinstance(target, dict):
                target[clean_key] = value
            else:
                target[key] = value
    return copy


def _duplicates(
    session: Session, device_id: uuid.UUID, mutations: Sequence[Mutation]
) -> list[MutationResult]:
    """The answers to mutations delivered before (``seq <= last_seq``): nothing changes. One
    the server kept as rejected or conflict is answered so again, with its reasons: the answer
    the tablet did not get may have been that one, and a tablet told only ``duplicate`` took a
    refused change for done (a refused delete hid the record on the tablet for good while the
    server kept it)."""
    if not mutations:
        return []
    existing = _existing(session, mutations)
    kept = {
        k.seq: k
        for k in session.execute(
            select(KeptMutation).where(
                col(KeptMutation.device_id) == device_id,
                among(session, col(KeptMutation.seq), [m.seq for m in mutations]),
            )
        ).scalars()
    }
    results = []
    for m in mutations:
        refused = kept.get(m.seq)
        results.append(
            MutationResult(
                seq=m.seq,
                id=m.id,
                status=ResultStatus.DUPLICATE if refused is None else ResultStatus(refused.status),
                version=getattr(existing.get((m.entity, m.id)), "version", None),
                errors=[] if refused is None else [FieldError(**e) for e in refused.errors],
            )
        )
    return results


def _keep(
    context: PushContext, mutation: Mutation, *, status: ResultStatus, errors: list[dict[str, str]]
) -> KeptMutation:
    kept = KeptMutation(
        device_id=context.device.id,
        seq=mutation.seq,
        entity=mutation.entity,
        entity_id=mutation.id,
        op=mutation.op,
        base_version=mutation.base_version,
        data=storable(mutation.data),
        status=status,
        # An error may quote the bad input, NUL included.
        errors=(storable({"errors": errors}) or {}).get("errors", errors),
        author_id=context.caller.user.id,
    )
    context.session.add(kept)
    context.session.flush()
    return kept


def _record_conflict(
    context: PushContext, mutation: Mutation, outcome: Outcome, kept: KeptMutation
) -> None:
    assert outcome.merge is not None
    conflicts = outcome.merge.conflicts
    conflict = SyncConflict(
        entity=mutation.entity,
        entity_id=mutation.id,
        project_id=outcome.project_id,
        mutation_id=kept.id,
        device_id=context.device.id,
        fields=sorted(conflicts),
        base_values={k: c.base for k, c in conflicts.items()},
        server_values={k: c.server for k, c in conflicts.items()},
        device_values={k: c.device for k, c in conflicts.items()},
        server_version=outcome.server_version,
    )
    context.session.add(conflict)
    context.session.flush()
    record_change(
        context.session,
        entity="conflict",
        entity_id=conflict.id,
        op="upsert",
        version=1,
        project_id=outcome.project_id,
    )


def _supersede_conflicts(context: PushContext, mutation: Mutation, outcome: Outcome) -> None:
    """A tablet that saw the server's values and saved again has settled its own conflict."""
    session = context.session
    open_conflicts = (
        session.execute(
            select(SyncConflict).where(
                col(SyncConflict.entity) == mutation.entity,
                col(SyncConflict.entity_id) == mutation.id,
                col(SyncConflict.device_id) == context.device.id,
                col(SyncConflict.status) == "open",
            )
        )
        .scalars()
        .all()
    )
    data = mutation.data or {}
    if mutation.entity == Entity.OBSERVATION:
        data = flatten(data)  # its conflicts name answers as values.<name>
    for conflict in open_conflicts:
        seen = (conflict.server_version or 0) <= mutation.base_version
        if seen and all(name in data for name in conflict.fields):
            close_conflict(
                session,
                conflict=conflict,
                status="superseded",
                resolution={
                    "by": "device",
                    "seq": mutation.seq,
                    "values": {n: data[n] for n in conflict.fields},
                },
                resolved_by_id=context.caller.user.id,
            )


def close_conflict(
    session: Session,
    *,
    conflict: SyncConflict,
    status: str,
    resolution: dict[str, Any],
    resolved_by_id: uuid.UUID | None,
    at: datetime | None = None,
) -> None:
    conflict.status = status
    conflict.resolution = resolution
    conflict.resolved_by_id = resolved_by_id
    conflict.resolved_at = at or utcnow()
    session.add(conflict)
    session.flush()
    record_change(
        session,
        entity="conflict",
        entity_id=conflict.id,
        op="upsert",
        version=2,
        project_id=conflict.project_id,
    )
