"""A FILE argument that names no file is a bad file: one line, exit code 1, in the same words for
every command (docs/cli.md); an empty name is a usage error that says it is empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.in_process import initialised_data_dir, one_line, run_in_process


@pytest.fixture
def data(tmp_path: Path, sqlite_template: Path) -> Path:
    """A data directory holding an initialised database."""
    return initialised_data_dir(tmp_path / "data", sqlite_template)


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: Path, *args: str
) -> tuple[int, str]:
    code, _, err = run_in_process(monkeypatch, capsys, *args, PILOTMON_DATA_DIR=str(data))
    return code, one_line(err)


@pytest.mark.parametrize("command", [("import-bundle",), ("restore",)])
def test_a_file_that_is_not_there_or_a_folder_is_exit_code_1(
    command: tuple[str, ...],
    data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # import-bundle said "Invalid value for 'FILE': File '…' does not exist.", exit 2.
    missing = tmp_path / "nothere.zip"
    code, line = _run(monkeypatch, capsys, data, *command, str(missing))
    assert (code, line) == (1, f"pilotmon: {missing} does not exist or is not a file")
    code, line = _run(monkeypatch, capsys, data, *command, str(tmp_path))
    assert (code, line) == (1, f"pilotmon: {tmp_path} does not exist or is not a file")


@pytest.mark.parametrize("command", [("import-bundle",), ("restore",), ("backup",)])
def test_an_empty_file_name_says_it_is_empty(
    command: tuple[str, ...],
    data: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `pilotmon backup ""` said ". already exists: choose another name or pass --overwrite".
    code, line = _run(monkeypatch, capsys, data, *command, "")
    assert code == 2
    assert line == (
        f"pilotmon: Invalid value for 'FILE': the file name is empty "
        f"(see `pilotmon {command[0]} --help`)"
    )
