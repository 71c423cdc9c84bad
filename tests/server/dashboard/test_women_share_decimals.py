"""The women's share by quarter is written to one decimal, as the headline figure above it
(45.4 %, where a whole percent hid changes under a point); its axis keeps round values."""

from __future__ import annotations

import re
from datetime import date

from server.dashboard import service
from server.dashboard.i18n import Translator


def test_the_womens_share_table_keeps_a_decimal_and_its_axis_round_values() -> None:
    t = Translator("en")
    rows = [{"period": "2026Q1", "value": 45.43}, {"period": "2026Q2", "value": 44.61}]
    chart = service._women_share(t, rows, date(2026, 1, 1), service._texts(t))
    table = str(chart.table).replace("\u00a0", " ")
    assert "45.4 %" in table and "44.6 %" in table
    ticks = re.findall(r">(\d+(?:\.\d+)?) %<", str(chart.svg).replace("\u00a0", " "))
    assert "100" in ticks and not any("." in tick for tick in ticks)
    fr = Translator("fr")
    french = service._women_share(fr, rows, date(2026, 1, 1), service._texts(fr))
    assert "45,4\u00a0%" in str(french.table)


def test_a_shares_change_is_the_difference_of_the_shares_as_written() -> None:
    # 49.56 % against 45.04 %: written 49.6 % and 45.0 %, so the change reads 4.6 points, not 4.5.
    headline = service.Headline("WOMEN_SHARE", 49.56, 45.04, percent=True)
    assert headline.change is not None
    assert Translator("en").points(headline.change) == "4.6\u00a0pts"
    counts = service.Headline("ACTIVITIES", 12, 10)
    assert counts.change == 20.0
