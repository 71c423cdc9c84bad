"""Roster: register participants by the code on their card (typed, or scanned where the tablet
has a scanner) and tick who attended; the ticks, and if asked the attendance they make, go back
into the activity form."""

from __future__ import annotations

from datetime import date
from typing import Any

from kivy.clock import mainthread
from kivy.properties import BooleanProperty, DictProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from field_app.controllers import labels
from field_app.controllers.roster import Roster, code_from_scan
from field_app.device import DeviceUnavailable
from field_app.i18n import _
from field_app.screens.base import BaseScreen


class RosterRowView(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    participant_id = StringProperty("")
    code = StringProperty("")
    details = StringProperty("")
    ticked = BooleanProperty(False)

    def on_release(self) -> None:
        from kivy.app import App

        App.get_running_app().screen("roster").toggle(self.participant_id)


class RosterScreen(BaseScreen):
    project_title = StringProperty("")
    errors = DictProperty({})
    message = StringProperty("")
    ticked_count = NumericProperty(0)
    sex = StringProperty("female")
    disability = BooleanProperty(False)
    has_scanner = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roster: Roster | None = None
        self._form: Any = None

    def on_kv_post(self, base_widget: Any) -> None:
        self.ids.search.bind(text=lambda _box, text: self._search(text))

    def enter(
        self,
        project_id: str | None = None,
        ticked: list[str] | None = None,
        form: Any = None,
        returning: bool = False,
        **_params: Any,
    ) -> None:
        if returning or project_id is None:
            self.refresh()
            return
        project = self.session.project(project_id) or {}
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        self._form = form
        self.roster = Roster(
            project_id=project_id,
            participants=self.session.backend.participants(project_id),
            ticked=ticked or [],
            today=self.session.today(),
        )
        self.errors, self.message = {}, ""
        self.has_scanner = self.session.device.has_qr_scanner()
        category = self.ids.category
        category.pairs = labels.choices(labels.CATEGORIES)
        category.code = "farmer"
        category._show()
        self.refresh()

    def refresh(self) -> None:
        if self.roster is None:
            return
        self.ids.rows.data = [
            {"participant_id": r.id, "code": r.code, "details": r.details, "ticked": r.ticked}
            for r in self.roster.rows()
        ]
        self.ticked_count = len(self.roster.ticked)

    def _search(self, text: str) -> None:
        if self.roster is not None:
            self.roster.query = text
            self.refresh()

    def toggle(self, participant_id: str) -> None:
        if self.roster is not None:
            self.roster.tick(participant_id)
            self.refresh()

    def register(self) -> None:
        assert self.roster is not None
        code = self.ids.code.text
        known = self.roster.by_code(code_from_scan(code)) if code.strip() else None
        participant, errors = self.roster.register(
            code=code,
            sex=self.sex,
            birth_year=self.ids.birth_year.text,
            category=self.ids.category.code,
            disability=self.disability,
        )
        self.errors = errors
        if errors:
            self.message = ""
            return
        if participant is not None:
            self.session.backend.save_participant(participant)
            self.message = _("{code} registered and ticked").format(code=participant["code"])
        elif known is not None:
            self.message = _("{code} is already registered: ticked").format(code=known["code"])
        self.ids.code.text = ""
        self.ids.birth_year.text = ""
        self.refresh()

    def scan(self) -> None:
        try:
            self.session.device.scan_qr(self._scanned)
        except DeviceUnavailable as exc:
            self.message = str(exc)

    @mainthread
    def _scanned(self, text: str | None) -> None:
        if text:
            self.ids.code.text = code_from_scan(text)
            self.register()

    def done(self, fill_attendance: bool = False) -> None:
        assert self.roster is not None
        form = self._form
        if form is not None:
            form.set_participants(self.roster.ticked)
            if fill_attendance:
                start = form.text("start_date")
                try:
                    year = date.fromisoformat(start).year
                except ValueError:
                    year = self.session.today().year
                form.attendance = self.roster.attendance(year)
                form.attendance_errors.clear()
                form.attendance_too_large.clear()
                form.set_participants(self.roster.ticked)
        self.app.back()
