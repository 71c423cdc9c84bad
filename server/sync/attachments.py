"""Photo bytes, received resumably (docs/protocol.md#attachments).

The metadata arrives first as a pushed mutation (``server.sync.records.apply_attachment``). The
bytes then come in chunks appended at ``Upload-Offset``; the row's ``received`` is the truth and
the partial file is cut back to it before each append, so a crash between writing bytes and
committing the new offset costs nothing. The last chunk is not appended: the whole file is put
together beside the partial file and checked before the write transaction (``receive_chunk``),
so that no lock is held while it is read: the sha256, the content type (sniffed from the first
bytes, never trusted from a header), and that the bytes really are a file of that type (an
image is decoded whole, with Pillow under a pixel limit; a PDF must end with its
cross-reference trailer). The transaction then publishes the checked file, or discards the bytes
so that the upload starts again from 0, only if the upload is still where the file was put
together from (the tablet gives up after a few refusals and shows the photo as refused).

Files live under ``settings.attachments_dir``: ``partial/<id>`` while arriving, then
``<first two hex digits>/<id>`` once complete (``bundle-staging/`` holds an offline bundle's
photos while it is imported). A last chunk's file is put together as ``partial/<fresh uuid>``,
which the cleanup job removes as an orphan if a crash leaves it there. A later object store
replaces ``AttachmentFiles``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.activities.models import Activity, Attachment
from server.columns import utcnow
from server.db import write_engine
from server.errors import Forbidden, NotFound, ValidationFailed, invalid
from server.projects.models import Project
from server.receipts.service import issue_after_upload
from server.records.changes import record_change
from server.records.models import RecordRevision
from server.records.receipts import Signer
from server.results.models import Observation
from server.scope import can_read_project
from server.sync.errors import PayloadTooLarge, WrongOffset
from shared.errors import ErrorCode, Issue
from sync.protocol import MAX_CHUNK_BYTES

# Magic numbers of the types a tablet may send.
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/webp", b"WEBP", 8),
    ("application/pdf", b"%PDF-", 0),
)


# Pillow's name of each image type, so that a file is decoded only as the type it declared.
_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# More pixels than any tablet camera takes (50 MP): refused before decoding, so that a small
# file that claims a huge canvas (a decompression bomb) costs no memory.
MAX_PHOTO_PIXELS = 50_000_000
# A PDF ends with ``startxref``, an offset and ``%%EOF``; readers look for them in the last
# kilobyte, so trailing bytes a tool added after them are tolerated as they are there.
_PDF_TAIL_BYTES = 1024


def sniff_content_type(head: bytes) -> str | None:
    """The content type the first bytes of a file show, or None when unknown."""
    for content_type, magic, at in _SIGNATURES:
        if head[at : at + len(magic)] == magic and (
            content_type != "image/webp" or head[:4] == b"RIFF"
        ):
            return content_type
    return None


class AttachmentFiles:
    """Where the bytes of attachments live on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def partial(self, attachment_id: uuid.UUID) -> Path:
        return self.root / "partial" / str(attachment_id)

    @property
    def staging(self) -> Path:
        """Where an offline-bundle import stages its photos until it commits (one folder per
        import; the cleanup job removes those a killed import left behind)."""
        return self.root / "bundle-staging"

    def final(self, attachment_id: uuid.UUID) -> Path:
        name = str(attachment_id)
        return self.root / name[:2] / name

    def append(self, attachment_id: uuid.UUID, *, offset: int, chunk: bytes) -> None:
        path = self.partial(attachment_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            handle.truncate(offset)  # drop bytes a crash wrote past the committed offset
            handle.seek(offset)
            handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())

    def put_together(
        self, attachment_id: uuid.UUID, *, received: int, tail: bytes
    ) -> tuple[Path, str, str | None]:
        """A new file of the partial file's first ``received`` bytes and then ``tail``, synced,
        with its sha256 and sniffed content type. The partial file is only read: it changes
        under the write lock alone, and its first ``received`` bytes not even then."""
        path = self.root / "partial" / str(uuid.uuid4())
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(path, "xb") as out:
            try:
                with open(self.partial(attachment_id), "rb") as partial:
                    left = received
                    while left > 0 and (block := partial.read(min(left, 1 << 20))):
                        digest.update(block)
                        out.write(block)
                        left -= len(block)
            except FileNotFoundError:
                pass  # bytes gone missing: the sha256 check refuses the file
            digest.update(tail)
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
        with open(path, "rb") as handle:
            head = handle.read(64)
        return path, digest.hexdigest(), sniff_content_type(head)

    def publish(self, checked: Path, attachment_id: uuid.UUID) -> None:
        """Put a whole, checked file in its place (the partial file goes once that commits)."""
        final = self.final(attachment_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(checked, final)

    def discard(self, attachment_id: uuid.UUID) -> None:
        self.partial(attachment_id).unlink(missing_ok=True)


# WeasyPrint, once imported (the quarterly report), sets Pillow's process-wide
# ``ImageFile.LOAD_TRUNCATED_IMAGES``, under which a JPEG cut short decodes with grey in place of
# its missing part: the check turns it off while it decodes, one check at a time.
_STRICT_DECODING = threading.Lock()


def unreadable_reason(path: Path, content_type: str) -> str | None:
    """Why the file at ``path`` is not a readable ``content_type``, or None. Magic bytes alone
    prove nothing: a page of HTML behind a JPEG's first four bytes must not be served as one."""
    if content_type == "application/pdf":
        return _pdf_problem(path)
    pillow_format = _PILLOW_FORMATS.get(content_type)
    if pillow_format is None:
        return f"{content_type} is not a type the server accepts"
    try:
        with Image.open(path, formats=[pillow_format]) as image:
            width, height = image.size
            if width * height > MAX_PHOTO_PIXELS:
                return f"the image has {width}×{height} pixels, more than {MAX_PHOTO_PIXELS}"
            if pillow_format == "JPEG":
                # Decoding at an eighth of the size still reads every block of the file, at a
                # fraction of the time and memory of the full picture.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            with _STRICT_DECODING:
                lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
                try:
                    image.load()
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return f"the bytes are not a readable {pillow_format} image"
    return None


def _pdf_problem(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8)
        handle.seek(max(0, path.stat().st_size - _PDF_TAIL_BYTES))
        tail = handle.read()
    if not (head[:5] == b"%PDF-" and head[5:6].isdigit() and head[6:7] == b"."):
        return "the bytes do not start with a PDF header (%PDF-1.x)"
    if b"startxref" not in tail or b"%%EOF" not in tail:
        return "the bytes do not end as a PDF does (startxref … %%EOF)"
    return None


@dataclass(frozen=True, slots=True)
class UploadState:
    offset: int
    size: int
    complete: bool
    # Set when the finished bytes were refused (and discarded): [{"field", "code", "message"}].
    refused: list[dict[str, str]] | None = None


def _visible(
    session: Session, *, caller: Caller, attachment_id: uuid.UUID, lock: bool = False
) -> tuple[Attachment, Project]:
    # A photo belongs to an activity or to an observation: its project is that record's.
    query = (
        select(Attachment, Project)
        .outerjoin(Activity, col(Activity.id) == col(Attachment.activity_id))
        .outerjoin(Observation, col(Observation.id) == col(Attachment.observation_id))
        .join(
            Project,
            col(Project.id) == func.coalesce(col(Activity.project_id), col(Observation.project_id)),
        )
        .where(col(Attachment.id) == attachment_id)
    )
    if lock:
        query = query.with_for_update(of=Attachment).execution_options(populate_existing=True)
    row = session.execute(query).one_or_none()
    if row is None or row[0].deleted or not can_read_project(caller, row[1]):
        raise NotFound("no such photo: push its details (metadata) first")
    return row[0], row[1]


def attachment_project_id(session: Session, attachment: Attachment) -> uuid.UUID | None:
    """The project of the activity or observation a photo belongs to."""
    if attachment.activity_id is not None:
        activity = session.get(Activity, attachment.activity_id)
        return activity.project_id if activity is not None else None
    if attachment.observation_id is not None:
        observation = session.get(Observation, attachment.observation_id)
        return observation.project_id if observation is not None else None
    return None


def upload_state(session: Session, *, caller: Caller, attachment_id: uuid.UUID) -> UploadState:
    attachment, _ = _visible(session, caller=caller, attachment_id=attachment_id)
    return UploadState(attachment.received, attachment.size, attachment.complete)


def expect_offset(
    session: Session, *, caller: Caller, attachment_id: uuid.UUID, offset: int
) -> UploadState:
    """Check a chunk's offset before its body is read: 404 or 409 without waiting for bytes."""
    state = upload_state(session, caller=caller, attachment_id=attachment_id)
    if not state.complete and offset != state.offset:
        raise WrongOffset(offset=state.offset, got=offset)
    return state


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """An upload's whole file, put together from the partial file and the last chunk and
    checked before the write transaction; published (or its bytes discarded) only if the upload
    is still where it was put together from."""

    path: Path
    received: int  # the committed offset it was put together from
    updated_at: datetime  # the row's then: any append, reset or edit since moves it
    # Why the bytes are refused ([{"field", "code", "message"}]), or None: publish them.
    problems: list[dict[str, str]] | None

    def fits(self, attachment: Attachment) -> bool:
        return attachment.received == self.received and attachment.updated_at == self.updated_at


class MovedWhileChecked(Exception):
    """The upload changed between putting its file together and the write transaction (another
    request appended, completed or reset it): nothing was written, the file is put together
    again from where the upload is now."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        super().__init__(f"the upload moved to byte {offset} while its file was checked")


# A last chunk is checked again at most this often when the upload keeps changing meanwhile
# (each time, another request committed during the check: one stale retry, rarely two).
_CHECK_ATTEMPTS = 3


def receive_chunk(
    *,
    engine: Engine,
    caller: Caller,
    files: AttachmentFiles,
    attachment_id: uuid.UUID,
    offset: int,
    chunk: bytes,
    signer: Signer,
) -> UploadState:
    """Append a chunk that arrived after ``expect_offset`` (so ``overlap_ok``, see
    ``append_chunk``); the last one publishes the photo or refuses its bytes.

    The last chunk's file is put together and checked with no transaction open: decoding a
    12 MP photo takes up to a second, and SQLite's single write lock (PostgreSQL's lock on the
    row) must not be held meanwhile, or every tablet's push waits for it.
    """
    if len(chunk) > MAX_CHUNK_BYTES:
        raise PayloadTooLarge(
            f"a chunk holds at most {MAX_CHUNK_BYTES} bytes", limit=MAX_CHUNK_BYTES
        )
    moved_to = offset
    for _ in range(_CHECK_ATTEMPTS):
        with Session(engine) as session:
            base = _last_chunk_base(
                session, caller=caller, attachment_id=attachment_id, offset=offset, chunk=chunk
            )
        checked = _check(files, attachment_id, base) if base is not None else None
        try:
            with Session(write_engine(engine)) as session:
                state = append_chunk(
                    session,
                    caller=caller,
                    files=files,
                    attachment_id=attachment_id,
                    offset=offset,
                    chunk=chunk,
                    signer=signer,
                    overlap_ok=True,
                    checked=checked,
                )
                session.commit()
        except MovedWhileChecked as moved:
            moved_to = moved.offset
            continue
        finally:
            if checked is not None:
                checked.path.unlink(missing_ok=True)  # refused, or put together too late
        if state.complete:
            # Only now that the photo is committed: until then, a crash leaves the partial
            # file for the last chunk to be put together on again.
            files.discard(attachment_id)
        return state
    raise WrongOffset(offset=moved_to, got=offset)


@dataclass(frozen=True, slots=True)
class _Base:
    """What a chunk that completes an upload is put together on, as the database had it."""

    received: int
    updated_at: datetime
    sha256: str
    content_type: str
    tail: bytes  # the chunk's bytes from ``received`` on


def _last_chunk_base(
    session: Session, *, caller: Caller, attachment_id: uuid.UUID, offset: int, chunk: bytes
) -> _Base | None:
    """The base of a chunk that would complete the upload, or None for any other chunk (the
    write transaction appends it, or says why not)."""
    attachment, _ = _visible(session, caller=caller, attachment_id=attachment_id)
    if attachment.complete:
        return None
    start, tail = _new_bytes(attachment, offset=offset, chunk=chunk, overlap_ok=True)
    if start != attachment.received or not tail or start + len(tail) != attachment.size:
        return None
    # Nobody else gets a file put together and decoded on their behalf.
    _refuse_unless_uploader(session, caller=caller, attachment=attachment)
    return _Base(
        attachment.received, attachment.updated_at, attachment.sha256, attachment.content_type, tail
    )


def _check(files: AttachmentFiles, attachment_id: uuid.UUID, base: _Base) -> CheckedFile:
    path, digest, sniffed = files.put_together(
        attachment_id, received=base.received, tail=base.tail
    )
    try:
        problems = _problems(
            path, digest=digest, sniffed=sniffed, sha256=base.sha256, content_type=base.content_type
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return CheckedFile(path, base.received, base.updated_at, problems)


def _new_bytes(
    attachment: Attachment, *, offset: int, chunk: bytes, overlap_ok: bool
) -> tuple[int, bytes]:
    """Where the chunk's bytes the server lacks start, and those bytes: with ``overlap_ok``, a
    chunk from before the server's offset that reaches past it adds only what lies beyond."""
    if overlap_ok and offset < attachment.received <= offset + len(chunk):
        return attachment.received, chunk[attachment.received - offset :]
    return offset, chunk


