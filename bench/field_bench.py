"""The tablet app, measured (docs/performance.md): cold start, saving with 10 000 records on
the device,
the longest UI frame while 5 000 records arrive by sync, scrolling 10 000 records.

Each figure is printed with a baseline measured in the same run on the same machine, and the
ratio between them, plus the absolute target where docs/performance.md sets one:

- cold start: the app's first frame vs a bare Kivy app's first frame (target < 2 s);
- save: one activity saved through the form and the device store vs the floor, one raw
  ``sqlite3`` transaction writing the same JSON with ``synchronous=FULL`` (target < 50 ms);
- sync: the longest UI frame while a 5 000-record sync runs vs the longest frame that only
  redraws the same screen (the rendering floor of this machine);
- scroll: the longest frame while scrolling 10 000 activities vs the same redraw floor;
- search: the longest frame while typing a search over 10 000 activities (one key every eight
  frames, until the result is shown) vs the same redraw floor, and the time from the last key
  to the result (the debounce included);
- measurement: opening a form of 20 fields (reading the pulled forms, choosing the offered
  version, building the fields and checking them) vs opening the activity form, and saving an
  observation with 10 000 observations on the device vs the raw ``sqlite3`` floor (target
  < 50 ms, as for activities);
- photos: bytes per downscaled 1 600 px photo (``field_app.photos.downscale``) vs libjpeg at the
  same size and quality (Pillow, without the app's options), and the SDL2_image path the app
  used before (its JPEG writer ignores the quality asked for). ``--photos`` runs only this.

Every frame is timed with its rendering: ``glFinish`` after each frame. Headless, SDL2's
offscreen window never presents, so Mesa's software renderer would otherwise defer the drawing
of many frames and charge all of it to whichever later frame first uploads a texture (a label
scrolling in) — frames of several hundred milliseconds that measure nothing the app does. On a
tablet the swap waits for the GPU each frame; finishing each frame is the same accounting.

Runs headless (SDL2 offscreen). Usage: ``python bench/field_bench.py [--records N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KIVY_ENV = {
    "KIVY_NO_ARGS": "1",
    "KIVY_NO_CONSOLELOG": "1",
    "KIVY_NO_FILELOG": "1",
    "KIVY_LOG_MODE": "PYTHON",
    "KIVY_METRICS_DENSITY": "1",
    "KIVY_HOME": str(Path(tempfile.gettempdir()) / f"pilotmon-kivy-bench-{os.getuid()}"),
}
if not os.environ.get("DISPLAY"):
    KIVY_ENV["SDL_VIDEODRIVER"] = "offscreen"
os.environ.update(KIVY_ENV)

PROJECT_ID = str(uuid.uuid4())
PROJECT = {
    "id": PROJECT_ID,
    "code": "LSO-CPP-01",
    "name": "Potato value chain",
    "kind": "CPP",
    "country": "LSO",
    "thematic_area": "TA1",
    "solutions": ["S1", "S2"],
    "start_date": "2024-01-01",
    "end_date": f"{date.today().year + 1}-12-31",
    "roster": False,
}


def activity(n: int, project_id: str = PROJECT_ID) -> dict[str, Any]:
    day = date.today().toordinal() - n % 300  # this year's and last year's: progress counts some
    start = date.fromordinal(day).isoformat()
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "site_id": None,
        "type": "demonstration" if n % 3 else "farmer_training",
        "title": f"Seed potato storage demonstration {n}",
        "start_date": start,
        "end_date": start,
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "delivery": "in_person",
        "value_chain_stage": "storage",
        "facilitators": ["Mr Chen", "Ms Mokoena"],
        "experts_count": 2,
        "location": None,
        "notes": "",
        "status": "submitted",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 10 + n % 9,
            },
            {
                "sex": "male",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 5 + n % 7,
            },
        ],
    }


def line(name: str, value: float, baseline: float, unit: str, target: str = "") -> None:
    ratio = value / baseline if baseline > 0 else float("inf")
    print(
        f"  {name:<44} {value:9.1f} {unit:<3} baseline {baseline:8.1f} {unit:<3} "
        f"ratio {ratio:6.2f}×  {target}"
    )


# --- photos: bytes per downscaled photo ---------------------------------------------------------


def _sdl2_downscale(source: Path, target: Path, size: tuple[int, int], quality: int) -> int:
    """The app's former downscale: SDL2_image decodes, SDL scales, SDL2_image writes the JPEG
    (through ctypes, with the SDL libraries Kivy's wheel ships). Returns the bytes written."""
    import ctypes
    import importlib.util

    class Surface(ctypes.Structure):
        _fields_ = [("flags", ctypes.c_uint32), ("format", ctypes.c_void_p)]

    kivy = importlib.util.find_spec("kivy")
    libs = Path(kivy.origin).resolve().parent.parent / "Kivy.libs"  # type: ignore[union-attr, arg-type]

    def library(name: str) -> ctypes.CDLL:
        found = sorted(libs.glob(f"lib{name}-*.so*"))
        return ctypes.CDLL(str(found[0]) if found else f"lib{name}.so")

    sdl, image = library("SDL2"), library("SDL2_image")
    pointer = ctypes.c_void_p
    image.IMG_Load.restype = pointer
    image.IMG_Load.argtypes = [ctypes.c_char_p]
    image.IMG_SaveJPG.argtypes = [pointer, ctypes.c_char_p, ctypes.c_int]
    sdl.SDL_ConvertSurfaceFormat.restype = pointer
    sdl.SDL_ConvertSurfaceFormat.argtypes = [pointer, ctypes.c_uint32, ctypes.c_uint32]
    sdl.SDL_CreateRGBSurfaceWithFormat.restype = pointer
    sdl.SDL_CreateRGBSurfaceWithFormat.argtypes = (
        [ctypes.c_uint32] + [ctypes.c_int] * 3 + [ctypes.c_uint32]
    )
    sdl.SDL_SoftStretchLinear.argtypes = [pointer, pointer, pointer, pointer]
    sdl.SDL_FreeSurface.argtypes = [pointer]
    argb = 0x16362004
    loaded = image.IMG_Load(str(source).encode())
    pixels = sdl.SDL_ConvertSurfaceFormat(loaded, argb, 0)
    scaled = sdl.SDL_CreateRGBSurfaceWithFormat(0, size[0], size[1], 32, argb)
    if sdl.SDL_SoftStretchLinear(pixels, None, scaled, None) != 0:
        raise RuntimeError("SDL could not scale the photo")
    if image.IMG_SaveJPG(scaled, str(target).encode(), quality) != 0:
        raise RuntimeError("SDL2_image could not write the JPEG")
    for surface in (scaled, pixels, loaded):
        sdl.SDL_FreeSurface(surface)
    return target.stat().st_size


def bench_photos(count: int) -> None:
    from PIL import Image

    from field_app.photos import JPEG_QUALITY, MAX_SIDE, downscale, target_size
    from tests.field_app.photo_samples import camera_jpeg, field_photo

    print(
        f"photos: {count} photo-like 4000×3000 camera JPEGs, downscaled to {MAX_SIDE} px "
        f"(baseline: libjpeg through Pillow at the same size, quality {JPEG_QUALITY})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours, plain, sdl2, originals = [], [], [], []
        for n in range(count):
            source = camera_jpeg(work / f"camera-{n}.jpg", field_photo(4000, 3000, seed=n))
            originals.append(source.stat().st_size)
            ours.append(downscale(source, work / "photos").size)
            with Image.open(source) as picture:
                size = target_size(*picture.size)
                reference = work / f"libjpeg-{n}.jpg"
                picture.resize(size, Image.Resampling.LANCZOS).save(
                    reference, "JPEG", quality=JPEG_QUALITY
                )
                plain.append(reference.stat().st_size)
            try:
                sdl2.append(_sdl2_downscale(source, work / f"sdl2-{n}.jpg", size, 90))
            except (OSError, RuntimeError, AttributeError) as exc:
                print(f"  (the former SDL2_image path could not run here: {exc})")
        kb = 1000.0
        line(
            "camera original (mean)",
            statistics.mean(originals) / kb,
            statistics.mean(plain) / kb,
            "KB",
        )
        line(
            "app downscale, Pillow q80 (mean)",
            statistics.mean(ours) / kb,
            statistics.mean(plain) / kb,
            "KB",
            "target ~300 KB",
        )
        line("app downscale, largest", max(ours) / kb, max(plain) / kb, "KB", "test: < 500 KB")
        if len(sdl2) == count:
            line(
                "former SDL2_image path, q90 asked (mean)",
                statistics.mean(sdl2) / kb,
                statistics.mean(plain) / kb,
                "KB",
            )


# --- a device store holding many records -------------------------------------------------------


def filled_store(directory: Path, records: int) -> Any:
    """A tablet that pulled ``records`` activities of one project (through the store's own
    pull path, page by page as a sync would)."""
    from field_app.backend import StoreBackend
    from sync.protocol import Change, Op

    backend = StoreBackend(directory)
    store = backend.store
    # Enrolled with a server that is not there: an offline tablet, as in the field.
    store.set_meta(
        server_url="http://127.0.0.1:9",
        username="bench",
        role="field_expert",
        label="bench",
        device_token="offline-tablet",  # noqa: S106
    )
    today = date.today()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    head = [Change(entity="project", id=PROJECT_ID, op=Op.UPSERT, version=1, data=PROJECT)]
    # Targets for this quarter: the home screen computes the progress against them.
    head += [
        Change(
            entity="target",
            id=(tid := str(uuid.uuid4())),
            op=Op.UPSERT,
            version=1,
            data={
                "id": tid,
                "project_id": PROJECT_ID,
                "indicator": indicator,
                "period": quarter,
                "value": 500,
                "sex": sex,
            },
        )
        for indicator, sex in (
            ("ACTIVITIES", None),
            ("PARTICIPANTS", None),
            ("PARTICIPANTS", "female"),
            ("YOUTH_PARTICIPANTS", None),
            ("WOMEN_SHARE", None),
        )
    ]
    store.apply_pull(head, "c0")
    for start in range(0, records, 500):
        page = [
            Change(
                entity="activity",
                id=(a := activity(n))["id"],
                op=Op.UPSERT,
                version=1,
                data={**a, "version": 1, "reviews": []},
            )
            for n in range(start, min(records, start + 500))
        ]
        store.apply_pull(page, f"c{start}")
    return backend


def bench_save(records: int, rounds: int) -> None:
    from field_app.controllers.attendance import Cell
    from field_app.controllers.form import ActivityForm
    from field_app.device import Device
    from field_app.session import FieldSession

    with tempfile.TemporaryDirectory() as tmp:
        backend = filled_store(Path(tmp) / "tablet", records)
        session = FieldSession(backend=backend, device=Device(), data_dir=Path(tmp) / "tablet")
        project = session.project(PROJECT_ID)
        assert project is not None
        timings = []
        for n in range(rounds):
            form = ActivityForm(project=project, sites=[], today=date(2025, 6, 1))
            form.set("type", "demonstration")
            form.set("title", f"Bench activity {n}")
            form.set("start_date", "2025-05-30")
            form.set("end_date", "2025-05-30")
            form.set_attendance(Cell("farmer", False, "female", "adult"), "12")
            form.set_attendance(Cell("farmer", False, "male", "youth"), "8")
            started = time.perf_counter()
            session.save(form)
            timings.append((time.perf_counter() - started) * 1000)
        assert backend.status().pending == rounds
        payload = json.dumps(form.wire())
        floor = raw_sqlite_floor(Path(tmp) / "floor.sqlite3", records, payload, rounds)
        session.close()
    print(f"save one activity, {records:,} records on the device ({rounds} saves)")
    line(
        "median save (form check + store, FULL sync)",
        statistics.median(timings),
        statistics.median(floor),
        "ms",
        "target < 50 ms",
    )
    line("slowest save", max(timings), max(floor), "ms")


def twenty_fields() -> dict[str, Any]:
    """A published form version of 20 fields, every type, two of them asked by relevance."""
    label = {"en": "Field", "fr": "Champ"}
    choices = [{"code": f"c{i}", "label": {"en": f"Choice {i}"}} for i in range(8)]
    fields: list[dict[str, Any]] = [
        {"name": "plot", "type": "select_one", "label": label, "required": True, "choices": choices}
    ]
    kinds = ["decimal", "integer", "text", "select_one", "select_multiple", "date", "boolean"]
    for i in range(1, 20):
        kind = kinds[i % len(kinds)]
        spec: dict[str, Any] = {"name": f"f{i}", "type": kind, "label": label, "required": False}
        if kind in ("decimal", "integer"):
            spec.update(min=0, max=100_000, unit="kg")
        if kind in ("select_one", "select_multiple"):
            spec["choices"] = choices
        if i in (4, 9):
            spec["relevant"] = {"field": "plot", "in": ["c1"]}
        fields.append(spec)
    return {
        "id": str(uuid.uuid4()),
        "code": "BENCH_TWENTY",
        "version": 1,
        "title": {"en": "Twenty fields"},
        "project_id": None,
        "status": "published",
        "fields": fields,
        "indicators": [],
    }


def bench_observations(records: int, rounds: int) -> None:
    from field_app.controllers import observations as obs
    from field_app.controllers.form import ActivityForm
    from sync.protocol import Change, Op

    with tempfile.TemporaryDirectory() as tmp:
        backend = filled_store(Path(tmp) / "tablet", 0)
        store = backend.store
        form = twenty_fields()
        store.apply_pull(
            [Change(entity="form", id=form["id"], op=Op.UPSERT, version=1, data=form)], "f"
        )
        values = {"plot": "c2", "f1": 12, "f2": "a note", "f5": "2025-05-01", "f7": 12.5}
        for start in range(0, records, 500):
            page = [
                Change(
                    entity="observation",
                    id=(oid := str(uuid.uuid4())),
                    op=Op.UPSERT,
                    version=1,
                    data={
                        "id": oid,
                        "project_id": PROJECT_ID,
                        "form_id": form["id"],
                        "form_version": 1,
                        "observed_on": "2025-05-01",
                        "values": values,
                        "status": "submitted",
                        "version": 1,
                        "reviews": [],
                    },
                )
                for _ in range(start, min(records, start + 500))
            ]
            store.apply_pull(page, f"o{start}")
        opening, activity_opening, saving = [], [], []
        for n in range(rounds):
            started = time.perf_counter()
            offered = obs.offered_forms(backend.forms(), PROJECT_ID)
            filling = obs.ObservationForm(
                form=offered[0], project_id=PROJECT_ID, today=date(2025, 6, 1)
            )
            filling.visible()
            filling.check()
            opening.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ActivityForm(project=PROJECT, sites=[], today=date(2025, 6, 1)).check()
            activity_opening.append((time.perf_counter() - started) * 1000)
            filling.choose("plot", "c1")
            for name, text in (("f1", str(n)), ("f2", "bench"), ("f7", f"{n}.5"), ("f9", "x")):
                filling.set_text(name, text)
            filling.toggle("f4", "c3")
            filling.set_boolean("f6", True)
            filling.set_text("f5", "2025-05-30")
            save = filling.to_save()
            assert save is not None
            started = time.perf_counter()
            backend.save_observation(save)
            saving.append((time.perf_counter() - started) * 1000)
        assert store.count("observation") == records + rounds
        assert save is not None
        floor = raw_sqlite_floor(
            Path(tmp) / "floor.sqlite3", records, json.dumps(save.observation), rounds
        )
        backend.close()
    print(f"record a measurement, {records:,} observations on the device ({rounds} saves)")
    line(
        "open a 20-field form (vs the activity form)",
        statistics.median(opening),
        statistics.median(activity_opening),
        "ms",
    )
    line(
        "median save of an observation (store, FULL sync)",
        statistics.median(saving),
        statistics.median(floor),
        "ms",
        "target < 50 ms",
    )
    line("slowest save", max(saving), max(floor), "ms")


def raw_sqlite_floor(path: Path, records: int, payload: str, rounds: int) -> list[float]:
    """The same write with nothing around it: a record row and an outbox row, one FULL-synced
    transaction, in a table already holding ``records`` rows."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE record (id TEXT PRIMARY KEY, data TEXT)")
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id TEXT, data TEXT)")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO record VALUES (?, ?)", ((str(uuid.uuid4()), payload) for _ in range(records))
    )
    db.execute("COMMIT")
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        key = str(uuid.uuid4())
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO record VALUES (?, ?)", (key, payload))
        db.execute("INSERT INTO outbox (id, data) VALUES (?, ?)", (key, payload))
        db.execute("COMMIT")
        timings.append((time.perf_counter() - started) * 1000)
    db.close()
    return timings


# --- cold start --------------------------------------------------------------------------------

_FIRST_FRAME = """
import os, sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from kivy.config import Config
Config.set("graphics", "width", "1280"); Config.set("graphics", "height", "800")
{body}
from kivy.clock import Clock
def done(_dt):
    if not ({ready}):
        return  # the next frame
    print("ready", time.perf_counter() - started, flush=True)
    os._exit(0)
Clock.schedule_interval(done, 0)
app.run()
"""
_BARE = """
from kivy.app import App
from kivy.uix.label import Label
class Bare(App):
    def build(self):
        return Label(text="Pilot Monitor")
app = Bare()
"""
_APP = """
from pathlib import Path
from field_app.main import build_session
from field_app.app import FieldApp
app = FieldApp(build_session(Path({data_dir!r})))
"""


# The app is ready when the home screen shows its projects with their progress, read in the
# background after the first frame.
_APP_READY = (
    "app.manager is not None and app.manager.current == 'home' and "
    "not app.manager.current_screen.loading and bool(app.manager.current_screen.cards)"
)


def first_frame(body: str, ready: str = "True") -> float:
    """Seconds from launching Python to the first frame on which ``ready`` holds (the
    interpreter included)."""
    code = _FIRST_FRAME.format(root=str(ROOT), body=body, ready=ready)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code)  # a file, not -c: Kivy's App looks for its source to find .kv files
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, script.name],
        capture_output=True,
        text=True,
        env={**os.environ, **KIVY_ENV},
        timeout=120,
        check=False,
    )
    os.unlink(script.name)
    elapsed = time.perf_counter() - started
    if "ready" not in result.stdout:
        raise RuntimeError(f"the app did not start: {result.stderr[-800:]}")
    return elapsed


def bench_cold_start(records: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend = filled_store(Path(tmp) / "tablet", records)
        backend.close()
        app = [
            first_frame(_APP.format(data_dir=str(Path(tmp) / "tablet")), _APP_READY)
            for _ in range(rounds)
        ]
    bare = [first_frame(_BARE) for _ in range(rounds)]
    print(
        f"cold start to the home screen with this quarter's progress ({records:,} records; "
        f"best of {rounds})"
    )
    line("app", min(app) * 1000, min(bare) * 1000, "ms", "target < 2000 ms")


# --- frames while syncing and scrolling ----------------------------------------------------------


class Frames:
    """Drive the Kivy event loop by hand and time every frame on the UI thread, its rendering
    included (``glFinish``)."""

    def __init__(self) -> None:
        from kivy.base import EventLoop
        from kivy.core.window import Window
        from kivy.graphics.opengl import glFinish

        self.loop = EventLoop
        self.window = Window
        self.finish = glFinish

    def run(
        self,
        frames: int | None = None,
        *,
        until: Callable[[], bool] | None = None,
        each: Callable[[int], None] | None = None,
        redraw: bool = False,
        timeout: float = 300,
    ) -> list[float]:
        """``redraw``: every frame draws the whole window again although nothing changed (the
        baseline: what drawing the screen costs here)."""
        durations = []
        deadline = time.monotonic() + timeout
        n = 0
        while (frames is None or n < frames) and not (until and until()):
            if each is not None:
                each(n)
            if redraw:
                self.window.canvas.ask_update()
            started = time.perf_counter()
            self.loop.idle()
            self.finish()
            durations.append((time.perf_counter() - started) * 1000)
            n += 1
            if time.monotonic() > deadline:
                raise RuntimeError("timed out")
        return durations


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path) -> tuple[str, str, subprocess.Popen[bytes]]:
    """A server in its own process (as on a real network: the tablet's process holds only the
    app and its sync thread) on SQLite, with one project, one field expert and two
    enrolment codes."""
    from sqlmodel import Session

    from server.accounts.devices import issue_enrolment_code
    from server.accounts.models import User, UserProject
    from server.accounts.security import hash_password
    from server.config import Settings
    from server.db import make_engine, write_engine
    from server.migrate import upgrade
    from server.projects.models import Project

    env = {
        **os.environ,
        "PILOTMON_DATA_DIR": str(data_dir),
        "PILOTMON_LOG_LEVEL": "WARNING",
        "PILOTMON_RATE_LIMIT_AUTH_PER_MINUTE": "0",
        "PILOTMON_RATE_LIMIT_SYNC_PER_MINUTE": "0",
        "PILOTMON_ENVIRONMENT": "development",
    }
    env.pop("PILOTMON_DATABASE_URL", None)
    settings = Settings(data_dir=data_dir)
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    with Session(write_engine(engine)) as session:
        project = Project(
            id=uuid.UUID(PROJECT_ID),
            code="LSO-CPP-01",
            name="Potato value chain",
            kind="CPP",
            country="LSO",
            thematic_area="TA1",
            solutions=["S1", "S2"],
            partners=[],
            start_date=date(2024, 1, 1),
            end_date=date(date.today().year + 1, 12, 31),
        )
        user = User(
            username="bench",
            password_hash=hash_password("bench-password-123"),
            role="field_expert",
            countries=["LSO"],
        )
        session.add_all([project, user])
        session.flush()
        session.add(UserProject(user_id=user.id, project_id=project.id))
        codes = [
            issue_enrolment_code(session, user=user, hours=1, created_by_id=None)[1]
            for _ in range(2)
        ]
        session.commit()
    engine.dispose()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).status_code < 500:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    return url, ",".join(codes), process


def feed(url: str, code: str, data_dir: Path, records: int) -> None:
    """Another tablet of the same project pushes ``records`` activities to the server."""
    from field_app.backend import StoreBackend

    feeder = StoreBackend(data_dir)
    feeder.enrol(server_url=url, code=code, username=None, password=None, label="feeder")
    for n in range(records):
        feeder.store.save("activity", activity(n))
    feeder.sync_once()
    assert feeder.status().pending == 0
    feeder.close()


def bench_frames(sync_records: int, list_records: int) -> None:
    from kivy.config import Config

    Config.set("graphics", "width", "1280")
    Config.set("graphics", "height", "800")
    from kivy.base import EventLoop

    from field_app.app import FieldApp
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.screens.activities import SEARCH_DELAY_S
    from field_app.session import FieldSession

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        url, codes, server = start_server(base / "server")
        first, second = codes.split(",")
        started = time.perf_counter()
        feed(url, first, base / "feeder", sync_records)
        print(
            f"(the server got {sync_records:,} activities from another tablet in "
            f"{time.perf_counter() - started:.1f} s)"
        )

        backend = StoreBackend(
            base / "tablet", schedule_options={"interval": 3600.0, "save_delay": 3600.0}
        )
        session = FieldSession(backend=backend, device=Device(), data_dir=base / "tablet")
        app = FieldApp(session)
        EventLoop.ensure_window()
        EventLoop.start()
        frames = Frames()
        app._run_prepare()
        app.home()
        frames.run(30)  # every screen element drawn once: fonts and textures are ready
        # Enrolling starts the background schedule: the first sync brings every record.
        backend.enrol(server_url=url, code=second, username=None, password=None, label="bench")
        schedule = backend._schedule
        assert schedule is not None
        syncing = frames.run(
            until=lambda: schedule.last_report is not None and not schedule.syncing
        )
        frames.run(30)  # the screens redraw with what arrived
        pulled = len(backend.activities(PROJECT_ID))
        floor = frames.run(len(syncing), redraw=True)
        print(
            f"UI frames while the first sync brings {pulled:,} records "
            f"({len(syncing)} frames; baseline: redrawing the home screen)"
        )
        line("longest frame while syncing", max(syncing), max(floor), "ms")
        line(
            "median frame while syncing", statistics.median(syncing), statistics.median(floor), "ms"
        )

        # Scrolling: the activity list with every record, top to bottom.
        extra = max(0, list_records - pulled)
        for n in range(extra):
            backend.store.save("activity", activity(sync_records + n))
        app.changed()
        app.show("activities", project_id=PROJECT_ID)
        frames.run(10)
        screen = app.screen("activities")
        frames.run(until=lambda: not screen.loading and len(screen.ids.rows.data) > 0)
        frames.run(10)
        rows = screen.ids.rows
        everything = int(screen.shown)
        steps, speed = 240, 40  # a brisk swipe: 40 px a frame, 2 400 px a second at 60 fps

        def scroll(n: int) -> None:
            # The list grows a page at a time as the end comes near: aim at a pixel offset.
            span = max(1.0, rows.children[0].height - rows.height)
            rows.scroll_y = max(0.0, 1 - min(span, n * speed) / span)

        scrolling = frames.run(steps, each=scroll)
        floor = frames.run(steps, redraw=True)
        print(
            f"UI frames while scrolling {everything:,} activities, {speed} px a frame "
            f"({steps} frames, {len(rows.data):,} rows paged in; baseline: redrawing the list)"
        )
        line("longest frame while scrolling", max(scrolling), max(floor), "ms")
        line(
            "median frame while scrolling",
            statistics.median(scrolling),
            statistics.median(floor),
            "ms",
        )

        # Typing a search: one key every eight frames, then frames until the result is shown.
        rows.scroll_y = 1
        frames.run(10)
        query, per_key = "demonstration 12", 8
        box = screen.ids.search
        typed: list[float] = []

        def key(n: int) -> None:
            if n % per_key == 0 and n // per_key < len(query):
                box.text = query[: n // per_key + 1]
                typed.append(time.perf_counter())

        wanted = ("all", query)
        searching = frames.run(
            each=key,
            until=lambda: (
                len(typed) == len(query) and screen.applied_query == wanted and not screen.searching
            ),
        )
        waited = (time.perf_counter() - typed[-1]) * 1000
        floor = frames.run(len(searching), redraw=True)
        print(
            f"UI frames while typing a search over {everything:,} activities "
            f"({len(query)} keys, {len(searching)} frames; {screen.shown} match; baseline: "
            f"redrawing the list)"
        )
        line("longest frame while typing a search", max(searching), max(floor), "ms")
        line(
            "median frame while typing a search",
            statistics.median(searching),
            statistics.median(floor),
            "ms",
        )
        print(
            f"  last key to result shown: {waited:.0f} ms (after a pause in typing of "
            f"{SEARCH_DELAY_S * 1000:.0f} ms)"
        )
        app.dispatch("on_stop")
        server.terminate()
        server.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--records",
        type=int,
        default=10_000,
        help="records on the device for save, start and scroll",
    )
    parser.add_argument("--sync-records", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--photo-count", type=int, default=3)
    parser.add_argument("--photos", action="store_true", help="measure only the photo bytes")
    parser.add_argument(
        "--measurements", action="store_true", help="measure only recording a measurement"
    )
    args = parser.parse_args()
    print(
        f"field app bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    if args.measurements:
        bench_observations(args.records, args.rounds)
        return 0
    bench_photos(args.photo_count)
    if args.photos:
        return 0
    bench_save(args.records, args.rounds)
    bench_observations(args.records, args.rounds)
    try:
        bench_cold_start(args.records, 3)
        bench_frames(args.sync_records, args.records)
    except RuntimeError as exc:
        print(
            f"UI measurements skipped: Kivy could not run headless here ({exc}). "
            "Install Mesa's OpenGL (apt-get install libgl1 libgl1-mesa-dri) or run under "
            "a display."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
