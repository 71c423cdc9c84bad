"""Home: my projects, each with this quarter's progress against its targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from field_app.controllers import labels
from field_app.controllers.progress import ProgressLine, progress, quarter_of
from field_app.i18n import _


@dataclass(frozen=True, slots=True)
class ProjectCard:
    id: str
    title: str
    meta: str
    period: str
    lines: tuple[ProgressLine, ...]
    activities: int
    pending: int
    attention: int


def project_card(
    project: Mapping[str, Any],
    *,
    activities: Sequence[Mapping[str, Any]],
    states: Mapping[str, int],
    targets: Sequence[Mapping[str, Any]],
    participants: Sequence[Mapping[str, Any]],
    today: date,
) -> ProjectCard:
    """``activities``: the project's activity records (whole, or the progress fields of those
    that may count this year: ``Backend.progress_activities``); ``states``: how many of the
    project's activities are in each record state."""
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
        # Not yet all on the server: the record itself, or its photos' bytes.
        pending=states.get("pending", 0) + states.get("photos_pending", 0),
        attention=sum(states.get(s, 0) for s in ("returned", "conflict", "rejected")),
    )


def period_heading(card: ProjectCard) -> str:
    if not card.lines:
        return _("No targets for {period} yet").format(period=card.period)
    return _("Progress in {period} against target").format(period=card.period)
