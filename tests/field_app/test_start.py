"""``pilotmon field`` on a Linux computer starts and stops cleanly: no traceback and no error in
the terminal or in Kivy's log, in particular none about libmtdev (the kernel multi-touch
library, missing on most desktops and in CI), and Ctrl-C closes the app without one either."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.field_app.kivy_driver import HOW_TO_ENABLE, probe

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

STARTED = "Start application main loop"
# `pilotmon field`, as the console script runs it, in a fresh interpreter.
PILOTMON_FIELD = "from server.cli import main; raise SystemExit(main(['field']))"


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "PILOTMON_"))
    }  # a user's shell: Kivy logs to the terminal and to its log file, as it does by default
    env["KIVY_HOME"] = str(tmp_path / "kivy")  # never the developer's ~/.kivy
    env["PILOTMON_FIELD_DIR"] = str(tmp_path / "field")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["SDL_VIDEODRIVER"] = "offscreen"
    return env


def _problems(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line
        or re.search(r"\b(ERROR|CRITICAL)\b", line)
        or re.search(r"mtdev", line, re.IGNORECASE)
    ]


def test_pilotmon_field_starts_and_stops_without_a_traceback(tmp_path: Path) -> None:
    reason = probe()
    if reason:
        pytest.skip(f"{HOW_TO_ENABLE} ({reason})")
    process = subprocess.Popen(
        [sys.executable, "-c", PILOTMON_FIELD],
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:  # pytest-timeout ends a start that never comes
            lines.append(line)
            if STARTED in line:
                break
        process.send_signal(signal.SIGINT)  # Ctrl-C in the terminal
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # a failed run leaves no app behind
            process.kill()
            process.wait()
    terminal = "".join(lines) + rest
    assert STARTED in terminal, terminal
    assert process.returncode == 0, terminal
    assert not _problems(terminal), terminal

    logs = list((tmp_path / "kivy" / "logs").glob("*.txt"))
    assert logs, "Kivy wrote no log file"
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert STARTED in text and not _problems(text), text
