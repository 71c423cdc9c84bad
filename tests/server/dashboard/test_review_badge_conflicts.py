"""The menu's Review badge counts the open sync conflicts the Review page lists (a country
officer's review: the badge said 37 while the page listed 38 things to do, one a conflict)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.db import write_engine
from server.sync.models import SyncConflict
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.world import World


def _badge(client: TestClient) -> int:
    found = re.search(
        r'href="/review"[^>]*>[^<]*<span class="badge">(\d+)<', client.get("/overview").text
    )
    return int(found.group(1)) if found else 0


def _listed_on_the_review_page(client: TestClient) -> int:
    """What the Review page says waits: activities, sites, conflicts and observations."""
    html = main_of(client.get("/review").text)
    patterns = (
        r"(\d+) submitted activit(?:y matches|ies match)",
        r"(\d+) sync conflicts? to settle",
        r"(\d+) sites? waiting for approval",
        r"See (?:the|all) (\d+) observations?",
    )
    return sum(int(m.group(1)) for p in patterns if (m := re.search(p, html)))


def test_the_badge_counts_the_open_conflicts_the_page_lists(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.conflict is not None
    before = _badge(officer)
    assert "1 sync conflict to settle" in main_of(officer.get("/review").text)
    assert before == _listed_on_the_review_page(officer) == len(world.submitted) + 1
    with Session(write_engine(engine)) as writer:
        conflict = writer.get(SyncConflict, world.conflict.id)
        assert conflict is not None
        conflict.status = "resolved"
        writer.commit()
    assert _badge(officer) == before - 1 == _listed_on_the_review_page(officer)


def test_another_countrys_conflict_is_not_in_the_badge(
    client: TestClient, engine: Engine, world: World
) -> None:
    """Ethiopia's officer: Lesotho's conflict is neither listed nor counted."""
    sign_in(client, engine, world.officer_eth)
    assert "sync conflict" not in main_of(client.get("/review").text)
    assert _badge(client) == _listed_on_the_review_page(client)
