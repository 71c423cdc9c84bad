"""Start the tablet app: on Android (python-for-android runs this file's ``main``) or on a
computer through ``pilotmon field`` / ``python -m field_app``."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from field_app.session import FieldSession

DEFAULT_SIZE = (1280, 800)  # a 10-inch tablet in landscape


def default_data_dir() -> Path:
    configured = os.environ.get("PILOTMON_FIELD_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".pilotmon-field"


def prepare_kivy(size: tuple[int, int] | None = DEFAULT_SIZE) -> None:
    """Settings Kivy reads when it is first imported: no command-line parsing of our options,
    and on a computer a tablet-sized window."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    if size is not None:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
    Config.set("kivy", "exit_on_escape", "0")  # Escape is "back", like Android's key
    Config.set("input", "mouse", "mouse,multitouch_on_demand")
    quiet_missing_cutbuffer()
    skip_mtdev_without_libmtdev()


class _NoCutBufferWall(logging.Filter):
    """Kivy looks for ``xclip`` or ``xsel`` on Linux the first time a text box appears, and when
    neither is installed logs each attempt's traceback as a critical error. Copy and paste
    work without them (through SDL2); only the X selection (middle-click paste) needs them.
    One plain line says so instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Cutbuffer: Unable to find any valuable Cutbuffer"):
            logging.getLogger("kivy").warning(
                "Middle-click paste needs xclip or xsel (e.g. 'apt install xclip'); "
                "copy and paste work without them."
            )
            return False
        return True


def quiet_missing_cutbuffer() -> None:
    """On a Linux computer without xclip and xsel, replace Kivy's traceback wall about the cut
    buffer with one line (tablets and other systems are left alone)."""
    import shutil

    if not _desktop_linux():
        return
    if shutil.which("xclip") or shutil.which("xsel"):
        return
    from kivy.logger import Logger

    if not any(isinstance(f, _NoCutBufferWall) for f in Logger.filters):
        Logger.addFilter(_NoCutBufferWall())


def _desktop_linux() -> bool:
    import sys

    return sys.platform.startswith("linux") and "ANDROID_ARGUMENT" not in os.environ


class _NoMtdevTraceback(logging.Filter):
    """Kivy imports its mtdev input provider on every Linux start and, when libmtdev is not
    installed, logs an error with the failed library load's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Input: MTDev is not supported"):
            logging.getLogger("kivy").debug(
                "Input: libmtdev is not installed; touch screens work through SDL2"
            )
            return False
        return True


def skip_mtdev_without_libmtdev() -> None:
    """On a Linux computer without libmtdev, start without the kernel multi-touch probe: drop
    the ``probesysfs`` input provider (it would hand touch screens to mtdev; SDL2 reads them
    anyway) and Kivy's traceback about the missing library. Must run before Kivy loads its
    input providers (``kivy.core.window``, ``kivy.base``). Tablets and other systems are left
    alone."""
    import ctypes.util

    if not _desktop_linux() or ctypes.util.find_library("mtdev"):
        return
    from kivy.config import Config
    from kivy.logger import Logger

    for name, value in Config.items("input"):
        if value.split(",")[0] == "probesysfs":
            Config.remove_option("input", name)
    if not any(isinstance(f, _NoMtdevTraceback) for f in Logger.filters):
        Logger.addFilter(_NoMtdevTraceback())


def build_session(data_dir: Path, server: str | None = None) -> FieldSession:
    from field_app.backend import StoreBackend
    from field_app.device import detect
    from field_app.session import FieldSession

    session = FieldSession(backend=StoreBackend(data_dir), device=detect(), data_dir=data_dir)
    if server and not session.enrolled:
        session.settings.server_url = server
    return session


def main(server: str | None = None, data_dir: Path | None = None) -> None:
    from field_app.device import ON_ANDROID

    prepare_kivy(None if ON_ANDROID else DEFAULT_SIZE)
    from field_app.app import FieldApp

    if data_dir is None:
        # On the tablet: the app's private storage (python-for-android names it), which
        # Android keeps out of other apps' reach and backs up with the app's data.
        data_dir = (
            Path(os.environ["ANDROID_PRIVATE"]) / "pilotmon"
            if ON_ANDROID and "ANDROID_PRIVATE" in os.environ
            else default_data_dir()
        )
    session = build_session(data_dir, server)
    app = FieldApp(session)
    _stop_on_signals(app)
    app.run()


def _stop_on_signals(app: Any) -> None:
    """Ctrl-C or a polite kill closes the app like its window's close button. The handler only
    asks Kivy's clock to stop the app, so the signal never lands as a KeyboardInterrupt inside
    some callback or worker where it could be swallowed."""
    from kivy.clock import Clock

    def stop(signum: int, frame: object) -> None:
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


if __name__ == "__main__":
    main()
