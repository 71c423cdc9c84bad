"""Fixtures for the field app: a live server on 127.0.0.1 with a small world to enrol into.

The app never imports ``server``; these tests do, to stand a real server up in a thread
(uvicorn on a free port) for the app's HTTP client to talk to.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.devices import issue_enrolment_code
from server.config import Settings
from server.db import make_engine, write_engine
from server.projects.models import Target
from tests.conftest import app_for
from tests.factories import (
    PASSWORD,
    detach,
    make_access_token,
    make_project,
    make_site,
    make_user,
)
from tests.field_app import kivy_driver


def quarter(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@dataclass
class LiveServer:
    url: str
    engine: Engine
    project_id: str
    site_id: str
    expert: str
    officer_token: str
    codes: list[str]
    _server: uvicorn.Server
    _thread: threading.Thread

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.officer_token}"}
        return requests.request(
            method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs
        )

    def return_activity(self, activity_id: str, comment: str) -> None:
        answer = self.api(
            "POST",
            f"/activities/{activity_id}/review",
            json={"action": "return", "comment": comment},
        )
        assert answer.status_code == 200, answer.text

    def activity(self, activity_id: str) -> dict[str, Any]:
        answer = self.api("GET", f"/activities/{activity_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.engine.dispose()


def start_server(db_url: str, data_dir: Path, *, codes: int = 2) -> LiveServer:
    settings = Settings(
        environment="test",
        data_dir=data_dir,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        log_level="WARNING",
        rate_limit_auth_per_minute=0,
        rate_limit_sync_per_minute=0,
    )
    settings.ensure_data_dir()
    engine = make_engine(db_url)
    with Session(write_engine(engine)) as session:
        project = make_project(
            session,
            roster=True,
            start_date=date(2024, 1, 1),
            end_date=date(date.today().year + 2, 12, 31),
        )
        site = make_site(session, project, name="Ha Mokhalinyane")
        session.add(
            Target(
                project_id=project.id,
                indicator="PARTICIPANTS",
                period=quarter(date.today()),
                value=100,
            )
        )
        expert = make_user(session, role="field_expert", projects=[project])
        officer = make_user(session, role="country_officer", countries=["LSO"])
        issued = [
            issue_enrolment_code(session, user=expert, hours=24, created_by_id=officer.id)[1]
            for _ in range(codes)
        ]
        officer_token = make_access_token(session, officer)
        ids = (str(project.id), str(site.id), expert.username)
        session.commit()
        detach(session)
    # The worker's application for these settings (tests.conftest.app_for): its routes are
    # built at the first test's requests, not again at each test's.
    app = app_for(settings, engine)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(
        url=f"http://127.0.0.1:{port}",
        engine=engine,
        project_id=ids[0],
        site_id=ids[1],
        expert=ids[2],
        officer_token=officer_token,
        codes=issued,
        _server=server,
        _thread=thread,
    )


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A running server on SQLite and (when configured) PostgreSQL."""
    server = start_server(db_url, tmp_path / "server")
    yield server
    server.stop()


@pytest.fixture
def sqlite_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A running server on SQLite only (for the slower UI tests)."""
    path = tmp_path / "server.sqlite3"
    shutil.copyfile(sqlite_template, path)
    server = start_server(f"sqlite:///{path}", tmp_path / "server")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kivy_window() -> None:
    """Kivy set up for a headless window in this test process, or the test skipped saying
    how to enable it."""
    reason = kivy_driver.probe()
    if reason is not None:
        pytest.skip(f"{kivy_driver.HOW_TO_ENABLE} ({reason})")
    kivy_driver.prepare()


def new_id() -> str:
    return str(uuid.uuid4())


__all__ = ["PASSWORD", "LiveServer", "new_id", "start_server"]