def append_chunk(
    session: Session,
    *,
    caller: Caller,
    files: AttachmentFiles,
    attachment_id: uuid.UUID,
    offset: int,
    chunk: bytes,
    signer: Signer,
    overlap_ok: bool = False,
    checked: CheckedFile | None = None,
) -> UploadState:
    """Append a chunk at ``offset``; the last one publishes ``checked``, the whole file put
    together and checked before this transaction (``receive_chunk``), or discards the bytes.

    ``overlap_ok``: the offset was checked (``expect_offset``) before the body arrived, and
    another request may have appended meanwhile — typically a request the tablet gave up on
    whose cut the server noticed only later. The bytes both sent are skipped rather than the
    whole chunk refused; the sha256 check at the end still guards the file.

    Runs in the caller's transaction; the caller commits even when the state says ``refused``
    (the discarded bytes and the reset offset must stick). A last chunk without a ``checked``
    file that still fits the upload raises ``MovedWhileChecked``, with nothing written.
    """
    if len(chunk) > MAX_CHUNK_BYTES:
        raise PayloadTooLarge(
            f"a chunk holds at most {MAX_CHUNK_BYTES} bytes", limit=MAX_CHUNK_BYTES
        )
    attachment, project = _visible(session, caller=caller, attachment_id=attachment_id, lock=True)
    _refuse_unless_uploader(session, caller=caller, attachment=attachment)
    if attachment.complete:
        if (offset == attachment.size and not chunk) or (
            overlap_ok and offset + len(chunk) <= attachment.size
        ):
            return UploadState(attachment.size, attachment.size, True)
        raise WrongOffset(offset=attachment.size, got=offset)
    sent_at = offset
    offset, chunk = _new_bytes(attachment, offset=offset, chunk=chunk, overlap_ok=overlap_ok)
    if offset > sent_at and not chunk:  # every byte of it is already here
        return UploadState(attachment.received, attachment.size, False)
    if offset != attachment.received:
        raise WrongOffset(offset=attachment.received, got=offset)
    if not chunk:
        raise invalid("body", ErrorCode.REQUIRED, "the chunk is empty")
    if offset + len(chunk) > attachment.size:
        # Every problem at once: bytes of another type are said now, not after a resend.
        problems = [
            Issue(
                "body",
                ErrorCode.TOO_LONG,
                f"the chunk goes past the photo's size ({attachment.size} bytes)",
            )
        ]
        sniffed = sniff_content_type(chunk[:64]) if offset == 0 else attachment.content_type
        if sniffed != attachment.content_type:
            problems.append(
                Issue(
                    "content_type",
                    ErrorCode.UPLOAD_MISMATCH,
                    f"the bytes are {sniffed or 'of an unknown type'}, "
                    f"not {attachment.content_type}",
                )
            )
        raise ValidationFailed(problems)
    refused: list[dict[str, str]] | None = None
    if offset + len(chunk) < attachment.size:
        files.append(attachment.id, offset=offset, chunk=chunk)
        attachment.received = offset + len(chunk)
        attachment.updated_at = utcnow()
    elif checked is None or not checked.fits(attachment):
        raise MovedWhileChecked(attachment.received)
    else:
        attachment.updated_at = utcnow()
        refused = _settle(
            session,
            attachment=attachment,
            files=files,
            checked=checked,
            project_id=project.id,
            signer=signer,
        )
    session.add(attachment)
    session.flush()
    return UploadState(attachment.received, attachment.size, attachment.complete, refused)


