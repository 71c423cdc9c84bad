"""When a record is complete, and its receipt (docs/protocol.md#custody-receipts).

A record version is complete when the server holds it and every live photo of it with its bytes
verified. Two writers complete records, and both call this module in their own transaction:

- a push (``issue_after_push``): every record it applied, or whose photos it added, changed or
  deleted, gets a receipt for its current version to the pushing device, or, while photos still
  miss their bytes, a waiting receipt for that version and device;
- a finished upload (``issue_after_upload``): when the photo's owner has a waiting receipt and
  this was its last missing photo, the receipt is signed for the version and device it waited
  for.

Records changed by the office (management API) get none: no device pushed them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from server.activities.models import Activity, Attachment
from server.projects.models import Participant, Site
from server.records.receipts import Held, Signer, pending, write_receipts
from server.results.models import Observation

# The records receipts cover, and the column naming a photo's owner for those that have photos.
TABLES: dict[str, Any] = {
    "activity": Activity,
    "observation": Observation,
    "participant": Participant,
    "site": Site,
}
PHOTO_OWNER: dict[str, Any] = {
    "activity": Attachment.activity_id,
    "observation": Attachment.observation_id,
}


def held(session: Session, entity: str, ids: Iterable[uuid.UUID]) -> list[Held]:
    """The current version of each record that exists and is not deleted, with its photos
    (``attachments`` None while some photo's bytes are missing)."""
    table = TABLES[entity]
    ids = list(set(ids))
    found: list[Held] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        columns = [table.id, table.version, table.project_id]
        if hasattr(table, "deleted"):
            columns.append(table.deleted)
        records = session.execute(select(*columns).where(table.id.in_(chunk))).all()
        photos: dict[uuid.UUID, list[Any]] = defaultdict(list)
        owner = PHOTO_OWNER.get(entity)
        if owner is not None:
            for photo in session.execute(
                select(
                    owner,
                    col(Attachment.id),
                    col(Attachment.sha256),
                    col(Attachment.size),
                    col(Attachment.complete),
                ).where(owner.in_(chunk), col(Attachment.deleted).is_(False))
            ):
                photos[photo[0]].append(photo)
        for record in records:
            if len(record) > 3 and record[3]:
                continue  # a tombstone: nothing to keep on the tablet
            own = photos.get(record[0], [])
            attachments = None
            if all(photo.complete for photo in own):
                attachments = [
                    {"id": str(p.id), "sha256": p.sha256.lower(), "size": int(p.size)}
                    for p in sorted(own, key=lambda p: str(p.id))
                ]
            found.append(Held(entity, record[0], int(record[1]), record[2], attachments))
    return found


def issue_after_push(
    session: Session,
    signer: Signer,
    *,
    device_id: uuid.UUID,
    touched: Mapping[str, Iterable[uuid.UUID]],
    photos: Iterable[uuid.UUID] = (),
    created: Sequence[Held] = (),
) -> int:
    """Receipts to ``device_id`` for the records a push applied (``touched``: entity → ids),
    for the owners of the photos it applied (``photos``: photo ids), and for the records it
    created that hold no photo (``created``: known complete, not read back; each once, and
    none of them among the records ``touched`` or ``photos`` name)."""
    wanted: dict[str, set[uuid.UUID]] = {entity: set(ids) for entity, ids in touched.items()}
    photo_ids = list(set(photos))
    for start in range(0, len(photo_ids), 500):
        for activity_id, observation_id in session.execute(
            select(col(Attachment.activity_id), col(Attachment.observation_id)).where(
                col(Attachment.id).in_(photo_ids[start : start + 500])
            )
        ):
            if activity_id is not None:
                wanted.setdefault("activity", set()).add(activity_id)
            if observation_id is not None:
                wanted.setdefault("observation", set()).add(observation_id)
    records: list[Held] = []
    for entity, ids in wanted.items():
        if entity in TABLES and ids:
            records += held(session, entity, ids)
    return write_receipts(session, signer, device_id=device_id, held=records, new=created)


def issue_after_upload(session: Session, signer: Signer, *, attachment: Attachment) -> int:
    """A photo's bytes were just verified: sign its owner's waiting receipt if it was the last
    photo missing."""
    signed = 0
    for entity, owner_id in (
        ("activity", attachment.activity_id),
        ("observation", attachment.observation_id),
    ):
        if owner_id is None:
            continue
        waiting = pending(session, entity=entity, entity_id=owner_id)
        if waiting is None:
            continue
        for record in held(session, entity, [owner_id]):
            if record.attachments is None:
                continue
            version = Held(entity, owner_id, waiting.version, record.project_id, record.attachments)
            signed += write_receipts(session, signer, device_id=waiting.device_id, held=[version])
    return signed
