"""Measurements of a project: "Record a measurement" with each form the project offers, and
the project's observations with their states. The logic is
:mod:`field_app.controllers.observations`; the store is read on a worker thread.

The forms' buttons are the first item of the list and scroll away with it: standing still
above it, five forms took 328 px of a 640 px phone and left the project's 85 measurements a
94 px window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from field_app.controllers import observations as obs
from field_app.i18n import _
from field_app.screens.base import BaseScreen
from field_app.screens.widgets import PMButton, text_width

ELLIPSIS = "\u2026"
TOP = "MeasurementsTop"  # the list's first item: the forms and the list's heading


def ends_at_word(text: str, room: float, width: Callable[[str], float]) -> str:
    """``text`` on one line ``room`` wide: whole, or ended with "…" after the last whole word
    that fits ("Demonstration plot…"), never cut inside a word ("Demonst...t harvest") unless
    its first word alone is wider than the line."""
    if not text or width(text) <= room:
        return text
    words = text.split(" ")
    for count in range(len(words) - 1, 0, -1):
        shown = " ".join(words[:count]).rstrip(" ,;:·–-") + ELLIPSIS
        if width(shown) <= room:
            return shown
    first = words[0]
    for end in range(len(first) - 1, 0, -1):
        if width(first[:end] + ELLIPSIS) <= room:
            return first[:end] + ELLIPSIS
    return ELLIPSIS


class WordEndLabel(Label):
    """A one-line label for ``full_text`` that ends with "…" at a word boundary when the text
    is wider than the label (:func:`ends_at_word`)."""

    full_text = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refit = Clock.create_trigger(self._fit)
        self.bind(
            full_text=self._refit,
            width=self._refit,
            font_size=self._refit,
            bold=self._refit,
            padding=self._refit,
        )

    def _fit(self, *_args: Any) -> None:
        room = self.width - self.padding[0] - self.padding[2] - dp(2)
        if room <= 0:
            return
        self.text = ends_at_word(
            self.full_text,
            room,
            lambda text: text_width(text, self.font_size, self.bold, self.font_name),
        )


class FormButton(PMButton):
    form_id = StringProperty("")


class MeasurementsTop(RecycleDataViewBehavior, BoxLayout):
    """The list's first item: "Record a measurement" with a button for each form the project
    offers, and the heading of the project's measurements. As tall as what it holds: its
    height goes back into its data item, so the list lays it out right the next time too."""

    context = StringProperty("")
    forms = ListProperty([])  # (form id, button text)
    offered = BooleanProperty(True)
    count = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        self._rv: Any = None
        self._index: int | None = None
        super().__init__(**kwargs)
        self._refit = Clock.create_trigger(self._fit)
        self.bind(minimum_height=self._refit)

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> None:
        self._rv, self._index = rv, index
        self.context = data.get("context", "")
        self.offered = data.get("offered", True)
        self.count = data.get("count", 0)
        if data.get("forms", []) != list(self.forms) or not self.ids.forms.children:
            self.forms = data.get("forms", [])
            self._fill()
        self._refit()

    def refresh_view_layout(self, rv: Any, index: int, layout: Any, viewport: Any) -> None:
        super().refresh_view_layout(rv, index, layout, viewport)
        self._refit()  # laid out at a height kept from before: fit it again

    def _fill(self) -> None:
        box = self.ids.forms
        box.clear_widgets()
        for form_id, text in self.forms:
            button = FormButton(text=text, form_id=form_id)
            button.bind(
                on_release=lambda b: App.get_running_app().screen("measurements").record(b.form_id)
            )
            box.add_widget(button)

    def _fit(self, *_args: Any) -> None:
        height: float = self.minimum_height
        rv, index = self._rv, self._index
        held: dict[str, Any] = (
            rv.data[index] if rv is not None and index is not None and index < len(rv.data) else {}
        )
        if held.get("viewclass") == TOP:
            held["height"] = height  # in place: no new layout of the list
        if self.size[1] != height:
            self.height = height


class ObservationRowView(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    observation_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    comment = StringProperty("")
    state_name = StringProperty("")
    state_label = StringProperty("")

    def on_release(self) -> None:
        App.get_running_app().screen("measurements").open(self.observation_id)


class MeasurementsScreen(BaseScreen):
    project_title = StringProperty("")
    context = StringProperty("")
    offered = BooleanProperty(True)
    count = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id = ""
        self.site_id: str | None = None
        self.activity_id: str | None = None
        self._top_height = dp(240)  # a first guess; the item fits itself once shown

    def enter(
        self,
        project_id: str | None = None,
        site_id: str | None = None,
        activity_id: str | None = None,
        returning: bool = False,
        **_params: Any,
    ) -> None:
        if not returning and project_id:
            self.project_id = str(project_id)
            self.site_id, self.activity_id = site_id, activity_id
        project = self.session.project(self.project_id) or {}
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        self.refresh()

    def gather(self) -> dict[str, Any]:
        backend = self.session.backend
        forms = backend.forms()
        sites = {str(s["id"]): str(s.get("name") or "") for s in backend.sites(self.project_id)}
        records = backend.observations(self.project_id)
        activity = backend.activity(self.activity_id) if self.activity_id else None
        return {
            "offered": obs.offered_forms(forms, self.project_id),
            "rows": obs.rows(
                [(r.data, "safe" if r.safe and r.state == "synced" else r.state) for r in records],
                forms,
                site_names=sites,
            ),
            "site": sites.get(str(self.site_id or ""), ""),
            "activity": str(activity.data.get("title") or "") if activity else "",
        }

    def show(self, data: dict[str, Any]) -> None:
        parts = []
        if data["activity"]:
            parts.append(_("For the activity: {title}").format(title=data["activity"]))
        if data["site"]:
            parts.append(_("At the site: {site}").format(site=data["site"]))
        self.context = "\n".join(parts)
        self.offered = bool(data["offered"])
        self.count = len(data["rows"])
        rows = self.ids.rows
        if rows.data and rows.data[0].get("viewclass") == TOP:
            self._top_height = rows.data[0]["height"]  # as the item last fitted itself
        top = {
            "viewclass": TOP,
            "height": self._top_height,
            "context": self.context,
            "offered": self.offered,
            "count": self.count,
            "forms": [
                (str(form["id"]), "+ " + obs.text_of(form.get("title"))) for form in data["offered"]
            ],
        }
        # A RecycleView: 10 000 measurements make only the rows on screen.
        rows.data = [
            top,
            *(
                {
                    "observation_id": row.id,
                    "title": row.title,
                    "subtitle": " · ".join(p for p in (row.subtitle, row.status_label) if p),
                    "comment": row.comment,
                    "state_name": row.state,
                    "state_label": row.state_label,
                    "height": dp(120) if row.comment else dp(92),
                }
                for row in data["rows"]
            ),
        ]

    def top(self) -> MeasurementsTop | None:
        """The list's first item as shown (None while it is scrolled out of sight)."""
        for view in self.ids.rows.layout_manager.children:
            if isinstance(view, MeasurementsTop):
                return view
        return None

    def record(self, form_id: str) -> None:
        self.app.show(
            "observation",
            project_id=self.project_id,
            form_id=form_id,
            site_id=self.site_id,
            activity_id=self.activity_id,
        )

    def open(self, observation_id: str) -> None:
        self.app.show("observation", observation_id=observation_id)
