"""The tablet's store: one SQLite file with the records, the outbox and the upload queue.

What a kill at any instant can and cannot do (DESIGN §4.5):

- ``save``/``delete`` write the record and its outbox mutation in ONE transaction, with
  ``synchronous=FULL``: after ``save`` returns, the change survives a power cut.
- A mutation stays in the outbox until the server's answer for it is stored (``acknowledge``);
  there is no "sending" state, so a kill mid-push leaves it pending and the next push resends
  it — the server answers ``duplicate`` if the first delivery had gone through.
- A pull page and the cursor after it are stored in ONE transaction (``apply_pull``).
- ``seq`` comes from a counter stored in the same transaction as the mutation: 1, 2, 3, …
  forever, never reused.

Records keep two states: ``server_data`` (last pulled from the server, with its ``version``) and
``data`` (what the app shows: the server's state with the pending mutations laid over it). A save
sends the whole record while the server has never acknowledged it (version 0) and only the fields
this save changed afterwards, with ``base_version`` = the version last pulled; the server merges.

Per-record state for the app: ``draft`` (never submitted), ``pending`` (in the outbox),
``synced``, ``returned`` (the country office sent it back), ``conflict`` (an open conflict from
one of this tablet's pushes), ``rejected`` (the server refused the last change; the reasons are
kept until the next save).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.merge import same_value
from sync.protocol import Change, Entity, Mutation, MutationResult, Op, ResultStatus

SCHEMA_VERSION = 1

# Keys the server owns; a save never sends them (status moves through review on the server).
SERVER_KEYS: frozenset[str] = frozenset({
    "id", "status", "version", "flags", "late", "reviews", "created_by_id", "deleted",
    "complete",
})

PENDING = "pending"
SYNCED = "synced"
RETURNED = "returned"
CONFLICT = "conflict"
REJECTED = "rejected"
DRAFT = "draft"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS record (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    server_data TEXT,
    server_deleted INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    errors TEXT,
    PRIMARY KEY (entity, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS outbox_record ON outbox (entity, id);
CREATE TABLE IF NOT EXISTS conflict (
    id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conflict_record ON conflict (entity, entity_id);
CREATE TABLE IF NOT EXISTS upload (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
"""


_CHUNK = 500


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    path: Path
    size: int
    sha256: str
    content_type: str
    state: str
    attempts: int
    error: str | None


