"""Data-quality flags in the reader's words.

A stored flag is ``{"code", "field", "message", "params"}``, its message the server's English
sentence and its params the values that sentence was written with (docs/product.md, Flags). The
dashboard says the same in the reader's language from the code and the params; a flag without
them (an older server's wording the migration could not read) falls back to the code's general
explanation, never to the English text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from server.dashboard.i18n import N_, Translator
from shared.errors import EXPLANATIONS, ErrorCode


def _number(t: Translator, text: str) -> str:
    value = float(text)
    return t.number(value, 0 if value.is_integer() else 1)


def _day(t: Translator, text: str) -> str:
    return t.date(dt.date.fromisoformat(text))


def _likely_duplicate(t: Translator, p: Mapping[str, str]) -> str:
    return t.ngettext(
        "The project already has %(num)s other activity of this type at this site on %(day)s: "
        "check that this one is not entered twice.",
        "The project already has %(num)s other activities of this type at this site on "
        "%(day)s: check that this one is not entered twice.",
        int(p["count"]),
        day=_day(t, p["value"]),
    )


def _gps_far_from_site(t: Translator, p: Mapping[str, str]) -> str:
    return t.gettext(
        N_(
            "Recorded %(distance)s\u00a0km from the site, more than %(limit)s\u00a0km away: "
            "check the site or the GPS fix."
        ),
        distance=_number(t, p["distance"]),
        limit=_number(t, p["limit"]),
    )


def _attendance_unusual(t: Translator, p: Mapping[str, str]) -> str:
    return t.gettext(
        N_(
            "%(total)s participants is more than %(factor)s times the project’s usual "
            "%(usual)s: check the counts."
        ),
        total=_number(t, p["total"]),
        factor=_number(t, p["factor"]),
        usual=_number(t, p["usual"]),
    )


def _reporting_lag(t: Translator, p: Mapping[str, str]) -> str:
    return t.gettext(
        N_(
            "Received %(lag)s days after the activity ended (%(day)s); activities should reach "
            "the server within %(limit)s days."
        ),
        lag=_number(t, p["lag"]),
        day=_day(t, p["value"]),
        limit=_number(t, p["limit"]),
    )


def _topic_not_in_project(t: Translator, p: Mapping[str, str]) -> str:
    return t.gettext(
        N_(
            "Topic %(topic)s belongs to solution %(solution)s, which is not one of the "
            "project’s (%(solutions)s): check the topic."
        ),
        topic=p["value"],
        solution=p["solution"],
        solutions=p["solutions"],
    )


def _modality_not_allowed(t: Translator, p: Mapping[str, str]) -> str:
    return t.gettext(
        N_(
            "Solution %(solution)s does not use this modality (it allows %(allowed)s): check "
            "the modality or the topic."
        ),
        solution=p["solution"],
        allowed=p["allowed"],
    )


_DETAILS: dict[ErrorCode, Callable[[Translator, Mapping[str, str]], str]] = {
    ErrorCode.LIKELY_DUPLICATE: _likely_duplicate,
    ErrorCode.GPS_FAR_FROM_SITE: _gps_far_from_site,
    ErrorCode.ATTENDANCE_UNUSUAL: _attendance_unusual,
    ErrorCode.REPORTING_LAG: _reporting_lag,
    ErrorCode.TOPIC_NOT_IN_PROJECT: _topic_not_in_project,
    ErrorCode.MODALITY_NOT_ALLOWED: _modality_not_allowed,
}


def flag_detail(t: Translator, code: str, params: Mapping[str, str] | None) -> str:
    """What a flag found, with its figures when it stored them, in ``t``'s language."""
    try:
        known = ErrorCode(code)
    except ValueError:
        return ""
    detail = _DETAILS.get(known)
    if detail is not None and params:
        try:
            return detail(t, params)
        except (KeyError, ValueError):  # a figure that does not read as one: say it plainly
            pass
    general = EXPLANATIONS.get(known)
    return t.gettext(general) if general else ""
