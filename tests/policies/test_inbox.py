"""The inbox policy through the engine: what opens an item, routing, staff replies and timers, rebuilt by a replay."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from shequn.domain import Message, OperatorAction, stable_id
from shequn.domain.records import iso
from tests.policies.harness import World, make_spec

_n = itertools.count()


def _world(**inbox: Any) -> World:
    policies = {"acks": {"batch_minutes": 0}, "inbox": inbox} if inbox else {"acks": {"batch_minutes": 0}}
    return World(make_spec(policies=policies))


def _msg(w: World, who: str, text: str, **fields: Any) -> Message:
    i = stable_id("inbox-test", who, str(next(_n)))
    m = Message(
        id=i, at=w.now, platform="sandbox", group=fields.pop("group", "g1"), actor=who, actor_name=who.title(),
        message_id=i, text=text, **fields,
    )  # fmt: skip
    w.handle(m)
    return m


def _op(w: World, op: str, target: str, value: str = "", *, by: str = "alice", platform: str = "shequn") -> None:
    w.handle(
        OperatorAction(
            id=stable_id("op", op, target, value, str(next(_n))), at=w.now, platform=platform,
            community=w.specs[0].name, op=op, target=target, value=value, by=by,
        )
    )  # fmt: skip


def _items(w: World) -> list[dict[str, Any]]:
    scope = w.scope("inbox")
    return [
        scope[k] for k in sorted(scope, key=lambda k: int(k[2:]) if k.startswith("i:") else 0) if k.startswith("i:")
    ]


def test_an_unanswered_question_opens_an_item_after_the_set_time_and_an_answered_one_does_not() -> None:
    w = _world(question_minutes=20)
    w.join("ann")
    w.join("bob")
    _op(w, "staff", "opsalice", "alice", platform="sandbox")
    q1 = _msg(w, "ann", "请问下周的分享几点开始？")
    q2 = _msg(w, "bob", "how do I renew my membership?")
    _msg(w, "ann", "I renew on the website", reply_to=q2.message_id)  # someone else answers bob
    w.wait(timedelta(minutes=19))
    assert _items(w) == []
    w.wait(timedelta(minutes=2))
    items = _items(w)
    assert [(i["kind"], i["actor"], i["message_id"]) for i in items] == [("question", "ann", q1.message_id)]
    assert items[0]["at"] == iso(q1.at) and items[0]["assignee"] == "alice" and items[0]["status"] == "open"
    w.assert_replays()


def test_a_question_the_faq_answers_waits_for_nobody() -> None:
    w = _world(question_minutes=5)
    w.join("ann")
    _msg(w, "ann", "群规是什么？")
    w.wait(timedelta(minutes=10))
    assert _items(w) == []


def test_a_mention_of_a_linked_staff_identity_goes_to_that_staff_member() -> None:
    w = _world()
    w.join("ann")
    _op(w, "staff", "opsbob", "bob", platform="sandbox")
    _op(w, "staff", "opsalice", "alice", platform="sandbox")
    _msg(w, "ann", "@Bob 帮我看一下订单", mentions=("opsbob",))
    _msg(w, "ann", "@someone hello", mentions=("carol",))  # not staff: nothing
    items = _items(w)
    assert [(i["kind"], i["assignee"]) for i in items] == [("mention", "bob")]
    w.assert_replays()


def test_a_complaint_opens_an_item_and_the_same_members_next_one_joins_it() -> None:
    w = _world()
    w.join("ann")
    w.join("bob")
    _msg(w, "ann", "你们这服务太差了，退款三天都没人理")
    _msg(w, "ann", "真的太失望了，再也不买了")
    _msg(w, "bob", "今天天气不错")
    items = _items(w)
    assert [(i["kind"], i["actor"], i["follow"]) for i in items] == [("complaint", "ann", 1)]
    off = _world(complaints=False)
    off.join("ann")
    _msg(off, "ann", "你们这服务太差了，退款三天都没人理")
    assert _items(off) == []
    w.assert_replays()


def test_a_private_message_opens_one_item_and_follow_ups_join_it() -> None:
    w = _world()
    w.join("ann")
    _msg(w, "ann", "你好，我想退款", group="", extra={"direct": True})
    _msg(w, "ann", "订单号 123", group="", extra={"direct": True})
    items = _items(w)
    assert len(items) == 1
    assert items[0]["kind"] == "direct" and items[0]["direct"] and items[0]["follow"] == 1
    assert items[0]["last"] == "订单号 123"
    # A stranger's private message belongs to no community: nothing opens.
    _msg(w, "zed", "hello?", group="", extra={"direct": True})
    assert len(_items(w)) == 1
    w.assert_replays()


def test_an_appeal_after_a_moderation_step_carries_the_case() -> None:
    w = _world()
    w.join("ann")
    for _ in range(3):
        _msg(w, "ann", "今天天气不错")
    ad = _msg(w, "ann", "加我微信 abc12345 免费领资料 http://x.cn")
    record = w.scope("moderation").get("o:sandbox:ann")
    assert record and record["log"], "moderation recorded the offence"
    _msg(w, "ann", "我要申诉，那不是广告", group="", extra={"direct": True})
    items = _items(w)
    assert [i["kind"] for i in items] == ["appeal"]
    assert items[0]["case"][2] == ad.id
    w.assert_replays()


def test_staff_replies_set_the_first_response_and_resolving_closes_the_item() -> None:
    w = _world()
    w.join("ann")
    _op(w, "staff", "opsalice", "alice", platform="sandbox")
    m = _msg(w, "ann", "@alice 在吗", mentions=("opsalice",))
    w.wait(timedelta(minutes=7))
    # alice answers in the group, replying to the message: the first response, measured from the log
    _msg(w, "opsalice", "在的，请讲", reply_to=m.message_id)
    item = _items(w)[0]
    assert item["status"] == "pending" and item["responder"] == "alice"
    assert item["first_response_at"] == iso(m.at + timedelta(minutes=7))
    w.wait(timedelta(minutes=30))
    _op(w, "inbox.status", str(item["n"]), "resolved", by="alice")
    item = _items(w)[0]
    assert item["status"] == "resolved" and item["resolved_by"] == "alice"
    assert "open:mention:sandbox:ann" not in w.scope("inbox")
    # after it is resolved, a new mention opens a new item
    _msg(w, "ann", "@alice 还有一个问题", mentions=("opsalice",))
    assert [i["status"] for i in _items(w)] == ["resolved", "open"]
    w.assert_replays()


def test_round_robin_and_by_language_routing() -> None:
    w = _world(assign="language", languages={"alice": ["zh"], "bob": ["en"]})
    for who in ("ann", "ben", "cat"):
        w.join(who)
    _op(w, "staff", "a", "alice", platform="sandbox")
    _op(w, "staff", "b", "bob", platform="sandbox")
    _msg(w, "ann", "hello, I need help with my order", group="", extra={"direct": True})
    _msg(w, "ben", "你好，我的订单有问题", group="", extra={"direct": True})
    assert [i["assignee"] for i in _items(w)] == ["bob", "alice"]
    rr = _world()
    for who in ("ann", "ben", "cat"):
        rr.join(who)
    _op(rr, "staff", "a", "alice", platform="sandbox")
    _op(rr, "staff", "b", "bob", platform="sandbox")
    for who in ("ann", "ben", "cat"):
        _msg(rr, who, "hi", group="", extra={"direct": True})
    assert [i["assignee"] for i in _items(rr)] == ["alice", "bob", "alice"]


def test_an_admission_staff_must_verify_opens_an_item_and_the_verification_resolves_it() -> None:
    w = World(
        make_spec(
            threshold={"kind": "task", "params": {"min_shares": 1}},
            roles={"decision_maker": ["boss"]},
            policies={"admission": {"task_verify": "staff"}},
        )
    )
    w.form("u2", "task", shares=5, proof="https://moments/123")
    items = _items(w)
    assert [(i["kind"], i["actor"], i["status"]) for i in items] == [("admission", "u2", "open")]
    assert "moments/123" in items[0]["text"]
    w.form("boss", "verify", member="u2", ok="yes")
    assert [i["status"] for i in _items(w)] == ["resolved"]
    w.assert_replays()
