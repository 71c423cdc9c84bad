"""The backup archive: a gzip tar of database files and photos, with a manifest written last.

    manifest.json               what is inside: schema revision, row counts, sha256 of every file
    database/...                the database snapshot (a SQLite file, a pg_dump, or JSON lines)
    attachments/...             the photos, as they lie under the attachments directory

The manifest goes last so that hashes are taken while the files stream in (each file is read
once). Reading an archive never trusts a member name: only regular files under the two folders
above are accepted, and every byte is hashed against the manifest before a restore touches the
database.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import tarfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from server.errors import PilotMonitorError

ARCHIVE_FORMAT = "pilotmon-backup"
ARCHIVE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATABASE_DIR = "database"
ATTACHMENTS_DIR = "attachments"
# A manifest lists files and counts; anything bigger is not one of ours.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024

METHODS = ("sqlite", "pg_dump", "logical")


class BackupError(PilotMonitorError):
    """A backup or restore that cannot go ahead; the message says what to do."""

    exit_code = 1


class Progress(Protocol):
    """What the command line shows while bytes move; the service code only reports."""

    def step(self, text: str) -> None:
        """A step without a measurable length (a database snapshot, pg_restore)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def step(self, text: str) -> None:
        pass

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class FileEntry:
    sha256: str
    size: int


