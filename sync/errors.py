"""Errors of the tablet's sync client, each with a message a field expert can act on.

SyncClientError            base; ``retry`` says whether trying again later may help, ``cause``
│                          names the reason in one word the app translates (``CAUSES``)
├── NetworkError           no answer (retry); by its real cause:
│   ├── NoNetwork          the tablet has no network: no route, no name resolution
│   ├── ServerUnreachable  the network works but the server does not answer a connection
│   ├── LinkTimeout        connected, but the link is too slow: silence past the timeout
│   ├── ConnectionLost     connected, then the connection broke in the middle of a transfer
│   ├── NotTheServer       something else answered: a Wi-Fi or operator sign-in page, a proxy
│                          (a web page where the server answers JSON, or 511)
│   └── CertificateRefused HTTPS: the server's certificate failed the check; ``cause`` says
│                          whether for its dates (the tablet's date is wrong, or it expired)
│                          or for who it names (a sign-in page in between, a wrong address)
├── Stopped                the app is closing: no request leaves any more (retry at the next
│                          start; ``SyncClient.stop_waiting``)
├── ServerError            5xx: the server failed (retry)
│   └── ServerBusy         429 or 503: the server asks the tablet to come back later
│                          (``retry_after`` seconds, when it said; the schedule waits
│                          at least that long)
├── NotEnrolled            401: the token is unknown; enrol the tablet again
├── DeviceRevoked          403: the tablet was revoked; its data stays on it
│   └── PasswordChanged    403 ``device_password_changed``: its person's new password revoked
│                          it; they log in again on the tablet (enrol again) with the new one
├── SeqMismatch            409 on push: the server expects another seq (``expected_seq``)
├── OffsetMismatch         409 on an upload: the server holds ``offset`` bytes
├── TooLarge               413: a batch or chunk over the server's limit (``limit``)
├── ProtocolTooOld         426: the app speaks a protocol the server no longer does
├── UploadRefused          422 on an upload: bytes do not match sha256 or type
└── RequestRefused         any other 4xx: a bug in the app, reported with the reason
"""

from __future__ import annotations

# Every ``cause``: the app words each one in the user's language (field_app.controllers.status).
CAUSES = (
    "no_network",
    "unreachable",
    "timeout",
    "connection_lost",
    "not_the_server",
    "certificate_date",
    "certificate",
    "stopped",
    "busy",
    "server_error",
    "not_enrolled",
    "revoked",
    "password_changed",
    "outbox_gap",
    "too_large",
    "too_old",
    "upload_refused",
    "refused",
    "unexpected",
)


class SyncClientError(Exception):
    retry: bool = False
    cause: str = "refused"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NetworkError(SyncClientError):
    retry = True
    cause = "unreachable"


class NoNetwork(NetworkError):
    cause = "no_network"


class ServerUnreachable(NetworkError):
    cause = "unreachable"


class LinkTimeout(NetworkError):
    cause = "timeout"


class ConnectionLost(NetworkError):
    cause = "connection_lost"


class NotTheServer(NetworkError):
    """The answer did not come from a Pilot Monitor server: a hotspot's sign-in page, an
    operator's or a proxy's page (HTML where the server always answers JSON). Once the user has
    signed in to the network, the next try reaches the server."""

    cause = "not_the_server"


class CertificateRefused(NetworkError):
    """The HTTPS check of the server's certificate failed, so nothing was sent. For its dates
    (``certificate_date``): the certificate is not yet valid or has expired at the tablet's
    clock, almost always because the tablet's date is wrong (a flat battery resets it). For
    anything else (``certificate``): it names another server or no one the tablet trusts, as
    when a Wi-Fi or operator sign-in page intercepts the connection, or the address is wrong.
    Once the date is set or the network signed in to, the next try goes through."""

    cause = "certificate"

    def __init__(self, message: str, *, dates: bool) -> None:
        super().__init__(message)
        self.cause = "certificate_date" if dates else "certificate"


class Stopped(SyncClientError):
    retry = True
    cause = "stopped"


class ServerError(SyncClientError):
    retry = True
    cause = "server_error"


class ServerBusy(ServerError):
    cause = "busy"

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class NotEnrolled(SyncClientError):
    cause = "not_enrolled"


class DeviceRevoked(SyncClientError):
    cause = "revoked"


class PasswordChanged(DeviceRevoked):
    cause = "password_changed"


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
    cause = "too_large"

    def __init__(self, message: str, *, limit: int | None) -> None:
        super().__init__(message, status=413)
        self.limit = limit


class ProtocolTooOld(SyncClientError):
    cause = "too_old"


class UploadRefused(SyncClientError):
    cause = "upload_refused"


class RequestRefused(SyncClientError):
    pass


class OutboxGap(SyncClientError):
    """The server expects a seq this tablet no longer holds (its outbox was lost or restored)."""

    cause = "outbox_gap"