def _refuse_unless_uploader(session: Session, *, caller: Caller, attachment: Attachment) -> None:
    """Bytes come only from whoever pushed the photo's details: that tablet, or its person
    (from a tablet enrolled again). Reading the photo is not enough: a teammate or an HQ
    analyst must not add bytes to someone else's unfinished upload."""
    sent_by = session.execute(
        select(col(RecordRevision.author_id), col(RecordRevision.device_id))
        .where(
            col(RecordRevision.entity) == "attachment",
            col(RecordRevision.entity_id) == attachment.id,
        )
        .order_by(col(RecordRevision.version))
        .limit(1)
    ).one_or_none()
    if sent_by is not None:
        author_id, device_id = sent_by
        if caller.user.id == author_id or (
            caller.device is not None and caller.device.id == device_id
        ):
            return
    raise Forbidden(
        "only the tablet that sent this photo's details may send its bytes",
        code=ErrorCode.NOT_UPLOADER,
    )


def _problems(
    path: Path, *, digest: str, sniffed: str | None, sha256: str, content_type: str
) -> list[dict[str, str]] | None:
    """Why a whole file is refused, or None: the sha256 and sniffed type, then (when both are
    right) that it reads as a file of that type."""
    problems: list[dict[str, str]] = []
    if digest != sha256.lower():
        problems.append(
            {
                "field": "sha256",
                "code": ErrorCode.UPLOAD_MISMATCH,
                "message": f"the bytes received have sha256 "
                f"{digest}, not {sha256}: they were discarded, send the "
                "photo again",
            }
        )
    if sniffed != content_type:
        problems.append(
            {
                "field": "content_type",
                "code": ErrorCode.UPLOAD_MISMATCH,
                "message": f"the bytes are "
                f"{sniffed or 'of an unknown type'}, not {content_type}: "
                "they were discarded",
            }
        )
    if not problems and (reason := unreadable_reason(path, content_type)):
        problems.append(
            {
                "field": "content_type",
                "code": ErrorCode.UNREADABLE_FILE,
                "message": f"{reason}: the bytes were discarded",
            }
        )
    return problems or None


