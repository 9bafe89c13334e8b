"""The inbox's figures in the report (Markdown and HTML alike): per community its items opened over the window,
answered, median and 90th-percentile first response and median resolution, for the community and per staff member,
durations with their units as every surface shows them (:func:`shequn.i18n.fmt.minutes`).

May import: ``analytics.model``, ``i18n``.
"""

from __future__ import annotations

from typing import Any

from shequn.analytics.model import CommunityHealth
from shequn.i18n import fmt, t

COLUMNS = ("who", "items", "responded", "first", "first90", "resolution")


def _row(who: str, f: dict[str, Any], loc: str) -> list[str]:
    return [
        who,
        fmt.count(f.get("items")),
        fmt.count(f.get("responded")),
        fmt.minutes(f.get("first_response_median"), loc),
        fmt.minutes(f.get("first_response_p90"), loc),
        fmt.minutes(f.get("resolution_median"), loc),
    ]


def inbox_rows(c: CommunityHealth, loc: str) -> tuple[list[str], list[list[str]]]:
    """The table's head and rows (the community first, then each staff member); no rows when no item opened."""
    head = [t(f"report.inbox.col.{k}", loc) for k in COLUMNS]
    if not c.inbox.get("items"):
        return head, []
    rows = [_row(t("report.inbox.all", loc), c.inbox, loc)]
    rows += [_row(t("report.inbox.staff", loc, name=s), f, loc) for s, f in (c.inbox.get("staff") or {}).items()]
    return head, rows


def unanswered_line(c: CommunityHealth, loc: str) -> str:
    """How many items still wait past the target ("" when none)."""
    n = c.inbox.get("unanswered")
    return t("report.inbox.unanswered", loc, n=fmt.count(n)) if n else ""
