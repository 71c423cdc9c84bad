"""Widgets every screen uses: buttons, fields with their error line, badges, cards, the app bar
and the sync bar. Their look is in ``widgets.kv``; the classes hold properties only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior, ToggleButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.spinner import Spinner, SpinnerOption
from kivy.uix.textinput import TextInput

from field_app import i18n
from field_app.controllers import dates
from field_app.screens import theme
from field_app.screens.base import Says


class PMButton(ButtonBehavior, Label):
    """A flat button with a label; ``kind`` is primary, secondary or danger.

    A label too long for one line (a phone, a longer translation) takes two when they fit the
    button's height, rather than lose its end ("Enrol with another server or ac..."); only a
    label too long for two lines is cut."""

    kind = StringProperty("primary")
    icon = StringProperty("")
    # False hides the button: no height, nothing drawn (not merely faded, as disabled is).
    shown = BooleanProperty(True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refit = Clock.create_trigger(self._fit_label)
        self.bind(
            text=self._refit,
            text_size=self._refit,
            height=self._refit,
            font_size=self._refit,
            bold=self._refit,
        )

    def _fit_label(self, *_args: Any) -> None:
        if not self.text or self.text_size[0] is None:
            return
        # The label's own padding comes off the text box's width.
        room = self.text_size[0] - self.padding[0] - self.padding[2]
        if room <= 0:
            return
        if text_width(self.text, self.font_size, self.bold, self.font_name) + 4 <= room:
            self.shorten = True  # one line: nothing to cut
            return
        two = CoreLabel(
            text=self.text,
            text_size=(room, None),
            font_size=self.font_size,
            bold=self.bold,
            font_name=self.font_name,
            halign=self.halign,
        )
        two.refresh()
        lines = len(two._cached_lines)  # Kivy's layout of the text
        self.shorten = not (lines <= 2 and two.texture.size[1] <= self.height)


class Chip(ToggleButtonBehavior, Label):
    """A filter chip: one of a group is down."""

    value = StringProperty("")


class Badge(Label):
    state_name = StringProperty("")


class Card(BoxLayout):
    pass


class Heading(Label):
    pass


class BodyText(Label):
    pass


class FieldInput(TextInput):
    """A text box that shows its field's error by its border."""

    field_name = StringProperty("")
    has_error = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        # Kivy 2.3 caches the font of its text lines the first time it lays text out, which a
        # kv rule can cause before it sets font_size; lay the text out again with the final font.
        self._refresh_line_options()


class ChoiceOption(SpinnerOption):
    pass


class ChoiceField(Spinner):
    """A picker over ``(code, label)`` pairs; ``code`` is what was chosen."""

    field_name = StringProperty("")
    pairs = ListProperty([])
    code = StringProperty("")
    has_error = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("option_cls", ChoiceOption)
        super().__init__(**kwargs)
        self.bind(pairs=self._show, code=self._show)
        app = App.get_running_app()
        if app is not None:
            app.bind(lang=self._show)  # "Choose…" follows a language switch at once

    def _show(self, *_args: Any) -> None:
        self.values = [label for _code, label in self.pairs]
        self.text = next(
            (label for code, label in self.pairs if code == self.code), i18n._("Choose…")
        )

    def on_text(self, _instance: Any, text: str) -> None:
        code = next((code for code, label in self.pairs if label == text), None)
        if code is not None and code != self.code:
            self.code = code


class DateField(ButtonBehavior, Label):
    """A date: shown in words ("14 March 2025"), chosen on a calendar (``DatePicker``);
    ``value`` is the ISO date the form reads ("" when none)."""

    field_name = StringProperty("")
    value = StringProperty("")
    has_error = BooleanProperty(False)
    latest = ObjectProperty(None, allownone=True)  # no day after this one can be chosen

    def shown(self, value: str, _lang: str) -> str:
        return dates.in_words(value) if value else i18n._("Choose a date…")

    def on_release(self) -> None:
        DatePicker(
            chosen=dates.parse(self.value),
            latest=self.latest,
            on_chosen=self._chosen,
            title=lambda: i18n._("Choose a date"),
        ).open()

    def _chosen(self, day: date) -> None:
        self.value = day.isoformat()


class DayButton(ToggleButtonBehavior, Label):
    day = ObjectProperty(None, allownone=True)
    today = BooleanProperty(False)


