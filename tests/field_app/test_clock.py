"""A tablet whose date is wrong: the expert is told on the sync bar, and once the clock is set
the app's dates are right at once, with no sync needed (field_app/clock.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from field_app import backend as backend_module
from field_app import i18n
from field_app import session as session_module
from field_app.backend import StoreBackend
from field_app.clock import (
    Anchor,
    BootTime,
    KernelBootClock,
    anchor_at,
    clock_warning,
    offset_now,
)
from field_app.controllers.status import SyncStatus, sync_bar
from field_app.device import Device
from field_app.session import FieldSession

SERVER_NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def test_the_server_time_runs_on_the_boot_clock_until_the_tablet_restarts() -> None:
    anchor = Anchor(SERVER_NOW, "boot-1", 100.0)
    learnt = -YEAR  # the tablet was a year ahead at that answer
    an_hour_later = BootTime("boot-1", 100.0 + 3600)
    # Its clock still a year ahead: the same offset.
    ahead = SERVER_NOW + YEAR + timedelta(hours=1)
    assert offset_now(anchor, learnt, an_hour_later, ahead) == -YEAR
    # Someone set the clock right since: the offset follows at once.
    right = SERVER_NOW + timedelta(hours=1)
    assert offset_now(anchor, learnt, an_hour_later, right) == timedelta(0)
    # A restart (another boot), a boot clock gone back, no boot clock, no anchor: the offset
    # learnt at the last answer stands.
    assert offset_now(anchor, learnt, BootTime("boot-2", 5000.0), right) == -YEAR
    assert offset_now(anchor, learnt, BootTime("boot-1", 50.0), right) == -YEAR
    assert offset_now(anchor, learnt, None, right) == -YEAR
    assert offset_now(None, learnt, an_hour_later, right) == -YEAR


def test_an_anchor_survives_the_store_and_a_damaged_one_is_ignored() -> None:
    anchor = anchor_at(SERVER_NOW, BootTime("boot-1", 12.5))
    assert anchor is not None
    assert Anchor.from_text(anchor.to_text()) == anchor
    assert anchor_at(SERVER_NOW, None) is None
    for damaged in (None, "", "{", '{"server_time": "soon"}', '{"boot_id": "b"}'):
        assert Anchor.from_text(damaged) is None


@pytest.fixture
def english() -> Iterator[None]:
    i18n.set_language("en")
    yield
    i18n.set_language("en")


def test_the_warning_says_how_far_off_and_what_to_do(english: None) -> None:
    assert clock_warning(timedelta(0)) == ""
    assert clock_warning(timedelta(hours=23)) == ""  # a little off is not wrong
    assert clock_warning(-timedelta(hours=23)) == ""
    assert clock_warning(-YEAR) == (
        "This tablet's date is wrong (365 days ahead of the server): set the date and time "
        "in the tablet's settings."
    )
    assert clock_warning(timedelta(days=1, hours=1)) == (
        "This tablet's date is wrong (1 day behind the server): set the date and time in the "
        "tablet's settings."
    )
    i18n.set_language("fr")
    assert clock_warning(timedelta(days=9131)) == (
        "La date de cette tablette est fausse (9\u00a0131 jours de retard sur le serveur)"
        "\u00a0: réglez la date et l’heure dans les paramètres de la tablette."
    )
    for language in ("pt", "es"):
        i18n.set_language(language)
        assert "365" in clock_warning(-YEAR) and "tablet" in clock_warning(-YEAR)


def test_the_sync_bar_puts_a_wrong_date_before_a_failed_sync(english: None) -> None:
    calm = SyncStatus(pending=0, last_success=SERVER_NOW, last_error=None)
    wrong = SyncStatus(pending=0, last_success=SERVER_NOW, last_error=None, clock_offset=-YEAR)
    assert sync_bar(calm, SERVER_NOW).error == ""
    text = sync_bar(wrong, SERVER_NOW)
    assert text.error.startswith("This tablet's date is wrong (365 days ahead")
    assert text.tone == "error"
    both = SyncStatus(
        pending=1,
        last_success=SERVER_NOW,
        last_error="down",
        error_cause="unreachable",
        clock_offset=-YEAR,
    )
    first, second = sync_bar(both, SERVER_NOW).error.split("\n")
    assert first.startswith("This tablet's date is wrong")
    assert second.startswith("Last sync failed: the server cannot be reached")


class Wall:
    """The tablet's wall clock, set by hand (as an expert does in Android's settings)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        wall = self

        class Clock(datetime):
            @classmethod
            def now(cls, tz: object = None) -> Clock:
                return wall.now  # type: ignore[return-value]

        monkeypatch.setattr(backend_module, "datetime", Clock)
        monkeypatch.setattr(session_module, "datetime", Clock)


