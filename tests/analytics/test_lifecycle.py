"""Lifecycle stages from a group's own daily series."""

from __future__ import annotations

from shequn.analytics import lifecycle


def test_a_group_that_falls_silent_is_dead_after_a_week() -> None:
    msgs = [20] * 14 + [3, 1] + [0] * 8
    n = len(msgs)
    st = lifecycle.stages(msgs, [100] * n, [1] * n, [1] * n, created_at=None)
    assert st[13] == "mature"
    assert st[-1] == "dead" and st[-2] == "dead" and "dead" not in st[:22]
    days = [f"d{i}" for i in range(n)]
    assert lifecycle.current(days, st) == ("dead", "d22")


def test_new_groups_start_cold_then_grow() -> None:
    n = 20
    st = lifecycle.stages([5] * n, [10 + 2 * i for i in range(n)], [2] * n, [0] * n, created_at=0)
    assert st[0] == "cold_start" and st[6] == "cold_start" and st[10] == "growth"


def test_decline_and_dormancy_are_relative_to_the_groups_own_best() -> None:
    msgs = [40] * 10 + [15] * 10 + [2] * 10
    n = len(msgs)
    st = lifecycle.stages(msgs, [120] * n, [0] * n, [0] * n, created_at=None)
    assert st[9] == "mature" and st[19] == "decline" and st[29] == "dormant"
    quiet = lifecycle.stages([3] * n, [20] * n, [0] * n, [0] * n, created_at=None)
    assert set(quiet[7:]) == {"mature"}  # small and steady is not dying
