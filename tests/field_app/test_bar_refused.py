"""Home's sync bar and custody line agree: a record the server refused is not "sent". With
nothing else waiting the bar says "Refused by the server: 1 record", never "Everything is sent"
above "Not yet safe to wipe: 1 record". The real store and backend, no server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from field_app.controllers.custody import custody_text
from field_app.controllers.status import SyncStatus, sync_bar
from field_app.i18n import set_language
from sync.protocol import FieldError, ResultStatus
from tests.field_app.quiet_tablet import QuietTablet, activity

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
TOO_LONG = FieldError(field="title", code="too_long", message="title: too long")


@pytest.fixture
def tablet(tmp_path: Path) -> QuietTablet:
    set_language("en")
    return QuietTablet(tmp_path / "tablet")


def test_a_refused_record_is_not_everything_sent(tablet: QuietTablet) -> None:
    refused = activity(tablet.project["id"], "Seed potato storage demonstration")
    tablet.store.save("activity", refused)
    tablet.answer(ResultStatus.REJECTED, [TOO_LONG])

    status = tablet.backend.status()
    assert status.everything_sent and (status.refused, status.attention) == (1, 1)
    bar = sync_bar(status, NOW)
    assert bar.headline == "Refused by the server: 1 record · 1 needs your attention"
    assert bar.tone == "pending"
    custody = custody_text(tablet.backend.custody())
    assert custody.headline == "Not yet safe to wipe: 1 record"


def test_refused_next_to_what_waits() -> None:
    status = SyncStatus(
        pending=2, changes=2, last_success=NOW, last_error=None, attention=3, refused=2
    )
    assert sync_bar(status, NOW).headline == (
        "Waiting to be sent: 2 records · Refused by the server: 2 records · 3 need your attention"
    )
    set_language("fr")
    try:
        assert sync_bar(status, NOW).headline == (
            "En attente d’envoi\u00a0: 2 enregistrements · Refusés par le serveur\u00a0: "
            "2 enregistrements · 3 à traiter"
        )
    finally:
        set_language("en")


def test_nothing_refused_everything_sent_as_before() -> None:
    status = SyncStatus(pending=0, last_success=NOW, last_error=None)
    assert sync_bar(status, NOW).headline == "Everything is sent"
