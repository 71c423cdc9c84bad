"""Driving the dashboard in Debian's headless Chromium: a uvicorn server on a free loopback
port in a thread, a fresh browser profile per test, full-page screenshots (saved when wanted:
``tests.screenshots``).

The browser tests skip, saying how to enable them, when /usr/bin/chromium or chromedriver is
missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def chromium(
    profile_dir: Path, download_dir: Path, *, width: int = 1366, height: int = 900
) -> Iterator[object]:
    """A headless Chromium with a fresh profile, downloading into ``download_dir``."""
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
        {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False,
            "intl.accept_languages": "en-GB,en",
        },
    )
    driver = webdriver.Chrome(options=options, service=Service(str(chromedriver())))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
    )
    try:
        yield driver
    finally:
        driver.quit()


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
