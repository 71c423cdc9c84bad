"""What a field expert met walking through the app for a month (enrol, record, sync, in four
languages, at phone and tablet size), each pinned by a test through the real screens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.field_app import kivy_driver
from tests.field_app.fakes import MemoryBackend
from tests.field_app.test_ui import make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "field" / "walkthrough"


@pytest.mark.parametrize("size", [(1280, 800), (400, 780)])
def test_after_enrol_with_empty_boxes_every_box_still_takes_a_touch(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    # Enrol pressed with both boxes empty showed the two errors; touching the code box then
    # did nothing: the hidden password box (height 0, disabled) lay over it and ate the touch.
    from field_app.device import Device
    from field_app.session import FieldSession

    session = FieldSession(backend=MemoryBackend(), device=Device(), data_dir=tmp_path / "tablet")
    with kivy_driver.running(make_app(session)) as driver:
        driver.resize(*size)
        enrol = on_screen(driver, "enrol")
        driver.tap(enrol.ids.enrol_button)
        assert set(enrol.errors) == {"server", "code"}
        driver.type(enrol.ids.server, "http://127.0.0.1:9")
        driver.type(enrol.ids.code, "GBS27-41D5X")  # asserts the box took the focus
        assert enrol.ids.code.text == "GBS27-41D5X"
        driver.tap(enrol.ids.chip_password)
        driver.tap(enrol.ids.enrol_button)
        assert set(enrol.errors) == {"username", "password"}
        driver.type(enrol.ids.username, "amina")
        driver.type(enrol.ids.password, "secret")
        assert enrol.ids.username.text == "amina" and enrol.ids.password.text == "secret"
        driver.screenshot(SHOTS / f"enrol-after-errors-{size[0]}x{size[1]}.png")
        driver.resize(1280, 800)
