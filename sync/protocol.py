"""The messages of sync protocol v1, shared by the tablet and the server (docs/protocol.md).

Field names and meanings are the wire contract; change them only with a new protocol version.
Unknown keys are ignored so that a newer peer may add optional fields.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

PROTOCOL_VERSION = 1
SUPPORTED_PROTOCOLS: tuple[int, ...] = (1,)
# Attachment bytes travel in chunks of at most this size (docs/protocol.md#attachments).
MAX_CHUNK_BYTES = 1024 * 1024
# A pull page holds at most this many changes, whatever the client asks for.
MAX_PULL_LIMIT = 1000
DEFAULT_PULL_LIMIT = 500


class Entity(StrEnum):
    """What a device may push (docs/protocol.md#push): records, and ``conflict``, a tablet's
    decision on one
    of its conflicts.

    A ``conflict`` mutation extends docs/protocol.md#push (a deliberate change of the contract
    within
    protocol 1; a server older than it refuses the whole envelope with 422, so servers are
    upgraded before tablets):
    ``{"seq": n, "entity": "conflict", "op": "upsert", "id": <conflict id>, "base_version": 0,
    "data": {"resolution": "keep_server"}}`` closes the conflict, keeping the server's values,
    for the office and every tablet. See ``ConflictResolution``.
    """

    ACTIVITY = "activity"
    PARTICIPANT = "participant"
    ATTACHMENT = "attachment"
    SITE = "site"
    CONFLICT = "conflict"
    # A filled form (docs/results.md#observations); an addition to protocol v1.
    OBSERVATION = "observation"


class ConflictResolution(StrEnum):
    """``data.resolution`` of a ``conflict`` mutation. Only keeping the server's values travels
    this way: keeping the tablet's values is a normal save of those values on top of the
    server's version (the server then closes the conflict as superseded)."""

    KEEP_SERVER = "keep_server"


class PulledEntity(StrEnum):
    """Records a pull may hand out (docs/protocol.md#pull)."""

    CATALOGUE = "catalogue"
    PROJECT = "project"
    SITE = "site"
    TARGET = "target"
    ACTIVITY = "activity"
    PARTICIPANT = "participant"
    ATTACHMENT = "attachment"
    CONFLICT = "conflict"
    # Results (docs/results.md): published forms of the device's projects, and observations.
    FORM = "form"
    OBSERVATION = "observation"
    RECEIPT = "receipt"


