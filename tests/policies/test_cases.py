"""Moderation cases through the engine: every step numbered in the log's order (the same numbers after a replay),
its evidence kept, an appeal linked to its case, notes, and a ``not_ad`` label reversing it."""

from __future__ import annotations

from datetime import timedelta

from shequn.domain import Message, stable_id
from shequn.policies.moderation import label_for
from tests.policies.test_inbox import _msg, _op, _world

AD = "加我微信 abc12345 免费领资料 http://x.cn"


def test_every_step_is_a_numbered_case_an_appeal_links_to_it_and_a_label_reverses_it() -> None:
    w = _world()
    for who in ("ann", "bob"):
        w.join(who)
        for _ in range(3):
            _msg(w, who, "今天天气不错")
    first = _msg(w, "ann", AD)
    w.wait(timedelta(minutes=1))
    _msg(w, "bob", AD + " 日赚500")
    w.wait(timedelta(minutes=1))
    second = _msg(w, "ann", AD + " 私聊我")
    mod = w.scope("moderation")
    assert mod["case"] == 3
    cases = [mod[f"case:{n}"] for n in (1, 2, 3)]
    assert [(c["member"], c["status"]) for c in cases] == [
        ("sandbox:ann", "standing"),
        ("sandbox:bob", "standing"),
        ("sandbox:ann", "standing"),
    ]
    c1, _, c3 = cases
    assert c1["message_id"] == first.message_id and c3["message_id"] == second.message_id
    assert c1["violation"] == "ad" and c1["step"] == "remind" and c3["step"] == "warn"
    assert c1["score"] is not None and c1["score"] > 0 and c1["why"]
    assert mod[f"cm:{second.message_id}"] == [3]
    [warning] = [a for a in w.sent if a.kind.value == "warn"]
    assert "处理记录 #3" in getattr(warning, "text", "")  # the member is told the case to cite in an appeal

    _msg(w, "ann", "我要申诉，那不是广告", group="", extra={"direct": True})
    [appeal] = [v for k, v in w.scope("inbox").items() if k.startswith("i:")]
    assert appeal["kind"] == "appeal" and appeal["case_n"] == 3

    _op(w, "case.note", "3", "她说是帮朋友转发的")
    assert w.scope("moderation")["case:3"]["notes"][0][1:] == ["alice", "她说是帮朋友转发的"]

    w.handle(label_for(second, "not-ad", by="alice", at=w.now))
    mod = w.scope("moderation")
    assert mod["case:3"]["status"] == "reversed" and mod["case:3"]["reversed_by"] == "alice"
    assert mod["case:1"]["status"] == "standing"
    w.assert_replays()  # the same numbers, links, notes and statuses rebuilt from the log


def test_a_hand_label_reverses_the_case_of_a_message_named_by_the_platforms_id() -> None:
    w = _world()
    w.join("cat")
    ad = Message(
        id=stable_id("event", "cat-ad"), at=w.now, platform="sandbox", group="g1", actor="cat", actor_name="Cat",
        message_id="$platform-id-1", text=AD,
    )  # fmt: skip
    w.handle(ad)
    assert w.scope("moderation")["cm:$platform-id-1"] == [1]
    w.handle(label_for(ad, "not-ad", by="amy", at=w.now))  # what `shequn moderation label EVENT_ID not-ad` logs
    mod = w.scope("moderation")
    assert mod["case:1"]["status"] == "reversed" and "o:sandbox:cat" not in mod
    w.assert_replays()
