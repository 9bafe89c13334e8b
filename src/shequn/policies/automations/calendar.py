"""Dates the automations read: a birthday in a self-introduction (zh and en), and the holidays' calendar.

Pure. The lunar holidays come from the ``holidays`` library (a well-kept, offline computation of China's and Hong
Kong's calendars) rather than a hand-written lunisolar table; the rest of the calendar is the playbook's data.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache

from shequn.playbook import load_playbook

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        ("jan january", "feb february", "mar march", "apr april", "may", "jun june", "jul july", "aug august",
         "sep sept september", "oct october", "nov november", "dec december")
    )
    for m in names.split()
}  # fmt: skip
_MONTH_WORD = "|".join(sorted(_MONTHS, key=len, reverse=True))
_CUE = re.compile(r"(生日|出生|birthday|born|\bb-?day\b|\bdob\b)", re.IGNORECASE)
# What may follow the cue, in the order tried: 1990年3月15日 / 3月15号 / 1990-03-15 / 03/15 / 3.15 / March 15 / 15 March
_PATTERNS = (
    re.compile(r"(?:(?:19|20)\d\d\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"),
    re.compile(r"(?:19|20)\d\d[-/.](\d{1,2})[-/.](\d{1,2})"),
    re.compile(rf"\b({_MONTH_WORD})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.IGNORECASE),
    re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_WORD})\b", re.IGNORECASE),
    re.compile(r"(?<![\d.])(\d{1,2})[-/.](\d{1,2})(?![\d.])"),
)
_WINDOW = 40  # characters after the cue where the date must be


def birthday_in(text: str) -> str:
    """The birthday (``MM-DD``) a self-introduction states after 生日 / birthday / born, or "" when none is clear."""
    cue = _CUE.search(text)
    if cue is None:
        return ""
    tail = text[cue.end() : cue.end() + _WINDOW]
    for i, pattern in enumerate(_PATTERNS):
        m = pattern.search(tail)
        if m is None:
            continue
        a, b = m.group(1), m.group(2)
        if i == 2:
            month, day = _MONTHS[a.lower()], int(b)
        elif i == 3:
            month, day = _MONTHS[b.lower()], int(a)
        else:
            month, day = int(a), int(b)
        try:
            date(2000, month, day)  # a leap year: 02-29 is a birthday
        except ValueError:
            continue
        return f"{month:02d}-{day:02d}"
    return ""


def is_birthday(mmdd: str, today: date) -> bool:
    """Whether ``today`` is the birthday ``MM-DD`` (29 February is kept on 28 February in other years)."""
    if mmdd == "02-29" and not _leap(today.year):
        return today.month == 2 and today.day == 28
    return today.strftime("%m-%d") == mmdd


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@cache
def holidays_of(year: int) -> dict[date, str]:
    """The playbook's greeting days of ``year``: date → holiday key (the first day of a holiday only)."""
    import holidays as library

    book = load_playbook().automations.holidays.days
    found: dict[str, date] = {}
    for h in book:
        if h.date:
            found[h.key] = date(year, int(h.date[:2]), int(h.date[3:]))
        elif h.weekday:
            month, n, wd = h.weekday
            first = date(year, month, 1)
            found[h.key] = first + timedelta(days=(wd - first.weekday()) % 7 + 7 * (n - 1))
        elif h.rule:
            country, name = h.rule
            days = sorted(d for d, n in library.country_holidays(country, years=year).items() if n == name)
            if days:
                found[h.key] = days[0]
    for h in book:
        if h.after and h.after[0] in found:
            found[h.key] = found[h.after[0]] + timedelta(days=h.after[1])
    return {d: k for k, d in found.items()}


def holiday_on(today: date, locale: str) -> str:
    """The name of the holiday on ``today`` in ``locale`` ("" on an ordinary day)."""
    key = holidays_of(today.year).get(today)
    if key is None:
        return ""
    return next(h.name.get(locale) for h in load_playbook().automations.holidays.days if h.key == key)
