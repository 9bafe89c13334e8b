"""Incentives: check-in streaks and make-up cards, the points ledger, levels with hysteresis, boards, badges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from shequn.domain import UserError
from shequn.engine import build_community_config
from shequn.policies.checkin import Record, announcement, record
from shequn.policies.levels import Level, bulletin, target
from shequn.policies.membership import add_months
from tests.conftest import T0
from tests.policies.harness import World, make_spec, of, texts

DAY = timedelta(days=1)


def test_streak_arithmetic_with_make_up_cards() -> None:
    d = date(2026, 11, 2)
    r, used, earned = record(Record(), d, makeup_every=7, makeup_max=3)
    assert (r.streak, r.total, used, earned) == (1, 1, 0, False)
    for i in range(1, 7):
        r, used, earned = record(r, d + timedelta(days=i), makeup_every=7, makeup_max=3)
    assert (r.streak, r.cards, earned) == (7, 1, True)
    r, used, _ = record(r, d + timedelta(days=8), makeup_every=7, makeup_max=3)  # one day missed: a card bridges it
    assert (r.streak, r.cards, used) == (8, 0, 1)
    r, used, _ = record(r, d + timedelta(days=11), makeup_every=7, makeup_max=3)  # two missed, no card: restart
    assert (r.streak, r.total, r.best, used) == (1, 9, 8, 0)


NOW = {"acks": {"batch_minutes": 0}}  # each acknowledgement posted at once, to read it where it was made


def test_check_ins_through_the_engine_streaks_points_and_the_window() -> None:
    w = World(make_spec(policies=NOW))
    w.join("u1")
    w.join("u2")
    w.checkin("u2")
    first = w.say("u1", "签到 今天读了30页")
    assert "已连续签到1天" in texts(of(first, "post", "checkin"))[0] and w.member("u1").points == 5
    assert "已经签过" in texts(w.checkin("u1"))[0] and w.member("u1").points == 5
    # Next morning at 07:00 local, before the window opens at 07:30.
    w.wait(timedelta(hours=15))
    assert "07:30" in texts(w.checkin("u1"))[0]
    w.wait(timedelta(minutes=45))
    assert "已连续签到2天" in texts(w.checkin("u1"))[0]
    for _ in range(5):
        w.wait(DAY)
        out = w.checkin("u1")
    done = texts(of(out, "post", "checkin"))[0]
    assert "已连续签到7天" in done and "20积分" in done and "补签卡" in done
    assert w.member("u1").points == 7 * 5 + 20
    assert "超过了100%" in done  # u1 has checked in more than u2
    text = announcement(w.config.communities["读书会"], w.community(), w.now + DAY)
    assert "回复「签到」" in text and "u1（7天）" in text
    w.assert_replays()


def test_make_up_cards_can_be_bought_with_points() -> None:
    w = World(make_spec(policies={"checkin": {"makeup_cost": 10}, **NOW}))
    w.join("u1")
    assert "0/10" in texts(w.say("u1", "补签卡"))[0] and w.member("u1").points == 0
    w.checkin("u1")
    w.wait(DAY)
    w.checkin("u1")
    out = w.say("u1", "补签卡")
    assert "换了一张补签卡" in texts(out)[0] and w.member("u1").points == 0
    assert w.scope("checkin")["m:sandbox:u1"]["cards"] == 1
    w.wait(3 * DAY)  # two days missed: one card is not enough
    assert "已连续签到1天" in texts(w.checkin("u1"))[0]


def test_message_points_with_anti_farming() -> None:
    w = World(make_spec(policies={"points": {"daily_cap": 3}}))
    w.join("u1")
    w.say("u1", "这是第一条有内容的消息")
    w.wait(timedelta(seconds=30))
    w.say("u1", "半分钟后的第二条消息")  # cooldown: nothing
    w.wait(timedelta(minutes=2))
    w.say("u1", "好")  # too short
    w.say("u1", "这是第一条有内容的消息")  # repeats the last awarded one
    assert w.member("u1").points == 1
    for i in range(5):
        w.wait(timedelta(minutes=2))
        w.say("u1", f"第{i}条新的讨论内容")
    assert w.member("u1").points == 3  # the daily cap
    w.wait(DAY)
    w.say("u1", "第二天的新消息，继续讨论")
    assert w.member("u1").points == 4
    w.wait(timedelta(minutes=2))
    w.say("u1", "签到打卡，今天也要加油")
    assert w.member("u1").points == 4 + 5  # a check-in earns check-in points, not message points too
    w.assert_replays()


def test_rewards_are_redeemed_and_points_expire() -> None:
    w = World(make_spec(policies={"points": {"rewards": {"课程券": 5}, "expire_days": 30, "daily_cap": 0}}))
    w.join("u1")
    out = w.say("u1", "兑换 课程券")
    assert "课程券(5)" in texts(out)[0] and w.member("u1").points == 0
    for i in range(8):
        w.say("u1", f"认真讨论第{i}个问题")
        w.wait(timedelta(minutes=2))
    out = w.say("u1", "兑换 课程券")
    assert of(out, "open_staff_task") and w.member("u1").points == 3
    assert "剩余3积分" in texts(of(out, "post", "points"))[0]
    # November's points expire 30 days after the end of November, at the daily run at 04:00.
    w.clock.set(T0.replace(month=12, day=30, hour=21))  # 05:00 on the 31st in Shanghai
    w.tick()
    assert w.member("u1").points == 0 and w.scope("points")["p:sandbox:u1"]["lots"] == {}
    w.assert_replays()


def test_levels_promote_announce_and_keep_with_hysteresis() -> None:
    ladder = [
        Level(level=1, title="新人", points=0),
        Level(level=2, title="青铜", points=50),
        Level(level=3, title="白银", points=100),
    ]
    assert target(ladder, 0, 0, 0, 0, 0.9) == 1
    assert target(ladder, 2, 120, 0, 0, 0.9) == 3
    assert target(ladder, 3, 95, 0, 0, 0.9) == 3  # above 90% of 100: kept
    assert target(ladder, 3, 85, 0, 0, 0.9) == 2  # below 90%: down to what is still held
    assert target(ladder, 3, 10, 0, 0, 0.9) == 1
    w = World(
        make_spec(policies={"checkin": {"points": 30, "streak_bonus": {}}, "points": {"rewards": {"书": 20}}, **NOW})
    )
    w.join("u1")
    out = w.checkin("u1")
    assert w.member("u1").level == 1 and not of(out, "post", "levels")  # placed without an announcement
    w.wait(DAY)
    out = w.checkin("u1")
    assert w.member("u1").level == 2 and "青铜级" in texts(of(out, "post", "levels"))[0]
    text = bulletin(w.config.communities["读书会"], w.community(), w.now)
    assert "【等级公示" in text and "u1【青铜级】60分" in text
    w.assert_replays()


def test_spending_points_on_a_reward_never_costs_a_level() -> None:
    # Levels follow contribution (book 1239: 根据贡献及参与度): the 20 points spent were earned all the same.
    w = World(make_spec(policies={"checkin": {"points": 30, "streak_bonus": {}}, "points": {"rewards": {"书": 20}}}))
    w.join("u1")
    w.checkin("u1")
    w.wait(DAY)
    w.checkin("u1")
    assert w.member("u1").level == 2
    w.say("u1", "兑换 书")  # the balance drops from 60 to 40, below 90% of the 50 the level asks
    assert w.member("u1").points == 40 and w.member("u1").level == 2
    w.wait(DAY, tick=timedelta(hours=1))  # the daily placement keeps it too
    assert w.member("u1").level == 2
    assert not [a for a in w.sent if a.policy == "levels" and a.kind.value == "direct_message"]
    text = bulletin(w.config.communities["读书会"], w.community(), w.now)
    assert "u1【青铜级】60分" in text
    w.assert_replays()


def test_leaderboards_on_request_with_a_cooldown() -> None:
    w = World(make_spec())
    for who, n in (("a", 3), ("b", 1), ("c", 2)):
        w.join(who)
        for _ in range(n):
            w.checkin(who)
            w.wait(DAY)
    out = w.say("c", "排行榜")
    board = texts(out)[0]
    assert board.index("1. a") < board.index("2. c") < board.index("3. b")
    assert "c排第2名" in board
    assert not w.say("b", "排行榜")  # the cooldown: once per ten minutes per group
    assert "连续签到" in texts(w.say("b", "签到榜"))[0]


def test_badges_are_granted_and_revoked_by_their_rules() -> None:
    rules = [
        {"key": "streak3", "name": "三连", "when": {"streak": 3}, "revoke": True},
        {"key": "chatty", "name": {"zh-CN": "话多", "en": "Chatty"}, "when": {"messages": 3}},
        {"key": "connector", "name": "人脉王", "when": {"invites": 2}},
    ]
    w = World(make_spec(policies={"badges": {"rules": rules}, **NOW}))
    w.join("u1")
    for _ in range(3):
        w.checkin("u1")
        w.wait(DAY)
    assert "badge:streak3" in w.member("u1").tags
    assert any("三连" in t for t in texts(of(w.sent, "post", "badges")))
    for i in range(3):
        w.say("u1", f"消息{i}号，说点什么")
    assert "badge:chatty" in w.member("u1").tags
    w.join("f1", by="u1")
    w.join("f2", by="u1")
    assert "badge:connector" in w.member("u1").tags
    w.wait(3 * DAY, tick=timedelta(hours=6))  # the streak lapses; the daily review takes the badge back
    assert "badge:streak3" not in w.member("u1").tags and "badge:chatty" in w.member("u1").tags
    w.assert_replays()
    with pytest.raises(UserError, match=r"policies.badges.rules: badge keys must be unique"):
        build_community_config(make_spec(policies={"badges": {"rules": [rules[0], rules[0]]}}))
    with pytest.raises(UserError, match=r"policies.badges.rules.0.when.mood"):
        build_community_config(
            make_spec(policies={"badges": {"rules": [{"key": "x", "name": "x", "when": {"mood": 1}}]}})
        )


def test_bad_incentive_settings_name_the_field() -> None:
    with pytest.raises(UserError, match=r"policies.levels.ladder: level 2 must not ask less"):
        build_community_config(
            make_spec(
                policies={"levels": {"ladder": [{"level": 1, "title": "a", "points": 10}, {"level": 2, "title": "b"}]}}
            )
        )
    with pytest.raises(UserError, match=r"policies.checkin.opens_at: '25:00' is not a time of day"):
        build_community_config(make_spec(policies={"checkin": {"opens_at": "25:00"}}))
    with pytest.raises(UserError, match=r"policies.points.rewards.书: a reward costs at least 1 point"):
        build_community_config(make_spec(policies={"points": {"rewards": {"书": 0}}}))
    assert add_months(T0.replace(month=1, day=31), 1).day == 28


def test_acknowledgements_are_gathered_into_one_post_per_few_minutes() -> None:
    """Book 2210 (一天最多发文2~3则): ten check-ins make one post, not ten; the batch is policy state, so a replay
    flushes it on the same tick."""
    w = World(make_spec())
    people = [f"u{i}" for i in range(10)]
    for who in people:
        w.join(who)
    w.wait(timedelta(hours=16))  # Tuesday 08:00: the check-in window is open
    for who in people:
        out = w.checkin(who)
        assert not of(out, "post")  # gathered, not posted
        w.wait(timedelta(seconds=20))
    assert len(w.scope("acks")["p:sandbox:g1"]["lines"]) == 10
    flushed = of(w.wait(timedelta(minutes=5), tick=timedelta(minutes=1)), "post", "acks")
    assert len(flushed) == 1 and flushed[0].text_or_empty.count("签到成功") == 10
    assert set(flushed[0].mentions) == set(people) and flushed[0].group == "g1"  # type: ignore[attr-defined]
    assert "p:sandbox:g1" not in w.scope("acks")
    assert not of(w.wait(timedelta(minutes=10), tick=timedelta(minutes=1)), "post")  # sent once
    w.assert_replays()


def test_acknowledgements_gathered_from_history_are_dropped_not_posted() -> None:
    w = World(make_spec())
    w.join("u1")
    w.wait(timedelta(hours=16))
    w.checkin("u1")
    w.clock.set(w.now + timedelta(days=2))  # history: no ticks in between
    assert not of(w.tick(), "post") and "p:sandbox:g1" not in w.scope("acks")
    w.assert_replays()
