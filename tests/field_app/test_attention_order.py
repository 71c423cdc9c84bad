"""Needs attention comes in order of urgency: what the server refused first, then conflicts,
then what the office returned, then activities at a site it rejected; within a kind the newest
first by the record's own date, never by the date's words ("11 March" before "12 January")."""

from __future__ import annotations

from field_app.controllers.attention import AttentionItem, ordered


def _item(record_id: str, state: str) -> AttentionItem:
    return AttentionItem(record_id, record_id, "", state, "", (), ())


class _Record:
    def __init__(self, day: str) -> None:
        self.data = {"start_date": day}


def test_the_most_urgent_kind_first_then_the_newest_by_date() -> None:
    days = {
        "returned-2026-03": "2026-03-11",
        "returned-2025-01": "2025-01-12",
        "returned-2026-11": "2026-11-19",
        "conflict-2024": "2024-05-02",
        "refused-2023": "2023-07-03",
        "site-2026": "2026-12-01",
    }
    states = {
        "refused-2023": "rejected",
        "conflict-2024": "conflict",
        "site-2026": "site_rejected",
    }
    items = [_item(i, states.get(i, "returned")) for i in days]
    records = {i: _Record(day) for i, day in days.items()}
    assert [i.id for i in ordered(items, records)] == [
        "refused-2023",
        "conflict-2024",
        "returned-2026-11",
        "returned-2026-03",
        "returned-2025-01",
        "site-2026",
    ]
