"""The dashboard's download refuses a filter given twice with different values, next to that
filter as the Exports page shows its other problems (400, the form again, no file): read as
its last value alone, the file would have left out what the other asked for. ``group_by``, a
row of check boxes, takes several (docs/errors.md#body-shapes)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.world import World


def test_a_filter_given_twice_is_told_next_to_it(officer: TestClient, world: World) -> None:
    response = officer.get(
        "/exports/download",
        params=[
            ("indicator", "PARTICIPANTS"),
            ("format", "csv"),
            ("project", world.lso.code),
            ("project", world.lso_storage.code),
        ],
    )
    assert response.status_code == 400
    assert "content-disposition" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    html = main_of(response.text)
    assert 'id="project-error"' in html
    assert "Give one value here, not several." in html
    # in the reader's language
    officer.cookies.set("pilotmon_lang", "fr")
    response = officer.get(
        "/exports/download?indicator=PARTICIPANTS&format=csv&status=approved&status=submitted",
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 400
    assert "Donnez une seule valeur ici, pas plusieurs." in response.text


def test_group_by_takes_several_and_the_same_value_twice_is_that_value(
    officer: TestClient, world: World
) -> None:
    response = officer.get(
        "/exports/download",
        params=[
            ("indicator", "PARTICIPANTS"),
            ("format", "csv"),
            ("group_by", "project"),
            ("group_by", "sex"),
            ("country", "LSO"),
            ("country", "LSO"),
        ],
    )
    assert response.status_code == 200, main_of(response.text)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows and {"project", "sex"} <= set(rows[0])
