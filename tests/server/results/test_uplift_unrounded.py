"""The uplift of a compare indicator is computed from the groups' unrounded values; only what
is shown is rounded (docs/results.md#result-indicators): a mean of 0.014 kg on demo plots
against 0.006 kg on control plots is an uplift of 133.33 %, not 0 (0.01 over 0.01)."""

from __future__ import annotations

from sqlmodel import Session

from server.indicators.service import indicator_values, parse_values_query
from tests.factories import make_project
from tests.server.results.helpers import HARVEST_FIELDS, indicator, make_form, observe


def test_the_uplift_of_small_means_is_not_computed_from_rounded_values(session: Session) -> None:
    project = make_project(session, code="LSO-CPP-UP1")
    form = make_form(
        session,
        code="T_SMALL",
        fields=HARVEST_FIELDS,
        indicators=[indicator("T_SMALL_MEAN", "mean", field="harvest_kg", compare="plot")],
    )
    observe(session, form, project, {"crop": "potato", "plot": "demo", "harvest_kg": 0.014})
    observe(session, form, project, {"crop": "potato", "plot": "control", "harvest_kg": 0.006})
    query = parse_values_query(code="T_SMALL_MEAN", group_by="project", session=session)
    [row] = indicator_values(session, caller=None, query=query).rows
    assert row["compare"] == {"demo": 0.01, "control": 0.01}  # shown rounded
    assert row["uplift"] == 133.33
    assert row["value"] == 0.01
