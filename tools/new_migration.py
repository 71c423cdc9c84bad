"""Write the next schema migration from the models: ``make migration NAME="what changed"``.

A scratch SQLite database is brought to the latest revision; Alembic compares it with the models
and writes what differs as ``server/migrations/versions/NNNN_what_changed.py`` (the next
number, SQLite's batch mode), held to the project's lint rules. Read what it wrote before
committing it: autogenerate sees no renames (it drops and adds), carries no data over, and cannot
know that stored values need the roll-ups rebuilt (declare ``REBUILDS``, ``server/migrate.py``).
Then run the migration tests (``tests/server/test_migrations*.py``) on both backends.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from server.db import make_engine
from server.migrate import MIGRATIONS_DIR, make_revision, upgrade


def next_revision_id(name: str, versions: Path) -> str:
    """``NNNN_name``: the number after the highest revision's, the name as a Python slug."""
    numbers = [int(p.name[:4]) for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py")]
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:48]
    if not slug:
        raise ValueError('name the change in a few words, e.g. NAME="site altitude"')
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


def tidy(path: Path) -> None:
    """The generated file as the rest of the revisions read: SQLModel's AutoString is a plain
    VARCHAR (no import of sqlmodel), no creation date, Alembic's comments out, formatted."""
    text = path.read_text()
    text = text.replace("sqlmodel.sql.sqltypes.AutoString(", "sa.String(")
    text = text.replace("import sqlmodel\n", "")
    text = re.sub(r"^Create Date: .*\n", "", text, flags=re.M)
    text = re.sub(r"^\s*# ### (commands auto generated|end Alembic).*\n", "", text, flags=re.M)
    path.write_text(text)
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", "--quiet", str(path)], check=True)  # noqa: S603
    subprocess.run([str(ruff), "check", "--fix", "--quiet", str(path)], check=True)  # noqa: S603


def new_migration(name: str, directory: Path = MIGRATIONS_DIR) -> Path:
    rev_id = next_revision_id(name, directory / "versions")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'head.sqlite3'}")
        try:
            upgrade(engine)
            path = make_revision(engine, name, rev_id=rev_id, directory=directory)
        finally:
            engine.dispose()
    tidy(path)
    return path


def main(argv: list[str]) -> int:
    name = " ".join(argv).strip()
    if not name:
        print(
            'usage: make migration NAME="what changed" (e.g. NAME="site altitude")', file=sys.stderr
        )
        return 2
    try:
        path = new_migration(name)
    except ValueError as exc:
        print(f"new migration: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: read it before committing (renames, data, REBUILDS)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
