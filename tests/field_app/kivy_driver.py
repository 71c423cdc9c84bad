"""Drive the real app headless: one Kivy window per test process, apps started and stopped in
it one after the other, simulated touches and typing, frames stepped by hand (laid out but not
drawn into the window: ``DRAW``), screenshots (saved when wanted: ``tests.screenshots``).

Kivy reads its environment when first imported, so :func:`prepare` runs before any import of
Kivy (the UI tests import this module inside a fixture, after the window probe).
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import screenshots

HOW_TO_ENABLE = (
    "Kivy cannot open a window here, so the UI tests are skipped. They run headless with "
    "SDL2's offscreen driver (SDL_VIDEODRIVER=offscreen, set by the tests) and need Mesa's "
    "OpenGL: `apt-get install -y libgl1 libgl1-mesa-dri libegl1` (bash .ci/run does it), or "
    "run under a display / `xvfb-run`. Kivy itself: `pip install -e '.[field]'`."
)


# Whether frames are drawn into the window. A label's pixels are rendered when it is first
# drawn, not when laid out (its size is measured without them), and in software GL that and
# drawing the whole window took most of a UI test's time, for nothing a test looks at: taps
# go by widget positions, assertions read widgets' properties, and screenshots draw the widget
# into an image of their own (``export_to_png``). ``PILOTMON_KIVY_DRAW=1`` draws them, to
# watch a test under a display.
DRAW = os.environ.get("PILOTMON_KIVY_DRAW") == "1"


def _undrawn(*_args: Any) -> bool:
    return True


def environment() -> dict[str, str]:
    home = Path(tempfile.gettempdir()) / f"pilotmon-kivy-home-{os.getuid()}"
    env = {
        "KIVY_HOME": str(home),  # never the user's ~/.kivy
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_LOG_MODE": "PYTHON",  # leave the root logger (and pytest's capture) alone
        "KIVY_METRICS_DENSITY": "1",
    }
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        env["SDL_VIDEODRIVER"] = "offscreen"
    return env


@functools.cache
def probe() -> str | None:
    """None when a window opens in a fresh process; else why not (last line of the error).

    Asked once per test process: the answer does not change during a run, and each probe
    starts Python and Kivy in a subprocess."""
    code = (
        "from kivy.core.window import Window\n"
        "assert Window is not None, 'no window provider'\n"
        "print('window', Window.size)\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, **environment()},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0 and "window" in result.stdout:
        return None
    lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"


def prepare(size: tuple[int, int] = (1280, 800)) -> None:
    os.environ.update(environment())
    Path(os.environ["KIVY_HOME"]).mkdir(parents=True, exist_ok=True)
    from kivy.config import Config

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("kivy", "exit_on_escape", "0")
    # Kivy's 60 fps cap stays: measured with maxfps 0 the kivy modules took longer (frames
    # spun without sleeping, taking the CPU from the worker threads the tests wait for), and a
    # test counting frames for a background read (custody's _refreshed) failed.


class Driver:
    """One running app in the shared window."""

    def __init__(self, app: Any) -> None:
        from kivy.base import EventLoop
        from kivy.core.window import Window

        self.app = app
        self.window = Window
        self.loop = EventLoop
        if EventLoop.status != "started":
            EventLoop.ensure_window()
            EventLoop.start()
            if not DRAW:
                # Handlers bound to an event run before the window's own and, returning True,
                # stop it: frames lay out, run timers and dispatch touches, but are not drawn.
                Window.fbind("on_draw", _undrawn)
                Window.fbind("on_flip", _undrawn)
        # Given back on close: a test that resized the shared window must not leave the next
        # one a phone (its taps would miss widgets laid out for the size it expects).
        self._size = tuple(Window.size)
        try:
            app._run_prepare()
            self.step(3)
        except BaseException:
            # A start that failed still leaves the app running in the shared window: stop it,
            # or every later test in this worker would meet it instead of its own.
            with contextlib.suppress(Exception):
                self.close()
            raise

    # -- time ----------------------------------------------------------------------------------

    def step(self, frames: int = 1) -> None:
        for _ in range(frames):
            self.loop.idle()

    def wait_until(
        self, condition: Callable[[], Any], *, timeout: float = 30.0, what: str = "the condition"
    ) -> Any:
        """Step frames until ``condition()`` is truthy (background work finishes)."""
        deadline = time.monotonic() + timeout
        while True:
            self.step()
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    # -- input ---------------------------------------------------------------------------------

    def tap(self, widget: Any, *, timeout: float = 30.0) -> None:
        """A finger down and up on the middle of ``widget``, once it is enabled and no popup
        is fading in or out.

        Like a person, it waits for a greyed-out button to come alive: a touch on a disabled
        widget does nothing, and a test that went on regardless would wait for an effect that
        never comes ("Sync now" stays disabled until the app has read that the last round
        ended, which lags the round by a coalesced status read)."""
        from kivy.tests.common import UnitTestTouch

        assert widget.get_root_window() is not None, f"{widget} is not on screen"
        # It waits too for a popup fading in or out (a tenth of a second) to be done: one
        # fading out still lies over the screen and takes the touch.
        self.wait_until(
            lambda: not widget.disabled and self._popups_still(),
            timeout=timeout,
            what=f"{widget} ({getattr(widget, 'text', '')!r}) to be enabled, popups still",
        )
        self.scroll_into_view(widget)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.step()
        touch.touch_up()
        self.step(2)

    def _popups_still(self) -> bool:
        from kivy.uix.modalview import ModalView

        return all(
            popup._anim_alpha >= 1 for popup in self.window.children if isinstance(popup, ModalView)
        )

    def scroll_into_view(self, widget: Any) -> None:
        """As a finger would: scroll the enclosing list or page until ``widget`` shows."""
        from kivy.uix.scrollview import ScrollView

        parent = widget.parent
        while parent is not None and not isinstance(parent, ScrollView):
            parent = None if parent is self.window else parent.parent
        if parent is None:
            return
        left, bottom = widget.to_window(widget.x, widget.y)
        right, top = widget.to_window(widget.right, widget.top)
        view_left, view_bottom = parent.to_window(parent.x, parent.y)
        view_right, view_top = parent.to_window(parent.right, parent.top)
        if bottom >= view_bottom and top <= view_top and left >= view_left and right <= view_right:
            return
        parent.scroll_to(widget, padding=40, animate=False)
        self.step(2)

    def type(self, box: Any, text: str) -> None:
        """Focus a text box by touching it, clear it, and type ``text`` as keyboard input."""
        self.tap(box)
        assert box.focus, f"{box} did not take the focus"
        box.select_all()
        box.delete_selection()
        for character in text:
            self.window.dispatch("on_textinput", character)
        self.step()
        box.focus = False
        self.step()

    def choose(self, picker: Any, label: str) -> None:
        """Open a picker (Spinner) by touching it and touch the option called ``label``."""
        self.tap(picker)
        dropdown = picker._dropdown
        self.wait_until(lambda: dropdown.attach_to is not None, what="the picker to open")
        options = [c for c in dropdown.container.children if getattr(c, "text", None) == label]
        assert options, f"no option {label!r} in {[c.text for c in dropdown.container.children]}"
        dropdown.scroll_to(options[0])
        self.step(2)
        self.tap(options[0])

    def pick_date(self, field: Any, day: Any) -> None:
        """Open a date field's calendar by touching it, page to ``day``'s month with ‹ and ›,
        and touch the day."""
        from field_app.screens.widgets import DatePicker

        self.tap(field)
        self.step(2)
        [picker] = [w for w in self.window.children if isinstance(w, DatePicker)]
        while (picker.year, picker.month) != (day.year, day.month):
            later = (day.year, day.month) > (picker.year, picker.month)
            self.tap(picker.ids.next if later else picker.ids.previous)
        [button] = [b for b in picker.ids.days.children if b.day == day]
        self.tap(button)
        # The calendar fades out; until it is gone it would take the next touch.
        self.wait_until(lambda: picker.parent is None, what="the calendar to close")

    def find(self, root: Any, predicate: Callable[[Any], bool]) -> Any:
        for widget in root.walk(restrict=True):
            if predicate(widget):
                return widget
        raise LookupError("no such widget on screen")

    def find_text(self, root: Any, text: str) -> Any:
        return self.find(root, lambda w: getattr(w, "text", None) == text)

    # -- window --------------------------------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        self.window.size = (width, height)
        self.step(4)

    def screenshot(self, path: Path, *, always: bool = False) -> Path:
        """The app's window, drawn, saved as ``path`` when screenshots are wanted
        (``tests.screenshots``) or ``always``."""
        self.step(3)
        if always or screenshots.WANTED:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.app.root.export_to_png(str(path))
        return path

    def close(self) -> None:
        """Stop the app but keep the window (and the event loop) for the next test."""
        from kivy.app import App

        try:
            self.app.dispatch("on_stop")
        finally:
            for child in list(self.window.children):
                self.window.remove_widget(child)
            App._running_app = None
            self.window.size = self._size
        self.step()


@contextmanager
def running(app: Any) -> Iterator[Driver]:
    driver = Driver(app)
    try:
        yield driver
    finally:
        driver.close()
