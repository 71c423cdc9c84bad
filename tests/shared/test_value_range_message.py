"""An out-of-range number is told the field's own range: its minimum and maximum where the
form sets them, the system's bound (``MAX_MAGNITUDE``) where it does not, written as a person
reads them (no ``.0`` on a whole bound, no exponent)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.observations import check_value


@pytest.mark.parametrize(
    ("spec", "value", "span"),
    [
        ({"type": "decimal", "min": 0}, 1e300, "from 0 to 1000000000000000"),
        ({"type": "decimal", "min": 0}, -3, "from 0 to 1000000000000000"),
        ({"type": "integer", "max": 10}, -(10**20), "from -1000000000000000 to 10"),
        ({"type": "decimal", "min": 0.5, "max": 100}, 1e300, "from 0.5 to 100"),
        ({"type": "decimal", "min": 0, "max": 100.0}, 101, "from 0 to 100"),
        ({"type": "decimal"}, -1e300, "from -1000000000000000 to 1000000000000000"),
        ({"type": "decimal", "max": 1e300}, 1e299, "from -1000000000000000 to 1000000000000000"),
    ],
)
def test_the_range_told_is_the_fields_own(spec: dict[str, Any], value: Any, span: str) -> None:
    number, [problem] = check_value(spec, value, "values.harvest_kg")
    assert number is None
    assert problem.code == "value_range"
    assert problem.message.endswith(f"use a number {span}"), problem.message
    assert ".0 " not in problem.message + " "


def test_a_number_within_the_range_passes() -> None:
    assert check_value({"type": "decimal", "min": 0}, 12.5, "values.harvest_kg") == (12.5, [])
