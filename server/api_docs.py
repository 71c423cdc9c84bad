"""The API's interactive documentation (Swagger UI), served entirely by this server.

FastAPI's own docs page loads Swagger UI from a CDN, which leaves a blank page on an offline
laptop or a country office behind a narrow link. Here the script and styles come from the
``fastapi-offline`` package (a maintained PyPI release of Swagger UI's dist files) under
content-hashed ``/static/api-docs/`` addresses, and the page's one inline script is allowed by
its hash rather than by ``'unsafe-inline'``. ``PILOTMON_API_DOCS=false`` turns the page and the
OpenAPI schema off (``server.config.Settings.api_docs``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from server.dashboard.assets import HashedStaticFiles
from server.dashboard.web import STATIC_FILES

ASSETS_PREFIX = "/static/api-docs"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@functools.cache
def docs_assets() -> HashedStaticFiles:
    """Swagger UI's files as the installed fastapi-offline ships them, hashed once."""
    return HashedStaticFiles(
        directory=Path(fastapi_offline.__file__).parent / "static", prefix=ASSETS_PREFIX
    )


def _content_security_policy(html: str) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )


def install_docs(app: FastAPI, *, docs_url: str, openapi_url: str) -> None:
    """Serve Swagger UI at ``docs_url`` for the schema at ``openapi_url``, assets included.

    Call before the dashboard's ``/static`` mount: the first matching mount wins.
    """
    assets = docs_assets()
    app.mount(ASSETS_PREFIX, assets, name="api-docs-assets")
    # The page is the same for every request: render it, and its policy, once.
    html = bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=assets.url("swagger-ui-bundle.js"),
            swagger_css_url=assets.url("swagger-ui.css"),
            swagger_favicon_url=STATIC_FILES.url("favicon.svg"),
        ).body
    ).decode()
    policy = _content_security_policy(html)

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})
