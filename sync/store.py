"""The tablet's store: one SQLite file with the records, the outbox and the upload queue.

What a kill at any instant can and cannot do (docs/protocol.md#client-behaviour):

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
``synced``, ``photos_pending`` (an activity the server holds, with photos whose bytes have not
all gone yet: it is not synced until they have), ``returned`` (the country office sent it back),
``conflict`` (an open conflict from one of this tablet's pushes), ``rejected`` (the server refused
the last change; the reasons are kept until the next save, or until ``discard_refused`` drops
the change and keeps the server's version). ``photos_pending`` is not stored: it
is read from the upload queue with the record (``query``, ``count``, ``state``), so it ends the
moment the last photo's bytes are in. Nor is the ``rejected`` of an activity or observation
whose only refused change is a photo (refused ``locked`` when added offline to a record approved
meanwhile): it is read from its photos, with their reasons (``photos[<id>].<field>``).

What waits to be sent (``waiting``): the records with a mutation in the outbox, the photos whose
bytes wait in the upload queue, and how many bytes those are.

Several records saved together (a new site, its activity and the activity's photos) go through
``save_all``: the photo bytes are copied and fsynced into ``files_dir`` first, then every record,
every upload row and every outbox mutation is written in ONE transaction, so a kill leaves all of
the save or none of it. A photo file copied by a save that never committed has no upload row;
``DeviceStore`` deletes such orphans when it opens.

Conflicts: ``keep_theirs`` settles a record's open conflicts by keeping the server's values. The
decision travels to the server through the outbox like any save (entity ``conflict``, see
``sync.protocol.Entity``), ordered after the edits queued before it; until the server answers,
the conflict is ``resolving`` on the tablet and the record is ``pending``.

Reading for the app: ``query`` (and ``count``/``state_counts``) return records with their
state, errors and open conflicts in one SQL query, filtered, searched, sorted and paged in
SQLite. It reads through a read-only connection lent from a small pool (one thread at a time),
so a sync holding the writer for a whole pull page never makes the UI wait (WAL lets readers run
beside the writer), and short-lived worker threads leave no connection open behind them.

Observations (docs/results.md#observations) are records like activities; an edit sends its
``values`` whole and the outbox row remembers which answers changed (``changed``), so that a
pull laying the server's record under a pending edit keeps the office's other answers.

Schema versions are kept in ``PRAGMA user_version``; ``_MIGRATIONS`` brings an older tablet
file up to ``SCHEMA_VERSION`` when it is opened, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import receipts as signed
from sync.merge import same_value
from sync.protocol import (
    Change,
    ConflictResolution,
    Entity,
    Mutation,
    MutationResult,
    Op,
    ResultStatus,
)

SCHEMA_VERSION = 5

log = logging.getLogger("pilotmon.sync")

# Keys the server owns; a save never sends them (status moves through review on the server).
SERVER_KEYS: frozenset[str] = frozenset(
    {
        "id",
        "status",
        "version",
        "flags",
        "late",
        "reviews",
        "created_by_id",
        "deleted",
        "complete",
    }
)

# Pull changes of this entity are custody receipts (docs/protocol.md#custody-receipts).
RECEIPT = "receipt"
RECEIPTS_REFUSED_META = "receipts_refused"
RECEIPT_REFUSED_LAST_META = "receipt_refused_last"
# The projects this tablet serves, as the last pull that started from the beginning said.
SCOPE_META = "scope_projects"

PENDING = "pending"
SYNCED = "synced"
RETURNED = "returned"
CONFLICT = "conflict"
REJECTED = "rejected"
DRAFT = "draft"
PHOTOS_PENDING = "photos_pending"
STATES: tuple[str, ...] = (DRAFT, PENDING, SYNCED, PHOTOS_PENDING, RETURNED, CONFLICT, REJECTED)

# An upload's state: "waiting" (bytes to send), "done" (the server holds them all), "refused",
# or "held": a photo whose delete (or its record's) waits for the server's answer. Its bytes
# are neither sent nor dropped until then: if the server takes the delete they go, if it
# refuses it the photo comes back and the upload waits again.
HELD = "held"

# A conflict's status on the tablet: the server's (open, resolved, superseded) and, between a
# keep_theirs and the server's answer to it, "resolving".
RESOLVING = "resolving"
KEEP_SERVER = ConflictResolution.KEEP_SERVER.value

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


def _migrate_to_2(db: sqlite3.Connection) -> None:
    """Version 2: indexed columns for the app's lists and a folded search text per record."""
    columns = {r[1] for r in db.execute("PRAGMA table_xinfo(record)")}
    if "project_id" not in columns:
        db.execute(
            "ALTER TABLE record ADD COLUMN project_id TEXT GENERATED ALWAYS AS "
            "(json_extract(data, '$.project_id')) VIRTUAL"
        )
    if "activity_id" not in columns:
        db.execute(
            "ALTER TABLE record ADD COLUMN activity_id TEXT GENERATED ALWAYS AS "
            "(json_extract(data, '$.activity_id')) VIRTUAL"
        )
    if "search" not in columns:
        db.execute("ALTER TABLE record ADD COLUMN search TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS record_project ON record (entity, project_id)")
    db.execute("CREATE INDEX IF NOT EXISTS record_activity ON record (entity, activity_id)")
    db.execute("CREATE INDEX IF NOT EXISTS record_state ON record (entity, state)")
    db.execute("CREATE INDEX IF NOT EXISTS conflict_status ON conflict (status)")
    rows = db.execute("SELECT entity, id, data FROM record WHERE search IS NULL").fetchall()
    db.executemany(
        "UPDATE record SET search = ? WHERE entity = ? AND id = ?",
        [(_search_text(json.loads(r[2])), r[0], r[1]) for r in rows],
    )


def _migrate_to_3(db: sqlite3.Connection) -> None:
    """Version 3: custody receipts (docs/protocol.md#custody-receipts): the server's keys this
    tablet pinned, the verified receipts (one per record, the latest version's), and per record
    the version the server gave this tablet's last accepted change (``local_version``; None: the
    record holds nothing of this tablet's)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS receipt_key (key_id TEXT PRIMARY KEY, "
        "public_key TEXT NOT NULL, source TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS receipt (entity TEXT NOT NULL, id TEXT NOT NULL, "
        "version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entity, id))"
    )
    db.execute("CREATE INDEX IF NOT EXISTS receipt_id ON receipt (id)")
    columns = {r[1] for r in db.execute("PRAGMA table_xinfo(record)")}
    if "local_version" not in columns:
        db.execute("ALTER TABLE record ADD COLUMN local_version INTEGER")


def _migrate_to_4(db: sqlite3.Connection) -> None:
    """Version 4: observations (docs/results.md#observations). An outbox row remembers which
    answers its save changed (``values.<name>``), so that a pull laying the server's record
    under a pending observation keeps the office's answers this tablet did not touch; photos
    and lists find observations' records by ``observation_id`` and ``form_id``."""
    columns = {r[1] for r in db.execute("PRAGMA table_xinfo(outbox)")}
    if "changed" not in columns:
        db.execute("ALTER TABLE outbox ADD COLUMN changed TEXT")
    columns = {r[1] for r in db.execute("PRAGMA table_xinfo(record)")}
    if "observation_id" not in columns:
        db.execute(
            "ALTER TABLE record ADD COLUMN observation_id TEXT GENERATED ALWAYS AS "
            "(json_extract(data, '$.observation_id')) VIRTUAL"
        )
    db.execute("CREATE INDEX IF NOT EXISTS record_observation ON record (entity, observation_id)")


def _migrate_to_5(db: sqlite3.Connection) -> None:
    """Version 5: per record, when this tablet made the oldest change of it the server has not
    confirmed yet (``changed_at``, the custody line's "oldest"). Earlier files kept no such
    time: a record gets its capture time (else its start date), what the line showed before,
    as the best left; one with neither keeps none, and the line names no date for it."""
    columns = {r[1] for r in db.execute("PRAGMA table_xinfo(record)")}
    if "changed_at" not in columns:
        db.execute("ALTER TABLE record ADD COLUMN changed_at TEXT")
    db.execute(
        "UPDATE record SET changed_at = coalesce(json_extract(data, '$.captured_at'), "
        "json_extract(data, '$.start_date')) WHERE changed_at IS NULL"
    )


# user_version reached -> the step that brings the file to the next version.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_to_2,
    2: _migrate_to_3,
    3: _migrate_to_4,
    4: _migrate_to_5,
}
# An observation's answers: each key of ``values`` merges as one field (sync/merge.py on the
# server flattens them to ``values.<name>``).
VALUES = "values"
VALUE_PREFIX = "values."

