"""Validation issues from ``shared.validation`` as short messages shown next to a form field,
and the server's reasons for refusing a change, in the user's language.

The shared messages are English sentences written for API users ("end_date: … is before
start_date …"). Next to a field the app says the same thing in fewer words and in the user's
language; the shared message is the fallback for codes a form cannot produce. A server's
reason is chosen from its error code (``shared.errors``), never from its English message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from field_app.i18n import N_, _, decimal
from shared.errors import EXPLANATIONS, ErrorCode
from shared.validation import Issue

FIELD_MESSAGES: dict[str, str] = {
    "required": N_("Required"),
    "pair_required": N_("Give both latitude and longitude, or neither"),
    "not_integer": N_("Type a whole number"),
    # The example in the reader's notation: "-29,31" in French (a comma is accepted too).
    "not_number": N_("Type a number, e.g. {example}"),
    "too_long": N_("Too long: at most {high} characters"),
    "too_many": N_("Too many entries: at most {high}"),
    "unknown_code": N_("Choose one from the list"),
    "bad_date": N_("Write the date as YYYY-MM-DD, e.g. 2025-03-14"),
    "date_implausible": N_("This date is implausible; check the year"),
    "count_range": N_("Use a whole number from {low} to {high}"),
    "lat_range": N_("Latitude goes from -90 to 90"),
    "lon_range": N_("Longitude goes from -180 to 180"),
    "accuracy_range": N_("Accuracy is 0 metres or more"),
    "birth_year_range": N_("Use a year from {low} to {high}"),
    "end_before_start": N_("The end is before the start"),
    "in_future": N_("This date is in the future; use {limit} or earlier"),
    "outside_project_dates": N_("Outside the project's dates ({start} to {end})"),
    "site_not_in_project": N_("Choose one of the project's sites"),
    "outside_country": N_("These coordinates are outside {country}; check them and their signs"),
    "attendance_total": N_("At most {high} participants in one activity"),
    "duplicate_id": N_("Listed twice"),
    "topic_not_in_project": N_("This topic is not in the project's solutions"),
    "modality_not_allowed": N_("This modality is unusual for the topic's solution"),
}


# A site's status once the country office rejected it (pulled sites carry ``status``): it is no
# longer one of the project's sites, and the server refuses an activity or a measurement at it
# (``site_not_in_project``).
REJECTED_SITE = "rejected"


def rejected_site(site: Mapping[str, Any]) -> bool:
    return site.get("status") == REJECTED_SITE


def rejected_site_message(name: str) -> str:
    """Next to the site of a record still at a site the office rejected."""
    return _("The country office rejected the site {name}: choose another one.").format(name=name)


def rejected_site_name(site_id: Any, sites: Iterable[Mapping[str, Any]]) -> str | None:
    """The name of ``site_id`` among ``sites`` when the office rejected it, else None."""
    wanted = str(site_id or "").lower()
    if not wanted:
        return None
    return next(
        (
            str(s.get("name") or "")
            for s in sites
            if str(s["id"]).lower() == wanted and rejected_site(s)
        ),
        None,
    )


def keep_mine_at_rejected_site(name: str) -> str:
    """Why "Keep mine" sends nothing for a record at a site the office rejected, and what to
    do instead (the server refuses any change of it until another site is chosen)."""
    return _(
        "The country office rejected the site {name}, so the server would refuse your "
        "version. Edit the activity and choose another site."
    ).format(name=name)


def server_reason(error: Mapping[str, Any]) -> str | None:
    """The tablet's words for a server error ``{"field", "code", "message"}`` (or an answer's
    ``{"detail", "code"}``), or None when the code is missing (a server older than error codes)
    or unknown (a newer one): then the caller shows the server's English."""
    try:
        code = ErrorCode(str(error.get("code") or ""))
    except ValueError:
        return None
    return _(EXPLANATIONS[code])


def field_message(item: Issue, params: Mapping[str, object] | None = None) -> str:
    """The short message for ``item``; ``params`` fill in the limits the form knows."""
    template = FIELD_MESSAGES.get(item.code)
    if template is None:
        return item.message
    values = {"example": decimal(-29.31, 2), **(params or {})}
    try:
        return _(template).format(**values)
    except (KeyError, IndexError):
        # A translation that names a parameter the form did not give: say it in English.
        return item.message
