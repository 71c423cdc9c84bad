"""The roll-up delta of activity and project writes is installed at start-up
(docs/architecture.md#the-record-layer): the application installs it, and a write without it
fails instead of leaving the roll-ups behind."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.service import write_activity
from server.app import create_app
from server.config import Settings
from server.indicators.refresh import LIVE_ROLLUPS
from server.records import rollups
from tests.factories import activity_data, make_project


def test_the_application_installs_the_live_rollups(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollups, "_installed", [])
    create_app(settings, engine)
    assert rollups.rollups() is LIVE_ROLLUPS


def test_an_activity_written_before_start_up_fails_loudly(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(session)
    monkeypatch.setattr(rollups, "_installed", [])
    with pytest.raises(RuntimeError, match=r"server\.wiring\.install"):
        write_activity(
            session, data=activity_data(project), existing=None, source="api", author_id=None
        )
