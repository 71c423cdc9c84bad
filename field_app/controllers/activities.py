"""The activities of one project as a list: filter by sync state, search, newest first.

Built for 10 000 records on a tablet: the rows, each with its search text and its row view, are
made once when they are loaded (on a worker thread), so a search is one pass of substring tests,
also on a worker thread (:meth:`ActivityList.matching` reads nothing it could race with); the
screen hands the RecycleView one page of the result at a time.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from field_app.controllers import dates, labels
from field_app.controllers.attendance import format_share
from field_app.controllers.observations import STATUS_LABELS
from field_app.i18n import _, number

STATES = ("pending", "photos_pending", "synced", "returned", "conflict", "rejected")
ALL = "all"


def fold(text: str) -> str:
    """Lower case without accents, so that "reunion" finds "Réunion"."""
    if text.isascii():
        return text.lower()  # most titles: no accents to remove, ten times faster
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str
    type: str
    start_date: str
    site: str
    participants: int
    women: int
    state: str
    search: str
    safe: bool = False  # safe on the server (a verified receipt covers it and its photos)
    # The review status the server gave it (draft, submitted, approved, returned): an approved
    # activity opens read-only, and its row says so.
    status: str = ""

    @classmethod
    def make(
        cls,
        *,
        id: str,
        title: str,
        type: str,
        start_date: str,
        topic: str,
        site: str,
        participants: int,
        women: int,
        state: str,
        safe: bool = False,
        status: str = "",
    ) -> Row:
        # The date as stored (2026-11-03) and as the list shows it (3 November 2026): a search
        # finds it typed either way.
        search = fold(
            " ".join(
                (
                    title,
                    site,
                    type,
                    labels.label(labels.ACTIVITY_TYPES, type),
                    start_date,
                    dates.in_words(start_date),
                    topic,
                )
            )
        )
        return cls(
            id=id,
            title=title,
            type=type,
            start_date=start_date,
            site=site,
            participants=participants,
            women=women,
            state=state,
            search=search,
            safe=safe,
            status=status,
        )

    @classmethod
    def of(cls, record: Mapping[str, Any], *, state: str, site_name: str) -> Row:
        attendance = record.get("attendance") or ()
        return cls.make(
            id=str(record["id"]),
            title=str(record.get("title") or ""),
            type=str(record.get("type") or ""),
            start_date=str(record.get("start_date") or ""),
            topic=str(record.get("topic") or ""),
            site=site_name,
            participants=sum(int(r.get("count") or 0) for r in attendance),
            women=sum(int(r.get("count") or 0) for r in attendance if r.get("sex") == "female"),
            state=state,
            status=str(record.get("status") or ""),
        )

    def view(self) -> dict[str, Any]:
        """The properties of one RecycleView row widget, in the current language."""
        share = format_share(100.0 * self.women / self.participants if self.participants else None)
        where = f" · {self.site}" if self.site else ""
        return {
            "record_id": self.id,
            "title": self.title or _("(no title)"),
            "subtitle": f"{dates.in_words(self.start_date)} · "
            f"{labels.label(labels.ACTIVITY_TYPES, self.type)}{where}",
            "figures": _("{n} participants · women {share}").format(
                n=number(self.participants), share=share
            ),
            "state": self.state,
            # A synced record the server has signed for shows it: "safe".
            "safe": self.safe and self.state == "synced",
            "state_label": labels.label(
                labels.RECORD_STATES, "safe" if self.safe and self.state == "synced" else self.state
            ),
            # The words of the Measurements list ("Approved", "Submitted", "Returned"); none for
            # a draft, which the sync badge already calls pending.
            "status_label": _(STATUS_LABELS[self.status]) if self.status in STATUS_LABELS else "",
        }


class ActivityList:
    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self.state = ALL
        self.query = ""
        self.load(rows)

    def load(self, rows: Iterable[Row]) -> None:
        """Take new rows: sort them and make their views once (a worker thread may do this;
        filtering and searching afterwards only pick among them)."""
        self._rows = sorted(rows, key=lambda r: (r.start_date, r.title), reverse=True)
        self.counts = Counter(r.state for r in self._rows)
        self._views = {r.id: r.view() for r in self._rows}

    def set_filter(self, state: str) -> None:
        if state != ALL and state not in STATES:
            raise ValueError(f"unknown state filter '{state}'; use all or one of {STATES}")
        self.state = state

    def set_query(self, text: str) -> None:
        self.query = text

    def visible(self) -> list[Row]:
        return self._select(self.state, self.query)

    def _select(self, state: str, query: str) -> list[Row]:
        terms = fold(query).split()
        return [
            r
            for r in self._rows
            if (state == ALL or r.state == state) and all(t in r.search for t in terms)
        ]

    def data(self) -> list[dict[str, Any]]:
        """What the RecycleView shows now."""
        return [self._views[r.id] for r in self.visible()]

    def matching(self, state: str, query: str) -> list[dict[str, Any]]:
        """The row views of the records in ``state`` (or ALL) matching ``query``, newest first.
        Reads only what :meth:`load` made, so a worker thread may call it while the UI thread
        changes the list's own filter and query."""
        if state != ALL and state not in STATES:
            raise ValueError(f"unknown state filter '{state}'; use all or one of {STATES}")
        views = self._views
        return [views[r.id] for r in self._select(state, query)]

    def filter_label(self, state: str) -> str:
        if state == ALL:
            return _("All ({n})").format(n=number(len(self._rows)))
        return (
            f"{labels.label(labels.RECORD_STATES, state).capitalize()} "
            f"({number(self.counts.get(state, 0))})"
        )

    def __len__(self) -> int:
        return len(self._rows)
