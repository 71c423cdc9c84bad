"""What every screen shares: access to the app and its session, a refresh that runs when the
data or the language changed (coalesced into one per frame), and work off the UI thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kivy.app import App
from kivy.clock import Clock
from kivy.uix.screenmanager import Screen

T = TypeVar("T")


class BaseScreen(Screen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refresh_trigger = Clock.create_trigger(lambda _dt: self._refresh_if_shown())
        app = App.get_running_app()
        app.bind(sync_revision=self._data_changed, lang=self._data_changed)

    @property
    def app(self) -> Any:
        return App.get_running_app()

    @property
    def session(self) -> Any:
        return self.app.session

    def enter(self, **params: Any) -> None:
        """Called before the screen is shown; ``returning=True`` when coming back to it."""
        self.refresh()

    def refresh(self) -> None:
        """Read what the screen shows from the session."""

    def _data_changed(self, *_args: Any) -> None:
        self._refresh_trigger()

    def _refresh_if_shown(self) -> None:
        if self.manager is not None and self.manager.current == self.name:
            self.refresh()


def in_background(work: Callable[[], T], done: Callable[[T | None, BaseException | None], None],
                  ) -> threading.Thread:
    """Run ``work`` on a thread and ``done(result, error)`` back on the UI thread."""

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - handed to the screen, shown in words
            error = exc
        Clock.schedule_once(lambda _dt: done(result, error))

    thread = threading.Thread(target=run, daemon=True, name="pilotmon-ui-work")
    thread.start()
    return thread
