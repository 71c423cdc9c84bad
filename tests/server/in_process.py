"""The ``pilotmon`` command line run in the test's own process (no interpreter start-up, unlike
``tests.server.test_cli.run_cli``), and what its one-line errors are checked by."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from server.cli import main
from server.config import get_settings
from server.db import dispose_engines


def run_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, **env: str
) -> tuple[int, str, str]:
    """``pilotmon ARGS`` in this process, with the test's environment less its ``PILOTMON_*``
    settings, plus ``env``: exit code, stdout, stderr. Settings are read afresh, and the
    engines the command made are closed after it."""
    for name in [n for n in os.environ if n.startswith("PILOTMON_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        code = main(list(args))
    finally:
        get_settings.cache_clear()
        dispose_engines()
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *needles: str) -> str:
    """The one line ``err`` holds, ``pilotmon: …``, with every needle in it."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pilotmon: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def initialised_data_dir(folder: Path, template: Path) -> Path:
    """``folder`` made a data directory holding an initialised SQLite database (a copy of
    ``template``, the suite's migrated one)."""
    folder.mkdir()
    shutil.copyfile(template, folder / "pilotmon.sqlite3")
    return folder
