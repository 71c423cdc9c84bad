"""The tablet's sync of observations against a stand-in server that speaks the documented
shapes (docs/protocol.md#push, #pull; docs/results.md#observations) and applies the server's
rules as the obs branch does: the shared ``validate_observation`` against the form version, and
the three-way merge with each answer one field (``values.<name>``). The real server's end-to-end
test runs after the merge of the obs branch."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from field_app.backend import StoreBackend
from field_app.controllers import observations as obs
from server.results.shipped import DEMO_PLOT_HARVEST
from shared.observations import validate_observation
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.merge import Revision, merge_upsert
from tests.sync.transport import BASE_URL, ASGIAdapter, session_over

PROJECT = str(uuid.uuid4())
TODAY = date.today()


def flat(data: dict[str, Any], names: Any = ()) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "values"}
    for name in names:
        out[f"values.{name}"] = None
    for name, value in (data.get("values") or {}).items():
        out[f"values.{name}"] = value
    return out


def unflat(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if not k.startswith("values.")}
    out["values"] = {
        k[len("values.") :]: v for k, v in data.items() if k.startswith("values.") and v is not None
    }
    return out


class StandIn:
    """Observations and forms as the server keeps them: every version of each record."""

    def __init__(self) -> None:
        self.form = {
            "id": str(uuid.uuid4()),
            "code": DEMO_PLOT_HARVEST["code"],
            "version": 1,
            "title": DEMO_PLOT_HARVEST["title"],
            "project_id": None,
            "status": "published",
            "fields": DEMO_PLOT_HARVEST["fields"],
            "indicators": DEMO_PLOT_HARVEST["indicators"],
            "published_at": "2025-01-01T00:00:00+00:00",
            "retired_at": None,
        }
        self.history: dict[str, list[tuple[dict[str, Any], bool]]] = {}  # id -> (data, own)
        self.reviews: dict[str, list[dict[str, Any]]] = {}
        self.status: dict[str, str] = {}
        self.log: list[tuple[str, str]] = [("form", self.form["id"])]
        self.pushed: list[dict[str, Any]] = []

    def wire(self, oid: str) -> dict[str, Any]:
        data, _own = self.history[oid][-1]
        return {  # as the obs branch's observation_wire
            "site_id": None,
            "activity_id": None,
            "location": None,
            "captured_at": None,
            **data,
            "notes": data.get("notes") or "",
            "status": self.status[oid],
            "version": len(self.history[oid]),
            "flags": [],
            "reviews": self.reviews.get(oid, []),
            "created_by_id": None,
            "deleted": False,
        }

    def write(self, oid: str, data: dict[str, Any], *, own: bool) -> None:
        self.history.setdefault(oid, []).append((data, own))
        self.log.append(("observation", oid))

    def push(self, mutation: dict[str, Any]) -> dict[str, Any]:
        self.pushed.append(mutation)
        oid, data = mutation["id"], mutation.get("data") or {}
        base = mutation.get("base_version", 0)
        if oid not in self.history:
            checked = validate_observation({**data, "id": oid}, form=self.form, today=TODAY)
            if checked.errors:
                return {"seq": mutation["seq"], "id": oid, "status": "rejected", "errors": []}
            self.status[oid] = "submitted"
            self.write(oid, checked.clean, own=True)
            return {"seq": mutation["seq"], "id": oid, "status": "applied", "version": 1}
        revisions = self.history[oid][base - 1 :]
        names = {n for d, _ in revisions for n in d.get("values") or {}}
        history = [Revision(flat(d, names), own=o) for d, o in revisions]
        outcome = merge_upsert(history=history, incoming=flat(data, names))
        record = unflat({**history[-1].data, **outcome.changes})
        checked = validate_observation(record, form=self.form, today=TODAY)
        assert checked.errors == [], checked.errors
        if outcome.changes:
            self.status[oid] = "submitted"
            self.write(oid, checked.clean, own=True)
        return {
            "seq": mutation["seq"],
            "id": oid,
            "status": outcome.status.value,
            "version": len(self.history[oid]),
        }

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v1/sync/push")
        async def push(request: Request) -> dict[str, Any]:
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            envelope = json.loads(body)
            results = [self.push(m) for m in envelope["mutations"]]
            return {
                "last_seq": envelope["mutations"][-1]["seq"],
                "server_time": datetime.now(UTC).isoformat(),
                "results": results,
            }

        @app.get("/api/v1/sync/pull")
        def pull(cursor: str | None = None, limit: int = 500) -> dict[str, Any]:
            start = int(cursor or 0)
            changes = []
            for entity, oid in self.log[start:]:
                if entity == "form":
                    changes.append(
                        {
                            "entity": "form",
                            "id": oid,
                            "op": "upsert",
                            "version": 1,
                            "data": self.form,
                        }
                    )
                else:
                    data = self.wire(oid)
                    changes.append(
                        {
                            "entity": "observation",
                            "id": oid,
                            "op": "upsert",
                            "version": data["version"],
                            "data": data,
                        }
                    )
            return {
                "changes": changes,
                "cursor": str(len(self.log)),
                "has_more": False,
                "server_time": datetime.now(UTC).isoformat(),
            }

        @app.post("/api/v1/sync/bundle-key")
        def bundle_key() -> dict[str, str]:
            return {"bundle_key": "k" * 43, "bundle_key_id": "key-1"}

        return app


def test_record_sync_return_correct_and_merge_with_the_office(tmp_path: Path) -> None:
    server = StandIn()
    backend = StoreBackend(tmp_path / "tablet")
    with TestClient(server.app()) as http:
        client = SyncClient(BASE_URL, token="t", session=session_over(ASGIAdapter(http)))
        engine = SyncEngine(backend.store, client)
        engine.sync_once()  # the form arrives
        [offered] = obs.offered_forms(backend.forms(), PROJECT)

        form = obs.ObservationForm(form=offered, project_id=PROJECT, today=TODAY)
        form.choose("crop", "maize")
        form.choose("plot", "demo")
        form.choose("practice", "row_spacing")
        form.set_text("plot_area_m2", "400")
        form.set_text("harvest_kg", "180")
        form.set_text("harvest_date", TODAY.isoformat())
        save = form.to_save()
        assert save is not None
        backend.save_observation(save)
        oid = save.observation["id"]
        engine.sync_once()
        assert server.pushed[0]["entity"] == "observation"
        assert server.pushed[0].get("base_version", 0) == 0
        assert backend.store.state("observation", oid) == "synced"

        # The office returns it, and corrects the plot area itself.
        data, _ = server.history[oid][-1]
        server.status[oid] = "returned"
        server.reviews[oid] = [{"action": "return", "comment": "Harvest date?"}]
        server.write(oid, {**data, "values": {**data["values"], "plot_area_m2": 410}}, own=False)
        engine.sync_once()
        [item] = backend.observation_attention()
        assert item.comment == "Harvest date?" and item.data["values"]["plot_area_m2"] == 410

        edit = obs.ObservationForm(form=offered, project_id=PROJECT, today=TODAY, record=item.data)
        edit.set_text("harvest_kg", "185")
        again = edit.to_save()
        assert again is not None
        backend.save_observation(again)
        engine.sync_once()
        last = server.pushed[-1]
        assert last["base_version"] == 2 and set(last["data"]) == {"values"}
        final, _ = server.history[oid][-1]
        assert final["values"]["plot_area_m2"] == 410 and final["values"]["harvest_kg"] == 185
        assert backend.store.state("observation", oid) == "synced"
        assert backend.observation_attention() == []
    backend.close()