def _settle(
    session: Session,
    *,
    attachment: Attachment,
    files: AttachmentFiles,
    checked: CheckedFile,
    project_id: uuid.UUID | None,
    signer: Signer,
) -> list[dict[str, str]] | None:
    """Publish the checked file and mark the photo complete, or discard the bytes received
    so that the upload starts again from 0; returns the problems of a refused file."""
    if checked.problems:
        files.discard(attachment.id)
        attachment.received = 0
        return checked.problems
    files.publish(checked.path, attachment.id)
    mark_complete(session, attachment=attachment, project_id=project_id, signer=signer)
    return None


def mark_complete(
    session: Session, *, attachment: Attachment, project_id: uuid.UUID | None, signer: Signer
) -> None:
    """All the bytes are in place and checked: the photo is complete, as a new version that
    pulls carry to the tablets; if it was the last photo its record waited for, the record's
    custody receipt is signed now, in this transaction."""
    attachment.received = attachment.size
    attachment.complete = True
    attachment.completed_at = attachment.updated_at = utcnow()
    attachment.version += 1
    record_change(
        session,
        entity="attachment",
        entity_id=attachment.id,
        op="upsert",
        version=attachment.version,
        project_id=project_id,
    )
    session.add(attachment)
    issue_after_upload(session, signer, attachment=attachment)