class Op(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class ResultStatus(StrEnum):
    """The server's final answer for one mutation. None of them blocks the queue."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    MERGED = "merged"
    CONFLICT = "conflict"
    REJECTED = "rejected"


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FieldError(_Message):
    """Why a mutation was rejected or conflicted, for one field: ``code`` is one of
    ``shared.errors.ErrorCode`` (empty only from a server older than error codes); ``message``
    says the same in English, for people reading logs and scripts."""

    field: str
    code: str = ""
    message: str


# The highest version a record may reach (the server stores versions as 32-bit integers).
MAX_VERSION = 2**31 - 1


class Mutation(_Message):
    """One saved change on the tablet.

    ``data`` of an upsert holds the whole record when the record is new (``base_version`` 0)
    and the fields this save changed otherwise; a delete carries no data.
    """

    seq: int = Field(ge=1)
    entity: Entity
    op: Op
    id: uuid.UUID
    # A record's version is a 32-bit integer on the server: a base beyond it is malformed.
    base_version: int = Field(default=0, ge=0, le=MAX_VERSION)
    data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _upsert_has_data(self) -> Mutation:
        if self.op == Op.UPSERT and self.data is None:
            raise ValueError("an upsert needs data")
        return self


class PushRequest(_Message):
    protocol: int
    device_id: uuid.UUID
    mutations: list[Mutation]

    @field_validator("mutations")
    @classmethod
    def _consecutive(cls, mutations: list[Mutation]) -> list[Mutation]:
        for before, after in pairwise(mutations):
            if after.seq != before.seq + 1:
                raise ValueError(
                    f"seq must rise by exactly 1 within a batch: {before.seq} is followed "
                    f"by {after.seq}"
                )
        return mutations


class MutationResult(_Message):
    seq: int
    id: uuid.UUID
    status: ResultStatus
    version: int | None = None
    errors: list[FieldError] = Field(default_factory=list)


class PushResponse(_Message):
    last_seq: int
    server_time: datetime
    results: list[MutationResult]


class SeqGap(_Message):
    """The 409 answer to a batch whose first new seq is not ``last_seq + 1``."""

    detail: str
    expected_seq: int
    server_time: datetime


class Change(_Message):
    entity: str
    id: str
    op: Op
    version: int
    data: dict[str, Any] | None = None


class PullResponse(_Message):
    changes: list[Change]
    cursor: str
    has_more: bool
    server_time: datetime
    # On a page that starts from the beginning (no cursor, or the person's projects changed):
    # the ids of every project the tablet serves now, so that it forgets the others
    # (docs/protocol.md#pull). None on the pages that carry on, and from an older server.
    projects: list[str] | None = None


class ReceiptKeyInfo(_Message):
    """A public key that signs custody receipts (docs/protocol.md#custody-receipts): base64 of
    its 32 raw Ed25519 bytes."""

    key_id: str
    public_key: str


class SyncInfo(_Message):
    """What ``GET /sync/info`` publishes: the limits a client must respect, and the keys that
    sign custody receipts (current and retired; absent from a server older than receipts)."""

    protocols: list[int]
    max_batch_bytes: int
    max_batch_mutations: int
    max_chunk_bytes: int
    max_pull_limit: int
    server_time: datetime
    receipt_keys: list[ReceiptKeyInfo] = []


class UploadRefused(_Message):
    """A finished upload whose bytes did not match the metadata; the bytes were discarded."""

    detail: list[FieldError]
    upload_offset: int
    server_time: datetime


# --- tablet status (docs/protocol.md#tablet-status) ---------------------------------------------

# A status body is a few hundred bytes; the server refuses more than this (413).
MAX_STATUS_BYTES = 4096
MAX_STATUS_COUNT = 10_000_000  # records, photos or mutations on one tablet: more is nonsense
MAX_STATUS_BYTES_VALUE = 2**50  # 1 PiB of photos or free storage: more is nonsense
MAX_LAST_ERROR = 500
LANGUAGE_PATTERN = r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$"

_Count = Annotated[StrictInt, Field(ge=0, le=MAX_STATUS_COUNT)]
_Bytes = Annotated[StrictInt, Field(ge=0, le=MAX_STATUS_BYTES_VALUE)]


class TabletStatus(_Message):
    """What a tablet holds, posted at the start of each sync round (``POST /sync/status``).

    Every key is required (``null`` where the value may be unknown), so that a misspelt key is
    refused as missing rather than lost; unknown keys are ignored like everywhere in protocol 1.
    Counts are JSON integers (never strings, floats or booleans). ``oldest_pending_captured_at``
    is the tablet's clock: data shown to people, never used for a decision (the server judges
    it only for plausibility: not in the future, not before 2000).

    ``tablet_time`` is the only optional key (added after the others: a tablet that does not send
    it is judged as before): the tablet's own clock when it posted, so that the office sees a
    tablet whose date is wrong. When it is sent, the captured date is judged against it, not
    against the server's clock.
    """

    pending_mutations: _Count
    pending_uploads: _Count
    pending_upload_bytes: _Bytes
    oldest_pending_captured_at: AwareDatetime | None
    records: _Count
    photos: _Count
    free_storage_bytes: _Bytes | None
    app_version: Annotated[StrictStr, Field(max_length=40)]
    language: Annotated[StrictStr, Field(max_length=16, pattern=LANGUAGE_PATTERN)] | None
    last_error: Annotated[StrictStr, Field(max_length=MAX_LAST_ERROR)] | None
    tablet_time: AwareDatetime | None = None

    @field_validator("oldest_pending_captured_at", "tablet_time", mode="before")
    @classmethod
    def _text_time(cls, value: Any) -> Any:
        # A JSON number would otherwise read as Unix seconds: only ISO 8601 text is a time.
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("an ISO 8601 date-time with its UTC offset, as text")
        return value

    @field_validator("app_version", "last_error")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            raise PydanticCustomError("control_character", "control characters are not allowed")
        return value


class StatusReceived(_Message):
    """The answer to ``POST /sync/status``: when the server noted it (its own clock)."""

    received_at: datetime
    server_time: datetime
