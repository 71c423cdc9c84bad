"""How answers travel: gzip when the client accepts it (pages, JSON, streamed CSV), never twice,
and static files under content-hashed addresses that browsers may keep for a year."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from server.dashboard import session as cookies
from server.dashboard.assets import IMMUTABLE, HashedStaticFiles, UnknownAsset, hashed_name
from server.dashboard.web import STATIC_DIR
from tests.server.dashboard.conftest import sign_in, sqlite_only
from tests.server.dashboard.world import World

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


@dataclass(frozen=True)
class Wire:
    status_code: int
    headers: httpx.Headers
    raw_bytes: bytes


def _raw(client: TestClient, path: str, headers: dict[str, str]) -> Wire:
    """The answer as it came over the wire (httpx would otherwise inflate it silently)."""
    with client.stream("GET", path, headers=headers) as response:
        return Wire(response.status_code, response.headers, b"".join(response.iter_raw()))


def _bearer(client: TestClient, engine: Engine, world: World) -> dict[str, str]:
    api = TestClient(client.app)
    sign_in(api, engine, world.officer)
    return {"Authorization": f"Bearer {api.cookies.get(cookies.SESSION_COOKIE)}"}


# --- gzip ------------------------------------------------------------------------------------


@sqlite_only
def test_a_page_is_gzipped_only_for_a_client_that_asks(officer: TestClient) -> None:
    packed = _raw(officer, "/overview", GZIP)
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in packed.headers["vary"].lower()
    html = gzip.decompress(packed.raw_bytes).decode()
    assert html.startswith("<!doctype html>")
    assert int(packed.headers["content-length"]) == len(packed.raw_bytes) < len(html) / 2
    # A signed-in page is never kept by a shared cache.
    assert packed.headers["cache-control"] in ("no-store", "no-cache", "private")

    plain = _raw(officer, "/overview", IDENTITY)
    assert "content-encoding" not in plain.headers
    assert plain.raw_bytes.decode().startswith("<!doctype html>")


def test_a_json_list_is_gzipped_when_asked(
    officer: TestClient, engine: Engine, world: World
) -> None:
    auth = _bearer(officer, engine, world)
    packed = _raw(officer, "/api/v1/activities?limit=100", {**GZIP, **auth})
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    answer = json.loads(gzip.decompress(packed.raw_bytes))
    assert answer["total"] == len(answer["items"]) > 5

    plain = _raw(officer, "/api/v1/activities?limit=100", {**IDENTITY, **auth})
    assert "content-encoding" not in plain.headers
    assert json.loads(plain.raw_bytes) == answer


@sqlite_only
def test_a_small_answer_is_sent_as_it_is(client: TestClient) -> None:
    small = _raw(client, "/api/v1/health", GZIP)
    assert len(small.raw_bytes) < 1024
    assert "content-encoding" not in small.headers


def test_a_streamed_csv_export_is_gzipped_and_reads_back_whole(
    officer: TestClient, engine: Engine, world: World
) -> None:
    auth = _bearer(officer, engine, world)
    packed = _raw(officer, "/api/v1/exports/activities.csv", {**GZIP, **auth})
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    text = gzip.decompress(packed.raw_bytes).decode("utf-8-sig")
    plain = _raw(officer, "/api/v1/exports/activities.csv", {**IDENTITY, **auth})
    assert plain.raw_bytes.decode("utf-8-sig") == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) > 5

    # A workbook is a zip file already: sent as it is.
    book = _raw(officer, "/api/v1/exports/activities.xlsx", {**GZIP, **auth})
    assert book.status_code == 200 and "content-encoding" not in book.headers
    assert book.raw_bytes[:2] == b"PK"


def test_a_sync_pull_is_gzipped_once(officer: TestClient, world: World) -> None:
    """The sync routes gzip their own answers; the middleware must not wrap them again."""
    token = world.tablet_tokens["Tablet A — Maseru"]
    packed = _raw(officer, "/api/v1/sync/pull", {**GZIP, "Authorization": f"Bearer {token}"})
    assert packed.status_code == 200, packed.raw_bytes
    assert packed.headers["content-encoding"] == "gzip"
    answer = json.loads(gzip.decompress(packed.raw_bytes))
    assert answer["changes"] and "cursor" in answer


# --- hashed static files ---------------------------------------------------------------------


@sqlite_only
def test_pages_name_static_files_by_their_hash_and_those_are_kept_a_year(
    officer: TestClient,
) -> None:
    html = officer.get("/overview").text
    for name in ("dashboard.css", "dashboard.js", "favicon.svg"):
        expected = "/static/" + hashed_name(name, (STATIC_DIR / name).read_bytes())
        assert f'"{expected}"' in html, name
        response = officer.get(expected)
        assert response.status_code == 200
        assert response.content == (STATIC_DIR / name).read_bytes()
        assert (
            response.headers["cache-control"]
            == IMMUTABLE
            == ("public, max-age=31536000, immutable")
        )
    assert not re.search(r'"/static/dashboard\.(css|js)"', html)
    # The plain name still answers (old bookmarks), but must be checked again each time.
    plain = officer.get("/static/dashboard.css")
    assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"
    # Compressible assets travel gzipped too.
    packed = _raw(officer, "/static/" + hashed_name("dashboard.css", b""), GZIP)
    assert packed.status_code == 404  # a hash that is not the file's is not served
    css = _raw(
        officer,
        "/static/" + hashed_name("dashboard.css", (STATIC_DIR / "dashboard.css").read_bytes()),
        GZIP,
    )
    assert css.headers["content-encoding"] == "gzip"


def _serving(files: HashedStaticFiles) -> TestClient:
    return TestClient(Starlette(routes=[Mount(files.prefix, app=files)]))


def test_a_changed_file_gets_a_new_address(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body { color: black }")
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "a.svg").write_text("<svg/>")
    before = HashedStaticFiles(directory=tmp_path, prefix="/static")
    old = before.url("app.css")
    assert re.fullmatch(r"/static/app\.[0-9a-f]{10}\.css", old)
    assert re.fullmatch(r"/static/icons/a\.[0-9a-f]{10}\.svg", before.url("icons/a.svg"))
    with pytest.raises(UnknownAsset, match=r"nope\.css"):
        before.url("nope.css")

    (tmp_path / "app.css").write_text("body { color: navy }")
    after = HashedStaticFiles(directory=tmp_path, prefix="/static")  # the next start
    new = after.url("app.css")
    assert new != old and after.url("icons/a.svg") == before.url("icons/a.svg")

    with _serving(after) as client:
        served = client.get(new)
        assert (served.status_code, served.text) == (200, "body { color: navy }")
        assert served.headers["cache-control"] == IMMUTABLE
        # The old address never serves the new bytes under a year-long promise.
        assert client.get(old).status_code == 404
