"""Typography of the dashboard's pages in French: a number stays on one line with its unit,
its percent sign and the arrow of its change ("43 %" never wrapped between "43" and "%")."""

from __future__ import annotations

import html as html_lib
import re

from fastapi.testclient import TestClient

from server.dashboard.session import LANGUAGE_COOKIE
from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.world import World

# A breaking space between a number and its unit or sign, or after a change's arrow.
UNITS = r"%|pts|pp|km|m|kg|ha|Go|Mo|GB|MB"
BREAKABLE = re.compile(rf"\d (?:{UNITS})(?![\w²/])|[▲▼±] (?=\d)")


def _text(html: str) -> str:
    """The page's words as a reader sees them: tags removed, entities read."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", main_of(html)))


def test_numbers_keep_their_units_and_arrows_on_one_line_in_french(
    officer: TestClient, world: World
) -> None:
    officer.cookies.set(LANGUAGE_COOKIE, "fr")
    assert world.late is not None
    pages = {
        "overview": "/overview",
        "project": f"/projects/{world.lso.id}",
        "activity": f"/activities/{world.late.id}",
        "tablets": "/tablets",
    }
    seen = ""
    for name, path in pages.items():
        response = officer.get(path)
        assert response.status_code == 200, name
        text = _text(response.text)
        assert BREAKABLE.findall(text) == [], name
        seen += text
    # The pages do show such figures: changes with their arrows, shares with their sign.
    assert re.search(r"[▲▼]\u00a0\d", seen) and re.search(r"\d\u00a0%", seen)
