"""The Kivy application: a ScreenManager whose screens (and their ``.kv`` files) load the first
time they are shown, a background sync on a timer, and the Android back key.

Start it with ``pilotmon field`` (see ``field_app/cli.py``) or ``python -m field_app``.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from field_app import i18n
from field_app.session import FieldSession

log = logging.getLogger("pilotmon.field")

SCREENS_DIR = Path(__file__).resolve().parent / "screens"
# name -> (module under field_app.screens, class); each module has a .kv of the same name.
SCREENS: dict[str, tuple[str, str]] = {
    "enrol": ("enrol", "EnrolScreen"),
    "home": ("home", "HomeScreen"),
    "activities": ("activities", "ActivitiesScreen"),
    "form": ("form", "FormScreen"),
    "roster": ("roster", "RosterScreen"),
    "attention": ("attention", "AttentionScreen"),
    "settings": ("settings", "SettingsScreen"),
}


class FieldApp(App):
    title = "Pilot Monitor"
    session: FieldSession = ObjectProperty(None)
    landscape = BooleanProperty(True)
    lang = StringProperty(i18n.DEFAULT_LANGUAGE)
    # The sync bar binds to these; they change only on the UI thread.
    sync_running = BooleanProperty(False)
    sync_revision = NumericProperty(0)  # bumped after every sync and every save

    def __init__(self, session: FieldSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.manager: ScreenManager | None = None
        self._history: list[str] = []
        self._fingerprint: tuple[object, ...] = ()

    # -- life cycle ------------------------------------------------------------------------

    def build(self) -> ScreenManager:
        _load_kv(SCREENS_DIR / "widgets.kv")
        i18n.set_language(self.session.settings.language)
        self.lang = i18n.language()
        Window.clearcolor = (1, 1, 1, 1)
        Window.bind(size=self._resized, on_keyboard=self._key)
        self._resized(Window, Window.size)
        self.manager = ScreenManager(transition=NoTransition())
        self.show("home" if self.session.enrolled else "enrol", remember=False)
        self.session.device.request_permissions()
        return self.manager

    def on_start(self) -> None:
        # The schedule's thread syncs from now on, retrying with back-off, no user action
        # needed; it reports on its thread and the trigger redraws once on the UI thread.
        self._sync_changed_trigger = Clock.create_trigger(lambda _dt: self._sync_changed())
        self.session.start_sync(lambda: self._sync_changed_trigger())

    def on_stop(self) -> None:
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
            del self._history[len(self._history) - 1 - self._history[::-1].index(name):]
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

    def _sync_changed(self) -> None:
        # A sync reports when it starts and when it ends; screens reload only when what they
        # show may have changed (records pulled, the outbox drained, a new error or success).
        self.sync_running = self.session.sync_running
        fingerprint = self.session.backend.fingerprint()
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self.changed()

    def changed(self) -> None:
        """Local data changed (a save or a sync): screens refresh what they show."""
        self.sync_revision += 1


def _load_kv(path: Path) -> None:
    # Once per process: a second app in the same process (tests) must not add the rules twice.
    if str(path) not in Builder.files:
        Builder.load_file(str(path))


def run(session: FieldSession) -> None:
    FieldApp(session).run()
