"""Needs attention: records refused by the server, in conflict, returned by the country office or
at a site it rejected, the most urgent first; the officer's comment or the server's reasons, what
differs, and the way out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.utils import escape_markup

from field_app.controllers.attention import (
    AttentionItem,
    can_discard,
    cell_text,
    describe,
    keep_both,
    ordered,
    refused_as_not_yours,
    refused_reason,
    state_label,
)
from field_app.controllers.messages import keep_mine_at_rejected_site, rejected_site
from field_app.controllers.observations import attention_item
from field_app.i18n import _
from field_app.screens import theme
from field_app.screens.base import BaseScreen
from field_app.screens.widgets import Confirmation, text_width
from field_app.session import KeepMineRefused


class AttentionRow(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    record_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    state_name = StringProperty("")
    state_label = StringProperty("")
    selected = BooleanProperty(False)

    def on_release(self) -> None:
        from kivy.app import App

        App.get_running_app().screen("attention").select(self.record_id)


class AttentionScreen(BaseScreen):
    selected_id = StringProperty("")
    title = StringProperty("")
    reason = StringProperty("")
    state_name = StringProperty("")
    state_label = StringProperty("")
    differences = ListProperty([])
    errors = ListProperty([])
    # The attendance cells that differ, in words, when attendance is in conflict.
    cells = ListProperty([])
    # The two sides changed different attendance cells: both may be kept together.
    can_keep_both = BooleanProperty(False)
    empty = BooleanProperty(True)
    message = StringProperty("")
    message_tone = StringProperty("info")  # info | error (a way out that sent nothing)
    is_observation = BooleanProperty(False)  # a measurement: corrected by editing it
    # No edit is offered, only the way out below: the record is approved (the form would be
    # locked), or someone else recorded it (the server refuses any change of this tablet's).
    locked = BooleanProperty(False)
    # A refused change of a record the server holds: it may be discarded.
    can_discard = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: dict[str, AttentionItem] = {}
        self._observations: set[str] = set()
        self._records: dict[str, Any] = {}  # the LocalRecord behind each item
        self._rejected_sites: dict[str, str] = {}  # names of the sites the office rejected
        self._lay_out_later = Clock.create_trigger(self._lay_out_differences)
        self.ids.differences.bind(width=self._lay_out_later)

    def enter(self, **params: Any) -> None:
        self.message = ""
        self.refresh()

    def refresh(self) -> None:
        backend = self.session.backend
        records = backend.attention()
        names: dict[str, str] = {}
        rejected: dict[str, str] = {}
        for project_id in {str(r.data.get("project_id")) for r in records}:
            for s in backend.sites(project_id):
                names[str(s["id"])] = str(s.get("name", ""))
                if rejected_site(s):
                    rejected[str(s["id"])] = str(s.get("name", ""))
        self._rejected_sites = rejected
        items = [describe(r, site_names=names, rejected_sites=rejected) for r in records]
        # Measurements returned, in conflict or refused, next to the activities.
        measured = backend.observation_attention()
        if measured:
            forms = backend.forms()
            for project_id in {str(r.data.get("project_id")) for r in measured}:
                names.update(
                    {str(s["id"]): str(s.get("name", "")) for s in backend.sites(project_id)}
                )
            # A measurement refused as approved says so, as an activity does.
            items += [
                replace(item, reason=refused_reason(r) or item.reason)
                for r in measured
                for item in [attention_item(r, forms, site_names=names)]
            ]
        self._observations = {r.id for r in measured}
        self._records = {r.id: r for r in (*records, *measured)}
        items = ordered(items, self._records)
        self._items = {i.id: i for i in items}
        self.empty = not items
        if self.selected_id not in self._items:
            self.selected_id = items[0].id if items else ""
        self.ids.rows.data = [
            {
                "record_id": i.id,
                "title": i.title,
                "subtitle": i.subtitle,
                "state_name": i.state,
                "state_label": state_label(i.state),
                "selected": i.id == self.selected_id,
            }
            for i in items
        ]
        self._show()

    def select(self, record_id: str) -> None:
        self.selected_id = record_id
        self.message = ""
        self.refresh()

    def _show(self) -> None:
        item = self._items.get(self.selected_id)
        if item is None:
            self.title = self.reason = self.state_name = ""
            self.differences, self.errors, self.cells = [], [], []
            self.locked = self.can_discard = self.can_keep_both = False
            return
        self.title, self.reason, self.state_name = item.title, item.reason, item.state
        self.is_observation = item.id in self._observations
        record = self._records.get(item.id)
        self.locked = bool(record is not None and (record.locked or refused_as_not_yours(record)))
        self.can_discard = bool(record is not None and can_discard(record))
        self.state_label = state_label(item.state)
        self.differences = [(d.label, d.mine, d.theirs) for d in item.differences]
        self.cells = [cell_text(c) for c in item.cells]
        self.can_keep_both = item.combined_attendance is not None and not self.is_observation
        self.errors = [
            # "Start date: …", and in French "Date de début : …" (a space before the colon)
            _("{field}: {reason}").format(field=label, reason=message) if label else message
            for label, message in item.errors
        ]
        self._lay_out_differences()

    def _lay_out_differences(self, *_args: Any) -> None:
        """What differs, in a table (field, mine, theirs) when every word fits its column;
        else one under the other, each value named. On a phone the three columns broke
        words in the middle ("demonstrat / ion")."""
        table = self.ids.differences
        table.clear_widgets()
        if not self.differences:
            return
        headers = (_("Field"), _("Mine (this tablet)"), _("The server's"))
        texts = [*headers, *(text for row in self.differences for text in row)]
        if _words_fit(texts, table.width / 3 - 2 * DiffCell.PADDING):
            table.cols = 3
            rows = [[DiffCell(text=text, bold=True, header=True) for text in headers]]
            rows += [
                [DiffCell(text=label, bold=True), DiffCell(text=mine), DiffCell(text=theirs)]
                for label, mine, theirs in self.differences
            ]
        else:
            table.cols = 1
            rows = []
            for label, mine, theirs in self.differences:
                rows.append([DiffCell(text=label, bold=True, header=True)])
                for name, value in ((headers[1], mine), (headers[2], theirs)):
                    text = f"[b]{escape_markup(name)}[/b]\n{escape_markup(value)}"
                    rows.append([DiffCell(text=text, markup=True)])
        for row in rows:
            _same_height(row)
            for cell in row:
                table.add_widget(cell)

    def keep_mine(self) -> None:
        try:
            self.session.backend.keep_mine(self.selected_id)
        except KeepMineRefused as exc:
            refused = exc  # said again in the new language after a switch
            self.say("message", lambda: str(refused))
            self.message_tone = "error"
            return
        self.say("message", lambda: _("Your values will be sent again at the next sync."))
        self.message_tone = "info"
        self._done()

    def keep_both(self) -> None:
        """Write the attendance holding both sides' changes as this tablet's new value, on top
        of the server's version, as an edit would: the server applies it as an ordinary
        change and closes the conflict as superseded."""
        item = self._items.get(self.selected_id)
        record = self._records.get(self.selected_id)
        if item is None or record is None:
            return
        site = self._rejected_sites.get(str(record.data.get("site_id") or ""))
        if site is not None:  # the server would refuse any change of it
            self.say("message", lambda: keep_mine_at_rejected_site(site))
            self.message_tone = "error"
            return
        backend = self.session.backend
        save = keep_both(record, item, backend.photos(record.id))
        if save is None:
            return
        backend.save_activity(save)
        self.say("message", lambda: _("Both changes will be sent at the next sync."))
        self.message_tone = "info"
        self._done()

    def keep_theirs(self) -> None:
        self.session.backend.keep_theirs(self.selected_id)
        self.say("message", lambda: _("The server's values are kept."))
        self.message_tone = "info"
        self._done()

    def discard(self) -> None:
        """Drop the refused change of the record shown, after the user confirms; the tablet
        keeps the server's version (``DeviceStore.discard_refused``)."""
        if not self.can_discard:
            return
        record_id = self.selected_id
        ConfirmDiscardChange(
            lambda: self._discard(record_id), title=lambda: _("Discard your change?")
        ).open()

    def _discard(self, record_id: str) -> None:
        entity = "observation" if record_id in self._observations else "activity"
        if self.session.backend.discard_refused(entity, record_id):
            self.say(
                "message",
                lambda: _("Your change was discarded. This tablet keeps the server's version."),
            )
            self.message_tone = "info"
        self._done()
        self.app.status_changed()  # the sync bar's count of records needing attention

    def edit(self) -> None:
        if self.locked:
            return  # approved: the form would not save; the office must reopen it
        if self.selected_id in self._observations:
            self.app.show("observation", observation_id=self.selected_id)
        elif self.selected_id:
            self.app.show("form", activity_id=self.selected_id)

    def _done(self) -> None:
        self.app.changed()
        self.refresh()


class ConfirmDiscardChange(Confirmation):
    """Discard a refused change? In the app's light style, as the form's confirmations."""

    def discard(self) -> None:
        self.confirm()


class DiffCell(BoxLayout):
    PADDING = dp(8)  # on each side of its text (attention.kv)

    text = StringProperty("")
    bold = BooleanProperty(False)
    markup = BooleanProperty(False)
    header = BooleanProperty(False)
    natural = NumericProperty(0)  # the height its own text needs
    row_height = NumericProperty(0)  # the tallest natural height of its table row


def _same_height(cells: list[DiffCell]) -> None:
    """Cells of one table row share the height of the tallest, so their borders line up."""

    def fit(*_args: Any) -> None:
        tallest = max(c.natural for c in cells)
        for c in cells:
            c.row_height = tallest

    for cell in cells:
        cell.bind(natural=fit)
    fit()


def _words_fit(texts: list[str], room: float) -> bool:
    """Whether every word of ``texts`` fits ``room`` pixels in bold body text (the widest
    a cell draws), so that a wrapped cell breaks between words only."""
    return room > 0 and all(
        text_width(word, theme.TEXT, True) <= room for text in texts for word in text.split()
    )
