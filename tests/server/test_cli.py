"""The pilotmon command line: init-db, and one-line errors with a non-zero exit for mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.cli import DOMAIN_COMMANDS
from server.migrate import head_revision
from tests.server import cli_zygote


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -m server.cli ARGS`` in a process of its own, with the test's environment less
    its ``PILOTMON_*`` settings, plus ``env``; stdin, stdout and stderr are files. The process
    is forked from one that has imported the command line already (tests/server/cli_zygote.py),
    which spares the suite a Python start-up and a second of imports per command."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PILOTMON_")}
    base.update(env or {})
    return cli_zygote.run(list(args), base, stdin=stdin, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pilotmon: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_init_db_creates_then_is_harmless_twice(db_url: str, tmp_path: Path) -> None:
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    # The fixture hands out a migrated database; a fresh SQLite file shows the first migration.
    if db_url.startswith("sqlite"):
        env["PILOTMON_DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        first = run_cli("init-db", env=env)
        assert first.returncode == 0, first.stderr
        assert f"migrated from empty to revision {head_revision()}" in first.stdout
    second = run_cli("init-db", env=env)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout


def test_init_db_uses_the_data_dir_by_default(tmp_path: Path) -> None:
    result = run_cli("init-db", env={"PILOTMON_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "pilotmon.sqlite3").exists()


def test_wrong_database_url_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "init-db", env={"PILOTMON_DATABASE_URL": "not a url", "PILOTMON_DATA_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "PILOTMON_DATABASE_URL")


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "init-db",
        env={
            "PILOTMON_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none",
            "PILOTMON_DATA_DIR": str(tmp_path),
        },
    )
    assert_one_line_error(result, "cannot reach the database")
    assert "secret" not in result.stderr


def test_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "occupied"
    blocker.write_text("a file where the data directory should be")
    result = run_cli("init-db", env={"PILOTMON_DATA_DIR": str(blocker)})
    assert_one_line_error(result, "not writable", "PILOTMON_DATA_DIR")


def test_missing_secret_outside_development_is_refused(tmp_path: Path) -> None:
    result = run_cli(
        "init-db", env={"PILOTMON_ENVIRONMENT": "production", "PILOTMON_DATA_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "PILOTMON_SECRET_KEY")


def test_unknown_option_is_one_line() -> None:
    result = run_cli("init-db", "--frobnicate")
    assert_one_line_error(result, "--frobnicate")
    assert result.returncode == 2


def test_unknown_command_is_one_line() -> None:
    result = run_cli("launch-rockets")
    assert_one_line_error(result, "launch-rockets")


def test_bad_setting_value_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "init-db", env={"PILOTMON_LOG_LEVEL": "LOUD", "PILOTMON_DATA_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "PILOTMON_LOG_LEVEL", "DEBUG, INFO")


def test_users_create_reads_password_from_stdin(db_url: str, tmp_path: Path) -> None:
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    ok = run_cli(
        "users",
        "create",
        "hq.one",
        "--role",
        "hq_analyst",
        env=env,
        stdin="a long enough password\n",
    )
    assert ok.returncode == 0, ok.stderr
    assert "created hq_analyst hq.one" in ok.stdout
    again = run_cli(
        "users",
        "create",
        "hq.one",
        "--role",
        "hq_analyst",
        env=env,
        stdin="a long enough password\n",
    )
    assert_one_line_error(again, "taken")
    # usernames are not case-sensitive: the name is kept, and printed, in lowercase
    upper = run_cli(
        "users", "create", "HQ.One", "--role", "hq_analyst", env=env, stdin="a long password\n"
    )
    assert_one_line_error(upper, "taken")
    mixed = run_cli(
        "users", "create", "HQ.Three", "--role", "hq_analyst", env=env, stdin="a long password\n"
    )
    assert mixed.returncode == 0, mixed.stderr
    assert "created hq_analyst hq.three" in mixed.stdout
    short = run_cli("users", "create", "hq.two", "--role", "hq_analyst", env=env, stdin="short\n")
    assert_one_line_error(short, "password")


def test_commands_on_a_database_without_schema_say_to_run_init_db(tmp_path: Path) -> None:
    env = {"PILOTMON_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pilotmon.sqlite3").touch()
    for args in (("jobs", "list"), ("devices", "enrol-code", "nobody")):
        result = run_cli(*args, env=env)
        assert_one_line_error(result, "pilotmon init-db")
        assert result.returncode == 3


def test_every_domain_command_loads_and_a_command_loads_only_its_own() -> None:
    # `pilotmon --help` lists every command, each loaded from its domain's module …
    listed = run_cli("--help")
    assert listed.returncode == 0, listed.stderr
    for name in DOMAIN_COMMANDS:
        assert f"  {name} " in listed.stdout, name
    # … while one command imports its own module, not the report's PDF stack or the others'.
    code = (
        "import sys\n"
        "from server.cli import main\n"
        "assert main(['users', '--help']) == 0\n"
        "mine = [m for m in sys.modules if m.startswith(('server.', 'field_app.'))]\n"
        "print(sorted(m for m in mine if m.endswith('.cli') and m != 'server.cli'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['server.accounts.cli']"


def test_commands_on_an_unreachable_database_say_it_is_unreachable(tmp_path: Path) -> None:
    # Not "run init-db": the database is down or the address is wrong, and init-db would fail
    # the same way.
    env = {
        "PILOTMON_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none",
        "PILOTMON_DATA_DIR": str(tmp_path),
    }
    for args in (("jobs", "list"), ("devices", "enrol-code", "nobody"), ("forms", "list")):
        result = run_cli(*args, env=env)
        assert_one_line_error(result, "cannot reach the database")
        assert "init-db" not in result.stderr
        assert "secret" not in result.stderr
        assert result.returncode == 3
