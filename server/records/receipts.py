"""Custody receipts, the shared part (docs/protocol.md#custody-receipts): the signing key, the
published public keys, and writing a record's current receipt with its change-log entry.

The key: ``PILOTMON_RECEIPT_KEY`` (base64 of the 32 raw Ed25519 private bytes) or, unset, the
file ``receipt_key`` in the data directory (the same text, mode 0600), made on first use (or by
``pilotmon init-db``). Every public key that signed is kept in the ``receipt_key`` table, so a
backup carries them and receipts signed before a rotation or a restore on a new machine still
verify. The private key is never in the database nor in a backup.

Which records are complete, and when, is the domain's business (``server.receipts``); this
module signs what it is given and stores it in the writer's transaction.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col

from server.columns import utcnow
from server.config import Settings
from server.errors import ConfigError, DatabaseBusy
from server.records.bulk import insert_rows
from server.records.changes import ChangeRecord, noted_versions, record_changes
from server.records.models import Receipt, ReceiptKey
from shared import receipts as shared_receipts

KEY_FILE = "receipt_key"
RECEIPT_ENTITY = "receipt"


@dataclass(frozen=True, slots=True)
class Signer:
    """The key that signs receipts now."""

    private_key: Ed25519PrivateKey
    key_id: str
    public_key: str

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        return shared_receipts.sign(body, self.private_key, self.key_id)

    @classmethod
    def generate(cls) -> Signer:
        """A signer with a fresh key of its own (tests, benches)."""
        return _signer(Ed25519PrivateKey.generate())


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def _signer(private_key: Ed25519PrivateKey) -> Signer:
    public = shared_receipts.public_key_text(private_key)
    return Signer(private_key, shared_receipts.key_id_for(public), public)


def private_key_text(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode("ascii")


def parse_private_key(text: str, *, where: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise ConfigError(
            f"{where} is not a receipt key: it must be the base64 of 32 raw Ed25519 "
            "private-key bytes (docs/cli.md)"
        ) from exc


_cache: dict[str, tuple[Any, Signer]] = {}
_cache_lock = threading.Lock()


def _write_new_key(path: Path, *, replace: bool) -> None:
    """A fresh key in ``path``, mode 0600, written whole before it appears under its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(private_key_text(Ed25519PrivateKey.generate()) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if replace:
            os.replace(temporary, path)
        else:
            # fails if another process made one meanwhile: theirs is the key
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def current_signer(settings: Settings) -> Signer:
    """The signing key: ``PILOTMON_RECEIPT_KEY``, or the data directory's key file (made now
    if there is none). Re-read when the file changes (``pilotmon receipts rotate-key``)."""
    if settings.receipt_key:
        cached = _cache.get("env")
        if cached is not None and cached[0] == settings.receipt_key:
            return cached[1]
        signer = _signer(parse_private_key(settings.receipt_key, where="PILOTMON_RECEIPT_KEY"))
        _cache["env"] = (settings.receipt_key, signer)
        return signer
    path = key_path(settings)
    with _cache_lock:
        try:
            stat = path.stat()
        except FileNotFoundError:
            try:
                _write_new_key(path, replace=False)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the receipt key {path} ({exc.strerror}); set "
                    "PILOTMON_DATA_DIR to a folder you can write"
                ) from exc
            stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        signer = _signer(parse_private_key(path.read_text(), where=str(path)))
        _cache[str(path)] = (stamp, signer)
        return signer


def _insert_ignoring_duplicates(
    session: OrmSession, table: Any, rows: list[dict[str, Any]]
) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(table).values(rows).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(table).values(rows).on_conflict_do_nothing())


def register_key(session: Session, signer: Signer) -> None:
    """Publish the signing key (once): in the writer's transaction, before it signs."""
    if session.get(ReceiptKey, signer.key_id) is None:
        _insert_ignoring_duplicates(
            session,
            ReceiptKey,
            [{"key_id": signer.key_id, "public_key": signer.public_key, "created_at": utcnow()}],
        )