# Text fields a record is found by (``query(search=...)``), whatever its entity.
SEARCH_FIELDS: tuple[str, ...] = (
    "title",
    "name",
    "code",
    "type",
    "start_date",
    "topic",
    "admin_area",
    "caption",
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Records with photos, and the photo's column that names them.
_WITH_PHOTOS = {"activity": "activity_id", "observation": "observation_id"}
# Fields with a column of their own (indexed with the entity).
_COLUMNS = {
    "project_id": "r.project_id",
    "activity_id": "r.activity_id",
    "observation_id": "r.observation_id",
    "id": "r.id",
}


def _refused_photo(column: str) -> str:
    """SQL: record ``r`` has a live photo the server refused (by ``column``, the photo's
    ``activity_id`` or ``observation_id``), and no photo's details of it wait in the outbox."""
    return (
        "EXISTS (SELECT 1 FROM record AS a WHERE a.entity = 'attachment' "  # noqa: S608
        f"AND a.{column} = r.id AND a.deleted = 0 AND a.state = 'rejected') "
        "AND NOT EXISTS (SELECT 1 FROM record AS a JOIN outbox AS o "
        "ON o.entity = 'attachment' AND o.id = a.id "
        f"WHERE a.entity = 'attachment' AND a.{column} = r.id)"
    )


# The state the app shows: an activity or observation not itself refused but with a photo the
# server refused (a photo-only change) is "rejected", with the photo's reasons, once no photo's
# details of it wait; a synced one with photo bytes still waiting is "photos_pending".
_SHOWN_STATE = (
    "(CASE WHEN r.state IN ('synced', 'returned') AND r.entity = 'activity' AND "  # noqa: S608
    + _refused_photo("activity_id")
    + " THEN 'rejected' "
    "WHEN r.state IN ('synced', 'returned') AND r.entity = 'observation' AND "
    + _refused_photo("observation_id")
    + " THEN 'rejected' "
    "WHEN r.state = 'synced' AND r.entity = 'activity' AND EXISTS ("
    "SELECT 1 FROM record AS a JOIN upload AS u ON u.id = a.id "
    "WHERE a.entity = 'attachment' AND a.activity_id = r.id AND a.deleted = 0 "
    "AND u.state = 'waiting') THEN 'photos_pending' "
    "WHEN r.state = 'synced' AND r.entity = 'observation' AND EXISTS ("
    "SELECT 1 FROM record AS a JOIN upload AS u ON u.id = a.id "
    "WHERE a.entity = 'attachment' AND a.observation_id = r.id AND a.deleted = 0 "
    "AND u.state = 'waiting') THEN 'photos_pending' ELSE r.state END)"
)
_ORDER_COLUMNS = {"id": "r.id", "state": _SHOWN_STATE, "version": "r.version"}

# --- custody receipts (docs/protocol.md#custody-receipts), as SQL over a record ``r`` ---------
# Records a receipt covers.
_RECEIPT_ENTITIES = "(" + ", ".join(f"'{e}'" for e in signed.ENTITIES) + ")"
# Receipt ``k`` lists held photo ``u`` (bytes on this tablet) with the same sha256 and size.
_PHOTO_LISTED = (
    "EXISTS (SELECT 1 FROM json_each(k.data, '$.attachments') AS j "
    "WHERE lower(json_extract(j.value, '$.id')) = lower(u.id) "
    "AND lower(json_extract(j.value, '$.sha256')) = lower(u.sha256) "
    "AND json_extract(j.value, '$.size') = u.size)"
)
# Photo ``a`` belongs to record ``r`` (an activity's or an observation's; each index serves).
_PHOTO_OF_R = "(a.activity_id = r.id OR a.observation_id = r.id)"
# Something of ``r`` waits in the outbox: its own change, a photo's details, a conflict decision.
_CHANGE_WAITING = (
    "(EXISTS (SELECT 1 FROM outbox AS o WHERE o.entity = r.entity AND o.id = r.id) "  # noqa: S608
    "OR EXISTS (SELECT 1 FROM record AS a JOIN outbox AS o "
    "ON o.entity = 'attachment' AND o.id = a.id "
    "WHERE a.entity = 'attachment' AND " + _PHOTO_OF_R + ") "
    "OR EXISTS (SELECT 1 FROM conflict AS c WHERE c.entity = r.entity AND c.entity_id = r.id "
    "AND c.status = 'resolving'))"
)
_HOLDS_PHOTOS = (
    "EXISTS (SELECT 1 FROM record AS a JOIN upload AS u ON u.id = a.id "  # noqa: S608
    "WHERE a.entity = 'attachment' AND a.deleted = 0 AND " + _PHOTO_OF_R + ")"
)
# Safe on the server: nothing waits, and a verified receipt covers the version this tablet's
# last accepted change made (or any, for a record with nothing of this tablet's) and lists
# every photo whose bytes this tablet holds, by id, sha256 and size.
_SAFE = (
    # The receipt first: most records of a large list have none, and the rest is then skipped.
    "(EXISTS (SELECT 1 FROM receipt AS k WHERE k.entity = r.entity AND k.id = r.id "  # noqa: S608
    "AND k.version >= coalesce(r.local_version, 0) "
    "AND NOT EXISTS (SELECT 1 FROM record AS a JOIN upload AS u ON u.id = a.id "
    "WHERE a.entity = 'attachment' AND a.deleted = 0 AND " + _PHOTO_OF_R + " "
    "AND NOT " + _PHOTO_LISTED + ")) "
    "AND r.state IN ('synced', 'returned', 'conflict') AND NOT " + _CHANGE_WAITING + ")"
)
# ``r`` holds something of this tablet's: a draft, a change waiting or refused, a change the
# server took, or photo bytes. A record that only came from the server needs no receipt.
_HOLDS_OWN = (
    "(r.state IN ('draft', 'pending', 'rejected') OR r.local_version IS NOT NULL OR "
    + _CHANGE_WAITING
    + " OR "
    + _HOLDS_PHOTOS
    + ")"
)
_NOT_SAFE = (
    f"r.entity IN {_RECEIPT_ENTITIES} AND ((r.deleted = 0 AND {_HOLDS_OWN} AND NOT {_SAFE}) "
    f"OR (r.deleted = 1 AND {_CHANGE_WAITING}))"
)
# The records of projects outside the tablet's scope (a JSON list of ids, the parameter) that
# are safe to forget: sent by the server, this tablet's and covered (``_SAFE``), or deleted on
# the tablet; nothing of the tablet's waits on them or their photos.
_LEFT_BEHIND = (
    "SELECT r.entity, r.id FROM record AS r "  # noqa: S608
    "WHERE r.entity IN ('site', 'target', 'activity', 'participant', 'observation', 'form') "
    "AND r.project_id IS NOT NULL AND r.project_id NOT IN (SELECT value FROM json_each(?)) "
    "AND NOT " + _CHANGE_WAITING + " "
    "AND NOT EXISTS (SELECT 1 FROM record AS a JOIN upload AS u ON u.id = a.id "
    "WHERE a.entity = 'attachment' AND " + _PHOTO_OF_R + " AND u.state = 'waiting') "
    "AND (r.deleted = 1 OR (r.state NOT IN ('draft', 'pending', 'rejected') "
    "AND (r.entity NOT IN " + _RECEIPT_ENTITIES + " OR NOT " + _HOLDS_OWN + " OR " + _SAFE + ")))"
)
# Projects outside the scope that no record of the tablet's still needs.
_LEFT_PROJECTS = (
    "DELETE FROM record WHERE entity = 'project' "
    "AND id NOT IN (SELECT value FROM json_each(?)) "
    "AND NOT EXISTS (SELECT 1 FROM record AS r WHERE r.project_id = record.id)"
)
_HELD_PHOTOS = (
    "upload AS u JOIN record AS a ON a.entity = 'attachment' AND a.id = u.id AND a.deleted = 0"
)
_CUSTODY = (
    f"SELECT (SELECT count(*) FROM record AS r WHERE {_NOT_SAFE}), "  # noqa: S608
    f"(SELECT count(*) FROM record AS r WHERE r.entity IN {_RECEIPT_ENTITIES} "
    f"AND r.deleted = 0 AND {_HOLDS_OWN}), "
    f"(SELECT count(*) FROM {_HELD_PHOTOS} WHERE NOT EXISTS (SELECT 1 FROM receipt AS k "
    f"WHERE k.id = coalesce(a.activity_id, a.observation_id) AND {_PHOTO_LISTED})), "
    f"(SELECT count(*) FROM {_HELD_PHOTOS}), "
    f"(SELECT min(r.changed_at) FROM record AS r WHERE {_NOT_SAFE}), "
    "(SELECT count(*) FROM outbox), (SELECT count(*) FROM upload WHERE state = 'waiting'), "
    "(SELECT count(*) FROM receipt)"
)
# What waits to be sent, per project (``DeviceStore.waiting_by_project``): each outbox row with
# the record it counts as (a photo's details as its activity or observation, a conflict
# decision as the record it settles), then per project the distinct records and the rows.
_WAITING_CHANGES = (
    "WITH owner (entity, id) AS ("
    "SELECT o.entity, o.id FROM outbox AS o WHERE o.entity NOT IN ('attachment', 'conflict') "
    "UNION ALL SELECT c.entity, c.entity_id FROM outbox AS o JOIN conflict AS c ON c.id = o.id "
    "WHERE o.entity = 'conflict' "
    "UNION ALL SELECT CASE WHEN a.activity_id IS NULL THEN 'observation' ELSE 'activity' END, "
    "coalesce(a.activity_id, a.observation_id) FROM outbox AS o JOIN record AS a "
    "ON a.entity = 'attachment' AND a.id = o.id WHERE o.entity = 'attachment') "
    "SELECT r.project_id, count(DISTINCT w.entity || ' ' || w.id), count(*) FROM owner AS w "
    "JOIN record AS r ON r.entity = w.entity AND r.id = w.id "
    "WHERE r.project_id IS NOT NULL GROUP BY r.project_id"
)
# Photos whose bytes wait, per project of their activity or observation.
_WAITING_PHOTOS = (
    "SELECT r.project_id, count(*), coalesce(sum(u.size), 0) FROM upload AS u "
    "JOIN record AS a ON a.entity = 'attachment' AND a.id = u.id "
    "JOIN record AS r ON r.entity = CASE WHEN a.activity_id IS NULL THEN 'observation' "
    "ELSE 'activity' END AND r.id = coalesce(a.activity_id, a.observation_id) "
    "WHERE u.state = 'waiting' AND r.project_id IS NOT NULL GROUP BY r.project_id"
)
_OPEN_CONFLICTS = (
    "(SELECT json_group_array(json(c.data)) FROM conflict AS c "
    "WHERE c.entity = r.entity AND c.entity_id = r.id AND c.status = 'open')"
)
_TOTALS = (
    "(SELECT coalesce(sum(json_extract(a.value, '$.count')), 0) "
    "FROM json_each(r.data, '$.attendance') AS a), "
    "(SELECT coalesce(sum(json_extract(a.value, '$.count')), 0) "
    "FROM json_each(r.data, '$.attendance') AS a "
    "WHERE json_extract(a.value, '$.sex') = 'female')"
)


def fold(text: str) -> str:
    """Lower case without accents, so that "reunion" finds "Réunion" (search text and terms)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _search_text(data: Mapping[str, Any]) -> str:
    return fold(" ".join(str(data[k]) for k in SEARCH_FIELDS if data.get(k) not in (None, "")))


_CHUNK = 500
# Read-only connections kept open for reuse (more run at once when needed, then close).
_IDLE_READERS = 4


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as ``DeviceStore.query`` returns it.

    ``data`` is the app's view (the server's record with this tablet's pending changes), whole
    or only the ``fields`` asked for; ``state`` is one of ``STATES``; ``errors`` are the
    server's reasons while the record is ``rejected`` (else empty); ``conflicts`` are the open
    conflicts of the record as the server sent them (``id, fields, server_values,
    device_values, base_values, …``). ``participants`` and ``women`` are the attendance totals,
    filled only when ``query(attendance_totals=True)``; ``safe`` (a verified receipt covers
    the record's latest change and every photo this tablet holds of it) only when
    ``query(custody=True)``.
    """

    entity: str
    id: str
    data: dict[str, Any]
    state: str
    version: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    participants: int | None = None
    women: int | None = None
    safe: bool | None = None  # safe on the server; filled only when query(custody=True)


@dataclass(frozen=True, slots=True)
class NewPhoto:
    """A photo to keep with a save (``save_all``): the store copies ``source`` into its files.
    It belongs to an activity, or (``activity_id`` empty) to the observation ``observation_id``."""

    id: str
    activity_id: str | None
    source: str | Path
    content_type: str
    caption: str = ""
    observation_id: str | None = None


@dataclass(frozen=True, slots=True)
class _StagedPhoto:
    photo: NewPhoto
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class _RemovedPhoto:
    mutation: Mutation | None
    path: Path | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the tablet still has to send (``DeviceStore.waiting``)."""

    records: int  # records with a change in the outbox (a photo's details count as its activity)
    mutations: int  # every outbox row, photo metadata and conflict decisions included
    photos: int  # photos whose bytes have not all reached the server
    photo_bytes: int  # their sizes, summed

    @property
    def nothing(self) -> bool:
        return self.mutations == 0 and self.photos == 0


@dataclass(frozen=True, slots=True)
class Custody:
    """What this tablet holds that no verified receipt covers yet (``DeviceStore.custody``,
    docs/protocol.md#custody-receipts)."""

    records: int  # records not yet safe on the server (waiting, refused, or no receipt yet)
    held_records: int  # records holding something of this tablet's
    photos: int  # photos whose bytes this tablet holds and no receipt lists
    held_photos: int
    # When the oldest change of a record not yet safe was made on this tablet (``changed_at``,
    # ISO 8601 in UTC; a date, or a capture time, for a record from before schema 5).
    oldest: str | None
    mutations: int  # outbox rows
    uploads: int  # photos whose bytes wait to go
    receipts: int  # verified receipts stored

    @property
    def safe_to_wipe(self) -> bool:
        """Nothing waits and every record and photo this tablet holds is covered."""
        return not (self.records or self.photos or self.mutations or self.uploads)


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
        self._keys: Mapping[str, Any] | None = None  # the pinned receipt keys, loaded once
        # Read-only connections for ``query`` and friends, lent to one thread at a time.
        self._idle_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a save that returned survives a power cut, not only a crash of the app.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._write():
            self._migrate()
            if self._meta("device_id") is None:
                self._set_meta("device_id", device_id or str(uuid.uuid4()))
                self._set_meta("last_seq", "0")
        if device_id is not None and self.device_id != device_id:
            raise ValueError(f"{self.path} belongs to tablet {self.device_id}, not {device_id}")
        self._remove_orphan_files()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} was written by a newer app (store schema {version}; "
                f"this app knows {SCHEMA_VERSION}): update the app"
            )
        if version == 0:
            # A new file, or one from before user_version was kept (schema 1).
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            version = 1
        while version < SCHEMA_VERSION:
            _MIGRATIONS[version](self._db)
            version += 1
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._set_meta("schema", str(SCHEMA_VERSION))

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _remove_orphan_files(self) -> None:
        """Photo files whose save never committed (a kill between the copy and the commit)."""
        if not self.files_dir.is_dir():
            return
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT id FROM upload")}
        for path in self.files_dir.iterdir():
            if path.is_file() and (path.suffix == ".tmp" or path.name not in known):
                path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            with self._readers_lock:
                for reader in self._idle_readers:
                    reader.close()
                self._idle_readers.clear()
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
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

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
        _pushable_record(entity)
        with self._write():
            return self._save(entity, data, draft=draft)

    def save_many(self, entity: str, records: Sequence[Mapping[str, Any]]) -> int:
        """Save many records in one transaction (an import); returns how many were queued."""
        _pushable_record(entity)
        with self._write():
            return sum(self._save(entity, data, draft=False) is not None for data in records)

    def save_all(
        self,
        records: Sequence[tuple[str, Mapping[str, Any]]] = (),
        *,
        photos: Sequence[NewPhoto] = (),
        removed_photos: Sequence[str] = (),
        settle_conflicts: bool = False,
    ) -> list[Mutation]:
        """Save records of several entities and photos as ONE unit
        (docs/protocol.md#client-behaviour).

        ``records`` are ``(entity, data)`` pairs saved in that order (a new site before the
        activity that refers to it), ``photos`` follow them. The photo bytes are copied and
        fsynced into ``files_dir`` before the transaction; then every record, every upload row
        and every outbox mutation is written in one SQLite transaction (``synchronous=FULL``),
        with consecutive seqs. An exception or a kill anywhere leaves nothing of the save: no
        record, no mutation, no seq used (the copied files are removed, or at the next open).
        A photo this tablet already keeps is not copied or queued again; only a changed caption
        is, as an attachment upsert of the caption (``set_caption``), and a photo the server
        refused and never took is sent again whole, bytes too (``_kept_photo``).

        ``settle_conflicts``: the user saved these records after seeing their conflicts (the
        form shows the server's values), so the save settles them: after the records' own
        mutations, each open conflict of a saved record is queued as ``keep_theirs`` (a field
        the save changed travels in its own mutation first, and the server closes the
        conflict with it; the resolve then answers ``duplicate``).

        ``removed_photos``: ids of photos this tablet keeps that the user took off the record,
        deleted in the same transaction (a delete of the attachment queued; its bytes kept
        until the server answers it, ``_remove_photo``). Returns the queued mutations in seq
        order.
        """
        for entity, _ in records:
            _pushable_record(entity)
        with self._lock:
            known = (
                {
                    r[0]
                    for r in self._db.execute(
                        f"SELECT id FROM upload WHERE id IN ({_marks(photos)})",  # noqa: S608
                        [p.id for p in photos],
                    )
                }
                if photos
                else set()
            )
        staged: list[_StagedPhoto] = []
        try:
            for photo in photos:
                if photo.id not in known and photo.id not in {s.photo.id for s in staged}:
                    staged.append(self._stage_photo(photo))
            if staged:
                _fsync_dir(self.files_dir)
            with self._write():
                mutations = [
                    m
                    for entity, data in records
                    if (m := self._save(entity, data, draft=False)) is not None
                ]
                mutations += [self._photo_row(s) for s in staged]
                mutations += [
                    m
                    for p in photos
                    if p.id in known
                    if (m := self._kept_photo(p.id, p.caption)) is not None
                ]
                if settle_conflicts:
                    for entity, data in records:
                        mutations += self._keep_theirs(entity, str(data["id"]))
                gone = [self._remove_photo(photo_id) for photo_id in removed_photos]
        except BaseException:
            for copy in staged:
                copy.path.unlink(missing_ok=True)
            raise
        for removed in gone:
            if removed.mutation is not None:
                mutations.append(removed.mutation)
            if removed.path is not None:
                removed.path.unlink(missing_ok=True)
        return mutations

    def _remove_photo(self, photo_id: str) -> _RemovedPhoto:
        """Delete a photo this tablet keeps. Its bytes go at once when the server holds
        nothing of it (nothing is queued); else they stay, ``held``, until the server answers
        the photo's delete (``_deletes_answered``): refused, the photo comes back and its
        upload goes on."""
        mutation = self._delete(Entity.ATTACHMENT, photo_id)
        if mutation is not None:
            self._db.execute(
                "UPDATE upload SET state = ? WHERE id = ? AND state = 'waiting'", (HELD, photo_id)
            )
            return _RemovedPhoto(mutation, None)
        upload = self._db.execute("SELECT path FROM upload WHERE id = ?", (photo_id,)).fetchone()
        self._db.execute("DELETE FROM upload WHERE id = ?", (photo_id,))
        return _RemovedPhoto(None, Path(upload["path"]) if upload is not None else None)

    def _save(self, entity: str, data: Mapping[str, Any], *, draft: bool) -> Mutation | None:
        record_id = str(data["id"])
        row = self._row(entity, record_id)
        if row is not None and row["deleted"]:
            raise ValueError(f"{entity} {record_id} was deleted; it cannot be saved again")
        current = json.loads(row["data"]) if row is not None else {}
        version = row["version"] if row is not None else 0
        view = {**current, **data}
        if version:
            # The server owns these (status, version, reviews…): a form's copy of them, read
            # before a pull brought newer ones, must not hide what the pull brought.
            view.update({k: current[k] for k in SERVER_KEYS if k in current})
        if draft:
            view["status"] = DRAFT
            self._mark_changed(entity, record_id)
            self._put(entity, record_id, view, row, state=DRAFT, errors=None)
            return None
        if version == 0 or row is None:
            # Never acknowledged by the server: send the whole record; unless an unanswered
            # mutation of it already carries exactly this (the form saved again unchanged).
            if (
                row is not None
                and row["state"] == PENDING
                and all(
                    same_value(k, current.get(k), v)
                    for k, v in data.items()
                    if k not in SERVER_KEYS
                )
            ):
                return None
            changes = {k: v for k, v in view.items() if k not in SERVER_KEYS}
        else:
            changes = {
                k: v
                for k, v in data.items()
                if k not in SERVER_KEYS and not same_value(k, current.get(k), v)
            }
            if not changes:
                return None
        changed = None
        if entity == Entity.OBSERVATION and version and VALUES in changes:
            # Sent whole (an answer left out is one this tablet cleared), merged per answer.
            changed = _changed_values(current.get(VALUES), changes[VALUES])
        if view.get("status") == DRAFT:
            view.pop("status")
        self._mark_changed(entity, record_id)
        mutation = self._queue(entity, record_id, Op.UPSERT, version, changes, changed=changed)
        self._put(entity, record_id, view, row, state=PENDING, errors=None)
        return mutation

    def delete(self, entity: str, record_id: str) -> Mutation | None:
        """Delete a record (a tombstone on the server) and queue the delete."""
        _pushable_record(entity)
        with self._write():
            return self._delete(entity, record_id)

    def delete_record(self, entity: str, record_id: str) -> list[Mutation]:
        """Delete an activity or observation the user took off the tablet, with the photos
        this tablet keeps of it, in one transaction: the record's delete is queued, and no
        delete of each photo: the photos go on the server with their record, hidden with it,
        and come back with it if its delete is refused (a conflict kept as the server has
        it); a delete of each photo would be applied even then. Their bytes stay until the
        server answers the delete (``_deletes_answered``): a photo whose bytes have not all
        reached the server is ``held``, not sent meanwhile; they go once the server takes the
        delete, and the upload goes on if the record comes back. A record the server never
        held goes with its photos on the tablet alone, bytes too (the files once the
        transaction has committed). Returns the queued mutations (none for a record already
        deleted)."""
        column = _WITH_PHOTOS.get(entity)
        if column is None:
            raise ValueError(
                f"only activities and observations are deleted with their photos, not {entity}"
            )
        with self._write():
            row = self._row(entity, record_id)
            if row is None or row["deleted"]:
                return []
            photo_ids = [
                r[0]
                for r in self._db.execute(
                    f"SELECT id FROM record WHERE entity = 'attachment' AND deleted = 0 "  # noqa: S608
                    f"AND {column} = ?",
                    (record_id,),
                )
            ]
            mutation = self._delete(entity, record_id)
            if mutation is None:  # on the tablet alone: the server holds nothing of it
                gone = [self._remove_photo(photo_id) for photo_id in photo_ids]
            else:
                gone = []
                self._db.execute(
                    f"UPDATE upload SET state = ? WHERE state = 'waiting' "  # noqa: S608
                    f"AND id IN ({_marks(photo_ids)})",
                    [HELD, *photo_ids],
                )
        for removed in gone:
            if removed.path is not None:
                removed.path.unlink(missing_ok=True)
        mutations = [r.mutation for r in gone if r.mutation is not None]
        return [*mutations, mutation] if mutation is not None else mutations

    def _delete(self, entity: str, record_id: str) -> Mutation | None:
        row = self._row(entity, record_id)
        if row is None or row["deleted"]:
            return None
        if row["version"] == 0 and (
            row["state"] == DRAFT
            or (row["state"] == REJECTED and not self._has_pending(entity, record_id))
        ):
            # The server holds nothing of it (a draft, or every change of it refused): a delete
            # sent there would be refused in turn (not_found), and the record kept for ever.
            self._db.execute("DELETE FROM record WHERE entity = ? AND id = ?", (entity, record_id))
            return None
        self._mark_changed(entity, record_id)
        mutation = self._queue(entity, record_id, Op.DELETE, row["version"], None)
        self._db.execute(
            "UPDATE record SET deleted = 1, state = ? WHERE entity = ? AND id = ?",
            (PENDING, entity, record_id),
        )
        return mutation

    def _queue(
        self,
        entity: str,
        record_id: str,
        op: Op,
        base_version: int,
        data: dict[str, Any] | None,
        *,
        changed: list[str] | None = None,
    ) -> Mutation:
        seq = int(self._meta("last_seq") or 0) + 1
        self._set_meta("last_seq", str(seq))
        self._db.execute(
            "INSERT INTO outbox (seq, entity, id, op, base_version, data, changed) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                seq,
                entity,
                record_id,
                op.value,
                base_version,
                None if data is None else _dumps(data),
                None if changed is None else _dumps(changed),
            ),
        )
        return Mutation(
            seq=seq,
            entity=Entity(entity),
            op=op,
            id=uuid.UUID(record_id),
            base_version=base_version,
            data=data,
        )

    def _mark_changed(self, entity: str, record_id: str) -> None:
        """Date a change of this tablet's, called BEFORE it is written: ``changed_at`` becomes
        now, unless the record already held a change the server has not confirmed (it keeps
        that older time: the custody line dates the oldest change not yet safe). A photo's
        change is a change of its activity or observation too."""
        records = [(entity, record_id)]
        if entity == Entity.ATTACHMENT:
            photo = self._row(entity, record_id)
            if photo is not None and (photo["activity_id"] or photo["observation_id"]):
                owner = Entity.ACTIVITY if photo["activity_id"] else Entity.OBSERVATION
                records.append((owner, photo["activity_id"] or photo["observation_id"]))
        now = _now()
        for found in records:
            self._db.execute(
                "UPDATE record SET changed_at = ? WHERE entity = ? AND id = ? AND NOT EXISTS ("  # noqa: S608
                f"SELECT 1 FROM record AS r WHERE r.entity = record.entity AND r.id = record.id "
                f"AND r.changed_at IS NOT NULL AND {_NOT_SAFE})",
                (now, *found),
            )

    def _row(self, entity: str, record_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM record WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        return row

    def _put(
        self,
        entity: str,
        record_id: str,
        data: Mapping[str, Any],
        row: sqlite3.Row | None,
        *,
        state: str,
        errors: list[Any] | None,
    ) -> None:
        if row is None:
            self._db.execute(
                "INSERT INTO record (entity, id, data, state, errors, search, changed_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    entity,
                    record_id,
                    _dumps(data),
                    state,
                    None if errors is None else _dumps(errors),
                    _search_text(data),
                    _now(),
                ),
            )
        else:
            self._db.execute(
                "UPDATE record SET data = ?, state = ?, errors = ?, search = ? "
                "WHERE entity = ? AND id = ?",
                (
                    _dumps(data),
                    state,
                    None if errors is None else _dumps(errors),
                    _search_text(data),
                    entity,
                    record_id,
                ),
            )

    # --- photos ------------------------------------------------------------------------------

    def add_photo(
        self,
        *,
        attachment_id: str,
        activity_id: str,
        source: str | Path,
        content_type: str,
        caption: str = "",
    ) -> Mutation | None:
        """Keep a (downscaled) photo on the tablet and queue its metadata and its bytes (a
        ``save_all`` of one photo). When this tablet already keeps that photo, only a changed
        caption is queued; None when nothing changed."""
        found = self.save_all(
            photos=[
                NewPhoto(
                    id=attachment_id,
                    activity_id=activity_id,
                    source=source,
                    content_type=content_type,
                    caption=caption,
                )
            ]
        )
        return found[0] if found else None

    def set_caption(self, attachment_id: str, caption: str) -> Mutation | None:
        """A new caption for a photo this tablet keeps: the attachment record changes and its
        metadata upsert is queued (only ``caption``, on the version last pulled; the server
        keeps a photo's bytes and activity fixed but versions a caption like any field), in
        one transaction. None when the caption is unchanged.
        Raises KeyError for a photo this tablet does not keep."""
        with self._write():
            row = self._row(Entity.ATTACHMENT, attachment_id)
            if (
                row is None
                or row["deleted"]
                or not self._db.execute(
                    "SELECT 1 FROM upload WHERE id = ?", (attachment_id,)
                ).fetchone()
            ):
                raise KeyError(f"this tablet keeps no photo {attachment_id}")
            return self._recaption(attachment_id, caption)

    def _kept_photo(self, attachment_id: str, caption: str) -> Mutation | None:
        """A photo this tablet keeps, saved again with its record: a changed caption is
        queued; and a photo the server refused and never took (added to a record approved
        meanwhile, reopened since) is sent again, details whole and bytes, as the record's
        form still holds it: saving again is how a refusal is corrected."""
        row = self._row(Entity.ATTACHMENT, attachment_id)
        if row is None or row["deleted"] or row["state"] != REJECTED or row["version"]:
            return self._recaption(attachment_id, caption)
        # A record never acknowledged is sent whole (``_save``), its caption as saved now.
        mutation = self._save(
            Entity.ATTACHMENT, {"id": attachment_id, "caption": caption}, draft=False
        )
        self._db.execute(
            "UPDATE upload SET state = 'waiting', attempts = 0, error = NULL WHERE id = ?",
            (attachment_id,),
        )
        return mutation

    def _recaption(self, attachment_id: str, caption: str) -> Mutation | None:
        row = self._row(Entity.ATTACHMENT, attachment_id)
        if row is None or row["deleted"]:
            return None
        if str(json.loads(row["data"]).get("caption") or "") == caption:
            return None  # (a record never acknowledged would otherwise be sent whole again)
        return self._save(Entity.ATTACHMENT, {"id": attachment_id, "caption": caption}, draft=False)

    def _stage_photo(self, photo: NewPhoto) -> _StagedPhoto:
        """Copy a photo's bytes into the store's files and make them durable (no transaction
        is open: a kill here leaves an orphan file that the next open removes)."""
        self.files_dir.mkdir(parents=True, exist_ok=True)
        target = self.files_dir / photo.id
        temporary = target.with_suffix(".tmp")
        shutil.copyfile(photo.source, temporary)
        digest = hashlib.sha256()
        size = 0
        with open(temporary, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
                size += len(block)
            _fsync(handle.fileno())
        temporary.replace(target)
        return _StagedPhoto(photo, target, digest.hexdigest(), size)

    def _photo_row(self, staged: _StagedPhoto) -> Mutation:
        photo = staged.photo
        owner = (
            {"activity_id": photo.activity_id}
            if photo.activity_id
            else {"observation_id": photo.observation_id}
        )
        metadata = {
            "id": photo.id,
            **owner,
            "sha256": staged.sha256,
            "size": staged.size,
            "content_type": photo.content_type,
            "caption": photo.caption,
        }
        self._db.execute(
            "INSERT INTO upload (id, path, size, sha256, content_type, state) "
            "VALUES (?,?,?,?,?, 'waiting') ON CONFLICT (id) DO NOTHING",
            (photo.id, str(staged.path), staged.size, staged.sha256, photo.content_type),
        )
        row = self._row(Entity.ATTACHMENT, photo.id)
        if photo.activity_id:
            self._mark_changed(Entity.ACTIVITY, photo.activity_id)
        elif photo.observation_id:
            self._mark_changed(Entity.OBSERVATION, photo.observation_id)
        mutation = self._queue(
            Entity.ATTACHMENT,
            photo.id,
            Op.UPSERT,
            row["version"] if row is not None else 0,
            metadata,
        )
        self._put(Entity.ATTACHMENT, photo.id, metadata, row, state=PENDING, errors=None)
        return mutation

    def uploads(self, *, state: str = "waiting") -> list[Upload]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM upload WHERE state = ? ORDER BY rowid", (state,)
            ).fetchall()
        return [
            Upload(
                r["id"],
                Path(r["path"]),
                r["size"],
                r["sha256"],
                r["content_type"],
                r["state"],
                r["attempts"],
                r["error"],
            )
            for r in rows
        ]

    def upload_ready(self, attachment_id: str) -> bool:
        """Bytes may go once the server has answered the metadata mutation, and taken it (a
        later change of the photo refused, a caption or its delete, does not stop them)."""
        with self._lock:
            pending = self._db.execute(
                "SELECT 1 FROM outbox WHERE entity = 'attachment' AND id = ? LIMIT 1",
                (attachment_id,),
            ).fetchone()
            row = self._row(Entity.ATTACHMENT, attachment_id)
        return pending is None and row is not None and not _details_refused(row)

    def details_refused(self, attachment_id: str) -> bool:
        """Whether the server refused a photo's details and holds nothing of it: its bytes
        would be refused too."""
        with self._lock:
            row = self._row(Entity.ATTACHMENT, attachment_id)
        return row is not None and _details_refused(row)

    def finish_upload(self, attachment_id: str, *, state: str, error: str | None = None) -> None:
        with self._write():
            self._db.execute(
                "UPDATE upload SET state = ?, error = ?, attempts = attempts + 1 WHERE id = ?",
                (state, error, attachment_id),
            )

    def count_upload_attempt(self, attachment_id: str, error: str) -> int:
        with self._write():
            self._db.execute(
                "UPDATE upload SET attempts = attempts + 1, error = ? WHERE id = ?",
                (error, attachment_id),
            )
            row = self._db.execute(
                "SELECT attempts FROM upload WHERE id = ?", (attachment_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    # --- the outbox --------------------------------------------------------------------------

    def pending(self, *, limit: int | None = None) -> list[Mutation]:
        """Mutations not yet answered by the server, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM outbox ORDER BY seq LIMIT ?", (limit or -1,)
            ).fetchall()
        return [
            Mutation(
                seq=r["seq"],
                entity=Entity(r["entity"]),
                op=Op(r["op"]),
                id=uuid.UUID(r["id"]),
                base_version=r["base_version"],
                data=None if r["data"] is None else json.loads(r["data"]),
            )
            for r in rows
        ]

    def pending_encoded(self, *, limit: int, after: int = 0) -> list[tuple[int, str]]:
        """The oldest pending mutations with a seq above ``after`` as (seq, JSON text), as a
        push sends them: without a round trip through objects, and without default fields
        (base_version 0, no data). ``after`` lets the next batch be read while the one before
        it is still unanswered (and so still pending)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        encoded = []
        for r in rows:
            text = (
                f'{{"seq":{r["seq"]},"entity":{json.dumps(r["entity"])},'
                f'"op":{json.dumps(r["op"])},"id":{json.dumps(r["id"])}'
            )
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
        """Store the server's answers: the mutations leave the outbox, the records get a state
        (and a deleted record's photos keep or lose their bytes, ``_deletes_answered``)."""
        files: list[Path] = []
        with self._write():
            owners: dict[int, tuple[str, str]] = {}
            deletes: list[tuple[str, str]] = []  # the records whose delete is answered
            seqs = [r.seq for r in results]
            for start in range(0, len(seqs), _CHUNK):
                part = seqs[start : start + _CHUNK]
                for r in self._db.execute(
                    f"SELECT seq, entity, id, op FROM outbox WHERE seq IN ({_marks(part)})",  # noqa: S608
                    part,
                ):
                    owners[r["seq"]] = (r["entity"], r["id"])
                    if r["op"] == Op.DELETE and r["entity"] in (*_WITH_PHOTOS, Entity.ATTACHMENT):
                        deletes.append((r["entity"], r["id"]))
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in owners])
            accepted: list[tuple[str, str]] = []
            made: dict[tuple[str, str], int] = {}
            for result in results:
                owner = owners.get(result.seq)
                if owner is None:
                    continue  # answered before (a repeated answer)
                if owner[0] == Entity.CONFLICT:
                    accepted.extend(self._resolve_answered(owner[1], result))
                elif result.status in (ResultStatus.REJECTED, ResultStatus.CONFLICT):
                    errors = [e.model_dump() for e in result.errors]
                    self._answered(owner[0], owner[1], result.status, errors)
                else:
                    accepted.append(owner)
                    if result.version is not None and owner[0] in signed.ENTITIES:
                        made[owner] = max(result.version, made.get(owner, 0))
            self._settle(accepted, made)
            files = self._deletes_answered(deletes)
        for path in files:
            path.unlink(missing_ok=True)

    def _deletes_answered(self, records: Sequence[tuple[str, str]]) -> list[Path]:
        """The photos of records (or the photos themselves) whose delete the server answered:
        taken (the record stays deleted), their bytes are not needed any more and go (returns
        the files, to remove once the transaction has committed); refused, the record is back
        with its photos (the server's version) and their uploads wait again."""
        files: list[Path] = []
        for entity, record_id in records:
            row = self._row(entity, record_id)
            if entity == Entity.ATTACHMENT:
                photos = self._db.execute(
                    "SELECT id, path FROM upload WHERE id = ?", (record_id,)
                ).fetchall()
            else:
                photos = self._db.execute(
                    f"SELECT u.id, u.path FROM upload AS u JOIN record AS a ON a.id = u.id "  # noqa: S608
                    f"WHERE a.entity = 'attachment' AND a.{_WITH_PHOTOS[entity]} = ?",
                    (record_id,),
                ).fetchall()
            if row is not None and not row["deleted"]:
                self._db.executemany(
                    "UPDATE upload SET state = 'waiting' WHERE id = ? AND state = ?",
                    [(r["id"], HELD) for r in photos],
                )
            elif not self._has_pending(entity, record_id):
                self._db.executemany(
                    "DELETE FROM upload WHERE id = ?", [(r["id"],) for r in photos]
                )
                files.extend(Path(r["path"]) for r in photos)
        return files

    def _settle(self, records: Sequence[tuple[str, str]], made: dict[tuple[str, str], int]) -> None:
        """The state of records whose change the server took (the common case, in bulk), and
        the version each change in ``made`` became: a custody receipt must reach that version
        to cover the tablet's change (``local_version``). One update per record.

        Each table is asked by its key, one entity at a time (``entity = ? AND id IN …``):
        asked by id alone, the record table would be read whole for every chunk of ids."""
        by_entity: dict[str, set[str]] = {}
        for entity, record_id in records:
            by_entity.setdefault(entity, set()).add(record_id)
        pending: set[tuple[str, str]] = set()
        conflicted: set[tuple[str, str]] = set()
        current: dict[tuple[str, str], tuple[str, str | None]] = {}
        for entity, id_set in by_entity.items():
            ids = sorted(id_set)
            for start in range(0, len(ids), _CHUNK):
                part = ids[start : start + _CHUNK]
                marks = _marks(part)
                pending.update(
                    (entity, r[0])
                    for r in self._db.execute(
                        f"SELECT id FROM outbox WHERE entity = ? AND id IN ({marks})",  # noqa: S608
                        [entity, *part],
                    )
                )
                for r in self._db.execute(
                    f"SELECT entity_id, status FROM conflict "  # noqa: S608
                    f"WHERE status IN ('open', ?) AND entity = ? AND entity_id IN ({marks})",
                    [RESOLVING, entity, *part],
                ):
                    (conflicted if r[1] == "open" else pending).add((entity, r[0]))
                current.update(
                    ((entity, r[0]), (r[1], r[2]))
                    for r in self._db.execute(
                        f"SELECT id, state, json_extract(data, '$.status') FROM record "  # noqa: S608
                        f"WHERE entity = ? AND id IN ({marks})",
                        [entity, *part],
                    )
                )
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
            version = made.get(key)
            updates.append((state, version, version, key[0], key[1]))
        self._db.executemany(
            "UPDATE record SET state = ?, local_version = CASE WHEN ? IS NULL THEN local_version "
            "ELSE max(coalesce(local_version, 0), ?) END WHERE entity = ? AND id = ?",
            updates,
        )

    def _answered(
        self, entity: str, record_id: str, status: str, errors: list[dict[str, Any]]
    ) -> None:
        row = self._row(entity, record_id)
        if row is None:
            return
        if status in (ResultStatus.REJECTED, ResultStatus.CONFLICT) and row["server_data"]:
            # The server kept its values: show them (the refused change is kept on the server).
            self._rebase(
                entity, record_id, json.loads(row["server_data"]), bool(row["server_deleted"])
            )
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
        self._db.execute(
            "UPDATE record SET state = ?, errors = COALESCE(?, errors) WHERE entity = ? AND id = ?",
            (state, None if kept is None else _dumps(kept), entity, record_id),
        )

    def _has_pending(self, entity: str, record_id: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM outbox WHERE entity = ? AND id = ? LIMIT 1", (entity, record_id)
            ).fetchone()
            is not None
        )

    def _settled_state(self, entity: str, record_id: str, row: sqlite3.Row) -> str:
        """The state of a record with nothing pending in its own outbox rows."""
        statuses = {
            r[0]
            for r in self._db.execute(
                "SELECT DISTINCT status FROM conflict WHERE entity = ? AND entity_id = ? AND "
                "status IN ('open', ?)",
                (entity, record_id, RESOLVING),
            )
        }
        if "open" in statuses:
            return CONFLICT
        if RESOLVING in statuses:
            return PENDING  # this tablet's keep_theirs waits in the outbox
        if row["state"] == REJECTED:
            return REJECTED
        data = json.loads(row["data"])
        if data.get("status") == RETURNED:
            return RETURNED
        return SYNCED

    # --- refused changes -----------------------------------------------------------------------

    def discard_refused(self, entity: str, record_id: str) -> bool:
        """Drop the change the server refused of a record it holds, and keep the server's
        version (docs/protocol.md#client-behaviour): the way out of a refusal the field
        expert cannot correct, such as an offline edit of an activity approved meanwhile
        (``locked``). A photo the server refused is a refused change of its record, even
        when it is the only one (a photo added offline to an activity approved meanwhile):
        the record is then ``rejected`` too, with the photo's reasons.

        In one transaction: the record shows the server's version (the last one pulled), its
        reasons are cleared and its state settles as the server's record says (``synced``,
        ``returned``, or ``conflict`` for an open conflict). Of its photos, one refused that
        the server never took (a photo the refused change added) goes with the change,
        bytes included (the file once the transaction has committed); one the server holds
        keeps its bytes and, if a change of it was refused too (a caption), shows the
        server's version. Nothing is queued: the server keeps the refused change for review,
        as it keeps every refused mutation. The record's ``local_version`` (the last change
        of this tablet's the server took) stays, so it is safe once a receipt covers that.

        Changes nothing and returns False unless the record is ``rejected`` (itself, or by a
        refused photo), the server holds a version of it (``version`` > 0; a record it never
        took is deleted on the tablet alone instead, ``delete_record``), and nothing of it
        waits in the outbox (its own change, a photo's details, a conflict decision): what is
        not yet answered is never dropped. Returns True when the change was discarded."""
        _pushable_record(entity)
        files: list[Path] = []
        with self._write():
            row = self._row(entity, record_id)
            found = self._db.execute(
                f"SELECT {_SHOWN_STATE}, {_CHANGE_WAITING} FROM record AS r "  # noqa: S608
                "WHERE r.entity = ? AND r.id = ?",
                (entity, record_id),
            ).fetchone()
            if (
                row is None
                or found[0] != REJECTED
                or found[1]
                or not row["version"]
                or row["server_data"] is None
            ):
                return False
            if entity in (Entity.ACTIVITY, Entity.OBSERVATION):
                files = self._discard_refused_photos(record_id)
            self._settle_discarded(entity, record_id, row)
        for path in files:
            path.unlink(missing_ok=True)
        return True

    def _discard_refused_photos(self, owner_id: str) -> list[Path]:
        """The refused photos of a record whose refused change is discarded; returns the files
        to remove once the transaction has committed."""
        files: list[Path] = []
        for photo in self._db.execute(
            "SELECT * FROM record WHERE entity = 'attachment' AND state = ? "
            "AND (activity_id = ? OR observation_id = ?)",
            (REJECTED, owner_id, owner_id),
        ).fetchall():
            photo_id = str(photo["id"])
            if not photo["version"] and photo["local_version"] is None:
                # Added by the refused change, never taken by the server: it goes with it.
                upload = self._db.execute(
                    "SELECT path FROM upload WHERE id = ?", (photo_id,)
                ).fetchone()
                if upload is not None:
                    files.append(Path(upload["path"]))
                self._db.execute("DELETE FROM upload WHERE id = ?", (photo_id,))
                self._db.execute(
                    "DELETE FROM record WHERE entity = 'attachment' AND id = ?", (photo_id,)
                )
            else:
                self._settle_discarded(Entity.ATTACHMENT, photo_id, photo)
        return files

    def _settle_discarded(self, entity: str, record_id: str, row: sqlite3.Row) -> None:
        """A refused record, its refused change dropped: the server's version, no reasons, the
        state the server's record says."""
        self._db.execute(
            "UPDATE record SET state = ?, errors = NULL WHERE entity = ? AND id = ?",
            (SYNCED, entity, record_id),
        )
        if row["server_data"] is not None:
            self._rebase(
                entity, record_id, json.loads(row["server_data"]), bool(row["server_deleted"])
            )

    # --- conflicts -----------------------------------------------------------------------------

    def keep_theirs(self, entity: str, record_id: str) -> list[Mutation]:
        """Settle every open conflict of a record by keeping the server's values.

        In one transaction: one outbox mutation per conflict, ``{"entity": "conflict", "op":
        "upsert", "id": <conflict id>, "base_version": 0, "data": {"resolution":
        "keep_server"}}`` (after every edit queued before it), the conflict becomes
        ``resolving``, the record shows the server's values with this tablet's other pending
        changes on top, and is ``pending`` until the server answers; then ``synced``.
        Returns the queued mutations (none when the record has no open conflict).
        """
        with self._write():
            return self._keep_theirs(entity, record_id)

    def _keep_theirs(self, entity: str, record_id: str) -> list[Mutation]:
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM conflict WHERE entity = ? AND entity_id = ? AND status = 'open' "
                "ORDER BY id",
                (entity, record_id),
            )
        ]
        if ids:
            self._mark_changed(entity, record_id)
        mutations = []
        for conflict_id in ids:
            mutations.append(
                self._queue(Entity.CONFLICT, conflict_id, Op.UPSERT, 0, {"resolution": KEEP_SERVER})
            )
            self._db.execute(
                "UPDATE conflict SET status = ? WHERE id = ?", (RESOLVING, conflict_id)
            )
        row = self._row(entity, record_id)
        if ids and row is not None:
            if row["server_data"]:
                self._rebase(
                    entity, record_id, json.loads(row["server_data"]), bool(row["server_deleted"])
                )
            else:
                self._db.execute(
                    "UPDATE record SET state = ? WHERE entity = ? AND id = ?",
                    (PENDING, entity, record_id),
                )
        return mutations

    def _resolve_answered(self, conflict_id: str, result: MutationResult) -> list[tuple[str, str]]:
        """The server's answer to a keep_theirs: the conflict closes (applied, or duplicate when
        it was closed already) or, if refused, opens again with the server's reasons."""
        row = self._db.execute(
            "SELECT entity, entity_id, status, data FROM conflict WHERE id = ?", (conflict_id,)
        ).fetchone()
        if row is None:
            return []
        if result.status in (ResultStatus.REJECTED, ResultStatus.CONFLICT):
            if row["status"] == RESOLVING:
                data = {
                    **json.loads(row["data"]),
                    "resolve_errors": [e.model_dump() for e in result.errors],
                }
                self._db.execute(
                    "UPDATE conflict SET status = 'open', data = ? WHERE id = ?",
                    (_dumps(data), conflict_id),
                )
        elif row["status"] == RESOLVING:
            data = {
                **json.loads(row["data"]),
                "status": "resolved",
                "resolution": {"keep": "server", "by": "device"},
            }
            self._db.execute(
                "UPDATE conflict SET status = 'resolved', data = ? WHERE id = ?",
                (_dumps(data), conflict_id),
            )
        return [(str(row["entity"]), str(row["entity_id"]))]

    # --- pull --------------------------------------------------------------------------------

    def apply_pull(
        self, changes: Sequence[Change], cursor: str, *, projects: Sequence[str] | None = None
    ) -> int:
        """Store one page of the server's changes and the cursor after it, together.

        Receipts are verified against the pinned keys first (``_pulled_receipt``); one that
        fails is refused: logged, counted in the meta ``receipts_refused``, never stored. Returns
        how many of this page's receipts were refused.

        ``projects`` (a page that starts from the beginning: the ids of every project this
        tablet serves now) is kept, and what the tablet holds of any other project is forgotten
        once nothing of it is left to lose (``_forget_left_projects``)."""
        refused = 0
        files: list[Path] = []
        with self._write():
            if projects is not None:
                self._set_meta(SCOPE_META, _dumps(sorted(projects)))
            for change in changes:
                if change.entity == "catalogue":
                    self._set_meta("catalogue", _dumps(change.data))
                elif change.entity == "conflict":
                    self._pulled_conflict(change)
                elif change.entity == RECEIPT:
                    refused += not self._pulled_receipt(change)
                else:
                    self._pulled_record(change)
            if refused:
                total = int(self._meta(RECEIPTS_REFUSED_META) or 0) + refused
                self._set_meta(RECEIPTS_REFUSED_META, str(total))
            self._set_meta("cursor", cursor)
            files = self._forget_left_projects()
        for path in files:
            path.unlink(missing_ok=True)
        return refused

    def _forget_left_projects(self) -> list[Path]:
        """Forget the records of projects the person no longer works on (docs/protocol.md#pull):
        their sites, targets, activities, participants, observations and forms, with the photos
        and conflicts of those, then the project itself once none of its records is left.

        Only what is safe to lose goes: a record the server sent, or one of this tablet's whose
        receipt covers it. A draft, a change waiting or refused, a record still without its
        receipt and its photos stay, shown as before (a push of them is refused
        ``out_of_scope``), and keep their project on the tablet. Returns the photo files to
        remove once the transaction has committed."""
        scope = self._meta(SCOPE_META)
        if scope is None:
            return []
        gone = self._db.execute(_LEFT_BEHIND, (scope,)).fetchall()
        if not gone:
            self._db.execute(_LEFT_PROJECTS, (scope,))
            return []
        owners = [(r[0], r[1]) for r in gone]
        photos = self._db.execute(
            "SELECT a.id, u.path FROM record AS a LEFT JOIN upload AS u ON u.id = a.id "
            "WHERE a.entity = 'attachment' AND (a.activity_id IN (SELECT value FROM json_each(?)) "
            "OR a.observation_id IN (SELECT value FROM json_each(?)))",
            (_dumps([i for _, i in owners]), _dumps([i for _, i in owners])),
        ).fetchall()
        records = owners + [(Entity.ATTACHMENT.value, r[0]) for r in photos]
        self._db.executemany("DELETE FROM record WHERE entity = ? AND id = ?", records)
        self._db.executemany("DELETE FROM conflict WHERE entity = ? AND entity_id = ?", records)
        self._db.executemany("DELETE FROM upload WHERE id = ?", [(r[0],) for r in photos])
        self._db.execute(_LEFT_PROJECTS, (scope,))
        log.info("forgot %d records of projects this tablet no longer serves", len(records))
        return [Path(r[1]) for r in photos if r[1] is not None]

    # --- custody receipts --------------------------------------------------------------------

    def pin_receipt_keys(self, published: Sequence[Mapping[str, Any]], *, source: str) -> int:
        """Pin the server's receipt keys (``[{"key_id", "public_key"}]`` from the enrolment
        answer or ``GET /sync/info``): new ones are added, none is ever dropped, so a receipt
        signed before a rotation stays verifiable. A key whose id does not match its bytes is
        left out. Returns how many keys were new."""
        keys = signed.load_public_keys(list(published))
        texts = {
            str(e["key_id"]): str(e["public_key"])
            for e in published
            if isinstance(e, Mapping) and str(e.get("key_id")) in keys
        }
        with self._write():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT INTO receipt_key (key_id, public_key, source) VALUES (?,?,?) "
                "ON CONFLICT (key_id) DO NOTHING",
                [(key_id, text, source) for key_id, text in sorted(texts.items())],
            )
            added = self._db.total_changes - before
        if added:
            self._keys = None
        return added

    def receipt_keys(self) -> list[dict[str, str]]:
        """The pinned keys, as published (``key_id``, ``public_key``), oldest pin first."""
        with self._reader() as reader:
            rows = reader.execute(
                "SELECT key_id, public_key FROM receipt_key ORDER BY rowid"
            ).fetchall()
        return [{"key_id": str(r[0]), "public_key": str(r[1])} for r in rows]

    def _public_keys(self) -> Mapping[str, Any]:
        if self._keys is None:
            self._keys = signed.load_public_keys(
                [
                    {"key_id": r[0], "public_key": r[1]}
                    for r in self._db.execute("SELECT key_id, public_key FROM receipt_key")
                ]
            )
        return self._keys

    def unknown_receipt_keys(self, changes: Sequence[Change]) -> set[str]:
        """Key ids named by the receipts among ``changes`` that this tablet has not pinned."""
        named = {
            str(c.data.get("key_id"))
            for c in changes
            if c.entity == RECEIPT and isinstance(c.data, Mapping)
        }
        with self._lock:
            return named - set(self._public_keys())

    def _pulled_receipt(self, change: Change) -> bool:
        """Verify and keep one pulled receipt; False (logged, not stored) when it is refused."""
        receipt = change.data
        try:
            signed.verify(receipt or {}, self._public_keys())
            assert receipt is not None
            if str(receipt["id"]).lower() != change.id.lower():
                raise signed.ReceiptError("mismatch", "the receipt is for another record")
            if str(receipt["device_id"]).lower() != str(self._meta("device_id")).lower():
                raise signed.ReceiptError("other_device", "the receipt is for another tablet")
        except signed.ReceiptError as refused:
            log.warning("refused the receipt for %s: %s (%s)", change.id, refused, refused.reason)
            self._set_meta(
                RECEIPT_REFUSED_LAST_META, _dumps({"id": change.id, "reason": refused.reason})
            )
            return False
        # A later version's receipt replaces the earlier one (an equal version too: the same
        # version with one more photo's bytes verified); an older one changes nothing.
        self._db.execute(
            "INSERT INTO receipt (entity, id, version, data) VALUES (?,?,?,?) "
            "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, "
            "data = excluded.data WHERE excluded.version >= receipt.version",
            (str(receipt["entity"]), change.id, int(receipt["version"]), _dumps(receipt)),
        )
        return True

    def receipts(self) -> list[dict[str, Any]]:
        """Every stored receipt, exactly as signed, by entity and id."""
        with self._reader() as reader:
            rows = reader.execute("SELECT data FROM receipt ORDER BY entity, id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def receipt(self, entity: str, record_id: str) -> dict[str, Any] | None:
        with self._reader() as reader:
            row = reader.execute(
                "SELECT data FROM receipt WHERE entity = ? AND id = ?", (entity, record_id)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def custody(self) -> Custody:
        """What is not yet safe on the server: records and photos no verified receipt covers,
        the oldest of them, and what waits to be sent. ``safe_to_wipe`` when nothing is."""
        with self._reader() as reader:
            row = reader.execute(_CUSTODY).fetchone()
        oldest = row[4]
        return Custody(
            records=int(row[0]),
            held_records=int(row[1]),
            photos=int(row[2]),
            held_photos=int(row[3]),
            oldest=None if oldest is None else str(oldest),
            mutations=int(row[5]),
            uploads=int(row[6]),
            receipts=int(row[7]),
        )

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
                "deleted, state, search) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    entity,
                    record_id,
                    _dumps(server),
                    _dumps(server),
                    int(deleted),
                    change.version,
                    int(deleted),
                    SYNCED,
                    _search_text(server),
                ),
            )
        else:
            self._db.execute(
                "UPDATE record SET server_data = ?, server_deleted = ?, version = ? "
                "WHERE entity = ? AND id = ?",
                (_dumps(server), int(deleted), change.version, entity, record_id),
            )
        self._rebase(entity, record_id, server, deleted)

    def _rebase(
        self, entity: str, record_id: str, server: dict[str, Any], server_deleted: bool
    ) -> None:
        """The app's view: the server's record with this tablet's pending changes on top."""
        view = dict(server)
        deleted = server_deleted
        pending = self._db.execute(
            "SELECT op, data, changed FROM outbox WHERE entity = ? AND id = ? ORDER BY seq",
            (entity, record_id),
        ).fetchall()
        for mutation in pending:
            if mutation["op"] == Op.DELETE:
                deleted = True
            elif mutation["data"]:
                laid = json.loads(mutation["data"])
                if mutation["changed"] is not None and isinstance(laid.get(VALUES), dict):
                    # Only the answers this save changed: the server merges per answer, and
                    # an office's edit of another answer shows at once.
                    laid[VALUES] = _lay_values(
                        view.get(VALUES), laid[VALUES], json.loads(mutation["changed"])
                    )
                view.update(laid)
        self._db.execute(
            "UPDATE record SET data = ?, deleted = ?, search = ? WHERE entity = ? AND id = ?",
            (_dumps(view), int(deleted), _search_text(view), entity, record_id),
        )
        row = self._row(entity, record_id)
        assert row is not None
        state = PENDING if pending else self._settled_state(entity, record_id, row)
        self._db.execute(
            "UPDATE record SET state = ? WHERE entity = ? AND id = ?", (state, entity, record_id)
        )

    def _pulled_conflict(self, change: Change) -> None:
        data = dict(change.data or {})
        entity, entity_id = str(data.get("entity")), str(data.get("entity_id"))
        # The server never reopens a conflict: an "open" state pulled after this tablet
        # settled it (keep_theirs waiting in the outbox, or answered) changes nothing.
        self._db.execute(
            "INSERT INTO conflict (id, entity, entity_id, status, data) VALUES (?,?,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data "
            "WHERE excluded.status != 'open' OR conflict.status = 'open'",
            (change.id, entity, entity_id, str(data.get("status", "open")), _dumps(data)),
        )
        row = self._row(entity, entity_id)
        if row is not None and not self._has_pending(entity, entity_id):
            self._db.execute(
                "UPDATE record SET state = ? WHERE entity = ? AND id = ?",
                (self._settled_state(entity, entity_id, row), entity, entity_id),
            )

    # --- reading, for the app ------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection lent to the calling thread for one read: it never waits for
        the writer (WAL). Connections go back to a small pool, so the app's many short-lived
        worker threads reuse a few of them instead of each leaving one open."""
        with self._readers_lock:
            reader = self._idle_readers.pop() if self._idle_readers else None
        if reader is None:
            reader = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=30
            )
            reader.row_factory = sqlite3.Row
        try:
            yield reader
        finally:
            with self._readers_lock:
                if len(self._idle_readers) < _IDLE_READERS:
                    self._idle_readers.append(reader)
                    reader = None
            if reader is not None:
                reader.close()

    def query(
        self,
        entity: str,
        *,
        where: Mapping[str, Any] | None = None,
        ids: Collection[str] | None = None,
        states: Collection[str] | None = None,
        search: str | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
        attendance_totals: bool = False,
        include_deleted: bool = False,
        custody: bool = False,
    ) -> list[StoredRecord]:
        """Records of one entity with their state, errors and open conflicts, in one query.

        - ``where``: equality on top-level fields of the record, e.g. ``{"project_id": p}``
          (``project_id``, ``activity_id`` and ``id`` use indexed columns; other names compare
          ``json_extract``). A value of None matches a missing or null field.
        - ``ids``: only these record ids.
        - ``states``: only records in these states (``STATES``: draft pending synced returned
          conflict rejected).
        - ``search``: every word must appear in the record's folded text (``SEARCH_FIELDS``:
          title, name, code, type, start_date, topic, admin_area, caption), case and accents
          ignored.
        - ``order_by``: field names, ``-name`` for descending (``id``, ``state``, ``version``
          are columns; other names sort by the JSON field); ``id`` always breaks ties, so
          ``limit``/``offset`` pages are stable.
        - ``fields``: return only these fields of ``data`` (plus ``id``), extracted in SQLite:
          much faster than whole records for a list of 10 000.
        - ``attendance_totals``: fill ``participants`` and ``women`` (sums of the attendance
          counts, computed in SQLite).
        - ``include_deleted``: also records deleted on the tablet or the server.
        - ``custody``: fill ``safe`` (safe on the server: a verified receipt covers the
          record's latest change and every photo this tablet holds of it).

        Reads see committed data only, through a pooled read-only connection.
        Raises ValueError for an unknown state or a field name that is not an identifier.
        """
        clauses, params = self._conditions(
            entity,
            where=where,
            ids=ids,
            states=states,
            search=search,
            include_deleted=include_deleted,
        )
        if fields is None:
            data_sql = "r.data"
        else:
            names = [n for n in dict.fromkeys(_field_name(n) for n in fields) if n != "id"]
            data_sql = (
                "json_object('id', r.id"
                + "".join(f", '{n}', r.data -> '$.{n}'" for n in names)
                + ")"
            )
        order = []
        for spec in order_by:
            descending = spec.startswith("-")
            name = _field_name(spec.lstrip("-"))
            column = _ORDER_COLUMNS.get(name, f"json_extract(r.data, '$.{name}')")
            order.append(f"{column} {'DESC' if descending else 'ASC'}")
        order.append("r.id")
        totals = _TOTALS if attendance_totals else "NULL, NULL"
        safe = _SAFE if custody else "NULL"
        sql = (
            f"SELECT r.entity, r.id, {data_sql}, {_SHOWN_STATE}, r.version, r.errors, "  # noqa: S608
            f"{_OPEN_CONFLICTS}, {totals}, {safe}, r.state FROM record AS r "
            f"WHERE {' AND '.join(clauses)} "
            f"ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
        )
        with self._reader() as reader:
            rows = reader.execute(
                sql, [*params, -1 if limit is None else int(limit), int(offset)]
            ).fetchall()
            photo_reasons = _refused_photo_reasons(
                reader, [str(r[1]) for r in rows if r[3] == REJECTED]
            )
        found = []
        for r in rows:
            state = str(r[3])
            errors = list(json.loads(r[5])) if r[10] == REJECTED and r[5] else []
            found.append(
                StoredRecord(
                    entity=str(r[0]),
                    id=str(r[1]),
                    data=json.loads(r[2]),
                    state=state,
                    version=int(r[4] or 0),
                    errors=errors + photo_reasons.get(str(r[1]), []) if state == REJECTED else [],
                    conflicts=list(json.loads(r[6])) if r[6] and r[6] != "[]" else [],
                    participants=None if r[7] is None else int(r[7]),
                    women=None if r[8] is None else int(r[8]),
                    safe=None if r[9] is None else bool(r[9]),
                )
            )
        return found

    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever a save, an answer, a pull page or a sync outcome is committed: the
        app compares it to know when to redraw. Read without waiting for a running sync."""
        with self._reader() as reader:
            row = reader.execute(
                "SELECT (SELECT json_group_object(key, value) FROM meta WHERE key IN ('cursor', "
                "'last_seq', 'last_success', 'last_error')), (SELECT count(*) FROM outbox), "
                "(SELECT count(*) FROM conflict WHERE status = 'open'), "
                "(SELECT count(*) FROM upload WHERE state = 'waiting')"
            ).fetchone()
        return (row[0], int(row[1]), int(row[2]), int(row[3]))

    def count(
        self,
        entity: str,
        *,
        where: Mapping[str, Any] | None = None,
        ids: Collection[str] | None = None,
        states: Collection[str] | None = None,
        search: str | None = None,
        include_deleted: bool = False,
    ) -> int:
        """How many records ``query`` with the same filters would return (without paging)."""
        clauses, params = self._conditions(
            entity,
            where=where,
            ids=ids,
            states=states,
            search=search,
            include_deleted=include_deleted,
        )
        sql = f"SELECT count(*) FROM record AS r WHERE {' AND '.join(clauses)}"  # noqa: S608
        with self._reader() as reader:
            return int(reader.execute(sql, params).fetchone()[0])

    def state_counts(
        self, entity: str, *, where: Mapping[str, Any] | None = None, search: str | None = None
    ) -> dict[str, int]:
        """How many live records of ``entity`` (matching the filters) are in each state."""
        clauses, params = self._conditions(
            entity, where=where, ids=None, states=None, search=search, include_deleted=False
        )
        sql = (
            f"SELECT {_SHOWN_STATE} AS shown, count(*) FROM record AS r "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} GROUP BY shown"
        )
        with self._reader() as reader:
            return {str(r[0]): int(r[1]) for r in reader.execute(sql, params)}

    def attention_counts(self, entity: str) -> dict[tuple[str, str | None], int]:
        """How many live records of ``entity`` are returned, in conflict or rejected (as
        ``states`` filters them), by state and author (``created_by_id``): what the app's
        Needs attention counts, in one pass and without reading records whole."""
        sql = (
            f"SELECT shown, author, count(*) FROM (SELECT {_SHOWN_STATE} AS shown, "  # noqa: S608
            "json_extract(r.data, '$.created_by_id') AS author FROM record AS r "
            "WHERE r.entity = ? AND r.deleted = 0) "
            "WHERE shown IN ('returned', 'conflict', 'rejected') GROUP BY shown, author"
        )
        with self._reader() as reader:
            return {
                (str(r[0]), None if r[1] is None else str(r[1])): int(r[2])
                for r in reader.execute(sql, (entity,))
            }

    @staticmethod
    def _conditions(
        entity: str,
        *,
        where: Mapping[str, Any] | None,
        ids: Collection[str] | None,
        states: Collection[str] | None,
        search: str | None,
        include_deleted: bool,
    ) -> tuple[list[str], list[Any]]:
        clauses = ["r.entity = ?"]
        params: list[Any] = [entity]
        if not include_deleted:
            clauses.append("r.deleted = 0")
        for name, value in (where or {}).items():
            column = _COLUMNS.get(name) or f"json_extract(r.data, '$.{_field_name(name)}')"
            if value is None:
                clauses.append(f"{column} IS NULL")
            else:
                clauses.append(f"{column} = ?")
                params.append(value if isinstance(value, int | float) else str(value))
        if ids is not None:
            chosen = [str(i) for i in ids]
            clauses.append("r.id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(chosen))
        if states is not None:
            unknown = sorted(set(states) - set(STATES))
            if unknown:
                raise ValueError(f"unknown state {unknown[0]!r}; use one of {', '.join(STATES)}")
            clauses.append(f"{_SHOWN_STATE} IN (SELECT value FROM json_each(?))")  # noqa: S608
            params.append(json.dumps(sorted(states)))
        for term in fold(search or "").split():
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("r.search LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        return clauses, params

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
                (entity, int(include_deleted)),
            ).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def state(self, entity: str, record_id: str) -> str | None:
        """pending | synced | photos_pending | returned | conflict | rejected | draft (None if
        unknown)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_SHOWN_STATE} FROM record AS r "  # noqa: S608
                "WHERE r.entity = ? AND r.id = ?",
                (entity, record_id),
            ).fetchone()
        return None if row is None else str(row[0])

    def errors(self, entity: str, record_id: str) -> list[dict[str, Any]]:
        """Why the server refused the last change of a rejected record: its own reasons, then
        those of its photos the server refused (``photos[<photo id>].<field>``)."""
        found = self.query(entity, ids=[record_id], fields=["id"], include_deleted=True)
        return found[0].errors if found else []

    def states(self) -> dict[str, int]:
        """How many live records are in each state."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_SHOWN_STATE} AS shown, count(*) FROM record AS r "  # noqa: S608
                "WHERE r.deleted = 0 GROUP BY shown"
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def waiting(self) -> Waiting:
        """What waits to be sent: records with a change in the outbox, photos whose bytes are
        in the upload queue, and those bytes. Nothing waits only when both are empty."""
        with self._reader() as reader:
            row = reader.execute(
                # A conflict decision counts as the record it settles, a photo's details
                # (a new photo, a caption) as its activity.
                "SELECT (SELECT count(*) FROM (SELECT entity, id FROM outbox "
                "WHERE entity NOT IN ('attachment', 'conflict') UNION "
                "SELECT c.entity, c.entity_id FROM outbox AS o JOIN conflict AS c ON c.id = o.id "
                "WHERE o.entity = 'conflict' UNION "
                "SELECT CASE WHEN a.activity_id IS NULL THEN 'observation' ELSE 'activity' END, "
                "coalesce(a.activity_id, a.observation_id) FROM outbox AS o JOIN record AS a "
                "ON a.entity = 'attachment' AND a.id = o.id WHERE o.entity = 'attachment')), "
                "(SELECT count(*) FROM outbox), "
                "(SELECT count(*) FROM upload WHERE state = 'waiting'), "
                "(SELECT coalesce(sum(size), 0) FROM upload WHERE state = 'waiting')"
            ).fetchone()
        return Waiting(
            records=int(row[0]), mutations=int(row[1]), photos=int(row[2]), photo_bytes=int(row[3])
        )

    def waiting_by_project(self) -> dict[str, Waiting]:
        """What waits to be sent, per project, counted as ``waiting`` counts it for the whole
        tablet: the records with a change in the outbox (deleted ones included; a photo's
        details count as its activity or observation, a conflict decision as the record it
        settles), every outbox row, and the photos whose bytes wait with their sizes. Only
        projects with something waiting are listed."""
        with self._reader() as reader:
            changes = reader.execute(_WAITING_CHANGES).fetchall()
            photos = reader.execute(_WAITING_PHOTOS).fetchall()
        found: dict[str, list[int]] = {}
        for project_id, records, mutations in changes:
            found.setdefault(str(project_id), [0, 0, 0, 0])[:2] = [int(records), int(mutations)]
        for project_id, count, size in photos:
            found.setdefault(str(project_id), [0, 0, 0, 0])[2:] = [int(count), int(size)]
        return {
            project: Waiting(records=c[0], mutations=c[1], photos=c[2], photo_bytes=c[3])
            for project, c in found.items()
        }

    def holdings(self) -> tuple[int, int, str | None]:
        """(live field records — activities, participants, sites —, live photos, the oldest
        ``captured_at`` among records with a change waiting) for the status the tablet reports
        (docs/protocol.md#tablet-status). Projects, targets and the catalogue are not counted."""
        with self._reader() as reader:
            row = reader.execute(
                "SELECT (SELECT count(*) FROM record WHERE deleted = 0"
                " AND entity IN ('activity', 'participant', 'site')),"
                " (SELECT count(*) FROM record WHERE deleted = 0 AND entity = 'attachment'),"
                " (SELECT min(json_extract(r.data, '$.captured_at')) FROM record AS r"
                "  WHERE EXISTS (SELECT 1 FROM outbox AS o WHERE o.entity = r.entity"
                "  AND o.id = r.id))"
            ).fetchone()
        return int(row[0]), int(row[1]), row[2]

    def own_authors(self) -> set[str]:
        """The authors (``created_by_id``) of the activities and observations holding a change
        of this tablet's that the server accepted (``local_version``): a field expert's server
        accepts changes only of their own records, so on a field expert's tablet this names
        the person, once anything of theirs went through."""
        with self._reader() as reader:
            rows = reader.execute(
                "SELECT DISTINCT json_extract(data, '$.created_by_id') FROM record "
                "WHERE entity IN ('activity', 'observation') AND local_version IS NOT NULL "
                "AND json_extract(data, '$.created_by_id') IS NOT NULL"
            ).fetchall()
        return {str(r[0]) for r in rows}

    def conflicts(self, *, status: str = "open") -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM conflict WHERE status = ?", (status,)
            ).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def catalogue(self) -> dict[str, Any] | None:
        text = self.meta("catalogue")
        return None if text is None else dict(json.loads(text))


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _fsync_dir(path: Path) -> None:
    """Make the renames into a directory durable (POSIX; a no-op where it cannot be done)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _details_refused(photo: sqlite3.Row) -> bool:
    """A photo whose details the server refused, holding nothing of it (a later change of a
    photo it holds, a caption or a delete, refused is not that: its bytes still go)."""
    return bool(photo["state"] == REJECTED and not photo["version"])


def _refused_photo_reasons(
    db: sqlite3.Connection, owner_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The server's reasons for refusing the live photos of these activities or observations,
    by owner, each at ``photos[<photo id>].<field>``: the app shows them with the record's."""
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(owner_ids), _CHUNK):
        part = _dumps(list(owner_ids[start : start + _CHUNK]))
        for row in db.execute(
            "SELECT coalesce(activity_id, observation_id), id, errors FROM record "
            "WHERE entity = 'attachment' AND deleted = 0 AND state = 'rejected' "
            "AND (activity_id IN (SELECT value FROM json_each(?)) "
            "OR observation_id IN (SELECT value FROM json_each(?))) ORDER BY id",
            (part, part),
        ):
            place = f"photos[{row[1]}]"
            found.setdefault(str(row[0]), []).extend(
                {**e, "field": f"{place}.{e['field']}" if e.get("field") else place}
                for e in json.loads(row[2] or "[]")
            )
    return found


def _changed_values(before: Any, after: Any) -> list[str]:
    """The answers a save of an observation's ``values`` changed (added, changed, cleared)."""
    old = before if isinstance(before, Mapping) else {}
    new = after if isinstance(after, Mapping) else {}
    return sorted(
        str(name)
        for name in {*old, *new}
        if not same_value(VALUE_PREFIX + str(name), old.get(name), new.get(name))
    )


def _lay_values(server: Any, mine: Mapping[str, Any], changed: Sequence[str]) -> dict[str, Any]:
    """The server's answers with those a pending save changed laid over them."""
    values = dict(server) if isinstance(server, Mapping) else {}
    for name in changed:
        if name in mine:
            values[name] = mine[name]
        else:
            values.pop(name, None)
    return values


def _field_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a field name")
    return name


def _pushable_record(entity: str) -> Entity:
    """Records the tablet saves: pushable entities, not conflict decisions (``keep_theirs``)."""
    kind = Entity(entity)
    if kind == Entity.CONFLICT:
        raise ValueError("conflicts are settled with keep_theirs, not saved")
    return kind


def _now() -> str:
    """The tablet's clock, in UTC: when a change was made (``changed_at``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
