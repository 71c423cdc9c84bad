"""The activities of a project: a RecycleView (only visible rows exist as widgets), status
badges, a filter by sync state and a search box."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import ListProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from field_app.controllers.activities import ALL, STATES, ActivityList
from field_app.screens.base import BaseScreen

SEARCH_DELAY_S = 0.15  # one filter pass per pause in typing, not per key


class ActivityRow(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    record_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    figures = StringProperty("")
    state = StringProperty("")
    state_label = StringProperty("")

    def on_release(self) -> None:
        from kivy.app import App

        App.get_running_app().show("form", activity_id=self.record_id)


class ActivitiesScreen(BaseScreen):
    project_id = StringProperty("")
    project_title = StringProperty("")
    filters = ListProperty([])
    current = StringProperty(ALL)
    shown = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.list = ActivityList()
        self._search = Clock.create_trigger(lambda _dt: self._show(), SEARCH_DELAY_S)

    def on_kv_post(self, base_widget: Any) -> None:
        # Bound here, not with on_text in the rule: Kivy 2.3 then lays the hint out with
        # the default font.
        self.ids.search.bind(text=lambda _box, text: self.search(text))

    def enter(self, project_id: str | None = None, returning: bool = False,
              **_params: Any) -> None:
        if project_id is not None and project_id != self.project_id:
            self.project_id = project_id
            self.current = ALL
            self.list.set_filter(ALL)
            if self.ids.search.text:
                self.ids.search.text = ""
            self.list.set_query("")
        self.refresh()

    def gather(self) -> tuple[dict[str, Any] | None, ActivityList]:
        project_id = self.project_id
        listing = ActivityList(self.session.rows(project_id))  # sorted, views made: off the UI
        return self.session.project(project_id), listing

    def show(self, data: tuple[dict[str, Any] | None, ActivityList]) -> None:
        project, listing = data
        if project is None:
            return
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        listing.set_filter(self.list.state)
        listing.set_query(self.list.query)
        self.list = listing
        self._show()

    def set_filter(self, state: str) -> None:
        self.current = state
        self.list.set_filter(state)
        self._show()

    def search(self, text: str) -> None:
        self.list.set_query(text)
        self._search()

    def _show(self) -> None:
        self.filters = [(s, self.list.filter_label(s)) for s in (ALL, *STATES)]
        data = self.list.data()
        self.ids.rows.data = data
        self.shown = str(len(data))

    def new_activity(self) -> None:
        self.app.show("form", project_id=self.project_id)
