"""Running the server under uvicorn so that one signal stops it within seconds.

A tablet on a 2G link may be half-way through a photo chunk when the server is told to stop.
uvicorn waits for running requests; a body that stalls would hold the shutdown until a second
signal. Here the single-process server first tells such bodies to stop waiting
(``server.sync.http.server_stopping``): each keeps the bytes that arrived and answers 503. Any
request still running ``GRACEFUL_SHUTDOWN_SECONDS`` after the signal is cancelled.
"""

from __future__ import annotations

import contextlib
import socket

import uvicorn

from server.sync.http import server_stopping

GRACEFUL_SHUTDOWN_SECONDS = 3
EXIT_STARTUP_FAILURE = 3


class StoppingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        server_stopping.set()
        await super().shutdown(sockets)


def run_server(app: str, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve ``app`` (an import string) until SIGINT or SIGTERM."""
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
        raise SystemExit(EXIT_STARTUP_FAILURE)
