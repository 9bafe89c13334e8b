"""The inbox's figures (收件箱的响应时间): first-response and resolution times of a set of inbox items, and the open
load. One computation for every surface (the report, the console, the API, ``shequn inbox times``), so that the
same items read the same everywhere (issue 17's rule).

Pure: items are the ``inbox`` policy's state as dicts (``at``, ``status``, ``first_response_at``, ``resolved_at``,
``responder``, ``assignee``); the caller reads them from the store.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shequn.domain.records import parse_iso


@dataclass(frozen=True, slots=True)
class Times:
    """First-response and resolution times (minutes) of a set of items: how many, the median and the 90th percentile."""

    items: int
    responded: int
    resolved: int
    first_response_median: float | None
    first_response_p90: float | None
    resolution_median: float | None
    resolution_p90: float | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def minutes(a: str, b: str | datetime) -> float:
    """Minutes from the ISO moment ``a`` to ``b`` (ISO or a datetime), to a tenth."""
    stop = b if isinstance(b, datetime) else parse_iso(b)
    return round((stop - parse_iso(a)).total_seconds() / 60, 1)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def times_of(items: Iterable[dict[str, Any]]) -> Times:
    """The figures of ``items``, measured from when each was said to its first response and its resolution."""
    items = list(items)
    first = [minutes(i["at"], i["first_response_at"]) for i in items if i.get("first_response_at")]
    done = [minutes(i["at"], i["resolved_at"]) for i in items if i.get("resolved_at")]
    return Times(
        len(items),
        len(first),
        len(done),
        statistics.median(first) if first else None,
        _pct(first, 0.9),
        statistics.median(done) if done else None,
        _pct(done, 0.9),
    )


def by_staff(items: Iterable[dict[str, Any]]) -> dict[str, Times]:
    """The figures per staff member: the one who first answered an item, else the one it is assigned to."""
    by: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        who = it.get("responder") or it.get("assignee") or ""
        if who:
            by.setdefault(str(who), []).append(it)
    return {s: times_of(v) for s, v in sorted(by.items())}


@dataclass(frozen=True, slots=True)
class Load:
    """The items not resolved yet: how many are open, how many pending, and since when the oldest has waited."""

    open: int = 0
    pending: int = 0
    oldest_at: str = ""  # ISO moment the oldest waiting item was said ("" when none waits)

    def waiting_minutes(self, now: datetime) -> float | None:
        return minutes(self.oldest_at, now) if self.oldest_at else None


def load_of(items: Iterable[dict[str, Any]]) -> Load:
    """The open load of ``items`` (resolved ones left out)."""
    active = [i for i in items if i.get("status") != "resolved"]
    oldest = min((i["at"] for i in active), key=parse_iso, default="")
    return Load(
        sum(1 for i in active if i.get("status") == "open"),
        sum(1 for i in active if i.get("status") == "pending"),
        oldest,
    )


__all__ = ["Load", "Times", "by_staff", "load_of", "minutes", "times_of"]
