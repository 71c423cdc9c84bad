"""Enrolling again while the app runs (Settings → "Enrol with another server or account"):
the background sync takes the new token at once, with no restart of the app.

The real backend, its real schedule thread and sync engine, against a live server: the office
revokes the tablet, the field expert enrols it again with a new code, and the record saved
meanwhile reaches the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from field_app.backend import StoreBackend
from field_app.device import Device
from field_app.session import FieldSession
from tests.field_app.conftest import LiveServer
from tests.field_app.test_backend import filled_form

# Quick rounds, so that the test waits for seconds rather than the app's minutes.
FAST = {"first_retry": 0.05, "max_delay": 0.3, "save_delay": 0.01, "min_gap": 0.01}


def _until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# Waits on the sync schedule's (or the lock's) timers, which libfaketime's clock never lets
# expire: left out of make test-days.
@pytest.mark.real_clock
def test_enrolling_again_after_a_revocation_syncs_with_the_new_token_at_once(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "tablet"
    backend = StoreBackend(data_dir, schedule_options=FAST)
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    try:
        session.enrol(server_url=live_server.url, code=live_server.codes[0])
        session.start_sync(lambda: None)  # what the app does once it is enrolled
        _until(lambda: session.projects(), "the first round to bring the project")

        revoked = live_server.api("POST", f"/devices/{backend.device_id()}/revoke")
        assert revoked.status_code == 200, revoked.text
        form = filled_form(session, live_server.project_id)
        session.save(form)
        _until(lambda: session.status().error_cause == "revoked", "the refusal of the tablet")
        assert backend.activity(form.id).state == "pending"  # type: ignore[union-attr]

        # Enrolled again with a new code; the app goes on running, and "Sync now".
        session.enrol(server_url=live_server.url, code=live_server.codes[1])
        session.request_sync()

        _until(
            lambda: session.status().error_cause is None and session.status().everything_sent,
            "a round that goes through with the new token",
        )
        assert backend.activity(form.id).state == "synced"  # type: ignore[union-attr]
        assert session.status().last_error is None
        assert live_server.activity(form.id)["title"] == "Seed potato storage demonstration"
        # And the next rounds use the new token too.
        session.request_sync()
        time.sleep(0.5)
        assert session.status().error_cause is None
    finally:
        session.close()
