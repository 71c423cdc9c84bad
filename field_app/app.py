"""The Kivy application: a ScreenManager whose screens (and their ``.kv`` files) load the first
time they are shown, a background sync on a timer, and the Android back key.

Start it with ``pilotmon field`` (see ``field_app/cli.py``) or ``python -m field_app``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from field_app import i18n
from field_app.controllers.status import Coalescer
from field_app.screens import theme
from field_app.screens.base import in_background
from field_app.session import FieldSession

log = logging.getLogger("pilotmon.field")

STATUS_INTERVAL_S = 0.5  # sync reports reach the UI at most twice a second
SYNC_START_GRACE_S = 2.0  # after "Sync now", a report is expected within this
SHORT_HEIGHT = dp(500)  # below it, a landscape window is a phone's (tablets: 600 dp and more)
SCREENS_DIR = Path(__file__).resolve().parent / "screens"
# name -> (module under field_app.screens, class); each module has a .kv of the same name.
SCREENS: dict[str, tuple[str, str]] = {
    "enrol": ("enrol", "EnrolScreen"),
    "home": ("home", "HomeScreen"),
    "activities": ("activities", "ActivitiesScreen"),
    "form": ("form", "FormScreen"),
    "roster": ("roster", "RosterScreen"),
    "attention": ("attention", "AttentionScreen"),
    "measurements": ("measurements", "MeasurementsScreen"),
    "observation": ("observation", "ObservationScreen"),
    "settings": ("settings", "SettingsScreen"),
}


class FieldApp(App):
    title = "Pilot Monitor"
    session: FieldSession = ObjectProperty(None)
    landscape = BooleanProperty(True)
    # A phone held sideways (e.g. 640×360 dp): landscape, but too short for the tablet's
    # landscape layouts, which stack a list under a search box and buttons.
    short = BooleanProperty(False)
    lang = StringProperty(i18n.DEFAULT_LANGUAGE)
    # The sync bar binds to these; they change only on the UI thread.
    sync_running = BooleanProperty(False)
    sync_revision = NumericProperty(0)  # bumped after every sync and every save
    sync_status = ObjectProperty(None)  # the last SyncStatus read (off the UI thread)

    def __init__(self, session: FieldSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.manager: ScreenManager | None = None
        self._history: list[str] = []
        self._fingerprint: tuple[object, ...] = ()
        self._reading = False
        self._read_again = False
        self._sync_reports: Coalescer | None = None
        self._grace: Any = None  # the status read planned after "Sync now"
        self._stopped = False

    # -- life cycle ------------------------------------------------------------------------

    def build(self) -> ScreenManager:
        _load_kv(SCREENS_DIR / "widgets.kv")
        i18n.set_language(self.session.settings.language)
        self.lang = i18n.language()
        Window.clearcolor = (1, 1, 1, 1)
        # Android's keyboard covers the lower half of a phone held sideways: the window pans
        # so that the box being typed into stays above it (the roster's code box, a count in
        # the attendance grid, a measurement's number were typed blind under it).
        Window.softinput_mode = "below_target"
        Window.bind(size=self._resized, on_keyboard=self._key)
        self._resized(Window, Window.size)
        self.manager = ScreenManager(transition=NoTransition())
        self.show("home" if self.session.enrolled else "enrol", remember=False)
        self.session.device.request_permissions()
        return self.manager

    def on_start(self) -> None:
        # The schedule's thread syncs from now on, retrying with back-off, no user action
        # needed. Its reports (from that thread) reach the UI coalesced: at most one status
        # read per STATUS_INTERVAL_S, done off the UI thread, then one cheap update on it.
        self._sync_reports = Coalescer(
            self._read_sync_state, interval=STATUS_INTERVAL_S, later=_on_ui_thread
        )
        self.session.start_sync(self._sync_reports)

    def on_stop(self) -> None:
        # Nothing planned may reach this app's screens or its closed store after this.
        self._stopped = True
        Window.unbind(size=self._resized, on_keyboard=self._key)
        if self._grace is not None:
            self._grace.cancel()
        theme.tr.forget()
        self.session.close()

    def on_pause(self) -> bool:
        return True  # keep the state when Android sends the app to the background

    # -- navigation ------------------------------------------------------------------------

    def screen(self, name: str) -> Any:
        """The screen called ``name``, loading its module and ``.kv`` the first time."""
        assert self.manager is not None
        if not self.manager.has_screen(name):
            module_name, class_name = SCREENS[name]
            module = importlib.import_module(f"field_app.screens.{module_name}")
            _load_kv(SCREENS_DIR / f"{module_name}.kv")
            self.manager.add_widget(getattr(module, class_name)(name=name))
        return self.manager.get_screen(name)

    def show(self, name: str, *, remember: bool = True, **params: Any) -> Any:
        assert self.manager is not None
        screen = self.screen(name)
        if remember and self.manager.current and self.manager.current != name:
            self._history.append(self.manager.current)
        screen.enter(**params)
        self.manager.current = name
        return screen

    def back(self) -> bool:
        assert self.manager is not None
        current = self.manager.get_screen(self.manager.current)
        if hasattr(current, "can_leave") and not current.can_leave():
            return True
        if not self._history:
            return False
        name = self._history.pop()
        screen = self.screen(name)
        screen.enter(returning=True)
        self.manager.current = name
        return True

    def back_to(self, name: str, **params: Any) -> None:
        """Go back to the last ``name`` in the history, forgetting what came after it; if it
        is not there, open it in place of the current screen (Back then goes where the
        current screen's Back went)."""
        assert self.manager is not None
        if name in self._history:
            del self._history[len(self._history) - 1 - self._history[::-1].index(name) :]
        screen = self.screen(name)
        screen.enter(**params)
        self.manager.current = name

    def home(self) -> None:
        self._history.clear()
        self.show("home", remember=False)

    def _key(self, _window: Any, key: int, *_args: Any) -> bool:
        if key == 27:  # Android back (and Escape on a computer)
            return self.back()
        return False

    def _resized(self, _window: Any, size: tuple[int, int]) -> None:
        self.landscape = size[0] >= size[1]
        self.short = self.landscape and size[1] < SHORT_HEIGHT

    # -- language ----------------------------------------------------------------------------

    def set_language(self, code: str) -> None:
        i18n.set_language(code)
        self.session.settings.language = code
        self.session.save_settings()
        self.lang = code  # screens bound to app.lang rebuild their texts

    # -- sync --------------------------------------------------------------------------------

    def sync_now(self) -> None:
        if not self.session.enrolled:
            return
        self.sync_running = True  # shown at once; the schedule's report corrects it
        self.session.request_sync()
        # A round that cannot start now (a busy server asked the tablet to wait) sends no
        # report: read the state again shortly, so the bar does not say "Syncing…" (and keep
        # its button disabled) for nothing.
        if self._grace is not None:
            self._grace.cancel()
        self._grace = Clock.schedule_once(lambda _dt: self.status_changed(), SYNC_START_GRACE_S)

    def status_changed(self) -> None:
        """Something the sync bar shows changed here (a save): read it again, coalesced."""
        if self._sync_reports is not None:
            self._sync_reports()

    def _read_sync_state(self) -> None:
        """Read the sync status and the data's fingerprint on a worker thread; apply them on
        the UI thread. One read at a time: a report arriving meanwhile asks for one more."""
        if self._stopped:
            return
        if self._reading:
            self._read_again = True
            return
        self._reading, self._read_again = True, False
        session = self.session

        def read() -> tuple[bool, Any, tuple[object, ...]]:
            return session.sync_running, session.status(), session.backend.fingerprint()

        in_background(read, self._sync_state_read)

    def _sync_state_read(
        self, found: tuple[bool, Any, tuple[object, ...]] | None, error: BaseException | None
    ) -> None:
        self._reading = False
        if self._stopped:
            return
        if error is not None:
            log.warning("could not read the sync status: %s", error)
        elif found is not None:
            running, status, fingerprint = found
            self.sync_running = running
            self.sync_status = status
            # Screens reload only when what they show may have changed (records pulled, the
            # outbox drained, a new error or success), never once per report.
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self.changed()
        if self._read_again and self._sync_reports is not None:
            self._sync_reports()

    def changed(self) -> None:
        """Local data changed (a save or a sync): screens refresh what they show."""
        self.sync_revision += 1


def _on_ui_thread(run: Callable[[], None], delay: float) -> None:
    Clock.schedule_once(lambda _dt: run(), delay)  # thread-safe: the sync thread calls it


def _load_kv(path: Path) -> None:
    # Once per process: a second app in the same process (tests) must not add the rules twice.
    if str(path) not in Builder.files:
        Builder.load_file(str(path))


def run(session: FieldSession) -> None:
    FieldApp(session).run()
