"""Automations (issue 21): the rule language through the engine with a virtual clock, the templates, the limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shequn.domain import Order, OrderStatus, stable_id
from tests.conftest import T0
from tests.policies.harness import World, make_spec, of, texts

DAY = timedelta(days=1)
NOW = {"acks": {"batch_minutes": 0}}
GROUPS = (
    "g1",
    {"platform": "sandbox", "id": "core", "name": "核心群", "role": "core"},
    {"platform": "sandbox", "id": "adm", "name": "管理群", "role": "admin"},
)


def world(automations: Any, **extra: Any) -> World:
    return World(
        make_spec(groups=GROUPS, automations=automations, policies={**NOW, **extra.pop("policies", {})}, **extra)
    )


def auto(actions: list[Any]) -> list[Any]:
    return [a for a in actions if a.policy == "automations"]


def test_t0_is_what_the_tests_assume() -> None:
    assert T0.isoformat().startswith("2026")


CORE_INVITE = {
    "rules": [
        {
            "key": "core_invite",
            "when": "checkin",
            "if": {"streak": 21},
            "once_per_member": True,
            "do": [{"invite": "core", "text": "{name}，连续签到{streak}天，邀请你加入核心群！"}, {"tag": "streak21"}],
        }
    ]
}


def test_twenty_one_days_of_check_in_invites_to_the_core_group() -> None:
    """The issue's example: when someone finishes 21 days of check-in, invite them to the core group."""
    w = world(CORE_INVITE)
    w.join("u1", name="小王")
    invites = []
    for day in range(23):
        invites += of(w.say("u1", "签到"), "invite")
        if day == 19:
            assert not invites and "streak21" not in w.member("u1").tags
        w.wait(DAY)
    assert len(invites) == 1  # day 21, and only that day
    inv = invites[0]
    assert (inv.group, inv.target, inv.policy) == ("core", "u1", "automations")
    assert inv.text == "小王，连续签到21天，邀请你加入核心群！"
    assert "streak21" in w.member("u1").tags
    w.assert_replays()


def test_event_triggers_join_leave_message_level_up_order_payment() -> None:
    w = world(
        {
            "rules": [
                {"key": "hello", "when": "join", "do": [{"dm": {"zh-CN": "欢迎{name}", "en": "Welcome {name}"}}]},
                {"key": "bye", "when": "leave", "do": [{"staff_task": "{name} 退群了，问问原因"}]},
                {"key": "boost", "when": "message", "if": {"text": ["加分"]}, "do": [{"points": 100}]},
                {"key": "up", "when": "level_up", "do": [{"post": "{name} 升到了 {level} 级"}]},
                {"key": "buyer", "when": "order", "do": [{"tag": "buyer"}]},
                {"key": "payer", "when": "payment", "do": [{"tag": "payer"}]},
            ]
        }
    )
    dm = auto(w.join("u1", name="小李"))
    assert [(a.kind.value, a.text_or_empty, a.target) for a in dm] == [("direct_message", "欢迎小李", "u1")]
    assert not auto(w.say("u1", "大家好"))  # placed at level 1: no level-up
    assert w.member("u1").level == 1
    assert not auto(w.say("u1", "大家好"))
    w.say("u1", "请给我加分")
    assert w.member("u1").points >= 100
    ups = auto(w.say("u1", "谢谢"))
    assert texts(ups) == [f"小李 升到了 {w.member('u1').level} 级"] and w.member("u1").level >= 2
    w.handle(
        Order(id=stable_id("o1"), at=w.now, platform="sandbox", group="g1", actor="u1", order_id="o1",
              status=OrderStatus.PAID, amount=9900)
    )  # fmt: skip
    w.pay("u1", 100, "tip")
    assert {"buyer", "payer"} <= w.member("u1").tags
    task = of(w.leave("u1"), "open_staff_task")
    assert [a.title for a in task] == ["u1 退群了，问问原因"]  # the leave carries the id as the name
    w.assert_replays()


