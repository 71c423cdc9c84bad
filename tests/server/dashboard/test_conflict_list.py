"""Where a country officer finds the sync conflicts to settle: the overview and the review page
list the open ones of the scope, each linked to the page where it is settled. Before, a conflict
showed only on its activity's page, which nothing pointed to."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.db import write_engine
from server.sync.models import SyncConflict
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World


def _conflicts_card(html: str) -> str:
    start = html.find('id="open-conflicts"')
    assert start >= 0, "no list of open conflicts"
    return html[start : html.index("</section>", start)]


def test_the_review_page_lists_the_open_conflicts_with_a_link_to_settle_each(
    officer: TestClient, world: World
) -> None:
    assert world.conflict is not None
    disputed = world.submitted[1]
    card = _conflicts_card(main_of(officer.get("/review").text))
    assert "1 sync conflict to settle" in card
    assert f'href="/activities/{disputed.id}#conflicts"' in card
    assert disputed.title in card
    assert "Title" in card  # the field both sides changed
    assert "Tablet A — Maseru" in card


def test_the_overview_says_how_many_conflicts_wait(officer: TestClient, world: World) -> None:
    html = main_of(officer.get("/overview").text)
    assert "1 sync conflict to settle" in html
    assert 'href="/review#open-conflicts"' in html


@sqlite_only
def test_a_settled_conflict_leaves_the_list(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.conflict is not None
    disputed = world.submitted[1]
    officer.post(
        f"/activities/{disputed.id}/conflicts/{world.conflict.id}/resolve",
        data={"csrf_token": token_for(officer, f"/activities/{disputed.id}"), "keep": "server"},
    )
    assert 'id="open-conflicts"' not in main_of(officer.get("/review").text)
    assert "sync conflict" not in main_of(officer.get("/overview").text)


@sqlite_only
def test_the_list_keeps_to_the_readers_scope_and_language(
    client: TestClient, engine: Engine, world: World
) -> None:
    # Ethiopia's officer does not see Lesotho's conflict.
    sign_in(client, engine, world.officer_eth)
    assert 'id="open-conflicts"' not in main_of(client.get("/review").text)
    # Lesotho's officer reads it in French.
    sign_in(client, engine, world.officer)
    client.cookies.set("pilotmon_lang", "fr")
    with Session(write_engine(engine)) as writer:
        writer.add(
            SyncConflict(
                entity="activity",
                entity_id=world.submitted[0].id,
                project_id=world.submitted[0].project_id,
                fields=["notes"],
                base_values={"notes": ""},
                server_values={"notes": "a"},
                device_values={"notes": "b"},
            )
        )
        writer.commit()
    card = _conflicts_card(main_of(client.get("/review").text))
    assert "2 conflits de synchronisation à régler" in card


def test_a_conflicts_long_values_show_whole_so_the_officer_sees_what_differs(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Two long notes that differ only at the end read the same once cut at 120 characters:
    the officer would pick a side blind."""
    shared = "Attendance checked against the sign-in sheet at the Leribe site; " * 3
    server_notes, tablet_notes = shared + "16 farmers came.", shared + "166 farmers came."
    activity = world.submitted[0]
    with Session(write_engine(engine)) as writer:
        writer.add(
            SyncConflict(
                entity="activity",
                entity_id=activity.id,
                project_id=activity.project_id,
                fields=["notes"],
                base_values={"notes": ""},
                server_values={"notes": server_notes},
                device_values={"notes": tablet_notes},
            )
        )
        writer.commit()
    html = main_of(officer.get(f"/activities/{activity.id}").text)
    table = html[html.index('id="conflicts"') :]
    assert server_notes.replace("'", "&#39;") in table
    assert tablet_notes.replace("'", "&#39;") in table


@sqlite_only
def test_a_field_expert_is_not_asked_to_settle_conflicts(
    client: TestClient, engine: Engine, world: World
) -> None:
    """Only the office settles a conflict: the expert's pages do not list them as work."""
    sign_in(client, engine, world.expert)
    assert 'id="open-conflicts"' not in main_of(client.get("/review").text)
    assert "sync conflict" not in main_of(client.get("/overview").text)
