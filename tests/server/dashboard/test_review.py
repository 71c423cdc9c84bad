"""The review queue and the review form: approve, return with a comment, bulk approve, reopen —
with CSRF, roles, scope and bad input."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.activities.models import Activity, Review
from server.activities.review import MAX_COMMENT
from tests.factories import detach, make_observation, make_observation_form, make_site
from tests.server.dashboard.conftest import fresh, main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World


def _status(engine: Engine, activity: Activity) -> str:
    return fresh(engine, Activity, activity.id).status


def _reviews(engine: Engine, activity: Activity) -> list[Review]:
    with Session(engine) as reader:
        return list(
            reader.exec(
                select(Review)
                .where(Review.activity_id == activity.id)
                .order_by(col(Review.created_at))
            )
        )


@sqlite_only
def test_the_queue_lists_submitted_activities_of_the_scope(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get("/review").text)
    for activity in world.submitted:
        assert activity.title in html
    assert world.returned is not None and world.returned.title not in html
    assert world.approved[0].title not in html
    assert "Drought-tolerant teff trial" not in html  # Ethiopia
    assert "4 submitted activities match." in html
    assert "1 arrived after its quarter was closed." in html
    assert html.count('name="activity_id"') == 4


@sqlite_only
def test_the_queue_filters_and_keeps_what_was_chosen(officer: TestClient, world: World) -> None:
    late = main_of(officer.get("/review?late=1").text)
    assert "Cooperative marketing workshop" in late
    assert "Seed potato storage demonstration" not in late
    assert 'name="late" value="1" checked' in late
    # not "late only": the data-quality flag (reached the server 30 days on) is another thing
    assert "Only those that arrived after their quarter closed</label>" in late
    trainings = main_of(officer.get("/review?type=farmer_training&q=blight").text)
    assert "Farmer training on late blight" in trainings
    assert "Field day at the Leribe plot" not in trainings
    assert '<option value="farmer_training" selected>' in trainings
    assert 'value="blight"' in trainings
    recent = main_of(officer.get(f"/review?from={world.today.replace(day=1).isoformat()}").text)
    assert "Cooperative marketing workshop" not in recent


@sqlite_only
def test_the_menu_badge_counts_everything_waiting_for_review(
    officer: TestClient, session: Session, world: World
) -> None:
    """Submitted activities, submitted observations and sites found in the field waiting for
    approval: what the Review page lists (it counted the activities alone)."""

    def badge() -> int:
        found = re.search(
            r'href="/review"[^>]*>[^<]*<span class="badge">(\d+)<', officer.get("/overview").text
        )
        return int(found.group(1)) if found else 0

    before = badge()
    assert before == len(world.submitted) + 1  # and the open sync conflict
    make_observation(session, world.lso, make_observation_form(session))
    make_observation(session, world.eth, make_observation_form(session, code="ETH_FORM"))
    make_site(session, world.lso, status="pending")
    session.commit()
    detach(session)
    assert badge() == before + 2  # Ethiopia's observation is not the officer's


def test_bad_filters_are_named_next_to_their_field(officer: TestClient, world: World) -> None:
    response = officer.get("/review?from=14/03/2025&to=2025-01-01")
    assert response.status_code == 422
    html = main_of(response.text)
    assert '<p class="field-error" id="from-error">Use a date like 2025-03-14.</p>' in html
    assert 'value="14/03/2025"' in html  # what was typed stays
    reversed_range = main_of(officer.get("/review?from=2025-03-01&to=2025-01-01").text)
    assert "The end of the range is before its start." in reversed_range
    unknown = officer.get("/review?type=juggling")
    assert unknown.status_code == 422
    assert 'id="type-error"' in unknown.text
    # nothing is listed, and the page says why, not "0 match" (it said "4 match" over an empty
    # list, then "0 match" as if nothing waited)
    assert "Nothing is listed: a filter cannot be applied." in main_of(unknown.text)
    assert "submitted activities match" not in main_of(unknown.text)


def test_approving_one_row_approves_only_that_activity(
    officer: TestClient, engine: Engine, world: World
) -> None:
    first, second = world.submitted[0], world.submitted[1]
    token = token_for(officer, "/review")
    response = officer.post(
        "/review/approve",
        data={
            "csrf_token": token,
            "only": str(first.id),
            "activity_id": [str(first.id), str(second.id)],
            "next": "/review",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/review"
    assert _status(engine, first) == "approved"
    assert _status(engine, second) == "submitted"
    page = officer.get("/review")
    assert "Activities approved: 1." in page.text
    assert first.title not in main_of(page.text)
    assert [r.action for r in _reviews(engine, first)] == ["approve"]


def test_bulk_approve_approves_every_ticked_activity(
    officer: TestClient, engine: Engine, world: World
) -> None:
    chosen = world.submitted[:3]
    token = token_for(officer, "/review")
    officer.post(
        "/review/approve", data={"csrf_token": token, "activity_id": [str(a.id) for a in chosen]}
    )
    assert [_status(engine, a) for a in chosen] == ["approved"] * 3
    assert _status(engine, world.submitted[3]) == "submitted"


@sqlite_only
def test_bulk_approve_with_nothing_ticked_changes_nothing(
    officer: TestClient, engine: Engine, world: World
) -> None:
    token = token_for(officer, "/review")
    page = officer.post("/review/approve", data={"csrf_token": token})
    assert "Select at least one activity to approve." in page.text
    assert all(_status(engine, a) == "submitted" for a in world.submitted)


def test_bulk_approve_reports_what_it_could_not_approve(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.eth_activity is not None
    token = token_for(officer, "/review")
    page = officer.post(
        "/review/approve",
        data={
            "csrf_token": token,
            "activity_id": [
                str(world.submitted[0].id),
                str(world.approved[0].id),
                str(world.eth_activity.id),
                "not-a-uuid",
            ],
        },
    )
    assert _status(engine, world.submitted[0]) == "approved"
    assert _status(engine, world.eth_activity) == "submitted"  # another country's
    text = page.text
    assert "Approved: 1. Not approved:" in text
    assert world.approved[0].title in text  # already approved, said so by name
    assert "Drought-tolerant teff trial" not in text  # out of scope: only its id
    # Each reason in the reader's words: the status it has now when that is why (it said
    # only "not possible in the record's current state"), else chosen by the error's code.
    assert f"{world.approved[0].title} — it is “Approved” now" in text
    assert "Not found on the server, or outside your projects." in text  # not_found


def test_bulk_approve_says_why_in_french(officer: TestClient, world: World) -> None:
    officer.cookies.set("pilotmon_lang", "fr")
    token = token_for(officer, "/review")
    page = officer.post(
        "/review/approve",
        data={"csrf_token": token, "activity_id": [str(world.approved[0].id)]},
        follow_redirects=True,
    )
    assert "Rien n’a été approuvé" in page.text
    assert "son statut est maintenant «\u202fApprouvée\u202f»" in page.text
    assert "now" not in page.text.split("Rien n’a été approuvé")[1][:300]


@sqlite_only
def test_approve_and_return_without_a_csrf_token_change_nothing(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.submitted[0]
    for data in (
        {"activity_id": str(activity.id)},
        {"activity_id": str(activity.id), "csrf_token": "forged"},
    ):
        assert officer.post("/review/approve", data=data).status_code == 403
    for data in (
        {"action": "return", "comment": "fix it"},
        {"action": "approve", "csrf_token": "forged"},
    ):
        response = officer.post(f"/activities/{activity.id}/review", data=data)
        assert response.status_code == 403
    assert _status(engine, activity) == "submitted"
    assert _reviews(engine, activity) == []


@sqlite_only
def test_returning_needs_a_comment_shown_next_to_the_field(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.submitted[1]
    token = token_for(officer, f"/activities/{activity.id}")
    response = officer.post(
        f"/activities/{activity.id}/review",
        data={"csrf_token": token, "action": "return", "comment": "  "},
    )
    assert response.status_code == 422
    html = main_of(response.text)
    assert 'id="comment-error"' in html and "Say what needs fixing" in html
    assert 'aria-invalid="true"' in html
    assert _status(engine, activity) == "submitted"


@sqlite_only
def test_a_too_long_comment_is_refused_and_kept(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.submitted[1]
    typed = "Please recount the women. " * 100  # 2 600 characters
    token = token_for(officer, f"/activities/{activity.id}")
    response = officer.post(
        f"/activities/{activity.id}/review",
        data={"csrf_token": token, "action": "return", "comment": typed},
    )
    assert response.status_code == 422
    # the limit said, so that the officer knows how much to cut
    assert f'id="comment-error">Use at most {MAX_COMMENT:,} characters.' in response.text
    assert typed.strip() in response.text  # the typed text is still in the box
    assert _status(engine, activity) == "submitted"


@sqlite_only
def test_the_comment_box_takes_as_much_as_the_server_accepts(
    officer: TestClient, session: Session, world: World
) -> None:
    """The browser stops typing where the server's limit is, on both review forms: more would
    be refused, less would cut comments the server takes."""
    observation = make_observation(session, world.lso, make_observation_form(session))
    session.commit()
    observation_id = observation.id
    detach(session)
    for path in (f"/activities/{world.submitted[0].id}", f"/observations/{observation_id}"):
        html = main_of(officer.get(path).text)
        assert 'value="return"' in html, path
        limits = re.findall(r'<textarea id="comment" name="comment" maxlength="(\d+)"', html)
        assert limits == [str(MAX_COMMENT)], path


def test_returning_with_a_comment_sends_it_to_the_tablet(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.submitted[2]
    token = token_for(officer, f"/activities/{activity.id}")
    response = officer.post(
        f"/activities/{activity.id}/review",
        data={
            "csrf_token": token,
            "action": "return",
            "comment": "The attendance sheet shows 31 people, not 29.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _status(engine, activity) == "returned"
    [review] = _reviews(engine, activity)
    assert review.action == "return"
    assert review.comment == "The attendance sheet shows 31 people, not 29."
    page = officer.get(response.headers["location"])
    assert "to the field expert with your comment" in page.text
    assert "The attendance sheet shows 31 people, not 29." in main_of(page.text)
    assert fresh(engine, Activity, activity.id).version == 2  # tablets pull the new version


@sqlite_only
def test_the_returned_comment_reaches_the_tablet_at_its_next_pull(
    officer: TestClient, world: World
) -> None:
    activity = world.submitted[0]
    comment = "Add the names of the two facilitators from the district office."
    token = token_for(officer, f"/activities/{activity.id}")
    officer.post(
        f"/activities/{activity.id}/review",
        data={"csrf_token": token, "action": "return", "comment": comment},
    )
    tablet = TestClient(officer.app)
    headers = {"Authorization": f"Bearer {world.tablet_tokens['Tablet A — Maseru']}"}
    pulled: dict[str, dict[str, Any]] = {}
    cursor = None
    for _ in range(20):
        page = tablet.get(
            "/api/v1/sync/pull",
            headers=headers,
            params={"limit": 500, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        pulled.update({c["id"]: c["data"] for c in body["changes"] if c["entity"] == "activity"})
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    data = pulled[str(activity.id)]
    assert data["status"] == "returned"
    assert [r["comment"] for r in data["reviews"]] == [comment]


@sqlite_only
def test_an_approved_activity_can_be_reopened(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.approved[-1]
    html = main_of(officer.get(f"/activities/{activity.id}").text)
    assert 'value="reopen"' in html and 'value="approve"' not in html
    token = token_for(officer, f"/activities/{activity.id}")
    officer.post(
        f"/activities/{activity.id}/review", data={"csrf_token": token, "action": "reopen"}
    )
    assert _status(engine, activity) == "submitted"


@sqlite_only
def test_a_stale_action_says_what_happened(
    officer: TestClient, engine: Engine, world: World
) -> None:
    activity = world.approved[0]
    token = token_for(officer, f"/activities/{activity.id}")
    response = officer.post(
        f"/activities/{activity.id}/review",
        data={"csrf_token": token, "action": "return", "comment": "x"},
    )
    assert response.status_code == 409
    assert "not possible in the record" in response.text  # state_conflict, in the reader's words
    assert _status(engine, activity) == "approved"
    odd = officer.post(
        f"/activities/{activity.id}/review", data={"csrf_token": token, "action": "destroy"}
    )
    assert odd.status_code == 422


def test_hq_and_field_experts_read_but_cannot_review(
    client: TestClient, engine: Engine, world: World
) -> None:
    activity = world.submitted[0]
    for user in (world.hq, world.expert):
        client.cookies.clear()
        sign_in(client, engine, user)
        html = main_of(client.get(f"/activities/{activity.id}").text)
        assert 'value="approve"' not in html
        token = token_for(client, f"/activities/{activity.id}")
        response = client.post(
            f"/activities/{activity.id}/review", data={"csrf_token": token, "action": "approve"}
        )
        assert response.status_code == 403
        bulk = client.post(
            "/review/approve", data={"csrf_token": token, "activity_id": str(activity.id)}
        )
        assert "Nothing was approved" in bulk.text
    assert _status(engine, activity) == "submitted"
