"""Photo bytes (docs/protocol.md#attachments): resumable chunks at an offset, checked when whole,
served in scope."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Attachment
from server.sync.attachments import sniff_content_type
from tests.factories import make_access_token, make_user
from tests.server.sync.conftest import Field, mutation, push

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(300_000)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)


def _with_photo(client: TestClient, field: Field, data: bytes = JPEG, **overrides: Any) -> str:
    record = field.activity()
    photo_id = str(uuid.uuid4())
    metadata = {
        "id": photo_id,
        "activity_id": record["id"],
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "caption": "Demonstration plot",
        **overrides,
    }
    response = push(
        client, field, [mutation(1, record), mutation(2, metadata, entity="attachment")]
    )
    assert [r["status"] for r in response.json()["results"]] == ["applied", "applied"]
    return photo_id


def _patch(client: TestClient, field: Field, photo_id: str, offset: int, chunk: bytes) -> Any:
    return client.patch(
        f"/api/v1/attachments/{photo_id}",
        content=chunk,
        headers={
            **field.headers(),
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


def _offset(client: TestClient, field: Field, photo_id: str) -> int:
    response = client.head(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


def test_chunks_append_at_the_offset_and_the_photo_is_served(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field)
    assert _offset(client, field, photo_id) == 0
    first = _patch(client, field, photo_id, 0, JPEG[:100_000])
    assert first.status_code == 200
    assert first.headers["upload-offset"] == "100000" and first.json()["complete"] is False
    assert _offset(client, field, photo_id) == 100_000

    wrong = _patch(client, field, photo_id, 50_000, JPEG[50_000:150_000])
    assert wrong.status_code == 409
    assert wrong.headers["upload-offset"] == "100000"
    assert wrong.json()["upload_offset"] == 100_000

    last = _patch(client, field, photo_id, 100_000, JPEG[100_000:])
    assert last.status_code == 200 and last.json()["complete"] is True
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and stored.complete and stored.received == len(JPEG)

    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    served = client.get(
        f"/api/v1/attachments/{photo_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert served.status_code == 200
    assert served.content == JPEG and served.headers["content-type"] == "image/jpeg"
    by_tablet = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert by_tablet.status_code == 200


def test_a_wrong_sha256_is_refused_and_the_bytes_discarded(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field, sha256=hashlib.sha256(b"other").hexdigest())
    response = _patch(client, field, photo_id, 0, JPEG[:1_000_000])
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "sha256"
    assert response.json()["upload_offset"] == 0
    assert _offset(client, field, photo_id) == 0
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and not stored.complete and stored.received == 0
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.status_code == 404


def test_bytes_of_another_type_are_refused(client: TestClient, field: Field) -> None:
    photo_id = _with_photo(client, field, data=PNG)  # declared image/jpeg
    response = _patch(client, field, photo_id, 0, PNG)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "content_type"


def test_a_chunk_over_one_mebibyte_gets_413(client: TestClient, field: Field) -> None:
    big = b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)
    photo_id = _with_photo(client, field, data=big)
    assert _patch(client, field, photo_id, 0, big[: 1024 * 1024 + 1]).status_code == 413


def test_bytes_before_the_metadata_get_404(client: TestClient, field: Field) -> None:
    response = _patch(client, field, str(uuid.uuid4()), 0, JPEG[:10])
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_people_outside_the_scope_cannot_read_the_photo(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field)
    _patch(client, field, photo_id, 0, JPEG)
    with Session(engine) as session:
        stranger = make_user(session, role="country_officer", countries=["KEN"])
        token = make_access_token(session, stranger)
        session.commit()
    response = client.get(
        f"/api/v1/attachments/{photo_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    assert client.get(f"/api/v1/attachments/{photo_id}").status_code == 401


def test_metadata_for_someone_elses_activity_is_rejected(client: TestClient, field: Field) -> None:
    record = field.activity()
    push(
        client,
        field,
        [mutation(1, record)],
        device=field.teammate_device,
        token=field.teammate_token,
    )
    metadata = {
        "id": str(uuid.uuid4()),
        "activity_id": record["id"],
        "sha256": hashlib.sha256(JPEG).hexdigest(),
        "size": len(JPEG),
        "content_type": "image/jpeg",
    }
    result = push(client, field, [mutation(1, metadata, entity="attachment")]).json()
    assert result["results"][0]["status"] == "rejected"
    assert result["results"][0]["errors"][0]["field"] == "activity_id"


def test_content_types_are_sniffed_from_magic_bytes() -> None:
    assert sniff_content_type(JPEG[:64]) == "image/jpeg"
    assert sniff_content_type(PNG[:64]) == "image/png"
    assert sniff_content_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_content_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_content_type(b"GIF89a") is None


def test_only_the_tablet_that_sent_the_details_may_send_the_bytes(
    client: TestClient, field: Field, engine: Engine, session: Session
) -> None:
    """A teammate's tablet, or a read-only HQ analyst's, reads the photo's offset but cannot
    append to someone else's unfinished upload (security finding 5)."""
    from tests.factories import make_device

    photo_id = _with_photo(client, field)
    assert _patch(client, field, photo_id, 0, JPEG[:100_000]).status_code == 200
    hq = make_user(session, role="hq_analyst", countries=[])
    _, hq_token = make_device(session, hq)
    _, second_token = make_device(session, field.expert)  # the same person's other tablet
    session.commit()
    for token in (field.teammate_token, hq_token):
        headers = {"Authorization": f"Bearer {token}"}
        assert client.head(f"/api/v1/attachments/{photo_id}", headers=headers).status_code == 200
        refused = client.patch(
            f"/api/v1/attachments/{photo_id}",
            content=JPEG[100_000:200_000],
            headers={
                **headers,
                "Upload-Offset": "100000",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "not_uploader"
        assert "sent" in refused.json()["detail"]
    assert _offset(client, field, photo_id) == 100_000
    with Session(engine) as reader:
        stored = reader.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and stored.received == 100_000
    mine = client.patch(
        f"/api/v1/attachments/{photo_id}",
        content=JPEG[100_000:],
        headers={
            "Authorization": f"Bearer {second_token}",
            "Upload-Offset": "100000",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert mine.status_code == 200 and mine.json()["complete"] is True
