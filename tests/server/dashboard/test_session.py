"""The cookie session's building blocks: CSRF tokens, signed notices, safe redirects."""

from __future__ import annotations

import pytest

from server.dashboard import session as cookies

SECRET = "a-secret-that-is-long-enough-for-the-tests-0123456789"


def test_csrf_tokens_belong_to_one_session_and_one_secret() -> None:
    token = cookies.csrf_token(secret=SECRET, session_token="session-a")
    assert token == cookies.csrf_token(secret=SECRET, session_token="session-a")
    assert token != cookies.csrf_token(secret=SECRET, session_token="session-b")
    assert token != cookies.csrf_token(secret=SECRET + "x", session_token="session-a")
    assert cookies.tokens_match(token, token)
    assert not cookies.tokens_match(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not cookies.tokens_match(None, token)
    assert not cookies.tokens_match(token, "")


def test_a_notice_reads_back_only_when_untouched() -> None:
    signed = cookies.sign_notice(
        secret=SECRET, notice={"message": "Approved “%(title)s”.", "values": {"title": "x"}}
    )
    assert cookies.read_notice(secret=SECRET, value=signed) == {
        "message": "Approved “%(title)s”.",
        "values": {"title": "x"},
    }
    body, mac = signed.rsplit(".", 1)
    forged = cookies.sign_notice(secret="another secret", notice={"message": "Hacked"})
    assert cookies.read_notice(secret=SECRET, value=forged) is None
    assert cookies.read_notice(secret=SECRET, value=body + "x." + mac) is None
    assert cookies.read_notice(secret=SECRET, value="garbage") is None
    assert cookies.read_notice(secret=SECRET, value=None) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/review?late=1", "/review?late=1"),
        ("/activities/1#review", "/activities/1#review"),
        ("", "/overview"),
        (None, "/overview"),
        ("https://evil.example/", "/overview"),
        ("//evil.example/", "/overview"),
        ("/\\evil.example", "/overview"),
        ("javascript:alert(1)", "/overview"),
        ("review", "/overview"),
    ],
)
def test_only_paths_of_this_site_are_followed(target: str | None, expected: str) -> None:
    assert cookies.safe_next(target) == expected
