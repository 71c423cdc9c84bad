"""Data-quality flags as a country officer reviews them: each flag says what looks wrong, with
its figures, in the reader's language (the stored message is the server's English), and the
review queue names the flags instead of only counting them."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import issue_access_token
from server.activities.flags import as_flags
from server.activities.models import Activity
from server.dashboard import session as cookies
from server.db import write_engine
from shared.errors import ErrorCode, Issue
from shared.validation import issue, message_params
from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.world import World

ATTENDANCE = issue("attendance", ErrorCode.ATTENDANCE_UNUSUAL, total=166, factor="3", usual="27")
LAG = issue("end_date", ErrorCode.REPORTING_LAG, lag=45, value=date(2026, 3, 2), limit=30)
GPS = issue("location", ErrorCode.GPS_FAR_FROM_SITE, distance="12.5", limit="5")


def _flag(engine: Engine, activity: Activity, *issues: Issue) -> None:
    with Session(write_engine(engine)) as writer:
        row = writer.get(Activity, activity.id)
        assert row is not None
        row.flags = as_flags(issues)
        writer.add(row)
        writer.commit()


def test_a_flag_message_gives_back_the_figures_it_was_written_with() -> None:
    assert message_params(ATTENDANCE.code, ATTENDANCE.message) == {
        "field": "attendance",
        "total": "166",
        "factor": "3",
        "usual": "27",
    }
    assert message_params(LAG.code, LAG.message) == {
        "field": "end_date",
        "lag": "45",
        "value": "2026-03-02",
        "limit": "30",
    }
    # A message written otherwise (an older server's words) gives nothing, never a guess.
    assert message_params(LAG.code, "reported more than 30 days after it happened") is None
    assert message_params("no_such_code", "anything") is None


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "Attendance far above usual",
                "166 participants is more than 3 times the project’s usual 27: check the counts.",
                "Received 45 days after the activity ended (Mar 2, 2026)",
                "Recorded 12.5 km from the site",
            ],
        ),
        (
            "fr",
            [
                "Participation bien plus élevée que d’habitude",
                "166 participants, c’est plus de 3 fois l’habitude du projet (27)",
                "Reçue 45 jours après la fin de l’activité (2 mars 2026)",
                "Saisie à 12,5 km du site",
            ],
        ),
        (
            "pt",
            [
                "Participação muito acima do habitual",
                "166 participantes é mais de 3 vezes o habitual do projeto (27)",
                "Recebida 45 dias depois do fim da atividade (2 de mar. de 2026)",
                "Registada a 12,5 km do local",
            ],
        ),
        (
            "es",
            [
                "Asistencia muy superior a la habitual",
                "166 participantes son más de 3 veces lo habitual del proyecto (27)",
                "Recibida 45 días después del final de la actividad (2 mar 2026)",
                "Registrada a 12,5 km del sitio",
            ],
        ),
    ],
)
def test_the_activity_page_explains_each_flag_in_the_readers_language(
    officer: TestClient, engine: Engine, world: World, language: str, expected: list[str]
) -> None:
    activity = world.submitted[0]
    _flag(engine, activity, ATTENDANCE, LAG, GPS)
    officer.cookies.set("pilotmon_lang", language)
    html = main_of(officer.get(f"/activities/{activity.id}").text).replace("\u00a0", " ")
    for words in expected:
        assert words in html, words
    if language != "en":
        # Never the server's English sentence.
        assert "check the counts" not in html and "days after the activity ended" not in html


def test_a_flag_without_its_figures_still_reads_in_the_readers_language(
    officer: TestClient, world: World
) -> None:
    # world.late's flag carries a message that is not the server's own template.
    assert world.late is not None
    officer.cookies.set("pilotmon_lang", "fr")
    html = main_of(officer.get(f"/activities/{world.late.id}").text)
    assert "Reçue par le serveur plus de 30 jours après sa fin" in html
    assert "Ceci est arrivé au serveur longtemps après la fin de l’activité." in html
    assert "reported more than 30 days after it happened" not in html


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("en", ["Attendance far above usual", "Reached the server over 30 days after it ended"]),
        (
            "fr",
            [
                "Participation bien plus élevée que d’habitude",
                "Reçue par le serveur plus de 30 jours après sa fin",
            ],
        ),
    ],
)
def test_the_review_queue_names_each_flag_beside_the_approve_button(
    officer: TestClient, engine: Engine, world: World, language: str, names: list[str]
) -> None:
    """An officer approves from the queue in one click: what looks wrong must be read there,
    not only counted in a tooltip that a phone or a keyboard never shows."""
    activity = world.submitted[0]
    _flag(engine, activity, ATTENDANCE, LAG)
    officer.cookies.set("pilotmon_lang", language)
    html = main_of(officer.get("/review").text)
    row = html[html.index(f'href="/activities/{activity.id}"') :]
    row = row[: row.index("</tr>")]
    for name in names:
        assert name in row, name
    assert "⚑ 2" not in row


def test_a_flag_is_worded_from_its_stored_params_which_the_api_gives(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """The words come from the flag's code and params, not from its English message (which
    the API still gives, unchanged)."""
    activity = world.submitted[0]
    [stored] = as_flags([LAG])
    assert stored["params"] == {"lag": "45", "value": "2026-03-02", "limit": "30"}
    with Session(write_engine(engine)) as writer:
        row = writer.get(Activity, activity.id)
        assert row is not None
        row.flags = [{**stored, "message": "reported late"}]  # a message in other words
        writer.add(row)
        writer.commit()
        token, _ = issue_access_token(writer, user=world.officer, minutes=5)
        writer.commit()
    officer.cookies.set("pilotmon_lang", "fr")
    html = main_of(officer.get(f"/activities/{activity.id}").text).replace("\u00a0", " ")
    assert "Reçue 45 jours après la fin de l’activité (2 mars 2026)" in html
    cookie = officer.cookies.get(cookies.SESSION_COOKIE)
    officer.cookies.clear()  # the API by its bearer token alone
    try:
        response = officer.get(
            f"/api/v1/activities/{activity.id}", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        officer.cookies.set(cookies.SESSION_COOKIE, cookie or "")
    assert response.status_code == 200, response.text
    assert response.json()["flags"] == [
        {
            "code": "reporting_lag",
            "field": "end_date",
            "message": "reported late",
            "params": {"lag": "45", "value": "2026-03-02", "limit": "30"},
        }
    ]
