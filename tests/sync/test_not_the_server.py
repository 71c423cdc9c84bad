"""Something other than the server answers: a hotspot's or an operator's sign-in page, a proxy.
The client says so (``NotTheServer``, tried again by itself) instead of an unexpected error in
English, and never takes such a page's 401 or 403 for the server refusing the tablet.

The client runs its real ``requests`` session against a scripted HTTP server on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync import errors
from sync.client import SyncClient
from sync.errors import CAUSES
from tests.sync.scripted import Scripted

PORTAL = b"<!doctype html><html><body><h1>Welcome! Sign in to use the Wi-Fi</h1></body></html>"


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.close()


def _client(server: Scripted) -> SyncClient:
    return SyncClient(server.url, token="t", timeout=(5.0, 30.0))


@pytest.mark.parametrize("status", [200, 401, 403, 511])
def test_a_sign_in_page_is_not_the_server(server: Scripted, status: int) -> None:
    server.answers.append((status, {"Content-Type": "text/html"}, PORTAL))
    with pytest.raises(errors.NotTheServer) as caught:
        _client(server).push(b'{"protocol":1,"device_id":"d","mutations":[]}')
    assert caught.value.retry  # the tablet tries again by itself
    assert caught.value.cause == "not_the_server" and caught.value.cause in CAUSES
    assert caught.value.status == status
    assert "sign-in page" in caught.value.message


def test_the_servers_own_401_and_403_keep_their_meaning(server: Scripted) -> None:
    server.answers.append((401, {}, {"detail": "unknown token"}))
    with pytest.raises(errors.NotEnrolled):
        _client(server).info()
    server.answers.append((403, {}, {"detail": "revoked"}))
    with pytest.raises(errors.DeviceRevoked):
        _client(server).info()


def test_an_answer_of_another_shape_is_the_servers_failure(server: Scripted) -> None:
    server.answers.append((200, {}, {"hello": "proxy"}))
    with pytest.raises(errors.ServerError) as caught:
        _client(server).pull(None)
    assert caught.value.retry and caught.value.cause == "server_error"
    assert "does not follow the protocol" in caught.value.message
