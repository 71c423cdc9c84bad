"""A tablet enrolled with a password that then changed (docs/protocol.md#enrolment): the server
refuses it with ``device_password_changed``, the app says to log in again with the new password
(in the reader's language), the old password cannot bring it back, the new one does, and the
record saved meanwhile reaches the server.

The real backend, its real schedule thread and sync engine, against a live server."""

from __future__ import annotations

from pathlib import Path

import pytest

from field_app import i18n
from field_app.backend import StoreBackend
from field_app.controllers.status import cause_words
from field_app.device import Device
from field_app.session import EnrolError, FieldSession
from tests.factories import PASSWORD
from tests.field_app.conftest import LiveServer
from tests.field_app.test_backend import filled_form
from tests.field_app.test_reenrol import FAST, _until

NEW_PASSWORD = "lantern-harvest-Mafeteng-77"


@pytest.mark.real_clock
def test_a_tablet_signed_out_by_a_new_password_logs_in_again_with_it(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "tablet"
    backend = StoreBackend(data_dir, schedule_options=FAST)
    session = FieldSession(backend=backend, device=Device(), data_dir=data_dir)
    expert = live_server.api("GET", "/users", params={"q": live_server.expert}).json()["items"][0]
    try:
        session.enrol(server_url=live_server.url, username=live_server.expert, password=PASSWORD)
        session.start_sync(lambda: None)
        _until(lambda: session.projects(), "the first round to bring the project")

        changed = live_server.api(
            "PATCH", f"/users/{expert['id']}", json={"password": NEW_PASSWORD}
        )
        assert changed.status_code == 200, changed.text
        form = filled_form(session, live_server.project_id)
        session.save(form)
        _until(
            lambda: session.status().error_cause == "password_changed",
            "the refusal of the tablet, saying why",
        )
        assert backend.activity(form.id).state == "pending"  # type: ignore[union-attr]
        status = session.status()
        try:
            i18n.set_language("fr")
            words = cause_words(status.error_cause, status.last_error)
        finally:
            i18n.set_language("en")
        assert "nouveau mot de passe" in words
        assert "S’enregistrer avec un autre serveur ou compte" in words

        # The old password (a thief's) no longer enrols it; the new one does.
        with pytest.raises(EnrolError):
            session.enrol(
                server_url=live_server.url, username=live_server.expert, password=PASSWORD
            )
        session.enrol(
            server_url=live_server.url, username=live_server.expert, password=NEW_PASSWORD
        )
        session.request_sync()
        _until(
            lambda: session.status().error_cause is None and session.status().everything_sent,
            "a round that goes through after logging in again",
        )
        assert backend.activity(form.id).state == "synced"  # type: ignore[union-attr]
        assert live_server.activity(form.id)["title"] == "Seed potato storage demonstration"
    finally:
        session.close()
