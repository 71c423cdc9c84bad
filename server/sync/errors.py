"""Errors of the sync API that carry more than a message (docs/protocol.md).

PilotMonitorError (server.errors)
└── SyncError                 answers ``{"detail": …, <extra>, "server_time": …}``
    ├── ProtocolNotSupported  426: the client speaks a protocol version we do not
    ├── PayloadTooLarge       413: batch, body or chunk over the published limit
    ├── SeqGap                409: a push whose first new seq is not last_seq + 1
    ├── WrongOffset           409: an attachment chunk sent at the wrong offset
    ├── UploadCut             408 (the link went silent) or 503 (the server is stopping):
    │                         the chunk ended early; the bytes that arrived are kept
    └── UploadMismatch        422: the finished bytes do not match sha256 / content type
"""

from __future__ import annotations

from typing import Any

from server.errors import PilotMonitorError
from shared.errors import ErrorCode


class SyncError(PilotMonitorError):
    def extra(self) -> dict[str, Any]:
        """Keys added beside ``detail`` in the answer."""
        return {}


class ProtocolNotSupported(SyncError):
    status_code = 426
    code = ErrorCode.PROTOCOL_NOT_SUPPORTED

    def __init__(self, protocol: object, supported: tuple[int, ...]) -> None:
        self.supported = supported
        super().__init__(
            f"protocol {protocol!r} is not supported; this server speaks "
            + ", ".join(str(p) for p in supported)
            + ": update the app"
        )

    def extra(self) -> dict[str, Any]:
        return {"protocols": list(self.supported)}


class PayloadTooLarge(SyncError):
    status_code = 413
    code = ErrorCode.BODY_TOO_LARGE

    def __init__(self, message: str, *, limit: int) -> None:
        self.limit = limit
        super().__init__(message)

    def extra(self) -> dict[str, Any]:
        return {"limit": self.limit}


class SeqGap(SyncError):
    status_code = 409
    code = ErrorCode.SEQ_GAP

    def __init__(self, *, expected_seq: int, got: int) -> None:
        self.expected_seq = expected_seq
        super().__init__(
            f"this batch starts at seq {got} but the server expects "
            f"{expected_seq}: send the outbox from there"
        )

    def extra(self) -> dict[str, Any]:
        return {"expected_seq": self.expected_seq}


class WrongOffset(SyncError):
    status_code = 409
    code = ErrorCode.WRONG_OFFSET

    def __init__(self, *, offset: int, got: int) -> None:
        self.offset = offset
        self.headers = {"Upload-Offset": str(offset)}
        super().__init__(f"the upload is at byte {offset}, not {got}: resume from {offset}")

    def extra(self) -> dict[str, Any]:
        return {"upload_offset": self.offset}


class UploadCut(SyncError):
    def __init__(self, *, offset: int, stopping: bool) -> None:
        self.offset = offset
        self.status_code = 503 if stopping else 408
        self.headers = {"Upload-Offset": str(offset), "Connection": "close"}
        if stopping:
            self.headers["Retry-After"] = "10"
            why = "the server is restarting"
        else:
            why = "no bytes arrived for too long"
        super().__init__(
            f"{why}: the chunk was cut at byte {offset}, which is kept; resume from {offset}"
        )

    def extra(self) -> dict[str, Any]:
        return {"upload_offset": self.offset}


class UploadMismatch(SyncError):
    status_code = 422
    code = ErrorCode.UPLOAD_MISMATCH

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        self.headers = {"Upload-Offset": "0"}
        # The answer's code is its first reason's (upload_mismatch or unreadable_file).
        super().__init__("; ".join(e["message"] for e in errors), code=ErrorCode(errors[0]["code"]))

    def detail(self) -> Any:
        return self.errors

    def extra(self) -> dict[str, Any]:
        return {"upload_offset": 0}
