"""A finished upload is checked (sha256, type, a full decode) before its write transaction
(docs/protocol.md#attachments): no lock is held while a photo decodes, and the transaction
publishes the checked file only if the upload is still where the file was put together from."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from server.accounts.auth import caller_from_device_token
from server.activities.models import Attachment
from server.columns import utcnow
from server.config import Settings
from server.db import write_engine
from server.records.receipts import current_signer
from server.sync import attachments
from server.sync.attachments import AttachmentFiles, receive_chunk
from tests.server.sync.conftest import Field, mutation, push, upload_chunk


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((320, 240), 40).convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


JPEG = _jpeg()
HALF = len(JPEG) // 2


def _with_photo(client: TestClient, field: Field, data: bytes = JPEG) -> str:
    record = field.activity()
    photo_id = str(uuid.uuid4())
    metadata = {
        "id": photo_id,
        "activity_id": record["id"],
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "caption": "Demonstration plot",
    }
    answer = push(client, field, [mutation(1, record), mutation(2, metadata, entity="attachment")])
    assert [r["status"] for r in answer.json()["results"]] == ["applied", "applied"], answer.text
    return photo_id


def _while_decoding(monkeypatch: pytest.MonkeyPatch, hook: Callable[[int], None]) -> list[str]:
    """Run ``hook(n)`` (n: decodes before this one) each time the server decodes a finished
    upload, just before it does; returns the paths it decoded."""
    decode = attachments.unreadable_reason
    decoded: list[str] = []

    def hooked(path: Path, content_type: str) -> str | None:
        decoded.append(str(path))
        hook(len(decoded) - 1)
        return decode(path, content_type)

    monkeypatch.setattr(attachments, "unreadable_reason", hooked)
    return decoded


def _row_free(engine: Engine, photo_id: str) -> bool:
    """Whether another connection can take, at once, the lock a writer of this photo takes:
    SQLite's single write lock (BEGIN IMMEDIATE), PostgreSQL's lock on the row."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database is not None
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()
    with Session(engine) as session:
        try:
            session.execute(
                select(col(Attachment.id))
                .where(col(Attachment.id) == uuid.UUID(photo_id))
                .with_for_update(nowait=True)
            )
            return True
        except OperationalError:
            return False


def _stored(engine: Engine, photo_id: str) -> Attachment:
    with Session(engine) as session:
        row = session.get(Attachment, uuid.UUID(photo_id))
        assert row is not None
        return row


def _files(settings: Settings) -> AttachmentFiles:
    return AttachmentFiles(settings.attachments_dir)


