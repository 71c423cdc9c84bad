"""What every screen shares: access to the app and its session, a refresh that runs when the
data or the language changed (coalesced into one per frame), and work off the UI thread.

A screen whose data can be large (thousands of activities) splits its refresh in two:
``gather()`` reads the store on a worker thread and returns plain data, ``show(data)`` puts it
on the widgets on the UI thread. A newer refresh makes an older one's result obsolete.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty
from kivy.uix.screenmanager import Screen

T = TypeVar("T")


class Says:
    """Texts set from Python that follow a language switch: a screen's, or a popup's (its
    title, a calendar's month and weekdays), open when the language changes."""

    def __init__(self, **kwargs: Any) -> None:
        self._said: dict[str, tuple[Callable[[], Any], Any]] = {}
        super().__init__(**kwargs)
        App.get_running_app().bind(lang=self._say_again)

    def say(self, name: str, message: Callable[[], Any]) -> None:
        """Set the property ``name`` to ``message()`` (a status line, a message, field errors,
        a popup's title) and set it again in the new language after a language switch, at once
        and whether or not it shows, as long as nothing else replaced it meanwhile. Texts set
        from Python once stayed in the old language ("X registered and ticked", "Bundle written
        to …", an open calendar's month)."""
        value = message()
        setattr(self, name, value)
        self._said[name] = (message, value)

    def _say_again(self, *_args: Any) -> None:
        for name, (message, value) in list(self._said.items()):
            if getattr(self, name) != value:
                del self._said[name]  # replaced since: that text is no longer said
                continue
            self.say(name, message)


class BaseScreen(Says, Screen):
    loading = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        self._app = App.get_running_app()
        super().__init__(**kwargs)
        self._refresh_trigger = Clock.create_trigger(lambda _dt: self._refresh_if_shown())
        self._app.bind(sync_revision=self._data_changed, lang=self._data_changed)

    @property
    def app(self) -> Any:
        return self._app

    @property
    def app_running(self) -> bool:
        """Whether this screen's app still runs: once it stopped, nothing more is read for the
        screen, even when another app runs in the same process (the tests run one after
        another)."""
        return App.get_running_app() is self._app

    @property
    def session(self) -> Any:
        return self.app.session

    def enter(self, **params: Any) -> None:
        """Called before the screen is shown; ``returning=True`` when coming back to it."""
        self.refresh()

    def refresh(self) -> None:
        """Read what the screen shows from the session (in the background when the screen
        defines ``gather``)."""
        if type(self).gather is BaseScreen.gather:
            return
        self._generation = getattr(self, "_generation", 0) + 1
        generation = self._generation
        self.loading = True

        def done(result: Any, error: BaseException | None) -> None:
            if generation != self._generation:
                return  # a newer refresh is on its way
            if not self.app_running:
                return  # the app stopped while the worker read
            self.loading = False
            if error is not None:
                raise error
            self.show(result)

        in_background(self.gather, done)

    def gather(self) -> Any:
        """Read the screen's data; runs on a worker thread, so no widget may be touched."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Put what ``gather`` read on the widgets (UI thread)."""

    def _data_changed(self, *_args: Any) -> None:
        self._refresh_trigger()

    def _refresh_if_shown(self) -> None:
        if not self.app_running:
            return  # the app stopped after the refresh was asked for
        if self.manager is not None and self.manager.current == self.name:
            self.refresh()


def in_background(
    work: Callable[[], T],
    done: Callable[[T | None, BaseException | None], None],
) -> threading.Thread:
    """Run ``work`` on a thread and ``done(result, error)`` back on the UI thread, unless the
    app that asked has stopped meanwhile: its store may have closed under the work, and the
    answer is nobody's (with another app running, it would reach the wrong one)."""
    asked_by = App.get_running_app()

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001
            error = exc

        def back(_dt: float) -> None:
            if App.get_running_app() is asked_by:
                done(result, error)

        Clock.schedule_once(back)

    thread = threading.Thread(target=run, daemon=True, name="pilotmon-ui-work")
    thread.start()
    return thread
