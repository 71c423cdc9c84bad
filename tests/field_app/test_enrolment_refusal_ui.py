"""The enrol screen says a refused enrolment in the tablet's words and language, chosen by the
answer's code (field_app.enrolment.REFUSALS): the real app and store backend, headless, with
the server's answer played by a transport. Screenshots land in ``artifacts/screenshots/``."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from server.accounts.auth import NO_TABLET
from server.errors import Forbidden
from shared.errors import ErrorCode
from tests.field_app import kivy_driver
from tests.field_app.conftest import PASSWORD
from tests.field_app.test_enrolment_refusals import WORDS, Answers
from tests.field_app.test_ui import SHOTS, make_app, on_screen

pytestmark = [pytest.mark.kivy, pytest.mark.slow]


@pytest.mark.parametrize("size", [(1280, 800), (360, 640)])
def test_an_hq_analyst_reads_why_the_tablet_was_refused_in_portuguese(
    kivy_window: None, tmp_path: Path, size: tuple[int, int]
) -> None:
    from field_app.backend import StoreBackend
    from field_app.device import Device
    from field_app.session import FieldSession

    http = requests.Session()
    # The server's own answer to an HQ analyst's enrolment (server.accounts.devices).
    http.mount("https://", Answers(403, Forbidden(NO_TABLET, code=ErrorCode.NO_TABLET).body()))
    data_dir = tmp_path / "tablet"
    session = FieldSession(
        backend=StoreBackend(data_dir, http=http), device=Device(), data_dir=data_dir
    )
    with kivy_driver.running(make_app(session)) as driver:
        driver.resize(*size)
        driver.app.set_language("pt")
        enrol = on_screen(driver, "enrol")
        driver.type(enrol.ids.server, "https://pm.example.org")
        driver.tap(enrol.ids.chip_password)
        driver.type(enrol.ids.username, "hq1")
        driver.type(enrol.ids.password, PASSWORD)
        driver.tap(enrol.ids.enrol_button)
        english, portuguese = WORDS[ErrorCode.NO_TABLET]
        driver.wait_until(lambda: enrol.message == portuguese, what="the refusal in Portuguese")
        shown = enrol.ids.message
        driver.step(3)
        assert shown.text == portuguese
        # every line of it on screen: as tall as its wrapped text
        assert shown.height + 1 >= shown.texture_size[1], (shown.height, shown.texture_size)
        assert not session.enrolled
        driver.screenshot(SHOTS / f"enrol-refused-no-tablet-pt-{size[0]}x{size[1]}.png")
        driver.app.set_language("en")  # and in the language of the moment it is read
        driver.step(2)
        assert enrol.message == english
