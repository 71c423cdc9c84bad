"""The API docs work offline: Swagger UI comes from the server itself, under a policy that allows
no other host and no inline script but its own; ``PILOTMON_API_DOCS=false`` turns them off."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.api_docs import docs_assets
from server.app import create_app
from server.config import Settings

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)


@sqlite_only
def test_the_docs_page_loads_swagger_ui_from_the_server_itself(client: TestClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    refs = _references(html)
    assert refs and all(ref.startswith("/static/") for ref in refs), refs
    assert "http://" not in html and "https://" not in html
    scripts = [r for r in refs if r.endswith(".js")]
    styles = [r for r in refs if r.endswith(".css")]
    assert scripts and styles
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    bundle = client.get(scripts[0]).text
    assert "SwaggerUIBundle" in bundle and len(bundle) > 500_000  # the real Swagger UI
    assert "/api/v1/openapi.json" in html
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Pilot Monitor"


@sqlite_only
def test_the_docs_policy_allows_only_this_server_and_the_page_own_script(
    client: TestClient,
) -> None:
    page = client.get("/api/v1/docs")
    policy = page.headers["content-security-policy"]
    assert "http" not in policy and "unsafe-inline" not in policy
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy


@pytest.fixture
def no_docs(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    settings.ensure_data_dir()
    quiet = settings.model_copy(update={"api_docs": False})
    with TestClient(create_app(quiet, engine)) as client:
        yield client


@sqlite_only
def test_api_docs_false_turns_off_the_page_the_schema_and_their_files(
    no_docs: TestClient,
) -> None:
    for path in ("/api/v1/docs", "/api/v1/openapi.json", docs_assets().url("swagger-ui.css")):
        assert no_docs.get(path).status_code == 404, path
    assert no_docs.get("/api/v1/health").status_code in (200, 503)  # the API itself still works


def test_the_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PILOTMON_API_DOCS", "false")
    assert Settings(data_dir=tmp_path).api_docs is False
    monkeypatch.delenv("PILOTMON_API_DOCS")
    assert Settings(data_dir=tmp_path).api_docs is True


@pytest.mark.browser
@pytest.mark.slow
@sqlite_only
def test_swagger_ui_draws_the_api_in_a_browser_with_no_other_host(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """In headless Chromium (no network beyond loopback), the page lists the operations and the
    console holds no refused script or style: the policy and the served files agree."""
    from selenium.webdriver import Chrome
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.server.dashboard.browser import chromium, live_server, missing_browser

    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    settings.ensure_data_dir()
    with (
        live_server(create_app(settings, engine)) as base,
        chromium(tmp_path / "profile", tmp_path / "downloads") as browser,
    ):
        assert isinstance(browser, Chrome)
        driver: Chrome = browser
        driver.get(f"{base}/api/v1/docs")
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements("css selector", ".opblock")) > 20
        )
        text = driver.find_element("tag name", "body").text
        assert "/api/v1/sync/push" in text and "Pilot Monitor" in text
        console = driver.get_log("browser")
        assert not [m for m in console if m["level"] == "SEVERE"], console
