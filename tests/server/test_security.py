"""Security hygiene: headers, cookies, body size and rate limits, no secrets in the repository."""

from __future__ import annotations

import re
import subprocess
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.config import Settings
from server.db import write_engine
from server.security import TokenBuckets
from tests.conftest import app_for
from tests.factories import PASSWORD, make_user

REPO = Path(__file__).resolve().parents[2]


def _app_client(
    settings: Settings, engine: Engine, base_url: str = "http://testserver", **limits: int
) -> TestClient:
    settings.ensure_data_dir()
    tuned = settings.model_copy(update=limits) if limits else settings
    return TestClient(app_for(tuned, engine), base_url=base_url)


# --- headers and cookies -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/health", "/login", "/api/v1/no-such-route"])
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"].split("style-src-attr")[0]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "camera=()" in headers["permissions-policy"]
    # Plain http (a developer's laptop): HSTS would be ignored and is not sent.
    assert "strict-transport-security" not in headers


def test_api_answers_are_never_cached_and_https_gets_hsts(
    settings: Settings,
    engine: Engine,
) -> None:
    with _app_client(settings, engine, base_url="https://pilot.example.org") as https:
        response = https.get("/api/v1/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert response.headers["cache-control"] == "no-store"


def _login_page_csrf(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the login form carries a CSRF token"
    return found.group(1)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_dashboard_session_cookie_is_httponly_samesite_and_secure_over_https(
    settings: Settings,
    engine: Engine,
    scheme: str,
) -> None:
    with Session(write_engine(engine)) as session:
        make_user(session, role="hq_analyst", username="hq.cookie", countries=[])
        session.commit()
    with _app_client(settings, engine, base_url=f"{scheme}://pilot.example.org") as browser:
        csrf = _login_page_csrf(browser)
        answer = browser.post(
            "/login",
            data={"username": "hq.cookie", "password": PASSWORD, "csrf_token": csrf},
            follow_redirects=False,
        )
    assert answer.status_code == 303, answer.text
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("pilotmon_session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert ("secure" in flags) == (scheme == "https")


# --- body size ---------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_it_is_read(
    settings: Settings,
    engine: Engine,
) -> None:
    from server.security import PUBLIC_BODY_LIMIT
    from tests.factories import make_access_token

    limit = settings.max_request_bytes
    with Session(write_engine(engine)) as session:
        token = make_access_token(session, make_user(session, role="admin", countries=[]))
        session.commit()
    with _app_client(settings, engine) as http:
        response = http.post(
            "/api/v1/users",
            content=b"x" * (limit + 1),
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
        # A public route (anyone may call it) takes only small bodies.
        public = http.post(
            "/api/v1/auth/token",
            content=b"x" * (PUBLIC_BODY_LIMIT + 1),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413
    assert response.json()["limit"] == limit
    assert response.json()["code"] == "body_too_large"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert public.status_code == 413
    assert public.json()["limit"] == PUBLIC_BODY_LIMIT


def test_a_chunked_body_is_cut_off_at_the_limit(settings: Settings, engine: Engine) -> None:
    """No Content-Length: the server reads at most one chunk past the limit, then says 413."""
    import asyncio

    limit = 256 * 1024
    app = app_for(settings.model_copy(update={"max_request_bytes": limit}), engine)
    pulled: list[int] = []
    answer: list[MutableMapping[str, Any]] = []
    chunk = b"a=" + b"b" * 65_534

    async def receive() -> MutableMapping[str, Any]:
        if len(pulled) >= 10_000:  # 640 MB if nobody stopped reading
            return {"type": "http.disconnect"}
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/auth/token",
        "raw_path": b"/api/v1/auth/token",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    settings.ensure_data_dir()
    asyncio.run(app(scope, receive, send))
    start = next(m for m in answer if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert sum(pulled) <= limit + len(chunk)


def test_a_malformed_content_length_is_a_400(settings: Settings, engine: Engine) -> None:
    with _app_client(settings, engine) as http:
        response = http.post(
            "/api/v1/auth/token",
            content=b"a=b",
            headers={
                "content-length": "12abc",
                "content-type": "application/x-www-form-urlencoded",
            },
        )
    assert response.status_code == 400
    assert response.json()["code"] == "not_integer"
    assert response.json()["detail"][0]["field"] == "Content-Length"
    assert response.json()["detail"][0]["code"] == "not_integer"


def test_a_body_under_the_limit_reaches_the_route(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/token", data={"username": "nobody", "password": "wrong password"}
    )
    assert response.status_code == 401


# --- rate limits -------------------------------------------------------------------------------


def test_token_buckets_refill_with_time() -> None:
    now = [1000.0]
    buckets = TokenBuckets(per_minute=60, capacity=2, clock=lambda: now[0])
    assert buckets.take("a") == 0 and buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # another client has its own bucket
    now[0] += 1.0
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0


def test_login_flood_from_one_address_gets_429_with_retry_after(
    settings: Settings,
    engine: Engine,
) -> None:
    with _app_client(settings, engine, rate_limit_auth_per_minute=3) as http:
        answers = [
            http.post(
                "/api/v1/auth/token", data={"username": f"guess{n}", "password": "not the password"}
            )
            for n in range(5)
        ]
        health = http.get("/api/v1/health")
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    limited = answers[-1]
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["code"] == "rate_limited"
    assert health.status_code != 429  # other routes are not limited


def test_sync_is_limited_per_device_token(settings: Settings, engine: Engine) -> None:
    with _app_client(settings, engine, rate_limit_sync_per_minute=2) as http:
        first = [
            http.get("/api/v1/sync/pull", headers={"Authorization": "Bearer tablet-one"})
            for _ in range(3)
        ]
        other = http.get("/api/v1/sync/pull", headers={"Authorization": "Bearer tablet-two"})
    assert [a.status_code for a in first[:2]] == [401, 401]
    assert first[2].status_code == 429 and "retry-after" in first[2].headers
    assert other.status_code == 401  # a second tablet behind the same address is not blocked


def test_random_tokens_cannot_bypass_the_sync_limit(settings: Settings, engine: Engine) -> None:
    from server.security import SYNC_ADDRESS_FACTOR

    with _app_client(settings, engine, rate_limit_sync_per_minute=1) as http:
        codes = [
            http.get(
                "/api/v1/sync/pull", headers={"Authorization": f"Bearer random-{n}"}
            ).status_code
            for n in range(SYNC_ADDRESS_FACTOR + 2)
        ]
    assert 429 in codes


def test_rate_limits_can_be_switched_off() -> None:
    from server.security import RateLimit

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    off = RateLimit(app, auth_per_minute=0, sync_per_minute=0)
    login = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/auth/token",
        "client": ("10.0.0.1", 1),
        "headers": [],
    }
    pull = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/sync/pull",
        "client": ("10.0.0.1", 1),
        "headers": [(b"authorization", b"Bearer t")],
    }
    assert all(off._wait(login) == 0 and off._wait(pull) == 0 for _ in range(1000))
    on = RateLimit(app, auth_per_minute=30, sync_per_minute=600)
    assert any(on._wait(login) > 0 for _ in range(31))


# --- secrets -----------------------------------------------------------------------------------

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    (
        "secret assignment",
        re.compile(
            r"(?i)\b(?:secret_key|api_key|password|passwd|access_token)\b[\"']?\s*[:=]\s*"
            r"[\"']([^\"'\s]{20,})[\"']"
        ),
    ),
    (
        "database URL with a password",
        re.compile(r"\b(?:postgres(?:ql)?(?:\+\w+)?|mysql)://[^:/\s\"']+:([^@/\s\"']+)@"),
    ),
)
# Values that are placeholders or test-only credentials by design.
ALLOWED_VALUES = re.compile(
    r"(?i)^(?:.{1,3}|pilotmon|pilotmon_ci|secret|password|pass|USER|PASS|CHANGE-?ME.*|\$\{?\w+\}?|"
    r"<[^>]+>|\.\.\.|x+|development-only-secret-change-me|.*example.*)$"
)
SKIP_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".mo",
    ".pdf",
    ".xlsx",
    ".zip",
    ".gz",
    ".sqlite3",
    ".woff",
    ".woff2",
    ".ttf",
)


def secrets_in(text: str, *, in_tests: bool) -> list[str]:
    found = []
    for label, pattern in SECRET_PATTERNS:
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups else match.group(0)
            if ALLOWED_VALUES.match(value):
                continue
            # Tests hold obviously fake passwords and tokens; real key material is never fine.
            if in_tests and label in ("secret assignment", "database URL with a password"):
                continue
            found.append(f"{label}: {match.group(0)[:60]}")
    return found


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
        names = [n for n in listed.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is needed to list the repository's files")
    return [REPO / n for n in names if not n.endswith(SKIP_SUFFIXES) and (REPO / n).is_file()]


def test_the_secret_detector_finds_what_it_should() -> None:
    header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    assert secrets_in(f"{header}\nMIIEow...", in_tests=True)
    assert secrets_in("key = 'AKIA" + "ABCDEFGHIJKLMNOP'", in_tests=False)
    assert secrets_in('SECRET_KEY = "' + "q8Jf2LmZ0pXw7RtY4vBn1KcD" + '"', in_tests=False)
    assert secrets_in("postgresql://app:" + "Xy7Gh2Lq9@db.internal/prod", in_tests=False)
    assert not secrets_in("postgresql://pilotmon:pilotmon@127.0.0.1/pilotmon_h8", in_tests=False)
    assert not secrets_in("PILOTMON_SECRET_KEY=$(openssl rand -base64 48)", in_tests=False)


def test_the_repository_holds_no_secrets() -> None:
    problems = []
    for path in _repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        relative = path.relative_to(REPO).as_posix()
        # Tests and benchmarks run against throw-away local servers with made-up secrets.
        for problem in secrets_in(text, in_tests=relative.startswith(("tests/", "bench/"))):
            problems.append(f"{relative}: {problem}")
    assert not problems, "secrets belong in the environment, not the repository:\n" + "\n".join(
        problems
    )


def test_settings_read_the_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("PILOTMON_ENVIRONMENT", "production")
    monkeypatch.setenv("PILOTMON_SECRET_KEY", "s" * 48)
    assert Settings().secret_key == "s" * 48
    monkeypatch.delenv("PILOTMON_SECRET_KEY")
    with pytest.raises(ValueError, match="PILOTMON_SECRET_KEY"):
        Settings()


# --- dependency audit (make lint) --------------------------------------------------------------


def _audit_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "audit_dependencies", REPO / "tools" / "audit_dependencies.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("dependencies", "offline", "code", "says"),
    [
        (
            [
                {"name": "a", "version": "1", "vulns": []},
                {"name": "b", "version": "2", "vulns": []},
            ],
            "fail",
            0,
            "2 packages audited",
        ),
        (
            [{"name": "a", "version": "1", "vulns": [{"id": "PYSEC-1", "fix_versions": ["1.1"]}]}],
            "fail",
            1,
            "PYSEC-1 (fixed in: 1.1)",
        ),
        ([{"name": "a", "skip_reason": "Dependency not found on PyPI"}], "fail", 3, "NOT AUDITED"),
        ([{"name": "a", "skip_reason": "Dependency not found on PyPI"}], "warn", 0, "NOT AUDITED"),
    ],
)
def test_the_dependency_audit_says_when_it_could_not_audit(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dependencies: list[dict[str, Any]],
    offline: str,
    code: int,
    says: str,
) -> None:
    import json

    audit = _audit_module()
    monkeypatch.setenv("AUDIT_OFFLINE", offline)
    monkeypatch.setattr(
        audit.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(
            a, 0, stdout=json.dumps({"dependencies": dependencies, "fixes": []}), stderr=""
        ),
    )
    assert audit.main() == code
    output = capsys.readouterr()
    assert says in output.out + output.err


def test_the_dependency_audit_explains_an_unreachable_service(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit = _audit_module()
    monkeypatch.delenv("AUDIT_OFFLINE", raising=False)
    monkeypatch.setattr(
        audit.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(
            a, 1, stdout="", stderr="requests.exceptions.ConnectionError: Max retries exceeded"
        ),
    )
    assert audit.main() == 3
    err = capsys.readouterr().err
    assert "could not be reached" in err and "ConnectionError" in err
