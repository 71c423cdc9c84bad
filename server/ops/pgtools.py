"""Running PostgreSQL's own tools (pg_dump, pg_restore, psql) against our database.

Connection details go through libpq's environment variables, so the password never shows in
the process list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Engine

from server.ops.archive import BackupError

TOOL_TIMEOUT_S = 6 * 60 * 60  # a very large database still ends; a hung tool does not hang cron


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def libpq_env(engine: Engine) -> dict[str, str]:
    url = engine.url
    env = dict(os.environ)
    pairs = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for key, value in pairs.items():
        if value:
            env[key] = str(value)
    for option, variable in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("host", "PGHOST"),
        ("port", "PGPORT"),
    ):
        given = url.query.get(option)
        if isinstance(given, str):
            env[variable] = given
    return env


def run(tool: str, args: list[str], *, engine: Engine, stdin: Path | None = None) -> None:
    """Run a PostgreSQL tool; raise BackupError with its first error line when it fails."""
    path = shutil.which(tool)
    if path is None:
        raise BackupError(
            f"{tool} is not on PATH: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client)"
        )
    try:
        if stdin is not None:
            with open(stdin, "rb") as handle:
                result = subprocess.run(  # noqa: S603
                    [path, *args],
                    stdin=handle,
                    capture_output=True,
                    env=libpq_env(engine),
                    timeout=TOOL_TIMEOUT_S,
                    check=False,
                )
        else:
            result = subprocess.run(  # noqa: S603
                [path, *args],
                capture_output=True,
                env=libpq_env(engine),
                timeout=TOOL_TIMEOUT_S,
                check=False,
            )
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{tool} did not finish within {TOOL_TIMEOUT_S // 3600} hours") from exc
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {first_error_line(result.stderr)}")


def first_error_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line
    return lines[0] if lines else "no message"
