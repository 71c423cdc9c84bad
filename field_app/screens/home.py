"""Home: my projects with this quarter's progress, and the sync bar.

The bar's counts of what waits and the cards' waiting lines change together, from one refresh:
the bar said "Everything is sent" for a few frames above a card still "Waiting to be sent: 1
record", and a tap in those frames landed on a card being replaced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from field_app.controllers.custody import custody_text
from field_app.controllers.home import period_heading, project_card, waiting_line
from field_app.controllers.status import SyncStatus, sync_bar
from field_app.screens import theme
from field_app.screens.base import BaseScreen
from field_app.screens.widgets import Card, ProgressLine, text_width

# A button's label plus its padding (2 × 18), the text box's margin and room for bold glyphs.
BUTTON_PADDING = dp(60)

# What of a sync status the project cards count too (their waiting lines and attention): the bar
# shows these only with cards read from the same state.
COUNTED = ("pending", "changes", "photos", "photo_bytes", "attention")

# Reads of the cards before a refresh shows the last ones, when a sync keeps changing what
# waits while they are read (the sync's next report refreshes again).
CARD_READS = 3


def counted(status: SyncStatus) -> tuple[int, ...]:
    return tuple(getattr(status, name) for name in COUNTED)


class HomeScreen(BaseScreen):
    cards = ListProperty([])
    user = StringProperty("")
    attention = NumericProperty(0)
    empty = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app.bind(
            sync_running=self.update_sync_bar,
            sync_status=self.update_sync_bar,
            landscape=self._lay_out,
            short=self._place_custody,
        )
        self._status: Any = None

    def on_kv_post(self, base_widget: Any) -> None:
        self._place_custody()

    def _place_custody(self, *_args: Any) -> None:
        """Under the projects, scrolling with them, on a phone held sideways; else fixed above
        the sync bar. Fixed there, with the app bar and the sync bar, it left the cards a strip
        of 60 to 80 px (a card's title cut in half)."""
        custody = self.ids.custody.__self__  # the widgets, not the ids' weak proxies
        scrolled = self.ids.scrolled.__self__
        if self.app.short and custody.parent is not scrolled:
            custody.parent.remove_widget(custody)
            scrolled.add_widget(custody)  # under the projects
        elif not self.app.short and custody.parent is scrolled:
            scrolled.remove_widget(custody)
            column = self.ids.sync_bar.parent
            column.add_widget(custody, index=column.children.index(self.ids.sync_bar) + 1)

    def gather(self) -> dict[str, Any]:
        session = self.session
        # The status read before and after the cards counts the same: the cards were read
        # from the state the bar will count (a sync that sent a record between the two reads
        # made the bar say "Everything is sent" above a card still waiting).
        status = session.status()
        for _read in range(CARD_READS):
            cards = self._cards()
            before, status = status, session.status()
            if counted(status) == counted(before):
                break
        enrolment = session.enrolment()
        return {
            "cards": cards,
            "status": status,
            "custody": custody_text(session.custody()),
            "user": f"{enrolment.username} · {enrolment.server_url}" if enrolment else "",
        }

    def _cards(self) -> list[dict[str, Any]]:
        session = self.session
        backend = session.backend
        today = session.today()
        # Counted as the sync bar counts it, so that the cards add up to the bar.
        waiting = backend.waiting_by_project()
        cards = []
        for project in session.projects():
            pid = str(project["id"])
            targets = backend.targets(pid)
            # Progress reads only the light fields of the activities that may count this year,
            # in SQLite: cheap with 10 000 records (and skipped with no target to show).
            card = project_card(
                project,
                activities=backend.progress_activities(pid, today.year) if targets else [],
                states=backend.activity_states(pid),
                targets=targets,
                participants=backend.participants(pid),
                today=today,
                waiting=waiting.get(pid),
            )
            cards.append(
                {
                    "project_id": card.id,
                    "title": card.title,
                    "meta": card.meta,
                    "heading": period_heading(card),
                    "lines": [
                        {
                            "label": line.label,
                            "figures": line.figures(),
                            "fraction": (line.percent or 0) / 100,
                        }
                        for line in card.lines
                    ],
                    "activities": card.activities,
                    "pending": card.pending,
                    "waiting": waiting_line(card),
                    "attention": card.attention,
                }
            )
        return cards

    def show(self, data: dict[str, Any]) -> None:
        if data["cards"] != self.cards or not self.ids.projects.children:
            self.cards = data["cards"]
            self._lay_out()  # only when a card changed: no flicker, no lost touch
        self.empty = not self.cards
        self.user = data["user"]
        self._show_status(data["status"])
        custody, line = data["custody"], self.ids.custody
        line.headline, line.detail, line.tone = custody.headline, custody.detail, custody.tone

    def _lay_out(self, *_args: Any) -> None:
        # Cards of different heights in columns (two in landscape), each column from the top.
        row = self.ids.projects
        row.clear_widgets()
        columns = [
            BoxLayout(orientation="vertical", spacing=theme.PAD, size_hint_y=None)
            for _ in range(2 if self.app.landscape else 1)
        ]
        for index, data in enumerate(self.cards):
            view = ProjectCardView(**{k: v for k, v in data.items() if k != "lines"})
            view.show_lines(data["lines"])
            columns[index % len(columns)].add_widget(view)
        for column in columns:
            column.bind(minimum_height=column.setter("height"), height=self._fit_projects)
            column.pos_hint = {"top": 1}
            row.add_widget(column)
        self._fit_projects()

    def _fit_projects(self, *_args: Any) -> None:
        """The projects' box as tall as its tallest column, whenever a card grows (its lines
        wrap once laid out). Sized once when the columns came, it stayed a card's first
        height: the cards' lower half hung out of the scrolled area, out of reach, and on a
        phone held sideways the custody line lay over them."""
        row = self.ids.projects
        row.height = max([c.height for c in row.children] + [0]) + row.padding[1] + row.padding[3]

    def update_sync_bar(self, *_args: Any) -> None:
        """The bar alone, from the status the app read off the UI thread (a few label
        updates, no store read): a sync starting or ending, an upload's progress, the last
        success or error. What waits it counts only with the cards: a status that counts
        otherwise shows the rest now, and its counts with the cards of the refresh it asks
        for (in the same frame)."""
        status = self.app.sync_status or self._status
        if status is None:
            return
        shown = self._status
        if shown is not None and counted(status) != counted(shown):
            status = replace(status, **{name: getattr(shown, name) for name in COUNTED})
            self._data_changed()  # one refresh a frame, whoever else asks for it
        self._show_status(status)

    def _show_status(self, status: Any) -> None:
        self._status = status
        self.attention = status.attention
        # The last success is the server's time of that round: measured on the server's
        # clock as the tablet knows it, never the tablet's own (which may be days off).
        text = sync_bar(status, self.session.now())
        bar = self.ids.sync_bar
        bar.headline, bar.detail, bar.error, bar.tone, bar.progress = (
            text.headline,
            text.detail,
            text.error,
            text.tone,
            text.progress,
        )
        bar.running = self.app.sync_running

    def open_project(self, project_id: str) -> None:
        self.app.show("activities", project_id=project_id)

    def new_activity(self, project_id: str) -> None:
        self.app.show("form", project_id=project_id)


class ProjectCardView(Card):
    project_id = StringProperty("")
    title = StringProperty("")
    meta = StringProperty("")
    heading = StringProperty("")
    activities = NumericProperty(0)
    pending = NumericProperty(0)
    waiting = StringProperty("")  # "Waiting to be sent: 2 records, 1 photo", or ""
    attention = NumericProperty(0)

    def on_kv_post(self, base_widget: Any) -> None:
        grid = self.ids.buttons
        grid.bind(width=self.fit_buttons)
        for button in grid.children:
            button.bind(text=self.fit_buttons)
        self.fit_buttons()

    def fit_buttons(self, *_args: Any) -> None:
        """Activities, Measurements and New activity side by side when each label fits a
        third of the card, else one under the other."""
        grid = self.ids.buttons
        buttons = list(grid.children)
        widest = max(
            text_width(b.text, b.font_size, b.bold, b.font_name) + BUTTON_PADDING for b in buttons
        )
        grid.cols = len(buttons) if widest * len(buttons) + grid.spacing[0] * 2 <= grid.width else 1

    def show_lines(self, lines: list[dict[str, Any]]) -> None:
        box = self.ids.lines
        box.clear_widgets()
        for line in lines:
            box.add_widget(ProgressLine(**line))
