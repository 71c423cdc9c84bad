"""Ctrl-C ends a command with one line, ``pilotmon: interrupted``, and exit code 130
(docs/cli.md); a prompt that meets the end of its input, or a refused confirmation, is
``pilotmon: aborted``, exit code 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

from server.cli import EXIT_INTERRUPTED, cli
from server.ops import backup as backup_module
from tests.server.in_process import run_in_process


def _interrupt(*_: object, **__: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """A command ``pilotmon probe WHAT`` for the ways a command can end."""

    @click.command("probe")
    @click.argument("what")
    def command(what: str) -> None:
        if what == "ctrl-c":
            raise KeyboardInterrupt
        if what == "prompt":
            click.prompt("Name")
        if what == "confirm":
            click.confirm("Go on?", abort=True)

    monkeypatch.setitem(cli.commands, "probe", command)
    return cli


def test_ctrl_c_in_a_command_is_one_line_and_exit_code_130(
    probe: click.Group, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_in_process(monkeypatch, capsys, "probe", "ctrl-c")
    assert code == EXIT_INTERRUPTED == 130
    assert err == "pilotmon: interrupted\n" and out == ""


def test_ctrl_c_at_a_prompt_is_an_interrupt_and_end_of_input_an_abort(
    probe: click.Group, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(click.termui, "visible_prompt_func", _interrupt)
    code, _, err = run_in_process(monkeypatch, capsys, "probe", "prompt")
    assert code == 130 and err.endswith("pilotmon: interrupted\n")
    assert err.count("pilotmon:") == 1

    def end_of_input(_: str) -> str:
        raise EOFError

    monkeypatch.setattr(click.termui, "visible_prompt_func", end_of_input)
    code, _, err = run_in_process(monkeypatch, capsys, "probe", "prompt")
    assert code == 1 and err.endswith("pilotmon: aborted\n")

    monkeypatch.setattr(click.termui, "visible_prompt_func", lambda _: "n")
    code, _, err = run_in_process(monkeypatch, capsys, "probe", "confirm")
    assert code == 1 and err.endswith("pilotmon: aborted\n")


def test_ctrl_c_during_a_backup_exits_130_and_leaves_no_archive(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "pilotmon.sqlite3").write_bytes(sqlite_template.read_bytes())
    monkeypatch.setattr(backup_module, "_attachment_files", _interrupt)
    archive = tmp_path / "b.tar.gz"
    code, _, err = run_in_process(
        monkeypatch, capsys, "backup", str(archive), PILOTMON_DATA_DIR=str(data)
    )
    assert code == 130, err
    assert err.splitlines()[-1] == "pilotmon: interrupted"
    assert "" not in err.splitlines(), "no blank line"
    assert not archive.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary copy left either


def test_a_real_sigint_exits_130_with_one_line(tmp_path: Path) -> None:
    # The command waits; SIGINT arrives as from the terminal's Ctrl-C.
    code = (
        "import sys, time\n"
        "import click\n"
        "from server.cli import cli, main\n"
        "@click.command('wait')\n"
        "def wait():\n"
        "    print('waiting', flush=True)\n"
        "    time.sleep(60)\n"
        "cli.add_command(wait)\n"
        "sys.exit(main(['wait']))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTMON_")}
    env["PILOTMON_DATA_DIR"] = str(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "waiting\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err == "pilotmon: interrupted\n"


def test_an_option_without_its_value_points_to_help_like_other_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_in_process(monkeypatch, capsys, "users", "set-scope", "co.lso", "--country")
    assert code == 2
    assert err == (
        "pilotmon: Option '--country' requires an argument. "
        "(see `pilotmon users set-scope --help`)\n"
    )
    code, _, err = run_in_process(monkeypatch, capsys, "init-db", "--lock-timeout")
    assert code == 2 and "(see `pilotmon init-db --help`)" in err


def test_enrol_code_help_names_the_setting_not_a_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "valid for enrolment_code_hours".
    code, out, _ = run_in_process(monkeypatch, capsys, "devices", "enrol-code", "--help")
    assert code == 0
    assert "PILOTMON_ENROLMENT_CODE_HOURS hours (24 unless set)" in " ".join(out.split())
    assert "enrolment_code_hours" not in out
