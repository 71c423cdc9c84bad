"""``pilotmon pull --indicator CODE --group-by project,choice:plot`` for a result indicator,
against a live server: the CSV equals the API's rows."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.projects.models import Project
from tests.factories import World, detach
from tests.server.results.helpers import make_form, observe
from tests.server.test_pull_cli import _pull, server_url  # noqa: F401 (a fixture)


@pytest.fixture
def world(session: Session) -> World:
    made = World(session)
    form = make_form(session)
    project = session.get(Project, made.project_lso.id)
    assert project is not None
    for plot, kg in (("demo", 220), ("demo", 180), ("control", 100)):
        observe(
            session,
            form,
            project,
            {"crop": "potato", "plot": plot, "plot_area_m2": 100, "harvest_kg": kg},
        )
    session.commit()
    detach(session)
    return made


def test_pull_a_result_indicator_by_choice(
    server_url: str,  # noqa: F811
    world: World,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PILOTMON_TOKEN", world.tokens["hq"])
    args = ("--server", server_url, "--indicator", "t_yield", "--group-by", "project,choice:plot")
    code, out, err = _pull(capsys, *args)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["project"], r["choice:plot"], float(r["value"])) for r in rows] == [
        (world.project_lso.code, "control", 10000.0),
        (world.project_lso.code, "demo", 20000.0),
    ]
    assert rows[1]["compare:demo"] == "20000" and rows[1]["uplift"] == ""
    code, out, err = _pull(capsys, *args, "--format", "json")
    assert code == 0, err
    api = client.get(
        "/api/v1/indicators/T_YIELD/values",
        params={"group_by": "project,choice:plot"},
        headers=world.auth("hq"),
    ).json()
    assert json.loads(out)["rows"] == api["rows"]
    code, _, err = _pull(capsys, *args[:4], "--group-by", "sex")
    assert code != 0 and "sex" in err
