"""Custody on the tablet, without a window: receipt keys pinned from the enrolment answer, and
what Home and Settings say (docs/protocol.md#custody-receipts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from field_app import i18n
from field_app.backend import StoreBackend
from field_app.controllers.custody import custody_text, receipts_saved
from sync.store import Custody
from tests.sync.receipts import Issuer


class _Enrolling(BaseAdapter):
    """Answers ``POST /devices/enrol`` as a server with receipt keys does."""

    def __init__(self, keys: list[Any]) -> None:
        super().__init__()
        self.keys = keys

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        body = json.loads(request.body or b"{}")
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(
            {
                "device_token": "token",
                "device_id": body["device_id"],
                "server_time": "2026-01-01T00:00:00+00:00",
                "user": {"username": "amina", "role": "field_expert"},
                "receipt_keys": self.keys,
            }
        ).encode()
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_the_keys_of_the_enrolment_answer_are_pinned(tmp_path: Path) -> None:
    server = Issuer()
    http = requests.Session()
    http.mount("https://", _Enrolling([server.published, {"key_id": "x"}, "junk"]))
    backend = StoreBackend(tmp_path / "tablet", http=http)
    try:
        backend.enrol(
            server_url="https://pm.example.org",
            code="ABCD-EFGH",
            username=None,
            password=None,
            label="tab",
        )
        assert backend.store.receipt_keys() == [server.published]
        path, count = backend.save_receipts(tmp_path / "out")
        document = json.loads(path.read_text(encoding="utf-8"))
        assert (document["server"], document["keys"], count) == (
            "https://pm.example.org",
            [server.published],
            0,
        )
    finally:
        backend.close()


def _custody(**values: Any) -> Custody:
    base = dict(
        records=0,
        held_records=0,
        photos=0,
        held_photos=0,
        oldest=None,
        mutations=0,
        uploads=0,
        receipts=0,
    )
    return Custody(**{**base, **values})


@pytest.fixture
def english() -> Any:
    i18n.set_language("en")
    yield
    i18n.set_language("en")


def test_safe_to_wipe_or_exactly_what_is_not_yet_safe(english: None) -> None:
    assert custody_text(_custody(held_records=4, receipts=4)).headline == "Safe to wipe"
    waiting = custody_text(
        _custody(records=2, photos=1, oldest="2025-03-14T09:30:00+02:00", mutations=1)
    )
    assert (waiting.headline, waiting.detail, waiting.tone) == (
        "Not yet safe to wipe: 2 records, 1 photo",
        "The oldest change was saved on 14 March 2025. Do not wipe or hand over this tablet yet.",
        "pending",
    )
    # Only a decision waits in the outbox: still not safe, said in words.
    assert custody_text(_custody(mutations=1)).headline == (
        "Not yet safe to wipe: changes waiting to be sent"
    )
    assert receipts_saved(Path("/x/r.json"), 1) == "1 receipt saved to /x/r.json."


def test_the_custody_words_are_translated(english: None) -> None:
    i18n.set_language("fr")
    waiting = custody_text(_custody(records=2, photos=3, oldest="2025-03-14"))
    assert waiting.headline == "Pas encore prête à effacer\u00a0: 2 enregistrements, 3 photos"
    assert custody_text(_custody()).headline == "Prête à effacer"
