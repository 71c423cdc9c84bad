"""Regenerate the initial migration from the models (pre-release only: no deployed databases).

Once a release is out, schema changes become new revisions (`alembic revision --autogenerate`)
instead; this script refuses to run when more than one revision exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from server.db import make_engine
from server.migrate import MIGRATIONS_DIR, make_revision

VERSIONS = MIGRATIONS_DIR / "versions"
TARGET = VERSIONS / "0001_initial_schema.py"


def main() -> int:
    others = [p for p in VERSIONS.glob("*.py") if p != TARGET]
    if others:
        print(
            f"refusing: other revisions exist ({', '.join(p.name for p in others)})",
            file=sys.stderr,
        )
        return 1
    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        make_revision(make_engine(f"sqlite:///{Path(tmp) / 'empty.sqlite3'}"), "initial schema")
    [generated] = [p for p in VERSIONS.glob("*_initial_schema.py") if p != TARGET]
    text = generated.read_text()
    text = text.replace("astext_type=Text()", "astext_type=sa.Text()")
    text = re.sub(r"^revision: str = '[0-9a-f]+'", "revision: str = '0001'", text, flags=re.M)
    text = re.sub(r"^Revision ID: .*$", "Revision ID: 0001", text, flags=re.M)
    text = re.sub(r"^Create Date: .*\n", "", text, flags=re.M)
    text = re.sub(r"^\s*# ### (commands auto generated|end Alembic).*\n", "", text, flags=re.M)
    # SQLModel's AutoString is a plain VARCHAR in the database; say so without importing it.
    text = text.replace("sqlmodel.sql.sqltypes.AutoString(", "sa.String(")
    text = text.replace("import sqlmodel\n", "")
    TARGET.write_text(text)
    generated.unlink()
    # Hold the generated file to the same lint rules as the rest of the code.
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", "--quiet", str(TARGET)], check=True)  # noqa: S603
    subprocess.run([str(ruff), "check", "--fix", "--quiet", str(TARGET)], check=True)  # noqa: S603
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