def test_schedules_daily_and_cron_fire_once_per_occurrence_in_local_time() -> None:
    w = world(
        {
            "rules": [
                {"key": "morning", "when": "daily 09:00", "for": "groups", "if": {"group_role": "main"},
                 "do": [{"post": "早上好 {group}，今天{group_size}人"}]},
                {"key": "weekly", "when": "cron 0 10 * * 1", "for": "community",
                 "do": [{"staff_task": "周报：{members}人"}]},
            ]
        }
    )  # fmt: skip
    w.join("u1")
    w.join("u2")
    # T0 is Monday 2026-11-02 16:00 in Shanghai: the next 09:00 is Tuesday's, 17 h later; ticking every 10 minutes.
    out = auto(w.wait(timedelta(hours=16, minutes=50), tick=timedelta(minutes=10)))
    assert out == []
    out = auto(w.wait(timedelta(minutes=20), tick=timedelta(minutes=10)))
    assert [(a.group, a.text_or_empty) for a in out] == [("g1", "早上好 读书会g1，今天2人")]
    assert auto(w.wait(timedelta(hours=2), tick=timedelta(minutes=10))) == []  # once per occurrence
    out = auto(w.wait(6 * DAY, tick=timedelta(minutes=30)))
    assert len(of(out, "post")) == 6 and [a.title for a in of(out, "open_staff_task")] == ["周报：2人"]
    w.assert_replays()


def test_a_missed_time_is_not_made_up_later() -> None:
    w = world({"rules": [{"key": "m", "when": "daily 09:00", "for": "groups", "do": [{"post": "早"}]}]})
    w.join("u1")
    # One tick at 10:30 the next day: more than misfire_minutes (30) after 09:00, so nothing.
    assert auto(w.wait(timedelta(hours=18, minutes=30))) == []
    out = auto(w.wait(timedelta(hours=22, minutes=40)))  # 09:10 the day after: within the grace
    assert sorted((a.group, a.text_or_empty) for a in out) == [("adm", "早"), ("core", "早"), ("g1", "早")]


def test_member_conditions() -> None:
    w = world(
        {
            "rules": [
                {"key": "c", "when": "message", "do": [{"tag": "hit"}], "if": {
                    "level": {"min": 1}, "points": {"below": 1000}, "messages": {"above": 1}, "tags": ["vip"],
                    "not_tags": ["muted"], "joined_via": "referral", "status": "active", "membership": "none",
                    "days_since_joining": {"min": 2}, "member_number": {"max": 5}, "orders": 0, "checkins": 0,
                    "streak": 0, "core": False, "group_size": {"min": 2}, "members": {"min": 2},
                    "core_members": 0, "group_role": "main"}},
                {"key": "silent", "when": "daily 10:00", "do": [{"tag": "quiet"}], "if": {"days_silent": {"min": 3}}},
            ]
        }
    )  # fmt: skip
    w.join("inv")
    w.join("u1", by="inv")
    w.say("u1", "一")
    w.say("u1", "二")
    w.member("u1").tags.add("vip")  # as an operator's tag would
    assert "hit" not in w.member("u1").tags  # joined today: days_since_joining fails
    w.wait(2 * DAY)
    w.say("u1", "三")
    assert "hit" in w.member("u1").tags
    w.member("u1").tags.add("muted")
    w.member("u1").tags.discard("hit")
    w.say("u1", "四")
    assert "hit" not in w.member("u1").tags
    w.wait(4 * DAY, tick=timedelta(hours=1))
    assert "quiet" in w.member("inv").tags and "quiet" in w.member("u1").tags


def test_once_per_member_cooldown_and_the_daily_cap_per_group() -> None:
    w = world(
        {
            "rules": [
                {"key": "once", "when": "message", "once_per_member": True, "do": [{"dm": "第一次发言"}]},
                {"key": "cool", "when": "message", "once_per": "1h", "do": [{"dm": "冷却"}]},
                {"key": "loud", "when": "message", "max_per_day": 3, "do": [{"post": "收到"}]},
            ]
        }
    )
    w.join("u1")
    w.join("u2")
    out: list[Any] = []
    for i in range(5):
        out += auto(w.say("u1", f"话 {i}"))
    assert texts(of(out, "direct_message")) == ["第一次发言", "冷却"]
    assert len(of(out, "post")) == 3  # the cap: three a day in the group, whoever speaks
    assert w.scope("automations")["capped:loud"] == 2
    assert not of(auto(w.say("u2", "我也来")), "post")
    assert texts(of(w.sent, "direct_message", "automations")).count("冷却") == 2  # u1 once in the hour, u2 once
    w.wait(timedelta(hours=1))
    assert texts(of(auto(w.say("u1", "一小时后")), "direct_message")) == ["冷却"]
    w.wait(DAY)
    assert len(of(auto(w.say("u1", "第二天")), "post")) == 1  # a new day, a new cap
    w.assert_replays()
