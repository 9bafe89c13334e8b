"""Discipline and membership: the weekly task scheme, the 20:00 roll-call clean-up, plans and renewals, the FAQ."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shequn.domain import UserError
from shequn.engine import build_community_config
from shequn.policies.membership import renewal_rate
from shequn.policies.tasks import Steps, settle
from tests.conftest import T0
from tests.policies.harness import World, make_spec, of, texts

DAY = timedelta(days=1)


def test_the_task_state_machine() -> None:
    steps = Steps(leave=1, warn=2, suspend=3, revival_days=7)
    rec, step = settle({}, "2026-W46", steps)
    assert (rec["missed"], step) == (1, "leave")
    rec, step = settle(rec, "2026-W47", steps)
    assert (rec["missed"], step) == (2, "warn")
    rec, step = settle({**rec, "leave": ["2026-W48"]}, "2026-W48", steps)
    assert (rec["missed"], step) == (0, "")  # an excused week resets the count
    rec, step = settle({"missed": 2}, "2026-W49", steps)
    assert step == "suspend"


def test_weekly_tasks_escalate_to_removal_with_a_week_to_come_back() -> None:
    spec = make_spec(policies={"tasks": {"enabled": True}}, roles={"architect": ["owner"]})
    w = World(spec)
    for who in ("owner", "diligent", "lazy", "returner", "excused"):
        w.join(who)
    w.wait(7 * DAY, tick=timedelta(hours=12))  # the week they joined is not counted
    for week in range(3):
        w.say("diligent", f"#作业 第{week}周读书笔记")
        if week == 0:
            assert "本周任务已完成" in texts(of(w.sent, "post", "tasks"))[-1]
            w.say("excused", "请假，这周出差")
        w.wait(7 * DAY, tick=timedelta(hours=12))
    missed = [
        a.target
        for a in w.sent
        if a.policy == "tasks" and a.kind.value == "direct_message" and "请假" in a.text_or_empty
    ]
    assert sorted(set(missed)) == ["excused", "lazy", "returner"]
    warns = of(w.sent, "warn", "tasks")
    assert sorted(a.target for a in warns) == ["excused", "lazy", "returner"]  # excused: two misses after the leave
    assert not w.member("lazy").active and not w.member("returner").active
    assert w.member("diligent").active and w.member("owner").active  # staff are not checked
    assert w.member("excused").active  # the excused week reset the count: only two misses in a row
    w.form("returner", "task", note="补交的读书笔记")  # within the week to come back
    assert any("复活成功" in a.text_or_empty for a in w.sent if a.target == "returner")
    w.wait(7 * DAY, tick=timedelta(hours=12))
    assert "eliminated" in w.member("lazy").tags and "eliminated" not in w.member("returner").tags
    assert of(w.join("lazy"), "remove") and not of(w.join("returner"), "remove")
    w.assert_replays()


def test_the_roll_call_keeps_whoever_answers() -> None:
    start = T0 - timedelta(days=70)  # 2026-08-24
    spec = make_spec(policies={"cleanup": {"enabled": True, "every": "quarter"}}, roles={"architect": ["owner"]})
    w = World(spec, start=start)
    for who in ("owner", "lurker", "talker", "answerer"):
        w.join(who)
    w.wait(timedelta(days=28))
    w.say("talker", "最近读了一本好书")
    w.join("newbie")
    w.clock.set(T0.replace(month=10, day=1, hour=1))  # 09:00 on 2026-10-01 in Shanghai: a new quarter
    assert not w.tick()
    roll = of(w.wait(timedelta(hours=2), tick=timedelta(minutes=30)), "post", "cleanup")
    assert roll and "在的请打1" in roll[0].text_or_empty and "20:00" in roll[0].text_or_empty
    w.wait(timedelta(hours=3))
    w.say("answerer", "1")
    out = w.wait(timedelta(hours=6), tick=timedelta(minutes=30))
    assert [a.target for a in of(out, "remove")] == ["lurker"]
    assert (
        "1位伙伴回应了点名" in texts(of(out, "post", "cleanup"))[0]
        and "1位长期潜水" in texts(of(out, "post", "cleanup"))[0]
    )
    assert w.member("talker").active and w.member("newbie").active and w.member("owner").active
    assert not w.wait(DAY, tick=timedelta(hours=1))  # once per period
    w.assert_replays()

    confirm = World(make_spec(policies={"cleanup": {"enabled": True, "every": "month", "confirm": True}}), start=start)
    confirm.join("lurker")
    confirm.clock.set(T0.replace(month=10, day=1, hour=3))
    confirm.tick()
    out = confirm.wait(timedelta(hours=10), tick=timedelta(hours=1))
    assert not of(out, "remove") and "1位" in of(out, "open_staff_task")[0].title  # type: ignore[attr-defined]


def test_memberships_remind_expire_and_count_renewals() -> None:
    plans = [{"key": "trial", "name": "体验会员", "months": 1, "price_fen": 990, "tier": "体验"}]
    groups = [{"platform": "sandbox", "id": "g1", "name": "主群"}, {"platform": "sandbox", "id": "vip", "role": "paid"}]
    w = World(make_spec(groups=groups, threshold={"kind": "none"}, policies={"membership": {"plans": plans}}))
    for who in ("u1", "u2"):
        w.join(who)
        w.join(who, group="vip")
        out = w.pay(who, 990, "membership")
        assert "有效期至2026-12-02" in texts(out)[0] and "tier:体验" in w.member(who).tags
    w.wait(20 * DAY, tick=timedelta(hours=12))
    w.pay("u2", 990, "renewal")
    assert w.scope("membership")["s:sandbox:u2"]["until"].startswith("2027-01-02")
    w.wait(25 * DAY, tick=timedelta(hours=12))
    dms = [a.text_or_empty for a in w.sent if a.policy == "membership" and a.target == "u1"]
    assert any("还有7天" in t for t in dms) and any("还有1天" in t for t in dms)
    assert any("宽限期到2026-12-09" in t for t in dms) and any("已移出付费群" in t for t in dms)
    assert "sandbox:vip" not in w.member("u1").groups and "sandbox:g1" in w.member("u1").groups
    assert "sandbox:vip" in w.member("u2").groups
    assert renewal_rate(w.community()) == 0.5
    w.assert_replays()


def test_downgrade_instead_of_removal() -> None:
    plans = [
        {"key": "core", "name": "铁杆会员", "months": 12, "price_fen": 300000, "tier": "铁杆"},
        {"key": "online", "name": "线上会员", "months": 12, "price_fen": 60000, "tier": "线上"},
    ]
    settings = {"plans": plans, "at_expiry": "downgrade", "downgrade_to": "线上", "grace_days": 0}
    w = World(make_spec(policies={"membership": settings}))
    w.join("u1")
    w.pay("u1", 300000, "membership")
    assert "tier:铁杆" in w.member("u1").tags
    w.clock.set(T0.replace(year=2027, month=11, day=3))
    w.tick()
    assert {"tier:线上", "expired"} <= w.member("u1").tags and "tier:铁杆" not in w.member("u1").tags
    assert w.member("u1").active


def test_faq_answers_with_a_cooldown() -> None:
    entries = [{"keys": ["几点开始", "什么时候开始"], "answer": "{name}，每周日晚上8:30开始，在{group}。"}]
    w = World(make_spec(policies={"faq": {"entries": entries}}))
    w.join("u1")
    out = w.say("u1", "请问分享会几点开始呀")
    assert of(out, "reply") and texts(out)[0] == "u1，每周日晚上8:30开始，在读书会g1。"
    assert not of(w.say("u1", "什么时候开始？"), "reply")  # the cooldown
    w.wait(timedelta(minutes=11))
    assert of(w.say("u1", "什么时候开始？"), "reply")
    rules = World(make_spec())
    rules.join("u2")
    assert "【硬性指标】" in texts(rules.say("u2", "群规是什么？"))[0]
    assert not texts(rules.say("u2", "大家要遵守群规哦"))  # a mention is not a question
    with pytest.raises(UserError, match=r"policies.faq.entries.0.answer: unknown placeholder \{when\}"):
        build_community_config(make_spec(policies={"faq": {"entries": [{"keys": ["x"], "answer": "{when}"}]}}))
    with pytest.raises(UserError, match=r"policies.faq.entries.0: needs keys or a pattern"):
        build_community_config(make_spec(policies={"faq": {"entries": [{"answer": "hi"}]}}))
