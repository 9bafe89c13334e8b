"""Lifecycle stages (生命周期) of a group, day by day, from its own daily series: pure functions.

Stages: ``cold_start`` (冷启动), ``growth`` (成长), ``mature`` (成熟), ``decline`` (衰退), ``dormant`` (休眠),
``dead`` (死群). The book names the end (BK 2268-2296: 无效 / 分化 / 死亡; "活跃几天、几周或者几个月之后就变成了死群"),
the anchors the states; the rules are relative to the group's own history, so a small quiet group is not called dying
for being small:

* **dead**: no human message for ``dead_after_days`` days;
* **dormant**: the last 7 days average under ``dormant_share`` of the group's best 7-day average, or under one
  message a day;
* **decline**: under ``decline_share`` of that best, or the group lost more than 3% of its members in 7 days;
* **cold_start**: the group began inside the record less than ``cold_start_days`` ago;
* **growth**: net joins over 7 days of at least 5% of the members;
* **mature**: none of the above.

May import: the standard library, ``numpy`` (:func:`stages_table`, the same rules for every group at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

STAGES = ("cold_start", "growth", "mature", "decline", "dormant", "dead")


@dataclass(frozen=True, slots=True)
class StageRules:
    dead_after_days: int = 7
    dormant_share: float = 0.15
    decline_share: float = 0.5
    cold_start_days: int = 7
    growth_share: float = 0.05


def stages(
    messages: Sequence[int],
    members: Sequence[int],
    joins: Sequence[int],
    leaves: Sequence[int],
    *,
    created_at: int | None,
    rules: StageRules = StageRules(),
) -> list[str]:
    """The stage of every day (index 0 = the first day of the record); ``created_at`` is the day index the group
    began if it began inside the record (None for groups already there when the record starts)."""
    out: list[str] = []
    best = 0.0
    last_msg: int | None = None
    win_sum = 0  # messages of the last 7 days (a running sum: long histories stay cheap)
    net = [j - lv for j, lv in zip(joins, leaves, strict=True)]
    net7 = 0
    # the rules as locals and no builtin calls per day: this runs for every day of every group's record
    dead_after, cold_days = rules.dead_after_days, rules.cold_start_days
    dormant_share, decline_share, growth_share = rules.dormant_share, rules.decline_share, rules.growth_share
    for d, n in enumerate(messages):
        if n > 0:
            last_msg = d
        win_sum += n
        net7 += net[d]
        if d >= 7:
            win_sum -= messages[d - 7]
            net7 -= net[d - 7]
        full = d >= 6
        avg = win_sum / (d + 1 if d < 7 else 7)
        silent = d - last_msg if last_msg is not None else d + 1
        size = members[d] if members[d] > 1 else 1
        age = d - created_at if created_at is not None else None
        if silent >= dead_after and (age is None or age >= dead_after):
            stage = "dead"
        elif age is not None and 0 <= age < cold_days:
            stage = "cold_start"
        elif full and (avg < 1.0 or avg < dormant_share * best):
            stage = "dormant"
        elif full and (avg < decline_share * best or net7 < -0.03 * size):
            stage = "decline"
        elif net7 >= growth_share * size and size >= 5:
            stage = "growth"
        else:
            stage = "mature"
        out.append(stage)
        if full and avg > best:
            best = avg
    return out


def stages_table(
    messages: npt.NDArray[np.int64],
    members: npt.NDArray[np.int64],
    joins: npt.NDArray[np.int64],
    leaves: npt.NDArray[np.int64],
    created_at: npt.NDArray[np.int64],
    rules: StageRules = StageRules(),
) -> npt.NDArray[np.int8]:
    """:func:`stages` for many groups at once: one row per group, one column per day (``created_at`` -1 where the
    group was there when the record starts); each cell is the stage's index in :data:`STAGES`. The same arithmetic
    as :func:`stages` day by day (same float operations, same order of the rules), vectorised over the groups: a
    report over a thousand groups and a year and more of days would otherwise loop half a million times."""
    n_groups, n_days = messages.shape
    out = np.empty((n_groups, n_days), dtype=np.int8)
    best = np.zeros(n_groups)
    last_msg = np.full(n_groups, -1, dtype=np.int64)  # silent = d - (-1) = d + 1 before any message
    win_sum = np.zeros(n_groups, dtype=np.int64)
    net = joins - leaves
    net7 = np.zeros(n_groups, dtype=np.int64)
    has_created = created_at >= 0
    no_created = ~has_created
    never = np.zeros(n_groups, dtype=bool)
    dead_i, cold_i, dormant_i = STAGES.index("dead"), STAGES.index("cold_start"), STAGES.index("dormant")
    decline_i, growth_i, mature_i = STAGES.index("decline"), STAGES.index("growth"), STAGES.index("mature")
    for d in range(n_days):
        n = messages[:, d]
        last_msg[n > 0] = d
        win_sum += n
        net7 += net[:, d]
        if d >= 7:
            win_sum -= messages[:, d - 7]
            net7 -= net[:, d - 7]
        full = d >= 6
        avg = win_sum / (d + 1 if d < 7 else 7)
        silent = d - last_msg
        size = np.maximum(members[:, d], 1)
        age = d - created_at
        dead = (silent >= rules.dead_after_days) & (no_created | (age >= rules.dead_after_days))
        cold = has_created & (age >= 0) & (age < rules.cold_start_days)
        if full:
            dormant = (avg < 1.0) | (avg < rules.dormant_share * best)
            decline = (avg < rules.decline_share * best) | (net7 < -0.03 * size)
        else:
            dormant = decline = never
        growth = (net7 >= rules.growth_share * size) & (size >= 5)
        out[:, d] = np.select(
            [dead, cold, dormant, decline, growth], [dead_i, cold_i, dormant_i, decline_i, growth_i], mature_i
        )
        if full:
            np.maximum(best, avg, out=best)
    return out


def runs(stage_row: Sequence[int]) -> list[int]:
    """The day indexes where a new stage begins in one row of :func:`stages_table` (0 first, if any day)."""
    row = np.asarray(stage_row)
    if not len(row):
        return []
    return [0, *(np.flatnonzero(row[1:] != row[:-1]) + 1).tolist()]


def current(days: Sequence[str], stage_list: Sequence[str]) -> tuple[str, str]:
    """(the last day's stage, the date it began: the first day of its final run)."""
    if not stage_list:
        return "", ""
    last = stage_list[-1]
    i = len(stage_list) - 1
    while i > 0 and stage_list[i - 1] == last:
        i -= 1
    return last, days[i]


def changes(days: Sequence[str], stage_list: Sequence[str]) -> list[dict[str, str]]:
    """The days a new stage began, for the trajectory shown in reports."""
    out = []
    prev = None
    for d, s in zip(days, stage_list, strict=True):
        if s != prev:
            out.append({"date": d, "stage": s})
            prev = s
    return out