@dataclass
class Manifest:
    created_at: str
    pilotmon_version: str
    schema_revision: str | None
    backend: str  # the database the backup was taken from: sqlite | postgresql
    method: str  # how the database is stored: sqlite | pg_dump | logical
    tables: dict[str, int]  # rows per table, in dependency order
    columns: dict[str, list[str]] = field(default_factory=dict)  # logical exports only
    pg_schema: str | None = None  # pg_dump only: the schema the dump recreates
    files: dict[str, FileEntry] = field(default_factory=dict)

    @property
    def attachment_files(self) -> dict[str, FileEntry]:
        prefix = ATTACHMENTS_DIR + "/"
        return {n: e for n, e in self.files.items() if n.startswith(prefix)}

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    def to_json(self) -> bytes:
        body = {"format": ARCHIVE_FORMAT, "format_version": ARCHIVE_FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=1, sort_keys=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise BackupError(f"the archive's manifest is not valid JSON ({exc})") from exc
        if not isinstance(body, dict) or body.get("format") != ARCHIVE_FORMAT:
            raise BackupError("this file is not a Pilot Monitor backup (no manifest of ours)")
        if body.get("format_version") != ARCHIVE_FORMAT_VERSION:
            raise BackupError(
                f"backup format version {body.get('format_version')!r} is not supported by "
                f"this Pilot Monitor (it reads version {ARCHIVE_FORMAT_VERSION})"
            )
        try:
            files = {
                str(name): FileEntry(sha256=str(e["sha256"]), size=int(e["size"]))
                for name, e in dict(body["files"]).items()
            }
            manifest = cls(
                created_at=str(body["created_at"]),
                pilotmon_version=str(body["pilotmon_version"]),
                schema_revision=body["schema_revision"],
                backend=str(body["backend"]),
                method=str(body["method"]),
                tables={str(k): int(v) for k, v in dict(body["tables"]).items()},
                columns={
                    str(k): [str(c) for c in v] for k, v in dict(body.get("columns") or {}).items()
                },
                pg_schema=body.get("pg_schema"),
                files=files,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"the archive's manifest is incomplete ({exc!r})") from exc
        if manifest.method not in METHODS:
            raise BackupError(f"the archive's database method {manifest.method!r} is unknown")
        return manifest


def safe_member_name(name: str) -> str | None:
    """The normalised name if it may be extracted (under database/ or attachments/), else None."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return None
    normal = posixpath.normpath(name)
    if normal != name or normal.startswith("..") or "/../" in f"/{normal}/":
        return None
    top = normal.split("/", 1)[0]
    if top not in (DATABASE_DIR, ATTACHMENTS_DIR) or "/" not in normal:
        return None
    return normal


class _HashingReader:
    """Reads a file for tarfile while hashing it and reporting progress."""

    def __init__(self, raw: IO[bytes], progress: Progress) -> None:
        self._raw = raw
        self._progress = progress
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.digest.update(chunk)
        self._progress.advance(len(chunk))
        return chunk


class ArchiveWriter:
    """Writes ``FILE.partial`` and renames it to ``FILE`` only once it is complete and synced."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._progress = progress
        self.files: dict[str, FileEntry] = {}
        # The archive holds personal data: readable by its owner only, whatever the umask
        # (fchmod too, for a .partial a killed run left behind with other permissions).
        descriptor = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        self._raw = os.fdopen(descriptor, "wb")
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._raw,
            mode="w:gz",
            compresslevel=6,
            format=tarfile.PAX_FORMAT,
        )

    def add_file(self, name: str, source: Path) -> bool:
        """Add ``source`` as ``name``; False when it vanished before it could be read."""
        try:
            handle = open(source, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        with handle:
            info = tarfile.TarInfo(name)
            info.size = os.fstat(handle.fileno()).st_size
            info.mtime = int(os.fstat(handle.fileno()).st_mtime)
            info.mode = 0o600
            reader = _HashingReader(handle, self._progress)
            # tarfile reads exactly info.size bytes, so a file that grows meanwhile is cut
            # at the size it had when we looked.
            self._tar.addfile(info, reader)
            self.files[name] = FileEntry(sha256=reader.digest.hexdigest(), size=info.size)
        return True

    def close(self, manifest: Manifest) -> None:
        manifest.files = dict(self.files)
        body = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(body)
        info.mode = 0o600
        info.mtime = int(time.time())
        self._tar.addfile(info, io.BytesIO(body))
        self._tar.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        with suppress(OSError, tarfile.TarError):
            self._tar.close()
        self._raw.close()
        self.partial.unlink(missing_ok=True)


@contextmanager
def writing_archive(path: Path, progress: Progress) -> Iterator[ArchiveWriter]:
    if path.exists() and path.is_dir():
        raise BackupError(f"{path} is a directory: give a file name such as {path}/backup.tar.gz")
    try:
        writer = ArchiveWriter(path, progress)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise


@dataclass
class ExtractedArchive:
    manifest: Manifest
    database_dir: Path  # where database/... members landed
    attachments_dir: Path  # where attachments/... members landed (the folder's contents)


def extract_verified(
    *, archive: Path, database_dir: Path, attachments_dir: Path, progress: Progress
) -> ExtractedArchive:
    """Unpack into two staging folders while hashing; raise BackupError on any mismatch.

    Nothing outside the staging folders is written, whatever the archive holds.
    """
    try:
        total = archive.stat().st_size
        raw = open(archive, "rb")  # noqa: SIM115
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror or exc}") from exc
    seen: dict[str, FileEntry] = {}
    manifest_bytes: bytes | None = None
    progress.start("verifying and unpacking", total)
    try:
        with raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
            last = 0
            for member in tar:
                if member.name == MANIFEST_NAME and member.isfile():
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BackupError("the archive's manifest is implausibly large")
                    handle = tar.extractfile(member)
                    assert handle is not None
                    manifest_bytes = handle.read()
                else:
                    seen[member.name] = _extract_member(tar, member, database_dir, attachments_dir)
                position = raw.tell()
                progress.advance(position - last)
                last = position
            # tarfile takes a header it cannot read for the end of the archive, and gzip checks
            # its CRC only at the end of the stream: read to the end, so that a damaged or cut
            # file is reported as damaged, not as an archive without a manifest.
            assert tar.fileobj is not None
            while tar.fileobj.read(CHUNK):
                pass
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        # zlib.error: damage inside a member's compressed bytes (tarfile wraps it only while
        # it reads a header)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackupError(f"{archive} is damaged or not a backup archive ({reason})") from exc
    finally:
        progress.finish()
    if manifest_bytes is None:
        raise BackupError(f"{archive} has no manifest: it is not a complete Pilot Monitor backup")
    manifest = Manifest.from_json(manifest_bytes)
    _compare(manifest.files, seen)
    return ExtractedArchive(
        manifest=manifest, database_dir=database_dir, attachments_dir=attachments_dir
    )


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, database_dir: Path, attachments_dir: Path
) -> FileEntry:
    name = safe_member_name(member.name)
    if name is None or not member.isfile():
        raise BackupError(f"the archive holds an unexpected entry {member.name!r}; refusing it")
    top, rest = name.split("/", 1)
    target = (database_dir if top == DATABASE_DIR else attachments_dir) / rest
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    size = 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return FileEntry(sha256=digest.hexdigest(), size=size)


def _compare(expected: dict[str, FileEntry], seen: dict[str, FileEntry]) -> None:
    extra = sorted(set(seen) - set(expected))
    if extra:
        raise BackupError(f"the archive holds {extra[0]!r}, which its manifest does not list")
    missing = sorted(set(expected) - set(seen))
    if missing:
        raise BackupError(
            f"the archive lacks {missing[0]!r}, which its manifest lists "
            f"({len(missing)} file(s) missing): the file is truncated or damaged"
        )
    for name, entry in expected.items():
        if seen[name] != entry:
            raise BackupError(
                f"{name} in the archive does not match its manifest sha256/size: "
                "the file is damaged"
            )


def read_json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise BackupError(f"{path.name} line {number} is not JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise BackupError(f"{path.name} line {number} is not a row object")
            yield row
