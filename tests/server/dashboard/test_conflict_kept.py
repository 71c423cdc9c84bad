"""A resolved conflict shows, field by field, the value its resolution kept (a country
officer's review: after "Another value" the page said only "kept the chosen values", with the
Before, Server and Tablet columns, and nothing told which value the record now holds)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.activities.models import Activity
from tests.server.dashboard.conftest import fresh, main_of, sqlite_only, token_for
from tests.server.dashboard.world import World

CHOSEN = "Farmer training on potato blight (Leribe)"


def _columns(html: str) -> tuple[list[str], list[str]]:
    """The conflict table's column heads and its one row's cells."""
    table = html[html.index('class="conflict"') :]
    table = table[: table.index("</table>")]
    heads = re.findall(r'<th scope="col">([^<]*)</th>', table)
    row = table[table.index("<tbody>") :]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    return heads, cells


def _resolve(officer: TestClient, world: World, **data: str) -> None:
    assert world.conflict is not None
    page = f"/conflicts/{world.conflict.id}"
    response = officer.post(
        f"/conflicts/{world.conflict.id}/resolve",
        data={"csrf_token": token_for(officer, page), "on": "conflict", **data},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[-800:]


def test_another_value_chosen_is_shown_as_the_one_kept(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.conflict is not None
    page = f"/conflicts/{world.conflict.id}"
    heads, _ = _columns(main_of(officer.get(page).text))
    assert heads == ["Field", "Before", "Server", "Tablet"]  # open: nothing kept yet
    _resolve(officer, world, keep="custom", **{"choice.title": "custom", "value.title": CHOSEN})
    assert fresh(engine, Activity, world.submitted[1].id).title == CHOSEN
    heads, cells = _columns(main_of(officer.get(page).text))
    assert heads == ["Field", "Before", "Server", "Tablet", "Kept"]
    assert cells[-1] == CHOSEN
    officer.cookies.set("pilotmon_lang", "fr")
    heads, cells = _columns(main_of(officer.get(page).text))
    assert heads[-1] == "Valeur gardée" and cells[-1] == CHOSEN


@sqlite_only
def test_the_tablets_side_kept_is_its_value(officer: TestClient, world: World) -> None:
    assert world.conflict is not None
    _resolve(officer, world, keep="device")
    _, cells = _columns(main_of(officer.get(f"/conflicts/{world.conflict.id}").text))
    _, server, device, kept = cells
    assert kept == device == "Farmer training on late blight (Leribe)" != server
