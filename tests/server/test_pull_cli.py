"""``pilotmon pull`` against a live server on 127.0.0.1: outputs, login, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session

from server.app import create_app
from server.cli import main
from server.config import Settings
from server.hqclient.cli import pull
from tests.factories import PASSWORD, World
from tests.server.test_cli import run_cli


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


@pytest.fixture
def server_url(settings: Settings, engine: Engine, world: World) -> Iterator[str]:
    settings.ensure_data_dir()
    config = uvicorn.Config(
        create_app(settings, engine), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # startup, not a timed assertion
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


def _pull(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["pull", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code: int, err: str, *words: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pilotmon: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def test_pull_json_csv_and_xlsx(
    server_url: str,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PILOTMON_TOKEN", world.tokens["hq"])
    common = (
        "--server",
        server_url,
        "--indicator",
        "participants",
        "--group-by",
        "country",
        "--group-by",
        "sex",
        "--filter",
        "region=RBJ,RBN",
    )
    code, _, err = _pull(capsys, *common, "--format", "json", "--out", str(tmp_path / "p.json"))
    assert code == 0, err
    body = json.loads((tmp_path / "p.json").read_text())
    assert body["indicator"] == "PARTICIPANTS"
    assert body["rows"] == [
        {"country": c, "sex": s, "value": v}
        for c in ("KEN", "LSO")
        for s, v in (("female", 12), ("male", 8))
    ]
    assert f"wrote {(tmp_path / 'p.json').stat().st_size} bytes" in err

    code, _, err = _pull(
        capsys, *common, "--format", "csv", "--out", str(tmp_path / "p.csv"), "--progress"
    )
    assert code == 0, err
    assert "received" in err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text("utf-8-sig"))))
    assert rows == [{k: str(v) for k, v in r.items()} for r in body["rows"]]

    code, _, err = _pull(capsys, *common, "--format", "xlsx", "--out", str(tmp_path / "p.xlsx"))
    assert code == 0, err
    sheet = load_workbook(tmp_path / "p.xlsx").active
    assert sheet is not None
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [
        ["country", "sex", "value"],
        *([r["country"], r["sex"], r["value"]] for r in body["rows"]),
    ]
    assert not list(tmp_path.glob("*.part"))


def test_pull_to_standard_output(
    server_url: str,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    monkeypatch.setenv("PILOTMON_TOKEN", world.tokens["officer_lso"])
    code = main(
        [
            "pull",
            "--server",
            server_url,
            "--indicator",
            "ACTIVITIES",
            "--group-by",
            "country",
            "--format",
            "csv",
        ]
    )
    out, _ = capsysbinary.readouterr()
    assert code == 0
    # an officer's pull holds only their country; no byte-order mark in a pipe (the file
    # written with --out keeps it for Excel)
    assert out.decode("utf-8").splitlines() == ["country,value", "LSO,1"]


def test_pull_logs_in_when_no_token_is_set(
    server_url: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PILOTMON_TOKEN", raising=False)
    out = tmp_path / "a.json"
    result = CliRunner().invoke(
        pull,
        _json_to(server_url, out),
        input=f"{world.users['officer_ken'].username}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["rows"] == [{"value": 1}]


def _json_to(server_url: str, out: Path) -> list[str]:
    """pull's arguments for the ACTIVITIES total as JSON into ``out``."""
    return [
        "--server",
        server_url,
        "--indicator",
        "ACTIVITIES",
        "--format",
        "json",
        "--out",
        str(out),
    ]


def test_a_password_piped_in_is_read_without_a_warning(
    server_url: str, world: World, tmp_path: Path
) -> None:
    # A script piping the password got Python's GetPassWarning on stderr, with getpass.py's path
    # and a line of its source, and "Warning: Password input may be echoed".
    out = tmp_path / "a.json"
    result = run_cli(
        "pull",
        *_json_to(server_url, out),
        "--username",
        world.users["officer_ken"].username,
        stdin=f"{PASSWORD}\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "getpass" not in result.stderr, result.stderr
    assert json.loads(out.read_text())["rows"] == [{"value": 1}]


def test_wrong_password_and_bad_token(
    server_url: str,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PILOTMON_TOKEN", "not-a-token")
    code, _, err = _pull(capsys, "--server", server_url, "--indicator", "ACTIVITIES")
    _one_line(code, err, "not logged in", "PILOTMON_TOKEN")
    monkeypatch.delenv("PILOTMON_TOKEN")
    result = CliRunner().invoke(
        pull,
        ["--server", server_url, "--indicator", "ACTIVITIES"],
        input="nobody\nwrong password\n",
    )
    assert result.exit_code != 0
    assert "wrong username or password" in str(result.exception)


def test_bad_key_passes_the_servers_message_through(
    server_url: str,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PILOTMON_TOKEN", world.tokens["hq"])
    out = tmp_path / "x.csv"
    code, _, err = _pull(
        capsys,
        "--server",
        server_url,
        "--indicator",
        "ACTIVITIES",
        "--group-by",
        "sex",
        "--out",
        str(out),
    )
    _one_line(code, err, "group_by: sex cannot group ACTIVITIES")
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    code, _, err = _pull(capsys, "--server", server_url, "--indicator", "HAPPINESS")
    _one_line(code, err, "no indicator 'HAPPINESS'")
    code, _, err = _pull(
        capsys, "--server", server_url, "--indicator", "ACTIVITIES", "--filter", "country"
    )
    _one_line(code, err, "--filter", "KEY=VALUE")
    assert code == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _pull(
        capsys, "--server", f"http://127.0.0.1:{_free_port()}", "--indicator", "ACTIVITIES"
    )
    _one_line(code, err, "connection refused")
    for server in ("127.0.0.1:8000", "monitor.example.org"):
        code, _, err = _pull(capsys, "--server", server, "--indicator", "ACTIVITIES")
        _one_line(code, err, "start it with http:// or https://")


class _NotUs(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_not_a_pilot_monitor(capsys: pytest.CaptureFixture[str]) -> None:
    other = HTTPServer(("127.0.0.1", 0), _NotUs)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        code, _, err = _pull(
            capsys, "--server", f"http://127.0.0.1:{other.server_port}", "--indicator", "ACTIVITIES"
        )
    finally:
        other.shutdown()
        other.server_close()
    _one_line(code, err, "is not a Pilot Monitor server")
