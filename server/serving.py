"""Running the server under uvicorn so that one signal stops it within seconds.

A tablet on a 2G link may be half-way through a photo chunk when the server is told to stop.
uvicorn waits for running requests; a body that stalls would hold the shutdown until a second
signal. Here the single-process server first tells such bodies to stop waiting
(``server.sync.http.server_stopping``): each keeps the bytes that arrived and answers 503. Any
request still running ``GRACEFUL_SHUTDOWN_SECONDS`` after the signal is cancelled.
"""

from __future__ import annotations

import contextlib
import errno
import socket

import uvicorn

from server.errors import PilotMonitorError
from server.sync.http import server_stopping

GRACEFUL_SHUTDOWN_SECONDS = 3
EXIT_STARTUP_FAILURE = 3


class NotStarted(PilotMonitorError):
    """The server could not start: ``pilotmon serve`` says why in one line and exits 3."""

    exit_code = EXIT_STARTUP_FAILURE


def _in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host``:``port`` (another server, say): asked
    before uvicorn, whose own answer is a few lines of its log."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError):
        return False  # a name that does not resolve: uvicorn says so itself
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


class StoppingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        server_stopping.set()
        await super().shutdown(sockets)


def run_server(app: str, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve ``app`` (an import string) until SIGINT or SIGTERM."""
    if _in_use(host, port):
        raise NotStarted(
            f"{host}:{port} is already in use: stop what listens there, or choose another --port"
        )
    options = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "proxy_headers": True,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers > 1:
        # uvicorn's own supervisor runs the workers: a chunk still arriving at the signal is
        # cancelled after the grace time and the tablet resends it (at most one chunk).
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    server = StoppingServer(uvicorn.Config(app, **options))  # type: ignore[arg-type]
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        server.run()
    if not server.started:
        raise NotStarted(f"the server did not start on {host}:{port} (the reason is above)")