def _partial_folder(settings: Settings) -> list[str]:
    folder = settings.attachments_dir / "partial"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_no_lock_is_held_while_the_last_chunk_is_decoded(
    client: TestClient,
    field: Field,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo_id = _with_photo(client, field)
    assert upload_chunk(client, field, photo_id, 0, JPEG[:HALF]).status_code == 200
    free: list[bool] = []
    decoded = _while_decoding(monkeypatch, lambda _: free.append(_row_free(engine, photo_id)))

    done = upload_chunk(client, field, photo_id, HALF, JPEG[HALF:])

    assert done.status_code == 200, done.text
    assert done.json()["complete"] is True
    assert free == [True]  # decoded once, and meanwhile any other writer could go on
    assert decoded[0] != str(_files(settings).partial(uuid.UUID(photo_id)))
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.status_code == 200 and served.content == JPEG
    assert _partial_folder(settings) == []  # neither the partial file nor the checked one


def test_a_refused_file_leaves_nothing_behind_and_the_upload_starts_again_from_zero(
    client: TestClient, field: Field, engine: Engine, settings: Settings
) -> None:
    cut = JPEG[: len(JPEG) - 400]  # a JPEG cut short, whose sha256 the tablet declared
    photo_id = _with_photo(client, field, cut)
    for _ in range(2):  # the tablet sends it again from the start, and hears the same
        first = upload_chunk(client, field, photo_id, 0, cut[:HALF])
        assert first.status_code == 200 and first.json()["upload_offset"] == HALF
        refused = upload_chunk(client, field, photo_id, HALF, cut[HALF:])

        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "unreadable_file"
        assert refused.json()["upload_offset"] == 0
        head = client.head(f"/api/v1/attachments/{photo_id}", headers=field.headers())
        assert (head.headers["upload-offset"], head.headers["upload-complete"]) == ("0", "0")
        assert _partial_folder(settings) == []
        stored = _stored(engine, photo_id)
        assert (stored.received, stored.complete) == (0, False)
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.status_code == 404


def test_a_last_chunk_resent_after_its_answer_was_lost_hears_the_photo_is_complete(
    client: TestClient, field: Field, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo_id = _with_photo(client, field)
    assert upload_chunk(client, field, photo_id, 0, JPEG[:HALF]).status_code == 200
    assert upload_chunk(client, field, photo_id, HALF, JPEG[HALF:]).json()["complete"] is True
    version = _stored(engine, photo_id).version
    decoded = _while_decoding(monkeypatch, lambda _: None)

    again = upload_chunk(client, field, photo_id, HALF, JPEG[HALF:])

    assert again.status_code == 200
    assert (again.json()["upload_offset"], again.json()["complete"]) == (len(JPEG), True)
    assert decoded == []  # a complete photo is not checked again
    assert _stored(engine, photo_id).version == version  # nor completed twice


def test_two_last_chunks_at_once_complete_the_photo_once(
    client: TestClient,
    field: Field,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk the tablet gave up on and its resend both end the file: the one that commits
    first publishes it, the other hears that the photo is complete."""
    photo_id = _with_photo(client, field)
    assert upload_chunk(client, field, photo_id, 0, JPEG[:HALF]).status_code == 200
    version = _stored(engine, photo_id).version

    def other_request_first(decodes: int) -> None:
        if decodes:
            return  # the other request's own decode
        with Session(engine) as session:
            caller = caller_from_device_token(session, token=field.token)
        state = receive_chunk(
            engine=engine,
            caller=caller,
            files=_files(settings),
            attachment_id=uuid.UUID(photo_id),
            offset=HALF,
            chunk=JPEG[HALF:],
            signer=current_signer(settings),
        )
        assert state.complete

    decoded = _while_decoding(monkeypatch, other_request_first)
    done = upload_chunk(client, field, photo_id, HALF, JPEG[HALF:])

    assert done.status_code == 200, done.text
    assert (done.json()["upload_offset"], done.json()["complete"]) == (len(JPEG), True)
    assert len(decoded) == 2
    assert _stored(engine, photo_id).version == version + 1  # one new version for the tablets
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.content == JPEG
    assert _partial_folder(settings) == []


def test_an_upload_reset_while_its_file_is_checked_publishes_nothing(
    client: TestClient,
    field: Field,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cleanup job resets an upload just as its last chunk arrives: the file put together
    from the old bytes is not published, and the tablet is told to start from 0."""
    photo_id = _with_photo(client, field)
    assert upload_chunk(client, field, photo_id, 0, JPEG[:HALF]).status_code == 200

    def reset(_: int) -> None:
        with Session(write_engine(engine)) as session:
            row = session.get(Attachment, uuid.UUID(photo_id))
            assert row is not None
            row.received, row.updated_at = 0, utcnow()
            session.add(row)
            session.commit()
        _files(settings).discard(uuid.UUID(photo_id))

    decoded = _while_decoding(monkeypatch, reset)
    late = upload_chunk(client, field, photo_id, HALF, JPEG[HALF:])

    assert late.status_code == 409, late.text
    assert late.json()["upload_offset"] == 0 and late.headers["upload-offset"] == "0"
    assert len(decoded) == 1  # the reset is seen before a second check
    assert client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers()).status_code == 404
    assert _partial_folder(settings) == []
    monkeypatch.undo()
    assert upload_chunk(client, field, photo_id, 0, JPEG[:HALF]).status_code == 200
    assert upload_chunk(client, field, photo_id, HALF, JPEG[HALF:]).json()["complete"] is True


def test_an_upload_that_keeps_changing_while_checked_is_checked_a_bounded_number_of_times(
    client: TestClient,
    field: Field,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo_id = _with_photo(client, field)
    assert upload_chunk(client, field, photo_id, 0, JPEG[:HALF]).status_code == 200

    def touch(_: int) -> None:  # an edit of the photo's caption, say, commits meanwhile
        with Session(write_engine(engine)) as session:
            row = session.get(Attachment, uuid.UUID(photo_id))
            assert row is not None
            row.updated_at = utcnow()
            session.add(row)
            session.commit()

    decoded = _while_decoding(monkeypatch, touch)
    busy = upload_chunk(client, field, photo_id, HALF, JPEG[HALF:])

    assert busy.status_code == 409, busy.text
    assert busy.json()["upload_offset"] == HALF  # the tablet resends the last chunk from there
    assert len(decoded) == 3
    assert _partial_folder(settings) == [photo_id]  # the bytes received are kept
    monkeypatch.undo()
    assert upload_chunk(client, field, photo_id, HALF, JPEG[HALF:]).json()["complete"] is True


def test_someone_elses_last_chunk_is_refused_before_anything_is_decoded(
    client: TestClient, field: Field, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo_id = _with_photo(client, field)
    decoded = _while_decoding(monkeypatch, lambda _: None)

    teammates = upload_chunk(
        client, field, photo_id, 0, JPEG, headers=field.headers(field.teammate_token)
    )

    assert teammates.status_code == 403 and teammates.json()["code"] == "not_uploader"
    assert decoded == [] and _partial_folder(settings) == []
    head = client.head(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert head.headers["upload-offset"] == "0"
