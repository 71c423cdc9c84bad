"""What keeps the UI thread free, as behaviour (no timings): sync reports coalesced, searches
debounced and computed off the UI thread with only the last one shown, the list paged, photos
downscaled on a worker thread with the form waiting for them."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from field_app.controllers.activities import ALL, ActivityList, Row
from field_app.controllers.status import Coalescer
from tests.field_app import kivy_driver
from tests.field_app.test_photos import with_orientation

# -- sync reports, coalesced -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.planned: list[tuple[Callable[[], None], float]] = []

    def later(self, run: Callable[[], None], delay: float) -> None:
        self.planned.append((run, delay))

    def fire(self) -> None:
        run, delay = self.planned.pop(0)
        self.now += delay
        run()


def test_a_burst_of_sync_reports_from_threads_makes_one_call_then_one_after_the_interval() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def run() -> None:
        calls.append(clock.now)

    coalesce = Coalescer(run, interval=0.5, later=clock.later, clock=lambda: clock.now)

    def report() -> None:
        for _ in range(25):
            coalesce()

    threads = [threading.Thread(target=report) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [delay for _, delay in clock.planned] == [0.0]  # 100 reports, one call planned
    clock.fire()
    assert calls == [100.0]
    for _ in range(100):  # more reports right after: one more call, half a second later
        coalesce()
    assert [delay for _, delay in clock.planned] == [0.5]
    clock.fire()
    assert calls == [100.0, 100.5]
    clock.now += 10
    coalesce()
    assert clock.planned[-1][1] == 0.0  # after a quiet spell, at once again


# -- the list's search: pure, so a worker thread can run it ---------------------------------


def rows(n: int) -> list[Row]:
    return [
        Row.make(
            id=str(i),
            title=f"Seed storage lot{i}",
            type="demonstration",
            start_date=f"2025-01-{1 + i % 28:02d}",
            topic="S1.T2",
            site="Roma",
            participants=10,
            women=5,
            state="pending" if i % 2 else "synced",
        )
        for i in range(n)
    ]


def test_matching_reads_the_list_without_changing_its_filter_or_query() -> None:
    listing = ActivityList(rows(40))
    listing.set_filter("pending")
    listing.set_query("lot3")
    found = listing.matching(ALL, "storage lot1")
    assert {v["title"] for v in found} == {f"Seed storage lot{i}" for i in (1, *range(10, 20))}
    assert (listing.state, listing.query) == ("pending", "lot3")
    assert [v["record_id"] for v in listing.data()] == [
        v["record_id"] for v in listing.matching("pending", "lot3")
    ]
    assert {v["record_id"] for v in listing.data()} == {"3", "31", "33", "35", "37", "39"}
    with pytest.raises(ValueError, match="unknown state filter"):
        listing.matching("lost", "")


# -- photos: downscaled on a worker thread -------------------------------------------------------


def two_colour_png(path: Path, width: int, height: int) -> None:
    """Red on the top half, blue below."""
    body = b"".join(
        b"\x00" + (b"\xff\x00\x00" if y < height // 2 else b"\x00\x00\xff") * width
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(body, 1))
        + chunk(b"IEND", b"")
    )


def test_a_sideways_camera_photo_is_downscaled_upright_on_a_worker_thread(
    tmp_path: Path,
) -> None:
    from PIL import Image

    from field_app import photos

    source = tmp_path / "big.png"
    two_colour_png(source, 4000, 3000)
    with Image.open(source) as picture:
        picture.save(tmp_path / "plain.jpg", quality=95)
    camera = tmp_path / "camera.jpg"
    camera.write_bytes(with_orientation((tmp_path / "plain.jpg").read_bytes(), 6))

    done: list[Any] = []
    worker = threading.Thread(
        target=lambda: done.append(photos.downscale(camera, tmp_path / "photos"))
    )
    worker.start()
    worker.join()
    [photo] = done
    with Image.open(photo.path) as stored:
        assert stored.size == (1200, 1600)  # turned upright, long side 1600
        red, blue = stored.getpixel((1150, 800)), stored.getpixel((50, 800))
    # Red was on top: after the turn (90° clockwise) it is on the right.
    assert red[0] > 200 and red[2] < 50 and blue[2] > 200 and blue[0] < 50
    assert photo.content_type == "image/jpeg" and photo.size < camera.stat().st_size


# -- the real app, headless ---------------------------------------------------------------------


def many_session(tmp_path: Path, records: int) -> tuple[Any, Any, dict[str, Any]]:
    from field_app.device import Device
    from field_app.session import FieldSession
    from tests.field_app.fakes import MemoryBackend, activity

    backend = MemoryBackend()
    backend.enrol_as()
    project = backend.add_project()
    for i in range(records):
        backend.add_record(activity(project, title=f"Storage demonstration {i}"), state="synced")
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    return session, backend, project


@pytest.mark.kivy
@pytest.mark.slow
def test_typing_runs_one_search_off_the_ui_thread_and_shows_only_the_last(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.app import FieldApp
    from field_app.screens.activities import PAGE

    session, _backend, project = many_session(tmp_path, 250)
    with kivy_driver.running(FieldApp(session)) as driver:
        screen = driver.app.show("activities", project_id=project["id"])
        driver.wait_until(lambda: not screen.loading and screen.shown == "250", what="the list")
        assert len(screen.ids.rows.data) == PAGE  # a page, not every record
        searched: list[tuple[str, str, bool]] = []
        matching = ActivityList.matching

        def spy(listing: ActivityList, state: str, query: str) -> Any:
            searched.append((state, query, threading.current_thread() is main))
            return matching(listing, state, query)

        main = threading.current_thread()
        ActivityList.matching = spy  # type: ignore[method-assign, assignment]
        try:
            for text in ("s", "st", "sto", "storage 1", "storage 12"):
                screen.ids.search.text = text  # keys faster than the debounce
            driver.wait_until(
                lambda: screen.applied_query == (ALL, "storage 12") and not screen.searching,
                what="the search result",
            )
            driver.step(30)  # nothing else arrives later
        finally:
            ActivityList.matching = matching  # type: ignore[method-assign]
        assert searched == [(ALL, "storage 12", False)]
        titles = sorted(row["title"] for row in screen.ids.rows.data)
        expected = [i for i in range(250) if "12" in str(i)]
        assert titles == sorted(f"Storage demonstration {i}" for i in expected)
        assert screen.shown == str(len(expected))


@pytest.mark.kivy
@pytest.mark.slow
def test_the_list_pages_in_more_rows_near_its_end(kivy_window: None, tmp_path: Path) -> None:
    from field_app.app import FieldApp

    session, _backend, project = many_session(tmp_path, 250)
    with kivy_driver.running(FieldApp(session)) as driver:
        screen = driver.app.show("activities", project_id=project["id"])
        rows = screen.ids.rows
        apply = screen._apply

        def apply_then_turn(*args: Any, **kwargs: Any) -> None:
            apply(*args, **kwargs)
            rows.height += 1  # the tablet turns before the rows that just came are laid out

        screen._apply = apply_then_turn
        driver.wait_until(lambda: not screen.loading and screen.shown == "250", what="the list")
        driver.step(3)
        assert len(rows.data) == 100  # the first page only: the end was never near
        rows.scroll_y = 0
        rows.scroll_y = 0.001  # the finger still moving before the page is laid out
        rows.scroll_y = 0
        driver.step(3)
        assert len(rows.data) == 200  # one page per approach to the end, however it scrolls
        assert rows.scroll_y > 0  # the rows on screen stayed; the new page is below them
        rows.scroll_y = 0
        driver.step(3)
        assert len(rows.data) == 250
        assert len({row["record_id"] for row in rows.data}) == 250


@pytest.mark.kivy
@pytest.mark.slow
def test_a_burst_of_sync_reports_refreshes_the_screens_at_most_twice(
    kivy_window: None, tmp_path: Path
) -> None:
    import time

    from field_app.app import STATUS_INTERVAL_S, FieldApp

    session, backend, project = many_session(tmp_path, 20)
    reads = [0]

    def fingerprint() -> tuple[object, ...]:
        reads[0] += 1
        return (reads[0],)  # as if every report brought new data

    backend.fingerprint = fingerprint
    with kivy_driver.running(FieldApp(session)) as driver:
        screen = driver.app.show("activities", project_id=project["id"])
        driver.wait_until(lambda: not screen.loading, what="the list")
        driver.step(5)
        refreshes = [0]
        refresh = screen.refresh

        def counting() -> None:
            refreshes[0] += 1
            refresh()

        screen.refresh = counting
        report = backend.on_change  # what the sync thread calls

        def burst_of_reports() -> None:
            for _ in range(100):
                report()

        burst = threading.Thread(target=burst_of_reports)
        burst.start()
        burst.join()
        ends = time.monotonic() + STATUS_INTERVAL_S * 1.5
        while time.monotonic() < ends:  # the burst, and then some
            driver.step(1)
        driver.wait_until(lambda: not screen.loading, what="the list")
        assert 1 <= refreshes[0] <= 2
        assert 1 <= reads[0] <= 2
        assert driver.app.sync_status is not None


@pytest.mark.kivy
@pytest.mark.slow
def test_a_photo_is_prepared_off_the_ui_thread_and_the_save_waits_for_it(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.app import FieldApp
    from field_app.screens import form as form_screen

    session, backend, project = many_session(tmp_path, 0)
    source = tmp_path / "photo.png"
    two_colour_png(source, 2000, 1500)
    release = threading.Event()
    threads: list[bool] = []
    downscale = form_screen.downscale

    def slow_downscale(path: Path, photos_dir: Path) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        release.wait(30)  # the test decides when the photo is ready
        return downscale(path, photos_dir)

    form_screen.downscale = slow_downscale  # type: ignore[assignment]
    try:
        with kivy_driver.running(FieldApp(session)) as driver:
            form = driver.app.show("form", project_id=project["id"])
            driver.step(3)
            driver.type(form._inputs["title"], "Storage demonstration with a photo")
            # Today: the calendar opens on its month (a day 19 months back took 38 pages'
            # taps, most of this test's time).
            driver.pick_date(form._inputs["start_date"], date.today())
            driver.pick_date(form._inputs["end_date"], date.today())
            driver.choose(form._inputs["type"], "Demonstration")
            driver.type(form._cells[("female", "adult")], "12")
            form._add_photo(source)
            # Frames go on while the photo is prepared (the worker may start late on a
            # loaded machine: three frames were not always enough for it to begin).
            driver.wait_until(lambda: threads, what="the photo's preparation to start")
            driver.step(3)
            assert form.preparing == 1 and form.busy == "Preparing the photo…"
            assert threads == [False]
            form.save()
            assert backend.saves == []  # waits for the photo
            assert form.banner == "Saving as soon as the photo is ready…"
            release.set()
            driver.wait_until(lambda: backend.saves, what="the save after the photo")
            [save] = backend.saves
            assert len(save.photos) == 1 and save.photos[0].content_type == "image/jpeg"
            assert form.preparing == 0
    finally:
        form_screen.downscale = downscale


@pytest.mark.kivy
@pytest.mark.slow
def test_a_new_photo_has_an_editable_caption(kivy_window: None, tmp_path: Path) -> None:
    from field_app.app import FieldApp

    session, _backend, project = many_session(tmp_path, 0)
    source = tmp_path / "photo.png"
    two_colour_png(source, 300, 200)
    with kivy_driver.running(FieldApp(session)) as driver:
        form = driver.app.show("form", project_id=project["id"])
        driver.step(3)
        form._add_photo(source)
        driver.wait_until(lambda: len(form.photos) == 1, what="the photo")
        driver.step(3)
        thumb = form.ids.photo_strip.children[0]
        driver.type(thumb.ids.caption, "New storage shed")
        assert form.form.photos[0].caption == "New storage shed"