def published_keys(session: Session, settings: Settings) -> list[dict[str, str]]:
    """``receipt_keys`` as ``GET /sync/info`` and enrolment publish them: every key that ever
    signed (oldest first) and the one that signs now."""
    rows = session.execute(select(ReceiptKey).order_by(col(ReceiptKey.created_at))).scalars()
    keys = [{"key_id": r.key_id, "public_key": r.public_key} for r in rows]
    signer = current_signer(settings)
    if all(k["key_id"] != signer.key_id for k in keys):
        keys.append({"key_id": signer.key_id, "public_key": signer.public_key})
    return keys


# How long `pilotmon receipts rotate-key` waits for the SQLite database's write lock, which
# another command or the server holds while it writes (a push: a moment), before it gives up.
ROTATE_LOCK_WAIT_S = 10.0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def rotate_key(
    session: Session, settings: Settings, *, waiting: Callable[[str], None] = _say
) -> tuple[Signer, Signer]:
    """A new signing key in the data directory; the old one stays published, marked retired.
    Returns (old, new). The caller commits.

    The database comes first: a database without the schema (init-db never ran) stops it
    (exit code 3, from the command line) and one another process is writing to stops it after
    ``ROTATE_LOCK_WAIT_S`` (``DatabaseBusy``, exit code 1; ``waiting`` says that it waits),
    both before any key file is written."""
    if settings.receipt_key:
        raise ConfigError(
            "the receipt key comes from PILOTMON_RECEIPT_KEY: put a new key there instead "
            "(the old public key stays published once it has signed)"
        )
    busy = DatabaseBusy(
        "the database is in use: another pilotmon command or the server kept writing to it "
        f"for {ROTATE_LOCK_WAIT_S:g} s; nothing was changed (the old key still signs): try "
        "again once it is done"
    )
    if not session.in_transaction() and not _write_lock_free(session, ROTATE_LOCK_WAIT_S, waiting):
        raise busy
    try:
        # Begins the transaction (on a writing session, with the write lock) and fails on a
        # database without the receipt_key table.
        session.execute(select(col(ReceiptKey.key_id)).limit(1))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
            raise busy from exc
        raise
    old = current_signer(settings)
    register_key(session, old)
    path = key_path(settings)
    try:
        _write_new_key(path, replace=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the new receipt key in {path.parent} ({exc.strerror}); the old key "
            "still signs: make the data directory writable and try again"
        ) from exc
    new = current_signer(settings)
    register_key(session, new)
    retired = session.get(ReceiptKey, old.key_id)
    if retired is not None and retired.retired_at is None:
        retired.retired_at = utcnow()
        session.add(retired)
    session.flush()
    return old, new


