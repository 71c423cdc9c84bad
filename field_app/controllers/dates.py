"""The date picker's calendar: months as weeks starting on Monday, month and day names in the
user's language, dates shown in words. No Kivy here: the popup (``screens/widgets``) draws it."""

from __future__ import annotations

import calendar
from datetime import date

from field_app.i18n import N_, _

MONTHS = (
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)
# Monday first, as in the countries of the pilots (ISO 8601).
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
_WEEKS = calendar.Calendar(firstweekday=calendar.MONDAY)


def weeks(year: int, month: int) -> list[list[date | None]]:
    """The month as weeks of seven days, Monday first; None where a day of the week falls in
    the month before or after."""
    return [
        [date(year, month, day) if day else None for day in week]
        for week in _WEEKS.monthdayscalendar(year, month)
    ]


def month_title(year: int, month: int) -> str:
    return _("{month} {year}").format(month=_(MONTHS[month - 1]), year=year)


def weekday_names() -> list[str]:
    return [_(name) for name in WEEKDAYS]


def shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def parse(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def in_words(text: str) -> str:
    """'14 March 2025' for '2025-03-14'; the text itself when it is not a date. Every date
    the tablet writes out goes through here (forms, lists, messages)."""
    day = parse(text)
    if day is None:
        return text
    # The first of the month has a pattern of its own: French writes it as an ordinal
    # ("1er janvier 2026"), the other languages as any other day.
    pattern = _("1 {month} {year}") if day.day == 1 else _("{day} {month} {year}")
    return pattern.format(day=day.day, month=_(MONTHS[day.month - 1]), year=day.year)
