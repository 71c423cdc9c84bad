"""``make migration NAME=…`` writes the next revision from the models (tools/new_migration.py):
numbered after the last one, on top of the head, empty when the models hold nothing new, in the
project's lint rules. A copy of the migrations is used: the repository's are not touched."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from alembic.script import ScriptDirectory

from server.migrate import MIGRATIONS_DIR, alembic_config, head_revision

TOOL = Path(__file__).resolve().parents[2] / "tools" / "new_migration.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("new_migration", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_next_revision_is_numbered_after_the_last(tool: ModuleType, tmp_path: Path) -> None:
    for name in ("0001_initial_schema.py", "0009_flags.py", "0021_device_enrolled_with.py"):
        (tmp_path / name).write_text("")
    assert tool.next_revision_id("Site altitude (m)!", tmp_path) == "0022_site_altitude_m"
    with pytest.raises(ValueError, match="name the change"):
        tool.next_revision_id(" — ", tmp_path)
    assert tool.main([]) == 2  # no NAME: a usage line, nothing written


def test_a_revision_on_top_of_the_head_empty_when_nothing_changed(
    tool: ModuleType, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    head = head_revision()
    number = int(head[:4]) + 1

    path = tool.new_migration("Nothing changed", directory=directory)

    assert path == directory / "versions" / f"{number:04d}_nothing_changed.py"
    text = path.read_text()
    assert f'down_revision: str | None = "{head}"' in text
    assert "def upgrade() -> None:\n    pass" in text  # the models match the schema
    assert "Create Date" not in text and "sqlmodel" not in text
    scripts = ScriptDirectory.from_config(alembic_config(directory))
    assert scripts.get_heads() == [f"{number:04d}_nothing_changed"]