def store_complete(
    session: Session,
    *,
    files: AttachmentFiles,
    attachment: Attachment,
    data: bytes,
    project_id: uuid.UUID | None,
    signer: Signer,
) -> list[dict[str, str]] | None:
    """Take a whole photo at once (test worlds), with the same checks as an upload."""
    if attachment.complete:
        return None
    if len(data) != attachment.size:
        return [
            {
                "field": "size",
                "code": ErrorCode.UPLOAD_MISMATCH,
                "message": f"the file holds {len(data)} bytes, not {attachment.size}",
            }
        ]
    files.discard(attachment.id)
    checked = _check(
        files,
        attachment.id,
        _Base(0, attachment.updated_at, attachment.sha256, attachment.content_type, data),
    )
    try:
        refused = _settle(
            session,
            attachment=attachment,
            files=files,
            checked=checked,
            project_id=project_id,
            signer=signer,
        )
    finally:
        checked.path.unlink(missing_ok=True)
    session.add(attachment)
    session.flush()
    return refused


def served_headers(attachment_id: uuid.UUID, content_type: str) -> dict[str, str]:
    """The headers a stored file is served with: kept privately for a day, never sniffed as
    another type, and a document that is not an image (a PDF, which may carry scripts)
    downloaded as a file rather than opened inside the dashboard's origin."""
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if not content_type.startswith("image/"):
        extension = content_type.rsplit("/", 1)[-1]
        headers["Content-Disposition"] = f'attachment; filename="{attachment_id}.{extension}"'
    return headers


def open_photo(
    session: Session, *, caller: Caller, files: AttachmentFiles, attachment_id: uuid.UUID
) -> tuple[Path, str]:
    """The file of a complete photo the caller may see, and its content type."""
    attachment, _ = _visible(session, caller=caller, attachment_id=attachment_id)
    path = files.final(attachment.id)
    if not attachment.complete or not path.exists():
        raise NotFound("this photo's bytes have not arrived yet")
    return path, attachment.content_type
