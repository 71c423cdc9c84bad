"""Roster: register participants by the code on their card (typed, or scanned where the tablet
has a scanner) and tick who attended; the ticks, and if asked the attendance they make, go back
into the activity form."""

from __future__ import annotations

from datetime import date
from typing import Any

from kivy.clock import Clock, mainthread
from kivy.core.text import Label as CoreLabel
from kivy.metrics import dp
from kivy.properties import BooleanProperty, DictProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from field_app.controllers import labels
from field_app.controllers.roster import Roster, code_from_scan
from field_app.device import DeviceUnavailable
from field_app.i18n import _, language
from field_app.screens import theme
from field_app.screens.base import BaseScreen
from field_app.screens.widgets import title_lines

ROW_PADDING = dp(6)  # above and below a row's two lines (roster.kv)
ROW_HEIGHT = theme.TOUCH + dp(12)  # a row whose details take one line
CHECK_WIDTH = dp(40)  # the tick box at a row's left


def text_height(text: str, room: float | None, font_size: float, *, bold: bool = False) -> float:
    """The height of ``text`` wrapped at spaces in ``room`` pixels (one line when None)."""
    layout = CoreLabel(text=text, text_size=(room, None), font_size=font_size, bold=bold)
    layout.refresh()
    return float(layout.texture.size[1])


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
    # On a phone the two buttons under the list go one above the other, each on the screen's
    # width: side by side "Fill attendance from ticks" read "Remplir la p…", "Preencher …".
    buttons_stacked = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        # Before the rule (on_kv_post binds them).
        self._heights: dict[tuple[str, float], float] = {}
        self._refit_buttons = Clock.create_trigger(self._fit_buttons)
        self._refresh_rows = Clock.create_trigger(lambda _dt: self.refresh())
        super().__init__(**kwargs)
        self.roster: Roster | None = None
        self._form: Any = None
        self._language = ""

    def on_kv_post(self, base_widget: Any) -> None:
        self.app.bind(short=self._place_buttons)
        self._place_buttons()
        self.ids.search.bind(text=lambda _box, text: self._search(text))
        self.ids.rows.bind(width=self._refresh_rows)
        buttons = self.ids.buttons
        buttons.bind(width=self._refit_buttons)
        for button in (self.ids.fill_button, self.ids.done_button):
            button.bind(text=self._refit_buttons, font_size=self._refit_buttons)

    def _place_buttons(self, *_args: Any) -> None:
        """Under the list, or on a phone held sideways under the register card: there the
        search, the list and the buttons one above the other left the list less than a row."""
        buttons = self.ids.buttons.__self__  # the widgets, not the ids' weak proxies
        column = (self.ids.register_column if self.app.short else self.ids.list_column).__self__
        if buttons.parent is not column:
            buttons.parent.remove_widget(buttons)
            column.add_widget(buttons)

    def _fit_buttons(self, *_args: Any) -> None:
        """Side by side when each label fits its half on two lines (every word whole), else
        stacked."""
        buttons = self.ids.buttons
        if buttons.width <= 1:
            return
        half = (buttons.width - buttons.spacing) / 2
        stacked = False
        for button in (self.ids.fill_button, self.ids.done_button):
            # The button's padding and its text box's margin (PMButton in widgets.kv).
            room = half - dp(8) - button.padding[0] - button.padding[2]
            if title_lines(button.text, room, button.font_size, button.font_name) > 2:
                stacked = True
        self.buttons_stacked = stacked

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
        if self._language != language():
            # The category picker's names follow a language switch ("Farmers" stayed).
            self._language = language()
            self.ids.category.pairs = labels.choices(labels.CATEGORIES)
        self.ids.rows.data = [
            {
                "participant_id": r.id,
                "code": r.code,
                "details": r.details,
                "ticked": r.ticked,
                "height": self._row_height(r.details),
            }
            for r in self.roster.rows()
        ]
        self.ticked_count = len(self.roster.ticked)

    def _row_height(self, details: str) -> float:
        """A row is as tall as its details wrapped on the list's width need (on a phone the
        year of birth and the disability were cut out of the middle: "né(e) e…tion de
        handicap"); one line's rows keep their height."""
        room = self.ids.rows.width - 2 * theme.PAD - CHECK_WIDTH - theme.GAP
        if room <= 0:
            return ROW_HEIGHT
        key = (details, room)
        if key not in self._heights:
            if len(self._heights) > 4096:
                self._heights.clear()
            lines = text_height("Ag", None, theme.TEXT, bold=True)  # the code: one line, cut
            lines += text_height(details, room, theme.TEXT_SMALL)
            self._heights[key] = max(ROW_HEIGHT, lines + 2 * ROW_PADDING)
        return self._heights[key]

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
        roster = self.roster
        code = self.ids.code.text
        known = roster.by_code(code_from_scan(code)) if code.strip() else None
        sex, year, category = self.sex, self.ids.birth_year.text, self.ids.category.code
        disability = self.disability
        participant, errors = roster.register(
            code=code, sex=sex, birth_year=year, category=category, disability=disability
        )
        if errors:
            # Asked again in the new language after a switch (nothing is registered by it).
            self.say(
                "errors",
                lambda: roster.check(
                    code=code, sex=sex, birth_year=year, category=category, disability=disability
                )[1],
            )
            self.message = ""
            return
        self.errors = {}
        if participant is not None:
            self.session.backend.save_participant(participant)
            new = participant["code"]
            self.say("message", lambda: _("{code} registered and ticked").format(code=new))
        elif known is not None:
            old = known["code"]
            self.say("message", lambda: _("{code} is already registered: ticked").format(code=old))
        self.ids.code.text = ""
        self.ids.birth_year.text = ""
        self.refresh()

    def scan(self) -> None:
        try:
            self.session.device.scan_qr(self._scanned)
        except DeviceUnavailable as exc:
            missing = exc  # its words chosen again in the new language after a switch
            self.say("message", lambda: str(missing))

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
                form.set_participants(self.roster.ticked)
        self.app.back()
