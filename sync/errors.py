"""Errors of the tablet's sync client, each with a message a field expert can act on.

SyncClientError            base; ``retry`` says whether trying again later may help
├── NetworkError           no answer: offline, DNS, timeout, connection cut (retry)
├── ServerError            5xx: the server failed (retry)
│   └── ServerBusy         429 or 503: the server asks the tablet to come back later
│                          (``retry_after`` seconds, when it said; the schedule waits
│                          at least that long)
├── NotEnrolled            401: the token is unknown; enrol the tablet again
├── DeviceRevoked          403: the tablet was revoked; its data stays on it
├── SeqMismatch            409 on push: the server expects another seq (``expected_seq``)
├── OffsetMismatch         409 on an upload: the server holds ``offset`` bytes
├── TooLarge               413: a batch or chunk over the server's limit (``limit``)
├── ProtocolTooOld         426: the app speaks a protocol the server no longer does
├── UploadRefused          422 on an upload: bytes do not match sha256 or type
└── RequestRefused         any other 4xx: a bug in the app, reported with the reason
"""

from __future__ import annotations


class SyncClientError(Exception):
    retry: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NetworkError(SyncClientError):
    retry = True


class ServerError(SyncClientError):
    retry = True


class ServerBusy(ServerError):
    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class NotEnrolled(SyncClientError):
    pass


class DeviceRevoked(SyncClientError):
    pass


class SeqMismatch(SyncClientError):
    retry = True

    def __init__(self, message: str, *, expected_seq: int) -> None:
        super().__init__(message, status=409)
        self.expected_seq = expected_seq


class OffsetMismatch(SyncClientError):
    retry = True

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(message, status=409)
        self.offset = offset


class TooLarge(SyncClientError):
    retry = True

    def __init__(self, message: str, *, limit: int | None) -> None:
        super().__init__(message, status=413)
        self.limit = limit


class ProtocolTooOld(SyncClientError):
    pass


class UploadRefused(SyncClientError):
    pass


class RequestRefused(SyncClientError):
    pass


class OutboxGap(SyncClientError):
    """The server expects a seq this tablet no longer holds (its outbox was lost or restored)."""
