"""Referral attribution, the fraud checks, the tree, leaderboards and the Friday-17:00 settlement periods (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.growth import referral
from shequn.growth.referral import HOUR_MS, MINUTE_MS, InviteLink, JoinFact, Rules, attribute, leaderboard, periods

T = 1_800_000_000_000
LINKS = {
    "ra": InviteLink("ra", "c", owner="s:alice"),
    "rb": InviteLink("rb", "c", owner="s:bob"),
    "poster": InviteLink("poster", "c", channel="海报"),
}


def j(minute: float, member: str, code: str = "", inviter: str = "") -> JoinFact:
    return JoinFact(T + int(minute * MINUTE_MS), member, code, inviter)


def test_a_code_names_its_owner_and_a_channel_link_its_channel() -> None:
    out = attribute(
        [j(0, "s:n1", "ra"), j(1, "s:n2", "poster"), j(2, "s:n3", inviter="s:bob"), j(3, "s:n4")], LINKS, {}
    )
    assert [(a.member, a.referrer, a.channel) for a in out] == [
        ("s:n1", "s:alice", "member"),
        ("s:n2", "", "海报"),
        ("s:n3", "s:bob", "member"),
        ("s:n4", "", "unknown"),
    ]
    assert out[0].valid and out[0].confirmed_ms == T + 24 * HOUR_MS
    assert not out[1].valid and out[1].confirmed_ms is None


def test_fraud_checks_self_invites_rejoins_early_leavers_and_bursts() -> None:
    joins = [
        j(0, "s:alice", "ra"),  # her own link
        j(1, "s:alt", "ra"),  # her second account (same person)
        j(2, "s:n1", "ra"),
        j(3, "s:n1", "ra"),  # again: only the first join counts
        j(4, "s:n2", "rb"),  # leaves after 23 hours
        j(5, "s:n3", "rb"),  # leaves after 25 hours: counts
    ]
    leaves = {"s:n2": [T + 4 * MINUTE_MS + 23 * HOUR_MS], "s:n3": [T + 5 * MINUTE_MS + 25 * HOUR_MS]}
    out = attribute(joins, LINKS, leaves, person_of={"s:alice": 7, "s:alt": 7, "s:n1": 8})
    assert [a.flags for a in out] == [("self_invite",), ("self_invite",), (), ("rejoin",), ("left_early",), ()]
    # A burst: more than 3 joins through one link within 10 minutes; the 4th and 5th are flagged, the 6th (later) not.
    burst = [j(m, f"s:b{m}", "rb") for m in (0, 1, 2, 3, 4, 30)]
    flags = [a.flags for a in attribute(burst, LINKS, {}, rules=Rules(burst_max=3, burst_minutes=10))]
    assert flags == [(), (), (), ("burst",), ("burst",), ()]


def test_a_join_younger_than_a_day_is_pending() -> None:
    [a] = attribute([j(0, "s:n1", "ra")], LINKS, {}, now_ms=T + 23 * HOUR_MS)
    assert a.valid and a.confirmed_ms is None
    [a] = attribute([j(0, "s:n1", "ra")], LINKS, {}, now_ms=T + 24 * HOUR_MS)
    assert a.confirmed_ms == T + 24 * HOUR_MS


def test_leaderboard_counts_confirmations_in_the_period_and_breaks_ties_by_who_got_there_first() -> None:
    joins = [j(0, "s:x1", "rb"), j(10, "s:x2", "ra"), j(20, "s:x3", "ra"), j(30, "s:x4", "rb"), j(40, "s:x5", "ra")]
    leaves = {"s:x5": [T + 50 * MINUTE_MS]}
    atts = attribute(joins, LINKS, leaves)
    start, end = T, T + 48 * HOUR_MS
    board = leaderboard(atts, start, end)
    assert [(r.referrer, r.confirmed, dict(r.rejected)) for r in board] == [
        ("s:alice", 2, {"left_early": 1}),
        ("s:bob", 2, {}),
    ]
    # Bob reached 2 at minute 30 + 24 h, Alice at minute 20 + 24 h: with equal counts Alice is first.
    assert [r.rank for r in board] == [1, 2]
    # Confirmed after the period's end: counted in the next one, pending in this one.
    early = leaderboard(atts, T, T + 24 * HOUR_MS + 15 * MINUTE_MS)
    assert [(r.referrer, r.confirmed) for r in early] == [("s:bob", 1), ("s:alice", 1)]
    assert leaderboard(atts, start, end, eligible={"s:bob"})[0].referrer == "s:bob"


def test_tree_upline_and_sizes() -> None:
    links = {**LINKS, "rn1": InviteLink("rn1", "c", owner="s:n1"), "rn2": InviteLink("rn2", "c", owner="s:n2")}
    atts = attribute([j(0, "s:n1", "ra"), j(1, "s:n2", "rn1"), j(2, "s:n3", "rn2"), j(3, "s:n4", "rn1")], links, {})
    tree = referral.tree(atts)
    assert tree.upline("s:n3", 3) == ["s:n2", "s:n1", "s:alice"]
    assert tree.upline("s:n3", 1) == ["s:n2"]
    assert tree.size("s:alice") == 4 and tree.size("s:n1") == 3 and tree.depth("s:n3") == 3


def test_settlement_periods_end_on_friday_17_local_across_daylight_saving() -> None:
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # Monday 16:00 in Shanghai
    done = periods(start, start + timedelta(days=15), weekday=4, at="17:00", tz="Asia/Shanghai")
    assert [e.astimezone(UTC).isoformat() for _s, e in done] == [
        "2026-11-06T09:00:00+00:00",
        "2026-11-13T09:00:00+00:00",
    ]
    assert done[1][0] == done[0][1]
    # Berlin leaves summer time on 25 October 2026: 17:00 stays 17:00 local (16:00 UTC, then 16:00 UTC + 1 h).
    b = periods(
        datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), weekday=4, at="17:00", tz="Europe/Berlin"
    )
    assert [e.astimezone(UTC).hour for _s, e in b] == [15, 16]
    nxt = referral.next_settlement(start, start + timedelta(days=1), weekday=4, at="17:00", tz="Asia/Shanghai")
    assert nxt.astimezone(UTC) == datetime(2026, 11, 6, 9, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2000), st.integers(0, 30), st.sampled_from(["ra", "rb", "", "poster"])), max_size=60
    )
)
def test_attribution_is_deterministic_and_counts_each_member_once(rows: list[tuple[int, int, str]]) -> None:
    joins = [j(m, f"s:m{who}", code) for m, who, code in rows]
    a1 = attribute(joins, LINKS, {})
    a2 = attribute(list(reversed(joins)), LINKS, {})
    assert sorted(a1, key=lambda a: (a.at_ms, a.member)) == sorted(a2, key=lambda a: (a.at_ms, a.member))
    board = leaderboard(a1, 0, 1 << 60)
    valid = {a.member for a in a1 if a.confirmed_ms is not None}
    assert sum(r.confirmed for r in board) == len(valid)


def test_the_sandbox_joins_through_an_invite_code() -> None:
    from shequn.connectors.sandbox import SandboxSession
    from shequn.engine import build_community_config
    from shequn.policies import Welcome
    from tests.conftest import T0
    from tests.support.builders import spec

    s = SandboxSession(build_community_config(spec()), start=T0, policies=[Welcome()])
    s.run_script(["/join 小王", "/join 小李 via rABC by 小王", "/join 小张 via poster"], source="x")
    members = s.engine.state.communities["读书会"].members
    assert members["sandbox:u2"].invite_code == "rABC" and members["sandbox:u2"].inviter == "sandbox:u1"
    assert members["sandbox:u3"].invite_code == "poster" and members["sandbox:u3"].inviter == ""
