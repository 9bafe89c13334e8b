"""Lifecycle stages from a group's own daily series."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.tuples(st.integers(0, 14) | st.integers(0, 80), st.integers(0, 6), st.integers(0, 6)),
                min_size=30,
                max_size=30,
            ),
            st.integers(-1, 29),
            st.integers(0, 300),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 14),
)
def test_the_table_of_many_groups_is_the_per_group_stages(groups: list[Any], dead_after: int) -> None:
    """``stages_table`` (every group at once, as reports use it) gives each group exactly ``stages``."""
    rules = lifecycle.StageRules(dead_after_days=dead_after)
    msgs = [[m for m, _, _ in days] for days, _, _ in groups]
    joins = [[j for _, j, _ in days] for days, _, _ in groups]
    leaves = [[lv for _, _, lv in days] for days, _, _ in groups]
    members = [list(itertools.accumulate((j - lv for j, lv in zip(js, ls, strict=True)), initial=start))[1:]
               for js, ls, (_, _, start) in zip(joins, leaves, groups, strict=True)]  # fmt: skip
    created = [c for _, c, _ in groups]
    table = lifecycle.stages_table(
        np.array(msgs), np.array(members), np.array(joins), np.array(leaves), np.array(created), rules
    )
    for i in range(len(groups)):
        expected = lifecycle.stages(
            msgs[i], members[i], joins[i], leaves[i], created_at=None if created[i] < 0 else created[i], rules=rules
        )
        got = [lifecycle.STAGES[c] for c in table[i].tolist()]
        assert got == expected
        starts = lifecycle.runs(table[i].tolist())
        assert [{"date": str(d), "stage": got[d]} for d in starts] == lifecycle.changes(
            [str(d) for d in range(30)], expected
        )
