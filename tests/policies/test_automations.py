"""Automations (issue 21): the rule language through the engine with a virtual clock, the templates, the limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shequn.domain import Order, OrderStatus, UserError, stable_id
from shequn.engine import build_community_config
from shequn.policies.automations.calendar import birthday_in, holiday_on, is_birthday
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


def test_a_rule_added_after_check_ins_fires_on_the_next_check_in_only() -> None:
    w = world({"rules": [{"key": "ck", "when": "checkin", "do": [{"dm": "签到+1"}]}]})
    w.join("u1")
    # Check-ins recorded before the rule existed (as in a community that adds it later):
    w.community().policy["checkin"] = {"m:sandbox:u1": {"last": "2026-10-01", "streak": 9, "total": 9}}
    assert not auto(w.say("u1", "早上好"))  # a message that is no check-in
    assert texts(auto(w.say("u1", "签到"))) == ["签到+1"]
    assert not auto(w.say("u1", "签到"))  # already checked in today


def test_event_triggers_join_leave_message_level_up_order_payment() -> None:
    w = world(
        {
            "rules": [
                {"key": "hello", "when": "join", "do": [{"dm": {"zh-CN": "欢迎{name}", "en": "Welcome {name}"}}]},
                {"key": "bye", "when": "leave", "do": [{"staff_task": "{name} 退群了，问问原因"}, {"untag": "buyer"}]},
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
    assert w.member("u1").tags == {"payer"}
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


# -- the book-derived templates ---------------------------------------------------------------------------------


def test_birthdays_are_read_from_self_introductions_in_both_languages() -> None:
    cases = {
        "大家好，我叫小王，生日：3月15日，爱好读书": "03-15",
        "自我介绍：小李，1992年11月3号生日": "",  # the date comes before the cue: not read as a birthday
        "生日 1990-07-08": "07-08",
        "生日是5.20哦": "05-20",
        "Hi all, I'm Ann, birthday March 5th, I love hiking": "03-05",
        "born on 12 October in Chengdu": "10-12",
        "My birthday: 12/25": "12-25",
        "生日保密": "",
        "生日 2月30日": "",
    }
    assert {text: birthday_in(text) for text in cases} == cases
    assert is_birthday("02-29", T0.replace(year=2027, month=2, day=28).date())
    assert holiday_on(T0.date().replace(month=9, day=25), "zh-CN") == "中秋节"  # 2026's Mid-Autumn (lunar 8/15)
    assert holiday_on(T0.date().replace(month=2, day=17), "en") == "Spring Festival"
    assert holiday_on(T0.date().replace(month=3, day=3), "zh-CN") == "元宵节"
    assert holiday_on(T0.date(), "zh-CN") == ""


def test_birthday_template_stores_the_date_and_greets_on_the_day() -> None:
    w = world({"templates": ["birthday"]})
    w.join("u1", name="小王")
    w.say("u1", "大家好，我是小王，生日：11月4日，爱好跑步")  # T0 is 11-02 (Shanghai)
    assert w.scope("automations")["b:sandbox:u1"] == "11-04"
    assert auto(w.wait(DAY, tick=timedelta(minutes=30))) == []
    out = auto(w.wait(DAY, tick=timedelta(minutes=30)))
    assert len(out) == 1 and "今天是 小王 的生日" in out[0].text and "送上20积分" in out[0].text
    assert out[0].mentions == ("u1",) and out[0].at.astimezone(T0.tzinfo).hour == 1  # 09:00 Shanghai
    assert auto(w.wait(DAY, tick=timedelta(hours=1))) == []
    w.assert_replays()


def test_holiday_template_greets_every_group_in_english() -> None:
    spec = make_spec(groups=("g1", "g2"), locale="en", automations={"templates": ["holidays"]})
    w = World(spec, start=T0.replace(month=9, day=24))
    w.join("u1")
    out = auto(w.wait(DAY, tick=timedelta(hours=1)))
    assert sorted((a.group, a.text_or_empty) for a in out) == [
        ("g1", "🏮 Happy Mid-Autumn Festival! Tell us your Mid-Autumn Festival story today."),
        ("g2", "🏮 Happy Mid-Autumn Festival! Tell us your Mid-Autumn Festival story today."),
    ]


def test_first_cohort_perks_go_to_the_first_members_only() -> None:
    w = world({"templates": [{"template": "first_cohort", "size": 2, "points": 30}]})
    for who in ("u1", "u2", "u3"):
        w.join(who)
    assert [w.member(x).tags for x in ("u1", "u2", "u3")] == [{"first_cohort"}, {"first_cohort"}, set()]
    assert w.member("u1").points == 30 and w.member("u3").points == 0
    tasks = of(w.sent, "open_staff_task", "automations")
    assert [a.target for a in tasks] == ["u1", "u2"] and "第2位" in tasks[1].title
    assert "送上30积分" in texts(of(w.sent, "direct_message", "automations"))[0]


def test_newcomer_journey_is_a_seven_day_campaign() -> None:
    w = world({"templates": ["newcomer_journey"]})
    w.join("u1", name="小王")
    days = []
    for day in range(1, 9):
        out = auto(w.wait(DAY, tick=timedelta(hours=6)))
        days += [day] * len(out)
        assert all(a.kind.value == "direct_message" and a.target == "u1" for a in out)
    assert days == [1, 2, 3, 5, 7]
    assert "c:newcomer_journey:sandbox:u1" not in w.scope("automations")  # finished
    w.assert_replays()


def test_key_member_silent_tells_the_owner_and_core_members_below_five() -> None:
    w = world({"templates": [{"template": "key_member_silent", "days": 3}, "core_members_min"]})
    w.join("k1", name="老张")
    w.join("k1", group="core", name="老张")
    w.join("u2")
    tasks = of(w.wait(5 * DAY, tick=timedelta(hours=1)), "open_staff_task")
    silent = [a.title for a in tasks if "老张" in a.title]
    assert silent == ["关键成员 老张 已经3天没有发言，请群主私下关心一下"]  # once: the 30-day cooldown
    # T0 is a Monday 16:00: the next Monday 10:00 is 6 days on.
    core = of(w.wait(2 * DAY, tick=timedelta(hours=1)), "open_staff_task")
    assert [a.title for a in core] == ["核心成员只有1位，少于5位：从活跃成员中培养核心成员，邀请进核心群"]
    w.assert_replays()


def test_upgrade_path_invites_members_who_meet_the_next_level() -> None:
    w = world({"templates": ["upgrade_path"]})
    w.join("u1", name="活跃")
    w.join("u2")
    w.community().members["sandbox:u1"].points = 400  # as earned: the admin rule is level 3, 300 points, 30 days
    w.say("u1", "在")  # the levels policy places them by their points
    assert w.member("u1").level >= 3
    assert of(w.wait(29 * DAY), "invite") == []  # a tick later than misfire_minutes after 10:30 runs nothing
    invites = of(w.wait(2 * DAY, tick=timedelta(minutes=30)), "invite")
    assert [(a.target, a.group) for a in invites] == [("u1", "adm")]
    assert "管理群" in invites[0].text


def test_through_the_store_the_log_replays_to_the_saved_state_and_invites_become_staff_tasks(sqlite_url: str) -> None:
    """Live on SQLite with the clock ticking: the decisions are logged (ticks included), the replay of the log gives
    the saved state, and an invitation the platform cannot send is a staff task with its reason."""
    from shequn.app import App
    from shequn.domain import CheckIn, Join, JoinMethod, Message, VirtualClock
    from shequn.engine import replay

    clock = VirtualClock(T0)
    app = App(sqlite_url, clock=clock)
    spec = make_spec(
        groups=[{"platform": "wechat", "id": "g1"}, {"platform": "wechat", "id": "core", "role": "core"}],
        automations={
            "templates": ["birthday", "newcomer_journey"],
            "rules": [{"key": "core3", "when": "checkin", "if": {"streak": 3}, "do": [{"invite": "core"}]}],
        },
    )
    app.apply_spec(spec)

    def base(n: str) -> dict[str, Any]:
        return {"id": stable_id("store", n), "at": clock.now(), "platform": "wechat", "group": "g1", "actor": "u1"}

    app.ingest([Join(**base("j"), method=JoinMethod.SELF, actor_name="小王")])
    app.ingest([Message(**base("m"), message_id="m", text="我是小王，生日 11月4日")])
    for day in range(4):
        app.ingest([CheckIn(**base(f"c{day}"))])
        for _ in range(48):
            clock.set(clock.now() + timedelta(minutes=30))
            app.tick()
    saved = app.saved_state()
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
        tasks = app.store.tasks.list(conn, app.ws.id)
        ticks = app.store.events.count_by_kind(conn, app.ws.id).get("tick", 0)
    assert ticks >= 4  # the birthday's daily run and the journey's steps were logged as ticks
    assert replay(cfg, app.events()).state.to_dict() == saved.to_dict()
    invites = [x for x in tasks if x.kind == "invite"]
    assert len(invites) == 1 and invites[0].reason == "no_connector"
    assert any(x.kind == "post" and "生日" in x.detail["action"]["text"] for x in tasks)
    app.close()


def test_scheduled_posts_of_all_rules_keep_to_the_rhythms_daily_cap_per_group() -> None:
    rules = [
        {"key": f"r{i}", "when": f"daily 1{i}:00", "for": "groups", "do": [{"post": f"第{i}条"}]} for i in range(5)
    ]
    w = world({"rules": rules}, rhythm={"max_posts_per_day": 2})
    w.join("u1")
    out = of(auto(w.wait(DAY, tick=timedelta(minutes=30))), "post")
    assert sorted(a.text_or_empty for a in out if a.group == "g1") == ["第0条", "第1条"]
    assert w.scope("automations")["capped:posts"] == 3 * 3  # three rules over the cap, in each of three groups
    w.assert_replays()


def test_every_template_compiles_and_each_text_exists_in_both_languages() -> None:
    from shequn.playbook import load_playbook
    from shequn.policies.automations.rules import compile_automations

    book = load_playbook().automations.templates
    roles = ("main", "paid", "admin", "core")
    spec = make_spec(groups=[{"platform": "sandbox", "id": r, "role": r} for r in roles])
    program, problems = compile_automations({"templates": list(book)}, spec)
    assert problems == []
    assert {r.template for r in program.rules} == set(book)
    steps = [s for r in program.rules for s in r.steps] + [
        s for c in program.campaigns.values() for _, todo in c.steps for s in todo
    ]
    assert all(set(s.text) == {"zh-CN", "en"} for s in steps if s.text)
    # Without an admin or a paid group, the upgrade path invites into the core group only.
    small, problems = compile_automations({"templates": ["upgrade_path"]}, make_spec(groups=GROUPS[:2]))
    assert problems == [] and [r.key for r in small.rules] == ["upgrade_core"]


def test_membership_state_from_the_membership_policy() -> None:
    rule = {"key": "m", "when": "message", "if": {"membership": ["active", "grace"]}, "do": [{"tag": "member"}]}
    w = world({"rules": [rule]}, policies={"membership": {"enabled": True}})
    w.join("u1")
    w.say("u1", "你好")
    assert "member" not in w.member("u1").tags
    w.pay("u1", 29900, "membership")
    w.say("u1", "续上了")
    assert "member" in w.member("u1").tags
    w.assert_replays()


def test_the_list_form_of_automations_is_the_mappings_short_form() -> None:
    spec = make_spec(
        automations=[
            "birthday",
            {"template": "holidays", "at": "10:00"},
            {"key": "a", "when": "join", "do": [{"tag": "x"}]},
        ]
    )
    assert spec.automations == {
        "templates": ["birthday", {"template": "holidays", "at": "10:00"}],
        "rules": [{"key": "a", "when": "join", "do": [{"tag": "x"}]}],
    }
    config = build_community_config(spec)
    assert config.settings["automations"].enabled
    with pytest.raises(UserError) as err:
        build_community_config(make_spec(automations={"rules": [{"key": "a", "when": "join"}], "extra": 1}))
    assert err.value.exit_code == 2
    assert "automations.extra:" in str(err.value) and "automations.rules.0.do:" in str(err.value)