def _write_lock_free(session: Session, wait_s: float, waiting: Callable[[str], None]) -> bool:
    """On SQLite: whether the database's write lock is free now or within ``wait_s`` (saying
    so through ``waiting`` when it is not free at once). Elsewhere: True."""
    bind = session.get_bind()
    url = bind.engine.url
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return True
    if name.startswith("file:") or url.query.get("uri") or not Path(name).is_file():
        return True  # the session's own BEGIN finds out

    def free_within(timeout: float) -> bool:
        probe = sqlite3.connect(name, timeout=timeout, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.Error as exc:
            # Busy: not free. Anything else (not a database, say): the session's own first
            # statement reports it.
            return getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY
        finally:
            probe.close()

    if free_within(0):
        return True
    waiting(
        f"waiting up to {wait_s:g} s for the database: another pilotmon command or the server "
        "is writing to it …"
    )
    return free_within(wait_s)


# --- writing receipts ------------------------------------------------------------------------


class Held(NamedTuple):
    """A version of a record the server holds: ``attachments`` lists every live photo when all
    their bytes are verified, None while some are still missing (the receipt then waits)."""

    entity: str
    entity_id: uuid.UUID
    version: int
    project_id: uuid.UUID | None
    attachments: list[dict[str, Any]] | None


def receipt_body(held: Held, *, device_id: uuid.UUID, issued_at: str) -> dict[str, Any]:
    return {
        "entity": held.entity,
        "id": str(held.entity_id),
        "version": held.version,
        "attachments": held.attachments or [],
        "device_id": str(device_id),
        "issued_at": issued_at,
    }


def write_receipts(
    session: Session,
    signer: Signer,
    *,
    device_id: uuid.UUID,
    held: Sequence[Held],
    new: Sequence[Held] = (),
) -> int:
    """Make each record's current receipt the one for ``held``, to ``device_id``: issued now
    (its content fixed, with ``issued_at``) when all its photos are complete, else waiting for
    them. An issued one is noted in the change log for that device only, unless the record's
    own change of that version is logged in this transaction: the pull then hands the device
    its receipt with that change (``server.sync.pull``). Returns how many were issued.
    Signing waits for delivery (``signed``), so a push pays for rows, not signatures; the
    signing key is published (``register_key``) here, in the writer's transaction.
    ``new``: more records, each once and none of them in ``held``, that the caller knows have
    no receipt row yet (created in this transaction); theirs come first.
    """
    if not held and not new:
        return 0
    held = list({(item.entity, item.entity_id): item for item in held}.values())
    register_key(session, signer)
    existing = _current(session, held) if held else {}
    logged = noted_versions(session)
    now = utcnow()
    fresh: list[tuple[Any, ...]] = []
    changes: list[ChangeRecord] = []
    issued = 0
    for item in (*new, *held):
        entity, entity_id, version, project_id, attachments = item
        issued_at = None if attachments is None else now
        if issued_at is not None:
            issued += 1
            if (entity, entity_id, version) not in logged:
                changes.append(
                    ChangeRecord(
                        RECEIPT_ENTITY, entity_id, "upsert", version, project_id, device_id
                    )
                )
        row = existing.get((entity, entity_id)) if existing else None
        if row is None:
            # one list for all the records without photos: its JSON is made once
            if attachments == []:
                attachments = _NO_PHOTOS
            fresh.append(
                (entity, entity_id, version, device_id, project_id, attachments, issued_at)
            )
        else:
            row.version = version
            row.device_id = device_id
            row.project_id = project_id
            row.attachments = attachments
            row.issued_at = issued_at
            session.add(row)
    if fresh:
        insert_rows(session, Receipt.__table__, _COLUMNS, fresh)  # type: ignore[attr-defined]
    if changes:
        record_changes(session, changes)
    return issued


_NO_PHOTOS: list[dict[str, Any]] = []  # never changed
_COLUMNS = ("entity", "entity_id", "version", "device_id", "project_id", "attachments", "issued_at")


def _current(session: Session, held: Iterable[Held]) -> dict[tuple[str, uuid.UUID], Any]:
    by_entity: dict[str, list[uuid.UUID]] = {}
    for item in held:
        by_entity.setdefault(item.entity, []).append(item.entity_id)
    found: dict[tuple[str, uuid.UUID], Any] = {}
    for entity, ids in by_entity.items():
        for start in range(0, len(ids), 500):
            for row in session.execute(
                select(Receipt).where(
                    col(Receipt.entity) == entity,
                    col(Receipt.entity_id).in_(ids[start : start + 500]),
                )
            ).scalars():
                found[(row.entity, row.entity_id)] = row
    return found


def pending(session: Session, *, entity: str, entity_id: uuid.UUID) -> Receipt | None:
    """The receipt of a record still waiting for photos, if any."""
    row = session.get(Receipt, (entity_id, entity))
    return row if row is not None and row.issued_at is None else None


def signed(row: Receipt, signer: Signer) -> dict[str, Any]:
    """An issued receipt as the device receives it, signed by the current key."""
    assert row.issued_at is not None and row.attachments is not None
    issued_at = row.issued_at
    assert issued_at is not None
    body = receipt_body(
        Held(row.entity, row.entity_id, row.version, row.project_id, row.attachments),
        device_id=row.device_id,
        issued_at=issued_at.astimezone(UTC).isoformat(),
    )
    return signer.sign(body)
