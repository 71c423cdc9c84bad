"""The app's :class:`~field_app.session.Backend` on top of ``sync``: the device store, the sync
engine and its background schedule, the offline bundle.

Reads for lists go through a read-only SQLite connection of their own (one per thread) to the
store's file. The store's connection is shared by the sync thread, which holds it for a whole
pull page; with WAL, a separate reader never waits for that writer, so the UI stays smooth while
5 000 records arrive. That reader relies on the store's ``record`` and ``conflict`` tables
(entity, id, data, state, errors, version, deleted); everything that writes goes through
``DeviceStore``'s public methods.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from field_app import APP_VERSION, enrolment
from field_app.controllers.form import Photo, Save
from field_app.controllers.status import LogEntry, SyncStatus
from field_app.session import EnrolError, Enrolment, LocalRecord, RowFacts
from sync.bundle import export_bundle
from sync.client import SyncClient
from sync.engine import SyncEngine, SyncReport
from sync.schedule import SyncSchedule
from sync.status import read_status
from sync.store import DeviceStore

log = logging.getLogger("pilotmon.field")

STORE_FILE = "device.sqlite3"
ATTENTION = ("returned", "conflict", "rejected")
LOG_KEEP = 50
# Keys the app keeps in the store's meta table (its own, next to sync's).
_ENROLMENT_KEYS = ("server_url", "device_token", "username", "role", "label")
_LOG_KEY = "field_app.sync_log"
_ACCEPTED_KEY = "field_app.accepted_conflicts"
_OFFSET_KEY = "field_app.clock_offset_s"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StoreBackend:
    def __init__(self, data_dir: Path, *, http: requests.Session | None = None,
                 schedule_options: Mapping[str, float] | None = None) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / STORE_FILE
        self.store = DeviceStore(self.path)
        self._http = http  # tests hand in their own transport
        self._schedule_options = dict(schedule_options or {})
        self._thread_data = threading.local()
        self._engine: SyncEngine | None = None
        self._schedule: SyncSchedule | None = None
        self._on_change: Callable[[], None] | None = None
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._thread_data, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                         check_same_thread=False)
            connection.row_factory = sqlite3.Row
            self._thread_data.connection = connection
        return connection

    def _records(self, entity: str) -> list[dict[str, Any]]:
        rows = self._reader().execute(
            "SELECT data FROM record WHERE entity = ? AND deleted = 0", (entity,)).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def enrolment(self) -> Enrolment | None:
        values = {key: self.store.meta(key) for key in _ENROLMENT_KEYS}
        if not values["device_token"] or not values["server_url"]:
            return None
        return Enrolment(server_url=str(values["server_url"]), device_id=self.store.device_id,
                         username=str(values["username"] or ""), role=str(values["role"] or ""),
                         label=str(values["label"] or ""))

    def projects(self) -> list[dict[str, Any]]:
        return sorted(self._records("project"), key=lambda p: str(p.get("code", "")))

    def _of_project(self, entity: str, project_id: str) -> list[dict[str, Any]]:
        return [r for r in self._records(entity) if str(r.get("project_id")) == project_id]

    def sites(self, project_id: str) -> list[dict[str, Any]]:
        return self._of_project("site", project_id)

    def targets(self, project_id: str) -> list[dict[str, Any]]:
        return self._of_project("target", project_id)

    def participants(self, project_id: str) -> list[dict[str, Any]]:
        return self._of_project("participant", project_id)

    _WHERE = {
        "project": "json_extract(data, '$.project_id') = ?",
        "id": "id = ?",
        "attention": "state IN ('returned', 'conflict', 'rejected')",
    }

    def _local_records(self, which: str, params: tuple[Any, ...]) -> list[LocalRecord]:
        reader = self._reader()
        rows = reader.execute(
            "SELECT id, data, state, version, errors FROM record "  # noqa: S608 - fixed clauses
            f"WHERE entity = 'activity' AND deleted = 0 AND {self._WHERE[which]}",
            params).fetchall()
        conflicts: dict[str, list[dict[str, Any]]] = {}
        if any(r["state"] == "conflict" for r in rows):
            accepted = set(self._accepted())
            for row in reader.execute("SELECT id, entity_id, data FROM conflict "
                                      "WHERE entity = 'activity' AND status = 'open'"):
                if row["id"] not in accepted:
                    conflicts.setdefault(row["entity_id"], []).append(json.loads(row["data"]))
        return [self._local(row, conflicts.get(row["id"], [])) for row in rows]

    def _local(self, row: sqlite3.Row, conflicts: list[dict[str, Any]]) -> LocalRecord:
        data = json.loads(row["data"])
        state = self._shown_state(str(row["state"]), bool(conflicts))
        record = LocalRecord(data=data, state=state, version=int(row["version"] or 0))
        if state == "returned":
            returns = [r for r in data.get("reviews") or () if r.get("action") == "return"]
            record.comment = str(returns[-1].get("comment") or "") if returns else ""
        if state == "rejected" and row["errors"]:
            record.errors = list(json.loads(row["errors"]))
        for conflict in conflicts:
            for name in conflict.get("fields") or ():
                if name not in record.conflict_fields:
                    record.conflict_fields.append(name)
            record.theirs.update(conflict.get("server_values") or {})
            record.mine.update(conflict.get("device_values") or {})
            record.conflict_ids.append(str(conflict.get("id")))
        return record

    def activities(self, project_id: str) -> list[LocalRecord]:
        return self._local_records("project", (project_id,))

    def activity_rows(self, project_id: str) -> list[RowFacts]:
        # SQLite's JSON functions pick the few fields a list row shows, in C: ten times faster
        # than loading 10 000 whole records into Python.
        reader = self._reader()
        rows = reader.execute(
            "SELECT id, state, json_extract(data, '$.title'), json_extract(data, '$.type'), "
            "json_extract(data, '$.start_date'), json_extract(data, '$.topic'), "
            "json_extract(data, '$.site_id'), "
            "(SELECT coalesce(sum(json_extract(a.value, '$.count')), 0) "
            " FROM json_each(data, '$.attendance') AS a), "
            "(SELECT coalesce(sum(json_extract(a.value, '$.count')), 0) "
            " FROM json_each(data, '$.attendance') AS a "
            " WHERE json_extract(a.value, '$.sex') = 'female') "
            "FROM record WHERE entity = 'activity' AND deleted = 0 "
            "AND json_extract(data, '$.project_id') = ?", (project_id,)).fetchall()
        in_conflict = self._unaccepted_conflicts() if any(
            r[1] == "conflict" for r in rows) else set()
        return [
            RowFacts(id=r[0], title=r[2] or "", type=r[3] or "", start_date=r[4] or "",
                     topic=r[5] or "", site_id=r[6] or "", participants=int(r[7] or 0),
                     women=int(r[8] or 0), state=self._shown_state(r[1], r[0] in in_conflict))
            for r in rows
        ]

    @staticmethod
    def _shown_state(state: str, open_conflict: bool) -> str:
        if state == "draft":
            return "pending"  # the app never makes drafts; one left by a test is local
        if state == "conflict" and not open_conflict:
            return "synced"  # every open conflict accepted on this tablet
        return state

    def _unaccepted_conflicts(self) -> set[str]:
        accepted = set(self._accepted())
        rows = self._reader().execute("SELECT id, entity_id FROM conflict WHERE "
                                      "entity = 'activity' AND status = 'open'").fetchall()
        return {r[1] for r in rows if r[0] not in accepted}

    def fingerprint(self) -> tuple[object, ...]:
        meta = self._reader().execute(
            "SELECT key, value FROM meta WHERE key IN ('cursor', 'last_seq', 'last_success', "
            "'last_error', ?)", (_ACCEPTED_KEY,)).fetchall()
        return (tuple(sorted((r[0], r[1]) for r in meta)), self.store.pending_count())

    def activity(self, activity_id: str) -> LocalRecord | None:
        found = self._local_records("id", (activity_id,))
        return found[0] if found else None

    def attention(self) -> list[LocalRecord]:
        found = self._local_records("attention", ())
        return [r for r in found if r.state in ATTENTION]

    def photos(self, activity_id: str) -> list[Photo]:
        found = []
        for data in self._records("attachment"):
            if str(data.get("activity_id")) != activity_id:
                continue
            path = self.store.files_dir / str(data["id"])
            if path.exists():  # teammates' photos stay on the server
                found.append(Photo(id=str(data["id"]), path=str(path),
                                   sha256=str(data.get("sha256", "")),
                                   size=int(data.get("size") or 0),
                                   content_type=str(data.get("content_type", "")),
                                   caption=str(data.get("caption") or "")))
        return found

    # -- writing -------------------------------------------------------------------------------

    def save_activity(self, save: Save) -> None:
        # A new site first (the activity refers to it), then the activity, then its photos;
        # each write is one transaction with its outbox mutation, so a kill between them
        # leaves only valid records queued.
        if save.new_site is not None:
            self.store.save("site", save.new_site)
        self.store.save("activity", save.activity)
        known = {p.id for p in self.photos(str(save.activity["id"]))}
        for photo in save.photos:
            if photo.id in known:
                continue
            self.store.add_photo(attachment_id=photo.id, activity_id=str(save.activity["id"]),
                                 source=photo.path, content_type=photo.content_type,
                                 caption=photo.caption)
            # The store keeps its own copy; the app's downscaled file is no longer needed.
            if Path(photo.path).parent != self.store.files_dir:
                Path(photo.path).unlink(missing_ok=True)
        self._wake()

    def save_participant(self, data: Mapping[str, Any]) -> None:
        self.store.save("participant", data)
        self._wake()

    def keep_theirs(self, activity_id: str) -> None:
        """Accept the server's values of a conflict. The store has no way to tell the server,
        so the tablet records the acceptance and stops showing the conflict; the country office
        still sees it open until it resolves it."""
        record = self.activity(activity_id)
        if record is None:
            return
        accepted = self._accepted()
        accepted += [c for c in record.conflict_ids if c not in accepted]
        self.store.set_meta(**{_ACCEPTED_KEY: json.dumps(accepted[-500:])})

    def keep_mine(self, activity_id: str) -> None:
        """Send this tablet's values of the conflicting fields again, on top of the server's
        version: the server applies them and closes the conflict as superseded."""
        record = self.activity(activity_id)
        if record is None or not record.mine:
            return
        self.store.save("activity", {**record.data, **record.mine})
        self._wake()

    def _accepted(self) -> list[str]:
        text = self.store.meta(_ACCEPTED_KEY)
        return list(json.loads(text)) if text else []

    # -- enrolment -------------------------------------------------------------------------------

    def enrol(self, *, server_url: str, code: str | None, username: str | None,
              password: str | None, label: str) -> Enrolment:
        answer = enrolment.enrol(server=server_url, device_id=self.store.device_id, label=label,
                                 app_version=APP_VERSION, code=code, username=username,
                                 password=password, session=self._http)
        if answer.device_id != self.store.device_id:
            raise EnrolError(f"the server enrolled device {answer.device_id}, not this tablet "
                             f"({self.store.device_id})")
        self.store.set_meta(server_url=server_url, device_token=answer.device_token,
                            username=answer.username, role=answer.role, label=label)
        self._learn_offset(answer.server_time)
        with self._lock:
            self._engine = None  # a new server or token: a new client
        if self._on_change is not None:
            self.start(self._on_change)
        found = self.enrolment()
        assert found is not None
        return found

    # -- sync ------------------------------------------------------------------------------------

    def engine(self) -> SyncEngine:
        with self._lock:
            if self._engine is None:
                enrolled = self.enrolment()
                if enrolled is None:
                    raise EnrolError("this tablet is not enrolled yet")
                client = SyncClient(enrolled.server_url,
                                    token=self.store.meta("device_token"),
                                    session=self._http, app_version=APP_VERSION)
                self._engine = SyncEngine(self.store, client)
            return self._engine

    def sync_once(self) -> SyncStatus:
        """One round now, on the caller's thread (tests and the benchmark; the app's rounds
        run on the schedule's thread)."""
        try:
            report = self.engine().sync_once()
        except Exception as exc:
            self._failed(str(getattr(exc, "message", exc)))
            raise
        self._succeeded(report)
        return self.status()

    def start(self, on_change: Callable[[], None]) -> None:
        """Sync in the background from now on; ``on_change`` is called from that thread."""
        self._on_change = on_change
        if self.enrolment() is None:
            return
        with self._lock:
            if self._schedule is not None:
                return
        engine = self.engine()
        schedule = _LoggingSchedule(engine, backend=self, on_change=on_change,
                                    **self._schedule_options)
        with self._lock:
            self._schedule = schedule
        schedule.start()

    def sync_now(self) -> None:
        """The user asked: the schedule's thread starts a round at once."""
        if self._schedule is not None:
            self._schedule.sync_now()

    def _wake(self) -> None:
        # After a save: the schedule's own rule (a short delay, a minimum gap).
        if self._schedule is not None:
            self._schedule.sync_soon()

    @property
    def syncing(self) -> bool:
        return bool(self._schedule and self._schedule.syncing)

    def status(self) -> SyncStatus:
        status = read_status(self.store, self._schedule)
        attention = sum(1 for r in self.attention())
        return SyncStatus(pending=status.pending, last_success=_parse_time(status.last_success),
                          last_error=status.last_error, attention=attention,
                          running=status.syncing)

    def server_offset(self) -> timedelta:
        text = self.store.meta(_OFFSET_KEY)
        return timedelta(seconds=float(text)) if text else timedelta(0)

    def _learn_offset(self, server_time: str | None) -> None:
        moment = _parse_time(server_time)
        if moment is not None:
            offset = (moment - datetime.now(UTC)).total_seconds()
            self.store.set_meta(**{_OFFSET_KEY: f"{offset:.1f}"})

    def _succeeded(self, report: SyncReport) -> None:
        self._learn_offset(report.server_time)
        self._log({"ok": True, "sent": sum(report.pushed.values()), "received": report.pulled,
                   "photos": report.uploaded})

    def _failed(self, reason: str) -> None:
        self._log({"ok": False, "error": reason})

    def _log(self, entry: dict[str, Any]) -> None:
        entries = self._log_entries()
        entries.append({"at": datetime.now(UTC).isoformat(), **entry})
        self.store.set_meta(**{_LOG_KEY: json.dumps(entries[-LOG_KEEP:])})

    def _log_entries(self) -> list[dict[str, Any]]:
        text = self.store.meta(_LOG_KEY)
        return list(json.loads(text)) if text else []

    def log(self, limit: int) -> list[LogEntry]:
        entries = self._log_entries()[-limit:]
        return [LogEntry(at=_parse_time(e.get("at")) or datetime.now(UTC), ok=bool(e.get("ok")),
                         error=str(e.get("error") or ""), sent=int(e.get("sent") or 0),
                         received=int(e.get("received") or 0), photos=int(e.get("photos") or 0))
                for e in reversed(entries)]

    def export_bundle(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        summary = export_bundle(self.store, directory / f"pilotmon-{stamp}.zip")
        return summary.path

    def device_id(self) -> str:
        return self.store.device_id

    def close(self) -> None:
        schedule, self._schedule = self._schedule, None
        if schedule is not None:
            schedule.stop()
        connection = getattr(self._thread_data, "connection", None)
        if connection is not None:
            connection.close()
        self.store.close()


class _LoggingSchedule(SyncSchedule):
    """The sync schedule, writing each round's outcome into the app's sync log."""

    def __init__(self, engine: SyncEngine, *, backend: StoreBackend, **options: Any) -> None:
        super().__init__(engine, **options)
        self._backend = backend

    def run_once(self) -> bool:
        ok = super().run_once()
        if ok and self.last_report is not None:
            self._backend._succeeded(self.last_report)
        elif not ok:
            self._backend._failed(self.engine.store.meta("last_error") or "unknown error")
        return ok
