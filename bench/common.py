"""What the bench scripts share (this module is not a bench: ``make bench`` runs ``*_bench.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from server.errors import DatabaseError


def run(main: Callable[[], int]) -> NoReturn:
    """Run a bench's ``main`` as a command: exit with its status, or with one line naming the
    database and the reason when the database it was given is down or refuses it."""
    try:
        sys.exit(main())
    except DatabaseError as exc:
        sys.exit(f"{Path(sys.argv[0]).stem}: {exc}")
