"""``pilotmon backup`` and ``pilotmon restore`` from the shell: summaries and one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine

from server.db import make_engine
from tests.server.ops.world import files_under, load_world
from tests.server.test_cli import assert_one_line_error, run_cli


def test_backup_and_restore_commands(tmp_path: Path, sqlite_template: Path) -> None:
    source = tmp_path / "office"
    source.mkdir()
    shutil.copyfile(sqlite_template, source / "pilotmon.sqlite3")
    engine: Engine = make_engine(f"sqlite:///{source / 'pilotmon.sqlite3'}")
    load_world(engine, source / "attachments")
    engine.dispose()
    archive = tmp_path / "nightly.tar.gz"

    made = run_cli("backup", str(archive), env={"PILOTMON_DATA_DIR": str(source)})
    assert made.returncode == 0, made.stderr
    assert "backup written to" in made.stdout and "3 photo files" in made.stdout

    again = run_cli("backup", str(archive), env={"PILOTMON_DATA_DIR": str(source)})
    assert_one_line_error(again, "already exists", "--overwrite")

    checked = run_cli("restore", "--check", str(archive), env={"PILOTMON_DATA_DIR": str(source)})
    assert checked.returncode == 0, checked.stderr
    assert "is intact" in checked.stdout

    target = tmp_path / "new-server"
    restored = run_cli("restore", str(archive), env={"PILOTMON_DATA_DIR": str(target)})
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout and "3 photo files" in restored.stdout
    assert files_under(target / "attachments") == files_under(source / "attachments")

    twice = run_cli("restore", str(archive), env={"PILOTMON_DATA_DIR": str(target)})
    assert_one_line_error(twice, "already holds data", "--force")
    forced = run_cli("restore", "--force", str(archive), env={"PILOTMON_DATA_DIR": str(target)})
    assert forced.returncode == 0, forced.stderr
    assert "kept in" in forced.stdout


def test_restore_errors_are_one_line(tmp_path: Path) -> None:
    env = {"PILOTMON_DATA_DIR": str(tmp_path / "data")}
    assert_one_line_error(
        run_cli("restore", str(tmp_path / "nope.tar.gz"), env=env), "does not exist"
    )
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"definitely not gzip")
    assert_one_line_error(run_cli("restore", str(junk), env=env), "not a backup archive")
    assert_one_line_error(
        run_cli("backup", str(tmp_path / "no-such-folder" / "b.tar.gz"), env=env), "does not exist"
    )