class DatePicker(Says, Popup):
    """A month of days, Monday first, with the month's name in the user's language; ‹ and ›
    move by a month. Days after ``latest`` cannot be chosen.

    Today (marked, and the Today button) is the session's day: the server's clock as the
    tablet knows it, like every other date the app decides on. The tablet's own clock, days
    off, marked another day and chose it with Today. Its title, month and weekdays follow a
    language switch while it is open."""

    heading = StringProperty("")
    weekdays = ListProperty([])

    def __init__(
        self,
        *,
        chosen: date | None,
        latest: date | None,
        on_chosen: Callable[[date], None],
        title: Callable[[], str],
        **kwargs: Any,
    ) -> None:
        self.chosen = chosen
        self.latest = latest
        self._on_chosen = on_chosen
        self.today: date = App.get_running_app().session.today()
        start = chosen or latest or self.today
        self.year, self.month = start.year, start.month
        super().__init__(**kwargs)
        self.say("title", title)
        self.say("weekdays", dates.weekday_names)
        self.show_month()

    def move(self, by: int) -> None:
        self.year, self.month = dates.shift_month(self.year, self.month, by)
        self.show_month()

    def show_month(self) -> None:
        year, month = self.year, self.month
        self.say("heading", lambda: dates.month_title(year, month))
        grid = self.ids.days
        grid.clear_widgets()
        for week in dates.weeks(self.year, self.month):
            for day in week:
                button = DayButton(
                    text=str(day.day) if day else "",
                    day=day,
                    today=day == self.today,
                    state="down" if day is not None and day == self.chosen else "normal",
                    disabled=day is None or (self.latest is not None and day > self.latest),
                )
                button.bind(on_release=self._picked)
                grid.add_widget(button)

    def _picked(self, button: DayButton) -> None:
        if button.day is not None:
            self.choose(button.day)

    def choose(self, day: date) -> None:
        self.dismiss()
        self._on_chosen(day)


class FieldBox(BoxLayout):
    """A label, the field's widget and the error (or warning) line under it."""

    label = StringProperty("")
    error = StringProperty("")
    warning = StringProperty("")
    required = BooleanProperty(False)

    def add_widget(self, widget: Any, *args: Any, **kwargs: Any) -> None:
        # The rule's own two labels come first; a field added by a screen's rule goes between
        # them (index 1 counts from the bottom: above the error line).
        if len(self.children) >= 2:
            kwargs["index"] = 1
            args = ()
        super().add_widget(widget, *args, **kwargs)

    # A box hidden by its rule (height 0 or transparent: the enrolment's username and password
    # while a code is used, the new site's boxes) keeps its children at their own heights, lying
    # over the fields around it; disabled, they would swallow every touch there.
    def hidden(self) -> bool:
        return self.height <= 0 or self.opacity <= 0

    def on_touch_down(self, touch: Any) -> bool:
        return False if self.hidden() else bool(super().on_touch_down(touch))

    def on_touch_move(self, touch: Any) -> bool:
        return False if self.hidden() else bool(super().on_touch_move(touch))

    def on_touch_up(self, touch: Any) -> bool:
        return False if self.hidden() else bool(super().on_touch_up(touch))


class AppBarRow(BoxLayout):
    """A row of the app bar (its own children; anything else a screen puts in the bar goes
    to :attr:`AppBar.actions`)."""


