"""``GET /forms?latest=true&status=published``: each code's newest published version, even while
the next version is a draft (it left such a code out: its newest version was the draft)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import World
from tests.server.results.test_dropped_indicator_targets import _published


def test_the_newest_published_version_is_listed_while_the_next_is_a_draft(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    form_id = _published(client, world)
    draft = client.patch(
        f"/api/v1/forms/{form_id}",
        json={"title": {"en": "Revenue, version 2"}},
        headers=world.auth("officer_lso"),
    )
    assert draft.status_code == 200, draft.text
    listed = client.get(
        "/api/v1/forms?code=REV_DROP&latest=true&status=published",
        headers=world.auth("officer_lso"),
    )
    assert listed.status_code == 200, listed.text
    assert [(f["version"], f["status"]) for f in listed.json()["items"]] == [(1, "published")]
    newest = client.get("/api/v1/forms?code=REV_DROP&latest=true", headers=world.auth("hq"))
    assert [(f["version"], f["status"]) for f in newest.json()["items"]] == [(2, "draft")]
