"""A tablet reports its status at the start of each sync round (docs/protocol.md#tablet-status),
against the real in-process server: what it reports equals what it holds, it reports again
after a round that sent something, and a server without the route (or a lost report) never
breaks the round."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter, HTTPAdapter
from sqlalchemy import Engine
from sqlmodel import Session
from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse

from server.accounts.models import DeviceStatus
from server.columns import as_utc, utcnow
from sync import errors
from sync import report as report_module
from sync.report import tablet_status
from tests.factories import make_access_token
from tests.server.sync.conftest import Field
from tests.sync.conftest import Tablet
from tests.sync.transport import FaultyAdapter


def _status(engine: Engine, field: Field) -> DeviceStatus | None:
    with Session(engine) as session:
        row = session.get(DeviceStatus, field.device.id)
        if row is not None:
            session.expunge(row)
        return row


def test_the_round_starts_with_the_tablets_status(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, sync, faults = tablet
    sync.client.app_version = "2.1.0"
    sync.language = lambda: "pt"
    for day in (3, 1, 2):
        store.save(
            "activity", field.activity(title=f"Day {day}", captured_at=f"2025-03-0{day}T09:00:00Z")
        )
    faults.faults.append(FaultyAdapter.DROP_REQUEST)  # the push never arrives
    with pytest.raises(errors.NetworkError):  # the round fails at the push, after the status
        sync.sync_once()
    row = _status(engine, field)
    assert row is not None
    waiting = store.waiting()
    assert (row.pending_mutations, row.pending_uploads, row.pending_upload_bytes) == (
        waiting.mutations,
        0,
        0,
    )
    assert row.pending_mutations == 3 and row.records == 3 and row.photos == 0
    assert as_utc(row.oldest_pending_captured_at) == datetime(2025, 3, 1, 9, tzinfo=UTC)
    assert row.app_version == "2.1.0" and row.language == "pt"
    assert row.free_storage_bytes is not None and row.free_storage_bytes > 0
    assert row.last_error is None  # the first report came before the failure
    assert row.pending_since is not None
    # The tablet's own clock, as it stood: here the machine's, so within the round's seconds.
    tablet_time = as_utc(row.tablet_time)
    assert tablet_time is not None and abs(tablet_time - utcnow()) < timedelta(minutes=1)

    # The next round reports the failure it carries, sends everything, then reports again.
    report = sync.sync_once()
    assert report.pushed == {"applied": 3}
    row = _status(engine, field)
    assert row is not None
    sites = len(store.query("site"))  # the project's site came with the pull
    assert sites == 1
    assert (row.pending_mutations, row.pending_uploads, row.records) == (0, 0, 3 + sites)
    assert row.oldest_pending_captured_at is None and row.pending_since is None
    assert row.last_error is None  # the round got past the last one's failure


def test_the_status_is_a_few_hundred_bytes(tablet: Tablet, field: Field) -> None:
    store, _, _ = tablet
    store.save("activity", field.activity(captured_at="2025-03-01T09:00:00Z"))
    store.set_meta(last_error="the server did not answer in time " * 40)
    status = tablet_status(store, app_version="1.0.0", language="en")
    body = status.model_dump_json()
    assert len(body) < 800, body
    assert status.last_error is not None and len(status.last_error) == 500  # cut to the limit


def test_a_tablet_a_year_ahead_is_seen_by_the_office(
    tablet: Tablet,
    field: Field,
    engine: Engine,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flat battery and a hand-set date: the tablet's clock a year ahead, its records dated by
    it. Its status is kept (judged against its own clock), and the office sees how far off it
    is, as a reason to call (docs/protocol.md#tablet-status)."""
    store, sync, _ = tablet
    ahead = datetime.now(UTC) + timedelta(days=365)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Clock:
            return ahead  # type: ignore[return-value]

    monkeypatch.setattr(report_module, "datetime", Clock)
    store.save("activity", field.activity(captured_at=ahead.isoformat()))
    sync.report_status()
    row = _status(engine, field)
    assert row is not None, "the status of a tablet a year ahead was refused"
    assert row.pending_mutations == 1
    with Session(engine) as session:
        officer = make_access_token(session, field.officer)
        session.commit()
    answer = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {officer}"})
    assert answer.status_code == 200, answer.text
    (seen,) = [d for d in answer.json()["items"] if d["id"] == str(field.device.id)]
    assert abs(seen["status"]["clock_offset_seconds"] - 365 * 86400) < 60
    assert "clock" in seen["attention"]


class _WithoutStatusRoute(BaseAdapter):
    """An older server: 404 for POST /sync/status, everything else as usual."""

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner
        self.refused = 0

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if (request.path_url or "").endswith("/sync/status"):
            self.refused += 1
            raw = json.dumps({"detail": "Not Found"}).encode()
            answer = HTTPResponse(
                body=io.BytesIO(raw),
                headers=HTTPHeaderDict({"Content-Type": "application/json"}),
                status=404,
                preload_content=False,
                decode_content=False,
            )
            return HTTPAdapter().build_response(request, answer)
        return self.inner.send(request, *args, **kwargs)

    def close(self) -> None:
        self.inner.close()


def test_a_server_without_tablet_status_still_syncs(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, sync, faults = tablet
    older = _WithoutStatusRoute(faults.inner)
    faults.inner = older
    store.save("activity", field.activity())
    report = sync.sync_once()
    assert report.pushed == {"applied": 1}
    assert older.refused == 2  # at the start, and after the round that sent something
    assert store.meta("last_error") is None
    assert _status(engine, field) is None


def test_a_lost_status_report_does_not_fail_the_round(
    tablet: Tablet, field: Field, engine: Engine
) -> None:
    store, sync, faults = tablet
    faults.spare_status = False
    faults.faults.append(FaultyAdapter.DROP_REQUEST)  # the status report is lost
    store.save("activity", field.activity())
    report = sync.sync_once()
    assert report.pushed == {"applied": 1}
    row = _status(engine, field)  # the closing report arrived
    assert row is not None and row.pending_mutations == 0
