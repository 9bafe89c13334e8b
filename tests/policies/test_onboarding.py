"""Onboarding, capacity and speaking rules: what happens around joining and chatting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shequn.domain import ContentKind, UserError
from shequn.engine import build_community_config
from shequn.policies.onboarding import nickname_fits
from tests.policies.harness import World, make_spec, of, texts


def test_the_newcomer_guide_is_posted_once_every_three_newcomers() -> None:
    w = World(make_spec())
    guides = [bool(of(w.join(f"u{i}"), "post", "onboarding")) for i in range(7)]
    assert guides == [False, False, True, False, False, True, False]
    assert "新人必知必读" in texts(of(w.sent, "post", "onboarding"))[0]
    w.assert_replays()


def test_nicknames_are_checked_against_the_format_and_reminded_privately() -> None:
    assert nickname_fits("懒投资-北京-边轶袖", "昵称-城市-爱好") and nickname_fits("老王 上海 跑步", "昵称+城市+爱好")
    assert not nickname_fits("老王", "昵称-城市-爱好") and nickname_fits("随便", "昵称")
    w = World(make_spec(nickname_format="昵称-城市-爱好"))
    first = of(w.join("u1", name="老王"), "direct_message", "onboarding")
    assert any("昵称-城市-爱好" in a.text_or_empty for a in first)
    w.wait(timedelta(hours=1))
    assert not of(w.nick("u1", "老王-上海"), "direct_message", "onboarding")  # reminded an hour ago: not again yet
    w.wait(timedelta(hours=24))
    assert of(w.nick("u1", "老王 上海"), "direct_message", "onboarding")
    assert not of(w.nick("u1", "老王-上海-跑步"), "direct_message", "onboarding")
    assert "nick:sandbox:u1" not in w.scope("onboarding")
    w.assert_replays()


def test_newcomers_get_the_connect_task_and_a_prompt_if_they_stay_silent() -> None:
    w = World(make_spec())
    for who, n in (("达人", 5), ("热心", 3)):
        w.join(who)
        for i in range(n):
            w.say(who, f"{who}的第{i}条消息，欢迎大家")
    w.wait(timedelta(days=8))  # the group's helpers are worked out weekly
    out = w.join("新人")
    connect = [a for a in of(out, "direct_message", "onboarding") if "好友" in a.text_or_empty]
    assert connect and "达人、热心" in connect[0].text_or_empty
    w.join("话痨")
    w.say("话痨", "大家好，我是话痨，很高兴认识大家")
    prompts = of(w.wait(timedelta(minutes=40), tick=timedelta(minutes=1)), "post", "onboarding")
    assert [a.target for a in prompts] == ["新人"] and "自我介绍" in prompts[0].text_or_empty
    rounds = of(w.wait(timedelta(hours=24), tick=timedelta(minutes=30)), "post", "onboarding")
    assert len(rounds) == 1 and "新人" in rounds[0].text_or_empty and "话痨" in rounds[0].text_or_empty
    w.assert_replays()


def test_prompts_overdue_from_imported_history_are_dropped() -> None:
    w = World(make_spec())
    w.join("old")
    w.clock.set(w.now + timedelta(days=3))  # history: no ticks in between
    assert not of(w.tick(), "post")
    assert not any(k.startswith("i:") for k in w.scope("onboarding"))


def test_one_in_one_out_can_make_the_newcomer_wait_for_a_freed_seat() -> None:
    spec = make_spec(
        size={"policy": "one_in_one_out", "capacity": 3}, policies={"capacity": {"when_full": "newcomer_waits"}}
    )
    w = World(spec)
    for who in ("a", "b", "c"):
        w.join(who)
    out = w.join("d")
    assert of(out, "remove") and "候补名单第1位" in texts(out)[0] and not of(out, "post", "welcome")
    w.join("e")
    w.leave("a")
    seat = [a for a in w.sent if a.kind.value == "direct_message" and "座位为你保留" in a.text_or_empty]
    assert [a.target for a in seat] == ["d"]
    assert of(w.join("e"), "remove")  # the seat is held for d
    assert not of(w.join("d"), "remove")
    w.assert_replays()


def test_one_in_one_out_removes_the_longest_silent_by_default() -> None:
    # 003:497 要进一个,就得踢出一个: making room is the default, not a waiting list.
    spec = make_spec(size={"policy": "one_in_one_out", "capacity": 3}, roles={"architect": ["owner"]})
    w = World(spec)
    w.join("owner")  # silent, but staff
    w.join("quiet")
    w.join("talker")
    w.say("talker", "我很活跃")
    w.wait(timedelta(days=1))
    out = w.join("new")
    removed = of(out, "remove")
    assert [a.target for a in removed] == ["quiet"] and not of(out, "remove", "admission")
    assert w.member("new").active and not w.member("quiet").active


def test_one_in_one_out_with_confirm_asks_staff_to_make_room() -> None:
    spec = make_spec(
        size={"policy": "one_in_one_out", "capacity": 3},
        roles={"architect": ["owner"]},
        policies={"capacity": {"confirm": True}},
    )
    w = World(spec)
    for who in ("owner", "quiet", "talker"):
        w.join(who)
    w.say("talker", "我很活跃")
    w.wait(timedelta(days=1))
    out = w.join("new")
    task = of(out, "open_staff_task", "capacity")
    assert not of(out, "remove") and len(task) == 1
    assert "quiet" in task[0].title and "进一出一" in task[0].instructions  # type: ignore[attr-defined]
    assert w.member("new").active and w.member("quiet").active
    w.assert_replays()


def test_soft_caps_warn_staff_once_per_crossing() -> None:
    w = World(make_spec(size={"policy": "soft_cap", "capacity": 5, "warn_at": 0.8}))
    tasks = [of(w.join(f"u{i}"), "open_staff_task") for i in range(6)]
    assert [bool(t) for t in tasks] == [False, False, False, True, False, True]
    assert "接近上限" in tasks[3][0].title and "超过" in tasks[5][0].title  # type: ignore[attr-defined]
    for i in range(3):
        w.leave(f"u{i}")
    assert of(w.join("x"), "open_staff_task") and not of(w.join("y"), "open_staff_task")  # re-armed below 4
    w.assert_replays()


def test_chatter_outside_the_chat_hours_is_reminded_and_earns_nothing() -> None:
    # T0 is 16:00 in Shanghai; chat hours are lunch time and the evening.
    spec = make_spec(policies={"speaking": {"chat_hours": ["12:00-13:30", "21:00-23:00"], "heavy_media": True}})
    w = World(spec)
    w.join("u1")
    out = w.say("u1", "哈哈哈哈")
    assert "灌水时间" in texts(out)[0] and w.member("u1").points == 0
    assert not texts(w.say("u1", "哈哈"))  # reminded a moment ago
    w.wait(timedelta(hours=1))
    assert not of(w.say("u1", "今天读了第三章，关于习惯养成的部分很有用"), "post", "speaking")
    assert of(w.say("u1", "", content=ContentKind.VOICE), "post", "speaking")
    w.wait(timedelta(hours=5))  # 22:00: chat time
    assert not of(w.say("u1", "哈哈哈"), "post", "speaking")


def test_a_muted_main_group_points_chatter_to_the_chitchat_group() -> None:
    groups = [
        {"platform": "sandbox", "id": "g1", "name": "主群"},
        {"platform": "sandbox", "id": "chat", "name": "闲聊群", "role": "chitchat"},
    ]
    w = World(make_spec(groups=groups, policies={"speaking": {"mute_main": True}}, roles={"architect": ["owner"]}))
    w.join("u1")
    w.join("owner")
    assert "闲聊群" in texts(w.say("u1", "有人一起吃饭吗"))[0]
    assert not of(w.say("u1", "有人一起吃饭吗", group="chat"), "post", "speaking")
    assert not of(w.say("owner", "今晚八点讲座"), "post", "speaking")
    with pytest.raises(UserError, match=r"policies.speaking.mute_main: a muted main group needs a chit-chat group"):
        build_community_config(make_spec(policies={"speaking": {"mute_main": True}}))
    with pytest.raises(UserError, match=r"policies.speaking.chat_hours: .*'noon' is not a span"):
        build_community_config(make_spec(policies={"speaking": {"chat_hours": ["noon"]}}))
