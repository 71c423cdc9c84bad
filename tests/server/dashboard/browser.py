"""Driving the dashboard in Debian's headless Chromium: a uvicorn server on a free loopback
port in a thread, one browser per worker reset for each test, full-page screenshots (saved
when wanted: ``tests.screenshots``).

The browser tests skip, saying how to enable them, when /usr/bin/chromium or chromedriver is
missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import atexit
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from server.config import Settings
from server.db import make_engine
from tests import screenshots

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER_PATHS = (Path("/usr/bin/chromedriver"), Path("/usr/lib/chromium/chromedriver"))
SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots" / "dashboard"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=en-GB",
)
HOW_TO_ENABLE = (
    "the dashboard's browser tests need Debian's Chromium: run "
    "`apt-get install -y chromium chromium-driver` as root (bash .ci/run does it)"
)


def chromedriver() -> Path | None:
    for path in CHROMEDRIVER_PATHS:
        if path.exists():
            return path
    found = shutil.which("chromedriver")
    return Path(found) if found else None


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found: {HOW_TO_ENABLE}"
    if chromedriver() is None:
        return f"chromedriver not found: {HOW_TO_ENABLE}"
    return None


def browser_database(template: Path, folder: Path) -> tuple[Settings, Engine]:
    """A copy of the migrated SQLite ``template`` in ``folder``, the test settings serving it and
    an engine on it, for a browser test to seed and serve; skips the test, saying how to enable
    it, when Chromium is missing."""
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    database = folder / "browser.sqlite3"
    shutil.copyfile(template, database)
    url = f"sqlite:///{database}"
    settings = Settings(
        environment="test",
        data_dir=folder / "data",
        database_url=url,
        secret_key="browser-test-secret-key-long-enough-0123456789",
    )
    settings.ensure_data_dir()
    return settings, make_engine(url)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _start_chromium(profile_dir: Path, *, width: int, height: int) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={width},{height}")
    options.add_experimental_option(
        "prefs",
        {"download.prompt_for_download": False, "intl.accept_languages": "en-GB,en"},
    )
    return webdriver.Chrome(options=options, service=Service(str(chromedriver())))


# The worker's browser, started by the first test that asks for one and quit when the worker
# ends: starting Chromium took 2-3 s of each browser test.
_shared: list[Any] = []


def _quit_shared() -> None:
    while _shared:
        with suppress(Exception):
            _shared.pop().quit()


atexit.register(_quit_shared)


def _as_new(driver: Any, *, width: int, height: int) -> None:
    """Bring a used browser back to a fresh one's state: one blank tab, no cookie, nothing
    cached, no phone emulation, the window ``width`` × ``height``, an empty console log."""
    handles = driver.window_handles
    for handle in handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(handles[0])
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.set_window_size(width, height)
    driver.get_log("browser")  # the console's messages so far, read and so forgotten


@contextmanager
def chromium(
    profile_dir: Path,
    download_dir: Path,
    *,
    width: int = 1366,
    height: int = 900,
    fresh: bool = False,
) -> Iterator[Any]:
    """A headless Chromium as newly started, downloading into ``download_dir``: the worker's
    shared one, reset (no cookie, cache, storage or open page of the test before: each test's
    server has a port, so an origin, of its own), or with ``fresh`` one of its own with its
    profile in ``profile_dir`` (for a test that changes the browser itself, as the audit's
    script added to every page). A test that fails inside leaves the shared one quit, so that
    nothing it left behind reaches the next."""
    if fresh or not _shared:
        driver = _start_chromium(profile_dir, width=width, height=height)
        if not fresh:
            _shared.append(driver)
    else:
        driver = _shared[0]
        try:
            _as_new(driver, width=width, height=height)
        except Exception:  # noqa: BLE001 - a browser that cannot be reset is replaced
            _quit_shared()
            driver = _start_chromium(profile_dir, width=width, height=height)
            _shared.append(driver)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
    )
    try:
        yield driver
    except BaseException:
        if not fresh:
            _quit_shared()
        raise
    finally:
        if fresh:
            driver.quit()
        elif _shared:
            _forget_origin(driver)


def _forget_origin(driver: Any) -> None:
    """Everything the page's origin stored (cookies, local storage, caches, service workers)."""
    with suppress(Exception):
        parts = urlsplit(driver.current_url)
        if parts.scheme in ("http", "https"):
            driver.execute_cdp_cmd(
                "Storage.clearDataForOrigin",
                {"origin": f"{parts.scheme}://{parts.netloc}", "storageTypes": "all"},
            )


# Narrower than this, headless Chromium keeps its window this wide: a phone's width is set
# through the DevTools protocol instead.
_NARROWEST_WINDOW = 500


def set_width(driver: object, width: int, height: int = 900) -> None:
    """Lay pages out ``width`` CSS px wide: a phone's (390 px) through the DevTools protocol,
    a laptop's by the window (the phone's override cleared)."""
    d: Any = driver
    if width < _NARROWEST_WINDOW:
        d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )
    else:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        d.set_window_size(width, height)


def screenshot(driver: object, name: str, *, width: int = 1366, folder: Path = SCREENSHOTS) -> Path:
    """Save the whole page (not only the window) at ``width`` as ``<folder>/<name>.png``
    (``artifacts/screenshots/dashboard`` unless told) when screenshots are wanted
    (``tests.screenshots``); the window is ``width`` wide afterwards either way."""
    d: Any = driver
    path = folder / f"{name}.png"
    set_width(d, width)
    if not screenshots.WANTED:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    height = d.execute_script(
        "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
    )
    if width < _NARROWEST_WINDOW:
        set_width(d, width, min(int(height), 6000))
    else:
        d.set_window_size(width, max(600, min(int(height) + 40, 6000)))
    d.save_screenshot(str(path))
    return path
