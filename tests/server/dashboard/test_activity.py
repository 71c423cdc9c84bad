"""The activity page: history with what changed, photos, and resolving sync conflicts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.models import Activity, Attachment
from server.activities.service import write_activity
from server.db import write_engine
from server.sync.models import SyncConflict
from tests.server.dashboard.conftest import fresh, main_of, sqlite_only, token_for
from tests.server.dashboard.world import World


def test_the_history_says_what_changed_between_versions(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.submitted[0]
    with Session(write_engine(engine)) as writer:
        current = writer.get(Activity, activity.id)
        assert current is not None
        write_activity(
            writer,
            data={"title": "Seed potato storage demo (Leribe)", "site_id": str(world.sites[0].id)},
            existing=current,
            source="push",
            author_id=world.expert.id,
        )
        writer.commit()
    html = main_of(officer.get(f"/activities/{activity.id}").text)
    assert "Version 2" in html and "from a tablet" in html
    assert (
        'Title: <span class="was">Seed potato storage demonstration</span> → '
        '<span class="now">Seed potato storage demo (Leribe)</span>'
    ) in html
    # Ids read as names.
    assert (
        'Site: <span class="was">Leribe farmers&#39; field</span> → '
        '<span class="now">Maseru demonstration plot</span>'
    ) in html


@sqlite_only
def test_photos_show_with_their_caption(
    officer: TestClient, world: World, photo: Attachment
) -> None:
    html = main_of(officer.get(f"/activities/{world.submitted[0].id}").text)
    assert f'<img src="/attachments/{photo.id}"' in html
    assert "Sorting seed potatoes before storage" in html
    assert "1 photo" in html


def test_a_conflict_shows_both_sides_and_the_tablets_side_can_win(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.conflict is not None
    activity = world.submitted[1]
    html = main_of(officer.get(f"/activities/{activity.id}").text)
    assert "Sync conflicts" in html and "Tablet A — Maseru" in html
    for value in (
        "Farmer training on blight",
        "Farmer training on late blight",
        "Farmer training on late blight (Leribe)",
    ):
        assert f"<td>{value}</td>" in html
    token = token_for(officer, f"/activities/{activity.id}")
    response = officer.post(
        f"/conflicts/{world.conflict.id}/resolve",
        data={"csrf_token": token, "keep": "device", "on": "record"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/activities/{activity.id}#conflict-{world.conflict.id}"
    assert fresh(engine, SyncConflict, world.conflict.id).status == "resolved"
    assert fresh(engine, Activity, activity.id).title == "Farmer training on late blight (Leribe)"
    after = main_of(officer.get(f"/activities/{activity.id}").text)
    assert "Resolved by officer.lso, " in after and ": kept the tablet&#39;s values." in after
    assert 'value="device"' not in after


@sqlite_only
def test_resolving_needs_the_csrf_token_and_a_known_choice(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.conflict is not None
    url = f"/conflicts/{world.conflict.id}/resolve"
    assert officer.post(url, data={"keep": "device"}).status_code == 403
    token = token_for(officer)
    odd = officer.post(url, data={"csrf_token": token, "keep": "both"})
    assert odd.status_code == 422
    assert "This is not one of the allowed choices." in odd.text
    assert fresh(engine, SyncConflict, world.conflict.id).status == "open"
    assert fresh(engine, Activity, world.submitted[1].id).title == world.submitted[1].title
