"""The exports page's DHIS2 download refuses a period of an implausible year (0000, 0000Q1,
0001-01) next to the period field, never with a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.dashboard.test_report_bounds import _crash_free, _field_errors, _words


@pytest.mark.parametrize(
    ("period", "code"),
    [("0000", "date_implausible"), ("0000Q1", "date_implausible"), ("0001-01", "date_implausible")],
)
def test_the_dhis2_download_refuses_an_implausible_period_next_to_it(
    officer: TestClient, period: str, code: str
) -> None:
    response = _crash_free(officer).get(
        "/exports/download", params={"format": "dhis2", "period": period}
    )
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert _field_errors(response) == {"period": _words(code)}
    assert f'value="{period}"' in response.text  # the typed value stays in the field
