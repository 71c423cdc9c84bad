"""A uvicorn server that the crash test can SIGKILL and bring back in milliseconds.

Run as ``python -m tests.server.crash_server`` with the ``PILOTMON_*`` environment of the
database under test. It imports the application once, picks a free port on 127.0.0.1, and then
obeys lines on stdin:

    start   listen, and fork a child that serves the app on that socket; prints ``pid N``
    quit    stop (killing a running child)

A child is an ordinary uvicorn server process; the test kills it with SIGKILL at random moments,
mid-request and mid-transaction. When it dies the parent closes the listening socket at once, so
the tablet sees a refused or reset connection (as with a real crash) instead of waiting in a
backlog nobody serves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

_listener: socket.socket | None = None
_child: int | None = None


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _stop_listening() -> None:
    global _listener
    if _listener is not None:
        _listener.close()
        _listener = None


def _on_child_exit(_signum: int, _frame: FrameType | None) -> None:
    global _child
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == _child:
            _child = None
            _stop_listening()


def _serve(sock: socket.socket) -> None:
    import uvicorn

    from server.main import app

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Connections are per process: forget any the parent's pool might hold.
    app.state.engine.dispose(close=False)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def _kill_child() -> None:
    """Kill and reap the running child (SIGCHLD blocked, so the handler cannot interleave)."""
    global _child
    if _child is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(_child, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(_child, 0)
        _child = None
    _stop_listening()


def _warm_up(app: FastAPI) -> None:
    """What every process of the server does once, at its first requests, done here before
    the forks rather than in each child: a request to each route the tablets call, refused
    for want of a token, builds the routes' parts FastAPI makes on first use. The middleware
    stack is then dropped, so that each child starts its own (rate limits and body guard
    from nothing), as a restarted server does."""
    from starlette.testclient import TestClient

    client = TestClient(app)
    for method, path in (("GET", "/api/v1/sync/pull"), ("POST", "/api/v1/sync/push")):
        client.request(method, path)
    app.middleware_stack = None
    app.state.engine.dispose()


def main() -> int:
    global _listener, _child
    from server.main import app

    _warm_up(app)

    probe = _listen(0)
    port = probe.getsockname()[1]
    probe.close()
    signal.signal(signal.SIGCHLD, _on_child_exit)
    print(f"ready {port}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "start":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
            try:
                _kill_child()
                _listener = _listen(port)
                pid = os.fork()
                if pid == 0:
                    try:
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                        _serve(_listener)
                    finally:
                        os._exit(0)
                _child = pid
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            print(f"pid {pid}", flush=True)
        elif command == "quit":
            break
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    _kill_child()
    return 0


if __name__ == "__main__":
    sys.exit(main())
