"""Static files under content-hashed names, so browsers and proxies may keep them for a year.

``url("dashboard.css")`` gives ``/static/dashboard.3f2a9c1e07.css``: the hash is taken from the
file's bytes once, when the server starts, so a changed file gets a new address and nobody is
served a stale copy. Hashed names answer with ``Cache-Control: public, max-age=31536000,
immutable``; the plain name still works (for bookmarks and old pages) but must be revalidated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASH_LENGTH = 10  # hex digits of SHA-256: plenty to tell two versions of one file apart


class UnknownAsset(LookupError):
    """A template asked for a static file that does not exist (a typo, or a file not shipped)."""


def hashed_name(name: str, content: bytes) -> str:
    """``dashboard.css`` → ``dashboard.<hash>.css``: the hash before the extension keeps the
    type that servers and browsers read from the name."""
    path = PurePosixPath(name)
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


class HashedStaticFiles(StaticFiles):
    """``StaticFiles`` for one folder whose files are also served under their hashed names."""

    def __init__(self, *, directory: Path, prefix: str) -> None:
        super().__init__(directory=directory)
        self.prefix = prefix.rstrip("/")
        self._hashed: dict[str, str] = {}  # file name -> hashed name
        self._files: dict[str, str] = {}  # hashed name -> file name
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                name = path.relative_to(directory).as_posix()
                hashed = hashed_name(name, path.read_bytes())
                self._hashed[name] = hashed
                self._files[hashed] = name

    def url(self, name: str) -> str:
        """The address of ``name`` (a path inside the folder) under its hashed name."""
        try:
            return f"{self.prefix}/{self._hashed[name]}"
        except KeyError:
            raise UnknownAsset(f"no static file {name!r} under {self.directory}") from None

    async def get_response(self, path: str, scope: Scope) -> Response:
        name = self._files.get(path)
        if name is not None:
            response = await super().get_response(name, scope)
            response.headers["Cache-Control"] = IMMUTABLE
            return response
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = REVALIDATE
        return response
