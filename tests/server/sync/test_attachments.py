"""Photo bytes (docs/protocol.md#attachments): resumable chunks at an offset, checked when whole,
served in scope."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller, caller_from_device_token
from server.activities.models import Attachment
from server.app import create_app
from server.config import Settings
from server.db import write_engine
from server.records.receipts import current_signer
from server.sync.attachments import AttachmentFiles, append_chunk, sniff_content_type
from server.sync.http import server_stopping
from tests.factories import make_access_token, make_user
from tests.photos import JPEG_HEAD, PDF_TAIL, PNG_HEAD
from tests.server.sync.conftest import Field, mutation, push, upload_chunk

JPEG = JPEG_HEAD + os.urandom(300_000)
PNG = PNG_HEAD + os.urandom(1000)


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


def _offset(client: TestClient, field: Field, photo_id: str) -> int:
    response = client.head(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


def test_chunks_append_at_the_offset_and_the_photo_is_served(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field)
    assert _offset(client, field, photo_id) == 0
    first = upload_chunk(client, field, photo_id, 0, JPEG[:100_000])
    assert first.status_code == 200
    assert first.headers["upload-offset"] == "100000" and first.json()["complete"] is False
    assert _offset(client, field, photo_id) == 100_000

    wrong = upload_chunk(client, field, photo_id, 50_000, JPEG[50_000:150_000])
    assert wrong.status_code == 409
    assert wrong.headers["upload-offset"] == "100000"
    assert wrong.json()["upload_offset"] == 100_000

    last = upload_chunk(client, field, photo_id, 100_000, JPEG[100_000:])
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
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in served.headers  # a photo shows in the page
    by_tablet = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert by_tablet.status_code == 200


def test_a_pdf_is_served_as_a_download_not_opened_in_the_dashboards_origin(
    client: TestClient, field: Field, engine: Engine
) -> None:
    # A PDF may carry scripts (an /OpenAction): opened inline, it ran in the dashboard's origin.
    pdf = b"%PDF-1.7\n" + os.urandom(2000) + PDF_TAIL
    photo_id = _with_photo(client, field, pdf, content_type="application/pdf")
    assert upload_chunk(client, field, photo_id, 0, pdf).json()["complete"] is True
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    served = client.get(
        f"/api/v1/attachments/{photo_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert served.status_code == 200 and served.content == pdf
    assert served.headers["content-disposition"] == f'attachment; filename="{photo_id}.pdf"'
    assert served.headers["x-content-type-options"] == "nosniff"


def test_a_wrong_sha256_is_refused_and_the_bytes_discarded(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field, sha256=hashlib.sha256(b"other").hexdigest())
    response = upload_chunk(client, field, photo_id, 0, JPEG[:1_000_000])
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
    response = upload_chunk(client, field, photo_id, 0, PNG)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "content_type"


def test_a_chunk_past_the_size_of_another_type_hears_both_at_once(
    client: TestClient, field: Field
) -> None:
    """A whole file too long and of another type was refused for its length only; sent again
    at the right length, it was then refused for its type: two rounds over a slow link."""
    photo_id = _with_photo(client, field, data=PNG)  # declared image/jpeg, 1008 bytes
    response = upload_chunk(client, field, photo_id, 0, PNG + b"more")
    assert response.status_code == 422
    assert {(d["field"], d["code"]) for d in response.json()["detail"]} == {
        ("body", "too_long"),
        ("content_type", "upload_mismatch"),
    }
    assert _offset(client, field, photo_id) == 0


def test_an_encoded_chunk_is_refused_before_a_byte_is_appended(
    client: TestClient, field: Field
) -> None:
    """A chunk is appended as the bytes of the photo: one sent compressed (gzip, br …) was
    appended as it came and only refused by the checksum at the end of the whole upload. It is
    refused at once (415 at its header, as a push with an unknown encoding), nothing appended."""
    photo_id = _with_photo(client, field)
    for encoding in ("gzip", "br"):
        chunk = gzip.compress(JPEG) if encoding == "gzip" else JPEG
        response = upload_chunk(
            client, field, photo_id, 0, chunk, headers={"Content-Encoding": encoding}
        )
        assert response.status_code == 415, response.text
        (detail,) = response.json()["detail"]
        assert (detail["field"], detail["code"]) == ("Content-Encoding", "unsupported_encoding")
        assert _offset(client, field, photo_id) == 0
    # "identity" is no encoding at all: the chunk goes in.
    response = upload_chunk(
        client, field, photo_id, 0, JPEG, headers={"Content-Encoding": "identity"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["complete"] is True


def test_a_chunk_over_one_mebibyte_gets_413(client: TestClient, field: Field) -> None:
    big = b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)
    photo_id = _with_photo(client, field, data=big)
    assert upload_chunk(client, field, photo_id, 0, big[: 1024 * 1024 + 1]).status_code == 413


def test_bytes_before_the_metadata_get_404(client: TestClient, field: Field) -> None:
    response = upload_chunk(client, field, str(uuid.uuid4()), 0, JPEG[:10])
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_people_outside_the_scope_cannot_read_the_photo(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field)
    upload_chunk(client, field, photo_id, 0, JPEG)
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
    """A teammate's tablet reads the photo's offset but cannot append to someone else's
    unfinished upload (security finding 5). (An HQ analyst's tablet is refused on every photo
    route: tests/server/accounts/test_tablet_tokens.py.)"""
    from tests.factories import make_device

    photo_id = _with_photo(client, field)
    assert upload_chunk(client, field, photo_id, 0, JPEG[:100_000]).status_code == 200
    _, second_token = make_device(session, field.expert)  # the same person's other tablet
    session.commit()
    for token in (field.teammate_token,):
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


# --- chunks cut short: what arrived is kept (docs/protocol.md#attachments) ----------------------


def _raw_patch(
    client: TestClient,
    field: Field,
    photo_id: str,
    offset: int,
    parts: list[bytes],
    *,
    declared: int,
    then: str,
) -> tuple[int, dict[str, str]]:
    """A PATCH straight into the ASGI app: ``parts`` arrive, then the body is ``then``:
    "disconnect" (the link dropped) or "silent" (no more bytes, ever)."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True} for part in parts
    ]
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        if then == "silent":
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    headers = {
        **field.headers(),
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(declared),
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": f"/api/v1/attachments/{photo_id}",
        "raw_path": f"/api/v1/attachments/{photo_id}".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    return answer.get("status", 0), answer.get("headers", {})


def test_a_chunk_cut_by_the_link_keeps_the_bytes_that_arrived(
    client: TestClient, field: Field, engine: Engine
) -> None:
    photo_id = _with_photo(client, field)
    parts = [JPEG[:40_000], JPEG[40_000:70_000]]
    _raw_patch(client, field, photo_id, 0, parts, declared=200_000, then="disconnect")
    assert _offset(client, field, photo_id) == 70_000
    # The tablet asks the offset and sends the rest from there: the photo is whole and right.
    assert upload_chunk(client, field, photo_id, 70_000, JPEG[70_000:]).json()["complete"] is True
    with Session(engine) as session:
        stored = session.get(Attachment, uuid.UUID(photo_id))
        assert stored is not None and stored.complete and stored.received == len(JPEG)
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.content == JPEG


def test_a_silent_chunk_ends_after_the_idle_time_and_keeps_its_bytes(
    client: TestClient, field: Field
) -> None:
    client.app.state.settings.upload_idle_seconds = 0.5  # type: ignore[attr-defined]
    photo_id = _with_photo(client, field)
    status, headers = _raw_patch(
        client, field, photo_id, 0, [JPEG[:25_000]], declared=100_000, then="silent"
    )
    assert status == 408
    assert headers["upload-offset"] == "25000" and headers["connection"] == "close"
    assert _offset(client, field, photo_id) == 25_000


def test_a_silent_chunk_is_ended_by_its_route_not_the_general_body_timeout(
    settings: Settings, engine: Engine, field: Field
) -> None:
    """The body guard's shorter idle timeout does not pre-empt a photo chunk: the upload route
    ends it, keeps its bytes and answers with the offset the tablet resumes from."""
    settings.body_idle_timeout_seconds = 0.2
    settings.upload_idle_seconds = 0.6
    settings.ensure_data_dir()
    with TestClient(create_app(settings, engine)) as client:
        photo_id = _with_photo(client, field)
        status, headers = _raw_patch(
            client, field, photo_id, 0, [JPEG[:25_000]], declared=100_000, then="silent"
        )
        assert status == 408
        assert headers["upload-offset"] == "25000"
        assert _offset(client, field, photo_id) == 25_000


def test_a_chunk_cut_while_the_server_stops_keeps_its_bytes_and_says_come_back(
    client: TestClient, field: Field
) -> None:
    photo_id = _with_photo(client, field)
    server_stopping.set()
    try:
        status, headers = _raw_patch(
            client, field, photo_id, 0, [JPEG[:30_000]], declared=100_000, then="silent"
        )
    finally:
        server_stopping.clear()
    assert status == 503 and headers["upload-offset"] == "30000" and "retry-after" in headers
    assert _offset(client, field, photo_id) == 30_000


def test_a_stale_chunk_finishing_after_a_newer_one_adds_only_new_bytes(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """The tablet gave up on a stalled chunk and resent from the same offset; the server
    notices the old request's cut only afterwards. Neither request's bytes are wasted."""
    photo_id = _with_photo(client, field)
    newer = upload_chunk(client, field, photo_id, 0, JPEG[:50_000])
    assert newer.status_code == 200
    # The stale request had passed the offset check at 0 and carried 80 000 bytes.
    with Session(write_engine(engine)) as session:
        state = append_chunk(
            session,
            caller=_device_caller(session, field),
            files=AttachmentFiles(client.app.state.settings.attachments_dir),  # type: ignore[attr-defined]
            attachment_id=uuid.UUID(photo_id),
            offset=0,
            chunk=JPEG[:80_000],
            signer=current_signer(client.app.state.settings),  # type: ignore[attr-defined]
            overlap_ok=True,
        )
        session.commit()
    assert state.offset == 80_000
    assert upload_chunk(client, field, photo_id, 80_000, JPEG[80_000:]).json()["complete"] is True
    served = client.get(f"/api/v1/attachments/{photo_id}", headers=field.headers())
    assert served.content == JPEG


def _device_caller(session: Session, field: Field) -> Caller:
    return caller_from_device_token(session, token=field.token)