class AppBar(BoxLayout):
    """Back, the screen's title and subtitle, and the screen's own buttons (those a screen's
    rule puts in the bar, kept in :attr:`actions`).

    The title is never cut (a phone showed "Verifica..." beside Save, nothing of "Mes
    projets" beside two buttons). It stays on one line beside the buttons when it fits, else
    on two; else the buttons go on a row of their own under it (``stacked``) and the title
    takes the bar's width, on two lines at most in the title's size, or in the body text's
    size on as many lines as it needs. The subtitle (the project's code and name) is never
    cut either: it wraps, and the buttons go under it too when it needs more than two lines
    beside them ("LSO-C... chain" beside Save). The bar grows to hold it."""

    title = StringProperty("")
    subtitle = StringProperty("")
    show_back = BooleanProperty(True)
    stacked = BooleanProperty(False)  # the screen's buttons on a row under the title
    title_font = NumericProperty(theme.TEXT_TITLE)

    def __init__(self, **kwargs: Any) -> None:
        self.actions = BoxLayout(
            size_hint=(None, None),
            size=(0, theme.TOUCH),
            spacing=dp(8),
            pos_hint={"center_y": 0.5},
        )
        self.actions.bind(minimum_width=self.actions.setter("width"))
        self._refit = Clock.create_trigger(self._fit)
        super().__init__(**kwargs)
        self.bind(width=self._refit, title=self._refit, subtitle=self._refit, show_back=self._refit)
        self.actions.bind(width=self._refit)

    def on_kv_post(self, base_widget: Any) -> None:
        self._place_actions()
        self.ids.back.bind(width=self._refit)
        self._refit()

    def add_widget(self, widget: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(widget, AppBarRow):
            super().add_widget(widget, *args, **kwargs)
        else:
            self.actions.add_widget(widget, *args, **kwargs)  # a screen's own button

    def _fit(self, *_args: Any) -> None:
        if "top_row" not in self.ids or self.width <= 1:
            return
        label, row = self.ids.title, self.ids.top_row
        # The title's room with nothing beside it but Back (the titles' box pads 8 + 8).
        alone = self.width - self.padding[0] - self.padding[2] - self.ids.back.width
        alone -= row.spacing + dp(16)
        buttons = self.actions.width + row.spacing if self.actions.children else 0

        def fits(room: float, lines: int) -> bool:
            return title_lines(self.title, room, theme.TEXT_TITLE, label.font_name) <= lines

        def subtitle_fits(room: float) -> bool:
            # The subtitle (the project's code and name) wraps, on two lines at most beside
            # the buttons, never a word cut in the middle.
            if not self.subtitle:
                return True
            font = self.ids.subtitle.font_name
            return title_lines(self.subtitle, room, theme.TEXT_SMALL, font, bold=False) <= 2

        if not buttons or (fits(alone - buttons, 2) and subtitle_fits(alone - buttons)):
            stacked = False
            room = alone - buttons
        else:
            stacked, room = True, alone
        self.title_font = theme.TEXT_TITLE if fits(room, 2) else theme.TEXT
        self.stacked = stacked

    def on_stacked(self, _bar: Any, _stacked: bool) -> None:
        self._place_actions()

    def _place_actions(self) -> None:
        if "top_row" not in self.ids:
            return
        row = self.ids.actions_row if self.stacked else self.ids.top_row
        if self.actions.parent is not row:
            if self.actions.parent is not None:
                self.actions.parent.remove_widget(self.actions)
            row.add_widget(self.actions)


def title_lines(
    text: str, room: float, font_size: float, font_name: str = "Roboto", *, bold: bool = True
) -> float:
    """How many lines a (bold) title takes in ``room`` pixels wrapped at spaces; infinite when
    one word is wider than the room (Kivy would cut it in the middle)."""
    if room <= 0:
        return float("inf")
    words = text.split()
    if any(text_width(w, font_size, bold, font_name) > room for w in words):
        return float("inf")
    layout = CoreLabel(
        text=text, text_size=(room, None), font_size=font_size, bold=bold, font_name=font_name
    )
    layout.refresh()
    return len(layout._cached_lines)


def within_lines(
    text: str,
    room: float,
    lines: int,
    font_size: float,
    bold: bool = False,
    font_name: str = "Roboto",
) -> str:
    """``text`` if it fits ``lines`` lines of ``room`` pixels, else as much as fits, cut after
    a word, with "…": Kivy's ``shorten`` cuts one line only, and ``max_lines`` drops the
    lines after the last without a sign that anything is missing."""
    if room <= 1 or not text:
        return text

    def fits(candidate: str) -> bool:
        layout = CoreLabel(
            text=candidate,
            text_size=(room, None),
            font_size=font_size,
            bold=bold,
            font_name=font_name,
        )
        layout.refresh()
        return len(layout._cached_lines) <= lines

    if fits(text):
        return text

    def cut(parts: list[str], joint: str) -> str:
        # The most parts that fit with the ellipsis ("" when not even one does).
        low, high = 0, len(parts)
        while low < high:
            middle = (low + high + 1) // 2
            if fits(joint.join(parts[:middle]).rstrip(" ,;·") + "…"):
                low = middle
            else:
                high = middle - 1
        return joint.join(parts[:low]).rstrip(" ,;·") + "…" if low else ""

    # After a word; inside the first word only when it alone is too long for the lines.
    return cut(text.split(" "), " ") or cut(list(text), "") or "…"


class SyncBar(BoxLayout):
    """What waits (records, photos, megabytes), the current upload's progress, the last
    successful sync, the last error by its cause, and Sync now: beside the lines when they
    have room (``LINES_ROOM``, every word whole), else under them (``stacked``, a phone).

    On a phone held sideways (``app.short``) the bar is ``compact``: each line on one line,
    cut with "…" (the counts come first); a touch on them shows them whole, another folds
    them again. Wrapped whole there, in French or Portuguese, the bar took 150 of the 360 px
    and left the projects a strip."""

    headline = StringProperty("")
    detail = StringProperty("")
    error = StringProperty("")
    running = BooleanProperty(False)
    tone = StringProperty("ok")  # ok | pending | error
    progress = NumericProperty(-1.0)  # the photo going now, 0…1; -1 when none
    stacked = BooleanProperty(False)  # Sync now under the lines rather than beside them
    compact = BooleanProperty(False)  # one line each, cut: a phone held sideways
    expanded = BooleanProperty(False)  # the lines shown whole after a touch, even there

    # Beside Sync now the lines need this much room, else they go in a column a few words
    # wide (a phone showed "enregistreme / nts", a word cut in the middle).
    LINES_ROOM = dp(240)

    def __init__(self, **kwargs: Any) -> None:
        self._refit = Clock.create_trigger(self._fit)
        super().__init__(**kwargs)
        self.bind(width=self._refit, headline=self._refit, detail=self._refit, error=self._refit)
        self.bind(expanded=self._fold)
        App.get_running_app().bind(short=self._fold)
        self._fold()

    def on_kv_post(self, base_widget: Any) -> None:
        self.ids.sync_button.bind(width=self._refit)
        self._refit()

    def _fold(self, *_args: Any) -> None:
        self.compact = bool(App.get_running_app().short) and not self.expanded

    def on_touch_down(self, touch: Any) -> bool:
        if super().on_touch_down(touch):
            return True  # Sync now
        lines = self.ids.get("lines")
        if App.get_running_app().short and lines is not None and lines.collide_point(*touch.pos):
            self.expanded = not self.expanded
            return True
        return False

    def _fit(self, *_args: Any) -> None:
        if "sync_button" not in self.ids or self.width <= 1:
            return
        room = self.width - self.padding[0] - self.padding[2]
        room -= self.ids.sync_button.width + self.spacing
        lines = (
            (self.headline, theme.TEXT, True),
            (self.detail, theme.TEXT_SMALL, False),
            (self.error, theme.TEXT_SMALL, True),
        )
        font = self.ids.headline_label.font_name
        self.stacked = room < self.LINES_ROOM or any(
            title_lines(text, room, size, font, bold=bold) == float("inf")
            for text, size, bold in lines
            if text
        )


class CustodyLine(BoxLayout):
    """ "Safe to wipe", or what is not yet safe on the server (records, photos, the oldest)."""

    headline = StringProperty("")
    detail = StringProperty("")
    tone = StringProperty("pending")  # ok | pending


class ProgressLine(BoxLayout):
    label = StringProperty("")
    figures = StringProperty("")
    fraction = NumericProperty(0.0)


def colour_of(kind: str) -> tuple[float, float, float, float]:
    return {"primary": theme.PRIMARY, "danger": theme.ERROR}.get(kind, theme.PAPER)


def text_width(text: str, font_size: float, bold: bool = False, font_name: str = "Roboto") -> float:
    """How wide ``text`` is drawn on one line, in pixels: for buttons sized to their label
    (a count or a longer translation must not be cut off)."""
    label = CoreLabel(font_size=font_size, bold=bold, font_name=font_name)
    width: float = label.get_extents(text)[0]
    return width


class Confirmation(Says, Popup):
    """A question before something that cannot be undone, in the app's light style (as the
    calendar and the photo chooser; Kivy's own popup is dark grey with small white words):
    ``title`` is said again after a language switch, ``confirmed`` runs on the danger button."""

    def __init__(self, confirmed: Callable[[], Any], *, title: Callable[[], str], **kwargs: Any):
        super().__init__(**kwargs)
        self.say("title", title)
        self._confirmed = confirmed

    def confirm(self) -> None:
        self.dismiss()
        self._confirmed()


class ConfirmDiscard(Confirmation):
    """Leave without saving?"""

    def discard(self) -> None:
        self.confirm()


class ConfirmDelete(Confirmation):
    """Delete this record?"""

    def delete(self) -> None:
        self.confirm()
