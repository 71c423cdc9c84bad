"""A target's notices and confirmations write its period as the period picker does, in the
reader's language (a country officer's review: choosing "Jun 2027" said "Set the target of
Activities, 2027-06: 3.")."""

from __future__ import annotations

import html
import re
from datetime import date

from fastapi.testclient import TestClient

from server.dashboard.i18n import Translator
from server.dashboard.targets import period_text
from tests.server.dashboard.conftest import main_of, sqlite_only, token_for
from tests.server.dashboard.world import World


def test_a_period_reads_as_the_picker_writes_it() -> None:
    en, fr = Translator("en"), Translator("fr")
    assert period_text(en, "2027-06") == en.month(date(2027, 6, 1))
    assert "2027" in period_text(fr, "2027-06") and "juin" in period_text(fr, "2027-06")
    assert period_text(en, "2027Q2").startswith("2027Q2 (")
    assert period_text(en, "2027") == "2027"


def _picker_label(page: str, period: str) -> str:
    found = re.search(rf'<option value="{period}"[^>]*>([^<]+)</option>', page)
    assert found is not None, f"the picker offers no {period}"
    return html.unescape(found.group(1))


@sqlite_only
def test_setting_a_months_target_says_the_month_as_the_picker_in_french(
    officer: TestClient, world: World
) -> None:
    project = world.lso
    url = f"/projects/{project.id}"
    month = f"{world.today.year + 1}-06"
    officer.cookies.set("pilotmon_lang", "fr")
    label = _picker_label(main_of(officer.get(url).text), month)
    response = officer.post(
        f"{url}/targets",
        data={
            "csrf_token": token_for(officer, url),
            "indicator": "ACTIVITIES",
            "kind": "target",
            "period": month,
            "sex": "",
            "value": "3",
        },
    )
    assert response.status_code == 200
    page = html.unescape(main_of(response.text))
    assert f"Activités, {label}" in page, page[:1500]
    assert f"Activités, {month}" not in page
    # and the confirmation before removing it
    asked = re.findall(r'data-confirm="(Supprimer la cible de Activités[^"]+)"', response.text)
    assert any(label in html.unescape(q) for q in asked), asked
