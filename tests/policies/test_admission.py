"""Admission: the five thresholds, rules accepted first, member numbers for the admitted, the shared blacklist."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shequn.domain import UserError
from shequn.engine import build_community_config
from tests.policies.harness import World, kinds, make_spec, of, texts


def test_invitation_only_refuses_strangers_and_numbers_only_the_admitted() -> None:
    w = World(make_spec(threshold={"kind": "invitation"}, roles={"architect": ["owner"]}))
    w.join("owner")  # the people who run the community are always admitted
    refused = w.join("stranger")
    assert of(refused, "remove") and of(refused, "direct_message")
    assert "邀请制" in of(refused, "direct_message")[0].text_or_empty
    assert not of(refused, "post", "welcome")  # the event stops: no welcome for the refused
    assert w.member("stranger").number == 0 and w.member("stranger").status.value == "removed"
    invited = w.join("friend", by="owner")
    assert of(invited, "post", "welcome") and not of(invited, "remove")
    # Numbers go to the admitted only: the refused stranger used none.
    assert (w.member("owner").number, w.member("friend").number) == (1, 2)
    assert w.scope("admission")["invites:sandbox:owner"] == 1
    # Returning members are not asked for an invitation again.
    w.leave("friend")
    assert not of(w.join("friend"), "remove")
    w.assert_replays()


def test_paid_entry_admits_after_the_fee_and_says_how_much() -> None:
    w = World(make_spec(threshold={"kind": "paid", "params": {"fee": 9900}}))
    refused = w.join("u1")
    assert of(refused, "remove") and "¥99" in of(refused, "direct_message")[0].text_or_empty
    w.pay("u1", 9900, "entry_fee")
    admitted = w.join("u1")
    assert not of(admitted, "remove") and w.member("u1").number == 1
    assert w.member("u1").status.value == "active"
    w.assert_replays()


def test_a_payment_before_joining_makes_a_pending_member_not_a_group_member() -> None:
    w = World(make_spec(threshold={"kind": "paid", "params": {"fee": 100}}))
    w.pay("u1", 100, "entry_fee")
    m = w.member("u1")
    assert m.status.value == "pending" and m.number == 0 and not m.groups
    assert "sandbox:u1" not in w.engine.state.groups["sandbox:g1"].members


def test_task_entry_by_rule_and_by_staff() -> None:
    w = World(make_spec(threshold={"kind": "task", "params": {"min_shares": 3}}))
    assert "3" in texts(w.form("u1", "task", shares=1))[0]  # not enough: told what it takes
    assert of(w.join("u1"), "remove")
    assert "通过" in texts(w.form("u1", "task", shares=3))[0]
    assert not of(w.join("u1"), "remove")

    staff = World(
        make_spec(
            threshold={"kind": "task", "params": {"min_shares": 1}},
            roles={"decision_maker": ["boss"]},
            policies={"admission": {"task_verify": "staff"}},
        )
    )
    task = of(staff.form("u2", "task", shares=5, proof="https://moments/123"), "open_staff_task")
    assert task and "moments/123" in getattr(task[0], "instructions", "")
    assert of(staff.join("u2"), "remove")  # not verified yet
    staff.form("intruder", "verify", member="u2", ok="yes")  # not staff: ignored
    assert not staff.scope("admission")["task:sandbox:u2"]["ok"]
    staff.form("boss", "verify", member="u2", ok="yes")
    assert not of(staff.join("u2"), "remove")
    staff.assert_replays()


def test_tag_screening_checks_the_application_against_the_persona() -> None:
    w = World(
        make_spec(
            threshold={"kind": "tag_screening"},
            policies={"admission": {"screening": {"城市": "上海", "阶段": "天使轮|A轮"}}},
        )
    )
    assert of(w.join("nobody"), "remove")  # no application at all
    out = w.form("bj", "入群申请", 城市="北京", 阶段="天使轮")
    assert "城市: 北京" in texts(out)[0]
    assert of(w.join("bj"), "remove")
    w.form("sh", "application", 城市="上海浦东", 阶段="A轮")
    assert not of(w.join("sh"), "remove")
    w.assert_replays()


def test_tiered_groups_ask_for_a_level_in_the_advanced_group() -> None:
    spec = make_spec(
        threshold={"kind": "tiered", "params": {"min_level": 2}},
        groups=[
            {"platform": "sandbox", "id": "g1", "name": "入门群"},
            {"platform": "sandbox", "id": "core", "name": "高级群", "role": "core"},
        ],
        roles={"architect": ["owner"]},
    )
    w = World(spec)
    w.join("owner")
    assert of(w.join("solo"), "remove")  # the entry group needs a referrer
    assert not of(w.join("u1", by="owner"), "remove")
    refused = w.join("u1", group="core")
    assert of(refused, "remove") and "等级达到2" in texts(refused)[0]
    for i in range(60):  # 50 points make level 2 (at most 30 a day from messages)
        w.say("u1", f"今天读到第{i}页，分享一点心得体会", group="g1")
        w.wait(timedelta(minutes=40))
    assert w.member("u1").level >= 2
    assert not of(w.join("u1", group="core"), "remove")


def test_rules_are_sent_on_joining_and_acceptance_is_recorded() -> None:
    w = World(make_spec(rules={"version": 2}))
    out = w.join("u1")
    dm = of(out, "direct_message", "rules")
    assert dm and "第2版" in dm[0].text_or_empty and "【硬性指标】" in dm[0].text_or_empty
    assert not of(out, "mute")  # the default only reminds
    w.accept_rules("u1")
    assert w.member("u1").rules_version == 2

    muted = World(make_spec(rules={"version": 3}, policies={"rules": {"mode": "mute"}}))
    assert of(muted.join("u2"), "mute")
    assert not of(muted.accept_rules("u2", version=1), "unmute")  # an old version is not enough
    out = muted.accept_rules("u2", version=3)
    assert of(out, "unmute") and "第3版" in texts(out)[0]
    assert muted.member("u2").rules_version == 3
    muted.assert_replays()


def test_the_blacklist_follows_a_member_into_every_community_of_the_workspace() -> None:
    a = make_spec("读书会", groups=("g1",))
    b = make_spec("跑步团", type="interest", groups=("g2",), threshold={"kind": "none"})
    w = World(a, b)
    w.join("spammer")
    out = w.say("spammer", "➕V：money20459，招代理，一件代发，日赚500")
    assert of(out, "ban") and of(out, "ban")[0].scope == "workspace"  # type: ignore[attr-defined]
    assert "sandbox:spammer" in w.engine.state.workspace["blacklist"]
    refused = w.join("spammer", group="g2")
    assert of(refused, "remove") and not of(refused, "direct_message")  # refused quietly
    assert w.member("spammer", "跑步团").number == 0
    w.assert_replays()


def test_refusal_tags_keep_eliminated_members_out() -> None:
    w = World(make_spec())
    w.join("u1")
    w.member("u1").tags.add("eliminated")
    w.leave("u1")
    assert of(w.join("u1"), "remove")


def test_bad_admission_settings_are_refused_with_the_field() -> None:
    with pytest.raises(UserError) as info:
        build_community_config(
            make_spec(
                threshold={"kind": "paid", "params": {"fee": "lots"}},
                policies={"admission": {"tiers": {"nope": {"min_level": 2}}, "screening": {"城市": "(["}}},
            ),
            source="spec.yaml",
        )
    text = str(info.value)
    assert "spec.yaml: policies.admission.screening: 城市: '([' is not a valid pattern" in text
    with pytest.raises(UserError) as info:
        build_community_config(
            make_spec(
                threshold={"kind": "paid", "params": {"fee": "lots"}}, policies={"admission": {"tiers": {"nope": {}}}}
            )
        )
    text = str(info.value)
    assert "policies.admission.threshold: threshold.params.fee must be a whole number" in text
    assert "policies.admission.tiers.nope: no group 'nope'" in text
    with pytest.raises(UserError, match=r"policies.rules.mode: Input should be 'mute', 'remind' or 'off'"):
        build_community_config(make_spec(policies={"rules": {"mode": "always"}}))
    with pytest.raises(UserError, match=r"policies.rules.texts.rules: unknown placeholder \{who\}"):
        build_community_config(make_spec(policies={"rules": {"texts": {"rules": "欢迎{who}"}}}))
    with pytest.raises(UserError, match=r"policies.admission.texts.hello: unknown text"):
        build_community_config(make_spec(policies={"admission": {"texts": {"hello": "x"}}}))
    assert kinds([]) == []


def test_history_without_payments_still_numbers_those_who_speak() -> None:
    # An imported export of a paid community holds joins and messages but no payments: the joins are refused (the
    # actions are never sent for history), yet whoever speaks is evidently in the group and gets a number.
    w = World(make_spec(threshold={"kind": "paid", "params": {"fee": 9900}}), feedback=False)
    w.join("old")
    assert w.member("old").number == 0
    w.say("old", "我是老成员了")
    assert w.member("old").number == 1 and w.community().next_number == 2
    w.assert_replays()


def test_join_requests_are_answered_and_a_pending_verification_keeps_one_open() -> None:
    from shequn.domain import Action, AnswerJoinRequest

    def answers(actions: list[Action]) -> list[tuple[str, bool]]:
        return [(a.target, a.approve) for a in actions if isinstance(a, AnswerJoinRequest)]

    w = World(
        make_spec(
            threshold={"kind": "task", "params": {"min_shares": 1}},
            roles={"decision_maker": ["boss"]},
            policies={"admission": {"task_verify": "staff"}},
        )
    )
    assert answers(w.form("boss", "join_request", bio="")) == [("boss", True)]  # staff: always in
    no_proof = w.form("u1", "join_request", bio="")
    assert answers(no_proof) == [("u1", False)] and of(no_proof, "direct_message")
    assert not of(no_proof, "remove")  # they are not in the group: nothing to remove
    declined = next(a for a in no_proof if isinstance(a, AnswerJoinRequest))
    assert declined.at > of(no_proof, "direct_message")[0].at  # the why-message goes first
    w.form("u2", "task", shares=2, proof="https://moments/9")
    assert answers(w.form("u2", "join_request", bio="")) == []  # waits for staff to verify the proof
    assert answers(w.form("boss", "verify", member="u2", ok="yes")) == [("u2", True)]
    assert "request:sandbox:u2" not in w.scope("admission")
    w.assert_replays()
