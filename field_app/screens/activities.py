"""The activities of a project: a RecycleView (only visible rows exist as widgets), status
badges, a filter by sync state and a search box (debounced, computed off the UI thread)."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from field_app.controllers.activities import ALL, STATES, ActivityList
from field_app.screens.base import BaseScreen, in_background

SEARCH_DELAY_S = 0.25  # one search per pause in typing, not per key
PAGE = 100  # rows handed to the RecycleView at a time; more as the user scrolls near the end
MORE_WITHIN_SCREENS = 2.0  # load the next page when less than this many screens remain below


class ActivityRow(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    record_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    figures = StringProperty("")
    state = StringProperty("")
    state_label = StringProperty("")
    status_label = StringProperty("")  # "Approved", "Submitted", "Returned"; "" for a draft
    safe = BooleanProperty(False)

    def on_release(self) -> None:
        from kivy.app import App

        App.get_running_app().show("form", activity_id=self.record_id)


class ActivitiesScreen(BaseScreen):
    """The UI thread only ever applies results: the rows are loaded, filtered and searched on
    worker threads, and the RecycleView gets one page (PAGE rows) at a time, never 10 000."""

    project_id = StringProperty("")
    project_title = StringProperty("")
    filters = ListProperty([])
    current = StringProperty(ALL)
    shown = StringProperty("")
    recorded = BooleanProperty(False)  # the project has activities, shown or not
    searching = BooleanProperty(False)  # a search or filter is being computed

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.list = ActivityList()
        self._matches: list[dict[str, Any]] = []  # every row of the current result
        self._query_generation = 0
        self.applied_query: tuple[str, str] = (ALL, "")  # (state, query) of what is shown
        self._search = Clock.create_trigger(lambda _dt: self._start_query(), SEARCH_DELAY_S)
        self._keep_offset: float | None = None  # px from the top to keep while a page arrives

    def on_kv_post(self, base_widget: Any) -> None:
        # Bound here, not with on_text in the rule: Kivy 2.3 then lays the hint out with
        # the default font.
        self.ids.search.bind(text=lambda _box, text: self.search(text))
        self.ids.rows.bind(scroll_y=self._maybe_more, height=self._maybe_more)
        self.ids.rows.layout_manager.bind(height=self._content_resized)

    def enter(self, project_id: str | None = None, returning: bool = False, **_params: Any) -> None:
        if project_id is not None and project_id != self.project_id:
            self.project_id = project_id
            self.current = ALL
            self.list = ActivityList()
            self.list.set_filter(ALL)
            if self.ids.search.text:
                self.ids.search.text = ""
            self._search.cancel()
            self.list.set_query("")
            self._matches = []
            self.ids.rows.data = []
            self.ids.rows.scroll_y = 1
        self.refresh()

    def gather(
        self,
    ) -> tuple[dict[str, Any] | None, ActivityList, list[dict[str, Any]], tuple[str, str]]:
        # Everything heavy here, off the UI thread: read, sort, make the views, filter.
        project_id = self.project_id
        asked = (self.list.state, self.list.query)
        listing = ActivityList(self.session.rows(project_id))
        return self.session.project(project_id), listing, listing.matching(*asked), asked

    def show(
        self,
        data: tuple[dict[str, Any] | None, ActivityList, list[dict[str, Any]], tuple[str, str]],
    ) -> None:
        project, listing, matches, asked = data
        if project is None:
            # Taken from this tablet's person and forgotten by a pull (docs/protocol.md#pull):
            # home lists the projects left.
            if self.manager is not None and self.manager.current == self.name:
                App.get_running_app().home()
            return
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        listing.set_filter(self.list.state)
        listing.set_query(self.list.query)
        self.list = listing
        self.recorded = len(listing) > 0
        self.filters = [(s, listing.filter_label(s)) for s in (ALL, *STATES)]
        if asked != (listing.state, listing.query):
            self._start_query()  # the filter or query changed while the rows were read
            return
        self._query_generation += 1  # a search started before this reload is obsolete
        self._apply(matches, asked, keep=True)

    def set_filter(self, state: str) -> None:
        self.current = state
        self.list.set_filter(state)
        self._search.cancel()
        self._start_query()

    def search(self, text: str) -> None:
        """A keystroke: the search runs once typing pauses (SEARCH_DELAY_S), off the UI
        thread; only the last query's result is shown."""
        self.list.set_query(text)
        self._search()

    def _start_query(self) -> None:
        self._query_generation += 1
        generation = self._query_generation
        listing = self.list
        asked = (listing.state, listing.query)
        self.searching = True

        def done(matches: list[dict[str, Any]] | None, error: BaseException | None) -> None:
            if generation != self._query_generation:
                return  # a newer search or reload is on its way
            self.searching = False
            if error is not None:
                raise error
            self._apply(matches or [], asked, keep=False)

        in_background(lambda: listing.matching(*asked), done)

    def _apply(self, matches: list[dict[str, Any]], asked: tuple[str, str], *, keep: bool) -> None:
        """Show a result: its first page, or (``keep``: the same query reloaded, e.g. during a
        sync) as many rows as were loaded already, touching the RecycleView only if the rows
        it holds changed."""
        self._matches = matches
        self.applied_query = asked
        self.shown = str(len(matches))
        rows = self.ids.rows
        count = max(PAGE, len(rows.data)) if keep else PAGE
        page = matches[:count]
        if page != rows.data:
            rows.data = page
        if not keep:
            self._keep_offset = None
            rows.scroll_y = 1

    def _maybe_more(self, *_args: Any) -> None:
        rows = self.ids.rows
        loaded = len(rows.data)
        if loaded >= len(self._matches) or not self._laid_out():
            return  # all shown, or the heights below still those of rows no longer there
        span = max(0.0, rows.layout_manager.height - rows.height)
        if rows.scroll_y * span < MORE_WITHIN_SCREENS * rows.height:
            self._keep_offset = (1 - rows.scroll_y) * span
            rows.data.extend(self._matches[loaded : loaded + PAGE])

    def _laid_out(self) -> bool:
        """Whether the RecycleView has measured the rows it holds: it does so a frame after
        they change, and a scroll or a turn of the tablet in between must not be read against
        the old rows' height (an empty list's would call every page in, one per event)."""
        rows = self.ids.rows
        return len(rows.layout_manager.view_opts) == len(rows.data)

    def _content_resized(self, *_args: Any) -> None:
        # A page arrived below: the rows on screen stay where they are (a ScrollView keeps
        # scroll_y, which would jump to the new end).
        if self._keep_offset is None:
            return
        rows = self.ids.rows
        span = rows.layout_manager.height - rows.height
        if span > 0:
            rows.scroll_y = max(0.0, min(1.0, 1 - self._keep_offset / span))
        self._keep_offset = None

    def new_activity(self) -> None:
        self.app.show("form", project_id=self.project_id)
