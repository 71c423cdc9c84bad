"""Settings: language (switched live), server, device facts, the sync log, offline bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kivy.properties import ListProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from field_app import i18n
from field_app.controllers.custody import (
    CustodyText,
    custody_text,
    receipts_error,
    receipts_saved,
)
from field_app.controllers.settings import bundle_directory, bundle_error, log_line
from field_app.i18n import _
from field_app.screens.base import BaseScreen, in_background


class SettingsScreen(BaseScreen):
    server = StringProperty("")
    facts = ListProperty([])
    log_lines = ListProperty([])
    bundle_message = StringProperty("")
    languages = ListProperty(list(i18n.LANGUAGES.items()))

    receipts_message = StringProperty("")

    def enter(self, **params: Any) -> None:
        self.bundle_message = ""
        self.receipts_message = ""
        self.refresh()

    def refresh(self) -> None:
        session = self.session
        enrolment = session.enrolment()
        self.server = enrolment.server_url if enrolment else _("Not enrolled")
        self.facts = session.device_facts()
        # The log's rounds are timed on the tablet's own clock (the backend stamps them): "how
        # long ago" compares like with like, not with the session's (server-corrected) clock.
        now = datetime.now(UTC)
        self.log_lines = [log_line(e, now) for e in session.backend.log(20)]
        self._fill()
        # The custody line is read on a worker thread: only the newest read is shown (an
        # older one landing last put back "Not yet safe to wipe" over "Safe to wipe").
        self._generation = getattr(self, "_generation", 0) + 1
        generation, self.loading = self._generation, True

        def done(custody: CustodyText | None, error: BaseException | None) -> None:
            if generation == self._generation and self.app is not None:
                self.loading = False
                self._show_custody(custody, error)

        in_background(lambda: custody_text(session.custody()), done)

    def _show_custody(self, custody: CustodyText | None, error: BaseException | None) -> None:
        if error is not None:
            raise error
        assert custody is not None
        line = self.ids.custody
        line.headline, line.detail, line.tone = custody.headline, custody.detail, custody.tone

    def _fill(self) -> None:
        facts = self.ids.facts
        facts.clear_widgets()
        for key, value in self.facts:
            facts.add_widget(FactRow(key=key, value=value))
        log = self.ids.log
        log.clear_widgets()
        for when, what, ok in self.log_lines or [("", _("No sync yet."), True)]:
            log.add_widget(FactRow(key=when, value=what, tone="ok" if ok else "error"))

    def set_language(self, code: str) -> None:
        self.app.set_language(code)

    def export_bundle(self) -> None:
        directory = bundle_directory(self.session.data_dir)
        self.say("bundle_message", lambda: _("Writing the bundle…"))

        def done(path: Any, error: BaseException | None) -> None:
            if error is not None:
                failed = error
                self.say("bundle_message", lambda: bundle_error(failed))
            else:
                self.say(
                    "bundle_message",
                    lambda: _(
                        "Bundle written to {path}. Give this file to your country office."
                    ).format(path=path),
                )

        in_background(lambda: self.session.backend.export_bundle(directory), done)

    def save_receipts(self) -> None:
        """Write every receipt to a file the field expert can keep or hand over; the server
        checks it with ``pilotmon receipts verify FILE``."""
        directory = bundle_directory(self.session.data_dir, "receipts")
        self.say("receipts_message", lambda: _("Saving the receipts…"))

        def done(saved: tuple[Path, int] | None, error: BaseException | None) -> None:
            if error is not None or saved is None:
                failed = error or ValueError("nothing written")
                self.say("receipts_message", lambda: receipts_error(failed))
            else:
                written = saved
                self.say("receipts_message", lambda: receipts_saved(*written))

        in_background(lambda: self.session.backend.save_receipts(directory), done)


class FactRow(BoxLayout):
    key = StringProperty("")
    value = StringProperty("")
    tone = StringProperty("ok")
