"""``pilotmon receipts verify FILE``: are the receipts a tablet saved still true?

FILE is what the tablet's "Save receipts" writes (docs/protocol.md#custody-receipts)::

    {"format": "pilotmon-receipts/1", "device_id": "...", "server": "https://...",
     "keys": [{"key_id", "public_key"}], "receipts": [<receipt exactly as pulled>, ...]}

Each receipt is checked against the keys this server publishes (current and retired; the
file's own ``keys`` are not trusted), and against what the server holds now: the record at
the receipt's version or later (a record deleted at a later version counts as held: the
deletion is a later, deliberate change and the server keeps its history), and every photo the
receipt lists, complete, with the same sha256 and size, its file on disk.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from server.activities.models import Attachment
from server.receipts.service import TABLES
from shared.receipts import ReceiptError, load_public_keys, verify

FORMAT = "pilotmon-receipts/1"
_CHUNK = 500


class ReceiptsFileError(ValueError):
    """FILE is not a receipts file: one line saying why."""


@dataclass
class Verdict:
    checked: int = 0
    held: int = 0
    deleted_since: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.checked == self.held


def read_file(path: Path) -> tuple[str | None, list[Any]]:
    """The device id and the receipts of a receipts file, or ``ReceiptsFileError``."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ReceiptsFileError(f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, RecursionError) as exc:
        raise ReceiptsFileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReceiptsFileError(
            f"{path} is not a receipts file (its format must be {FORMAT!r}: the tablet's "
            "Save receipts writes one)"
        )
    receipts = data.get("receipts")
    if not isinstance(receipts, list):
        raise ReceiptsFileError(f"{path}: 'receipts' must be a list")
    device_id = data.get("device_id")
    return (str(device_id) if device_id is not None else None), receipts


def _name(receipt: Any, position: int) -> str:
    if isinstance(receipt, Mapping):
        return (
            f"receipt {position}: {receipt.get('entity', '?')} {receipt.get('id', '?')} "
            f"v{receipt.get('version', '?')}"
        )
    return f"receipt {position}"


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def verify_receipts(
    session: Session,
    *,
    receipts: list[Any],
    published: list[dict[str, str]],
    attachments_dir: Path,
    device_id: str | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> Verdict:
    """Check every receipt; ``progress`` is told how many were checked after each chunk."""
    entries: list[Mapping[str, Any]] = list(published)
    keys = load_public_keys(entries)
    verdict = Verdict()
    for chunk in _chunks(list(enumerate(receipts, start=1))):
        genuine: list[tuple[int, Mapping[str, Any]]] = []
        for position, receipt in chunk:
            verdict.checked += 1
            try:
                verify(receipt, keys)
            except ReceiptError as error:
                verdict.problems.append(f"{_name(receipt, position)}: {_why(error)}")
                continue
            if device_id is not None and str(receipt["device_id"]) != device_id:
                verdict.problems.append(
                    f"{_name(receipt, position)}: issued to device {receipt['device_id']}, "
                    f"not to {device_id} whose file this is"
                )
                continue
            genuine.append((position, receipt))
        _check_held(session, genuine, attachments_dir=attachments_dir, verdict=verdict)
        progress(len(chunk))
    return verdict


def _why(error: ReceiptError) -> str:
    return {
        "malformed": f"not a well-formed receipt ({error})",
        "unknown_key": f"signed by a key this server never published ({error})",
        "bad_signature": "the signature does not match: the receipt was changed or forged",
    }.get(error.reason, str(error))


def _check_held(
    session: Session,
    receipts: list[tuple[int, Mapping[str, Any]]],
    *,
    attachments_dir: Path,
    verdict: Verdict,
) -> None:
    by_entity: dict[str, list[uuid.UUID]] = {}
    for _, receipt in receipts:
        try:
            by_entity.setdefault(receipt["entity"], []).append(uuid.UUID(str(receipt["id"])))
        except ValueError:
            continue
    records: dict[tuple[str, uuid.UUID | None], tuple[int, bool]] = {}
    for entity, ids in by_entity.items():
        table = TABLES[entity]
        columns = [table.id, table.version]
        if hasattr(table, "deleted"):
            columns.append(table.deleted)
        for row in session.execute(select(*columns).where(table.id.in_(ids))):
            records[(entity, row[0])] = (int(row[1]), bool(row[2]) if len(row) > 2 else False)
    photo_ids = [
        uuid.UUID(str(a["id"]))
        for _, receipt in receipts
        for a in receipt["attachments"]
        if _is_uuid(a["id"])
    ]
    photos = {
        p.id: p
        for chunk in _chunks(photo_ids)
        for p in session.execute(select(Attachment).where(col(Attachment.id).in_(chunk))).scalars()
    }
    for position, receipt in receipts:
        name = _name(receipt, position)
        found = records.get((receipt["entity"], _uuid_or_none(receipt["id"])))
        if found is None:
            verdict.problems.append(f"{name}: missing: the server holds no such record")
            continue
        version, deleted = found
        if version < receipt["version"]:
            verdict.problems.append(
                f"{name}: missing: the server holds only version {version} "
                "(restored from an older backup?)"
            )
            continue
        missing = list(_missing_photos(receipt["attachments"], photos, attachments_dir))
        if missing:
            verdict.problems += [f"{name}: {problem}" for problem in missing]
            continue
        verdict.held += 1
        if deleted:
            verdict.deleted_since += 1


def _missing_photos(
    listed: Iterable[Mapping[str, Any]], photos: Mapping[uuid.UUID, Attachment], root: Path
) -> Iterator[str]:
    for entry in listed:
        photo = photos.get(_uuid_or_none(entry["id"]))  # type: ignore[arg-type]
        if photo is None:
            yield f"photo {entry['id']} missing: the server holds no such photo"
        elif photo.deleted:
            continue  # deleted since, like a record: a later, deliberate change
        elif not photo.complete or not _photo_file(root, photo.id).is_file():
            yield f"photo {entry['id']} missing: its bytes are not on the server"
        elif photo.sha256.lower() != str(entry["sha256"]).lower() or photo.size != entry["size"]:
            yield f"photo {entry['id']} differs: the server holds other bytes"


def _photo_file(root: Path, photo_id: uuid.UUID) -> Path:
    """Where a complete photo's bytes are (``server.sync.attachments.AttachmentFiles.final``,
    which imports this package: the layout is repeated here)."""
    text = str(photo_id)
    return root / text[:2] / text


def _is_uuid(value: Any) -> bool:
    return _uuid_or_none(value) is not None


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