class DeviceStore:
    """The tablet's SQLite file. Thread-safe: calls are serialised by one lock."""

    def __init__(self, path: str | Path, *, device_id: str | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.files_dir = self.path.parent / f"{self.path.stem}-photos"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a save that returned survives a power cut, not only a crash of the app.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._write():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if self._meta("device_id") is None:
                self._set_meta("device_id", device_id or str(uuid.uuid4()))
                self._set_meta("last_seq", "0")
                self._set_meta("schema", str(SCHEMA_VERSION))
        if device_id is not None and self.device_id != device_id:
            raise ValueError(f"{self.path} belongs to tablet {self.device_id}, not {device_id}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- transactions and meta -------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str | None) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta(key)

    def set_meta(self, **values: str | None) -> None:
        with self._write():
            for key, value in values.items():
                self._set_meta(key, value)

    @property
    def device_id(self) -> str:
        value = self.meta("device_id")
        assert value is not None
        return value

    @property
    def cursor(self) -> str | None:
        return self.meta("cursor")

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # --- saving ------------------------------------------------------------------------------

    def save(self, entity: str, data: Mapping[str, Any], *, draft: bool = False) -> Mutation | None:
        """Store a record the user saved, and queue it for the server, in one transaction.

        ``data`` is the whole record as the form holds it (with its ``id``). Returns the queued
        mutation, or None when nothing changed (or for a draft, which stays on the tablet).
        """
        Entity(entity)  # only pushable records are saved on the tablet
        with self._write():
            return self._save(entity, data, draft=draft)

    def save_many(self, entity: str, records: Sequence[Mapping[str, Any]]) -> int:
        """Save many records in one transaction (an import); returns how many were queued."""
        Entity(entity)
        with self._write():
            return sum(self._save(entity, data, draft=False) is not None for data in records)

    def _save(self, entity: str, data: Mapping[str, Any], *, draft: bool) -> Mutation | None:
        record_id = str(data["id"])
        row = self._row(entity, record_id)
        if row is not None and row["deleted"]:
            raise ValueError(f"{entity} {record_id} was deleted; it cannot be saved again")
        current = json.loads(row["data"]) if row is not None else {}
        version = row["version"] if row is not None else 0
        view = {**current, **data}
        if draft:
            view["status"] = DRAFT
            self._put(entity, record_id, view, row, state=DRAFT, errors=None)
            return None
        if version == 0 or row is None:
            # Never acknowledged by the server: send the whole record.
            changes = {k: v for k, v in view.items() if k not in SERVER_KEYS}
        else:
            changes = {
                k: v for k, v in data.items()
                if k not in SERVER_KEYS and not same_value(k, current.get(k), v)
            }
            if not changes:
                return None
        if view.get("status") == DRAFT:
            view.pop("status")
        mutation = self._queue(entity, record_id, Op.UPSERT, version, changes)
        self._put(entity, record_id, view, row, state=PENDING, errors=None)
        return mutation

    def delete(self, entity: str, record_id: str) -> Mutation | None:
        """Delete a record (a tombstone on the server) and queue the delete."""
        Entity(entity)
        with self._write():
            row = self._row(entity, record_id)
            if row is None or row["deleted"]:
                return None
            if row["state"] == DRAFT and row["version"] == 0:
                self._db.execute("DELETE FROM record WHERE entity = ? AND id = ?",
                                 (entity, record_id))
                return None
            mutation = self._queue(entity, record_id, Op.DELETE, row["version"], None)
            self._db.execute("UPDATE record SET deleted = 1, state = ? WHERE entity = ? AND "
                             "id = ?", (PENDING, entity, record_id))
            return mutation

    def _queue(self, entity: str, record_id: str, op: Op, base_version: int,
               data: dict[str, Any] | None) -> Mutation:
        seq = int(self._meta("last_seq") or 0) + 1
        self._set_meta("last_seq", str(seq))
        self._db.execute(
            "INSERT INTO outbox (seq, entity, id, op, base_version, data) VALUES (?,?,?,?,?,?)",
            (seq, entity, record_id, op.value, base_version,
             None if data is None else _dumps(data)),
        )
        return Mutation(seq=seq, entity=Entity(entity), op=op, id=uuid.UUID(record_id),
                        base_version=base_version, data=data)

    def _row(self, entity: str, record_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM record WHERE entity = ? AND id = ?", (entity, record_id)).fetchone()
        return row

    def _put(self, entity: str, record_id: str, data: Mapping[str, Any],
             row: sqlite3.Row | None, *, state: str, errors: list[Any] | None) -> None:
        if row is None:
            self._db.execute(
                "INSERT INTO record (entity, id, data, state, errors) VALUES (?,?,?,?,?)",
                (entity, record_id, _dumps(data), state,
                 None if errors is None else _dumps(errors)))
        else:
            self._db.execute(
                "UPDATE record SET data = ?, state = ?, errors = ? WHERE entity = ? AND id = ?",
                (_dumps(data), state, None if errors is None else _dumps(errors), entity,
                 record_id))

    # --- photos ------------------------------------------------------------------------------

    def add_photo(self, *, attachment_id: str, activity_id: str, source: str | Path,
                  content_type: str, caption: str = "") -> Mutation | None:
        """Keep a (downscaled) photo on the tablet and queue its metadata and its bytes."""
        self.files_dir.mkdir(parents=True, exist_ok=True)
        target = self.files_dir / attachment_id
        temporary = target.with_suffix(".tmp")
        shutil.copyfile(source, temporary)
        digest = hashlib.sha256()
        size = 0
        with open(temporary, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
                size += len(block)
            _fsync(handle.fileno())
        temporary.replace(target)
        metadata = {"id": attachment_id, "activity_id": activity_id, "sha256": digest.hexdigest(),
                    "size": size, "content_type": content_type, "caption": caption}
        with self._write():
            self._db.execute(
                "INSERT INTO upload (id, path, size, sha256, content_type, state) "
                "VALUES (?,?,?,?,?, 'waiting') ON CONFLICT (id) DO NOTHING",
                (attachment_id, str(target), size, metadata["sha256"], content_type))
            row = self._row(Entity.ATTACHMENT, attachment_id)
            mutation = self._queue(Entity.ATTACHMENT, attachment_id, Op.UPSERT,
                                   row["version"] if row is not None else 0, metadata)
            self._put(Entity.ATTACHMENT, attachment_id, metadata, row, state=PENDING,
                      errors=None)
        return mutation

    def uploads(self, *, state: str = "waiting") -> list[Upload]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM upload WHERE state = ? ORDER BY rowid",
                                    (state,)).fetchall()
        return [Upload(r["id"], Path(r["path"]), r["size"], r["sha256"], r["content_type"],
                       r["state"], r["attempts"], r["error"]) for r in rows]

    def upload_ready(self, attachment_id: str) -> bool:
        """Bytes may go once the server has answered the metadata mutation."""
        with self._lock:
            pending = self._db.execute(
                "SELECT 1 FROM outbox WHERE entity = 'attachment' AND id = ? LIMIT 1",
                (attachment_id,)).fetchone()
            row = self._row(Entity.ATTACHMENT, attachment_id)
        return pending is None and row is not None and row["state"] != REJECTED

    def finish_upload(self, attachment_id: str, *, state: str, error: str | None = None) -> None:
        with self._write():
            self._db.execute("UPDATE upload SET state = ?, error = ?, attempts = attempts + 1 "
                             "WHERE id = ?", (state, error, attachment_id))

    def count_upload_attempt(self, attachment_id: str, error: str) -> int:
        with self._write():
            self._db.execute("UPDATE upload SET attempts = attempts + 1, error = ? WHERE id = ?",
                             (error, attachment_id))
            row = self._db.execute("SELECT attempts FROM upload WHERE id = ?",
                                   (attachment_id,)).fetchone()
        return int(row[0]) if row else 0

    # --- the outbox --------------------------------------------------------------------------

    def pending(self, *, limit: int | None = None) -> list[Mutation]:
        """Mutations not yet answered by the server, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox ORDER BY seq LIMIT ?",
                                    (limit or -1,)).fetchall()
        return [
            Mutation(seq=r["seq"], entity=Entity(r["entity"]), op=Op(r["op"]),
                     id=uuid.UUID(r["id"]), base_version=r["base_version"],
                     data=None if r["data"] is None else json.loads(r["data"]))
            for r in rows
        ]

    def pending_encoded(self, *, limit: int) -> list[tuple[int, str]]:
        """The oldest pending mutations as (seq, JSON text), as a push sends them: without a
        round trip through objects, and without default fields (base_version 0, no data)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        encoded = []
        for r in rows:
            text = (f'{{"seq":{r["seq"]},"entity":{json.dumps(r["entity"])},'
                    f'"op":{json.dumps(r["op"])},"id":{json.dumps(r["id"])}')
            if r["base_version"]:
                text += f',"base_version":{int(r["base_version"])}'
            if r["data"] is not None:
                text += f',"data":{r["data"]}'
            encoded.append((int(r["seq"]), text + "}"))
        return encoded

    def pending_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def acknowledge(self, results: Sequence[MutationResult]) -> None:
        """Store the server's answers: the mutations leave the outbox, the records get a state."""
        with self._write():
            owners: dict[int, tuple[str, str]] = {}
            seqs = [r.seq for r in results]
            for start in range(0, len(seqs), _CHUNK):
                part = seqs[start:start + _CHUNK]
                owners.update((r["seq"], (r["entity"], r["id"])) for r in self._db.execute(
                    f"SELECT seq, entity, id FROM outbox WHERE seq IN ({_marks(part)})",  # noqa: S608
                    part))
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in owners])
            accepted: list[tuple[str, str]] = []
            for result in results:
                owner = owners.get(result.seq)
                if owner is None:
                    continue  # answered before (a repeated answer)
                if result.status in (ResultStatus.REJECTED, ResultStatus.CONFLICT):
                    errors = [e.model_dump() for e in result.errors]
                    self._answered(owner[0], owner[1], result.status, errors)
                else:
                    accepted.append(owner)
            self._settle(accepted)

    def _settle(self, records: Sequence[tuple[str, str]]) -> None:
        """The state of records whose change the server took (the common case, in bulk)."""
        ids = sorted({record_id for _, record_id in records})
        pending: set[tuple[str, str]] = set()
        conflicted: set[tuple[str, str]] = set()
        current: dict[tuple[str, str], tuple[str, str | None]] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            marks = _marks(part)
            pending.update((r[0], r[1]) for r in self._db.execute(
                f"SELECT entity, id FROM outbox WHERE id IN ({marks})", part))  # noqa: S608
            conflicted.update((r[0], r[1]) for r in self._db.execute(
                f"SELECT entity, entity_id FROM conflict WHERE status = 'open' "  # noqa: S608
                f"AND entity_id IN ({marks})", part))
            current.update(((r[0], r[1]), (r[2], r[3])) for r in self._db.execute(
                f"SELECT entity, id, state, json_extract(data, '$.status') FROM record "  # noqa: S608
                f"WHERE id IN ({marks})", part))
        updates = []
        for key in dict.fromkeys(records):
            if key not in current:
                continue
            stored, status = current[key]
            if key in pending:
                state = PENDING
            elif key in conflicted:
                state = CONFLICT
            elif stored == REJECTED:
                state = REJECTED
            else:
                state = RETURNED if status == RETURNED else SYNCED
            updates.append((state, key[0], key[1]))
        self._db.executemany("UPDATE record SET state = ? WHERE entity = ? AND id = ?", updates)

    def _answered(self, entity: str, record_id: str, status: str,
                  errors: list[dict[str, Any]]) -> None:
        row = self._row(entity, record_id)
        if row is None:
            return
        if status in (ResultStatus.REJECTED, ResultStatus.CONFLICT) and row["server_data"]:
            # The server kept its values: show them (the refused change is kept on the server).
            self._rebase(entity, record_id, json.loads(row["server_data"]),
                         bool(row["server_deleted"]))
            row = self._row(entity, record_id)
            assert row is not None
        if status == ResultStatus.REJECTED:
            state, kept = REJECTED, errors
        elif status == ResultStatus.CONFLICT:
            state, kept = CONFLICT, None
        else:
            state, kept = self._settled_state(entity, record_id, row), None
        if self._has_pending(entity, record_id):
            state = PENDING
        self._db.execute("UPDATE record SET state = ?, errors = COALESCE(?, errors) "
                         "WHERE entity = ? AND id = ?",
                         (state, None if kept is None else _dumps(kept), entity, record_id))

    def _has_pending(self, entity: str, record_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM outbox WHERE entity = ? AND id = ? LIMIT 1",
                                (entity, record_id)).fetchone() is not None

    def _settled_state(self, entity: str, record_id: str, row: sqlite3.Row) -> str:
        """The state of a record with nothing pending."""
        if self._db.execute("SELECT 1 FROM conflict WHERE entity = ? AND entity_id = ? AND "
                            "status = 'open' LIMIT 1", (entity, record_id)).fetchone():
            return CONFLICT
        if row["state"] == REJECTED:
            return REJECTED
        data = json.loads(row["data"])
        if data.get("status") == RETURNED:
            return RETURNED
        return SYNCED

    # --- pull --------------------------------------------------------------------------------

    def apply_pull(self, changes: Sequence[Change], cursor: str) -> None:
        """Store one page of the server's changes and the cursor after it, together."""
        with self._write():
            for change in changes:
                if change.entity == "catalogue":
                    self._set_meta("catalogue", _dumps(change.data))
                elif change.entity == "conflict":
                    self._pulled_conflict(change)
                else:
                    self._pulled_record(change)
            self._set_meta("cursor", cursor)

    def _pulled_record(self, change: Change) -> None:
        entity, record_id = change.entity, change.id
        row = self._row(entity, record_id)
        if row is not None and row["version"] > change.version:
            return  # an older state than the one already here
        server = dict(change.data or {})
        deleted = change.op == Op.DELETE or bool(server.get("deleted"))
        if row is None:
            self._db.execute(
                "INSERT INTO record (entity, id, data, server_data, server_deleted, version, "
                "deleted, state) VALUES (?,?,?,?,?,?,?,?)",
                (entity, record_id, _dumps(server), _dumps(server), int(deleted),
                 change.version, int(deleted), SYNCED))
        else:
            self._db.execute(
                "UPDATE record SET server_data = ?, server_deleted = ?, version = ? "
                "WHERE entity = ? AND id = ?",
                (_dumps(server), int(deleted), change.version, entity, record_id))
        self._rebase(entity, record_id, server, deleted)

    def _rebase(self, entity: str, record_id: str, server: dict[str, Any],
                server_deleted: bool) -> None:
        """The app's view: the server's record with this tablet's pending changes on top."""
        view = dict(server)
        deleted = server_deleted
        pending = self._db.execute("SELECT op, data FROM outbox WHERE entity = ? AND id = ? "
                                   "ORDER BY seq", (entity, record_id)).fetchall()
        for mutation in pending:
            if mutation["op"] == Op.DELETE:
                deleted = True
            elif mutation["data"]:
                view.update(json.loads(mutation["data"]))
        self._db.execute("UPDATE record SET data = ?, deleted = ? WHERE entity = ? AND id = ?",
                         (_dumps(view), int(deleted), entity, record_id))
        row = self._row(entity, record_id)
        assert row is not None
        state = PENDING if pending else self._settled_state(entity, record_id, row)
        self._db.execute("UPDATE record SET state = ? WHERE entity = ? AND id = ?",
                         (state, entity, record_id))

    def _pulled_conflict(self, change: Change) -> None:
        data = dict(change.data or {})
        entity, entity_id = str(data.get("entity")), str(data.get("entity_id"))
        self._db.execute(
            "INSERT INTO conflict (id, entity, entity_id, status, data) VALUES (?,?,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
            (change.id, entity, entity_id, str(data.get("status", "open")), _dumps(data)))
        row = self._row(entity, entity_id)
        if row is not None and not self._has_pending(entity, entity_id):
            self._db.execute("UPDATE record SET state = ? WHERE entity = ? AND id = ?",
                             (self._settled_state(entity, entity_id, row), entity, entity_id))

    # --- reading, for the app ------------------------------------------------------------------

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._row(entity, record_id)
        if row is None or row["deleted"]:
            return None
        data: dict[str, Any] = json.loads(row["data"])
        return data

    def records(self, entity: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM record WHERE entity = ? AND (deleted = 0 OR ?)",
                (entity, int(include_deleted))).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def state(self, entity: str, record_id: str) -> str | None:
        """pending | synced | returned | conflict | rejected | draft (None if unknown)."""
        with self._lock:
            row = self._row(entity, record_id)
        return None if row is None else str(row["state"])

    def errors(self, entity: str, record_id: str) -> list[dict[str, Any]]:
        """Why the server refused the last change of a rejected record."""
        with self._lock:
            row = self._row(entity, record_id)
        if row is None or row["state"] != REJECTED or not row["errors"]:
            return []
        found: list[dict[str, Any]] = json.loads(row["errors"])
        return found

    def states(self) -> dict[str, int]:
        """How many live records are in each state."""
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM record WHERE deleted = 0 "
                                    "GROUP BY state").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def conflicts(self, *, status: str = "open") -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM conflict WHERE status = ?",
                                    (status,)).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def catalogue(self) -> dict[str, Any] | None:
        text = self.meta("catalogue")
        return None if text is None else dict(json.loads(text))


def _fsync(fd: int) -> None:
    os.fsync(fd)
