"""Enrol: connect this tablet to a server once, with a one-time code or a username and password."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, DictProperty, StringProperty

from field_app.controllers.enrol import EnrolForm, normalise_server
from field_app.i18n import _
from field_app.screens.base import BaseScreen, in_background
from field_app.session import EnrolError


class EnrolScreen(BaseScreen):
    mode = StringProperty("code")
    errors = DictProperty({})
    message = StringProperty("")
    busy = BooleanProperty(False)
    can_go_back = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        for name in ("server", "code", "username", "password"):
            self.ids[name].bind(text=lambda _box, _text, name=name: self._recheck(name))

    def _recheck(self, name: str) -> None:
        """A box shown in error is checked again as it is typed in: its message goes once the
        box is right (the others stay until Enrol is pressed again). The messages still shown
        are asked again in the new language after a switch, as Enrol's are."""
        if name not in self.errors:
            return
        shown = set(self.errors)
        if not self.form().errors().get(name):
            shown.discard(name)
        self.say("errors", lambda: {k: v for k, v in self.form().errors().items() if k in shown})

    def enter(self, **params: Any) -> None:
        self.can_go_back = self.session.enrolled
        if not self.ids.server.text:
            self.ids.server.text = self.session.settings.server_url

    def form(self) -> EnrolForm:
        return EnrolForm(
            mode=self.mode,
            server=self.ids.server.text,
            code=self.ids.code.text,
            username=self.ids.username.text,
            password=self.ids.password.text,
        )

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.errors = {}
        self.message = ""

    def enrol(self) -> None:
        if self.busy:
            return
        form = self.form()
        if form.take_qr(form.code):  # the QR's text pasted or scanned into the code box
            self.ids.server.text, self.ids.code.text = form.server, form.code
        self.say("errors", form.errors)  # asked again in the new language after a switch
        if self.errors:
            self.message = ""
            return
        server = normalise_server(form.server)
        self.busy = True
        self.say("message", lambda: _("Connecting to {server}…").format(server=server))

        def work() -> Any:
            if form.mode == "code":
                return self.session.enrol(server_url=server, code=form.code_text())
            return self.session.enrol(
                server_url=server, username=form.username.strip(), password=form.password
            )

        in_background(work, self._enrolled)

    def _enrolled(self, _result: Any, error: BaseException | None) -> None:
        self.busy = False
        if error is None:
            self.message = ""
            self.ids.password.text = ""
            self.app.changed()
            self.app.home()  # the background sync starts with the enrolment
            return
        if isinstance(error, EnrolError):
            failed = error  # its words chosen again in the new language after a switch
            self.say("message", lambda: str(failed))
        else:
            self.say("message", lambda: _("Enrolment failed: {reason}").format(reason=error))
