"""Home: my projects, each with this quarter's progress against its targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from field_app.controllers import labels
from field_app.controllers.attention import SITE_REJECTED
from field_app.controllers.progress import ProgressLine, progress, quarter_of
from field_app.i18n import _, ngettext, number
from sync.store import Waiting

# The states of an activity that needs its person, as Needs attention and the sync bar count
# them: refused, in conflict, returned, or at a site the office rejected.
ATTENTION_STATES = ("returned", "conflict", "rejected", SITE_REJECTED)


@dataclass(frozen=True, slots=True)
class ProjectCard:
    id: str
    title: str
    meta: str
    period: str
    lines: tuple[ProgressLine, ...]
    activities: int
    pending: int  # records with a change waiting to be sent, as the sync bar counts them
    attention: int
    photos: int = 0  # photos whose bytes wait to be sent


def project_card(
    project: Mapping[str, Any],
    *,
    activities: Sequence[Mapping[str, Any]],
    states: Mapping[str, int],
    targets: Sequence[Mapping[str, Any]],
    participants: Sequence[Mapping[str, Any]],
    today: date,
    waiting: Waiting | None = None,
) -> ProjectCard:
    """``activities``: the project's activity records (whole, or the progress fields of those
    that may count this year: ``Backend.progress_activities``); ``states``: how many of the
    project's activities are in each record state (``site_rejected`` apart, as Needs
    attention counts them); ``waiting``: what of the project waits to be sent, counted as the
    sync bar counts it (``DeviceStore.waiting_by_project``: a deleted record whose delete
    waits, a site, a participant or a measurement count too). Without it, the activities
    waiting or with photos waiting."""
    roster = {str(p["id"]): p for p in participants}
    lines = progress(targets=targets, activities=activities, today=today, participants=roster)
    area = str(project.get("thematic_area") or "")
    meta = " · ".join(
        part
        for part in (
            str(project.get("kind") or ""),
            labels.label(labels.COUNTRY_NAMES, str(project["country"]))
            if project.get("country")
            else "",
            labels.label(labels.THEMATIC_AREA_NAMES, area) if area else "",
        )
        if part
    )
    period = lines[0].period if lines else quarter_of(today)
    return ProjectCard(
        id=str(project["id"]),
        title=f"{project.get('code', '')} · {project.get('name', '')}",
        meta=meta,
        period=period,
        lines=tuple(lines),
        activities=sum(states.values()),
        pending=(
            waiting.records
            if waiting is not None
            else states.get("pending", 0) + states.get("photos_pending", 0)
        ),
        attention=sum(states.get(s, 0) for s in ATTENTION_STATES),
        photos=waiting.photos if waiting is not None else 0,
    )


def waiting_line(card: ProjectCard) -> str:
    """'Waiting to be sent: 2 records, 1 photo', in the sync bar's words; '' when nothing of
    the project waits."""
    parts = []
    if card.pending:
        parts.append(
            ngettext("{n} record", "{n} records", card.pending).format(n=number(card.pending))
        )
    if card.photos:
        parts.append(ngettext("{n} photo", "{n} photos", card.photos).format(n=number(card.photos)))
    if not parts:
        return ""
    return _("Waiting to be sent: {what}").format(what=", ".join(parts))


def period_heading(card: ProjectCard) -> str:
    if not card.lines:
        return _("No targets for {period} yet").format(period=card.period)
    return _("Progress in {period} against target").format(period=card.period)
