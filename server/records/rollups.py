"""The roll-up delta every activity write owes, reached through one installed implementation.

The indicators domain keeps the roll-ups (``server.indicators.refresh``) and reads the
activities' and projects' tables to do so; the activity and project writers owe it a note of
what they changed. So that the writers need not import the indicators domain (which imports
theirs), the record layer holds the contract and the application installs the implementation
at start-up (``server.wiring.install``, called by ``server.app.create_app``, ``server.cli`` and
the test suite). Writing an activity before it is installed fails loudly instead of leaving
roll-ups behind (docs/architecture.md#commit-duties).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class Written:
    """An activity just inserted in this transaction, as written: the refresh uses these
    values instead of reading the rows back."""

    row: Any  # the activity's columns as attributes (a namespace or the model)
    attendance: Sequence[tuple[str, str, str, bool, int]]  # sex, age band, category, pwd, count
    participants: frozenset[uuid.UUID]
    country: str
    thematic_area: str | None


class Rollups(Protocol):
    def activities_changed(self, session: Session, activity_ids: Iterable[uuid.UUID]) -> None:
        """These activities changed: refresh their roll-ups before the transaction commits."""

    def activities_written(self, session: Session, written: Sequence[Written]) -> None:
        """These activities were just inserted with exactly these values."""

    def project_changed(self, session: Session, project_id: uuid.UUID) -> None:
        """A project's country or thematic area changed: refresh all of its activities."""


_installed: list[Rollups] = []


def install(rollups: Rollups) -> None:
    """Install the roll-up implementation (idempotent; the last one installed wins)."""
    _installed[:] = [rollups]


def rollups() -> Rollups:
    if not _installed:
        raise RuntimeError(
            "no roll-up refresh is installed: call server.wiring.install() at start-up "
            "before writing activities or projects"
        )
    return _installed[0]
