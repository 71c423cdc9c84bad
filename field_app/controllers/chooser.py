"""The photo chooser on a computer: which folder it opens at and what it lists. No Kivy here.

It opens at the user's pictures folder (XDG ``PICTURES`` from ``user-dirs.dirs``, else
``~/Pictures``), never at the bare home folder when a pictures folder exists, and lists folders
first, then the photos the app accepts, by name; hidden files are left out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from field_app.controllers.status import size_text
from field_app.photos import ACCEPTED_SUFFIXES

_XDG_LINE = re.compile(r'^\s*XDG_PICTURES_DIR\s*=\s*"(.*)"\s*$')


def pictures_folder(home: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where the chooser opens: XDG's pictures folder, ``~/Pictures``, else ``home``."""
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if env.get("XDG_PICTURES_DIR"):
        candidates.append(Path(env["XDG_PICTURES_DIR"]).expanduser())
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "user-dirs.dirs"
    try:
        for line in config.read_text(encoding="utf-8").splitlines():
            found = _XDG_LINE.match(line)
            if found:
                candidates.append(Path(found.group(1).replace("$HOME", str(home))))
    except OSError:
        pass
    candidates.append(home / "Pictures")
    return next((c for c in candidates if c.is_dir() and c != home), home)


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    path: Path
    folder: bool
    detail: str  # "1.2 MB · 2025-03-14 10:20" for a photo, "" for a folder


def listing(folder: Path) -> list[Entry]:
    """Folders, then photos, each by name (case ignored); unreadable entries left out."""
    folders: list[Entry] = []
    photos: list[Entry] = []
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    for child in children:
        if child.name.startswith("."):
            continue
        try:
            if child.is_dir():
                folders.append(Entry(child.name, child, True, ""))
            elif child.suffix.lower() in ACCEPTED_SUFFIXES:
                stat = child.stat()
                when = datetime.fromtimestamp(stat.st_mtime).strftime("%Y-%m-%d %H:%M")
                photos.append(
                    Entry(child.name, child, False, f"{size_text(stat.st_size)} · {when}")
                )
        except OSError:
            continue
    return sorted(folders, key=lambda e: e.name.lower()) + sorted(
        photos, key=lambda e: e.name.lower()
    )
