"""A resolved conflict shows, field by field, the value its resolution kept (a country
officer's review: after "Another value" the page said only "kept the chosen values", with the
Before, Server and Tablet columns, and nothing told which value the record now holds)."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Activity
from server.columns import utcnow
from server.db import write_engine
from server.sync.models import SyncConflict
from tests.server.dashboard.conftest import fresh, main_of, sqlite_only, token_for
from tests.server.dashboard.world import World

CHOSEN = "Farmer training on potato blight (Leribe)"


def _columns(page: str) -> tuple[list[str], list[str]]:
    """The conflict table's column heads and its one row's cells."""
    table = page[page.index('class="conflict"') :]
    table = table[: table.index("</table>")]
    heads = re.findall(r'<th scope="col">([^<]*)</th>', table)
    row = table[table.index("<tbody>") :]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    return [html.unescape(h) for h in heads], [html.unescape(c) for c in cells]


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


def test_another_site_chosen_is_named_as_the_one_kept(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """A site is kept by its name, also when it is none of the three sides'."""
    server, device, chosen = world.sites[0], world.sites[1], world.sites[2]  # Lesotho's
    with Session(write_engine(engine)) as writer:
        conflict = SyncConflict(
            entity="activity",
            entity_id=world.submitted[0].id,
            project_id=world.lso.id,
            fields=["site_id"],
            base_values={"site_id": None},
            server_values={"site_id": str(server.id)},
            device_values={"site_id": str(device.id)},
            status="resolved",
            resolution={"keep": "custom", "values": {"site_id": str(chosen.id)}, "by": "x"},
            resolved_at=utcnow(),
        )
        writer.add(conflict)
        writer.commit()
        conflict_id = conflict.id
    _, cells = _columns(main_of(officer.get(f"/conflicts/{conflict_id}").text))
    assert cells[1:] == [server.name, device.name, chosen.name]