class Boot:
    def __init__(self) -> None:
        self.reading: BootTime | None = BootTime("boot-1", 1000.0)

    def __call__(self) -> BootTime | None:
        return self.reading

    def wait(self, seconds: float) -> None:
        assert self.reading is not None
        self.reading = BootTime(self.reading.boot_id, self.reading.seconds + seconds)


def test_a_tablet_a_year_ahead_is_told_and_is_right_once_its_clock_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, english: None
) -> None:
    wall, boot = Wall(SERVER_NOW + YEAR), Boot()
    wall.patch(monkeypatch)
    backend = StoreBackend(tmp_path / "tablet", boot_clock=boot)
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    try:
        backend._learn_offset(SERVER_NOW.isoformat())  # an answer from the server
        assert session.today() == SERVER_NOW.date()
        assert "365 days ahead" in sync_bar(backend.status(), session.now()).error
        # Two hours later the expert sets the date, the tablet still offline.
        boot.wait(7200)
        wall.now = SERVER_NOW + timedelta(hours=2)
        assert abs(session.now() - wall.now) < timedelta(seconds=1)
        assert sync_bar(backend.status(), session.now()).error == ""
        # Had the tablet restarted in between, the boot clock says nothing: the offset of the
        # last answer stands until the next sync, as before.
        boot.reading = BootTime("boot-2", 30.0)
        assert backend.server_offset() == -YEAR
        backend._learn_offset(wall.now.isoformat())
        assert abs(backend.server_offset()) < timedelta(seconds=1)
        assert sync_bar(backend.status(), session.now()).error == ""
    finally:
        session.close()


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="CLOCK_BOOTTIME and the boot id are Linux's"
)
def test_the_kernel_tells_the_boot_and_its_time_here() -> None:
    # Android is Linux: python-for-android's Python has CLOCK_BOOTTIME and /proc.
    clock = KernelBootClock()
    first = clock()
    assert first is not None and first.boot_id and first.seconds > 0
    second = clock()
    assert second is not None
    assert second.boot_id == first.boot_id and second.seconds >= first.seconds


def test_enrolling_at_a_wrong_date_says_to_check_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, english: None
) -> None:
    # A tablet reset to 2000 by a flat battery, enrolled over HTTPS, was told the server's
    # certificate was not trusted and to check the address, which was right.
    from field_app import enrolment
    from field_app.session import EnrolError
    from tests.sync.tls import server_context, tls_listener

    for valid_from, trusted, words in (
        (timedelta(days=30), True, "is not valid at this tablet's date: check the tablet's date"),
        # Not trusted, dates right: the address is what to check.
        (timedelta(days=-1), False, "has a certificate this tablet does not trust: check the"),
    ):
        context = server_context(tmp_path, monkeypatch, valid_from=valid_from, trusted=trusted)
        with tls_listener(context) as port, pytest.raises(EnrolError) as refused:
            enrolment.enrol(
                server=f"https://127.0.0.1:{port}",
                device_id="d",
                label="t",
                app_version="0",
                code="ABCD",
            )
        assert words in str(refused.value)
