"""A Python process with the command line's modules imported that forks one child per command,
so that :func:`tests.server.test_cli.run_cli` does not pay for starting Python and importing the
server (about a second of CPU) on each of the suite's hundred-odd commands.

Run as ``python -m tests.server.cli_zygote``. It imports what ``python -m server.cli`` imports
before it reads its arguments (``server.cli``, and ``server.wiring``, which ``main`` imports
first thing), runs nothing, and then obeys one JSON line per command on stdin::

    {"args": [...], "env": {...}, "cwd": "...", "stdin": PATH, "stdout": PATH, "stderr": PATH}

It forks a child that takes that environment, directory and those files as its own (file
descriptors 0, 1 and 2), runs ``sys.exit(main())`` as ``python -m server.cli`` does and exits as
Python would; it answers ``pid N`` at once and ``exit CODE`` when the child has ended. The
child is a process of its own: its exit code, its stdout and stderr, the files it writes, a
crash, are what the test sees, as with a fresh ``python -m server.cli``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import IO, Any

import server.cli
import server.wiring  # main() imports it before anything else

REPO = Path(__file__).resolve().parents[2]


def _exit_code(exc: SystemExit) -> int:
    """The status Python's own handling of SystemExit gives (its message on stderr)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any]) -> int:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, (path, flags) in enumerate(
        (
            (request["stdin"], os.O_RDONLY),
            (request["stdout"], os.O_WRONLY | os.O_TRUNC),
            (request["stderr"], os.O_WRONLY | os.O_TRUNC),
        )
    ):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = [server.cli.__file__, *request["args"]]
    try:
        try:
            sys.exit(server.cli.main())
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException:  # noqa: BLE001  (as Python does with an uncaught exception)
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    return code


def main() -> int:
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
    return 0


class Zygote:
    """The test process's side: one zygote, started at the first command, asked in turn."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTMON_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.server.cli_zygote"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self.lock = threading.Lock()
        assert self._line(120) == "ready", "the command line's zygote did not start"

    def _line(self, timeout: float) -> str | None:
        """The zygote's next line, or None after ``timeout`` seconds."""
        out: IO[bytes] | None = self.process.stdout
        assert out is not None
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([out], [], [], max(0.0, timeout))
            if not ready:
                return None
            byte = out.read(1)
            assert byte, f"the command line's zygote ended (exit {self.process.poll()})"
            line += byte
        return line.decode().strip()

    def run(
        self, args: list[str], env: dict[str, str], stdin: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        encoding = locale.getpreferredencoding(False)
        with self.lock, tempfile.TemporaryDirectory(prefix="pilotmon-cli-") as folder:
            files = {name: Path(folder) / name for name in ("stdin", "stdout", "stderr")}
            files["stdin"].write_bytes(stdin.encode(encoding))
            files["stdout"].touch()
            files["stderr"].touch()
            request = {"args": args, "env": env, "cwd": os.getcwd()}
            request.update({name: str(path) for name, path in files.items()})
            pipe = self.process.stdin
            assert pipe is not None
            message = memoryview(json.dumps(request).encode() + b"\n")
            while message:  # an unbuffered pipe may take a long line in parts
                message = message[pipe.write(message) or 0 :]
            answer = self._line(60)
            assert answer and answer.startswith("pid "), answer
            pid = int(answer.split()[1])
            answer = self._line(timeout)
            timed_out = answer is None
            if timed_out:
                os.kill(pid, signal.SIGKILL)
                answer = self._line(60)
            assert answer and answer.startswith("exit "), answer
            stdout, stderr = (
                _text(files[name].read_bytes(), encoding) for name in ("stdout", "stderr")
            )
            command = [sys.executable, "-m", "server.cli", *args]
            if timed_out:
                raise subprocess.TimeoutExpired(command, timeout, stdout, stderr)
            return subprocess.CompletedProcess(command, int(answer.split()[1]), stdout, stderr)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _text(data: bytes, encoding: str) -> str:
    """As ``subprocess.run(text=True)`` reads a pipe: decoded, universal newlines."""
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


_zygote: Zygote | None = None


def run(
    args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m server.cli ARGS`` with exactly the environment ``env``, from a fork of the
    zygote (started on first use, one per test process)."""
    global _zygote
    if _zygote is None or _zygote.process.poll() is not None:
        _zygote = Zygote()
        atexit.register(_zygote.close)
    return _zygote.run(args, env, stdin, timeout)


if __name__ == "__main__":
    sys.exit(main())
